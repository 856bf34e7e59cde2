"""Put the benchmarks in a venv of their own, then re-execute `run.py` inside it.

The peers are benchmark-only dependencies: they must never leak into the
project's own environments, and the table must say exactly which versions ran.
So `run.py`, started by any Python >= 3.11, makes `benchmarks/.env/<python>/`,
installs this checkout of simclock (editable) and the pinned peers from
`requirements.txt` into it, and replaces itself with the venv's interpreter.

Each pinned peer is installed by a pip call of its own: one that fails to
install leaves a note for its column instead of failing the run. This module
uses the standard library only, since it runs before any venv exists.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS.parent
REQUIREMENTS = BENCHMARKS / "requirements.txt"
# Set in the re-executed process, so it never tries to bootstrap a second time.
IN_VENV_VARIABLE = "SIMCLOCK_BENCHMARKS_VENV"
INSTALL_REPORT = "install-report.json"


def venv_dir() -> Path:
    """One venv per interpreter kind and minor version, so switching Pythons never thrashes."""
    tag = f"{sys.implementation.name}{sys.version_info.major}.{sys.version_info.minor}"
    return BENCHMARKS / ".env" / tag


def pinned_requirements() -> list[str]:
    """The requirement lines of `requirements.txt`, without comments."""
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def inside_benchmark_venv() -> bool:
    return os.environ.get(IN_VENV_VARIABLE) == str(venv_dir())


def install_failures() -> dict[str, str]:
    """Requirement line -> the tail of pip's error, for peers the last setup could not install."""
    report = venv_dir() / INSTALL_REPORT
    if not report.exists():
        return {}
    failures: dict[str, str] = json.loads(report.read_text()).get("failures", {})
    return failures


def runs_this_checkout() -> bool:
    """Whether the running interpreter already imports simclock from this checkout."""
    spec = importlib.util.find_spec("simclock")
    origin = spec.origin if spec is not None else None
    return origin is not None and Path(origin).resolve().is_relative_to(REPO_ROOT)


def ensure_venv_and_reexec(argv: list[str], with_peers: bool) -> None:
    """Return only when already inside the venv; otherwise set it up and exec into it."""
    if inside_benchmark_venv():
        return
    target = venv_dir()
    python = _venv_python(target)
    if not python.exists():
        print(f"[benchmarks] creating {target.relative_to(REPO_ROOT)}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(target)
    _install(python, target, with_peers)
    os.environ[IN_VENV_VARIABLE] = str(target)
    os.execv(python, [str(python), str(BENCHMARKS / "run.py"), *argv])


def _venv_python(target: Path) -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return target / scripts / ("python.exe" if os.name == "nt" else "python")


def _install(python: Path, target: Path, with_peers: bool) -> None:
    """Install simclock and, unless told not to, the peers; skip what the stamp says is done."""
    stamp = target / "installed.json"
    done = json.loads(stamp.read_text()) if stamp.exists() else {}
    # A changed pyproject.toml may bring new dependencies: install the checkout again.
    simclock_wanted = _digest(REPO_ROOT / "pyproject.toml") + str(REPO_ROOT) + "[test]"
    if done.get("simclock") != simclock_wanted:
        # The test extra brings pytest and pytest-asyncio, for workload f.
        _pip(python, ["-e", f"{REPO_ROOT}[test]"], required=True)
        done = {"simclock": simclock_wanted}
    peers_wanted = _digest(REQUIREMENTS)
    if with_peers and done.get("peers") != peers_wanted:
        failures = {}
        for requirement in pinned_requirements():
            error = _pip(python, [requirement], required=False)
            if error is not None:
                failures[requirement] = error
        (target / INSTALL_REPORT).write_text(json.dumps({"failures": failures}, indent=2))
        # A failed peer is retried next run: the stamp records only a complete install.
        if not failures:
            done["peers"] = peers_wanted
    stamp.write_text(json.dumps(done, indent=2))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pip(python: Path, args: list[str], *, required: bool) -> str | None:
    """Run `pip install ARGS`; return None on success, else the tail of its output."""
    print(f"[benchmarks] pip install {' '.join(args)}", file=sys.stderr)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = (result.stderr + result.stdout).strip().splitlines()
    # pip's warnings about this machine's index mirrors say nothing about the failure.
    errors = [line for line in lines if line.startswith("ERROR")] or lines[-3:]
    if required:
        sys.exit(f"[benchmarks] could not install {' '.join(args)}:\n" + "\n".join(lines))
    return " / ".join(errors)[:300]

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
import shutil
import subprocess
import sys
import tempfile
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


# Set when simclock comes from a commit's export rather than the working tree.
SOURCE_VARIABLE = "SIMCLOCK_BENCHMARKS_SOURCE"


def simclock_root() -> Path:
    """Where the simclock being measured lives: the checkout, or a commit's export."""
    exported = os.environ.get(SOURCE_VARIABLE)
    return Path(exported) if exported else REPO_ROOT


def use_commit(revision: str) -> str:
    """Measure simclock as committed at `revision`, whatever the working tree holds.

    Others may be editing simclock/ while a benchmark runs: this exports the
    commit's simclock/, pyproject.toml and README.md to benchmarks/.env/sources/
    and puts that folder first on the import path of this process and of every
    process it starts (PYTHONPATH), ahead of the editable install. Returns the
    full commit hash. A module the commit lacks is still found in the working
    tree, through the editable install's finder: the commit's own code never asks
    for one, but a harness import of a newer module would mix the two.
    """
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = BENCHMARKS / ".env" / "sources" / commit
    if not (target / "simclock" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        paths = ["simclock", "pyproject.toml", "README.md"]
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", commit, *paths],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    os.environ[SOURCE_VARIABLE] = str(target)
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(target), *([path] if path else [])])
    sys.path.insert(0, str(target))
    return commit


def ensure_plain_install_venv(suffix: str, extra: list[str]) -> Path:
    """A venv `<venv_dir()>-SUFFIX` holding a regular (not editable) install of this checkout.

    For start-up timings: what a user's `pip install simclock` gives, with only
    simclock's own dependencies and `extra` beside it (no test extra, so no
    pytest unless `extra` asks for it). simclock is installed from a copy of its
    sources, so no build output lands in the working tree, and reinstalled
    whenever those sources change. Returns the venv's Python.
    """
    target = venv_dir().with_name(f"{venv_dir().name}-{suffix}")
    python = _venv_python(target)
    if not python.exists():
        print(f"[benchmarks] creating {target.relative_to(REPO_ROOT)}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(target)
    stamp = target / "installed.json"
    done = json.loads(stamp.read_text()) if stamp.exists() else {}
    root = simclock_root()
    sources = _sources_digest(root)
    pyproject = _digest(root / "pyproject.toml")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "simclock-src"
        _copy_sources(root, copy)
        if done.get("pyproject") != pyproject:
            _pip(python, [str(copy), *extra], required=True)
        elif done.get("sources") != sources:
            _pip(python, ["--force-reinstall", "--no-deps", str(copy)], required=True)
    done = {"pyproject": pyproject, "sources": sources}
    stamp.write_text(json.dumps(done, indent=2))
    return python


def _copy_sources(root: Path, destination: Path) -> None:
    destination.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, destination / name)
    shutil.copytree(
        root / "simclock",
        destination / "simclock",
        ignore=shutil.ignore_patterns("__pycache__"),
    )


def _sources_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "simclock").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


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

"""What `simclock run` adds to a script's start-up, beyond the script's own imports.

A script that only imports asyncio runs as `python script.py` and as
`simclock run script.py`, alternately, in fresh processes; the cost is the
median over rounds of the difference within each round. Both run from a venv
holding a regular install of this checkout with simclock's dependencies only:
without pytest (the target), and with pytest beside it, for information, since
time-machine imports pytest eagerly whenever pytest is installed. Each venv is
made once under benchmarks/.env (`venv_bootstrap.ensure_plain_install_venv`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter  # bound by name: simclock patches time.perf_counter in a run

import venv_bootstrap
from measurements import log

__all__ = ["STARTUP_SCRIPT", "Startup", "check_startup", "measure_startup"]

STARTUP_SCRIPT = "import asyncio\n"
ROUNDS = 20
# Variables of this harness that must not reach the measured processes.
_HARNESS_VARIABLES = (venv_bootstrap.IN_VENV_VARIABLE, "PYTHONPATH", "PYTHONSTARTUP")


@dataclass(frozen=True)
class Startup:
    """Start-up of one venv: medians over rounds, in seconds."""

    venv: str
    python_seconds: float
    simclock_seconds: float
    # The median of per-round differences, which is not the difference of the medians.
    overhead_seconds: float
    pytest_importable: bool


def _environment(import_path: bool = False) -> dict[str, str]:
    """This process's environment less the harness's; `import_path` keeps PYTHONPATH."""
    dropped = {v for v in _HARNESS_VARIABLES if not (import_path and v == "PYTHONPATH")}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def _timed(command: list[str], folder: Path) -> float:
    began = perf_counter()
    subprocess.run(command, cwd=folder, env=_environment(), check=True, capture_output=True)
    return perf_counter() - began


def _pytest_importable(python: Path) -> bool:
    probe = [str(python), "-c", "import importlib.util as u; print(u.find_spec('pytest') is None)"]
    result = subprocess.run(probe, env=_environment(), capture_output=True, text=True, check=True)
    return result.stdout.strip() == "False"


def _measure_venv(python: Path, rounds: int) -> Startup:
    simclock = python.parent / "simclock"
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        script = folder / "empty_script.py"
        script.write_text(STARTUP_SCRIPT)
        plain_command = [str(python), str(script)]
        simclock_command = [str(simclock), "run", str(script)]
        # One untimed run of each writes the bytecode caches a user's second run would find.
        _timed(plain_command, folder)
        _timed(simclock_command, folder)
        plain: list[float] = []
        virtual: list[float] = []
        for index in range(rounds):
            pair = [(plain, plain_command), (virtual, simclock_command)]
            for times, command in pair if index % 2 == 0 else reversed(pair):
                times.append(_timed(command, folder))
    differences = [v - p for v, p in zip(virtual, plain, strict=True)]
    return Startup(
        venv=str(python.parent.parent.relative_to(venv_bootstrap.REPO_ROOT)),
        python_seconds=statistics.median(plain),
        simclock_seconds=statistics.median(virtual),
        overhead_seconds=statistics.median(differences),
        pytest_importable=_pytest_importable(python),
    )


def measure_startup(rounds: int = ROUNDS) -> dict[str, Startup]:
    """Start-up without pytest installed (the target) and with it (information)."""
    results = {}
    for key, extra in (("without pytest", []), ("with pytest", ["pytest"])):
        suffix = "startup" if not extra else "startup-pytest"
        python = venv_bootstrap.ensure_plain_install_venv(suffix, extra)
        log(f"start-up of simclock run, {key}: {rounds} rounds")
        results[key] = _measure_venv(python, rounds)
    return results


def check_startup(python: Path) -> str | None:
    """Quick mode: whether `simclock run` runs the script at all; None if it does."""
    simclock = python.parent / "simclock"
    with tempfile.TemporaryDirectory() as name:
        script = Path(name) / "empty_script.py"
        script.write_text(STARTUP_SCRIPT)
        result = subprocess.run(
            [str(simclock), "run", str(script)],
            cwd=name,
            # The venv's editable simclock, or the commit run.py was told to measure.
            env=_environment(import_path=True),
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode == 0:
        return None
    return f"exit {result.returncode}: {result.stderr.strip()[-300:]}"

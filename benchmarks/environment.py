"""Describe where a benchmark ran: machine, interpreter, simclock's commit, every package."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import venv_bootstrap

__all__ = ["describe"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def describe() -> list[str]:
    """Markdown list items for the report's header."""
    return [
        f"- machine: {_machine()}",
        f"- python: {platform.python_implementation()} {platform.python_version()} "
        f"({_relative(Path(sys.prefix))})",
        f"- simclock: {_simclock_source()}",
        f"- load average (1, 5, 15 min) when the report was written: {_load()}",
        f"- packages: {_package_versions()}",
    ]


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    return f"{platform.platform()}, {os.cpu_count()} CPUs, {model}"


def _load() -> str:
    """Other work on the machine makes timings noisy: the report says how much there was."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _simclock_source() -> str:
    """Version and commit: results from a dirty tree must say so."""
    version = metadata.version("simclock")
    exported = os.environ.get(venv_bootstrap.SOURCE_VARIABLE)
    if exported:
        return f"{version}, commit {Path(exported).name[:7]} exported (--simclock-commit)"
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "simclock", "pyproject.toml")
    state = " + uncommitted changes in simclock/" if dirty else ""
    return f"{version}, editable, commit {commit or 'unknown'}{state}"


def _git(*args: str) -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return result.stdout.strip()


def _package_versions() -> str:
    skip = {"pip", "setuptools", "wheel", "simclock"}
    found = {
        dist.metadata["Name"].lower(): dist.version
        for dist in metadata.distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() not in skip
    }
    return ", ".join(f"{name} {version}" for name, version in sorted(found.items()))

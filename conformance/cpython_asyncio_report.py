"""What the CPython asyncio conformance run found: counts, regressions, the report.

A module's two runs (stock and simclock) are compared test by test; a test
that passes stock and fails on simclock is a regression, and a hang or crash
is summed up by where the worker's main thread was stuck.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from conformance.cpython_asyncio_worker import FAILING, PASSING


def count(tests: dict[str, dict[str, Any]]) -> dict[str, int]:
    outcomes = [t["outcome"] for t in tests.values()]
    return {
        "run": len(outcomes),
        "failed": sum(o in FAILING for o in outcomes),
        "skipped": sum(o == "skipped" for o in outcomes),
        "hangs": sum(o == "hang" for o in outcomes),
        "crashes": sum(o == "crash" for o in outcomes),
    }


def summary_line(error: str) -> str:
    """The line of a traceback that names the exception: the first unindented line after
    the frames of its last "Traceback (most recent call last):"."""
    lines = error.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    for line in lines[starts[-1] + 1 if starts else 0 :]:
        if line.strip() and not line.startswith((" ", "\t")):
            return line.strip()[:300]
    return next((line.strip()[:300] for line in reversed(lines) if line.strip()), "")


def where_stuck(log: str, simclock_file: str | None) -> str:
    """From faulthandler's dump in a worker's log, where the main thread (listed last)
    waits: its innermost frame in the simclock package that `simclock_file` (its
    `__init__.py`, as the worker imported it) belongs to, and its innermost test frame."""
    lines = log.splitlines()
    heads = [i for i, line in enumerate(lines) if "(most recent call first):" in line]
    if not heads:
        return "no stack dump in the log"
    frames = []
    for line in lines[heads[-1] + 1 :]:
        match = re.match(r'\s*File "(.+)", line (\d+) in (\S+)', line)
        if match is None:
            break
        frames.append((match[1], match[2], match[3]))
    # simclock's frames by the package's own directory: a path merely containing
    # "/simclock/" may be a checkout of that name, test_asyncio's frames included.
    package = Path(simclock_file).parent if simclock_file else None
    picks = []
    for path, line, function in frames:
        if package is not None and Path(path).is_relative_to(package):
            picks.append(f"simclock/{Path(path).relative_to(package)}:{line} {function}()")
            break
    for path, line, function in frames:
        if Path(path).parent.name == "test_asyncio":
            picks.append(f"test_asyncio/{Path(path).name}:{line} {function}()")
            break
    if not picks and frames:
        path, line, function = frames[0]
        picks.append(f"{Path(path).name}:{line} {function}()")
    return "main thread in " + ", from ".join(picks) if picks else "empty stack dump"


def compare(stock: dict[str, Any], sim: dict[str, Any]) -> dict[str, Any]:
    """The tests whose outcome differs between the stock run and the simclock run."""
    regressions, fixed, not_run = [], [], []
    for test_id, result in stock["tests"].items():
        other = sim["tests"].get(test_id)
        if other is None:
            if result["outcome"] in PASSING:
                not_run.append(test_id)
            continue
        if result["outcome"] in PASSING and other["outcome"] in FAILING:
            regressions.append(
                {
                    "id": test_id,
                    "outcome": other["outcome"],
                    "summary": summary_line(other["detail"])
                    if other["outcome"] not in ("hang", "crash")
                    else f"{other['outcome']}; {where_stuck(other['detail'], sim['simclock'])}",
                    "detail": other["detail"],
                }
            )
        elif result["outcome"] in FAILING and other["outcome"] in PASSING:
            fixed.append(test_id)
    for test_id, other in sim["tests"].items():
        # Ids only the simclock run has: a class or module fixture that failed there.
        if test_id not in stock["tests"] and other["outcome"] in FAILING:
            regressions.append(
                {
                    "id": test_id,
                    "outcome": other["outcome"],
                    "summary": summary_line(other["detail"]),
                    "detail": other["detail"],
                }
            )
    return {"regressions": regressions, "fixed": fixed, "not_run_on_simclock": not_run}


def _fmt(counts: dict[str, int], seconds: float) -> str:
    text = (
        f"{counts['run']:5d} run {counts['failed']:4d} fail {counts['skipped']:4d} skip "
        f"{seconds:7.1f} s"
    )
    extra = []
    if counts["hangs"]:
        extra.append(f"{counts['hangs']} hang")
    if counts["crashes"]:
        extra.append(f"{counts['crashes']} crash")
    return text + (f" ({', '.join(extra)})" if extra else "")


def module_line(full: str, module: str, entry: dict[str, Any], loops: list[str]) -> str:
    parts = []
    for loop in loops:
        run = entry[loop]
        made = f" loops={run['loops_made']}" if loop == "simclock" else ""
        parts.append(f"{loop} {_fmt(count(run['tests']), run['seconds'])}{made}")
    regressions = len(entry["compare"]["regressions"]) if "compare" in entry else 0
    lines = [f"  {full} {module:17s} " + " | ".join(parts) + f" | {regressions} regressed"]
    for loop in loops:
        lines.extend(f"      {loop}: {note}" for note in entry[loop]["notes"])
    return "\n".join(lines)


def print_report(reports: list[dict[str, Any]], opts: argparse.Namespace, out: Any) -> None:
    print(file=out)
    for report in reports:
        parts = [
            f"{loop} {_fmt(report['totals'][loop], report['totals'][loop]['seconds'])}"
            for loop in opts.loops
        ]
        line = f"Python {report['version']:8s} " + " | ".join(parts)
        if len(opts.loops) == 2:
            regressions = sum(
                len(e["compare"]["regressions"])
                for e in report["modules"].values()
                if "compare" in e
            )
            fixed = sum(
                len(e["compare"]["fixed"]) for e in report["modules"].values() if "compare" in e
            )
            line += f" | {regressions} regressed, {fixed} fixed"
        missing = [m for m, e in report["modules"].items() if e.get("missing")]
        if missing:
            line += f" | missing: {','.join(missing)}"
        line += f" | {report['seconds']:.0f} s wall, {report['jobs']} at once"
        print(line, file=out)
    if not (opts.list_regressions and len(opts.loops) == 2):
        return
    for report in reports:
        lines = []
        for module, entry in report["modules"].items():
            if "compare" not in entry:
                continue
            for item in entry["compare"]["regressions"]:
                lines.append(f"  {item['id']}\n      {item['outcome']}: {item['summary']}")
            not_run = entry["compare"]["not_run_on_simclock"]
            if not_run:
                lines.append(
                    f"  {module}: {len(not_run)} tests that pass stock did not run on simclock "
                    f"(worker gave up), e.g. {not_run[0]}"
                )
        if lines:  # a header with nothing under it reads as a failure
            print(f"\nPython {report['version']}: fail on simclock, pass stock", file=out)
            print("\n".join(lines), file=out)


def broken(report: dict[str, Any]) -> bool:
    """A test that passes stock failed or did not run on simclock, or a module went missing."""
    for entry in report["modules"].values():
        if entry.get("missing"):
            return True
        compare = entry.get("compare")
        if compare and (compare["regressions"] or compare["not_run_on_simclock"]):
            return True
    return False

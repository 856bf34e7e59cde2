"""Turn one run's measurements into the printed report, in markdown.

Times are medians of real (wall-clock) time. A ratio in parentheses is the
median over rounds of that contender's time divided by simclock's in the same
round, so above 1x means slower than simclock.
"""

from __future__ import annotations

import datetime as dt
import statistics

import environment
from contenders import Contender
from measurements import Cell, median_ratio
from memory_probe import MEMORY_METHOD
from pytest_overhead import (
    BASELINE,
    OWN_RUNNER,
    UNDER_PYTEST_ASYNCIO,
    UNITTEST,
    UNITTEST_SAME_BODY,
    UNITTEST_STOCK,
    UNMARKED,
)
from startup import STARTUP_SCRIPT
from targets import NOT_QUICK, Measurements, Target, judge, startup_text
from workloads import WORKLOADS, Workload

__all__ = ["problems", "render_report"]

BLOG_BUDGET_SECONDS = 0.005
WRONG = "✗"


def render_report(m: Measurements) -> str:
    """The whole report: what is printed and what the results file holds."""
    sections = [
        ["# simclock benchmarks", "", *_header(m)],
        ["## Targets (issue 13)", "", *_target_table(judge(m))],
        ["## Side by side", "", *_side_by_side(m)],
        ["## Cost per jump beside parked tasks", "", *_parked_table(m)],
        ["## Cost per jump beside idle sockets (simclock)", "", *_socket_table(m)],
        ["## Memory per sleeping task", "", *_memory_table(m)],
        ["## Start-up of `simclock run`", "", *_startup_lines(m)],
        ["## Blog examples and the pytest plugin", "", *_blog_and_pytest(m)],
        ["## Notes", "", *_notes(m)],
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def problems(m: Measurements) -> list[str]:
    """What makes the run fail: simclock or the limits erred, or simclock's clock was wrong."""
    found = []
    for (workload, key), cell in m.times.items():
        contender = m.contender(key)
        if contender is None or contender.is_peer:
            continue
        if cell.error:
            found.append(f"{workload} on {contender.title}: {cell.error}")
        elif problem := m.wrong_clock(workload, contender):
            found.append(f"{workload} on {contender.title}: {problem}")
    for (key, count), cell in m.parked.items():
        if key == "simclock" and (cell.error or (cell.outcome and cell.outcome.problem())):
            found.append(f"jumps beside {count:,} parked tasks: {cell.error or 'wrong clock'}")
    for kind, cell in m.sockets.items():
        if cell.error or (cell.outcome and cell.outcome.problem()):
            found.append(f"jumps beside socket {kind}: {cell.error or 'wrong clock'}")
    for key in ("simclock", "plain-timers"):
        memory = m.memory.get(key)
        if memory is not None and memory.error:
            found.append(f"memory probe on {key}: {memory.error}")
    if m.startup_problem:
        found.append(f"simclock run: {m.startup_problem}")
    return found


# The header: enough to tell two results files apart and to reproduce either.


def _header(m: Measurements) -> list[str]:
    if m.quick:
        mode = "quick: tiny sizes, one round, checks only that each workload runs and keeps time"
    else:
        rounds = ", ".join(f"{key} {n}" for key, n in m.rounds_of.items())
        mode = f"full; rounds: {rounds}"
    return [
        f"- command: `{m.command}` ({mode})",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        *environment.describe(),
    ]


# Formatting.


def _seconds(value: float) -> str:
    milliseconds = value * 1000
    if milliseconds < 10:
        return f"{milliseconds:.2f} ms"
    if milliseconds < 1000:
        return f"{milliseconds:.1f} ms"
    return f"{value:,.2f} s"


def _per_jump(value: float) -> str:
    micro = value * 1e6
    return f"{micro:.2f} µs" if micro < 1000 else f"{micro / 1000:,.1f} ms"


def _table(rows: list[list[str]]) -> list[str]:
    """A markdown table padded to line up in a terminal too."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(rows[0]), line(["-" * w for w in widths]), *map(line, rows[1:])]


def _target_table(targets: list[Target]) -> list[str]:
    rows = [["target", "goal", "measured", "verdict"]]
    rows += [[t.name, t.goal, t.measured, t.verdict] for t in targets]
    return _table(rows)


# Side by side: every contender on every workload.


def _side_by_side(m: Measurements) -> list[str]:
    header = ["contender", *(w.describe(m.sizes) for w in WORKLOADS)]
    rows = [header]
    for contender in m.contenders:
        rows.append([contender.title, *(_time_cell(m, w, contender) for w in WORKLOADS)])
    per_jump = ["real time per jump, simclock"]
    for workload in WORKLOADS:
        cell = m.times.get((workload.key, "simclock"))
        median = cell.median if cell else None
        per_jump.append(_per_jump(median / workload.jumps(m.sizes)) if median else "-")
    rows.append(per_jump)
    return [
        *_table(rows),
        "",
        "Median real time per run, loop made and closed included; (N.NNx): median per-round "
        "ratio to simclock's time; n=K: only K runs fitted the cell's time budget.",
    ]


def _time_cell(m: Measurements, workload: Workload, contender: Contender) -> str:
    if contender.unavailable:
        return "unavailable"
    cell = m.times.get((workload.key, contender.key))
    if cell is None:
        return "-"
    if cell.error:
        m.notes.append(f"{WRONG} {workload.key} on {contender.title}: {cell.error}")
        return f"error {WRONG}"
    assert cell.median is not None
    text = _seconds(cell.median)
    if workload.key == "timers":
        text += f", {_per_jump(cell.median / workload.jumps(m.sizes))}/jump"
    if contender.key != "simclock":
        ratio = median_ratio(cell, m.times.get((workload.key, "simclock")))
        text += f" ({ratio:.2f}x)" if ratio is not None else ""
    if len(cell.seconds) < m.rounds_of[workload.key]:
        text += f" n={len(cell.seconds)}"
    if problem := m.wrong_clock(workload.key, contender):
        m.notes.append(f"{WRONG} {workload.key} on {contender.title}: {problem}")
        text += f" {WRONG}"
    return text


# Jump cost beside parked tasks and beside sockets.


def _cell_text(cell: Cell | None, checks_clock: bool = True) -> str:
    if cell is None:
        return "-"
    if cell.error:
        return f"error {WRONG}"
    if checks_clock and cell.outcome is not None and (problem := cell.outcome.problem()):
        return f"{_per_jump(cell.median or 0)} {WRONG} ({problem})"
    return _per_jump(cell.median) if cell.median is not None else "-"


def _parked_table(m: Measurements) -> list[str]:
    counts = m.parked_counts
    rows = [["contender", *(f"{n:,} parked" for n in counts), "growth"]]
    keys = dict.fromkeys(key for key, _ in m.parked)
    for key in keys:
        contender = m.contender(key)
        title = contender.title if contender else key
        checks = contender.checks_clock if contender else True
        cells = [_cell_text(m.parked.get((key, n)), checks) for n in counts]
        growth = median_ratio(m.parked.get((key, counts[-1])), m.parked.get((key, counts[0])))
        growth_text = NOT_QUICK if m.quick else (f"{growth:.2f}x" if growth else "-")
        rows.append([title, *cells, growth_text])
        for n in counts:
            cell = m.parked.get((key, n))
            if cell is not None and cell.error:
                m.notes.append(f"{WRONG} jumps beside {n:,} parked on {title}: {cell.error}")
    return [
        *_table(rows),
        "",
        "Median real time per `sleep(1)` of one task while N others sleep until 1e9 s; "
        "growth: median per-round ratio of the last column to the first. The limit's "
        "step is `call_at(loop.time())`, as in the speed targets.",
    ]


def _socket_table(m: Measurements) -> list[str]:
    import jump_cost

    rows = [["beside", "per jump", "vs no socket"]]
    for kind, title in jump_cost.SOCKET_KINDS.items():
        cell = m.sockets.get(kind)
        ratio = median_ratio(cell, m.sockets.get("none"))
        ratio_text = "-" if kind == "none" or ratio is None else f"{ratio:.2f}x"
        if m.quick and kind != "none":
            ratio_text = NOT_QUICK
        rows.append([title, _cell_text(cell), ratio_text])
        if cell is not None and cell.error:
            m.notes.append(f"{WRONG} jumps beside {title}: {cell.error}")
    return [
        *_table(rows),
        "",
        "A quiet connected pair: a client connected to the server, nothing sent either way. "
        "Ratios are medians of per-round ratios.",
    ]


# Memory.


def _memory_table(m: Measurements) -> list[str]:
    tasks = m.sizes.sleeping_tasks
    reference = m.memory.get("plain-timers")
    rows = [["contender", "RSS, all asleep", "per task", "vs stock asyncio, real timers"]]
    titles = {c.key: c.title for c in m.contenders}
    titles["plain-timers"] = "stock asyncio, real 1e-6-scaled timers"
    for key, cell in m.memory.items():
        title = titles.get(key, key)
        if cell.rss_asleep is not None and cell.rss_asleep <= 0 and not cell.error:
            rows.append([title, "below what RSS resolves", "-", "-"])
            continue
        if cell.error or cell.rss_asleep is None:
            m.notes.append(f"{WRONG} memory on {title}: {cell.error}")
            rows.append([title, f"error {WRONG}", "-", "-"])
            continue
        compared = "-"
        if reference is not None and reference.rss_asleep and key != "plain-timers":
            compared = f"{cell.rss_asleep / reference.rss_asleep - 1:+.1%}"
            compared = NOT_QUICK if m.quick else compared
        wrong = ""
        if cell.outcome is not None and key != "plain-timers" and cell.outcome.problem():
            wrong = f" {WRONG}"
            m.notes.append(f"{WRONG} memory run on {title}: {cell.outcome.problem()}")
        mib, per_task = cell.rss_asleep / 2**20, cell.rss_asleep / tasks
        rows.append([title, f"{mib:,.1f} MiB{wrong}", f"{per_task:,.0f} B", compared])
    return [
        *_table(rows),
        "",
        f"{tasks:,} tasks asleep at once, random lengths up to 3,600 s; {MEMORY_METHOD}. "
        "Stock asyncio sleeps 1e-6 of each length for real, so each task holds a real timer. "
        "looptime's defaults are left out: the same loop classes as noop_cycles=0.",
    ]


# Start-up.


def _startup_lines(m: Measurements) -> list[str]:
    script = STARTUP_SCRIPT.strip()
    if m.startup is None:
        state = m.startup_problem or "`simclock run` ran the script"
        return [f"{NOT_QUICK}; {state}." if m.quick else f"not measured: {state}"]
    rows = [["venv", "pytest", "python script.py", "simclock run script.py", "overhead"]]
    for key, result in m.startup.items():
        installed = "installed" if result.pytest_importable else "absent"
        rows.append(
            [
                f"{result.venv} ({key})",
                installed,
                _seconds(result.python_seconds),
                _seconds(result.simclock_seconds),
                startup_text(result),
            ]
        )
    return [
        *_table(rows),
        "",
        f"script.py holds only `{script}`. Each venv holds a regular install of simclock with "
        "its dependencies only (pytest added to the second); fresh processes, the two commands "
        "alternating; overhead: median of per-round differences.",
    ]


# Blog replay and the pytest plugin: older rows, kept for information.


def _blog_and_pytest(m: Measurements) -> list[str]:
    rows = [["what", "simclock"]]
    for name, replays in m.blog.items():
        real = statistics.median([replay.real_seconds for replay in replays])
        virtual = replays[-1].virtual_seconds
        text = f"{_seconds(real)} real, {virtual:g} s virtual"
        failed = [replay.exit_status for replay in replays if replay.exit_status != 0]
        if failed:
            text += f" {WRONG}"
            m.notes.append(f"{WRONG} blog {name}: exited with status {failed[0]}")
        rows.append([f"blog {name}", text])
    overhead = m.pytest_overhead
    if overhead is not None:
        per_test = overhead.per_test_ms
        label = f"pytest-asyncio, simclock off, {overhead.tests} tests of sleep(0)"
        rows.append([label, _per_test(m, per_test[BASELINE], None)])
        label = f"pytest-asyncio, simclock installed, {overhead.tests} unmarked tests of sleep(0)"
        rows.append([label, _per_test(m, per_test[UNMARKED], overhead.ratio(UNMARKED))])
        for variant in (UNDER_PYTEST_ASYNCIO, OWN_RUNNER):
            label = f"pytest plugin, {overhead.tests} tests of sleep(60), {variant}"
            rows.append([label, _per_test(m, per_test[variant], overhead.ratio(variant))])
        label = f"{UNITTEST_STOCK}, {overhead.tests} tests of sleep(0)"
        rows.append([label, _per_test(m, per_test[UNITTEST_STOCK], None)])
        label = f"{UNITTEST}, {overhead.tests} tests of sleep(60), against the stock line"
        rows.append([label, _per_test(m, per_test[UNITTEST], overhead.ratio(UNITTEST))])
        label = f"{UNITTEST}, {overhead.tests} tests of sleep(0), against the stock line"
        same = UNITTEST_SAME_BODY
        rows.append([label, _per_test(m, per_test[same], overhead.ratio(same))])
        for variant in (UNDER_PYTEST_ASYNCIO, OWN_RUNNER, UNITTEST):
            ratio = overhead.like_for_like(variant)
            if ratio is not None:
                label = f"{variant}, sleep(60), against a stock test of sleep(1 ns)"
                rows.append([label, f"{ratio:.2f}x"])
    slowest = max(
        (statistics.median([r.real_seconds for r in replays]), name)
        for name, replays in m.blog.items()
    )
    verdict = NOT_QUICK if m.quick else ("met" if slowest[0] < BLOG_BUDGET_SECONDS else "NOT MET")
    return [
        *_table(rows),
        "",
        "Blog: each `examples/blog/*.py` compiled and run in-process on a fresh `simclock.Clock()`"
        f", output dropped; every one under {BLOG_BUDGET_SECONDS * 1000:g} ms: {verdict}. "
        "pytest: per-test time = (a run of N tests - a run of 1) / (N - 1), each run's collection "
        "and test loop timed inside its own pytest process; ratios are medians of per-round "
        "ratios against plain pytest-asyncio with simclock switched off.",
    ]


def _per_test(m: Measurements, milliseconds: float, ratio: float | None) -> str:
    """A per-test time: a difference of two runs, so noise can make it negative."""
    if m.quick:
        return f"ran; {NOT_QUICK}"
    if milliseconds <= 0 or (ratio is not None and ratio <= 0):
        return "below the noise of two runs"
    shown = f" ({ratio:.2f}x)" if ratio is not None else ""
    return f"{milliseconds:.3f} ms/test{shown}"


def _notes(m: Measurements) -> list[str]:
    lines = [
        "- The limit: stock asyncio resolving a future from `loop.call_at(loop.time(), "
        "fut.set_result, None)` at every step: the callbacks of a virtual sleep, no waiting. "
        "`asyncio sleep(0)` schedules no timer at all: information only.",
        "- Timed runs have the garbage collector off, as timeit does; each round runs every "
        "contender once, in an order rotated by one per round.",
        f"- {WRONG} marks a cell whose virtual times came out wrong, or which failed:",
    ]
    for contender in m.contenders:
        if contender.unavailable:
            lines.append(f"  - {contender.title}: {contender.unavailable}")
    lines += [f"  - {note}" for note in dict.fromkeys(m.notes)]
    return lines

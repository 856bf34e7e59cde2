"""Turn measurements into the printed report: header, table, notes and targets, in markdown.

Times are medians of real (wall-clock) time, from making the loop to closing it.
A ratio in parentheses is that cell divided by simclock's cell in the same row,
so above 1x means slower or bigger than simclock.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

import environment
from blog_replay import Replay
from contenders import Contender
from measurements import Cell, MemoryCell
from memory_probe import MEMORY_METHOD
from pytest_overhead import PytestOverhead
from workloads import WORKLOADS, Sizes, Workload

__all__ = ["Measurements", "render_report"]

BLOG_BUDGET_SECONDS = 0.005
MEMORY_TOLERANCE = 0.10
PYTEST_OVERHEAD_TARGET = 1.2
PEER_SPEEDUP_TARGET = 1.5
# asyncio purges cancelled timers once more than half of a heap above 100 entries is
# cancelled (`_MIN_SCHEDULED_TIMER_HANDLES`), so a bounded heap never holds much more than 200.
BOUNDED_HEAP = 256
WRONG = "✗"


@dataclass
class Measurements:
    command: str
    sizes: Sizes
    repeats: int
    quick: bool
    contenders: list[Contender]
    blog: dict[str, list[Replay]]
    times: dict[tuple[str, str], Cell]
    memory: dict[tuple[str, str], MemoryCell]
    reference: Contender
    pytest_overhead: PytestOverhead | None = None
    # Filled while the table is built: each cell marked with WRONG adds the reason here.
    notes: list[str] = field(default_factory=list)

    def time(self, workload: str, contender: str) -> float | None:
        cell = self.times.get((workload, contender))
        return cell.median if cell else None

    def memory_of(self, workload: str, contender: str) -> int | None:
        cell = self.memory.get((workload, contender))
        return cell.rss_delta if cell else None

    def wrong_clock(self, workload: str, contender: Contender) -> str | None:
        cell = self.times.get((workload, contender.key))
        if cell is None or cell.outcome is None or not contender.checks_clock:
            return None
        return cell.outcome.problem()


def render_report(measured: Measurements) -> str:
    """The whole report as markdown: what printed and what `results/latest.md` holds."""
    table = _table(measured)
    lines = [
        "# simclock benchmarks",
        "",
        *_header(measured),
        "",
        *_render_table(table),
        "",
        "## Notes",
        "",
        *_notes(measured),
        "",
        "## Targets",
        "",
        *_targets(measured),
    ]
    return "\n".join(lines) + "\n"


# The header: enough to tell two results files apart and to reproduce either.


def _header(measured: Measurements) -> list[str]:
    runs = "1 run per cell" if measured.repeats == 1 else f"{measured.repeats} runs per cell"
    mode = "quick: tiny sizes, indicative only" if measured.quick else "full"
    return [
        f"- command: `{measured.command}` ({mode}; {runs}, medians)",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        *environment.describe(),
    ]


# Formatting numbers.


def _seconds(value: float) -> str:
    milliseconds = value * 1000
    if milliseconds < 10:
        return f"{milliseconds:.2f} ms"
    if milliseconds < 1000:
        return f"{milliseconds:.1f} ms"
    if value < 100:
        return f"{milliseconds:,.0f} ms"
    return f"{value:,.0f} s"


def _bytes(value: float) -> str:
    if abs(value) < 2**20:
        return f"{value / 2**10:,.0f} KiB"
    return f"{value / 2**20:,.1f} MiB"


def _ratio(value: float, simclock: float | None) -> str:
    if not simclock:
        return ""
    return f" ({value / simclock:.2f}x)"


# The table.


def _table(measured: Measurements) -> list[list[str]]:
    header = ["workload", *(contender.title for contender in measured.contenders)]
    rows = [header]
    rows += _blog_rows(measured)
    for workload in WORKLOADS:
        rows.append(
            [f"{workload.describe(measured.sizes)}: time", *_time_cells(measured, workload)]
        )
        if workload.units is not None:
            rows.append([f"{workload.key}: memory", *_memory_cells(measured, workload)])
        if workload.key == "d":
            rows.append(_reference_row(measured, workload))
    rows += _pytest_rows(measured)
    return rows


def _pytest_rows(measured: Measurements) -> list[list[str]]:
    overhead = measured.pytest_overhead
    if overhead is None:
        return [["f: pytest plugin (not measured)", *("-" for _ in measured.contenders)]]
    label = f"f: {overhead.tests} pytest tests, sleep(60) each: per test"
    rows = []
    for variant, title in (
        ("simclock", label),
        ("simclock, no pytest-asyncio", f"{label}, -p no:asyncio"),
    ):
        cells = []
        for contender in measured.contenders:
            if contender.key == "plain":
                plain = overhead.per_test_ms["plain"]
                cells.append(f"{plain:.2f} ms, pytest-asyncio, sleep(0)")
            elif contender.key == "simclock":
                ms = overhead.per_test_ms[variant]
                cells.append(f"{ms:.2f} ms ({overhead.ratio(variant):.2f}x plain)")
            else:
                cells.append("-")
        rows.append([title, *cells])
    return rows


def _blog_rows(measured: Measurements) -> list[list[str]]:
    rows = []
    for name, replays in measured.blog.items():
        cells = ["-" for _ in measured.contenders]
        real = statistics.median([replay.real_seconds for replay in replays])
        virtual = replays[-1].virtual_seconds
        speedup = f", {virtual / real:,.0f}x real time" if virtual else ""
        cell = f"{_seconds(real)} real, {virtual:g} s virtual{speedup}"
        failed = [replay.exit_status for replay in replays if replay.exit_status != 0]
        if failed:
            cell += f" {WRONG}"
            measured.notes.append(f"{WRONG} a {name}: exited with status {failed[0]}")
        cells[_column(measured, "simclock")] = cell
        rows.append([f"a: blog {name}", *cells])
    return rows


def _column(measured: Measurements, key: str) -> int:
    return next(i for i, contender in enumerate(measured.contenders) if contender.key == key)


def _time_cells(measured: Measurements, workload: Workload) -> list[str]:
    simclock = measured.time(workload.key, "simclock")
    return [
        _time_cell(measured, workload, contender, simclock) for contender in measured.contenders
    ]


def _time_cell(
    measured: Measurements, workload: Workload, contender: Contender, simclock: float | None
) -> str:
    if contender.unavailable:
        return "unavailable"
    cell = measured.times.get((workload.key, contender.key))
    if cell is None:
        return "-"
    if cell.error:
        measured.notes.append(f"{WRONG} {workload.key} on {contender.title}: {cell.error}")
        return f"error {WRONG}"
    assert cell.median is not None
    text = _seconds(cell.median)
    if contender.key != "simclock":
        text += _ratio(cell.median, simclock)
    if len(cell.seconds) < measured.repeats:
        text += f" n={len(cell.seconds)}"
    problem = measured.wrong_clock(workload.key, contender)
    if problem:
        measured.notes.append(f"{WRONG} {workload.key} on {contender.title}: {problem}")
        text += f" {WRONG}"
    return text


def _memory_cells(measured: Measurements, workload: Workload) -> list[str]:
    return [_memory_cell(measured, workload, contender) for contender in measured.contenders]


def _memory_cell(measured: Measurements, workload: Workload, contender: Contender) -> str:
    if contender.unavailable:
        return "unavailable"
    cell = measured.memory.get((workload.key, contender.key))
    if cell is None:
        return "-"
    text = _memory_text(measured, workload, cell, with_ratio=contender.key != "simclock")
    timing = measured.times.get((workload.key, contender.key))
    if timing and timing.outcome and timing.outcome.timer_heap_peak is not None:
        text += f", heap <= {timing.outcome.timer_heap_peak:,}"
    return text


def _memory_text(
    measured: Measurements, workload: Workload, cell: MemoryCell, *, with_ratio: bool
) -> str:
    """Peak RSS growth, per task or call, and its ratio to simclock's."""
    if cell.error or cell.rss_delta is None:
        measured.notes.append(f"{WRONG} {workload.key} memory: {cell.error}")
        return f"error {WRONG}"
    assert workload.units is not None
    per_unit = cell.rss_delta / workload.units(measured.sizes)
    text = f"{_bytes(cell.rss_delta)}, {per_unit:,.0f} B/{workload.unit_name}"
    simclock = measured.memory_of(workload.key, "simclock")
    # Below a MiB, RSS moves by whole allocator arenas: a ratio of two such numbers is noise.
    if with_ratio and simclock and simclock >= 2**20:
        text += _ratio(cell.rss_delta, simclock)
    return text


def _reference_row(measured: Measurements, workload: Workload) -> list[str]:
    """d's memory on stock asyncio with a real timer per task: the like-for-like mark."""
    cells = ["-" for _ in measured.contenders]
    cell = measured.memory.get((workload.key, measured.reference.key))
    if cell is not None:
        cells[_column(measured, "plain")] = _memory_text(measured, workload, cell, with_ratio=True)
    return [f"{workload.key}: memory, plain asyncio with real 1e-6-scaled timers", *cells]


def _render_table(rows: list[list[str]]) -> list[str]:
    """A markdown table padded to line up in a terminal too."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(rows[0]), line(["-" * w for w in widths]), *map(line, rows[1:])]


# Notes and targets.


def _notes(measured: Measurements) -> list[str]:
    lines = [
        "- Times: median real time per run, loop creation and teardown included, garbage "
        "collector off during the run (as timeit does); (N.NNx) = this cell / simclock's cell "
        "in the same row; n=K: only K runs fitted the cell's time budget.",
        "- a: in-process `compile_script` + `run_script` on a fresh `simclock.Clock()`, output "
        "dropped. Peers and plain asyncio: - (a real run takes the virtual seconds shown).",
        "- plain asyncio, 0 delay: every sleep is `asyncio.sleep(0)`: the same scheduling "
        "with no timers, the limit a virtual clock can approach.",
        f"- Memory: {MEMORY_METHOD} (one process per cell; runs differ by < 0.1%); "
        "B/task = that growth / number of tasks (or calls); heap <= N: the most timer handles "
        "the loop held after any wait_for.",
        "- The d reference row runs stock asyncio with every sleep scaled by 1e-6 (real "
        "timers, at most 3.6 ms): like-for-like memory, since a 0-delay sleep holds no timer.",
        f"- {WRONG} marks a cell whose clock was wrong or which failed; every such cell is "
        "listed here:",
    ]
    for contender in measured.contenders:
        if contender.unavailable:
            lines.append(f"- {contender.title}: {contender.unavailable}")
    lines += [f"  - {note}" for note in dict.fromkeys(measured.notes)]
    return lines


def _targets(measured: Measurements) -> list[str]:
    lines = []
    if measured.quick:
        lines.append("- (quick sizes: these verdicts are not meaningful)")
    for key in ("b", "c"):
        lines += _speed_targets(measured, key)
    lines.append(_blog_target(measured))
    lines.append(_memory_target(measured))
    lines.append(_bounded_target(measured))
    lines.append(_pytest_target(measured))
    return lines


def _pytest_target(measured: Measurements) -> str:
    overhead = measured.pytest_overhead
    if overhead is None:
        return "- f: pytest per-test overhead: not measured"
    ratio = overhead.ratio("simclock")
    return (
        f"- f: per-test overhead <= {PYTEST_OVERHEAD_TARGET}x plain pytest-asyncio: "
        f"{_verdict(ratio <= PYTEST_OVERHEAD_TARGET)} ({overhead.per_test_ms['simclock']:.2f} ms "
        f"vs {overhead.per_test_ms['plain']:.2f} ms per test: {ratio:.2f}x)"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def _speed_targets(measured: Measurements, key: str) -> list[str]:
    simclock, plain = measured.time(key, "simclock"), measured.time(key, "plain")
    if simclock is None or plain is None:
        return [f"- {key}: no simclock or plain asyncio time"]
    lines = [
        f"- {key}: simclock <= 1.0x plain asyncio 0-delay: {_verdict(simclock <= plain)} "
        f"({_seconds(simclock)} vs {_seconds(plain)}: {simclock / plain:.2f}x)"
    ]
    peers = [
        (time, contender.title)
        for contender in measured.contenders
        if contender.is_peer
        and (time := measured.time(key, contender.key)) is not None
        and not measured.wrong_clock(key, contender)
    ]
    if peers:
        fastest, title = min(peers)
        lines.append(
            f"- {key}: simclock >= {PEER_SPEEDUP_TARGET}x faster than the fastest correct peer: "
            f"{_verdict(fastest / simclock >= PEER_SPEEDUP_TARGET)} ({title} {_seconds(fastest)}"
            f" is {fastest / simclock:.2f}x simclock's time)"
        )
    return lines


def _blog_target(measured: Measurements) -> str:
    slowest = max(
        (statistics.median([r.real_seconds for r in replays]), name)
        for name, replays in measured.blog.items()
    )
    met = slowest[0] < BLOG_BUDGET_SECONDS
    return (
        f"- a: every blog example < {BLOG_BUDGET_SECONDS * 1000:g} ms real: {_verdict(met)} "
        f"(slowest: {slowest[1]}, {_seconds(slowest[0])})"
    )


def _memory_target(measured: Measurements) -> str:
    simclock, plain = measured.memory_of("d", "simclock"), measured.memory_of("d", "plain")
    if not (simclock and plain):
        return "- d: memory not measured"
    ratio = simclock / plain
    text = (
        f"- d: memory per sleeping task within {MEMORY_TOLERANCE:.0%} of plain asyncio 0-delay: "
        f"{_verdict(ratio <= 1 + MEMORY_TOLERANCE)} ({ratio:.2f}x"
    )
    reference = measured.memory_of("d", measured.reference.key)
    if reference:
        text += f"; {simclock / reference:.2f}x plain asyncio with real timers"
    return text + ")"


def _bounded_target(measured: Measurements) -> str:
    cell = measured.times.get(("e", "simclock"))
    if cell is None or cell.outcome is None or cell.outcome.timer_heap_peak is None:
        return "- e: timer heap not measured"
    peak = cell.outcome.timer_heap_peak
    memory = measured.memory_of("e", "simclock")
    rss = f", peak RSS +{_bytes(memory)}" if memory is not None else ""
    return (
        f"- e: memory bounded (timer heap <= {BOUNDED_HEAP} however many calls): "
        f"{_verdict(peak <= BOUNDED_HEAP)} (heap peak {peak:,} after "
        f"{measured.sizes.wait_for_calls:,} calls{rss})"
    )

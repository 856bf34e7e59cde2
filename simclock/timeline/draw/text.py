"""The chart for a terminal, and the JSON of a timeline.

Every chart has one lane per task over virtual time. A lane shows when the
task was created, each instant it ran (a dot), the stretches it spent waiting
(a line) and how it ended: finished, cancelled or failed. Printed lines and
marks are numbered and listed with their time and task; a task that awaited
another is joined to it where it resumed. Past `model.MOST_LANES` tasks,
the lanes are summarised by coroutine, with counts.

Any text a script prints is drawn safely (colour codes dropped, controls
escaped); the JSON keeps it exactly. Drawing takes time in proportion to the
recorded events.
"""

from __future__ import annotations

from simclock.timeline.draw.labels import columns, elide
from simclock.timeline.draw.model import (
    TOP_LEVEL,
    Chart,
    LaneGroup,
    chart,
    moment,
    summary,
)
from simclock.timeline.timeline import EventKind, Timeline

__all__ = ["to_json", "to_text"]

_END_GLYPH = {EventKind.FINISHED: "■", EventKind.CANCELLED: "✕", EventKind.FAILED: "!"}
#: Past this many, the terminal lists only the first printed lines and joins.
_MOST_LISTED = 200


def to_json(timeline: Timeline) -> str:
    """The recorded events as JSON; `Timeline.from_json` reads it back. See `Timeline.to_json`."""
    return timeline.to_json()


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - columns(text))


def to_text(timeline: Timeline, width: int = 80) -> str:
    """The chart for a terminal, `width` columns wide, then the printed lines and marks.

    Labels are cut in the middle to fit, so two long task names stay apart;
    CJK text is measured in the columns a terminal gives it.
    """
    drawn = chart(timeline, label_width=24)
    rows: list[tuple[str, float, float | None, list[float], EventKind | None]]
    if drawn.groups is not None:
        rows = [(elide(g.title, 24), g.start, g.end, [], None) for g in drawn.groups]
    else:
        rows = [(lane.label, lane.start, lane.end, lane.ran, lane.ending) for lane in drawn.lanes]
    label_width = max([columns(row[0]) for row in rows] + [4]) + 1
    cells = max(10, width - label_width - 1)
    span = drawn.span
    position = drawn.axis.position

    def cell(at: float) -> int:
        return min(cells - 1, max(0, round(position(at) * (cells - 1))))

    lines = [f"simclock timeline: {summary(timeline)}", ""]
    axis, marks = [" "] * cells, [" "] * cells
    for quiet_from, quiet_to in drawn.axis.breaks:  # a quiet stretch drawn narrow
        for index in range(cell(quiet_from) + 1, cell(quiet_to)):
            marks[index] = "≈"
    labelled = drawn.axis.labels(max(1, cells // 10))
    # The end of the run first: it is labelled whatever it crowds out.
    for tick, text in [labelled[-1], *labelled[:-1]]:
        where = cell(tick)
        left = min(where, cells - len(text))  # the last label ends at its tick
        if all(c == " " for c in axis[max(0, left - 1) : left + len(text) + 1]):
            axis[left : left + len(text)] = text
            marks[where] = "|"
    lines.append(f"{'':<{label_width}}{''.join(axis).rstrip()}")
    lines.append(f"{'':<{label_width}}{''.join(marks).rstrip()}")
    for index, (label, start, end, ran, ending) in enumerate(rows):
        if drawn.groups is not None:
            profile = _profile(drawn.groups[index], cells)
            lines.append(f"{_pad(label, label_width)}{profile.rstrip()}")
            continue
        row = [" "] * cells
        last = span if end is None else end
        for index in range(cell(start), cell(last) + 1):
            row[index] = "─"
        for at in ran:
            row[cell(at)] = "●"
        if ending is not None and end is not None:
            row[cell(end)] = _END_GLYPH[ending]
        lines.append(f"{_pad(label, label_width)}{''.join(row).rstrip()}")
    lines.append("")
    if drawn.groups is not None:
        lines.append(f"{'':<{label_width}}▁▄█ how many tasks were alive, to the peak of each row")
    else:
        lines.append(f"{'':<{label_width}}● ran  ─ waiting  ■ finished  ✕ cancelled  ! failed")
    lines += _text_details(drawn, label_width)
    return "\n".join(lines) + "\n"


_LEVELS = " ▁▂▃▄▅▆▇█"


def _profile(group: LaneGroup, cells: int) -> str:
    """How many of the group's tasks were alive, as a row of block characters."""
    peak = max(group.alive, default=0) or 1
    bins = len(group.alive)
    row = []
    for cell in range(cells):
        first = cell * bins // cells
        count = max(group.alive[first : max(first + 1, (cell + 1) * bins // cells)], default=0)
        level = 0 if count == 0 else max(1, round(count / peak * (len(_LEVELS) - 1)))
        row.append(_LEVELS[level])
    return "".join(row)


def _text_details(drawn: Chart, label_width: int) -> list[str]:
    lines: list[str] = []
    if drawn.groups is not None:
        lines.append("")
        lines.append(f"{sum(g.count for g in drawn.groups):,} tasks, by coroutine:")
        lines += [f"  {group.describe()}" for group in drawn.groups]
    else:
        labels = {lane.name: lane.label for lane in drawn.lanes}
        if drawn.joins:
            lines.append("")
        for join in drawn.joins[:_MOST_LISTED]:
            lines.append(
                f"{labels[join.waiter]} resumed at {moment(join.resumed)} "
                f"when {labels[join.awaited]} ended at {moment(join.ended)}"
            )
        failures = [lane for lane in drawn.lanes if lane.ending is EventKind.FAILED]
        for lane in failures[:_MOST_LISTED]:
            lines.append(f"{lane.label} failed at {moment(lane.end or 0.0)}: {lane.failure}")
    if drawn.notes:
        lines.append("")
        labels = {lane.name: lane.label for lane in drawn.lanes}
        for note in drawn.notes[:_MOST_LISTED]:
            where = labels.get(note.task or TOP_LEVEL, "-")
            prefix = "mark: " if note.kind is EventKind.MARK else ""
            lines.append(f"{note.at:9.3f}s  {_pad(where, label_width)}│ {prefix}{note.text}")
        if len(drawn.notes) > _MOST_LISTED:
            more = len(drawn.notes) - _MOST_LISTED
            lines.append(f"… {more:,} more printed lines and marks (--json keeps them all)")
    return lines

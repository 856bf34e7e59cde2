"""Draw a `Timeline`: a terminal chart, a self-contained SVG or HTML page, or JSON.

Every chart has one lane per task over virtual time. A lane shows when the
task was created, each instant it ran (a dot), the stretches it spent waiting
(a line) and how it ended: finished, cancelled or failed.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field

from simclock.timeline import EventKind, Timeline

__all__ = ["summary", "to_html", "to_json", "to_svg", "to_text"]

_DEFAULT_NAME = re.compile(r"Task-\d+")
_END_GLYPH = {EventKind.FINISHED: "■", EventKind.CANCELLED: "✕", EventKind.FAILED: "!"}


@dataclass
class _Lane:
    name: str
    label: str
    start: float
    end: float | None = None
    ending: EventKind | None = None
    ran: list[float] = field(default_factory=list)


def _lanes(timeline: Timeline) -> list[_Lane]:
    lanes: dict[str, _Lane] = {}
    for event in timeline.events:
        if event.task is None:
            continue
        lane = lanes.get(event.task)
        if lane is None:
            lane = lanes[event.task] = _Lane(event.task, _label(timeline, event.task), event.at)
        if event.kind is EventKind.RAN:
            lane.ran.append(event.at)
        elif event.kind in _END_GLYPH:
            lane.end, lane.ending = event.at, event.kind
    labels = [lane.label for lane in lanes.values()]
    for lane in lanes.values():
        if labels.count(lane.label) > 1 and lane.label != lane.name:
            lane.label = f"{lane.label} {lane.name}"
    return list(lanes.values())


def _label(timeline: Timeline, task: str) -> str:
    """A default-named task is shown by its coroutine: `main()` says more than `Task-1`."""
    coroutine = timeline.coroutines.get(task)
    if _DEFAULT_NAME.fullmatch(task) and coroutine:
        return f"{coroutine}()"
    return task


def _nice_step(span: float, most: int) -> float:
    """The smallest of 1, 2, 5 x 10**k that cuts `span` into at most `most` pieces."""
    if span <= 0:
        return 1.0
    raw = span / most
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power)
    return float(10 * power)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def summary(timeline: Timeline) -> str:
    """`4.000 s virtual in 1.2 ms real (3,300x)`: how long the recorded run took."""
    virtual = timeline.duration
    real = timeline.real_seconds
    if real > 0:
        ratio = f" ({virtual / real:,.0f}x)" if virtual > 0 else ""
        return f"{virtual:.3f} s virtual in {real * 1000:.1f} ms real{ratio}"
    return f"{virtual:.3f} s virtual"


def to_text(timeline: Timeline, width: int = 80) -> str:
    """The chart for a terminal, `width` columns wide, then the printed lines and marks."""
    lanes = _lanes(timeline)
    label_width = min(18, max([len(lane.label) for lane in lanes] + [4]) + 1)
    columns = max(10, width - label_width - 2)
    span = max(timeline.end, timeline.virtual_seconds)
    scale = (columns - 1) / span if span > 0 else 0.0

    def column(at: float) -> int:
        return round(at * scale)

    lines = [f"simclock timeline: {summary(timeline)}", ""]
    step = _nice_step(span, max(1, columns // 10))
    axis = [" "] * columns
    ticks = [" "] * columns
    tick = 0.0
    while tick <= span + 1e-9:
        at = column(tick)
        text = _seconds(round(tick, 9))
        left = min(at, columns - len(text))  # the last label ends at its tick
        if all(c == " " for c in axis[max(0, left - 1) : left + len(text)]):
            axis[left : left + len(text)] = text
            ticks[at] = "|"
        tick += step
        if span == 0:
            break
    lines.append(f"{'':<{label_width}} {''.join(axis).rstrip()}")
    lines.append(f"{'':<{label_width}} {''.join(ticks).rstrip()}")
    for lane in lanes:
        row = [" "] * columns
        end = lane.end if lane.end is not None else span
        for index in range(column(lane.start), column(end) + 1):
            row[index] = "─"
        for ran_at in lane.ran:
            row[column(ran_at)] = "●"
        if lane.ending is not None and lane.end is not None:
            row[column(lane.end)] = _END_GLYPH[lane.ending]
        label = lane.label if len(lane.label) < label_width else lane.label[: label_width - 2] + "…"
        lines.append(f"{label:<{label_width}} {''.join(row).rstrip()}")
    lines.append("")
    lines.append(f"{'':<{label_width}} ● ran  ─ waiting  ■ finished  ✕ cancelled  ! failed")
    notes = timeline.notes()
    if notes:
        lines.append("")
        labels = {lane.name: lane.label for lane in lanes}
        for event in notes:
            where = labels.get(event.task or "", event.task or "-")
            prefix = "mark: " if event.kind is EventKind.MARK else ""
            lines.append(f"{event.at:9.3f}s  {where:<{label_width}}│ {prefix}{event.text}")
    return "\n".join(lines) + "\n"


def to_json(timeline: Timeline) -> str:
    """The recorded events as JSON: `{"virtual_seconds", "real_seconds", "events": [...]}`."""
    document = {
        "virtual_seconds": timeline.duration,
        "real_seconds": timeline.real_seconds,
        "events": [
            {"t": e.at, "task": e.task, "kind": e.kind.value, "text": e.text}
            for e in timeline.events
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


_LANE_HEIGHT = 34
_LABEL_WIDTH = 170
_CHART_WIDTH = 720
_TOP = 56
_COLOURS = {
    EventKind.FINISHED: "#2e7d32",
    EventKind.CANCELLED: "#8d6e63",
    EventKind.FAILED: "#c62828",
}


def to_svg(timeline: Timeline, title: str = "simclock timeline") -> str:
    """A self-contained SVG of the chart; every task name and text is escaped."""
    lanes = _lanes(timeline)
    notes = timeline.notes()
    span = max(timeline.end, timeline.virtual_seconds)
    scale = _CHART_WIDTH / span if span > 0 else 0.0
    height = _TOP + _LANE_HEIGHT * max(1, len(lanes)) + 56
    width = _LABEL_WIDTH + _CHART_WIDTH + 40
    esc = html.escape

    def x(at: float) -> float:
        return _LABEL_WIDTH + at * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="13">',
        f"<title>{esc(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="12" y="22" font-size="15" font-weight="600">{esc(title)}</text>',
        f'<text x="12" y="40" fill="#555">{esc(summary(timeline))}</text>',
    ]
    step = _nice_step(span, 10)
    tick = 0.0
    bottom = _TOP + _LANE_HEIGHT * max(1, len(lanes))
    while tick <= span + 1e-9:
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{_TOP - 6}" x2="{x(tick):.1f}" y2="{bottom}" '
            'stroke="#e0e0e0"/>'
            f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">'
            f"{esc(_seconds(round(tick, 9)))}</text>"
        )
        tick += step
        if span == 0:
            break
    for index, lane in enumerate(lanes):
        y = _TOP + index * _LANE_HEIGHT + _LANE_HEIGHT / 2
        end = lane.end if lane.end is not None else span
        colour = _COLOURS.get(lane.ending or EventKind.FINISHED, "#1565c0")
        parts.append(
            f'<text x="12" y="{y + 4:.1f}">{esc(lane.label)}<title>{esc(lane.name)}</title></text>'
        )
        bar = max(2.0, x(end) - x(lane.start))
        parts.append(
            f'<rect x="{x(lane.start):.1f}" y="{y - 4:.1f}" width="{bar:.1f}" height="8" rx="4" '
            f'fill="#bbdefb"><title>{esc(lane.name)}: {lane.start:.3f}s to {end:.3f}s'
            "</title></rect>"
        )
        for at in lane.ran:
            parts.append(
                f'<circle cx="{x(at):.1f}" cy="{y:.1f}" r="5" fill="#1565c0">'
                f"<title>{esc(lane.name)} ran at {at:.3f}s</title></circle>"
            )
        if lane.end is not None and lane.ending is not None:
            parts.append(
                f'<rect x="{x(lane.end) - 5:.1f}" y="{y - 9:.1f}" width="10" height="18" '
                f'fill="{colour}"><title>{esc(lane.name)} {lane.ending.value} at '
                f"{lane.end:.3f}s</title></rect>"
            )
        for event in notes:
            if event.task == lane.name:
                parts.append(
                    f'<path d="M{x(event.at):.1f},{y - 16:.1f} l-5,-7 h10 z" fill="#f9a825">'
                    f"<title>{event.at:.3f}s {esc(event.text)}</title></path>"
                )
    legend_y = bottom + 34
    parts.append(
        f'<circle cx="{_LABEL_WIDTH + 5}" cy="{legend_y - 4}" r="5" fill="#1565c0"/>'
        f'<text x="{_LABEL_WIDTH + 14}" y="{legend_y}" fill="#555">ran</text>'
        f'<path d="M{_LABEL_WIDTH + 60},{legend_y - 1} l-5,-7 h10 z" fill="#f9a825"/>'
        f'<text x="{_LABEL_WIDTH + 70}" y="{legend_y}" fill="#555">printed or marked '
        "(hover)</text>"
        f'<rect x="{_LABEL_WIDTH + 310}" y="{legend_y - 10}" width="8" height="12" '
        f'fill="{_COLOURS[EventKind.FINISHED]}"/>'
        f'<text x="{_LABEL_WIDTH + 324}" y="{legend_y}" fill="#555">finished</text>'
        f'<rect x="{_LABEL_WIDTH + 395}" y="{legend_y - 10}" width="8" height="12" '
        f'fill="{_COLOURS[EventKind.CANCELLED]}"/>'
        f'<text x="{_LABEL_WIDTH + 409}" y="{legend_y}" fill="#555">cancelled</text>'
        f'<rect x="{_LABEL_WIDTH + 490}" y="{legend_y - 10}" width="8" height="12" '
        f'fill="{_COLOURS[EventKind.FAILED]}"/>'
        f'<text x="{_LABEL_WIDTH + 504}" y="{legend_y}" fill="#555">failed</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def to_html(timeline: Timeline, title: str = "simclock timeline") -> str:
    """A self-contained page: the SVG chart, then every printed line and mark with its time."""
    esc = html.escape
    rows = "\n".join(
        f"<tr><td>{e.at:.3f}s</td><td>{esc(e.task or '-')}</td><td>{esc(e.kind.value)}</td>"
        f"<td><code>{esc(e.text)}</code></td></tr>"
        for e in timeline.notes()
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}td,th{padding:2px 12px;text-align:left;"
        "border-bottom:1px solid #eee}code{white-space:pre}</style></head><body>\n"
        f"{to_svg(timeline, title)}"
        "<table><thead><tr><th>t</th><th>task</th><th>kind</th><th>text</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table>\n</body></html>\n"
    )

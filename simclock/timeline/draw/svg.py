"""The chart as a self-contained SVG picture.

The picture is meant for a slide: it reads without hovering. Each printed
line and mark is a numbered tick on its task's lane and a numbered row under
the chart; a task that awaited another is joined to it by an arrow where it
resumed; a dashed line shows which task created which; the legend names
every kind of mark drawn. Its size follows its content: the label column is
as wide as the longest label (at most 32 columns, cut in the middle), the
height grows with the lanes and the listed lines.

All text is in a monospace font, so that widths computed here match what a
browser draws, CJK included (two columns a character). Every string a
script produced passes through `printable` and XML escaping: the SVG is
well-formed XML whatever was printed.
"""

from __future__ import annotations

from collections.abc import Iterable

from simclock.timeline.draw.labels import columns, elide, printable, wrap
from simclock.timeline.draw.model import (
    TOP_LEVEL,
    Chart,
    Lane,
    Note,
    chart,
    moment,
    number_ranges,
    seconds,
    summary,
)
from simclock.timeline.timeline import EventKind, Timeline

__all__ = ["escape", "picture", "to_svg"]

_FONT = 13
_COLUMN = 7.9  # px per terminal column at 13 px in a monospace font (0.6 em, rounded up)
_PLOT_WIDTH = 640
_MARGIN = 12
_TOP = 64
_MOST_NOTES = 400  # lines listed under the chart; the HTML table lists all
_RAN = "#1565c0"
_WAITING = "#bbdefb"
_NOTE = "#ef6c00"
_MARK = "#6a1b9a"
_JOIN = "#455a64"
_COLOURS = {
    EventKind.FINISHED: "#2e7d32",
    EventKind.CANCELLED: "#8d6e63",
    EventKind.FAILED: "#c62828",
}
_FONT_FAMILY = (
    "ui-monospace, 'DejaVu Sans Mono', 'Noto Sans Mono CJK KR', 'Noto Sans Mono', "
    "Menlo, Consolas, monospace"
)


def escape(text: str) -> str:
    """`text` made printable and escaped: safe in XML and HTML, attribute values included."""
    return (
        printable(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _lane_height(count: int) -> int:
    return 30 if count <= 12 else 22 if count <= 40 else 16


class _Layout:
    """Where things go: the x of an instant, the y of a lane, the size of the picture."""

    def __init__(self, drawn: Chart, labels: list[str]) -> None:
        self.label_columns = max([columns(label) for label in labels] + [8])
        self.plot_left = _MARGIN + self.label_columns * _COLUMN + 16
        self.width = round(self.plot_left + _PLOT_WIDTH + 48)
        self.lane_height = _lane_height(len(labels))
        self.plot_bottom = _TOP + self.lane_height * max(1, len(labels))
        self.position = drawn.axis.position
        self.text_columns = max(30, int((self.width - _MARGIN * 2) / _COLUMN))

    def x(self, at: float) -> float:
        return self.plot_left + self.position(at) * _PLOT_WIDTH

    def y(self, index: int) -> float:
        return _TOP + index * self.lane_height + self.lane_height / 2


def to_svg(timeline: Timeline, title: str = "simclock timeline") -> str:
    """A self-contained SVG of the chart, well-formed XML whatever the script printed."""
    return picture(chart(timeline), timeline, title)


def picture(drawn: Chart, timeline: Timeline, title: str, listing: bool = True) -> str:
    """The SVG of `drawn`; with `listing`, the printed lines under it (a page lists them itself)."""
    if drawn.groups is not None:
        labels = [elide(g.title, 32) for g in drawn.groups]
    else:
        labels = [lane.label for lane in drawn.lanes]
    layout = _Layout(drawn, labels)
    body: list[str] = []
    body += _axis(drawn, layout)
    used: set[str] = set()
    if drawn.groups is not None:
        body += _groups(drawn, layout, labels, used)
    else:
        body += _lanes(drawn, layout, used)
    y = layout.plot_bottom + 40.0
    legend, y = _legend(used, layout, y)
    body += legend
    if listing:
        listed, y = _listing(drawn, layout, y + 12)
        body += listed
    height = round(y + 16)
    width = layout.width
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{_FONT_FAMILY}" font-size="{_FONT}">',
        f"<title>{escape(title)}</title>",
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{_JOIN}"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{_MARGIN}" y="24" font-size="15" font-weight="600">'
        f"{escape(elide(title, layout.text_columns - 4))}</text>",
        f'<text x="{_MARGIN}" y="44" fill="#555">{escape(summary(timeline))}</text>',
    ]
    return "\n".join([*head, *body, "</svg>"]) + "\n"


def _axis(drawn: Chart, layout: _Layout) -> list[str]:
    parts = []
    labelled = drawn.axis.labels(10)
    placed: list[tuple[float, float]] = []  # labels' extents: none may overlap
    shown = set()
    # The end of the run first: it is labelled whatever it crowds out.
    for index in [len(labelled) - 1, *range(len(labelled) - 1)]:
        x = layout.x(labelled[index][0])
        half = len(labelled[index][1]) * _COLUMN / 2 + 2
        if not any(x - half < right and left < x + half for left, right in placed):
            placed.append((x - half, x + half))
            shown.add(index)
    for index, (tick, label) in enumerate(labelled):
        x = layout.x(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{_TOP - 6}" x2="{x:.1f}" y2="{layout.plot_bottom}" '
            'stroke="#e0e0e0"/>'
        )
        if index in shown:
            parts.append(
                f'<text x="{x:.1f}" y="{layout.plot_bottom + 16}" text-anchor="middle" '
                f'fill="#555">{label}</text>'
            )
    for start, end in drawn.axis.breaks:
        # A quiet stretch drawn narrow: two slants across the axis, and its length.
        x1, x2 = layout.x(start), layout.x(end)
        middle, y = (x1 + x2) / 2, layout.plot_bottom + 4
        parts.append(
            f'<rect x="{x1:.1f}" y="{_TOP - 6}" width="{x2 - x1:.1f}" '
            f'height="{layout.plot_bottom - _TOP + 6}" fill="#f4f4f4"/>'
            f'<path d="M{middle - 5:.1f},{y + 5:.1f} l4,-10 M{middle + 1:.1f},{y + 5:.1f} l4,-10" '
            f'stroke="#888" stroke-width="1.2"><title>nothing happened for '
            f"{seconds(end - start)} ({start:.3f}s to {end:.3f}s): drawn narrow</title></path>"
        )
    return parts


def _lanes(drawn: Chart, layout: _Layout, used: set[str]) -> list[str]:
    parts: list[str] = []
    index_of = {lane.name: index for index, lane in enumerate(drawn.lanes)}
    for index, lane in enumerate(drawn.lanes):
        y = layout.y(index)
        parts.append(
            f'<text class="label" x="{_MARGIN}" y="{y + 4:.1f}">{escape(lane.label)}'
            f"<title>{escape(lane.name)}</title></text>"
        )
        if lane.parent in index_of:
            used.add("created")
            parent_y = layout.y(index_of[lane.parent or ""])
            x = layout.x(lane.start)
            parts.append(
                f'<line x1="{x:.1f}" y1="{parent_y:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
                f'stroke="{_JOIN}" stroke-dasharray="3,3"/>'
            )
        parts += _lane(lane, layout, y, drawn.span, used)
    opacity = "" if len(drawn.joins) <= 4 else ' stroke-opacity="0.5"'
    for join in drawn.joins:
        used.add("join")
        x1, y1 = layout.x(join.ended), layout.y(index_of[join.awaited])
        x2, y2 = layout.x(join.resumed), layout.y(index_of[join.waiter])
        # Square: out of the ended lane, down (or up) beside both ends, into the
        # waiter's: it crosses other lanes only upright, as the creation lines do.
        side = max(x1, x2) + 14
        parts.append(
            f'<path d="M{x1 + 6:.1f},{y1:.1f} H{side:.1f} V{y2:.1f} H{x2 + 7:.1f}" '
            f'fill="none" stroke="{_JOIN}" stroke-width="1.3"{opacity} '
            f'marker-end="url(#arrow)"><title>{escape(join.waiter)} resumed at '
            f"{join.resumed:.3f}s: {escape(join.awaited)} ended at {join.ended:.3f}s"
            "</title></path>"
        )
    return parts


def _lane(lane: Lane, layout: _Layout, y: float, span: float, used: set[str]) -> list[str]:
    parts: list[str] = []
    end = lane.end if lane.end is not None else span
    if lane.name != TOP_LEVEL:
        used.add("waiting")
        waits = "; ".join(wait.describe(end) for wait in lane.waits[:20])
        bar = max(2.0, layout.x(end) - layout.x(lane.start))
        parts.append(
            f'<rect class="bar" x="{layout.x(lane.start):.1f}" y="{y - 4:.1f}" width="{bar:.1f}" '
            'height="8" '
            f'rx="4" fill="{_WAITING}"><title>{escape(lane.name)}: {lane.start:.3f}s to '
            f"{end:.3f}s. {escape(waits)}</title></rect>"
        )
    for at in _distinct(lane.ran):
        used.add("ran")
        parts.append(
            f'<circle cx="{layout.x(at):.1f}" cy="{y:.1f}" r="4.5" fill="{_RAN}">'
            f"<title>{escape(lane.name)} ran at {at:.3f}s</title></circle>"
        )
    if lane.end is not None and lane.ending is not None:
        used.add(lane.ending.value)
        detail = f": {lane.failure}" if lane.failure else ""
        parts.append(
            f'<rect x="{layout.x(lane.end) - 4:.1f}" y="{y - 8:.1f}" width="8" height="16" '
            f'fill="{_COLOURS[lane.ending]}"><title>{escape(lane.name)} {lane.ending.value} at '
            f"{lane.end:.3f}s{escape(detail)}</title></rect>"
        )
    parts += _note_ticks(lane.notes, layout, y, used)
    return parts


def _distinct(instants: Iterable[float]) -> list[float]:
    shown: list[float] = []
    for at in instants:
        if not shown or at != shown[-1]:
            shown.append(at)
    return shown


def _note_ticks(notes: list[Note], layout: _Layout, y: float, used: set[str]) -> list[str]:
    """A tick per instant a lane printed or marked, labelled with the lines' numbers.

    Labels that would run into each other merge into one (`3-5,7`), drawn at
    the first of their ticks; lanes too thin for labels get ticks only.
    """
    parts: list[str] = []
    instants: list[tuple[float, list[Note]]] = []
    for note in notes:
        if instants and instants[-1][0] == note.at:
            instants[-1][1].append(note)
        else:
            instants.append((note.at, [note]))
    label: list[int] = []
    label_x = 0.0

    def flush() -> None:
        if label and layout.lane_height >= 22:
            parts.append(
                f'<text x="{label_x:.1f}" y="{y - 7:.1f}" font-size="10" fill="{_NOTE}">'
                f"{number_ranges(label)}</text>"
            )

    for at, members in instants:
        x = layout.x(at)
        mark = members[0].kind is EventKind.MARK
        used.add("mark" if mark else "printed")
        shown = "; ".join(note.text for note in members[:5])
        parts.append(
            f'<path d="M{x:.1f},{y - 9:.1f} l-4,-6 h8 z" fill="{_MARK if mark else _NOTE}">'
            f"<title>{at:.3f}s {escape(shown)}</title></path>"
        )
        numbers = [note.number for note in members]
        label_end = label_x + len(number_ranges(label)) * 6.1 + 4
        if label and x + 5 < label_end:
            label += numbers
        else:
            flush()
            label, label_x = numbers, x + 5
    flush()
    return parts


def _groups(drawn: Chart, layout: _Layout, labels: list[str], used: set[str]) -> list[str]:
    """Each group's tasks alive over time, as an area as tall as the lane at its peak."""
    parts: list[str] = []
    height = layout.lane_height - 6
    for index, (group, label) in enumerate(zip(drawn.groups or [], labels, strict=True)):
        base = layout.y(index) + height / 2
        peak = max(group.alive, default=0) or 1
        step = _PLOT_WIDTH / max(1, len(group.alive))
        points = [f"{layout.plot_left:.1f},{base:.1f}"]
        for bin_index, count in enumerate(group.alive):
            top = base - height * count / peak
            left = layout.plot_left + bin_index * step
            points.append(f"{left:.1f},{top:.1f} {left + step:.1f},{top:.1f}")
        points.append(f"{layout.plot_left + _PLOT_WIDTH:.1f},{base:.1f}")
        used.add("group")
        parts.append(
            f'<text class="label" x="{_MARGIN}" y="{layout.y(index) + 4:.1f}">{escape(label)}'
            f'</text><polygon class="bar" points="{" ".join(points)}" fill="{_WAITING}" '
            f'stroke="{_RAN}" stroke-width="1"><title>{escape(group.describe())}</title></polygon>'
        )
    return parts


def _ending_glyph(kind: EventKind) -> str:
    return f'<rect x="{{left}}" y="{{tall}}" width="8" height="16" fill="{_COLOURS[kind]}"/>'


# Each legend entry's glyph, placed by `_legend` through the {x}, {y}, ... fields.
_LEGEND = {
    "ran": f'<circle cx="{{x}}" cy="{{y}}" r="4.5" fill="{_RAN}"/>',
    "waiting": f'<rect x="{{left}}" y="{{top}}" width="18" height="8" rx="4" fill="{_WAITING}"/>',
    "finished": _ending_glyph(EventKind.FINISHED),
    "cancelled": _ending_glyph(EventKind.CANCELLED),
    "failed": _ending_glyph(EventKind.FAILED),
    "printed": f'<path d="M{{x}},{{y}} m0,3 l-4,-6 h8 z" fill="{_NOTE}"/>',
    "mark": f'<path d="M{{x}},{{y}} m0,3 l-4,-6 h8 z" fill="{_MARK}"/>',
    "join": (
        f'<path d="M{{left}},{{top}} c14,0 14,8 2,8" fill="none" stroke="{_JOIN}" '
        'marker-end="url(#arrow)"/>'
    ),
    "created": (
        f'<line x1="{{x}}" y1="{{tall}}" x2="{{x}}" y2="{{bottom}}" stroke="{_JOIN}" '
        'stroke-dasharray="3,3"/>'
    ),
    "group": (
        f'<rect x="{{left}}" y="{{top}}" width="18" height="10" rx="3" fill="{_WAITING}" '
        f'stroke="{_RAN}"/>'
    ),
}
_LEGEND_TEXT = {
    "ran": "ran",
    "waiting": "waiting (alive, not running)",
    "finished": "finished",
    "cancelled": "cancelled",
    "failed": "failed",
    "printed": "printed line n (listed below)",
    "mark": "simclock.mark n",
    "join": "resumed when the awaited task ended",
    "created": "created by",
    "group": "tasks of one coroutine alive (height: how many, to the peak)",
}


def _legend(used: set[str], layout: _Layout, y: float) -> tuple[list[str], float]:
    parts: list[str] = []
    x = float(_MARGIN)
    for key in _LEGEND:
        if key not in used:
            continue
        text = _LEGEND_TEXT[key]
        entry_width = 28 + columns(text) * _COLUMN + 18
        if x + entry_width > layout.width - _MARGIN and x > _MARGIN:
            x, y = float(_MARGIN), y + 22
        glyph = _LEGEND[key].format(
            x=f"{x + 9:.1f}",
            y=f"{y - 4:.1f}",
            left=f"{x:.1f}",
            top=f"{y - 8:.1f}",
            tall=f"{y - 12:.1f}",
            bottom=f"{y + 4:.1f}",
        )
        parts.append(f'{glyph}<text x="{x + 26:.1f}" y="{y:.1f}" fill="#444">{text}</text>')
        x += entry_width
    return parts, y


def _listing(drawn: Chart, layout: _Layout, y: float) -> tuple[list[str], float]:
    """The printed lines and marks, numbered, with time and task, wrapped to the picture."""
    parts: list[str] = []
    if drawn.groups is not None:
        for group in drawn.groups:
            line = group.describe()
            y += 18
            parts.append(f'<text x="{_MARGIN}" y="{y:.1f}">{escape(line)}</text>')
    failed = [lane for lane in drawn.lanes if lane.ending is EventKind.FAILED]
    if failed:
        y += 24
        parts.append(f'<text x="{_MARGIN}" y="{y:.1f}" font-weight="600">failed tasks</text>')
    for lane in failed[:_MOST_NOTES]:
        line = f"{lane.label} failed at {moment(lane.end or 0.0)}: {lane.failure}"
        for piece in wrap(line, layout.text_columns, 3):
            y += 18
            parts.append(
                f'<text class="line" x="{_MARGIN}" y="{y:.1f}" fill="{_COLOURS[EventKind.FAILED]}" '
                f'xml:space="preserve">{escape(piece)}</text>'
            )
    if not drawn.notes:
        return parts, y
    labels = {lane.name: lane.label for lane in drawn.lanes}
    width = max(columns(f"{len(drawn.notes)}"), 2)
    # As wide as the longest time: a days-long run's times have six digits and more.
    time_columns = max(7, *(len(f"{note.at:.3f}") for note in drawn.notes[:_MOST_NOTES]))
    task_columns = min(layout.label_columns, 24)
    indent = width + 2 + time_columns + 3 + task_columns + 2
    text_columns = max(20, layout.text_columns - indent)
    y += 24
    parts.append(
        f'<text x="{_MARGIN}" y="{y:.1f}" font-weight="600">printed lines and marks</text>'
    )
    for note in drawn.notes[:_MOST_NOTES]:
        where = elide(labels.get(note.task or TOP_LEVEL, "-"), task_columns)
        text = ("mark: " if note.kind is EventKind.MARK else "") + note.text
        for row, piece in enumerate(wrap(text, text_columns, 3)):
            y += 18
            if row == 0:
                colour = _MARK if note.kind is EventKind.MARK else _NOTE
                parts.append(
                    f'<text x="{_MARGIN}" y="{y:.1f}" xml:space="preserve">'
                    f'<tspan fill="{colour}">{note.number:>{width}}</tspan>'
                    f'<tspan fill="#555">  {note.at:{time_columns}.3f}s  </tspan>'
                    f"{escape(where)}</text>"
                )
            parts.append(
                f'<text class="line" x="{_MARGIN + indent * _COLUMN:.1f}" y="{y:.1f}" '
                f'xml:space="preserve">{escape(piece)}</text>'
            )
    if len(drawn.notes) > _MOST_NOTES:
        y += 18
        more = len(drawn.notes) - _MOST_NOTES
        parts.append(
            f'<text x="{_MARGIN}" y="{y:.1f}" fill="#555">… {more:,} more: the HTML page and '
            "--json list them all</text>"
        )
    return parts, y

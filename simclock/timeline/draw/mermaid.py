"""The chart as a Mermaid Gantt diagram, for a README, a wiki page or a slide tool.

One section per task: a bar from its creation to its ending, then a
milestone for each line it printed or marked, at the instant it did. Times
are milliseconds of virtual time (`dateFormat x`), so the axis reads in
seconds from 0. Past `chart.MOST_LANES` tasks, one bar per coroutine.

Mermaid reads `:` `;` `#` and `%%` in a label as syntax and a few words at
the start of a line as keywords; labels carry look-alike characters instead
and never start with a keyword, so any printed text makes a valid diagram.
"""

from __future__ import annotations

from simclock.timeline.draw.labels import printable, truncate
from simclock.timeline.draw.model import TOP_LEVEL, chart, nice_step
from simclock.timeline.timeline import EventKind, Timeline

__all__ = ["to_mermaid"]

_LOOK_ALIKE = str.maketrans({":": "∶", ";": "；", "#": "＃", "%": "％"})  # noqa: RUF001
_KEYWORDS = frozenset(
    {
        "accdescr",
        "acctitle",
        "axisformat",
        "call",
        "click",
        "dateformat",
        "excludes",
        "gantt",
        "includes",
        "inclusiveenddates",
        "section",
        "tickinterval",
        "title",
        "todaymarker",
        "topaxis",
        "weekday",
        "weekend",
    }
)
_MOST_MILESTONES = 200
_LABEL_COLUMNS = 60


def label(text: str) -> str:
    """`text` as a Mermaid task or section label: one line, no syntax, never a keyword."""
    shown = truncate(printable(text).translate(_LOOK_ALIKE).strip(), _LABEL_COLUMNS)
    if not shown:
        return "(empty line)"
    first = shown.split(maxsplit=1)[0].lower()
    if first in _KEYWORDS or first.startswith(("acc", "click")):
        shown = "▸ " + shown
    return shown


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _axis(span: float) -> list[str]:
    step = nice_step(span, 6)
    if step >= 1:
        interval = f"{round(step)}second"
        axis = "%-M:%S" if span >= 60 else "%-Ss"
    else:
        interval = f"{max(1, round(step * 1000))}millisecond"
        axis = "%-S.%Ls"
    return [f"    axisFormat {axis}", f"    tickInterval {interval}"]


def to_mermaid(timeline: Timeline, title: str = "simclock timeline") -> str:
    """A Mermaid `gantt` diagram of the timeline, ready for a ```mermaid block."""
    drawn = chart(timeline)
    end = drawn.span
    lines = ["gantt", f"    title {label(title)}", "    dateFormat x", *_axis(end)]
    if drawn.groups is not None:
        lines.append("    section tasks by coroutine")
        for index, group in enumerate(drawn.groups, 1):
            text = label(group.title)
            lines.append(f"    {text} :g{index}, {_ms(group.start)}, {_ms(group.end)}")
        return "\n".join(lines) + "\n"
    milestones = 0
    for index, lane in enumerate(drawn.lanes, 1):
        lines.append(f"    section {label(lane.label)}")
        if lane.name != TOP_LEVEL:
            state = "crit, " if lane.ending is EventKind.FAILED else ""
            state += "done, " if lane.ending is not None else "active, "
            ended = lane.end if lane.end is not None else end
            how = lane.ending.value if lane.ending else "pending"
            lines.append(
                f"    {label(f'{lane.label} ({how})')} :{state}t{index}, "
                f"{_ms(lane.start)}, {max(_ms(ended), _ms(lane.start))}"
            )
        for note in lane.notes:
            if milestones >= _MOST_MILESTONES:
                break
            milestones += 1
            text = ("mark: " if note.kind is EventKind.MARK else "") + note.text
            at = _ms(note.at)
            lines.append(f"    {label(text)} :milestone, n{note.number}, {at}, {at}")
    return "\n".join(lines) + "\n"

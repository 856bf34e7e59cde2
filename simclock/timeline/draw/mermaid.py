"""The chart as a Mermaid Gantt diagram, for a README, a wiki page or a slide tool.

One section per task: a bar from its creation to its ending, then a
milestone for each line it printed or marked, at the instant it did. Past
`chart.MOST_LANES` tasks, one bar per coroutine.

The axis. Mermaid reads and draws dates in the viewer's time zone, so times
are written as local dates from midnight of `_DAY_ONE` (a day far from any
daylight-saving change): read and drawn in the same zone, the axis shows
0:00 to 11:00 for an 11-minute run wherever it is viewed (an epoch number
would be shifted by the zone's offset, 30:00 under UTC+5:30). The tick
interval is a round step in the unit Mermaid counts it in (`15second`,
`2minute`, `6hour`, `1day`): Mermaid keeps a tick where a clock field (the
second, the minute, the hour) is a multiple of the step, so a step of
`200second` would tick every minute.

Mermaid reads `:` `;` `#` and `%%` in a label as syntax and a few words at
the start of a line as keywords; labels carry look-alike characters instead
and never start with a keyword, so any printed text makes a valid diagram.
"""

from __future__ import annotations

import datetime as dt

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


_DAY_ONE = dt.datetime(2000, 1, 1)
_DATE_FORMAT = "YYYY-MM-DD HH:mm:ss.SSS"  # dayjs tokens, as Mermaid's dateFormat reads them


def _ms(seconds: float) -> str:
    """`seconds` of the run as the local date Mermaid reads (see the module docstring)."""
    moment = _DAY_ONE + dt.timedelta(milliseconds=round(seconds * 1000))
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"


# A step in seconds, as Mermaid's interval: the largest unit it is a whole number of.
_UNITS = ((7 * 86400, "week"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def _interval(step: float) -> str:
    if step < 1:
        return f"{max(1, round(step * 1000))}millisecond"
    days = step / 86400
    if days > 10:  # a tick every so many days of the month would not be regular
        return f"{max(1, round(days / 7))}week"
    for size, unit in _UNITS[1:]:
        if step >= size and step % size == 0:
            return f"{round(step / size)}{unit}"
    return f"{round(step)}second"


def _axis(span: float) -> list[str]:
    step = nice_step(span, 6)
    if span < 1:
        axis = "%Lms"
    elif span < 60:
        axis = "%-Ss" if step >= 1 else "%-S.%Ls"
    elif span < 3600:
        axis = "%-M:%S"
    elif span < 86400:
        axis = "%-H:%M"
    else:
        axis = "day %-d %H:%M"  # the run starts on day 1: see _DAY_ONE
    return [f"    axisFormat {axis}", f"    tickInterval {_interval(step)}"]


def to_mermaid(timeline: Timeline, title: str = "simclock timeline") -> str:
    """A Mermaid `gantt` diagram of the timeline, ready for a ```mermaid block."""
    drawn = chart(timeline)
    end = drawn.span
    lines = ["gantt", f"    title {label(title)}", f"    dateFormat {_DATE_FORMAT}", *_axis(end)]
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

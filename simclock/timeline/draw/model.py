"""What every drawing of a `Timeline` shows, worked out once and in one pass.

`chart(timeline)` turns the recorded events into lanes (one per task, in the
order the tasks were made), the printed lines and marks numbered in the order
they happened, and the joins: a task that awaited another resumed when that
one ended. The terminal, SVG, HTML and Mermaid drawings only lay this out.

Past `most_lanes` tasks a chart of one lane each is unreadable, so the chart
also carries a summary: the tasks grouped by the coroutine they ran, with
counts, which the drawings show instead of the lanes.

A long run whose events crowd into a few short stretches (the first seconds
of an 11-minute run, then its end) would draw those stretches a few pixels
wide. Its `Axis` draws each long quiet stretch narrow instead, as a break in
the axis, and gives the rest of the width to the time where things happen.

Building a chart takes time in proportion to the events, whatever their
number: every lookup is a dict, never a scan.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field

from simclock.timeline.draw.labels import elide, printable
from simclock.timeline.events import ENDINGS
from simclock.timeline.timeline import EventKind, Timeline

__all__ = [
    "MOST_LANES",
    "PROFILE_BINS",
    "TOP_LEVEL",
    "Axis",
    "Chart",
    "Join",
    "Lane",
    "LaneGroup",
    "Note",
    "Wait",
    "chart",
    "nice_step",
    "number_ranges",
    "seconds",
    "summary",
    "ticks",
]

#: Tasks beyond which drawings show `Chart.groups` instead of one lane per task.
MOST_LANES = 300


#: The lane of prints and marks made outside any task (a script's top level).
TOP_LEVEL = "(top level)"


@dataclass
class Note:
    """A printed line or a mark, numbered from 1 in the order it happened."""

    number: int
    at: float
    task: str | None
    kind: EventKind
    text: str  # printable: safe to draw anywhere


@dataclass
class Wait:
    """A stretch a task spent waiting, and what on."""

    since: float
    until: float | None
    reason: str
    awaited: tuple[str, ...] = ()

    def describe(self, end: float | None, labels: dict[str, str] | None = None) -> str:
        """`0s to 4s: awaiting washing_task`; a wait still open runs to `end`."""
        until = self.until if self.until is not None else end
        stretch = f"{self.since:g}s to {until:g}s" if until is not None else f"from {self.since:g}s"
        names = labels or {}
        if self.awaited:
            return f"{stretch}: awaiting {', '.join(names.get(a, a) for a in self.awaited)}"
        return f"{stretch}: {self.reason or 'waiting'}"


@dataclass
class Lane:
    name: str
    label: str
    coroutine: str
    start: float
    parent: str | None = None
    end: float | None = None
    ending: EventKind | None = None
    failure: str = ""
    ran: list[float] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class Join:
    """`waiter` awaited `awaited`, which ended at `ended`; the waiter resumed at `resumed`."""

    awaited: str
    waiter: str
    ended: float
    resumed: float


#: How many stretches of time a summary counts live tasks in.
PROFILE_BINS = 120


@dataclass
class LaneGroup:
    """The tasks that ran one coroutine, for the summary of a crowded chart.

    `alive[i]` is how many of them were alive during the i-th of
    `PROFILE_BINS` equal stretches of the run: the shape of the crowd.
    """

    label: str
    count: int = 0
    start: float = float("inf")
    end: float = 0.0
    endings: Counter[str] = field(default_factory=Counter)
    notes: int = 0
    alive: list[int] = field(default_factory=list)

    @property
    def title(self) -> str:
        """`worker() (400 tasks)`."""
        return f"{self.label} ({self.count:,} task{'' if self.count == 1 else 's'})"

    def describe(self) -> str:
        """`worker() (400 tasks): t=0..40.9s, 400 finished, at most 400 alive at once`."""
        how = ", ".join(f"{count:,} {ending}" for ending, count in self.endings.items())
        return (
            f"{self.title}: t={self.start:g}..{self.end:g}s, {how}, "
            f"at most {max(self.alive, default=0):,} alive at once"
        )


# A quiet stretch longer than this share of the run may be drawn as a break...
_QUIET_SHARE = 0.25
# ...when the stretches where things happen add up to at most this share of it.
_BUSY_SHARE = 0.1
# The width a break takes, as a share of the plot, and the most breaks an axis has.
_BREAK_WIDTH = 0.04
_MOST_BREAKS = 4


@dataclass(frozen=True)
class Axis:
    """Where an instant lies along a chart: 0.0 at the start of the run, 1.0 at its end.

    Linear, except across `breaks`: long stretches in which nothing happened,
    each drawn `_BREAK_WIDTH` wide. The time between them shares the rest of
    the width, at one scale.
    """

    span: float
    breaks: tuple[tuple[float, float], ...] = ()

    @classmethod
    def of(cls, span: float, instants: list[float]) -> Axis:
        """The axis for a run of `span` seconds whose events fell at `instants`.

        A stretch with no event that is longer than `_QUIET_SHARE` of the time
        around it becomes a break when what remains is at most `_BUSY_SHARE`
        of that time; the stretches between are looked at again the same way
        (a busy minute within a quiet day), up to `_MOST_BREAKS` breaks.
        """
        if span <= 0:
            return cls(span)
        points = sorted({0.0, span, *(at for at in instants if 0 <= at <= span)})
        breaks: list[tuple[float, float]] = []
        pending = [(0.0, float(span))]
        while pending and len(breaks) < _MOST_BREAKS:
            low, high = pending.pop()
            inner = [at for at in points if low <= at <= high]
            length = high - low
            quiet = [
                (start, end)
                for start, end in itertools.pairwise(inner)
                if end - start > _QUIET_SHARE * length
            ]
            busy = length - sum(end - start for start, end in quiet)
            if not quiet or busy <= 0 or busy > _BUSY_SHARE * length:
                continue
            breaks += quiet[: _MOST_BREAKS - len(breaks)]
            edges = [low, *(at for stretch in quiet for at in stretch), high]
            pending += [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
        return cls(span, tuple(sorted(breaks)))

    @property
    def _scale(self) -> float:
        """Width per second outside the breaks."""
        busy = self.span - sum(end - start for start, end in self.breaks)
        return (1.0 - _BREAK_WIDTH * len(self.breaks)) / busy if busy > 0 else 0.0

    def position(self, at: float) -> float:
        """Where `at` lies, from 0.0 to 1.0."""
        if self.span <= 0:
            return 0.0
        if not self.breaks:
            return min(1.0, max(0.0, at / self.span))
        scale = self._scale
        position, last = 0.0, 0.0
        for start, end in self.breaks:
            if at <= start:
                break
            position += (start - last) * scale
            if at < end:
                return position + _BREAK_WIDTH * (at - start) / (end - start)
            position += _BREAK_WIDTH
            last = end
        return min(1.0, position + (max(at, last) - last) * scale)

    def segments(self) -> list[tuple[float, float]]:
        """The stretches drawn at the common scale, between the breaks."""
        edges = [0.0]
        for start, end in self.breaks:
            edges += [start, end]
        edges.append(self.span)
        return [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]

    def ticks(self, most: int) -> list[float]:
        """Instants to label, about `most` of them: round ones, and each break's edges."""
        if not self.breaks:
            return ticks(self.span, most)
        shown: list[float] = []
        scale = self._scale
        for start, end in self.segments():
            share = max(1, round(most * (end - start) * scale))
            step = nice_step(end - start, share)
            inside: list[float] = []
            index = math.floor(start / step + 1e-9) + 1
            while index * step < end - step / 2 and len(inside) < share + 1:
                inside.append(round(index * step, 9))
                index += 1
            for at in (start, *(at for at in inside if at - start >= step / 2), end):
                if not shown or at > shown[-1]:
                    shown.append(at)
        return shown

    def labels(self, most: int) -> list[tuple[float, str]]:
        """`ticks(most)`, each with its label in the unit of its stretch (`2s`, then `11min`)."""
        shown = self.ticks(most)
        if not self.breaks:
            return [(at, seconds(at, shown[-1])) for at in shown]
        # A break's edges fall where events did, not on round times: three digits.
        ends = [end for _start, end in self.segments()]
        return [(at, seconds(at, next(end for end in ends if end >= at), 3)) for at in shown]


@dataclass
class Chart:
    lanes: list[Lane]
    notes: list[Note]
    joins: list[Join]
    span: float
    groups: list[LaneGroup] | None = None
    axis: Axis = field(default_factory=lambda: Axis(0.0))

    @property
    def summarised(self) -> bool:
        """Too many tasks for a lane each: drawings show `groups`."""
        return self.groups is not None


def chart(timeline: Timeline, most_lanes: int = MOST_LANES, label_width: int = 32) -> Chart:
    """The chart of `timeline`, labels at most `label_width` columns and distinct."""
    lanes: dict[str, Lane] = {}
    notes: list[Note] = []
    joins: list[Join] = []
    open_wait: dict[str, Wait] = {}

    labels = timeline.labels()

    def lane_of(task: str | None, at: float) -> Lane:
        key = TOP_LEVEL if task is None else task
        lane = lanes.get(key)
        if lane is None:
            coroutine = timeline.coroutines.get(key, "") if task is not None else ""
            lane = lanes[key] = Lane(key, printable(labels.get(key, key)), coroutine, at)
        return lane

    for event in timeline.events:
        kind = event.kind
        if kind is EventKind.PRINTED or kind is EventKind.MARK:
            note = Note(len(notes) + 1, event.at, event.task, kind, printable(event.text))
            notes.append(note)
            lane_of(event.task, event.at).notes.append(note)
            continue
        if event.task is None:
            continue
        lane = lane_of(event.task, event.at)
        if kind is EventKind.CREATED:
            lane.start, lane.parent = event.at, event.parent
        elif kind is EventKind.RAN:
            lane.ran.append(event.at)
            wait = open_wait.pop(lane.name, None)
            if wait is not None:
                wait.until = event.at
                for awaited in wait.awaited:
                    other = lanes.get(awaited)
                    if other is not None and other.end is not None:
                        joins.append(Join(awaited, lane.name, other.end, event.at))
        elif kind is EventKind.WAITED:
            wait = Wait(event.at, None, printable(event.text), event.awaited)
            open_wait[lane.name] = wait
            lane.waits.append(wait)
        elif kind in ENDINGS:
            lane.end, lane.ending = event.at, kind
            lane.failure = printable(event.text)
            open_wait.pop(lane.name, None)
    ordered = list(lanes.values())
    if TOP_LEVEL in lanes:  # the script's own lines read first
        ordered.remove(lanes[TOP_LEVEL])
        ordered.insert(0, lanes[TOP_LEVEL])
    _distinguish(ordered, label_width)
    span = max(timeline.end, timeline.virtual_seconds)
    result = Chart(ordered, notes, joins, span, axis=Axis(span))
    if len(ordered) > most_lanes:
        result.groups = _groups(ordered, span)  # profiles in even bins: a linear axis
    else:
        result.axis = Axis.of(span, [event.at for event in timeline.events])
    return result


def _distinguish(lanes: list[Lane], width: int) -> None:
    """Make every label distinct and at most `width` columns, cutting in the middle."""
    repeated = Counter(lane.label for lane in lanes)
    for lane in lanes:
        if repeated[lane.label] > 1 and lane.label != lane.name:
            lane.label = f"{lane.label} {printable(lane.name)}"
        lane.label = elide(lane.label, width)
    seen: Counter[str] = Counter()
    for lane in lanes:
        seen[lane.label] += 1
        if seen[lane.label] > 1:  # two names alike at both ends: number the later ones
            suffix = f" #{seen[lane.label]}"
            lane.label = elide(lane.label, width - len(suffix)) + suffix


def _groups(lanes: list[Lane], span: float) -> list[LaneGroup]:
    groups: dict[str, LaneGroup] = {}
    changes: dict[str, list[int]] = {}

    def bin_of(at: float) -> int:
        return min(PROFILE_BINS - 1, int(at / span * PROFILE_BINS)) if span > 0 else 0

    for lane in lanes:
        key = f"{lane.coroutine}()" if lane.coroutine else lane.label
        group = groups.get(key)
        if group is None:
            group = groups[key] = LaneGroup(key)
        group.count += 1
        group.start = min(group.start, lane.start)
        group.end = max(group.end, lane.end if lane.end is not None else lane.start)
        group.endings[lane.ending.value if lane.ending else "still pending"] += 1
        group.notes += len(lane.notes)
        change = changes.setdefault(key, [0] * (PROFILE_BINS + 1))
        change[bin_of(lane.start)] += 1
        change[bin_of(lane.end if lane.end is not None else span) + 1] -= 1
    for key, group in groups.items():
        alive, running = [], 0
        for step in changes[key][:PROFILE_BINS]:
            running += step
            alive.append(running)
        group.alive = alive
    return list(groups.values())


def summary(timeline: Timeline) -> str:
    """`4.000 s virtual in 1.2 ms real (3,300x)`: how long the recorded run took."""
    virtual = timeline.duration
    real = timeline.real_seconds
    if real > 0:
        ratio = f" ({virtual / real:,.0f}x)" if virtual > 0 else ""
        return f"{virtual:.3f} s virtual in {real * 1000:.1f} ms real{ratio}"
    return f"{virtual:.3f} s virtual"


_MINUTE, _HOUR, _DAY = 60.0, 3600.0, 86400.0
# Steps a clock reader counts in: past a second, the divisors of a minute, an
# hour and a day, so that ticks fall on round times (2 min, 6 h), then days.
_CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


def nice_step(span: float, most: int) -> float:
    """The smallest round step that cuts `span` into at most `most` pieces.

    Below a second: 1, 2, 5 x 10**k. Up to a day: a divisor of a minute, an
    hour or a day (`_CLOCK_STEPS`). Past that: 1, 2, 5 x 10**k days.
    """
    if span <= 0:
        return 1.0
    raw = span / max(1, most)
    if 1 <= raw <= _CLOCK_STEPS[-1]:
        return float(next(step for step in _CLOCK_STEPS if step >= raw))
    unit = _DAY if raw > _CLOCK_STEPS[-1] else 1.0
    raw /= unit
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return float(factor * power) * unit
    return float(10 * power) * unit


def ticks(span: float, most: int) -> list[float]:
    """Axis ticks from 0 to `span` at a nice step, at most `most + 1` of them."""
    step = nice_step(span, most)
    count = int(span / step + 1e-9) + 1 if span > 0 else 1
    return [round(index * step, 9) for index in range(count)]


def seconds(value: float, top: float | None = None, digits: int = 6) -> str:
    """A time in the unit that fits: `250ms`, `4s`, `2.5s`, `12min`, `1.5h`, `3d`.

    `top`: the largest value shown beside it (an axis's last tick), so that
    one axis reads in one unit (`0`, `30min`, `60min`, `90min`); without it
    the unit follows the value itself. `digits`: significant digits at most.
    """
    if value == 0:
        return "0"
    scale = abs(value) if top is None else abs(top)
    if scale < 1:
        return f"{value * 1000:.{digits}g}ms"
    if scale <= 2 * _MINUTE:
        return f"{value:.{digits}g}s"
    if scale <= 2 * _HOUR:
        return f"{value / _MINUTE:.{digits}g}min"
    if scale <= 2 * _DAY:
        return f"{value / _HOUR:.{digits}g}h"
    return f"{value / _DAY:.{digits}g}d"


def moment(value: float) -> str:
    """An instant for a sentence: `2.5s` up to two minutes, then as `seconds` (`11min`, `3d`)."""
    return f"{value:g}s" if abs(value) <= 2 * _MINUTE else seconds(value)


def instant(value: float) -> str:
    """A moment of the run for a sentence: `4.000s`, or past a minute `1h 02min 03.000s`."""
    if value < _MINUTE:
        return f"{value:.3f}s"
    days, rest = divmod(value, _DAY)
    hours, rest = divmod(rest, _HOUR)
    minutes, rest = divmod(rest, _MINUTE)
    parts = [f"{int(days)}d"] if days else []
    if days or hours:
        parts.append(f"{int(hours)}h")
    parts += [f"{int(minutes):02d}min" if parts else f"{int(minutes)}min", f"{rest:06.3f}s"]
    return " ".join(parts)


def number_ranges(numbers: list[int]) -> str:
    """`1-3,5`: consecutive numbers as ranges."""
    if not numbers:
        return ""
    parts: list[str] = []
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ",".join(parts)

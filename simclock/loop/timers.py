"""A virtual loop's timers: deadline buckets, in which equal deadlines keep their order.

Stock asyncio keeps `TimerHandle`s in a heap and compares them in Python; its
heap is not stable, so timers due at the same instant fire in an unspecified
order. A `TimerQueue` keeps a heap of distinct deadlines (plain floats,
compared in C) and maps each deadline to its timer, or to the list of its
timers in scheduling order once a second one shares it. Equal deadlines
therefore fire in the order they were scheduled without any sequence number,
and a timer on a deadline already pending is one append.

Cancelled timers stay where they are until asyncio's rule drops them: from the
head of the queue as they come up, or all at once when they are most of a
queue of more than 100.

Prior art: trio's `Deadlines` (a heap of deadlines beside the tasks waiting on them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Any

from simclock._compat.asyncio_internals import (
    MIN_CANCELLED_FRACTION,
    MIN_SCHEDULED_TIMERS,
    owner_of,
)

__all__ = ["SLEEP_TIMER_CALLBACK", "TimerQueue", "VirtualTimerHandle", "timer_owner"]

#: What the timer of `asyncio.sleep` calls: it wakes the task that set it.
SLEEP_TIMER_CALLBACK = asyncio.futures._set_result_unless_cancelled  # type: ignore[attr-defined]

_list = list


def timer_owner(timer: VirtualTimerHandle) -> Any:
    """The owner that orders `timer` in an explored run (`owner_of`), a sleep's at once."""
    owner = timer._owner
    return owner if owner is not None else owner_of(timer)


# A deadline's timer, or the list of its timers in scheduling order.
Bucket = Any


class VirtualTimerHandle(asyncio.TimerHandle):
    """An `asyncio.TimerHandle` that knows its queue and whether a background task set it.

    In an explored run a sleep's timer also keeps the task that set it (`_owner`):
    the task its firing wakes, which orders it among the timers of its instant,
    known without reading its future's callbacks back (see `timer_owner`).
    """

    __slots__ = ("_background", "_owner", "_queue")
    if TYPE_CHECKING:
        _when: float
        _scheduled: bool
        _cancelled: bool
        _source_traceback: list[Any] | None
        _background: bool
        _owner: asyncio.Task[Any] | None
        _queue: TimerQueue

    def cancel(self) -> None:
        """As `asyncio.TimerHandle.cancel`, in one step (every `asyncio.sleep` calls it)."""
        handle: Any = self
        if handle._cancelled:
            return
        if handle._scheduled:
            handle._queue.cancelled += 1
        handle._cancelled = True
        handle._owner = None
        if handle._loop._debug:
            handle._repr = repr(handle)
        handle._callback = None
        handle._args = None


# Handles name their class in reprs and in asyncio's error logs: say what a real run says.
VirtualTimerHandle.__name__ = VirtualTimerHandle.__qualname__ = "TimerHandle"


class TimerQueue:
    """The timers of one loop, by deadline; see the module docstring."""

    __slots__ = ("buckets", "cancelled", "count", "deadlines")

    def __init__(self) -> None:
        #: A heap of the distinct deadlines that have timers.
        self.deadlines: list[float] = []
        #: Each deadline's timer, or the list of its timers in scheduling order.
        self.buckets: dict[float, Bucket] = {}
        #: Timers held, cancelled ones not yet dropped included.
        self.count = 0
        #: Cancelled timers not yet dropped.
        self.cancelled = 0

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[VirtualTimerHandle]:
        """Every timer held, cancelled ones included, in the order they will fire."""
        buckets = self.buckets
        for when in sorted(self.deadlines):
            bucket = buckets[when]
            if type(bucket) is _list:
                yield from bucket
            else:
                yield bucket

    def push(self, timer: VirtualTimerHandle) -> None:
        """Add `timer` after every timer already due at its deadline."""
        when = timer._when
        buckets = self.buckets
        bucket = buckets.setdefault(when, timer)
        if bucket is timer:
            heappush(self.deadlines, when)
        elif type(bucket) is _list:
            bucket.append(timer)
        else:
            buckets[when] = [bucket, timer]
        self.count += 1

    def next_deadline(self) -> float:
        """The earliest deadline of a live timer, or `math.inf`; drops cancelled heads."""
        if self.cancelled:
            self.drop_cancelled_heads()
        deadlines = self.deadlines
        return deadlines[0] if deadlines else float("inf")

    def pop_due(
        self,
        end_time: float,
        ready: Any,
        order: Callable[[Sequence[VirtualTimerHandle]], list[VirtualTimerHandle]] | None = None,
    ) -> None:
        """Move every timer due before `end_time` to `ready`, deadline by deadline.

        `order`, if given, may reorder the timers of one deadline (an explored
        schedule), never two deadlines: asyncio always runs the earlier first.
        """
        deadlines, buckets = self.deadlines, self.buckets
        moved = 0
        while deadlines and deadlines[0] < end_time:
            bucket = buckets.pop(heappop(deadlines))
            if type(bucket) is _list:
                for timer in bucket:
                    timer._scheduled = False
                if order is not None:
                    bucket = order(bucket)
                ready.extend(bucket)
                moved += len(bucket)
            else:
                bucket._scheduled = False
                ready.append(bucket)
                moved += 1
        self.count -= moved

    def drop_cancelled(self) -> None:
        """Drop cancelled timers by asyncio's rule (see the module docstring)."""
        if (
            self.count > MIN_SCHEDULED_TIMERS
            and self.cancelled / self.count > MIN_CANCELLED_FRACTION
        ):
            self.purge_cancelled()
        else:
            self.drop_cancelled_heads()

    def drop_cancelled_heads(self) -> None:
        deadlines, buckets = self.deadlines, self.buckets
        while deadlines:
            when = deadlines[0]
            bucket = buckets[when]
            if type(bucket) is _list:
                dropped = 0
                for timer in bucket:
                    if not timer._cancelled:
                        break
                    timer._scheduled = False
                    dropped += 1
                if not dropped:
                    return
                self.cancelled -= dropped
                self.count -= dropped
                if dropped < len(bucket):
                    del bucket[:dropped]
                    return
            elif bucket._cancelled:
                bucket._scheduled = False
                self.cancelled -= 1
                self.count -= 1
            else:
                return
            heappop(deadlines)
            del buckets[when]

    def purge_cancelled(self) -> None:
        buckets: dict[float, Bucket] = {}
        kept = 0
        for when in sorted(self.deadlines):  # keeps each deadline's order
            bucket = self.buckets[when]
            for timer in bucket if type(bucket) is _list else (bucket,):
                if timer._cancelled:
                    timer._scheduled = False
                    continue
                kept += 1
                current = buckets.setdefault(when, timer)
                if current is timer:
                    continue
                if type(current) is _list:
                    current.append(timer)
                else:
                    buckets[when] = [current, timer]
        deadlines = list(buckets)
        heapify(deadlines)
        self.deadlines = deadlines
        self.buckets = buckets
        self.count = kept
        self.cancelled = 0

    def clear(self) -> None:
        self.deadlines.clear()
        self.buckets.clear()
        self.count = 0
        self.cancelled = 0

"""Virtual time: one timeline that every attached loop and every process clock reads.

A `Clock` holds three readings of the same instant:

- `now`: seconds since the clock was made, counting from 0.0. Timelines,
  charts and reports use it.
- `reading`: what `loop.time()`, `time.monotonic()` and `time.perf_counter()`
  return while the clock is bound: `MONOTONIC_ORIGIN + now`. Like a real
  machine's monotonic clock it does not start at zero, so code that treats
  0.0 as "long ago" (`last_call = 0.0` in a throttle) behaves as it would.
- `wall`: seconds since the Unix epoch, `start + now`. `time.time()`,
  `datetime.now()` and `date.today()` return it while the clock is bound.

Time only moves forward, and only when something moves it: a loop jumping to
its next deadline, a blocking `time.sleep()` on the loop's thread, or
`advance()`. Between those moves, no amount of real time changes any reading,
unless the clock was made with a `tick`: then every read of `time.monotonic()`
or `time.perf_counter()` moves it on by that many seconds, so that two reads
differ and `sleep(d)` is seen to last a little more than `d`, the same on every
run.

A positive move always moves: a delay smaller than one float step at the
current reading moves time by one step, so `while now < deadline` loops and
sleeps of 1e-17 s end.

Prior art: trio's `MockClock` (virtual time with an autojump rule) and
time-machine (the wall clock travelling without ticking).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import sys
import threading
import time
import warnings
from collections.abc import Callable, Coroutine, Generator, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from simclock.errors import TimeLimitExceeded

if TYPE_CHECKING:
    from simclock.clock.schedule import Schedule
    from simclock.timeline.timeline import Timeline

__all__ = [
    "COARSE_FLOATS",
    "DEFAULT_START",
    "MONOTONIC_ORIGIN",
    "Clock",
    "RunningLoop",
    "StartLike",
    "later",
]

#: The wall-clock instant a clock starts at unless told otherwise, fixed so that
#: two runs of the same program print the same dates.
DEFAULT_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

StartLike: TypeAlias = dt.datetime | dt.date | float | int | str

#: What `time.monotonic()` and `loop.time()` read when a clock is made: a machine
#: that has been up for a while, not one that booted this instant.
MONOTONIC_ORIGIN = 10_000.0

_NS = 1_000_000_000


#: From this reading on, the spacing between floats nears the 1 ns clock
#: resolution, and past it `now + resolution == now`: a timer due exactly now
#: would never be popped. The resolution grows with the reading from here.
COARSE_FLOATS = float(2**22)


class RunningLoop(Protocol):
    """What the clock asks of a loop running on it."""

    async def settle(self) -> None:
        """Return once nothing but the caller is ready and no worker works."""
        ...

    def advance_to(self, until: float) -> Coroutine[Any, Any, None]:
        """With autojump off: move from deadline to deadline up to `until`."""
        ...

    def limit_report(self) -> tuple[list[asyncio.Task[Any]], list[str]]:
        """The pending tasks and the next timers, for `TimeLimitExceeded`."""
        ...

    def idle_deadline(self) -> float | None:
        """None while the loop runs or its workers work; else its earliest deadline.

        Read by idle loops in other threads: what it published as it went idle.
        """
        ...

    def wake(self) -> None:
        """Wake the loop from a real-time wait to decide again; any thread may call it."""
        ...

    def blocked_until(self, deadline: float | None) -> None:
        """Its thread is blocked in a callback until `deadline` at the latest (None: no more).

        Meanwhile `idle_deadline()` gives that deadline: nothing of the loop's can
        run before the thread comes back, so the rest of the bubble may move on.
        """
        ...

    def is_blocked(self) -> bool:
        """Whether its thread is blocked in a callback (see `blocked_until`)."""
        ...


class Clock:
    """The owner of virtual time, shareable by several loops in a row.

    A clock outlives any one event loop: a script that calls `asyncio.run`
    twice continues one timeline, and a module-level `start = time.time()`
    taken before the first loop existed is on it too. Which clock a new
    `VirtualEventLoop` attaches to is decided by `simclock.VirtualEventLoop`;
    the clock itself only keeps time and says who is moving it.
    """

    def __init__(
        self,
        start: StartLike | None = None,
        *,
        tick: float = 0.0,
        seed: int | None = None,
        drift: float = 0.0,
        awaits: bool = False,
        autojump: bool = True,
        compute: str = "real",
        tick_loop: bool = False,
        forced: dict[int, tuple[int, ...]] | None = None,
        choices: Sequence[int] | None = None,
        slow_only: frozenset[Hashable] | None = None,
    ) -> None:
        """`start`: the wall-clock instant at `now == 0`, as for `simclock.run`; default
        `DEFAULT_START`. `tick`: seconds each read of `time.monotonic()` or
        `time.perf_counter()` moves the clock on; default 0, exact. With
        `tick_loop=True` every `loop.time()` read ticks too, asyncio's own
        included, so that even a round trip between two in-process peers
        measures more than 0 (each loop iteration then moves time a little,
        as on a real machine).

        `seed`: explore the schedule this seed picks (`simclock.clock.schedule`): loops
        on this clock order same-instant events by it; with `drift` (seconds, in
        [0, 1)) each callback also takes up to that much seeded CPU time, so
        chains of steps run late as under load; with `awaits=True` a task's bare
        `await asyncio.sleep(0)` may resume a few iterations late, as an await
        that stands for I/O would if the I/O took longer. Default: asyncio's order.
        `forced` (with a seed): take only these decisions, asyncio's order
        elsewhere (see `simclock.clock.schedule.Schedule`; `explore` shrinks
        a failing schedule this way; `slow_only` likewise keeps the drift of only
        some tasks). `choices` (with a seed): take each decision from this
        sequence of numbers instead (`simclock.strategies`).

        `autojump`: whether an idle loop moves the clock to the next deadline by
        itself (the default). With `autojump=False` time moves only when the
        program says so: `await clock.advance(seconds)`.

        `compute`: what real work costs in virtual time. "real" (the default):
        while a thread works, a pending deadline comes due once that much real
        time has passed, as on a real machine, so a 1 ms timeout cuts a 500 ms
        query; work that ends before every pending deadline takes no virtual
        time. "instant": work never brings a deadline, as on an infinitely
        fast machine (the clock stands still however long a thread works)."""
        # Invariant: `self._reading` is the monotonic reading, and the wall
        # clock reads `self._start_ns / 1e9 + (self._reading - MONOTONIC_ORIGIN)`.
        # Deadlines are set from readings, so the reading is what a jump sets
        # exactly; `now` is derived from it. The start is kept in integer
        # nanoseconds so that a large epoch never costs precision.
        self._reading = MONOTONIC_ORIGIN
        self._moving = threading.Lock()
        self._start_ns = _DEFAULT_START_NS if start is None else _start_to_ns(start)
        if not _WALL_NS_RANGE[0] <= self._start_ns <= _WALL_NS_RANGE[1]:
            raise ValueError(
                f"start={start!r} is outside what the wall clock can show "
                "(datetime's years 1 to 9999)"
            )
        self._tick = _checked_tick(tick)
        if not isinstance(tick_loop, bool):
            raise TypeError(f"tick_loop must be True or False, got {tick_loop!r}")
        if tick_loop and not self._tick:
            raise ValueError("tick_loop=True ticks loop.time() by `tick`: give a tick > 0 with it")
        #: Whether each `loop.time()` read moves the clock on by `tick` too.
        self.tick_loop = tick_loop
        if not isinstance(autojump, bool):
            raise TypeError(f"autojump must be True or False, got {autojump!r}")
        #: Whether idle loops on this clock jump to the next deadline by themselves.
        self.autojump = autojump
        if compute not in ("real", "instant"):
            raise ValueError(f"compute must be 'real' or 'instant', got {compute!r}")
        #: What real work costs in virtual time: "real" or "instant" (see above).
        self.compute = compute
        #: The explored schedule loops on this clock follow, or None for asyncio's order.
        self.schedule: Schedule | None = None
        if seed is not None:
            from simclock.clock.schedule import Schedule  # only explored runs pay for it

            self.schedule = Schedule(
                seed,
                drift=drift,
                awaits=awaits,
                forced=forced,
                choices=choices,
                slow_only=slow_only,
            )
        elif drift or awaits:
            name = "drift" if drift else "awaits"
            raise ValueError(f"{name}= explores schedules: give a seed= with it")
        #: The float step at the current reading: what a deadline within it counts as due.
        self.resolution = 1e-9
        # Called with the new reading after every move: the wall clock's follower
        # while time-machine must be moved, and each loop's workers while some
        # wait virtually. A tuple, replaced whole, so that any thread may add one.
        self._followers: tuple[Callable[[float], object], ...] = ()
        # The limits of the runs on this clock, as (reading, seconds); the
        # earliest reading is the one that counts.
        self._limits: list[tuple[float, float]] = []
        #: The last reading whose wall clock `datetime` can still show (year 9999):
        #: a deadline past it can never come due in any real run, so it means "never".
        self.latest = _latest_reading(self._start_ns)
        # Where a jump must stop: the earliest limit, or `latest`.
        self._limit_at = self.latest
        #: How far a loop's fast path may jump by itself: `latest`, or minus
        #: infinity while the clock is crowded (the bubble decides then).
        self.fast_until = self.latest
        # Loops running on this clock right now, by the thread that runs them.
        self._running: dict[int, RunningLoop] = {}
        # Threads that live on this clock (a loop's, one that bound it), by
        # ident: (native id, how many views of it they have pushed).
        self._members: dict[int, tuple[int, int]] = {}
        #: More than one thread lives on this clock: idle loops must ask the others.
        self.crowded = False
        #: Where loops on this clock record what happened, if anywhere.
        self.timeline: Timeline | None = None

    def __repr__(self) -> str:
        return f"<simclock.Clock now={self.now:.6f}s wall={self.datetime().isoformat()}>"

    @property
    def now(self) -> float:
        """Virtual seconds since this clock was made, from 0.0."""
        return self._reading - MONOTONIC_ORIGIN

    @property
    def reading(self) -> float:
        """What `loop.time()` and `time.monotonic()` return: `MONOTONIC_ORIGIN + now`."""
        return self._reading

    @property
    def tick(self) -> float:
        """Seconds each read of `time.monotonic()`/`perf_counter()` moves the clock on."""
        return self._tick

    @property
    def wall(self) -> float:
        """Virtual seconds since the Unix epoch; what `time.time()` returns while bound."""
        return self.wall_ns() / _NS

    def wall_ns(self) -> int:
        """Virtual nanoseconds since the Unix epoch: `time.time_ns()` while bound."""
        return self._start_ns + round((self._reading - MONOTONIC_ORIGIN) * _NS)

    def datetime(self) -> dt.datetime:
        """The virtual wall-clock instant as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.wall, dt.UTC)

    def advance(self, seconds: float) -> Advance:
        """Move virtual time forward by `seconds`.

        With `autojump` (the default) time moves at once, as if a blocking call
        took that long; callable from sync code and from a coroutine. Timers
        that come due fire on the loop's next iteration, in deadline order, and
        the tasks they wake read the advanced time. (`await asyncio.sleep(s)`
        lets each fire at its own instant instead.)

        With `autojump=False`, inside a running loop, `await clock.advance(s)`:
        the loop moves the clock from deadline to deadline up to `now + s`,
        running every timer at its own instant, in order, and everything those
        wake, before the await returns. Not awaited there, it does nothing and
        warns. Outside a running loop it moves at once, as with autojump.
        """
        seconds = _checked_duration(seconds, "advance")
        loop = self._running.get(threading.get_ident())
        if not self.autojump and loop is not None:
            return Advance(self, loop, seconds)
        if seconds:
            self.jump_to(later(self._reading, seconds))
        return Advance(self, None, seconds)

    def set_wall(self, when: dt.datetime | float) -> None:
        """Set the wall clock (`time.time()`, `datetime.now()`) to `when`, as NTP might.

        Monotonic time does not move and no timer fires: only the wall clock
        jumps, forwards or backwards. `when` is an aware datetime (naive means
        UTC) or an epoch number. Recorded on the timeline, if any.
        """
        if isinstance(when, bool) or not isinstance(when, dt.datetime | int | float):
            raise TypeError(f"set_wall() takes a datetime or an epoch number, got {when!r}")
        if not isinstance(when, dt.datetime) and not math.isfinite(when):
            raise ValueError(f"set_wall() takes a finite epoch number, got {when!r}")
        try:
            target = _start_to_ns(when)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"set_wall() cannot set the wall clock to {when!r}") from None
        self._move_wall(target - self.wall_ns(), f"wall clock set to {when!s}")

    def shift_wall(self, seconds: float) -> None:
        """Move the wall clock by `seconds` (negative: back), as a DST or NTP correction does.

        Monotonic time does not move and no timer fires. Recorded on the timeline, if any.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"shift_wall() takes a number of seconds, got {seconds!r}")
        if not math.isfinite(seconds) or abs(seconds) > _LARGEST_SHIFT:
            raise ValueError(
                f"shift_wall() takes a finite number of seconds within 10,000 years, "
                f"got {seconds!r}"
            )
        self._move_wall(round(seconds * _NS), f"wall clock shifted by {seconds:+g}s")

    def _move_wall(self, delta_ns: int, text: str) -> None:
        if not _WALL_NS_RANGE[0] <= self.wall_ns() + delta_ns <= _WALL_NS_RANGE[1]:
            raise ValueError(f"{text}: outside what the wall clock can show (years 1 to 9999)")
        self._start_ns += delta_ns
        self.latest = _latest_reading(self._start_ns)
        self._stop_jumps_at()
        self._crowd_changed()
        if delta_ns < 0:
            _forget_uuid_timestamps()
        for follow in self._followers:
            follow(self._reading)
        if self.timeline is not None:
            from simclock.timeline.events import EventKind

            self.timeline.record(self.now, None, EventKind.MARK, text)

    async def run_until_idle(self) -> None:
        """Let every other task run until all of them wait on time, I/O, or nothing.

        Virtual time does not move. Returns once nothing is ready, no timer is
        due at the current instant, and no tracked thread is working.
        """
        loop = self._running.get(threading.get_ident())
        running: object = asyncio.get_running_loop()
        if loop is None or running is not loop:
            raise RuntimeError("run_until_idle() must be awaited on a loop attached to this clock")
        await loop.settle()

    # The one way time moves.

    def jump_to(self, reading: float) -> None:
        """Move the reading forward to exactly `reading`; one in the past moves nothing.

        Every mover of virtual time comes here: a loop jumping to its next
        deadline, a blocking `time.sleep()` or `threading` wait on a clock's
        thread, `advance()`, a tick. In this order it checks the run's limit
        (raising `TimeLimitExceeded`, and moving nothing, rather than pass it),
        sets the reading, grows the float resolution past `COARSE_FLOATS`, and
        tells every follower (the wall clock; workers whose virtual waits end
        at or before `reading`).
        """
        if reading > self._reading:
            if reading > self._limit_at:
                raise self._over_limit(reading)
            # Threads of a bubble may jump at once: the later reading must win.
            with self._moving:
                if reading > self._reading:
                    self._reading = reading
                    if reading >= 4194304.0:  # COARSE_FLOATS, inlined: every jump passes here
                        self.resolution = max(1e-9, math.ulp(reading))
        # Also without a move: a worker's wait may end at the current instant.
        for follow in self._followers:
            follow(self._reading)

    def follow(self, follower: Callable[[float], object]) -> None:
        """Call `follower(reading)` after every move, until `unfollow(follower)`."""
        self._followers = (*self._followers, follower)

    def unfollow(self, follower: Callable[[float], object]) -> None:
        followers = list(self._followers)
        if follower in followers:
            followers.remove(follower)
            self._followers = tuple(followers)

    # The runs' limits.

    def add_limit(self, seconds: float) -> tuple[float, float]:
        """Let time pass at most `seconds` from now; returns what `remove_limit` takes.

        Limits stack: the earliest one counts. A jump past it raises
        `TimeLimitExceeded` naming the pending tasks of the loops running now.
        """
        entry = (self._reading + seconds, float(seconds))
        self._limits.append(entry)
        self._limit_at = min(self._limit_at, entry[0])
        return entry

    def remove_limit(self, entry: tuple[float, float]) -> None:
        if entry in self._limits:
            self._limits.remove(entry)
        self._stop_jumps_at()

    def _stop_jumps_at(self) -> None:
        """Where a jump must stop: the earliest limit of the runs, or `latest`."""
        self._limit_at = min([at for at, _seconds in self._limits] + [self.latest])

    def _over_limit(self, reading: float) -> BaseException:
        if reading > self.latest:
            return OverflowError(
                f"cannot move the virtual clock to t={reading - MONOTONIC_ORIGIN:g}s: "
                "its wall clock would pass what datetime can show (year 9999)"
            )
        seconds = min(self._limits)[1]
        loop = self._running.get(threading.get_ident())
        if loop is None and self._running:
            loop = next(iter(self._running.values()))
        tasks, timers = loop.limit_report() if loop is not None else ([], [])
        return TimeLimitExceeded(seconds, self.now, reading - MONOTONIC_ORIGIN, tasks, timers)

    # Machinery for the loop and the wall-clock bindings.

    def start_running(self, loop: RunningLoop) -> None:
        """`loop` runs on this clock in the calling thread until `stop_running()`."""
        me = threading.get_ident()
        if me in self._running:
            raise RuntimeError("another loop is already running on this clock in this thread")
        self._running[me] = loop

    def stop_running(self) -> None:
        del self._running[threading.get_ident()]

    def loops(self) -> dict[int, RunningLoop]:
        """The loops running on this clock now, by the ident of the thread running each."""
        return dict(self._running)

    def members(self) -> dict[int, int]:
        """The threads that live on this clock now: their native ids, by ident."""
        return {ident: native for ident, (native, _count) in list(self._members.items())}

    def enter(self) -> None:
        """The calling thread lives on this clock (once more) until `leave()`."""
        ident = threading.get_ident()
        native, count = self._members.get(ident, (threading.get_native_id(), 0))
        self._members[ident] = (native, count + 1)
        self._crowd_changed()

    def leave(self) -> None:
        ident = threading.get_ident()
        native, count = self._members.get(ident, (0, 1))
        if count > 1:
            self._members[ident] = (native, count - 1)
        else:
            self._members.pop(ident, None)
        self._crowd_changed()

    def _crowd_changed(self) -> None:
        self.crowded = len(self._members) > 1
        self.fast_until = -math.inf if self.crowded else self.latest

    def _read(self) -> float:
        """A user-visible read of the monotonic clock: the reading, then the tick.

        A tick never passes the run's limit: it stops there, and the next jump raises.
        """
        reading = self._reading
        if self._tick:
            self.jump_to(min(later(reading, self._tick), self._limit_at))
        return reading


class Advance:
    """What `Clock.advance` returns: awaitable; with `autojump=False` it must be awaited."""

    def __init__(self, clock: Clock, loop: RunningLoop | None, seconds: float) -> None:
        self._clock = clock
        self._loop = loop
        self._seconds = seconds
        self._awaited = loop is None

    def __repr__(self) -> str:
        return f"<simclock.Advance {self._seconds}s>"

    def __await__(self) -> Generator[Any, None, None]:
        self._awaited = True
        if self._loop is None:
            return (yield from asyncio.sleep(0).__await__())
        until = later(self._clock._reading, self._seconds)
        return (yield from self._loop.advance_to(until).__await__())

    def __del__(self) -> None:
        if not self._awaited:
            warnings.warn(
                f"clock.advance({self._seconds}) was never awaited: with autojump=False, "
                "time moves only by `await clock.advance(...)`",
                RuntimeWarning,
                stacklevel=2,
            )


# A wall clock more than 10,000 years away from now is a mistake, not a correction.
_LARGEST_SHIFT = 10_000 * 365.25 * 86400


def _forget_uuid_timestamps() -> None:
    """After the wall clock went back: uuid1() and friends must not stay ahead of it.

    They never go back from the last timestamp they used, kept on the uuid
    module; a real clock stepped back by NTP leaves that behind too, but then
    real time soon catches up, and virtual time may not.
    """
    uuid = sys.modules.get("uuid")
    for name in ("_last_timestamp", "_last_timestamp_v6", "_last_timestamp_v7"):
        if uuid is not None and hasattr(uuid, name):
            setattr(uuid, name, None)


def later(reading: float, seconds: float) -> float:
    """`reading + seconds`, but at least one float step later when `seconds > 0`."""
    when = reading + seconds
    if when <= reading and seconds > 0:
        return math.nextafter(reading, math.inf)
    return when


def _checked_tick(tick: object) -> float:
    if isinstance(tick, bool) or not isinstance(tick, (int, float)) or not 0 <= tick < 1:
        raise ValueError(f"tick must be a number of seconds in [0, 1), got {tick!r}")
    return float(tick)


def _checked_duration(seconds: float, what: str) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{what}() takes a number of seconds, got {seconds!r}")
    seconds = float(seconds)
    if math.isnan(seconds):
        raise ValueError(f"{what}() got NaN seconds")
    if seconds < 0:
        raise ValueError(f"time can't go backwards: {what}({seconds!r})")
    if math.isinf(seconds):
        raise ValueError(f"{what}() got an infinite number of seconds")
    return seconds


def _start_to_ns(start: StartLike) -> int:
    """Turn a `start=` value into integer nanoseconds since the epoch."""
    if isinstance(start, str):
        if start == "now":
            return time.time_ns()
        try:
            start = dt.datetime.fromisoformat(start)
        except ValueError:
            raise ValueError(
                f"start must be a datetime, an epoch number, an ISO 8601 string or 'now', "
                f"got {start!r}"
            ) from None
    if isinstance(start, dt.datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        whole = int(start.replace(microsecond=0).timestamp())
        return whole * _NS + start.microsecond * 1000
    if isinstance(start, dt.date):
        return _start_to_ns(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC))
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise TypeError(
            f"start must be a datetime, an epoch number, an ISO 8601 string or 'now', got {start!r}"
        )
    if not math.isfinite(start):
        raise ValueError(f"start must be a finite epoch number, got {start!r}")
    if isinstance(start, int):
        return start * _NS
    return round(start * _NS)


_DEFAULT_START_NS = _start_to_ns(DEFAULT_START)

# The wall clock datetime can show, in nanoseconds since the epoch: years 1 to 9999.
_WALL_NS_RANGE = (-62135596800 * _NS, 253402300799 * _NS)


def _latest_reading(start_ns: int) -> float:
    """The last monotonic reading whose wall clock, from `start_ns`, datetime can show."""
    return MONOTONIC_ORIGIN + (_WALL_NS_RANGE[1] - start_ns) / _NS

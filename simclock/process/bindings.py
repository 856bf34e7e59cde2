"""Which clock each thread reads, and the process clocks bound to a `Clock` during a run.

The per-thread view. Every thread reads either real time or one clock's
virtual time, and this module is the one place that knows which:

- the thread running a virtual loop, and the thread that bound a clock while
  no loop runs (a replay's main thread before `asyncio.run`), read the clock;
- a thread working for a virtual loop reads the view `simclock.threads.work` gives it
  (the instant its work started plus the real time it has spent, and virtual
  waits for `time.sleep`);
- every other thread reads real time: a thread running a real asyncio loop,
  a thread the program started before the run, pytest's own machinery.

A thread's view is pushed and popped with `viewing()`; `current_view()` reads
it. Nothing else keeps thread-local state about clocks.

The bindings, while at least one `bound()` block is open:

- `time.monotonic`, `time.monotonic_ns`, `time.perf_counter`,
  `time.perf_counter_ns`: the C function behind each builtin is swapped
  (`simclock.process.clockswap`), so references bound before the run by name
  (`from time import monotonic`) or as default arguments follow too.
- `time.sleep`: swapped the same way; a bad argument raises what `time.sleep`
  raises, and a wrapper another tool put on `time.sleep` keeps working on top.
- `time.ctime` and `time.asctime` with no argument: replaced as module
  attributes, to show the virtual date.
- `time.clock_gettime` and `time.clock_gettime_ns` for the monotonic clocks:
  replaced as module attributes.
- `time.time`, `time.time_ns`, `datetime.now`, `date.today` and the other
  wall-clock readers: time-machine (`travel` with `tick=False`). Its traveller
  asks its `time_ns()` for each instant; simclock answers per thread, from
  the same view as the monotonic clocks, so a thread's wall and monotonic
  clocks always agree, and a jump costs nothing. Should a time-machine
  release stop asking (checked at every bind), the traveller is moved with
  `shift` as the clock moves instead, and every thread reads the clock's
  wall time.

After the last `bound()` block ends, every one of them is real again, for
every holder of a reference, however the run ended.
"""

from __future__ import annotations

import functools
import numbers
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from simclock.clock.clock import MONOTONIC_ORIGIN, Clock

if TYPE_CHECKING:
    import time_machine
from simclock.errors import ClockConflict
from simclock.process.clockswap import SwappableBuiltin, SwapUnsupported, builtin_beneath

__all__ = [
    "ClockView",
    "View",
    "bind",
    "bound",
    "current_clock",
    "current_view",
    "forget_last_bound",
    "hooks_stay",
    "last_bound",
    "pop_view",
    "push_view",
    "real_monotonic",
    "real_perf_counter",
    "real_sleep",
    "stays_on",
    "unbind",
    "viewing",
    "while_bound",
]

_NS = 1_000_000_000


def _import_time_machine() -> Any:
    """Import time-machine without the pytest it imports eagerly, unless pytest is here.

    time-machine imports pytest only to define its own fixture; outside a
    pytest session that costs `simclock run` about 80 ms of start-up.
    """
    if "pytest" in sys.modules or "time_machine" in sys.modules:
        import time_machine
    else:
        sys.modules["pytest"] = None  # type: ignore[assignment]
        try:
            import time_machine
        finally:
            del sys.modules["pytest"]
    return time_machine


time_machine = _import_time_machine()


class View(Protocol):
    """What one thread's clocks read, and what its `time.sleep` does."""

    def read(self) -> float:
        """The monotonic reading this thread sees now (a tick may move the clock on)."""
        ...

    def peek(self) -> float:
        """The monotonic reading this thread sees now, moving nothing: for the wall clock."""
        ...

    def sleep(self, seconds: float) -> None:
        """A blocking sleep of `seconds` (finite, >= 0) in this thread."""
        ...

    @property
    def retired(self) -> bool:
        """True once the run this view belongs to is over: the thread reads real time."""
        ...


class ClockView:
    """The view of a thread that lives on a clock: a loop's thread, or the binding thread.

    `work`, if set, is what threads started from this thread work for (the
    loop's `simclock.threads.work.WorkInFlight`).
    """

    __slots__ = ("clock", "work")

    #: A view whose run is over reads real time (see `simclock.threads.work.Worker.retire`).
    retired = False

    def __init__(self, clock: Clock, work: object = None) -> None:
        self.clock = clock
        self.work = work

    def read(self) -> float:
        return self.clock._read()

    def peek(self) -> float:
        return self.clock._reading

    def sleep(self, seconds: float) -> None:
        # Nothing else on this thread can run meanwhile: time just passes, and
        # workers whose virtual waits end meanwhile go on. But while a child
        # process the run started is running, the sleep is likely a poll for
        # it (waitpid in a loop against a monotonic deadline): then it sleeps
        # for real, and the clock moves by the real time, so that the child
        # gets the time it would.
        if not seconds:
            return
        if self.clock.crowded and any(sleep(self.clock, seconds) for sleep in _crowded_sleeps):
            return
        if any(real_world() for real_world in _real_sleeps_while):
            started = real_monotonic()
            real_sleep(seconds)
            seconds = max(seconds, real_monotonic() - started)
        self.clock.advance(seconds)  # workers whose waits end meanwhile follow the clock


_views = threading.local()


def current_view() -> View | None:
    """The calling thread's view, or None when it reads real time."""
    view: View | None = getattr(_views, "top", None)
    return view


@contextmanager
def viewing(view: View | None) -> Iterator[View | None]:
    """Let the calling thread read `view` (None: real time) for the duration of the block."""
    push_view(view)
    try:
        yield view
    finally:
        pop_view(view)


def push_view(view: View | None) -> None:
    """Let the calling thread read `view` (None: real time) until `pop_view(view)`.

    Prefer `viewing()`.
    """
    stack: list[View | None] | None = getattr(_views, "stack", None)
    if stack is None:
        stack = _views.stack = []
    stack.append(view)
    _views.top = view
    if isinstance(view, ClockView):
        view.clock.enter()


def pop_view(view: View | None) -> None:
    """End what `push_view(view)` began in the calling thread."""
    stack: list[View | None] = getattr(_views, "stack", [])
    # The newest push of `view`: pushes and pops nest, and one view (None,
    # real time) may be pushed again above others.
    for index in range(len(stack) - 1, -1, -1):
        if stack[index] is view:
            del stack[index]
            if isinstance(view, ClockView):
                view.clock.leave()
            break
    _views.top = stack[-1] if stack else None


# The replacements the swapped builtins call. Made once: a C callback must
# outlive every thread that might be inside it.


def _monotonic() -> float:
    view: View | None = getattr(_views, "top", None)
    return _REAL["monotonic"]() if view is None else view.read()


def _monotonic_ns() -> int:
    view: View | None = getattr(_views, "top", None)
    return _REAL["monotonic_ns"]() if view is None else round(view.read() * _NS)


def _perf_counter() -> float:
    view: View | None = getattr(_views, "top", None)
    return _REAL["perf_counter"]() if view is None else view.read()


def _perf_counter_ns() -> int:
    view: View | None = getattr(_views, "top", None)
    return _REAL["perf_counter_ns"]() if view is None else round(view.read() * _NS)


def _sleep(seconds: float) -> None:
    """`time.sleep` while a clock is bound: the calling thread's view decides."""
    view: View | None = getattr(_views, "top", None)
    if view is None or not isinstance(seconds, numbers.Real) or not 0 <= seconds <= _LONGEST_SLEEP:
        # Real threads sleep for real; a bad argument (a negative, NaN or too long
        # a sleep, a string) raises what time.sleep raises, at once.
        _REAL["sleep"](seconds)
        return
    view.sleep(float(seconds))  # True sleeps a second, as time.sleep(True) does


# The longest sleep time.sleep accepts: its nanoseconds must fit in 64 bits.
_LONGEST_SLEEP = (2**63 - 1) / 1e9


_MONOTONIC_CLOCKS = {
    getattr(time, name)
    for name in ("CLOCK_MONOTONIC", "CLOCK_MONOTONIC_RAW", "CLOCK_BOOTTIME", "CLOCK_UPTIME")
    if hasattr(time, name)
}


def _ctime_for(previous: Callable[..., str]) -> Callable[..., str]:
    def ctime(seconds: float | None = None) -> str:
        return previous(time.time() if seconds is None else seconds)

    return ctime


def _asctime_for(previous: Callable[..., str]) -> Callable[..., str]:
    def asctime(when: Any = None) -> str:
        return previous(time.localtime() if when is None else when)

    return asctime


def _clock_gettime_for(previous: Callable[[int], float]) -> Callable[[int], float]:
    def clock_gettime(clk_id: int) -> float:
        view = current_view()
        if view is not None and clk_id in _MONOTONIC_CLOCKS:
            return view.read()
        return previous(clk_id)

    return clock_gettime


def _clock_gettime_ns_for(previous: Callable[[int], int]) -> Callable[[int], int]:
    def clock_gettime_ns(clk_id: int) -> int:
        view = current_view()
        if view is not None and clk_id in _MONOTONIC_CLOCKS:
            return round(view.read() * _NS)
        return previous(clk_id)

    return clock_gettime_ns


_REPLACEMENTS: dict[str, Callable[..., object]] = {
    "monotonic": _monotonic,
    "monotonic_ns": _monotonic_ns,
    "perf_counter": _perf_counter,
    "perf_counter_ns": _perf_counter_ns,
    "sleep": _sleep,
}
_swaps: dict[str, SwappableBuiltin] = {}
_swap_error: SwapUnsupported | None = None
# The builtins themselves, beneath any wrapper another tool put on the module first.
_BUILTINS: dict[str, Any] = {}
try:
    for _name, _replacement in _REPLACEMENTS.items():
        _BUILTINS[_name] = builtin_beneath(getattr(time, _name), _name, time)
        if _BUILTINS[_name] is None:
            raise SwapUnsupported(
                f"time.{_name} is {getattr(time, _name)!r}, and no builtin was found beneath it"
            )
        _swaps[_name] = SwappableBuiltin(_BUILTINS[_name], _replacement)
except SwapUnsupported as error:
    _swaps, _swap_error = {}, error

# Real clocks, whatever is bound: the twins run the original C functions.
_REAL: dict[str, Callable[..., Any]] = {
    name: (_swaps[name].real if name in _swaps else _BUILTINS.get(name) or getattr(time, name))
    for name in _REPLACEMENTS
}
#: The real `time.sleep`, for threads that must wait in real time.
real_sleep: Callable[[float], None] = _REAL["sleep"]
#: The real `time.perf_counter`, for measuring real time whatever is bound.
real_perf_counter: Callable[[], float] = _REAL["perf_counter"]
#: The real `time.monotonic`.
real_monotonic: Callable[[], float] = _REAL["monotonic"]


def _twin(builtin: Callable[[], Any], fallback: Callable[[], Any]) -> Callable[[], Any]:
    """`builtin` as time-machine's patch never reaches it (a twin of it), else `fallback`."""
    try:
        # Kept for good: the twin runs from the method definition this object holds.
        _swaps_kept.append(SwappableBuiltin(builtin, builtin))
    except SwapUnsupported:
        return fallback
    return _swaps_kept[-1].real


_swaps_kept: list[SwappableBuiltin] = []


# Real wall time for threads that read real time, also while time-machine is
# starting or stopping (its escape hatch raises when it is not travelling).
_REAL_TIME_NS: Callable[[], int] = _twin(time.time_ns, time_machine.escape_hatch.time.time_ns)


def _real_time_from_ns() -> float:
    return _REAL_TIME_NS() / _NS


#: The real `time.time()`, whatever is bound (pytest's own timer reads it, every test).
real_time: Callable[[], float] = _twin(time.time, _real_time_from_ns)


# Binding.

_lock = threading.RLock()
_clock: Clock | None = None
_holds = 0


class _Binding:
    """What binding a clock did, undone in reverse by `close`, all of it even if a step fails.

    An `ExitStack` does the same; this costs a tenth as much, and every test
    binds a clock at least once.
    """

    __slots__ = ("_undo",)

    def __init__(self) -> None:
        self._undo: list[tuple[Callable[..., object], tuple[Any, ...]]] = []

    def callback(self, undo: Callable[..., object], *args: Any) -> None:
        self._undo.append((undo, args))

    def close(self) -> None:
        _call_each(self._undos())  # all undone, even if some fail; the first error is raised

    def _undos(self) -> Iterator[Callable[[], object]]:
        """The undos, newest first, each taken off the list as it comes."""
        while self._undo:
            undo, args = self._undo.pop()
            yield functools.partial(undo, *args)


_binding: _Binding | None = None
_saved_attributes: dict[str, object] = {}
# Each hook's install, its uninstall, and for a hook that may stay on, what
# takes it off as the last `hooks_stay()` block ends (else None).
_Hook = tuple[Callable[[], None], Callable[[], None], Callable[[], None] | None]
_hooks: list[_Hook] = []
# How many `hooks_stay()` blocks are open, and what to take off as the last one
# ends, in the order left on (a dict for an ordered set).
_staying = 0
_left_on: dict[Callable[[], None], None] = {}


def current_clock() -> Clock | None:
    """The clock that drives the process clocks now, if any."""
    return _clock


# The clock most recently bound, for reports after the run (a test's failure).
_last_bound: weakref.ref[Clock] | None = None


def last_bound() -> Clock | None:
    """The clock most recently bound since `forget_last_bound()`, if it still exists."""
    return _last_bound() if _last_bound is not None else None


def forget_last_bound() -> None:
    global _last_bound
    _last_bound = None


_real_sleeps_while: list[Callable[[], bool]] = []


def sleep_for_real_while(condition: Callable[[], bool]) -> None:
    """Make a blocking `time.sleep` on a clock's thread real whenever `condition()` holds."""
    _real_sleeps_while.append(condition)


_crowded_sleeps: list[Callable[[Clock, float], bool]] = []


def sleep_in_a_crowd(sleep: Callable[[Clock, float], bool]) -> None:
    """Let `sleep(clock, seconds)` take a blocking sleep while other threads live on the clock.

    It returns False to leave the sleep to the clock (time just passes).
    """
    _crowded_sleeps.append(sleep)


def while_bound(
    install: Callable[[], None], uninstall: Callable[[], None], *, stays: bool = False
) -> None:
    """Run `install` whenever the process clocks get bound, and `uninstall` at release.

    With `stays`, what `install` puts on passes every call on while no clock
    is bound, and `install` changes nothing when it is on already: inside a
    `hooks_stay()` block, a release leaves it on, and the block's end takes it off.
    """
    take_off = functools.partial(_take_off_unless_bound, uninstall) if stays else None
    _hooks.append((install, uninstall, take_off))


def _take_hooks_off(installed: list[_Hook]) -> None:
    """Release the hooks a bind put on, newest first: each comes off, or stays on if it may.

    Called by the binding's close: with `_lock` held, or in a forked child,
    which has one thread.
    """
    coming_off = []
    for _install, uninstall, take_off in reversed(installed):
        if take_off is not None and _staying:
            _left_on[take_off] = None
        else:
            coming_off.append(uninstall)
    _call_each(coming_off)


def _call_each(calls: Iterable[Callable[[], object]]) -> None:
    """Call each of `calls`, all of them even if some raise; then raise the first error."""
    error: BaseException | None = None
    for call in calls:
        try:
            call()
        except BaseException as failed:  # noqa: BLE001 - the rest still run; the first is raised
            error = error or failed
    if error is not None:
        raise error


def _take_off_unless_bound(uninstall: Callable[[], None]) -> None:
    if _clock is None:  # else the binding's release takes it off
        uninstall()


def stays_on(take_off: Callable[[], None]) -> bool:
    """Whether a hook about to be taken off stays on, inert, until the `hooks_stay()` blocks end.

    If so, `take_off()` is called as the last block ends; it must check that
    the hook is still unused then (a clock bound again takes it off at its release).
    """
    with _lock:
        if not _staying:
            return False
        _left_on[take_off] = None
        return True


@contextmanager
def hooks_stay() -> Iterator[None]:
    """Leave the hooks that can stay on (`while_bound(..., stays=True)`) on between bindings.

    For a run of many bindings, a pytest session's: each hook on a class
    (`threading.Thread.start`, `BaseEventLoop.run_forever`) put on and taken
    off at every bind would make CPython drop, each time, what it had
    specialized for that class's instances (every event loop's, for the last).
    Between bindings they pass every call on. Blocks may nest.
    """
    global _staying
    with _lock:
        _staying += 1
    try:
        yield
    finally:
        with _lock:
            _staying -= 1
            left = [] if _staying else list(_left_on)[::-1]
            if not _staying:
                _left_on.clear()
            _call_each(left)


@contextmanager
def bound(clock: Clock, view: View | None = None) -> Iterator[Clock]:
    """Put the process clocks on `clock`, and the calling thread on `view`, for the block.

    `view` defaults to a `ClockView` of `clock`: the calling thread reads it.
    """
    view = bind(clock, view)
    try:
        yield clock
    finally:
        unbind(clock, view)


def bind(clock: Clock, view: View | None = None) -> View:
    """What `bound()` begins, for a caller that cannot use a block: end it with `unbind`.

    Returns the calling thread's view (a new `ClockView` of `clock` by default).
    """
    _bind(clock)
    if view is None:
        view = ClockView(clock)
    try:
        push_view(view)
    except BaseException:
        _release(clock)
        raise
    return view


def unbind(clock: Clock, view: View) -> None:
    """End what `bind(clock)` began, which returned `view`."""
    try:
        pop_view(view)
    finally:
        _release(clock)


def hold(clock: Clock) -> Callable[[], None]:
    """Keep the process clocks bound to `clock`, no thread reading it, until the call returned.

    For a run of many loops on one clock (a test's): each loop binds the clock
    while it runs, and without a hold every run would start and stop
    time-machine anew. Threads without a view still read real time meanwhile.
    """
    _bind(clock)
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            _release(clock)

    return release


def _bind(clock: Clock) -> None:
    global _clock, _holds, _binding, _last_bound
    with _lock:
        if _clock is clock:
            _holds += 1
            return
        if _clock is not None:
            raise ClockConflict(
                f"{_clock!r} already drives time.time() and time.monotonic(); a second "
                "clock cannot take over until it is released. Attach the new loop to "
                "the running clock (simclock.current_clock()) or finish that run first."
            )
        # The binding is a value: everything done is undone by closing it, in
        # reverse, at the last release, after a failed bind, and in a forked child.
        binding = _Binding()
        try:
            travel = time_machine.travel(clock.wall_ns() / _NS, tick=False)
            traveller = travel.start()
            binding.callback(travel.stop)
            if not _read_through(traveller):
                follower = _wall_follower(clock, traveller)
                clock.follow(follower)
                binding.callback(clock.unfollow, follower)
            _patch_time_module()
            binding.callback(_restore_time_module)
            _start_logging_clock(clock)
            binding.callback(_restore_logging_clock)
            # One undo for all of them, not one each: every test binds a clock.
            installed: list[_Hook] = []
            binding.callback(_take_hooks_off, installed)
            for hook in _hooks:
                hook[0]()
                installed.append(hook)
        except BaseException:
            binding.close()
            raise
        _clock, _holds, _binding = clock, 1, binding
        _last_bound = weakref.ref(clock)


def _release(clock: Clock) -> None:
    global _clock, _holds, _binding
    with _lock:
        if _clock is not clock:
            return
        _holds -= 1
        if _holds:
            return
        binding, _clock, _binding = _binding, None, None
        if binding is not None:
            binding.close()


def _forget_in_a_forked_child() -> None:
    """A child forked during a run starts on real time, as a real run's child does."""
    global _clock, _holds, _binding, _lock
    # Another thread may have held the lock as the process forked: in the
    # child that thread is gone, and the lock would never be let go.
    _lock = threading.RLock()
    if _clock is None:
        return
    binding, _clock, _holds, _binding = _binding, None, 0, None
    _views.__dict__.clear()
    if binding is not None:
        binding.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_a_forked_child)


def _read_through(traveller: time_machine.Traveller) -> bool:
    """Let `traveller` read each thread's wall clock from its view; False if it would not.

    The probe answers only this thread: any other thread reading the time
    meanwhile gets what `_wall_ns` gives it.
    """
    traveller.time_ns = _wall_ns  # type: ignore[method-assign]
    if type(traveller) in _travellers_reading_through:
        return True  # probed at an earlier bind: the same time-machine asks the same way
    _views.probing = True
    try:
        answered = time.time_ns() == _PROBE
    finally:
        _views.probing = False
    if not answered:
        del traveller.time_ns
    else:
        _travellers_reading_through.add(type(traveller))
    return answered


_travellers_reading_through: set[type] = set()


_PROBE = -1234567


def _wall_ns() -> int:
    """`time.time_ns()` as the calling thread sees it while a clock is bound."""
    view: View | None = getattr(_views, "top", None)
    clock = _clock
    if view is None or clock is None or view.retired:
        if getattr(_views, "probing", False):
            return _PROBE
        return _REAL_TIME_NS()
    return clock._start_ns + round((view.peek() - MONOTONIC_ORIGIN) * _NS)


def _wall_follower(clock: Clock, traveller: time_machine.Traveller) -> Callable[[float], None]:
    """Keep time-machine's instant on the clock's wall reading as the clock moves."""
    # time-machine turns a float shift into nanoseconds as round(delta * 1e9);
    # tracking what it applied keeps rounding from accumulating.
    applied = clock.wall_ns()

    def follow(_reading: float) -> None:
        nonlocal applied
        delta_ns = clock.wall_ns() - applied
        if delta_ns:
            seconds = delta_ns / _NS
            traveller.shift(seconds)
            applied += round(seconds * _NS)

    return follow


def _patch_time_module() -> None:
    for swap in _swaps.values():
        swap.swap()
    _saved_attributes.update(
        clock_gettime=time.clock_gettime,
        clock_gettime_ns=time.clock_gettime_ns,
    )
    if _swap_error is not None:
        # Without the swap, only the module's attributes can follow the clock.
        _warn_once_about(_swap_error)
        for name, replacement in _REPLACEMENTS.items():
            _saved_attributes[name] = getattr(time, name)
            setattr(time, name, replacement)
    # time-machine moves localtime, gmtime and strftime; ctime() and asctime()
    # with no argument read the C clock directly: give them the same instant.
    _saved_attributes.update(ctime=time.ctime, asctime=time.asctime)
    for name, make in _WRAPPERS.items():
        previous = getattr(time, name)
        made = _wrapped.get(name)
        if made is None or made[0] is not previous:
            made = _wrapped[name] = (previous, make(previous))
        setattr(time, name, made[1])


_WRAPPERS: dict[str, Callable[[Any], Callable[..., Any]]] = {
    "ctime": _ctime_for,
    "asctime": _asctime_for,
    "clock_gettime": _clock_gettime_for,
    "clock_gettime_ns": _clock_gettime_ns_for,
}
# Each wrapper made once for what it wraps, not at every bind.
_wrapped: dict[str, tuple[Any, Callable[..., Any]]] = {}


_warned: list[SwapUnsupported] = []


def _warn_once_about(error: SwapUnsupported) -> None:
    if not _warned:
        _warned.append(error)
        warnings.warn(
            f"simclock: {error}. Only the time module's attributes follow virtual time: "
            "clock functions bound by name before a run (from time import monotonic) "
            "keep reading real time.",
            RuntimeWarning,
            stacklevel=4,
        )


def _restore_time_module() -> None:
    for name, value in _saved_attributes.items():
        setattr(time, name, value)
    _saved_attributes.clear()
    for swap in _swaps.values():
        swap.restore()


# logging's `relativeCreated` is "milliseconds since logging was imported",
# measured with the wall clock: against a virtual wall clock it would come out
# as minus millions of seconds. During a run it counts from the run's start.
_saved_logging_start: list[object] = []


def _start_logging_clock(clock: Clock) -> None:
    logging = sys.modules.get("logging")
    start = getattr(logging, "_startTime", None)
    if logging is None or start is None:
        return
    _saved_logging_start.append(start)
    logging._startTime = clock.wall_ns() if isinstance(start, int) else clock.wall  # type: ignore[attr-defined]


def _restore_logging_clock() -> None:
    logging = sys.modules.get("logging")
    if logging is not None and _saved_logging_start:
        logging._startTime = _saved_logging_start.pop()  # type: ignore[attr-defined]

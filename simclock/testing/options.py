"""The settings of a simclock test: ini options, markers, seeds, and the loops they make."""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import inspect
import math
import threading
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from simclock.clock.clock import Clock, StartLike
from simclock.loop.loop import VirtualEventLoop, check_io_grace
from simclock.loop.outside import DEFAULT_IO_GRACE
from simclock.process import bindings
from simclock.timeline.timeline import Timeline

_DEFAULT_LIMIT = 86400.0

_T = TypeVar("_T")


_OPTIONS = {
    "start",
    "limit",
    "io_grace",
    "tick",
    "tick_loop",
    "seed",
    "drift",
    "awaits",
    "autojump",
    "compute",
}


_OWN_LOOP = pytest.StashKey["VirtualEventLoop"]()


# The test failed already: a leftover report would only repeat its story.
_FAILED = pytest.StashKey[bool]()


_FIXTURE_CLOCK = pytest.StashKey[Clock]()


class _NewestLoop:
    """The newest loop this plugin made, held weakly, and how many it made.

    The last four loops were held once: each closed loop outlived its test by
    four more and was freed in a later test's setup, which cost every test
    about 45 µs (measured, not explained; its objects gone cold, most likely).
    The clock is held, which keeps the clock a failure report reads there
    after the loop is gone (`bindings.last_bound`).
    """

    __slots__ = ("_loop", "clock", "made")

    def __init__(self) -> None:
        self._loop: weakref.ref[VirtualEventLoop] | None = None
        self.clock: Clock | None = None
        self.made = 0

    def record(self, loop: VirtualEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self.clock = loop.clock
        self.made += 1

    def loop(self) -> VirtualEventLoop | None:
        return self._loop() if self._loop is not None else None


newest = _NewestLoop()


@dataclass(frozen=True)
class _Options:
    start: StartLike | None
    limit: float | None
    io_grace: float = DEFAULT_IO_GRACE
    tick: float = 0.0
    seed: int | None = None
    drift: float = 0.0
    autojump: bool = True
    timeline: bool = True
    compute: str = "real"
    tick_loop: bool = False
    awaits: bool = False

    def clock(self) -> Clock:
        clock = Clock(
            self.start,
            tick=self.tick,
            seed=self.seed,
            drift=self.drift,
            awaits=self.awaits and self.seed is not None,  # explored runs only
            autojump=self.autojump,
            compute=self.compute,
            tick_loop=self.tick_loop,
        )
        if self.timeline:
            clock.timeline = Timeline()
        return clock


@dataclass(frozen=True)
class _Settings:
    """The ini file's simclock settings, read at start-up."""

    limit: float | None
    tick: float
    timeline_always: bool
    all: bool  # simclock_all
    io_grace: float = DEFAULT_IO_GRACE
    exclude: tuple[str, ...] = ()  # simclock_exclude


_SETTINGS = pytest.StashKey[_Settings]()


def _settings(config: pytest.Config) -> _Settings:
    settings = stashed(config, _SETTINGS)
    if settings is None:
        settings = _Settings(
            _default_limit(config),
            _default_tick(config),
            _timeline_always(config),
            bool(config.getini("simclock_all")),
            _default_io_grace(config),
            tuple(str(line).strip().rstrip("/") for line in config.getini("simclock_exclude")),
        )
        config.stash[_SETTINGS] = settings
    return settings


def _default_tick(config: pytest.Config) -> float:
    text = str(config.getini("simclock_tick")).strip()
    try:
        return float(text or 0)
    except ValueError:
        raise pytest.UsageError(
            f"simclock_tick must be a number of seconds, got {text!r}"
        ) from None


def _default_io_grace(config: pytest.Config) -> float:
    text = str(config.getini("simclock_io_grace")).strip()
    try:
        grace = float(text)
        check_io_grace(grace)  # the loop's own rule
    except ValueError:
        raise pytest.UsageError(
            f"simclock_io_grace must be a number of real seconds, 0 or more, got {text!r}"
        ) from None
    return grace


def _default_limit(config: pytest.Config) -> float | None:
    text = str(config.getini("simclock_limit")).strip().lower()
    if text in ("", "none", "inf"):
        return None
    try:
        limit = float(text)
    except ValueError:
        limit = math.nan
    if not limit > 0:
        raise pytest.UsageError(
            f"simclock_limit must be a positive number of virtual seconds or 'none', got {text!r}"
        )
    return limit


def _timeline_always(config: pytest.Config) -> bool:
    text = str(config.getini("simclock_timeline")).strip().lower()
    if text not in ("auto", "always"):
        raise pytest.UsageError(f"simclock_timeline must be 'auto' or 'always', got {text!r}")
    return text == "always"


def _records_timeline(node: pytest.Item | pytest.Collector | Any) -> bool:
    """Whether the loop made for `node` records a timeline.

    Recording costs a test about as much as pytest's own work for it, so with
    `simclock_timeline = auto` only a test that can read it (through the
    `simclock` fixture) pays; a loop shared by a scope is made once, and records.
    """
    if _settings(node.config).timeline_always:
        return True
    fixturenames = getattr(node, "fixturenames", None)
    return fixturenames is None or "simclock" in fixturenames


def stashed(node: pytest.Item | Any, key: pytest.StashKey[_T]) -> _T | None:
    """`node.stash.get(key, None)`, asked the cheap way.

    pytest's `get` finds a missing key by raising and catching a KeyError, and
    the hooks ask for keys that are missing, several times a test.
    """
    stash: pytest.Stash = node.stash
    return stash[key] if key in stash else None


# A node's options, worked out once: the hooks ask for them several times a test.
_NODE_OPTIONS = pytest.StashKey[tuple[_Options | None]]()


def _options(node: pytest.Item | pytest.Collector | Any) -> _Options | None:
    """The simclock options that apply to `node`, or None if it is not on the virtual clock."""
    stash: pytest.Stash | None = getattr(node, "stash", None)
    if stash is not None and _NODE_OPTIONS in stash:
        return stash[_NODE_OPTIONS][0]
    options = _work_out_options(node)
    if stash is not None:
        stash[_NODE_OPTIONS] = (options,)
    return options


_PYTESTS_LOOKUP = pytest.Item.get_closest_marker


def _closest_marker(node: pytest.Item | pytest.Collector | Any, name: str) -> pytest.Mark | None:
    """`node.get_closest_marker(name)`: the first mark of that name in the node's own
    markers, then in its parent's, up to the session, as pytest looks.

    pytest walks them through two generators (older pytest lists every parent
    first); a plain loop costs a test without the marker a fraction of that,
    and the hooks ask for every test. A node class with a lookup of its own
    is asked itself.
    """
    if getattr(type(node), "get_closest_marker", _PYTESTS_LOOKUP) is not _PYTESTS_LOOKUP:
        return node.get_closest_marker(name)  # a node class that looks its own way
    current = node
    while current is not None:
        for mark in getattr(current, "own_markers", ()):
            if getattr(mark, "name", None) == name:
                found: pytest.Mark = mark
                return found
        current = getattr(current, "parent", None)
    return None


def _work_out_options(node: pytest.Item | pytest.Collector | Any) -> _Options | None:
    config = node.config
    settings = _settings(config)
    marker = _closest_marker(node, "simclock")
    if marker is None:
        # Requesting the fixture asks for the clock, as the marker does.
        wants_clock = "simclock" in getattr(node, "fixturenames", ())
        if not wants_clock:
            if not (settings.all or config.getoption("simclock")):
                return None
            if settings.exclude and _excluded(node, settings.exclude):
                return None
    else:
        _check_marker_args(node, marker)
        if marker.args and not marker.args[0]:
            return None
    if _runs_on_another_backend(node):
        return None  # anyio's trio runs, say: never simclock's
    seed = _seed(node)
    if marker is None:
        return _Options(
            None,
            settings.limit,
            io_grace=settings.io_grace,
            tick=settings.tick,
            seed=seed,
            timeline=_records_timeline(node),
        )
    unknown = set(marker.kwargs) - _OPTIONS
    if unknown:
        raise pytest.UsageError(
            f"{node.nodeid}: @pytest.mark.simclock got unknown option(s) {sorted(unknown)}; "
            f"it takes {sorted(_OPTIONS)}"
        )
    limit = marker.kwargs.get("limit", settings.limit)
    return _Options(
        marker.kwargs.get("start"),
        None if limit == math.inf else limit,
        marker.kwargs.get("io_grace", settings.io_grace),
        marker.kwargs.get("tick", settings.tick),
        seed if seed is not None else marker.kwargs.get("seed"),
        marker.kwargs.get("drift", 0.0),
        marker.kwargs.get("autojump", True),
        _records_timeline(node),
        marker.kwargs.get("compute", "real"),
        marker.kwargs.get("tick_loop", False),
        marker.kwargs.get("awaits", False),
    )


def _excluded(node: Any, globs: tuple[str, ...]) -> bool:
    """Whether `node`'s file lies in a path `simclock_exclude` names (a glob or a folder)."""
    path = getattr(node, "path", None)
    if path is None:
        return False
    try:
        relative = Path(path).relative_to(node.config.rootpath).as_posix()
    except ValueError:
        return False
    for glob in globs:
        if fnmatch.fnmatchcase(relative, glob) or relative.startswith(glob + "/"):
            return True
    return False


def _check_marker_args(node: Any, marker: pytest.Mark) -> None:
    """The marker's one positional argument is True or False; the rest are named options."""
    if not marker.args or (len(marker.args) == 1 and isinstance(marker.args[0], bool)):
        return
    shown = ", ".join(repr(arg) for arg in marker.args)
    raise pytest.UsageError(
        f"{node.nodeid}: @pytest.mark.simclock({shown}): the only positional argument is "
        f"True or False (False opts out); give options by name, one of {sorted(_OPTIONS)}"
    )


def _explored_seed_of(node: Any) -> int | None:
    """The seed --simclock-explore gave this test instance, if it is one of its runs."""
    callspec = getattr(node, "callspec", None)
    if callspec is None or _EXPLORED_SEED not in callspec.params:
        return None
    seed: int = callspec.params[_EXPLORED_SEED]
    return seed


def _seed(node: Any) -> int | None:
    """The schedule seed of `node`: its explored seed, else --simclock-seed, else none."""
    explored = _explored_seed_of(node)
    if explored is not None:
        return explored
    chosen: int | None = node.config.getoption("simclock_seed")
    return chosen


def _make_loop(options: _Options) -> VirtualEventLoop:
    if options.seed is None and current.item is not None:
        # A factory pytest-asyncio got at collection, before --simclock-explore's
        # seed of this test instance was known: the test being set up has it.
        seed = _seed(current.item)
        if seed is not None:
            options = dataclasses.replace(options, seed=seed)
    loop = VirtualEventLoop(options.clock(), limit=options.limit, io_grace=options.io_grace)
    newest.record(loop)
    return loop


@functools.cache
def _loop_factory(options: _Options) -> Callable[[], VirtualEventLoop]:
    # One factory object per set of options: pytest-asyncio keys a shared
    # (module or session) loop by its factory, and a new object per test would
    # give every test a loop, and a timeline, of its own.
    return functools.partial(_make_loop, options)


def _shared_loop_factory(options: _Options) -> Callable[[], VirtualEventLoop]:
    """The factory of a loop that tests may share: it records a timeline for all of them.

    Tests that record and tests that do not must get the same factory, or they
    would not share the loop.
    """
    return _loop_factory(dataclasses.replace(options, timeline=True))


# A test whose loops are made by someone else: anyio's runner for a test that
# shares an async fixture with other tests, unittest's IsolatedAsyncioTestCase,
# another asyncio plugin's loop fixture (aiohttp's), a sync test's own
# asyncio.run() or portal thread. Its loop factory, for the loops asyncio
# makes by default while the test sets up, runs and tears down.
_TEST_LOOPS = pytest.StashKey[Callable[[], VirtualEventLoop]]()


class TestLoops:
    """The loops one test makes, every one on the test's one clock (made at the first)."""

    def __init__(self, options: _Options, clock: Clock | None = None) -> None:
        """`clock`: the test's clock, if it has one already (bound by the caller)."""
        self._options = options
        self.clock: Clock | None = clock
        self._release: Callable[[], None] | None = None
        # Threads of one test may make their first loops at once.
        self._first = threading.Lock()

    def __call__(self) -> VirtualEventLoop:
        if self.clock is None:
            with self._first:
                if self.clock is None:
                    loop = _make_loop(self._options)
                    # Held until the test ends: its loops' runs then cost no bind
                    # each (an IsolatedAsyncioTestCase runs five).
                    try:
                        self._release = bindings.hold(loop.clock)
                    except BaseException:
                        loop.close()  # the loop fixture never got it: nobody else would
                        raise
                    self.clock = loop.clock
                    return loop
        options = self._options
        loop = VirtualEventLoop(self.clock, limit=options.limit, io_grace=options.io_grace)
        newest.record(loop)
        return loop

    def close(self) -> None:
        """The test is over: let the process clocks go."""
        if self._release is not None:
            self._release()
            self._release = None


def bind_sync_test(item: pytest.Item, options: _Options) -> tuple[contextlib.ExitStack, TestLoops]:
    """A sync test's clock, bound for its thread, and the factory of the loops it makes.

    The `simclock` fixture and `--simclock` both put a sync test on its clock
    this way; closing the stack lets the clock go. The clock is stashed for the
    failure report.
    """
    clock = item.stash[_FIXTURE_CLOCK] = options.clock()
    binding = contextlib.ExitStack()
    binding.enter_context(bindings.bound(clock))
    return binding, TestLoops(options, clock)


_EXPLORED_SEED = "_simclock_explored_seed"


def _runs_on_another_backend(node: Any) -> bool:
    """A test that is not asyncio's: pytest-trio's, or anyio's run on another backend."""
    if _trio_runs(node):
        return True
    callspec = getattr(node, "callspec", None)
    backend = callspec.params.get("anyio_backend") if callspec is not None else None
    if isinstance(backend, tuple):
        backend = backend[0] if backend else None
    return isinstance(backend, str) and backend != "asyncio"


def _trio_runs(node: Any) -> bool:
    """pytest-trio runs this test: it carries the `trio` marker, or the suite sets `trio_mode`."""
    if _closest_marker(node, "trio") is not None:
        return True
    config = node.config
    if not config.pluginmanager.has_plugin("trio"):
        return False
    try:
        return bool(config.getini("trio_mode"))
    except ValueError:  # another plugin named "trio" that has no such setting
        return False


def _is_async_test(item: pytest.Item) -> bool:
    function = getattr(item, "obj", None)
    if type(function) is types.MethodType:
        function = function.__func__  # a test method of a class
    if type(function) is types.FunctionType and function.__code__.co_flags & inspect.CO_COROUTINE:
        return True  # a plain `async def`, asked every test: inspect's way takes five calls
    return inspect.iscoroutinefunction(function)


@dataclass
class _Current:
    """The test whose setup is running, for loop factories called during it."""

    item: pytest.Item | None = None


current = _Current()

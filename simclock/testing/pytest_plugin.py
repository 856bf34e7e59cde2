"""The pytest plugin: `@pytest.mark.simclock`, the `simclock` fixture, and `--simclock`.

A thin shell over the public API. Which loop a marked async test runs on:

- pytest-asyncio owns the test (it carries `asyncio` or runs in auto mode):
  while its loop fixture is set up for a simclock node, asyncio's default loop
  factory makes virtual loops (`simclock.replay.virtual_loops`; no policy API
  is used). In a suite that answers pytest-asyncio's (1.4+)
  `pytest_asyncio_loop_factories` hook itself, simclock answers it too, for
  explicitly marked tests only.
- Nobody else owns it (pytest-asyncio absent, disabled with `-p no:asyncio`,
  or strict mode without the `asyncio` marker): simclock runs the test itself
  on a fresh loop, function-scoped async fixtures included.

A loop shared by a module or session scope is virtual when its scope node is
a simclock node, and its tests then share one timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import re
import sys
import warnings
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator, Iterator
from typing import Any

import pytest

from simclock.clock.clock import Clock
from simclock.errors import SimclockError
from simclock.loop.loop import VirtualEventLoop, check_io_grace, check_limit
from simclock.loop.outside import DEFAULT_IO_GRACE
from simclock.process import bindings
from simclock.process.loops import virtual_loops
from simclock.testing.fixture import ClockFixture, simclock_fixture
from simclock.testing.options import (
    _DEFAULT_LIMIT,
    _EXPLORED_SEED,
    _FAILED,
    _FIXTURE_CLOCK,
    _OWN_LOOP,
    _TEST_LOOPS,
    TestLoops,
    _closest_marker,
    _explored_seed_of,
    _is_async_test,
    _loop_factory,
    _make_loop,
    _options,
    _settings,
    _shared_loop_factory,
    bind_sync_test,
    current,
    newest,
    stashed,
)
from simclock.testing.reports import (
    SimclockLeftoverTasksWarning,
    _failure_report,
    _report_leftovers,
)
from simclock.testing.testcase import VirtualClockTestCase

# simclock_fixture: pytest finds a plugin's fixtures among its names.
__all__ = [
    "ClockFixture",
    "SimclockLeftoverTasksWarning",
    "SimclockOverrideWarning",
    "simclock_fixture",
]

_LOOP_FIXTURE = re.compile(
    r"^(event_loop|_session_event_loop|.*::<event_loop>"
    r"|_(function|class|module|package|session)_scoped_runner)$"
)


class SimclockOverrideWarning(UserWarning):
    """An explicit simclock marker replaced loops a suite chose for itself."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simclock", "virtual time for asyncio tests")
    group.addoption(
        "--simclock",
        action="store_true",
        default=False,
        help="run every async test on simclock's virtual clock",
    )
    group.addoption(
        "--simclock-seed",
        type=int,
        default=None,
        metavar="SEED",
        help="run simclock tests on the schedule SEED picks (replays an explored failure)",
    )
    group.addoption(
        "--simclock-explore",
        type=int,
        default=0,
        metavar="N",
        help="run each async simclock test on up to N seeded schedules (from --simclock-seed, "
        "or 0), stopping at the first that fails",
    )
    group.addoption(
        "--simclock-explore-all",
        action="store_true",
        default=False,
        help="with --simclock-explore: run all N schedules of each test, failing or not",
    )
    group.addoption(
        "--simclock-explore-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --simclock-explore: stop exploring a test once its schedules have taken "
        "this many real seconds",
    )
    parser.addini("simclock_all", "run every async test on the virtual clock", "bool", False)
    parser.addini(
        "simclock_limit",
        "default virtual time limit of a simclock test in seconds ('none' for no limit)",
        default=str(_DEFAULT_LIMIT),
    )
    parser.addini(
        "simclock_tick",
        "virtual seconds each read of time.monotonic()/perf_counter() moves the clock (default 0)",
        default="0",
    )
    parser.addini(
        "simclock_io_grace",
        "real seconds a simclock test waits for a peer outside the process to answer before "
        f"virtual time moves on (default {DEFAULT_IO_GRACE:g})",
        default=str(DEFAULT_IO_GRACE),
    )
    parser.addini(
        "simclock_timeline",
        "which simclock tests record a timeline: 'auto' (those using the simclock fixture, "
        "and loops shared by a module or session) or 'always'",
        default="auto",
    )
    parser.addini(
        "simclock_exclude",
        "paths (globs, relative to the rootdir) whose tests --simclock and simclock_all leave "
        "on real time, one per line; a test's own simclock marker still counts",
        "linelist",
        [],
    )
    parser.addini(
        "simclock_strict_tasks",
        "fail a simclock test that leaves tasks pending, instead of warning",
        "bool",
        False,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "simclock(enabled=True, *, start=None, limit=None, io_grace=1.0, tick=0, seed=None, "
        "drift=0, awaits=False, autojump=True): run this async test on simclock's virtual clock; "
        "simclock(False) opts out of --simclock",
    )
    # Read once; bad settings fail before any test runs.
    _settings(config)
    budget = config.getoption("simclock_explore_budget")
    if budget is not None and not budget > 0:  # NaN too
        raise pytest.UsageError(
            f"--simclock-explore-budget takes a positive number of real seconds, got {budget}"
        )
    _keep_pytest_timing_real(config)
    # simclock's hooks on classes (Thread.start, BaseEventLoop.run_forever) stay on,
    # inert, from one test's clock to the next: see bindings.hooks_stay.
    staying = contextlib.ExitStack()
    staying.enter_context(bindings.hooks_stay())
    config.add_cleanup(staying.close)


def _keep_pytest_timing_real(config: pytest.Config) -> None:
    """pytest's own timer (`--durations`, junit times) reads real time, whatever is bound.

    pytest reads its clocks through `_pytest.timing`, which holds `time.time`
    and `time.perf_counter` by name; simclock swaps the functions beneath
    such names while a sync test's clock is bound, so a duration would start
    on the real counter and stop on the virtual one.
    """
    timing = sys.modules.get("_pytest.timing")
    if timing is None:
        return
    for name, real in (("perf_counter", bindings.real_perf_counter), ("time", bindings.real_time)):
        if hasattr(timing, name):
            config.add_cleanup(functools.partial(setattr, timing, name, getattr(timing, name)))
            setattr(timing, name, real)


@pytest.hookimpl(trylast=True)  # after -k and -m deselected what will not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers that cannot work fail the run at once, every one named in one report."""
    problems = []
    for item in items:
        if _closest_marker(item, "simclock") is None:
            continue
        try:
            problem = _marker_problem(item)
        except pytest.UsageError as error:  # a positional argument, an unknown option
            problem = str(error)
        if problem:
            problems.append(problem)
    if problems:
        count = f"{len(problems)} bad simclock marker" + ("s" if len(problems) > 1 else "")
        raise pytest.UsageError("\n".join([f"{count}:", *problems]))


# Marker options already found good: most tests of a suite share theirs, and a
# clock is not built again to check them.
_VALID_OPTIONS = pytest.StashKey[set[Any]]()


def _marker_problem(item: pytest.Item) -> str | None:
    """What is wrong with the simclock marker that applies to `item`, if anything."""
    options = _options(item)  # a bad positional argument or an unknown option raises
    if options is None:
        return None  # simclock(False), or anyio's trio runs
    valid = item.config.stash.setdefault(_VALID_OPTIONS, set())
    try:
        known = options in valid
    except TypeError:  # an unhashable start: checked for every test that has it
        known = False
    if not known:
        try:
            options.clock()
            check_limit(options.limit)
            check_io_grace(options.io_grace)
        except (TypeError, ValueError) as error:
            return f"{item.nodeid}: @pytest.mark.simclock: {error}"
        with contextlib.suppress(TypeError):
            valid.add(options)
    if _marks_a_sync_test_in_vain(item):
        return (
            f"{item.nodeid}: @pytest.mark.simclock on a sync test does nothing without "
            "the simclock fixture: request it (def test_...(simclock)) to put time.time() "
            "and asyncio.run() on a virtual clock, or remove the marker"
        )
    return None


def _marks_a_sync_test_in_vain(item: pytest.Item) -> bool:
    """The marker sits on this very sync test function, which does not use the fixture.

    A marker on a class or module covers its sync tests too, without complaint.
    """
    if not isinstance(item, pytest.Function) or _is_async_test(item) or _asyncio_owns(item):
        return False
    if not any(mark.name == "simclock" for mark in item.own_markers):
        return False
    inner = getattr(getattr(item.obj, "hypothesis", None), "inner_test", None)
    if inner is not None and _is_async_function(inner):
        return False  # hypothesis wraps an async test in a sync one
    if _is_unittest(item):
        return False  # unittest runs it: VirtualClockTestCase is the way there
    return "simclock" not in item.fixturenames


@pytest.fixture(name=_EXPLORED_SEED)
def _explored_seed(request: pytest.FixtureRequest) -> int:
    """The seed a test explored with --simclock-explore runs on (read through `_seed`)."""
    seed: int = request.param
    return seed


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    runs = metafunc.config.getoption("simclock_explore")
    if not runs:
        return
    if runs < 0:
        raise pytest.UsageError(f"--simclock-explore takes a positive number of runs, got {runs}")
    if not inspect.iscoroutinefunction(metafunc.function):
        return
    if _options(metafunc.definition) is None:
        return
    first = metafunc.config.getoption("simclock_seed") or 0
    seeds = list(range(first, first + runs))
    metafunc.fixturenames.append(_EXPLORED_SEED)
    metafunc.parametrize(
        _EXPLORED_SEED, seeds, ids=[f"simclock-seed={seed}" for seed in seeds], indirect=True
    )


# --simclock-explore: the schedules tried of each test, and those that failed.

_EXPLORED = pytest.StashKey[dict[str, "_Explored"]]()
# A sync test's clock binding, from its setup to the end of its teardown.
_BINDING = pytest.StashKey[contextlib.ExitStack]()
_SEED_ID = re.compile(r"-?simclock-seed=\d+-?")


class _Explored:
    def __init__(self, planned: int) -> None:
        self.planned = planned
        self.tried: list[int] = []
        self.failed: list[int] = []
        #: Real seconds its schedules took (setup, call and teardown).
        self.spent = 0.0
        #: Distinct schedules taken, by their deviations from asyncio's order.
        self.distinct: set[tuple[tuple[int, tuple[int, ...]], ...]] = set()


def _explored(item: pytest.Item) -> _Explored:
    """The exploration record of `item`'s test: its node id without the seed."""
    records = item.config.stash.setdefault(_EXPLORED, {})
    test = _SEED_ID.sub("-", item.nodeid).replace("[-", "[").replace("-]", "]").replace("[]", "")
    record = records.get(test)
    if record is None:
        record = records[test] = _Explored(item.config.getoption("simclock_explore"))
    return record


def _skip_once_a_schedule_failed(item: pytest.Item) -> None:
    """Without --simclock-explore-all, a test's exploration stops at its first failing schedule."""
    seed = _explored_seed_of(item)
    if seed is None:
        return
    record = _explored(item)
    budget = item.config.getoption("simclock_explore_budget")
    if budget is not None and record.spent >= budget:
        reason = (
            f"schedule exploration of this test stopped: its budget of {budget:g} real "
            f"seconds is spent ({len(record.tried)} schedules tried)"
        )
        item.add_marker(pytest.mark.skip(reason=reason))
        return
    if item.config.getoption("simclock_explore_all"):
        return
    if record.failed:
        # A marker, skipped by pytest's own setup: raised here, in a wrapper that runs
        # before the others', it would leave their teardowns without their setups.
        reason = (
            f"schedule exploration of this test stopped: seed {record.failed[0]} fails "
            "(--simclock-explore-all runs every schedule)"
        )
        item.add_marker(pytest.mark.skip(reason=reason))


def _count_explored(
    item: pytest.Item, report: pytest.TestReport, clock: Clock | None = None
) -> None:
    seed = _explored_seed_of(item)
    if seed is None or report.skipped:
        return
    # Tried once its call ran, or once its setup failed; a failure at any stage counts.
    record = _explored(item)
    record.spent += report.duration
    if report.when == "call" and clock is not None and clock.schedule is not None:
        record.distinct.add(clock.schedule.fingerprint())
    tried = report.when == "call" or (report.when == "setup" and report.failed)
    if tried and seed not in record.tried:
        record.tried.append(seed)
    if report.failed and seed not in record.failed:
        record.failed.append(seed)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    records = stashed(config, _EXPLORED)
    if not records:
        return
    terminalreporter.section("simclock schedule exploration")
    budget = config.getoption("simclock_explore_budget")
    for test, record in records.items():
        tried = len(record.tried)
        distinct = f" ({len(record.distinct)} distinct)" if record.distinct else ""
        spent = (
            f"; stopped by its budget of {budget:g} s"
            if budget is not None and record.spent >= budget and tried < record.planned
            else ""
        )
        if not record.failed:
            terminalreporter.line(f"{test}: {tried} schedules tried{distinct}, none failed{spent}")
            continue
        if config.getoption("simclock_explore_all"):
            seeds = ", ".join(str(seed) for seed in sorted(record.failed))
            terminalreporter.line(
                f"{test}: {len(record.failed)} of {tried} schedules failed (seeds {seeds}); "
                f"replay one with --simclock-seed=SEED"
            )
            continue
        first = record.failed[0]
        terminalreporter.line(
            f"{test}: failed on schedule seed={first}, the {_ordinal(tried)} tried; "
            f"{record.planned - tried} not tried (--simclock-explore-all runs them); "
            f"replay it with --simclock-seed={first}"
        )


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _asyncio_owns(item: pytest.Item) -> bool:
    config = item.config
    if not config.pluginmanager.has_plugin("asyncio"):
        return False
    if _closest_marker(item, "asyncio") is not None:
        return True
    return str(config.getini("asyncio_mode")) == "auto"


# pytest-asyncio 1.4 and later, in a suite that answers `pytest_asyncio_loop_factories`.
#
# Any implementation of that hook makes pytest-asyncio parametrize every async
# test with the factories it returns, which costs each test a fixture. So
# simclock implements it only once another plugin or a conftest does: then an
# explicit marker must override the suite's answer. Otherwise a simclock test
# gets its loop the way it does under pytest-asyncio 0.23 to 1.3, from asyncio's
# default loop factory while the loop fixture is set up.

_HOOK_FACTORY = "_asyncio_loop_factory"  # pytest-asyncio's fixture of the chosen factory


class _MarkerOverridesSuiteLoops:
    """Answers `pytest_asyncio_loop_factories` for simclock tests, over the suite's answer."""

    @pytest.hookimpl(wrapper=True, optionalhook=True)
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> Generator[None, Any, Any]:
        result = yield
        options = _options(item)
        if options is None:
            # No answer is a UsageError once any implementation exists (the
            # suite's may answer only for its own directory).
            return result if result is not None else {"default": asyncio.new_event_loop}
        if result is not None and _closest_marker(item, "simclock") is None:
            # --simclock and simclock_all leave a suite's own loops be.
            return result
        if result is not None:
            warnings.warn(
                SimclockOverrideWarning(
                    f"{item.nodeid}: @pytest.mark.simclock replaces the suite's own loop "
                    f"factories {sorted(result)} with simclock's virtual loop"
                ),
                stacklevel=1,
            )
        # pytest-asyncio shares a loop between tests by their factory.
        return {"simclock": _shared_loop_factory(options)}


_OVERRIDE_PLUGIN = "simclock-loop-factories"


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    if isinstance(plugin, _MarkerOverridesSuiteLoops):
        return
    if not callable(getattr(plugin, "pytest_asyncio_loop_factories", None)):
        return
    if manager.get_plugin(_OVERRIDE_PLUGIN) is None:
        manager.register(_MarkerOverridesSuiteLoops(), _OVERRIDE_PLUGIN)


def _hook_chose_loop(item: pytest.Item | None) -> bool:
    """Whether a `pytest_asyncio_loop_factories` answer gives `item` its loop factory."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get(_HOOK_FACTORY) is not None


# pytest-asyncio 0.23 to 1.3, and the loops simclock runs itself.


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
    item = getattr(request, "_pyfuncitem", None)
    own_loop = stashed(item, _OWN_LOOP) if item is not None else None
    function = fixturedef.func
    if own_loop is not None and _is_async_function(function):
        if fixturedef.scope != "function":
            raise pytest.UsageError(
                f"async fixture {fixturedef.argname!r} has scope {fixturedef.scope!r}: "
                "simclock runs this test on a loop of its own (neither pytest-asyncio nor "
                "anyio owns it), and runs its async fixtures on that loop, so they must be "
                "function-scoped; or let pytest-asyncio own the test (its asyncio marker) and "
                "give the fixture a loop_scope"
            )
        fixturedef.func = _on_loop(own_loop, function)  # type: ignore[misc]
        try:
            return (yield)
        finally:
            fixturedef.func = function  # type: ignore[misc]
    if _LOOP_FIXTURE.match(fixturedef.argname) is None:
        return (yield)
    options = _options(request.node)
    if options is None:
        return (yield)
    made_before = newest.made
    test_loops = stashed(item, _TEST_LOOPS) if item is not None else None
    if _hook_chose_loop(item):
        result = yield  # simclock's factory, or the suite's kept under --simclock
    elif test_loops is not None and fixturedef.scope == "function":
        # A sync test's async fixture: pytest-asyncio's loop for it joins the
        # clock the test is already bound to, as every loop the test makes does.
        with virtual_loops(test_loops):
            result = yield
    else:
        with virtual_loops(_loop_factory(options)):
            result = yield
    if item is not None and fixturedef.scope == "function" and newest.made != made_before:
        loop = newest.loop()  # held by the loop fixture's value: alive
        # Registered after the loop fixture's own teardown, so it runs before it:
        # once every fixture using the loop has torn down, while the loop is open.
        fixturedef.addfinalizer(functools.partial(_report_leftovers, item, loop))
    return result


def _is_async_function(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _on_loop(loop: VirtualEventLoop, function: Callable[..., Any]) -> Callable[..., Any]:
    """A sync stand-in for an async fixture function that runs it on `loop`."""
    if inspect.isasyncgenfunction(function):

        @functools.wraps(function)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            agen: AsyncGenerator[Any, None] = function(*args, **kwargs)
            yield loop.run_until_complete(agen.__anext__())
            try:
                loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
            raise RuntimeError(f"async fixture {function.__name__} yielded more than once")

        return generator

    @functools.wraps(function)
    def coroutine(*args: Any, **kwargs: Any) -> Any:
        awaitable: Coroutine[Any, Any, Any] = function(*args, **kwargs)
        return loop.run_until_complete(awaitable)

    return coroutine


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    current.item = item
    bindings.forget_last_bound()
    _skip_once_a_schedule_failed(item)
    if _options(item) is None:
        return (yield)  # neither marked, nor asking for the clock, nor under --simclock
    factory: Callable[[], VirtualEventLoop] | None = None
    if _is_unittest(item) and _is_async_test(item):
        # unittest runs it (IsolatedAsyncioTestCase makes its own loop); and
        # VirtualClockTestCase brings its own clock.
        options = None if _is_virtual_clock_test_case(item) else _options(item)
        if options is not None:
            factory = TestLoops(options)
    elif _is_async_test(item):
        options = None if _asyncio_owns(item) else _options(item)
        if options is None:
            return (yield)
        if _anyio_owns(item) and _uses_a_shared_async_fixture(item):
            # The loop is shared with the fixture's other tests.
            factory = _shared_loop_factory(options)
        elif _another_plugin_runs(item):
            factory = TestLoops(options)  # its loop fixture makes the loop: a virtual one
        else:
            item.stash[_OWN_LOOP] = _make_loop(options)
            return (yield)
    else:
        # A sync test runs on its clock, as with the fixture (which then does it):
        # its thread lives on the clock, and so does every loop its code makes
        # (asyncio.run, a TestClient's portal thread, asgiref's bridges), and
        # the thread waiting on them is a member of their bubble.
        options = None if "simclock" in getattr(item, "fixturenames", ()) else _options(item)
        if options is not None:
            item.stash[_BINDING], factory = bind_sync_test(item, options)
    if factory is None:
        return (yield)
    item.stash[_TEST_LOOPS] = factory
    with virtual_loops(factory):
        result = yield
    _virtual_loop_factory_for(item, factory)
    return result


def _virtual_loop_factory_for(item: pytest.Item, factory: Callable[[], VirtualEventLoop]) -> None:
    """A test case that names asyncio's own loop class (3.14's test cases set
    `loop_factory = asyncio.EventLoop`) gets the test's virtual loops instead.

    Set on the test case instance pytest made in setup: its class is left alone.
    """
    case = getattr(item, "_testcase", None)
    chosen = getattr(case, "loop_factory", None)
    if isinstance(chosen, type) and issubclass(chosen, asyncio.BaseEventLoop):
        if not issubclass(chosen, VirtualEventLoop):
            case.loop_factory = factory  # type: ignore[union-attr]


def _class_of(item: pytest.Item) -> Any:
    """`item.cls`: the class the test is defined in, if it has one.

    A test function in a module has the module for parent, and no class above
    it; pytest's `cls` would look through every parent up to the session.
    """
    if isinstance(getattr(item, "parent", None), pytest.Module):
        return None
    return getattr(item, "cls", None)


def _is_unittest(item: pytest.Item) -> bool:
    cls = _class_of(item)
    testcase = getattr(sys.modules.get("unittest"), "TestCase", None)
    return cls is not None and testcase is not None and issubclass(cls, testcase)


def _is_virtual_clock_test_case(item: pytest.Item) -> bool:
    cls = _class_of(item)
    return isinstance(cls, type) and issubclass(cls, VirtualClockTestCase)


# Whether a plugin besides these may run an async test itself, by test file.
_OTHER_RUNNERS = pytest.StashKey[dict[str, bool]]()
# Plugins whose pytest_pyfunc_call does not run an asyncio test on a loop of its own.
_PYFUNC_CALL_PLUGINS_LEFT_ALONE = (
    "_pytest.",
    "simclock.",
    "pytest_asyncio.",
    "anyio.",
    "pytest_trio.",
)


def _another_plugin_runs(item: pytest.Item) -> bool:
    """Another plugin or a conftest may run this async test itself (`pytest_pyfunc_call`).

    aiohttp's plugin, say, runs a test on its `loop` fixture, where its
    `aiohttp_client` started the app: the test stays with it, on a virtual
    loop. Should it leave the call after all, simclock runs the test (see
    `_left_to_another_plugin`).
    """
    # The same for every test of a directory (conftests apply by directory): asked once.
    known = item.config.stash.setdefault(_OTHER_RUNNERS, {})
    where = str(getattr(item, "path", ""))
    found = known.get(where)
    if found is None:
        found = known[where] = any(
            not (getattr(impl.plugin, "__name__", "") + ".").startswith(
                _PYFUNC_CALL_PLUGINS_LEFT_ALONE
            )
            for impl in item.ihook.pytest_pyfunc_call.get_hookimpls()
        )
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    factory = stashed(item, _TEST_LOOPS)
    if factory is None:
        if _anyio_owns(item) and isinstance(_anyio_runner_loop(), VirtualEventLoop):
            if _options(item) is None:
                pytest.fail(
                    f"{item.nodeid} is not a simclock test, but anyio runs it on the virtual "
                    "loop a shared async fixture started on for an earlier simclock test. "
                    "Mark the fixture's whole scope alike (or none of it)",
                    pytrace=False,
                )
        return (yield)
    loop = _anyio_runner_loop() if _anyio_owns(item) else None
    if loop is not None and not isinstance(loop, VirtualEventLoop):
        pytest.fail(
            f"{item.nodeid} cannot run on simclock: anyio runs it on the real loop that a "
            "shared async fixture started on for an earlier test. Mark the fixture's whole "
            "scope (pytestmark = pytest.mark.simclock, or --simclock)",
            pytrace=False,
        )
    with virtual_loops(factory):
        return (yield)


def _anyio_owns(item: pytest.Item) -> bool:
    return "anyio_backend" in getattr(item, "fixturenames", ())


def _uses_a_shared_async_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        definitions[-1].scope != "function" and _is_async_function(definitions[-1].func)
        for definitions in info.name2fixturedefs.values()
        if definitions
    )


def _anyio_runner_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop of the test runner anyio's plugin holds now, if any."""
    runner = getattr(sys.modules.get("anyio.pytest_plugin"), "_current_runner", None)
    get_loop = getattr(runner, "get_loop", None)  # asyncio's runners have one
    loop = get_loop() if get_loop is not None else None
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    loop = stashed(pyfuncitem, _OWN_LOOP)
    if loop is None:
        factory = stashed(pyfuncitem, _TEST_LOOPS)
        if isinstance(factory, TestLoops) and _is_async_test(pyfuncitem):
            return _left_to_another_plugin(pyfuncitem, factory)
        return None
    _run_on(loop, pyfuncitem)
    return True


def _run_on(loop: asyncio.AbstractEventLoop, item: pytest.Function) -> None:
    """Run the async test function `item` to its end on `loop`, with its fixtures' values."""
    arguments = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    loop.run_until_complete(item.obj(**arguments))


def _left_to_another_plugin(item: pytest.Function, factory: TestLoops) -> bool:
    """Let the other plugins that may run `item` run it; if none does, run it on the clock.

    Asked first, as they would be without simclock (pytest's own default, which
    fails an async test, is left out): aiohttp's plugin runs the test on its
    `loop` fixture, a virtual loop from `factory` under `virtual_loops`.
    """
    applicable = {impl.plugin for impl in item.ihook.pytest_pyfunc_call.get_hookimpls()}
    # Plugins whose hooks do not apply here (other directories' conftests), and ours
    # and pytest's default.
    left_out = {
        impl.plugin
        for impl in item.config.hook.pytest_pyfunc_call.get_hookimpls()
        if impl.plugin not in applicable
        or getattr(impl.plugin, "__name__", "") in (__name__, "_pytest.python")
    }
    others = item.config.pluginmanager.subset_hook_caller(
        "pytest_pyfunc_call", remove_plugins=left_out
    )
    if others(pyfuncitem=item) is not None:
        return True
    loop = factory()
    try:
        _run_on(loop, item)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return True


# A new-style wrapper: what it raises after the teardown (a leftover-tasks report
# under `filterwarnings = error`, or under `simclock_strict_tasks`) is the test's
# teardown error, not a plugin's.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    current.item = None
    factory = stashed(item, _TEST_LOOPS)
    if factory is not None:
        try:
            with virtual_loops(factory):
                return (yield)
        finally:
            if isinstance(factory, TestLoops):
                factory.close()
            binding = stashed(item, _BINDING)
            if binding is not None:
                del item.stash[_BINDING]
                binding.close()
    try:
        yield
    finally:
        _close_own_loop(item)


def _close_own_loop(item: pytest.Item) -> None:
    """Report the tasks the test left, cancel them and close the loop simclock ran it on."""
    loop = stashed(item, _OWN_LOOP)
    if loop is None or loop.is_closed():
        return
    try:
        _report_leftovers(item, loop)  # may raise: then the tasks are still cancelled
    finally:
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _test_clock(item: pytest.Item) -> Clock | None:
    """The clock `item` ran on, if it ran on one."""
    loop = stashed(item, _OWN_LOOP)
    loops = stashed(item, _TEST_LOOPS)
    clock = loop.clock if loop is not None else bindings.last_bound()
    clock = clock or stashed(item, _FIXTURE_CLOCK)
    if clock is None and isinstance(loops, TestLoops):
        clock = loops.clock  # None if the test made no loop
    return clock


def _report_stalls_briefly(
    item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport
) -> None:
    """A deadlock, livelock or time limit: its own report, not the loop's frames above it.

    Its message already says where every task waits; the traceback would add
    only the plugin's hooks and asyncio's `run_forever`. `--tb=long` or
    `--fulltrace` keep the whole traceback.
    """
    excinfo = call.excinfo
    if excinfo is None or not excinfo.errisinstance(SimclockError):
        return
    if item.config.getoption("fulltrace", False) or item.config.getoption("tbstyle") == "long":
        return
    report.longrepr = excinfo.exconly()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
        _report_stalls_briefly(item, call, report)
    explored = _explored_seed_of(item) is not None
    if explored or (report.failed and _options(item) is not None):
        clock = _test_clock(item)
        _count_explored(item, report, clock)
        if report.failed and _options(item) is not None and clock is not None:
            report.sections.append(("simclock", _failure_report(clock)))
    if call.when == "teardown":
        # Items live as long as the session; the loop, clock and timeline must not.
        keys: tuple[pytest.StashKey[Any], ...] = (_OWN_LOOP, _FIXTURE_CLOCK, _TEST_LOOPS, _FAILED)
        for key in keys:
            if key in item.stash:
                del item.stash[key]
    return report

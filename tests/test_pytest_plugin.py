"""The pytest plugin, run on inner test sessions with and without pytest-asyncio."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HOUR_TEST = textwrap.dedent("""
    import asyncio, datetime, time
    import pytest

    {marks}
    async def test_an_hour_passes_in_no_time():
        wall, now, mono = time.time(), datetime.datetime.now(), time.monotonic()
        async with asyncio.timeout(3601):
            await asyncio.sleep(3600)
        assert time.time() - wall == 3600
        assert datetime.datetime.now() - now == datetime.timedelta(hours=1)
        assert time.monotonic() - mono == 3600
        assert type(asyncio.get_running_loop()).__name__ == "VirtualEventLoop"
""")

REAL_TEST = textwrap.dedent("""
    import asyncio, time
    import pytest

    {marks}
    async def test_unmarked_runs_on_a_real_loop():
        assert type(asyncio.get_running_loop()).__name__ != "VirtualEventLoop"
        start = time.monotonic()
        await asyncio.sleep(0.01)
        assert time.monotonic() - start >= 0.01
""")

WITH_ASYNCIO = [
    "-p",
    "asyncio",
    "-o",
    "asyncio_mode=strict",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
]
NO_ASYNCIO = ["-p", "no:asyncio"]


def _pytest_asyncio_before(version: tuple[int, int]) -> bool:
    pytest_asyncio = pytest.importorskip("pytest_asyncio")
    return tuple(map(int, pytest_asyncio.__version__.split(".")[:2])) < version


def write(pytester: pytest.Pytester, source: str, name: str = "test_inner") -> None:
    pytester.makepyfile(**{name: textwrap.dedent(source)})


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-W", "error::pytest.PytestUnraisableExceptionWarning", *args
    )


@pytest.mark.parametrize(
    ("marks", "args"),
    [
        ("@pytest.mark.asyncio\n@pytest.mark.simclock", WITH_ASYNCIO),
        ("@pytest.mark.simclock", ["-o", "asyncio_mode=auto"]),
        ("@pytest.mark.simclock", WITH_ASYNCIO),
        ("@pytest.mark.simclock", NO_ASYNCIO),
        ("@pytest.mark.asyncio\n@pytest.mark.simclock", NO_ASYNCIO),
    ],
    ids=[
        "asyncio-marker",
        "asyncio-auto",
        "asyncio-strict-unmarked",
        "no-asyncio",
        "asyncio-marker-but-no-asyncio",
    ],
)
def test_marked_test_sleeps_an_hour_on_every_clock(pytester, marks, args):
    write(pytester, HOUR_TEST.format(marks=marks))
    result = run(pytester, *args)
    result.assert_outcomes(passed=1)


def test_plugin_survives_pytest_asyncio_being_uninstalled(pytester):
    pytester.makeconftest("import sys\nsys.modules['pytest_asyncio'] = None\n")
    write(pytester, HOUR_TEST.format(marks="@pytest.mark.simclock"))
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=1)


@pytest.mark.parametrize("args", [WITH_ASYNCIO, ["-o", "asyncio_mode=auto"]])
def test_unmarked_tests_keep_the_real_loop(pytester, args):
    marks = "@pytest.mark.asyncio" if args is WITH_ASYNCIO else ""
    write(pytester, REAL_TEST.format(marks=marks))
    run(pytester, *args).assert_outcomes(passed=1)


@pytest.mark.parametrize("how", ["--simclock", "ini"])
def test_every_async_test_can_be_put_on_the_clock_and_one_opted_out(pytester, how):
    write(pytester, HOUR_TEST.format(marks=""), "test_hour")
    write(pytester, REAL_TEST.format(marks="@pytest.mark.simclock(False)"), "test_real")
    args = ["--simclock"] if how == "--simclock" else ["-o", "simclock_all=true"]
    run(pytester, "-o", "asyncio_mode=auto", *args).assert_outcomes(passed=2)


@pytest.mark.parametrize("args", [NO_ASYNCIO, WITH_ASYNCIO])
def test_marker_on_a_class_and_a_module(pytester, args):
    asyncio_mark = "pytest.mark.asyncio, " if args is WITH_ASYNCIO else ""
    write(
        pytester,
        f"""
        import asyncio
        import pytest

        pytestmark = [{asyncio_mark}pytest.mark.simclock]

        async def test_module_level():
            await asyncio.sleep(100)
            assert asyncio.get_running_loop().clock.now == 100

        @pytest.mark.simclock(start=1e9)
        class TestGroup:
            async def test_in_class(self):
                import time
                assert time.time() == 1e9
        """,
    )
    run(pytester, *args).assert_outcomes(passed=2)


def test_fixture_steps_time_and_sees_the_timeline(pytester):
    write(
        pytester,
        """
        import asyncio, time
        import pytest
        import simclock as sc

        @pytest.mark.simclock
        async def test_cache_entry_expires(simclock):
            expired = []
            asyncio.get_running_loop().call_later(60, expired.append, True)
            await asyncio.sleep(59)
            assert not expired and simclock.now == 59
            simclock.advance(2)
            await simclock.run_until_idle()
            assert expired == [True] and simclock.now == 61
            sc.mark("expired")
            simclock.timeline.assert_at(61.0, "expired")

        def test_sync_test_gets_a_bound_clock(simclock):
            start = time.time()
            time.sleep(30)
            simclock.advance(5)
            assert time.time() - start == 35
            async def nap():
                await asyncio.sleep(10)
                return time.time() - start
            assert sc.run(nap()) == 45
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=2)


def test_async_fixtures_run_on_the_virtual_loop_without_pytest_asyncio(pytester):
    write(
        pytester,
        """
        import asyncio
        import pytest

        events = []

        @pytest.fixture
        async def server():
            await asyncio.sleep(5)
            events.append(("up", asyncio.get_running_loop().clock.now))
            yield "server"
            await asyncio.sleep(1)
            events.append(("down", asyncio.get_running_loop().clock.now))

        @pytest.fixture
        async def token(server):
            await asyncio.sleep(2)
            return server + "-token"

        @pytest.mark.simclock
        async def test_uses_both(token):
            assert token == "server-token"
            assert asyncio.get_running_loop().clock.now == 7
            await asyncio.sleep(3)

        def test_teardown_ran_on_the_same_timeline():
            assert events == [("up", 5.0), ("down", 11.0)]
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=2)


def test_module_scoped_loop_shares_time_between_tests(pytester):
    write(
        pytester,
        """
        import asyncio
        import pytest

        import pytest_asyncio

        # pytest-asyncio before 0.24 called the loop's scope `scope`.
        old = tuple(map(int, pytest_asyncio.__version__.split(".")[:2])) < (0, 24)
        scope = {"scope" if old else "loop_scope": "module"}
        pytestmark = [pytest.mark.simclock, pytest.mark.asyncio(**scope)]

        async def test_first():
            await asyncio.sleep(10)

        async def test_second_continues_the_same_timeline():
            assert asyncio.get_running_loop().clock.now == 10
        """,
    )
    run(pytester, *WITH_ASYNCIO).assert_outcomes(passed=2)


@pytest.mark.parametrize("args", [NO_ASYNCIO, WITH_ASYNCIO])
def test_deadlock_fails_at_once_with_the_task_dump_and_a_report(pytester, args):
    marks = "@pytest.mark.asyncio" if args is WITH_ASYNCIO else ""
    write(
        pytester,
        f"""
        import asyncio
        import pytest

        {marks}
        @pytest.mark.simclock
        async def test_waits_for_nobody():
            await asyncio.sleep(2)
            await asyncio.Event().wait()
        """,
    )
    result = run(pytester, *args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Deadlock: no task can make progress at virtual t=2.000s*",
            "*test_waits_for_nobody() waiting in test_waits_for_nobody()*",
            "*simclock*",
            "virtual time at failure: t=2.000000s*",
        ]
    )


def test_limit_fails_with_its_number(pytester):
    write(
        pytester,
        """
        import asyncio
        import pytest

        @pytest.mark.simclock(limit=120)
        async def test_heartbeat_forever():
            while True:
                await asyncio.sleep(1)
        """,
    )
    result = run(pytester, *NO_ASYNCIO)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*virtual time limit of 120s exceeded: reached t=120.000s*"])


@pytest.mark.parametrize("args", [NO_ASYNCIO, WITH_ASYNCIO])
def test_real_time_is_back_right_after_a_failing_simulated_test(pytester, args):
    marks = "@pytest.mark.asyncio" if args is WITH_ASYNCIO else ""
    write(
        pytester,
        f"""
        import asyncio, datetime, time
        import pytest

        REAL = (time.time, time.monotonic, time.perf_counter, time.sleep)

        {marks}
        @pytest.mark.simclock(start="2001-01-01T00:00:00+00:00")
        async def test_fails_in_virtual_time():
            await asyncio.sleep(500)
            assert False, "on purpose"

        def test_then_real_time():
            assert (time.time, time.monotonic, time.perf_counter, time.sleep) == REAL
            assert datetime.datetime.now().year >= 2025
            assert abs(time.time() - datetime.datetime.now().timestamp()) < 5
            before = time.monotonic()
            time.sleep(0.01)
            assert time.monotonic() - before >= 0.01
            assert asyncio.new_event_loop.__module__ == "asyncio.events"
        """,
    )
    run(pytester, *args).assert_outcomes(passed=1, failed=1)


@pytest.mark.parametrize("args", [NO_ASYNCIO, WITH_ASYNCIO])
def test_leftover_tasks_warn_by_name_and_line_and_background_ones_do_not(pytester, args):
    if args is WITH_ASYNCIO and _pytest_asyncio_before((0, 24)):
        pytest.skip("pytest-asyncio 0.23 makes its loop before simclock can tell it is the test's")
    marks = "@pytest.mark.asyncio" if args is WITH_ASYNCIO else ""
    write(
        pytester,
        f"""
        import asyncio
        import pytest
        import simclock

        async def poller():
            while True:
                await asyncio.sleep(1)

        {marks}
        @pytest.mark.simclock
        async def test_leaves_a_task():
            asyncio.create_task(poller(), name="forgotten-poller")
            simclock.background(asyncio.create_task(poller(), name="heartbeat"))
            await asyncio.sleep(3)
        """,
    )
    result = run(pytester, *args)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*SimclockLeftoverTasksWarning*", "*'forgotten-poller' poller() waiting in poller()*"]
    )
    assert "heartbeat" not in result.stdout.str()
    strict = run(pytester, *args, "-o", "simclock_strict_tasks=true")
    strict.assert_outcomes(passed=1, errors=1)
    strict.stdout.fnmatch_lines(["*ended with tasks still pending*"])
    # Warnings made errors: the test's teardown error names the task, not a plugin's hook.
    erroring = run(
        pytester, *args, "-W", "error::simclock.pytest_plugin.SimclockLeftoverTasksWarning"
    )
    erroring.assert_outcomes(passed=1, errors=1)
    erroring.stdout.fnmatch_lines(["*ERROR at teardown of test_leaves_a_task*"])
    erroring.stdout.fnmatch_lines(["*'forgotten-poller' poller() waiting in poller()*"])
    assert "PluggyTeardownRaisedWarning" not in erroring.stdout.str()


def test_the_marker_takes_compute_and_refuses_a_bad_one(pytester):
    write(
        pytester,
        """
        import asyncio, time
        import pytest

        def crunch():
            started = time.perf_counter()
            while time.perf_counter() - started < 0.05:
                pass

        @pytest.mark.simclock(compute="instant")
        async def test_work_takes_no_time():
            async with asyncio.timeout(0.001):
                await asyncio.to_thread(crunch)

        @pytest.mark.simclock(compute="fast")
        async def test_bad():
            pass
        """,
    )
    result = run(pytester, *NO_ASYNCIO, "-k", "bad")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret != 0
    assert "test_bad: @pytest.mark.simclock: compute must be 'real' or 'instant'" in output
    result = run(pytester, *NO_ASYNCIO, "-k", "work_takes")
    result.assert_outcomes(passed=1)


def test_unknown_marker_option_is_a_usage_error(pytester):
    write(
        pytester,
        """
        import pytest

        @pytest.mark.simclock(speed=10)
        async def test_x():
            pass
        """,
    )
    result = run(pytester, *NO_ASYNCIO)
    assert result.ret != 0
    output = result.stdout.str() + result.stderr.str()
    assert "@pytest.mark.simclock got unknown option(s) ['speed']" in output


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        ("@pytest.mark.simclock(limit=-1)", "limit must be a positive number*got -1"),
        ("@pytest.mark.simclock(limit=float('nan'))", "limit must be a positive number*got nan"),
        ("@pytest.mark.simclock(tick='x')", "tick must be a number of seconds*got 'x'"),
        ("@pytest.mark.simclock(start='garbage')", "start must be a datetime*got 'garbage'"),
        ("@pytest.mark.simclock(seed='abc')", "seed must be an integer, got 'abc'"),
        ("@pytest.mark.simclock(io_grace=-1)", "io_grace must be a finite number*got -1"),
    ],
)
def test_a_bad_marker_option_is_a_usage_error_naming_the_test(pytester, decorator, message):
    write(
        pytester,
        f"""
        import asyncio
        import pytest

        async def test_fine():
            pass

        {decorator}
        async def test_bad():
            await asyncio.sleep(1)
        """,
    )
    result = run(pytester, *NO_ASYNCIO)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*test_inner.py::test_bad: @pytest.mark.simclock: {message}*"])
    result.stdout.no_fnmatch_line("*passed*")


def test_the_marker_on_a_sync_test_without_the_fixture_is_a_usage_error(pytester):
    write(
        pytester,
        """
        import time
        import pytest

        @pytest.mark.simclock
        def test_forgot_the_fixture():
            time.sleep(60)
        """,
    )
    result = run(pytester, *NO_ASYNCIO)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*test_inner.py::test_forgot_the_fixture: @pytest.mark.simclock on a sync test*"]
    )


def test_a_marked_module_may_hold_sync_tests_without_the_fixture(pytester):
    write(
        pytester,
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.simclock

        def test_plain_sync():
            assert True

        async def test_async():
            await asyncio.sleep(3600)
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("simclock_limit", "-5", "must be a positive number"),
        ("simclock_limit", "soon", "must be a positive number"),
        ("simclock_io_grace", "-1", "must be a number"),
        ("simclock_io_grace", "soon", "must be a number"),
        ("simclock_io_grace", "inf", "must be a number"),
    ],
)
def test_a_bad_simclock_setting_is_a_usage_error(pytester, setting, value, says):
    pytester.makeini(f"[pytest]\n{setting} = {value}\n")
    write(pytester, "def test_nothing():\n    pass\n")
    result = run(pytester, *NO_ASYNCIO)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{setting} {says}*got '{value}'*"])


def test_io_grace_comes_from_the_ini_file_and_the_marker_overrides_it(pytester):
    pytester.makeini("[pytest]\nsimclock_io_grace = 0.25\nsimclock_all = true\n")
    write(
        pytester,
        """
        import asyncio
        import pytest

        async def test_from_the_ini():
            assert asyncio.get_running_loop().io_grace == 0.25

        @pytest.mark.simclock(io_grace=3)
        async def test_from_the_marker():
            assert asyncio.get_running_loop().io_grace == 3.0
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=2)


def test_unittest_base_class(pytester):
    write(
        pytester,
        """
        import asyncio, time, unittest
        import simclock

        class TestTtl(simclock.VirtualClockTestCase):
            simclock_start = 1e9

            async def asyncSetUp(self):
                await asyncio.sleep(1)

            async def test_an_hour(self):
                await asyncio.sleep(3600)
                self.assertEqual(time.time(), 1e9 + 3601)
                self.assertEqual(self.clock.now, 3601)

        if __name__ == "__main__":
            unittest.main()
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=1)
    plain = subprocess.run(
        [sys.executable, "test_inner.py"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert plain.returncode == 0, plain.stderr
    assert "OK" in plain.stderr


def test_anyio_plugin_runs_on_the_virtual_loop(pytester):
    pytest.importorskip("anyio")
    write(
        pytester,
        """
        import time
        import anyio
        import pytest
        import simclock

        @pytest.fixture
        def anyio_backend():
            return "asyncio", {"loop_factory": simclock.new_event_loop}

        @pytest.mark.anyio
        async def test_anyio_sleep_is_virtual():
            start = time.time()
            with anyio.fail_after(3601):
                await anyio.sleep(3600)
            assert time.time() - start == 3600
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=1)


def test_fixture_teardown_runs_on_the_virtual_loop_after_a_deadlock(pytester):
    write(
        pytester,
        """
        import asyncio
        import pytest

        finished = []

        @pytest.fixture
        async def resource():
            yield
            await asyncio.sleep(1)
            finished.append(asyncio.get_running_loop().clock.now)

        @pytest.mark.simclock
        async def test_deadlocks(resource):
            await asyncio.sleep(4)
            await asyncio.Event().wait()

        def test_teardown_ran_after_it():
            assert finished == [5.0]
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=1, failed=1)


def test_failure_report_shows_the_failing_tests_own_clock(pytester):
    write(
        pytester,
        """
        import asyncio, time
        import pytest

        @pytest.mark.simclock
        async def test_first_passes():
            await asyncio.sleep(100)

        @pytest.mark.simclock
        def test_sync_fails(simclock):
            time.sleep(5)
            assert False
        """,
    )
    result = run(pytester, *NO_ASYNCIO)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*simclock*", "virtual time at failure: t=5.000000s*"])


_FAILS_AFTER_A_PRINT = """
import asyncio
import pytest

@pytest.mark.simclock
async def test_fails({fixture}):
    await asyncio.sleep(3)
    print("tick")
    assert False
"""


@pytest.mark.parametrize(
    ("ini", "fixture", "recorded"),
    [
        ("", "", False),
        ("", "simclock", True),
        ("simclock_timeline = always", "", True),
    ],
    ids=["auto-without-fixture", "auto-with-fixture", "always"],
)
def test_a_timeline_is_recorded_where_it_can_be_read_or_where_the_ini_asks(
    pytester, ini, fixture, recorded
):
    pytester.makeini(f"[pytest]\n{ini}\n")
    write(pytester, _FAILS_AFTER_A_PRINT.format(fixture=fixture))
    result = run(pytester, *NO_ASYNCIO)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["virtual time at failure: t=3.000000s*"])
    if recorded:
        result.stdout.fnmatch_lines(["last * timeline events:", "*tick*"])
        result.stdout.no_fnmatch_line("*no timeline recorded*")
    else:
        result.stdout.fnmatch_lines(["no timeline recorded: request the simclock fixture*"])
        result.stdout.no_fnmatch_line("*timeline events:*")


def test_a_bad_simclock_timeline_setting_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nsimclock_timeline = sometimes\n")
    write(pytester, _FAILS_AFTER_A_PRINT.format(fixture=""))
    result = run(pytester, *NO_ASYNCIO)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*simclock_timeline must be 'auto' or 'always', got 'sometimes'*"])


def test_simclock_never_takes_anyios_trio_runs(pytester):
    pytest.importorskip("trio")
    write(
        pytester,
        """
        import asyncio
        import pytest
        import sniffio

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        async def test_backend_is_what_anyio_was_asked_for(anyio_backend):
            assert sniffio.current_async_library() == anyio_backend
        """,
    )
    run(pytester, "--simclock", *NO_ASYNCIO).assert_outcomes(passed=2)


def test_a_suites_own_loop_factories_are_kept_unless_a_test_asks_for_simclock(pytester):
    if _pytest_asyncio_before((1, 4)):
        pytest.skip("pytest_asyncio_loop_factories is pytest-asyncio 1.4+")
    pytester.makeconftest(
        """
        import asyncio

        class SuiteLoop(asyncio.SelectorEventLoop):
            pass

        def pytest_asyncio_loop_factories(config, item):
            return {"suite": SuiteLoop}
        """
    )
    write(
        pytester,
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_runs_on_the_suites_loop():
            assert type(asyncio.get_running_loop()).__name__ == "SuiteLoop"

        @pytest.mark.simclock
        @pytest.mark.asyncio
        async def test_marked_runs_on_simclock():
            assert type(asyncio.get_running_loop()).__name__ == "VirtualEventLoop"
        """,
    )
    result = run(pytester, "--simclock", *WITH_ASYNCIO)
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*replaces the suite's own loop factories*"])


def test_tests_simclock_does_not_run_get_no_loop_factory_parameter(pytester):
    # Answering pytest-asyncio's loop factory hook at all would parametrize
    # every async test of the suite with a factory, at a cost to each test.
    write(
        pytester,
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_unmarked(request):
            assert not hasattr(request.node, "callspec")
            assert type(asyncio.get_running_loop()).__name__ != "VirtualEventLoop"

        @pytest.mark.asyncio
        @pytest.mark.simclock
        async def test_marked(request):
            assert not hasattr(request.node, "callspec")
            assert type(asyncio.get_running_loop()).__name__ == "VirtualEventLoop"
        """,
    )
    result = run(pytester, *WITH_ASYNCIO)
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("args", [NO_ASYNCIO, WITH_ASYNCIO], ids=["own-runner", "pytest-asyncio"])
def test_a_server_fixture_tears_down_before_leftovers_are_looked_for(pytester, args):
    pytester.makeini("[pytest]\nsimclock_strict_tasks = true\nasyncio_mode = auto\n")
    write(
        pytester,
        """
        import asyncio
        import pytest

        @pytest.fixture
        async def server():
            async def handle(reader, writer):
                try:
                    await reader.read()
                finally:
                    writer.close()

            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            yield server
            server.close()
            await server.wait_closed()

        @pytest.mark.simclock
        async def test_talks_to_the_server(server):
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hi")
            await asyncio.sleep(30)
            writer.close()
            await writer.wait_closed()
        """,
    )
    result = run(
        pytester, *args, "-W", "error::simclock.pytest_plugin.SimclockLeftoverTasksWarning"
    )
    result.assert_outcomes(passed=1)


def test_asyncio_run_in_a_sync_test_with_the_fixture_is_on_the_tests_clock(pytester):
    write(
        pytester,
        """
        import asyncio, time

        def test_sync(simclock):
            start = (time.time(), time.monotonic())
            loop_time = asyncio.run(asyncio.sleep(30, "slept"))
            assert loop_time == "slept"
            assert (time.time() - start[0], time.monotonic() - start[1]) == (30.0, 30.0)
            assert simclock.now == 30.0
            with asyncio.Runner() as runner:
                assert type(runner.get_loop()).__name__ == "VirtualEventLoop"
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=1)


RACE_TEST = textwrap.dedent("""
    import asyncio
    import pytest

    {marks}
    async def test_lost_update():
        value = [0]

        async def increment(delay, extra):
            await asyncio.sleep(delay)
            if extra:
                await asyncio.sleep(extra)  # arrives as the other's save ends
            current = value[0]
            await asyncio.sleep(0.1)
            value[0] = current + 1

        await asyncio.gather(increment(1.0, 0.0), increment(1.0, 0.1))
        assert value[0] == 2
""")


@pytest.mark.parametrize(
    "args",
    [NO_ASYNCIO, [*WITH_ASYNCIO, "-o", "asyncio_mode=auto"]],
    ids=["own-runner", "pytest-asyncio"],
)
def test_explore_finds_a_race_and_its_seed_replays_it(pytester, args):
    write(pytester, RACE_TEST.format(marks="@pytest.mark.simclock"))
    run(pytester, *args).assert_outcomes(passed=1)  # asyncio's own order hides it
    explored = run(pytester, *args, "--simclock-explore=30")
    outcomes = explored.parseoutcomes()
    # It stops at the first failing schedule (explored priorities lean away from
    # asyncio's order, so that may be the first), and reports that one only.
    assert outcomes.get("failed", 0) == 1
    tried = outcomes.get("failed", 0) + outcomes.get("passed", 0)
    assert outcomes.get("skipped", 0) == 30 - tried
    failing = [line for line in explored.outlines if line.startswith("FAILED")]
    seed = int(failing[0].split("simclock-seed=")[1].split("]")[0])
    explored.stdout.fnmatch_lines(
        [
            "*schedule seed=*",
            # A decision names each task by its coroutine and the line it waited at.
            "*ran increment() (Task-*) at test_inner.py:* -> "
            "increment() (Task-*) at test_inner.py:*",
            "*replay this schedule with: pytest --simclock-seed=*",
            "*simclock schedule exploration*",
            f"*test_lost_update: failed on schedule seed={seed}, the *tried; "
            f"{30 - tried} not tried*",
        ]
    )
    for _ in range(2):
        run(pytester, *args, f"--simclock-seed={seed}").assert_outcomes(failed=1)
    swept = run(pytester, *args, "--simclock-explore=30", "--simclock-explore-all")
    failed = swept.parseoutcomes().get("failed", 0)
    assert failed >= 1 and failed + swept.parseoutcomes().get("passed", 0) == 30
    swept.stdout.fnmatch_lines([f"*test_lost_update: {failed} of 30 schedules failed (seeds *"])


TIES_TEST = textwrap.dedent("""
    import asyncio
    import pytest

    @pytest.mark.simclock
    async def test_ties():
        order = []

        async def one(name):
            await asyncio.sleep(1)
            order.append(name)

        await asyncio.gather(*(one(name) for name in "abc"))
        assert sorted(order) == ["a", "b", "c"]
""")


def test_explore_counts_distinct_schedules_and_stops_at_its_budget(pytester):
    write(pytester, TIES_TEST)
    swept = run(pytester, *NO_ASYNCIO, "--simclock-explore=100")
    swept.assert_outcomes(passed=100)
    # Three timers due together: 3! orders, and no more however many runs.
    swept.stdout.fnmatch_lines(["*test_ties: 100 schedules tried (6 distinct), none failed"])
    budget = ["--simclock-explore=1000", "--simclock-explore-budget=0.05"]
    budgeted = run(pytester, *NO_ASYNCIO, *budget)
    outcomes = budgeted.parseoutcomes()
    # 1,000 schedules of a millisecond each take more than 0.05 s on any machine.
    assert 1 <= outcomes["passed"] < 1000 and outcomes["skipped"] == 1000 - outcomes["passed"]
    budgeted.stdout.fnmatch_lines(["*none failed; stopped by its budget of 0.05 s"])
    bad = run(pytester, *NO_ASYNCIO, "--simclock-explore=5", "--simclock-explore-budget=nan")
    bad.stderr.fnmatch_lines(["*--simclock-explore-budget takes a positive number*nan*"])


def test_the_marker_takes_awaits_for_explored_runs(pytester):
    write(
        pytester,
        """
        import asyncio
        import pytest

        state = {"balance": 0}

        async def deposit(amount):
            seen = state["balance"]
            await asyncio.sleep(0)  # stands for the write's round trip
            state["balance"] = seen + amount

        @pytest.mark.simclock(awaits=True)
        async def test_deposits():
            state["balance"] = 0
            first = asyncio.create_task(deposit(10))
            await asyncio.sleep(0)
            second = asyncio.create_task(deposit(5))
            await asyncio.gather(first, second)
            assert state["balance"] == 15
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=1)  # asyncio's own order
    explored = run(pytester, *NO_ASYNCIO, "--simclock-explore=50")
    assert explored.parseoutcomes().get("failed") == 1
    explored.stdout.fnmatch_lines(["*schedule seed=*, awaits=True*", "*resumed * iterations late*"])


def test_the_marker_takes_a_seed_and_manual_time(pytester):
    write(
        pytester,
        """
        import asyncio
        import pytest

        @pytest.mark.simclock(autojump=False)
        async def test_manual(simclock):
            fired = []
            asyncio.get_running_loop().call_later(5, fired.append, "five")
            await asyncio.sleep(0)
            assert fired == [] and simclock.now == 0
            await simclock.advance(6)
            assert fired == ["five"] and simclock.now == 6

        @pytest.mark.simclock(seed=3)
        async def test_seeded(simclock):
            assert simclock.clock.schedule.seed == 3
        """,
    )
    run(pytester, *NO_ASYNCIO).assert_outcomes(passed=2)


@pytest.mark.parametrize("args", [NO_ASYNCIO, WITH_ASYNCIO], ids=["own-runner", "pytest-asyncio"])
def test_a_sync_fixture_reads_the_clock_in_its_teardown_after_an_async_test(pytester, args):
    write(
        pytester,
        """
        import asyncio
        import pytest

        seen = []

        @pytest.fixture
        def elapsed(simclock):
            yield
            seen.append(simclock.now)

        @pytest.mark.simclock
        async def test_sleeps(elapsed):
            await asyncio.sleep(5)

        def test_after():
            assert seen == [5.0]
        """,
    )
    run(pytester, *args, "-p", "no:randomly").assert_outcomes(passed=2)


def test_unittest_runs_without_debug_mode_unless_asked_and_stops_a_runaway():
    import asyncio
    import unittest

    import simclock

    seen = {}

    class Cases(simclock.VirtualClockTestCase):
        simclock_limit = 3600.0

        async def test_debug_is_off(self):
            seen["default"] = asyncio.get_running_loop().get_debug()

        async def test_runaway(self):
            while True:
                await asyncio.sleep(1)

    class Debugging(simclock.VirtualClockTestCase):
        simclock_debug = True

        async def test_debug_is_on(self):
            seen["asked"] = asyncio.get_running_loop().get_debug()

    suite = unittest.TestSuite()
    suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(Cases))
    suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(Debugging))
    with open(os.devnull, "w") as quiet:
        result = unittest.TextTestRunner(stream=quiet).run(suite)
    assert seen == {"default": False, "asked": True}
    assert [case.id().rsplit(".", 1)[1] for case, _ in result.errors] == ["test_runaway"]
    assert "TimeLimitExceeded" in result.errors[0][1]


def test_anyio_tests_on_the_clock_get_the_limit_timeline_and_fixtures(pytester):
    pytest.importorskip("anyio")
    write(
        pytester,
        """
        import asyncio, time
        import anyio
        import pytest

        @pytest.fixture(params=["asyncio"])
        def anyio_backend(request):
            return request.param

        @pytest.fixture
        async def resource():
            await anyio.sleep(1)
            yield asyncio.get_running_loop()
            await anyio.sleep(1)

        @pytest.mark.anyio
        @pytest.mark.simclock
        async def test_on_the_clock(resource, simclock):
            start = time.time()
            await anyio.sleep(3600)
            assert time.time() - start == 3600
            assert asyncio.get_running_loop() is resource
            assert simclock.now == 3601 and simclock.timeline is not None

        @pytest.mark.anyio
        @pytest.mark.simclock(limit=60)
        async def test_runaway():
            while True:
                await anyio.sleep(1)
        """,
    )
    result = run(pytester, *WITH_ASYNCIO)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*TimeLimitExceeded: virtual time limit of 60s exceeded*"])


_PROJECT_CONFTEST = """
import asyncio
import pytest
import pytest_asyncio


@pytest_asyncio.fixture
async def echo_server():
    async def handle(reader, writer):
        try:
            line = await reader.readline()
            await asyncio.sleep(5)  # the server thinks
            writer.write(line)
            await writer.drain()
        finally:
            writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server
    server.close()
    await server.wait_closed()
"""

_PROJECT_SERVER_TESTS = """
import asyncio
import pytest


@pytest.mark.asyncio
async def test_echo_comes_back_after_the_servers_five_seconds(echo_server):
    loop = asyncio.get_running_loop()
    assert type(loop).__name__ == "VirtualEventLoop"
    port = echo_server.sockets[0].getsockname()[1]
    started = loop.time()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello\\n")
    await writer.drain()
    assert await reader.readline() == b"hello\\n"
    assert loop.time() - started == 5
    writer.close()
    await writer.wait_closed()
"""

_PROJECT_ANYIO_TESTS = """
import asyncio
import anyio
import pytest
import sniffio


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture(scope="module")
async def connection_pool(anyio_backend):
    await anyio.sleep(1 if anyio_backend == "asyncio" else 0)
    yield {"opened_at": anyio.current_time()}


def nap(backend):
    return 3600 if backend == "asyncio" else 0.01  # trio keeps its real clock


@pytest.mark.anyio
async def test_first(connection_pool, anyio_backend):
    assert sniffio.current_async_library() == anyio_backend
    on_simclock = type(asyncio.get_running_loop()).__name__ == "VirtualEventLoop" \\
        if anyio_backend == "asyncio" else False
    assert on_simclock == (anyio_backend == "asyncio")
    await anyio.sleep(nap(anyio_backend))


@pytest.mark.anyio
async def test_second_shares_the_pool_and_its_clock(connection_pool, anyio_backend):
    if anyio_backend == "asyncio":
        assert anyio.current_time() - connection_pool["opened_at"] == 3600
    await anyio.sleep(nap(anyio_backend))
"""

_PROJECT_SUITE_LOOP_CONFTEST = """
import asyncio


class SuiteLoop(asyncio.SelectorEventLoop):
    pass


def pytest_asyncio_loop_factories(config, item):
    return {"suite": SuiteLoop}
"""

_PROJECT_SUITE_LOOP_TESTS = """
import asyncio
import pytest


@pytest.mark.asyncio
async def test_keeps_the_suites_loop():
    assert type(asyncio.get_running_loop()).__name__ == "SuiteLoop"
"""


def test_a_project_laid_out_like_a_real_one_switches_on_with_one_option(pytester):
    pytest.importorskip("anyio")
    pytest.importorskip("trio")
    pytester.makeini("[pytest]\nsimclock_strict_tasks = true\n")
    pytester.makeconftest(_PROJECT_CONFTEST)
    write(pytester, _PROJECT_SERVER_TESTS, name="test_server")
    write(pytester, _PROJECT_ANYIO_TESTS, name="test_pool")
    expected = 1 + 4
    if not _pytest_asyncio_before((1, 4)):
        suite = pytester.mkpydir("suite_loops")
        (suite / "conftest.py").write_text(_PROJECT_SUITE_LOOP_CONFTEST)
        (suite / "test_suite_loop.py").write_text(_PROJECT_SUITE_LOOP_TESTS)
        expected += 1
    result = run(pytester, "--simclock", *WITH_ASYNCIO, "-p", "anyio")
    result.assert_outcomes(passed=expected)
    result.stdout.no_fnmatch_line("*SimclockLeftoverTasksWarning*")


def test_a_marked_anyio_test_on_a_real_loop_a_shared_fixture_started_fails_saying_why(pytester):
    pytest.importorskip("anyio")
    write(
        pytester,
        """
        import asyncio
        import anyio
        import pytest

        @pytest.fixture(scope="module")
        def anyio_backend():
            return "asyncio"

        @pytest.fixture(scope="module")
        async def shared():
            yield 1

        @pytest.mark.anyio
        async def test_first_on_a_real_loop(shared):
            assert type(asyncio.get_running_loop()).__name__ != "VirtualEventLoop"

        @pytest.mark.anyio
        @pytest.mark.simclock
        async def test_then_marked(shared):
            await anyio.sleep(3600)
        """,
    )
    result = run(pytester, *NO_ASYNCIO, "-p", "anyio")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*test_then_marked cannot run on simclock: anyio runs it on the real loop*"]
    )


def test_items_do_not_keep_their_loops_and_clocks_after_the_test(pytester):
    pytester.makeconftest(
        """
        from simclock.testing.pytest_plugin import _FIXTURE_CLOCK, _OWN_LOOP

        def pytest_sessionfinish(session):
            keys = (_OWN_LOOP, _FIXTURE_CLOCK)
            kept = [i.name for i in session.items if any(k in i.stash for k in keys)]
            print(f"\\nKEPT {kept}")
        """
    )
    write(
        pytester,
        """
        import asyncio
        import pytest

        @pytest.mark.simclock
        async def test_async(simclock):
            await asyncio.sleep(60)

        @pytest.mark.simclock
        def test_sync(simclock):
            assert simclock.now == 0
        """,
    )
    result = run(pytester, *NO_ASYNCIO, "-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["KEPT []"])


def test_a_bad_marker_on_a_deselected_test_does_not_stop_the_run(pytester):
    write(
        pytester,
        """
        import asyncio
        import pytest

        @pytest.mark.simclock(limit=-1)
        async def test_bad():
            pass

        @pytest.mark.simclock
        async def test_good():
            await asyncio.sleep(1)
        """,
    )
    run(pytester, *NO_ASYNCIO, "-k", "good").assert_outcomes(passed=1, deselected=1)


def test_the_marker_on_a_hypothesis_style_async_test_is_no_usage_error(pytester):
    write(
        pytester,
        """
        import asyncio
        import types
        import pytest

        def given(function):  # the shape hypothesis gives an async test
            def wrapper():
                wrapper.hypothesis.inner_test()
            wrapper.is_hypothesis_test = True
            wrapper.hypothesis = types.SimpleNamespace(inner_test=function)
            wrapper.__name__ = function.__name__
            return wrapper

        @pytest.mark.asyncio
        @pytest.mark.simclock
        @given
        async def test_property():
            await asyncio.sleep(3600)
        """,
    )
    result = run(pytester, *WITH_ASYNCIO)
    assert result.ret != pytest.ExitCode.USAGE_ERROR
    result.stderr.no_fnmatch_line("*on a sync test*")


def test_tests_sharing_a_loop_under_a_suites_factory_hook_share_it_with_the_fixture_user(
    pytester,
):
    if _pytest_asyncio_before((1, 4)):
        pytest.skip("pytest_asyncio_loop_factories is pytest-asyncio 1.4+")
    suite = pytester.mkpydir("suite")
    (suite / "conftest.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            def pytest_asyncio_loop_factories(config, item):
                return {"suite": asyncio.new_event_loop}
            """
        )
    )
    (suite / "test_shared.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            import pytest
            import pytest_asyncio

            loops = []

            @pytest_asyncio.fixture(scope="module", loop_scope="module")
            async def opened():
                loops.append("opened")
                yield

            pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.simclock]

            async def test_a(opened):
                loops.append(asyncio.get_running_loop())

            async def test_b(opened, simclock):
                loops.append(asyncio.get_running_loop())
                assert simclock.timeline is not None

            async def test_c(opened):
                loops.append(asyncio.get_running_loop())
                assert loops[0] == "opened" and loops.count("opened") == 1
                assert loops[1] is loops[2] is loops[3]
                assert type(loops[1]).__name__ == "VirtualEventLoop"
            """
        )
    )
    result = run(pytester, *WITH_ASYNCIO, "-v")
    result.assert_outcomes(passed=3, warnings=3)
    result.stdout.fnmatch_lines(["*test_a*PASSED*", "*test_b*PASSED*", "*test_c*PASSED*"])


def test_anyio_tests_sharing_a_fixture_share_a_recording_loop_and_no_other_test_joins(pytester):
    pytest.importorskip("anyio")
    write(
        pytester,
        """
        import asyncio
        import anyio
        import pytest

        @pytest.fixture(scope="module")
        def anyio_backend():
            return "asyncio"

        @pytest.fixture(scope="module")
        async def shared():
            yield

        @pytest.mark.anyio
        async def test_first(shared):
            await anyio.sleep(5)

        @pytest.mark.anyio
        async def test_reads_the_timeline(shared, simclock):
            assert simclock.timeline is not None
            assert simclock.now == 5

        @pytest.mark.anyio
        @pytest.mark.simclock(False)
        async def test_opted_out(shared):
            await anyio.sleep(5)
        """,
    )
    result = run(pytester, "--simclock", *NO_ASYNCIO, "-p", "anyio")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_opted_out is not a simclock test, but anyio runs it*"])


def test_every_bad_marker_is_reported_in_one_run(pytester):
    write(
        pytester,
        """
        import pytest

        @pytest.mark.simclock(5)
        async def test_positional():
            pass

        @pytest.mark.simclock(speed=10)
        async def test_unknown():
            pass

        @pytest.mark.simclock(limit=-1)
        async def test_bad_limit():
            pass

        @pytest.mark.simclock(False)
        async def test_opted_out():
            pass
        """,
    )
    result = run(pytester, *NO_ASYNCIO)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*3 bad simclock markers:",
            "*test_positional: @pytest.mark.simclock(5): the only positional argument is True "
            "or False*give options by name, one of*'limit'*",
            "*test_unknown: @pytest.mark.simclock got unknown option(s) ?'speed'?*",
            "*test_bad_limit: @pytest.mark.simclock: limit must be a positive number*",
        ]
    )
    result.stdout.no_fnmatch_line("*passed*")


@pytest.mark.parametrize(
    "plugins", [NO_ASYNCIO, WITH_ASYNCIO], ids=["own runner", "pytest-asyncio"]
)
def test_requesting_the_fixture_puts_an_async_test_on_the_clock(pytester, plugins):
    marks = "@pytest.mark.asyncio" if plugins is WITH_ASYNCIO else ""
    write(
        pytester,
        f"""
        import asyncio
        import pytest

        {marks}
        async def test_a_day_passes(simclock):
            await asyncio.sleep(86000)
            assert simclock.now == 86000
            assert type(asyncio.get_running_loop()).__name__ == "VirtualEventLoop"
        """,
    )
    result = run(pytester, *plugins)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("mode", ["marker", "trio_mode"])
def test_simclock_leaves_pytest_trio_tests_to_trio(pytester, mode):
    pytest.importorskip("pytest_trio")
    marks = "@pytest.mark.trio" if mode == "marker" else ""
    write(
        pytester,
        f"""
        import trio
        import pytest

        {marks}
        async def test_on_trio():
            start = trio.current_time()
            await trio.sleep(0.01)
            assert trio.current_time() - start >= 0.01  # trio's own clock: real time
        """,
    )
    options = ["-o", "trio_mode=true"] if mode == "trio_mode" else []
    run(pytester, *NO_ASYNCIO, "--simclock", *options).assert_outcomes(passed=1)


def test_pytests_own_timings_read_real_time(pytester):
    write(
        pytester,
        """
        import time

        def test_sleeps_an_hour(simclock):
            time.sleep(3600)
            assert simclock.now == 3600
        """,
    )
    result = run(pytester, *NO_ASYNCIO, "--junitxml=out.xml", "--durations=0", "-vv")
    result.assert_outcomes(passed=1)
    import xml.etree.ElementTree as ET

    (case,) = ET.parse(pytester.path / "out.xml").getroot().iter("testcase")
    assert float(case.get("time")) < 60  # real seconds; on the virtual clock it would be 3600
    durations = [
        line for line in result.stdout.lines if "test_sleeps_an_hour" in line and "s " in line
    ]
    assert durations and all(float(line.split("s ")[0]) < 60 for line in durations)


def test_simclock_puts_isolated_asyncio_test_cases_on_the_clock(pytester):
    write(
        pytester,
        """
        import asyncio, time, unittest

        class TestHour(unittest.IsolatedAsyncioTestCase):
            async def asyncSetUp(self):
                self.started = time.monotonic()

            async def test_an_hour_passes(self):
                await asyncio.sleep(3600)
                self.assertEqual(time.monotonic() - self.started, 3600)
                self.assertEqual(type(asyncio.get_running_loop()).__name__, "VirtualEventLoop")

            async def test_fails_at_a_virtual_instant(self):
                await asyncio.sleep(5)
                self.fail("on purpose")
        """,
    )
    result = run(pytester, *NO_ASYNCIO, "--simclock")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*virtual time at failure: t=5.000000s*"])


def test_simclock_puts_sync_tests_and_the_loops_they_make_on_a_clock(pytester):
    write(
        pytester,
        """
        import asyncio, threading, time

        def test_asyncio_run():
            async def main():
                await asyncio.sleep(60)
                return type(asyncio.get_running_loop()).__name__

            assert asyncio.run(main()) == "VirtualEventLoop"
            assert asyncio.run(main()) == "VirtualEventLoop"

        def test_loops_made_by_threads_at_once_share_the_test_clock():
            seen = []

            def worker():
                loop = asyncio.new_event_loop()
                try:
                    seen.append(loop.run_until_complete(asyncio.sleep(5, "slept")))
                finally:
                    loop.close()

            threads = [threading.Thread(target=worker) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert seen == ["slept"] * 3

        def test_the_test_thread_reads_the_clock():
            started = time.time()
            time.sleep(3600)
            assert time.time() - started == 3600

        def test_fails_at_a_virtual_instant():
            time.sleep(7)
            assert False
        """,
    )
    result = run(pytester, *NO_ASYNCIO, "--simclock")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*virtual time at failure: t=7.000000s*"])


def test_simclock_puts_a_test_clients_portal_loop_on_the_clock(pytester):
    pytest.importorskip("starlette")
    write(
        pytester,
        """
        import asyncio
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route
        from starlette.testclient import TestClient

        async def slow(request):
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.sleep(30)
            return JSONResponse({"loop": type(loop).__name__, "slept": loop.time() - started})

        app = Starlette(routes=[Route("/", slow)])

        def test_three_slow_requests():
            with TestClient(app) as client:
                for _ in range(3):
                    assert client.get("/").json() == {"loop": "VirtualEventLoop", "slept": 30.0}
        """,
    )
    result = run(pytester, *NO_ASYNCIO, "--simclock", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=1)


PLUGIN_RUNS_ITS_TESTS = """
    import asyncio, inspect
    import pytest

    @pytest.fixture
    def loop():
        loop = asyncio.new_event_loop()  # virtual under --simclock
        yield loop
        loop.close()

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(pyfuncitem):
        if not inspect.iscoroutinefunction(pyfuncitem.obj):
            return None
        if {leave_some} and "leave" in pyfuncitem.name:
            return None  # not this one
        loop = pyfuncitem.funcargs["loop"]
        arguments = {{name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}}
        loop.run_until_complete(pyfuncitem.obj(**arguments))
        return True
"""


@pytest.mark.parametrize("leave_some", [False, True])
def test_a_test_another_plugin_runs_stays_with_it_on_a_virtual_loop(pytester, leave_some):
    pytester.makeconftest(textwrap.dedent(PLUGIN_RUNS_ITS_TESTS.format(leave_some=leave_some)))
    write(
        pytester,
        """
        import asyncio

        async def test_runs_on_the_plugins_loop(loop):
            assert asyncio.get_running_loop() is loop
            await asyncio.sleep(3600)
            assert type(loop).__name__ == "VirtualEventLoop"

        async def test_leave(loop):
            await asyncio.sleep(3600)
            assert type(asyncio.get_running_loop()).__name__ == "VirtualEventLoop"
        """,
    )
    run(pytester, *NO_ASYNCIO, "--simclock").assert_outcomes(passed=2)


def test_simclock_exclude_and_the_marker_keep_tests_on_real_time(pytester):
    pytester.makeini("[pytest]\nsimclock_exclude =\n    real_*\n")
    check = """
        import asyncio, pytest

        async def on_the_clock():
            return type(asyncio.get_running_loop()).__name__ == "VirtualEventLoop"

        {mark}
        def test_sync():
            assert asyncio.run(on_the_clock()) is {expected}

        @pytest.mark.asyncio
        {mark}
        async def test_async():
            assert await on_the_clock() is {expected}
    """
    pytester.makepyfile(
        real_thing=textwrap.dedent(check.format(mark="", expected=False)),
        test_marked=textwrap.dedent(
            check.format(mark="@pytest.mark.simclock(False)", expected=False)
        ),
        test_virtual=textwrap.dedent(check.format(mark="", expected=True)),
    )
    files = ["real_thing.py", "test_marked.py", "test_virtual.py"]
    run(pytester, *WITH_ASYNCIO, "--simclock", *files).assert_outcomes(passed=6)


def test_a_deadlock_is_reported_by_its_own_message_not_the_loops_frames(pytester):
    write(
        pytester,
        """
        import asyncio

        async def test_waits_forever():
            await asyncio.Event().wait()
        """,
    )
    result = run(pytester, *NO_ASYNCIO, "--simclock")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*_ test_waits_forever _*", "simclock.errors.Deadlock: no task can make progress*"]
    )
    assert "run_forever" not in result.stdout.str() and "def pytest_" not in result.stdout.str()
    long = run(pytester, *NO_ASYNCIO, "--simclock", "--tb=long")
    assert "run_forever" in long.stdout.str()  # the whole traceback, when asked for


def test_the_readmes_fixture_example_runs_as_shown(pytester):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    (example,) = [block for block in blocks if "def test_entry_expires_after_its_ttl" in block]
    pytester.makepyfile(test_readme=example)
    result = run(pytester, *NO_ASYNCIO, "-k", "ttl")
    result.assert_outcomes(passed=1)


def test_a_test_case_naming_asyncios_own_loop_class_runs_on_the_clock(pytester):
    # 3.13+ IsolatedAsyncioTestCase takes loop_factory; 3.14's own test cases set
    # loop_factory = asyncio.EventLoop. Under --simclock that loop is a virtual one.
    write(
        pytester,
        """
        import asyncio, unittest

        class TestOwnLoop(unittest.IsolatedAsyncioTestCase):
            loop_factory = asyncio.SelectorEventLoop

            async def test_an_hour_passes(self):
                await asyncio.sleep(3600)
                self.assertEqual(type(asyncio.get_running_loop()).__name__, "VirtualEventLoop")

        def test_the_class_is_left_alone():
            assert TestOwnLoop.loop_factory is asyncio.SelectorEventLoop
        """,
    )
    run(pytester, *NO_ASYNCIO, "--simclock").assert_outcomes(passed=2)


def test_a_sync_test_of_an_async_fixture_runs_the_fixture_on_the_tests_clock(pytester):
    # pytest-asyncio runs the fixture on its runner's loop, made during the
    # sync test's setup: on the test's clock, which is already bound.
    write(
        pytester,
        """
        import asyncio, time
        import pytest, pytest_asyncio

        @pytest_asyncio.fixture
        async def slept():
            start = time.monotonic()
            await asyncio.sleep(30)
            yield start, time.monotonic()
            await asyncio.sleep(5)

        def test_sync(slept):
            start, after = slept
            assert after - start == pytest.approx(30.0, abs=1e-6)
            time.sleep(10)
            assert time.monotonic() - start == pytest.approx(40.0, abs=1e-6)

        async def test_async(slept):
            start, after = slept
            assert after - start == pytest.approx(30.0, abs=1e-6)
        """,
    )
    run(pytester, *WITH_ASYNCIO, "-o", "asyncio_mode=auto", "--simclock").assert_outcomes(passed=2)


@pytest.mark.parametrize("how", ["--simclock", "marker"])
def test_a_unittest_case_on_the_clock_leaves_asyncios_loop_factories_to_the_next_test(
    pytester, how
):
    mark = "@pytest.mark.simclock" if how == "marker" else ""
    write(
        pytester,
        f"""
        import asyncio, time, unittest
        import pytest

        STOCK = (asyncio.new_event_loop, asyncio.events.new_event_loop)

        {mark}
        class TestOnTheClock(unittest.IsolatedAsyncioTestCase):
            async def test_an_hour(self):
                await asyncio.sleep(3600)

        @pytest.mark.simclock(False)
        def test_then_a_stock_loop():
            assert (asyncio.new_event_loop, asyncio.events.new_event_loop) == STOCK
            loop = asyncio.new_event_loop()
            try:
                assert type(loop).__name__ != "VirtualEventLoop"
            finally:
                loop.close()
        """,
    )
    args = ["--simclock"] if how == "--simclock" else []
    run(pytester, *args, *NO_ASYNCIO).assert_outcomes(passed=2)


def test_a_tests_first_loop_is_closed_when_its_clock_cannot_be_bound():
    # Another clock still bound (a run left over) fails the test's setup with
    # ClockConflict; the loop made for it must not be left for the collector,
    # whose ResourceWarning would fail a later test.
    import gc
    import warnings

    import simclock
    from simclock.errors import ClockConflict
    from simclock.process import bindings
    from simclock.testing.options import TestLoops, _Options, newest

    made = newest.made
    release = bindings.hold(simclock.Clock())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with pytest.raises(ClockConflict):
                TestLoops(_Options(start=None, limit=None))()
        finally:
            release()
        gc.collect()  # the loop is gone: unclosed, it would warn here
    assert newest.made == made + 1
    assert newest.loop() is None  # gone indeed: else no warning could have come
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_node_class_with_a_marker_lookup_of_its_own_is_asked_itself():
    from simclock.testing.options import _closest_marker

    marked = pytest.mark.simclock.mark

    class Plain:
        own_markers = (marked,)
        parent = None

    class HidesItsMarkers(Plain):
        def get_closest_marker(self, name, default=None):
            return default

    assert _closest_marker(Plain(), "simclock") is marked
    assert _closest_marker(HidesItsMarkers(), "simclock") is None


def test_only_a_function_is_taken_for_an_async_test_by_its_code_flags():
    import types

    from simclock.testing.options import _is_async_test

    async def coroutine_function():
        pass

    class CarriesACoroutinesCode:
        __code__ = coroutine_function.__code__

        def __call__(self):
            return None

    class TestsOfAClass:
        async def test_method(self):
            pass

    assert _is_async_test(types.SimpleNamespace(obj=coroutine_function))
    assert _is_async_test(types.SimpleNamespace(obj=TestsOfAClass().test_method))
    assert not _is_async_test(types.SimpleNamespace(obj=CarriesACoroutinesCode()))

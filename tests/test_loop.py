import asyncio
import datetime as dt
import math
import queue
import sys
import time

import pytest

import simclock
from simclock.process import bindings, loops


def test_sleep_takes_virtual_time_and_no_real_time():
    async def main():
        loop = asyncio.get_running_loop()
        before = loop.time()
        await asyncio.sleep(11)
        return loop.time() - before

    real_start = time.perf_counter()
    assert simclock.run(main()) == 11.0
    assert time.perf_counter() - real_start < 1.0


def test_every_clock_agrees_after_an_hour():
    async def main():
        loop = asyncio.get_running_loop()
        readings = lambda: (  # noqa: E731
            loop.time(),
            time.time(),
            time.time_ns(),
            time.monotonic(),
            time.monotonic_ns(),
            time.perf_counter(),
            time.perf_counter_ns(),
            dt.datetime.now(dt.UTC),
        )
        before = readings()
        await asyncio.sleep(3600)
        after = readings()
        return before, after

    before, after = simclock.run(main())
    loop_t, wall, wall_ns, mono, mono_ns, perf, perf_ns, now = (
        a - b for a, b in zip(after, before, strict=True)
    )
    assert loop_t == wall == mono == perf == 3600.0
    assert wall_ns == mono_ns == perf_ns == 3600 * 10**9
    assert now == dt.timedelta(hours=1)


def test_equal_deadlines_fire_in_scheduling_order():
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        when = loop.time() + 5
        for i in range(50):
            loop.call_at(when, fired.append, i)
        await asyncio.sleep(6)
        return fired

    assert simclock.run(main()) == list(range(50))


def test_equal_deadlines_keep_order_among_other_deadlines():
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        for i in range(30):
            loop.call_later(i % 3, fired.append, i)
        await asyncio.sleep(3)
        return fired

    expected = [i for group in range(3) for i in range(30) if i % 3 == group]
    assert simclock.run(main()) == expected


def test_blocking_sleep_on_the_loop_thread_advances_virtual_time():
    async def main():
        start = time.monotonic()
        time.sleep(2)
        return time.monotonic() - start

    assert simclock.run(main()) == 2.0


def test_blocking_sleep_rejects_what_time_sleep_rejects():
    async def main(value):
        time.sleep(value)

    for bad, error in ((-1, ValueError), (math.nan, ValueError), ("2", TypeError)):
        with pytest.raises(error):
            simclock.run(main(bad))


def test_forgotten_await_takes_no_time_and_warns():
    async def main():
        start = time.time()
        asyncio.sleep(2)
        return time.time() - start

    with pytest.warns(RuntimeWarning, match="never awaited"):
        assert simclock.run(main()) == 0.0


def test_negative_delays_behave_as_in_asyncio():
    async def main():
        loop = asyncio.get_running_loop()
        order = []
        loop.call_later(-5, order.append, "later(-5)")
        loop.call_soon(order.append, "soon")
        await asyncio.sleep(-1)
        order.append("after sleep(-1)")
        return loop.clock.now, order

    assert simclock.run(main()) == asyncio.run(_negative_delays_on_real_loop())
    now, _ = simclock.run(main())
    assert now == 0.0


async def _negative_delays_on_real_loop():
    loop = asyncio.get_running_loop()
    order = []
    loop.call_later(-5, order.append, "later(-5)")
    loop.call_soon(order.append, "soon")
    await asyncio.sleep(-1)
    order.append("after sleep(-1)")
    return 0.0, order


def test_nan_delay_is_a_clear_value_error_in_the_awaiting_task():
    async def main():
        await asyncio.sleep(math.nan)

    with pytest.raises(ValueError, match="NaN"):
        simclock.run(main())


def test_infinite_sleep_alone_is_a_deadlock():
    async def main():
        await asyncio.sleep(math.inf)

    with pytest.raises(simclock.Deadlock, match="main"):
        simclock.run(main())


def test_infinite_timer_does_not_stop_finite_ones():
    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(math.inf, print, "never")
        await asyncio.sleep(10)
        return loop.clock.now

    assert simclock.run(main()) == 10.0


def test_deadlock_names_every_pending_task_and_where_it_waits():
    async def waits_forever(event):
        await event.wait()

    async def main():
        event = asyncio.Event()
        asyncio.create_task(waits_forever(event), name="forgotten-waiter")
        await asyncio.sleep(1)
        await event.wait()

    with pytest.raises(simclock.Deadlock) as caught:
        simclock.run(main())
    message = str(caught.value)
    assert "t=1.000s" in message
    assert "'forgotten-waiter' waits_forever()" in message
    assert "test_loop.py" in message and "await event.wait()" in message
    assert len(caught.value.tasks) == 2
    assert caught.value.now == 1.0


def test_deadlock_is_raised_at_once_without_spinning():
    async def main():
        await asyncio.get_running_loop().create_future()

    cpu_start = time.process_time()
    with pytest.raises(simclock.Deadlock):
        simclock.run(main())
    assert time.process_time() - cpu_start < 1.0


def test_limit_stops_an_endless_loop_and_says_where_it_got():
    async def heartbeat():
        while True:
            await asyncio.sleep(1)

    with pytest.raises(simclock.TimeLimitExceeded) as caught:
        simclock.run(heartbeat(), limit=60)
    assert caught.value.now == 60.0
    assert caught.value.next_deadline == 61.0
    assert "limit of 60s exceeded: reached t=60.000s" in str(caught.value)
    assert "raise the limit: limit= on simclock.run" in str(caught.value)  # how to get more


def test_limit_names_the_timers_that_keep_the_clock_moving():
    async def poller():
        while True:
            await asyncio.sleep(5)

    async def main():
        asyncio.get_running_loop().call_later(300, print, "far")
        poll = asyncio.create_task(poller(), name="poller")
        await asyncio.Event().wait()
        await poll

    with pytest.raises(simclock.TimeLimitExceeded) as caught:
        simclock.run(main(), limit=60)
    timers = caught.value.timers
    assert timers[0].startswith("t=65.000s: wakes task 'poller' poller() waiting in poller()")
    assert timers[1].startswith("t=300.000s: runs <built-in function print>")
    assert "keeping the clock moving" in str(caught.value)


def test_a_blocking_wait_on_the_loops_thread_stops_at_the_limit():
    async def main():
        try:
            queue.Queue().get(timeout=100)
        except queue.Empty:
            pass
        time.sleep(100)
        return simclock.current_clock().now

    with pytest.raises(simclock.TimeLimitExceeded) as caught:
        simclock.run(main(), limit=10)
    assert caught.value.now == 0.0
    assert caught.value.next_deadline == 100.0
    assert "main()" in str(caught.value)


def test_a_blocking_sleep_on_the_loops_thread_stops_at_the_limit():
    async def main():
        await asyncio.sleep(4)
        time.sleep(7)

    with pytest.raises(simclock.TimeLimitExceeded) as caught:
        simclock.run(main(), limit=10)
    assert (caught.value.now, caught.value.next_deadline) == (4.0, 11.0)


def test_clock_advance_stops_at_the_limit_and_moves_nothing():
    async def main():
        clock = simclock.current_clock()
        clock.advance(9)
        with pytest.raises(simclock.TimeLimitExceeded):
            clock.advance(2)
        return clock.now

    assert simclock.run(main(), limit=10) == 9.0


def test_a_loops_limit_ends_with_the_loop():
    clock = simclock.Clock()
    loop = simclock.new_event_loop(clock, limit=5)
    loop.close()
    clock.advance(50)
    assert clock.now == 50.0


@pytest.mark.parametrize("bad", [0, -1, math.nan, "10"])
def test_limit_must_be_a_positive_number(bad):
    async def main():
        pass

    coro = main()
    with pytest.raises(ValueError, match="limit"):
        simclock.run(coro, limit=bad)
    coro.close()


def test_non_coroutine_gets_the_error_asyncio_gives():
    with pytest.raises(Exception) as ours:
        simclock.run(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(Exception) as theirs:
        asyncio.run(lambda: None)  # type: ignore[arg-type]
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value).split(" at ")[0] == str(theirs.value).split(" at ")[0]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (1e9, 1e9),
        (1_700_000_000, 1_700_000_000.0),
        (dt.datetime(2030, 5, 17, 12, 30, tzinfo=dt.UTC), 1905251400.0),
        ("2030-05-17T12:30:00+00:00", 1905251400.0),
        ("2030-05-17T12:30:00", 1905251400.0),
        (dt.date(2030, 5, 17), 1905206400.0),
    ],
)
def test_start_sets_the_wall_clock(start, expected):
    async def main():
        before = time.time()
        await asyncio.sleep(1.5)
        return before, time.time()

    assert simclock.run(main(), start=start) == (expected, expected + 1.5)


def test_default_start_is_fixed_so_runs_print_the_same_dates():
    async def main():
        return dt.datetime.now(dt.UTC), dt.date.today()

    assert simclock.run(main()) == simclock.run(main())
    assert simclock.run(main())[0] == simclock.DEFAULT_START


def test_start_now_begins_at_the_real_time():
    async def main():
        return time.time()

    real = time.time()
    assert abs(simclock.run(main(), start="now") - real) < 60


@pytest.mark.parametrize("bad", ["yesterday", math.inf, [1]])
def test_bad_start_is_refused_with_its_value(bad):
    with pytest.raises((ValueError, TypeError), match="start"):
        simclock.Clock(bad)


def test_timers_still_fire_when_the_clock_is_huge():
    async def main():
        loop = asyncio.get_running_loop()
        # Up to 2**38 s, where one float step is 61 us: as far as a wall clock
        # that starts in year 1 can go before year 9999.
        for exponent in (24, 30, 36, 38):
            await asyncio.sleep(2.0**exponent - loop.time())
            assert loop.time() == 2.0**exponent
            deadline = loop.time() + 1e-9
            while loop.time() < deadline:
                await asyncio.sleep(deadline - loop.time())
        return loop.time()

    assert simclock.run(main(), start="0001-01-01T00:00:00+00:00") >= 2.0**38


def test_loop_time_never_falls_short_of_the_deadline_a_task_slept_to():
    async def main():
        loop = asyncio.get_running_loop()
        for step in (0.1, 0.7, 1 / 3, 1e-7):
            deadline = loop.time() + step
            await asyncio.sleep(step)
            assert loop.time() >= deadline
        return True

    assert simclock.run(main())


def test_runner_with_loop_factory():
    async def main():
        await asyncio.sleep(30)
        return asyncio.get_running_loop().clock.now

    with asyncio.Runner(loop_factory=simclock.new_event_loop) as runner:
        assert runner.run(main()) == 30.0
        assert isinstance(runner.get_loop(), simclock.VirtualEventLoop)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_with_loop_factory():
    async def main():
        start = time.time()
        await asyncio.sleep(30)
        return time.time() - start

    assert asyncio.run(main(), loop_factory=simclock.new_event_loop) == 30.0  # type: ignore[call-arg]


def test_simclock_run_inside_a_running_loop_is_refused_like_asyncio_run():
    async def inner():
        pass

    async def main():
        coro = inner()
        try:
            simclock.run(coro)
        finally:
            coro.close()

    with pytest.raises(RuntimeError, match="running event loop"):
        simclock.run(main())


def test_two_clocks_cannot_drive_the_process_at_once():
    def run_on_another_clock():
        coro = asyncio.sleep(1)
        try:
            simclock.run(coro, clock=simclock.Clock())
        finally:
            coro.close()

    async def main():
        await asyncio.to_thread(run_on_another_clock)

    with pytest.raises(simclock.ClockConflict, match="already drives"):
        simclock.run(main())


def test_a_threads_views_nest_when_real_time_is_pushed_twice():
    clock = simclock.Clock()
    with bindings.bound(clock):
        with bindings.viewing(None):  # real time, as for a stock loop's run
            inner = bindings.ClockView(clock)
            with bindings.viewing(inner):  # back on the clock
                with bindings.viewing(None):
                    assert bindings.current_view() is None
                assert bindings.current_view() is inner
            assert bindings.current_view() is None
        assert isinstance(bindings.current_view(), bindings.ClockView)
    assert bindings.current_view() is None


def test_a_loop_made_inside_a_run_continues_its_timeline():
    async def main():
        await asyncio.sleep(5)
        inner = simclock.new_event_loop()
        inner.close()
        return inner.clock is simclock.current_clock(), inner.clock.now

    assert simclock.run(main()) == (True, 5.0)


class _Interrupt(KeyboardInterrupt):
    pass


@pytest.mark.parametrize(
    ("ending", "error"),
    [
        ("raise", ZeroDivisionError),
        ("interrupt", KeyboardInterrupt),
        ("deadlock", simclock.Deadlock),
        ("limit", simclock.TimeLimitExceeded),
    ],
)
def test_real_clocks_are_back_however_the_run_ends(ending, error):
    real = (time.time, time.monotonic, time.perf_counter, time.sleep)

    async def main():
        await asyncio.sleep(3600)
        if ending == "raise":
            raise ZeroDivisionError("on purpose")
        if ending == "interrupt":
            raise _Interrupt
        if ending == "deadlock":
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(60)

    with pytest.raises(error):
        simclock.run(main(), start=0, limit=7200)
    assert (time.time, time.monotonic, time.perf_counter, time.sleep) == real
    assert simclock.current_clock() is None
    assert dt.datetime.now().year >= 2025
    assert abs(time.time() - dt.datetime.now().timestamp()) < 60


def _what_a_shutdown_run_does(loop: asyncio.AbstractEventLoop, prepare: str) -> list[str]:
    """What running `loop.shutdown_asyncgens()` then the executor's shutdown lets happen."""
    happened: list[str] = []
    if prepare == "ready callback":
        loop.call_soon(happened.append, "callback ran")
    elif prepare == "due timer":
        loop.call_at(loop.time() - 1, happened.append, "timer ran")
    elif prepare == "stop requested":
        loop.stop()
        loop.call_later(0, happened.append, "ran after the stop")
    for make in (loop.shutdown_asyncgens, loop.shutdown_default_executor, asyncio.sleep):
        coroutine = make() if make is not asyncio.sleep else asyncio.sleep(0)
        try:
            loop.run_until_complete(coroutine)
        except RuntimeError as error:
            happened.append(f"{make.__name__}: {error}")
            coroutine.close()
        happened.append(f"stopping={loop._stopping}, {len(loop._ready)} ready")  # type: ignore[attr-defined]
    return happened


@pytest.mark.parametrize("prepare", ["nothing", "ready callback", "due timer", "stop requested"])
def test_shutting_down_nothing_lets_run_exactly_what_a_stock_loop_lets_run(prepare):
    stock, virtual = asyncio.new_event_loop(), simclock.new_event_loop()
    try:
        assert _what_a_shutdown_run_does(virtual, prepare) == _what_a_shutdown_run_does(
            stock, prepare
        )
    finally:
        stock.close()
        virtual.close()


def test_shutdowns_with_something_to_shut_down_still_do_it():
    loop = simclock.new_event_loop()
    closed: list[str] = []

    async def ticks():
        try:
            while True:
                yield loop.time()
        finally:
            closed.append("generator closed")

    async def start_one():
        generator = ticks()
        await generator.__anext__()
        await loop.run_in_executor(None, closed.append, "executor used")
        return generator

    kept = loop.run_until_complete(start_one())
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    assert closed == ["executor used", "generator closed"]
    assert kept is not None


def test_a_shutdown_on_a_closed_or_running_loop_fails_as_on_asyncio():
    loop = simclock.new_event_loop()
    loop.close()
    shutdown = loop.shutdown_asyncgens()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(shutdown)
    shutdown.close()

    running = simclock.new_event_loop()

    async def nested():
        inner = running.shutdown_default_executor()
        try:
            running.run_until_complete(inner)
        finally:
            inner.close()

    with pytest.raises(RuntimeError, match="already running"):
        running.run_until_complete(nested())
    running.close()


def test_a_task_factory_sees_the_shutdowns_as_on_a_stock_loop():
    def shutdowns_seen(make_loop) -> list[str]:
        seen: list[str] = []

        def factory(loop, coro, **kwargs):
            seen.append(coro.__qualname__.rsplit(".", 1)[-1])
            return asyncio.Task(coro, loop=loop, **kwargs)

        def set_factory(loop):
            loop.set_task_factory(factory)
            return loop

        with asyncio.Runner(loop_factory=lambda: set_factory(make_loop())) as runner:
            runner.run(asyncio.sleep(0))
        return seen

    stock = shutdowns_seen(asyncio.new_event_loop)
    assert "shutdown_asyncgens" in stock
    assert shutdowns_seen(simclock.new_event_loop) == stock


@pytest.mark.skipif(sys.version_info < (3, 13), reason="asyncio.EventLoop is 3.13+")
def test_a_loop_factory_naming_asyncio_event_loop_gets_a_virtual_loop():
    async def main():
        await asyncio.sleep(3600)
        return type(asyncio.get_running_loop()).__name__

    clock = simclock.Clock()
    with bindings.bound(clock), loops.virtual_loops(simclock.new_event_loop):
        loop = asyncio.EventLoop()
        assert isinstance(loop, asyncio.EventLoop)  # the name still means the class
        try:
            assert loop.run_until_complete(main()) == "VirtualEventLoop"
        finally:
            loop.close()
    assert not isinstance(asyncio.EventLoop, loops._StandsIn)  # put back


def test_a_stock_loop_on_a_thread_on_the_clock_runs_on_real_time_instead_of_hanging():
    async def main():
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0.05)
        return loop.time() - started

    async def outer():
        stock = asyncio.SelectorEventLoop()  # built by class: not simclock's
        try:
            return await asyncio.to_thread(stock.run_until_complete, main())
        finally:
            stock.close()

    assert simclock.run(outer(), limit=60) >= 0.05


def test_a_stock_loop_run_on_the_binding_thread_does_not_hang():
    async def main():
        await asyncio.sleep(0.05)
        return "woke"

    with bindings.bound(simclock.Clock()):
        stock = asyncio.SelectorEventLoop()
        try:
            assert stock.run_until_complete(main()) == "woke"
        finally:
            stock.close()

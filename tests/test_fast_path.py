"""The loop's fast path keeps every rule of the general one (simclock.iteration).

Each program here runs twice: as users run it, and with the fast path switched
off, so that every iteration goes through the selector as asyncio's own
`_run_once` would. Both runs must see the same thing.
"""

import asyncio
import gc
import logging
import math
import re
import signal
import socket
import threading
import time
import warnings

import pytest

import simclock
from simclock.loop.iteration import LoopIteration
from simclock.loop.loop import VirtualEventLoop
from simclock.loop.timers import VirtualTimerHandle


def run_both_ways(main, monkeypatch):
    """Run `main()` on the fast path, then on the general path; return both results."""
    fast = simclock.run(main())
    with monkeypatch.context() as patch:
        patch.setattr(VirtualEventLoop, "_fast_path_allowed", lambda self: False)
        general = simclock.run(main())
    return fast, general


def test_the_fast_path_is_taken_for_plain_sleeps():
    async def main():
        loop = asyncio.get_running_loop()
        return loop._fast

    assert simclock.run(main()) is True


def test_a_thousand_equal_deadlines_from_different_tasks_fire_in_scheduling_order(monkeypatch):
    async def main():
        order = []

        async def sleeper(index):
            await asyncio.sleep(index % 7 / 10)  # scheduled at different instants...
            await asyncio.sleep(5 - index % 7 / 10)  # ...all due at 5.0
            order.append(index)

        await asyncio.gather(*(sleeper(index) for index in range(1000)))
        return order

    fast, general = run_both_ways(main, monkeypatch)
    assert fast == general
    # Tasks scheduled their second sleep when their first ended: by first delay, then by index.
    assert fast == sorted(range(1000), key=lambda index: (index % 7, index))


def test_wakeups_are_the_same_on_both_paths(monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()
        trace = []

        async def worker(name, delays):
            for delay in delays:
                await asyncio.sleep(delay)
                trace.append((name, loop.time()))

        async def canceller():
            waiter = asyncio.ensure_future(asyncio.sleep(100))
            await asyncio.sleep(1)
            waiter.cancel()
            trace.append(("canceller", loop.time()))

        async with asyncio.TaskGroup() as group:
            group.create_task(worker("a", [1, 1, 0.5, 0, 2]))
            group.create_task(worker("b", [0.5, 1.5, 1, 1]))
            group.create_task(worker("c", [2, 0, 0, 1e-9]))
            group.create_task(canceller())
            for index in range(20):
                group.create_task(
                    asyncio.wait_for(asyncio.sleep(index / 10), timeout=1 + index / 20)
                )
        return trace

    fast, general = run_both_ways(main, monkeypatch)
    assert fast == general
    assert len(fast) == 14


def test_timers_cancelled_at_the_head_never_fire_and_are_dropped(monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        heads = [loop.call_later(1, fired.append, f"head {index}") for index in range(300)]
        loop.call_later(1, fired.append, "kept at 1")
        loop.call_later(2, fired.append, "kept at 2")
        for timer in heads:
            timer.cancel()
        await asyncio.sleep(3)
        return fired, len(loop._timers), loop._timers.cancelled

    fast, general = run_both_ways(main, monkeypatch)
    assert fast == general == (["kept at 1", "kept at 2"], 0, 0)


def test_cancelling_most_of_many_timers_purges_them_by_asyncios_rule():
    async def main():
        loop = asyncio.get_running_loop()
        timers = [loop.call_later(10 + index, lambda: None) for index in range(1000)]
        for timer in timers[:900]:
            timer.cancel()
        await asyncio.sleep(0)  # one iteration: the purge runs
        return len(loop._timers), [timer._scheduled for timer in timers[:3]]

    assert simclock.run(main()) == (100, [False, False, False])


def test_a_timer_due_in_the_past_runs_on_the_next_iteration(monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()
        await asyncio.sleep(10)
        fired = []
        loop.call_at(loop.time() - 5, fired.append, "past")
        loop.call_soon(fired.append, "soon")
        await asyncio.sleep(0)
        return fired, loop.time()

    fast, general = run_both_ways(main, monkeypatch)
    assert fast == general
    assert fast[0] == ["past", "soon"] or fast[0] == ["soon", "past"]
    assert fast[1] == simclock.MONOTONIC_ORIGIN + 10


def test_a_timer_at_infinity_never_fires_and_does_not_stop_others(monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        never = loop.call_at(math.inf, fired.append, "never")
        await asyncio.sleep(7)
        never.cancel()
        return fired, loop.time() - simclock.MONOTONIC_ORIGIN

    assert run_both_ways(main, monkeypatch) == (([], 7.0), ([], 7.0))


def test_a_nan_delay_raises_in_the_caller_on_both_paths(monkeypatch):
    async def main():
        with pytest.raises(ValueError, match="NaN"):
            await asyncio.sleep(math.nan)
        with pytest.raises(ValueError, match="NaN"):
            asyncio.get_running_loop().call_at(math.nan, print)
        with pytest.raises(TypeError, match="None"):
            asyncio.get_running_loop().call_later(None, print)
        return "checked"

    assert run_both_ways(main, monkeypatch) == ("checked", "checked")


def test_a_jump_right_after_a_threads_work_ends_waits_for_its_result(monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()
        events = []

        def work():
            time.sleep(0.25)  # virtual, in the worker's own view
            now = time.monotonic() - simclock.MONOTONIC_ORIGIN
            events.append(("thread done", 0.25 <= now < 0.5))
            return "result"

        ticker = asyncio.ensure_future(asyncio.sleep(0.5))
        result = await asyncio.to_thread(work)
        events.append((result, round(loop.time() - simclock.MONOTONIC_ORIGIN, 6)))
        await ticker
        events.append(("ticker", round(loop.time() - simclock.MONOTONIC_ORIGIN, 6)))
        return events

    fast, general = run_both_ways(main, monkeypatch)
    assert fast == general
    assert fast == [("thread done", True), ("result", 0.25), ("ticker", 0.5)]


def test_handles_are_asyncios_in_every_way_a_user_can_see():
    async def main():
        loop = asyncio.get_running_loop()
        stock = asyncio.new_event_loop()
        try:
            ours = [
                loop.call_later(5, print, "x"),
                loop.call_at(loop.time() + 5, print, "x"),
                loop.call_soon(print, "x"),
            ]
            theirs = [
                stock.call_later(5, print, "x"),
                stock.call_at(stock.time() + 5, print, "x"),
                stock.call_soon(print, "x"),
            ]
            pairs = []
            for mine, real in zip(ours, theirs, strict=True):
                pairs.append((_shape(mine), _shape(real)))
                mine.cancel()
                real.cancel()
                pairs.append((_shape(mine), _shape(real)))
            return pairs
        finally:
            stock.close()

    for mine, real in simclock.run(main()):
        assert mine == real


def _shape(handle):
    """What a user sees of a handle, with the instants taken out."""
    when = handle.when() if isinstance(handle, asyncio.TimerHandle) else None
    text = re.sub(r"when=[0-9.e+]+", "when=T", repr(handle))
    return (
        isinstance(handle, asyncio.TimerHandle),
        isinstance(handle, asyncio.Handle),
        type(handle).__name__,
        handle.cancelled(),
        text,
        type(when),
        getattr(handle, "_context", None) is not None,
    )


def test_timer_handles_keep_asyncios_slots_and_class_name():
    assert issubclass(VirtualTimerHandle, asyncio.TimerHandle)
    assert VirtualTimerHandle.__name__ == "TimerHandle"
    assert VirtualTimerHandle.__slots__ == ("_background", "_owner", "_queue")


def test_the_fast_path_steps_aside_for_debug_mode_and_signal_handlers():
    async def main():
        loop = asyncio.get_running_loop()
        seen = [loop._fast]
        loop.set_debug(True)
        seen.append(loop._fast)
        loop.set_debug(False)
        seen.append(loop._fast)
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        seen.append(loop._fast)
        loop.remove_signal_handler(signal.SIGUSR1)
        seen.append(loop._fast)
        return seen

    assert simclock.run(main()) == [True, False, True, False, True]


def test_debug_mode_iterations_stay_fast_and_time_each_callback_as_asyncio_does(
    monkeypatch, caplog
):
    # Every IsolatedAsyncioTestCase runs in debug mode: its iterations take the fast
    # path, while its handles keep their stacks and slow callbacks are still reported.
    general = []
    monkeypatch.setattr(
        VirtualEventLoop,
        "_run_once_general",
        lambda loop: general.append(1) or LoopIteration._run_once_general(loop),
    )

    def slow():
        time.sleep(0.25)  # virtual: the clock moves by it, as a real callback's would

    async def main():
        loop = asyncio.get_running_loop()
        handle = loop.call_soon(slow)
        timer = loop.call_later(1, lambda: None)
        await asyncio.sleep(2)
        return bool(handle._source_traceback), bool(timer._source_traceback), loop.time()

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        stacks = simclock.run(main(), debug=True)
    assert stacks[:2] == (True, True)
    assert general == []
    slow_ones = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert len(slow_ones) == 1
    assert "slow()" in slow_ones[0]
    assert slow_ones[0].endswith("took 0.250 seconds")


@pytest.mark.parametrize("debug", [False, True])
def test_a_failed_task_nobody_holds_is_reported_before_the_next_callback_as_asyncio_does(debug):
    # The exception's traceback holds the frames that ran the task's step: none of
    # them may hold the task's handle, or the task outlives its step.
    async def failing():
        raise ValueError("nobody retrieves this")

    async def main():
        reported = []
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
        asyncio.ensure_future(failing())
        await asyncio.sleep(0)
        return reported

    gc_was_enabled = gc.isenabled()
    gc.disable()  # the report must come from the task being freed, not from a collection
    try:
        with asyncio.Runner(debug=debug) as runner:
            stock = runner.run(main())
        with asyncio.Runner(debug=debug, loop_factory=VirtualEventLoop) as runner:
            virtual = runner.run(main())
    finally:
        if gc_was_enabled:
            gc.enable()
    assert stock == ["Task exception was never retrieved"]
    assert virtual == stock


def test_registered_files_are_polled_every_iteration_as_asyncio_does(monkeypatch):
    async def main(delay=1.0):
        loop = asyncio.get_running_loop()
        order = []
        reader, writer = socket.socketpair()
        reader.setblocking(False)

        def readable():
            order.append(("read", reader.recv(100)))

        loop.add_reader(reader, readable)

        async def chatter():
            for index in range(3):
                writer.send(b"x%d" % index)
                order.append(("sent", index))
                await asyncio.sleep(0)
                order.append(("after one iteration", index))
                await asyncio.sleep(0)
                order.append(("after two iterations", index))
                await asyncio.sleep(delay)

        await chatter()
        loop.remove_reader(reader)
        reader.close()
        writer.close()
        return order

    async def polling_flags():
        loop = asyncio.get_running_loop()
        reader, writer = socket.socketpair()
        flags = [loop._poll_files is None]
        loop.add_reader(reader, print)
        flags.append(loop._poll_files is not None and loop._fast)
        loop.remove_reader(reader)
        flags.append(loop._poll_files is None)
        reader.close()
        writer.close()
        return flags

    assert simclock.run(polling_flags()) == [True, True, True]
    fast, general = run_both_ways(main, monkeypatch)
    assert fast == general == asyncio.run(main(delay=0.001))
    assert ("read", b"x2") in fast


def test_a_closed_loop_refuses_callbacks_as_asyncio_does():
    loop = simclock.new_event_loop()
    loop.close()
    for schedule in (
        lambda: loop.call_soon(print),
        lambda: loop.call_later(1, print),
        lambda: loop.call_at(1.0, print),
    ):
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            schedule()


def test_a_replaced_loop_time_is_honoured_as_a_real_loop_would():
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        base = loop.time()
        loop.call_at(base + 30, fired.append, "at 30")
        loop.time = lambda: base + 60  # as tests of timeouts sometimes do
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        del loop.time
        return fired

    assert simclock.run(main()) == ["at 30"]


def test_a_callback_that_rearms_itself_forever_is_a_livelock_on_the_fast_path():
    async def main():
        loop = asyncio.get_running_loop()

        def again():
            loop.call_soon(again)

        loop.call_soon(again)
        await asyncio.Event().wait()  # no timer could ever end the spin

    with pytest.raises(simclock.Livelock):
        simclock.run(main(), livelock_after=10_000)


def test_a_long_pipeline_at_one_instant_is_progress_not_a_livelock():
    async def main():
        queue: asyncio.Queue[int | None] = asyncio.Queue(maxsize=1)

        async def producer():
            for item in range(20_000):  # some 40,000 iterations at t=0
                await queue.put(item)
            await queue.put(None)

        async def consumer():
            total = 0
            while (item := await queue.get()) is not None:
                total += item
            return total

        feeding = asyncio.create_task(producer())
        total = await consumer()
        await feeding
        return total, asyncio.get_running_loop().clock.now

    assert simclock.run(main(), livelock_after=1_000) == (sum(range(20_000)), 0.0)


def test_tasks_that_only_yield_are_a_livelock_even_beside_a_result_now_and_then():
    async def main():
        async def spin():
            while True:
                await asyncio.sleep(0)

        spinners = [asyncio.create_task(spin()) for _ in range(3)]
        await asyncio.sleep(0)  # one wake-up with a result, long before the bound
        await asyncio.Event().wait()
        del spinners

    with pytest.raises(simclock.Livelock):
        simclock.run(main(), livelock_after=1_000)


def test_a_spin_with_a_timer_pending_reaches_the_timer_after_the_bound():
    async def main():
        loop = asyncio.get_running_loop()
        spins = [0]

        def again():
            spins[0] += 1
            loop.call_soon(again)

        loop.call_soon(again)
        await asyncio.sleep(1)  # a real loop spins until this is due
        return loop.clock.now, spins[0] > 10_000

    assert simclock.run(main(), livelock_after=10_000) == (1.0, True)


def test_a_task_polling_until_a_timeout_fires_reaches_it():
    async def main():
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(3.0):
                while True:
                    await asyncio.sleep(0)
        except TimeoutError:
            return loop.clock.now

    assert simclock.run(main(), livelock_after=10_000) == 3.0


def test_each_thread_reads_the_wall_clock_of_its_own_view():
    outside: list[float] = []
    started = threading.Event()
    finish = threading.Event()

    def bystander():  # started before the run: it lives in real time
        started.set()
        finish.wait()
        outside.append(time.time())

    thread = threading.Thread(target=bystander)
    thread.start()
    started.wait()

    async def main():
        await asyncio.sleep(3600)

        def in_worker():
            return time.monotonic(), time.time(), time.monotonic()

        before, wall, after = await asyncio.to_thread(in_worker)
        finish.set()
        await asyncio.to_thread(thread.join)
        return time.time(), before, wall, after

    loop_wall, before, worker_wall, after = simclock.run(main(), start=0)
    assert loop_wall == 3600.0
    # The worker's wall clock runs with its monotonic clock: read between two of its readings.
    origin = simclock.MONOTONIC_ORIGIN
    assert before - origin <= worker_wall <= after - origin
    assert 3600 <= worker_wall < 3601
    assert outside[0] > 1.7e9  # real time: 2023 or later


def test_run_once_called_directly_is_one_iteration_as_in_asyncio():
    loop = simclock.new_event_loop()

    async def heartbeat():
        while True:
            await asyncio.sleep(1)

    async def work():
        await asyncio.sleep(7)
        return "done"

    beat = loop.create_task(heartbeat())
    job = loop.create_task(work())
    calls = 0
    asyncio.events._set_running_loop(loop)  # as a hand-made driver does
    try:
        with simclock.process.bound(loop.clock):
            while not job.done():  # nest_asyncio's run_until_complete, say
                loop._run_once()
                calls += 1
    finally:
        asyncio.events._set_running_loop(None)
        beat.cancel()
        loop.run_until_complete(asyncio.gather(beat, return_exceptions=True))
        loop.close()
    assert job.result() == "done"
    assert loop.clock.now == 7.0
    assert calls > 7  # each call ran one iteration, never the loop to its end


def test_explored_and_timeline_runs_take_the_same_decisions_on_both_paths(monkeypatch):
    async def main():
        order = []

        async def worker(name):
            for step in range(4):
                await asyncio.sleep(1)
                order.append((name, step))

        await asyncio.gather(*(worker(name) for name in "abcdef"))
        return order

    for seed in range(5):
        fast = simclock.run(main(), seed=seed)
        recorded = simclock.run(main(), seed=seed, timeline=simclock.Timeline())
        with monkeypatch.context() as patch:
            patch.setattr(VirtualEventLoop, "_fast_path_allowed", lambda self: False)
            general = simclock.run(main(), seed=seed)
        assert fast == recorded == general


def test_after_a_livelock_the_tasks_finally_blocks_still_run():
    cleaned = []

    async def main():
        loop = asyncio.get_running_loop()

        def again():
            loop.call_soon(again)

        async def waiter():
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append("finally")

        asyncio.create_task(waiter())
        loop.call_soon(again)
        await asyncio.Event().wait()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Task was destroyed but it is pending!"
        with pytest.raises(simclock.Livelock):
            simclock.run(main(), livelock_after=1_000)
    assert cleaned == ["finally"]

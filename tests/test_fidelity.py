"""Recording and mocks never change what the program does."""

import asyncio
import gc
import queue
import threading
import time
from unittest import mock

import pytest

import simclock


def test_recording_a_timeline_leaves_task_reprs_alone():
    async def main():
        task = asyncio.create_task(asyncio.sleep(1))
        await asyncio.sleep(0)
        return repr(task)

    plain = simclock.run(main())
    recorded = simclock.run(main(), timeline=simclock.Timeline())
    assert "_record_task_end" not in recorded
    assert recorded.split(" coro=")[1:] == plain.split(" coro=")[1:]


def test_recording_a_timeline_does_not_retrieve_a_tasks_exception():
    async def fail():
        raise ValueError("never retrieved")

    async def main():
        task = asyncio.create_task(fail())
        await asyncio.sleep(1)
        return task._log_traceback

    assert simclock.run(main(), timeline=simclock.Timeline()) is True
    gc.collect()


def test_a_task_that_finished_has_ended_on_the_timeline_right_after_await():
    timeline = simclock.Timeline()

    async def washing():
        await asyncio.sleep(4)

    async def main():
        task = asyncio.create_task(washing(), name="washing_task")
        await task
        timeline.assert_took("washing_task", 4.0)

    simclock.run(main(), timeline=timeline)


def test_a_test_that_replaces_loop_time_is_served_as_by_a_real_loop():
    class FixedClock:
        now = 0.0

        def __call__(self):
            return self.now

    async def main():
        loop = asyncio.get_running_loop()
        fixed = FixedClock()
        with mock.patch.object(loop, "time", fixed):
            sleeper = asyncio.ensure_future(asyncio.sleep(1))
            done, _ = await asyncio.wait([sleeper], timeout=0)
            assert not done
            fixed.now = 1.0
            await sleeper
        return "woke"

    assert simclock.run(main(), limit=60) == "woke"


def test_a_sync_queue_blocking_the_loops_thread_lets_a_sleeping_worker_in():
    async def main():
        items = queue.Queue(maxsize=1)

        def consumer():
            for _ in range(3):
                time.sleep(0.1)
                items.get()

        threading.Thread(target=consumer).start()
        for item in range(4):
            items.put(item)  # blocks the loop's thread until the worker makes room
        return asyncio.get_running_loop().clock.now

    assert abs(simclock.run(main()) - 0.3) < 1e-9


def test_a_timed_wait_on_the_loops_thread_expires_at_its_virtual_deadline():
    async def main():
        try:
            queue.Queue().get(timeout=2)
        except queue.Empty:
            return asyncio.get_running_loop().clock.now

    assert simclock.run(main()) == 2.0


def test_a_nested_run_forever_fails_as_asyncio_says():
    async def main():
        inner = simclock.new_event_loop()
        coro = asyncio.sleep(1)
        try:
            inner.run_until_complete(coro)
        finally:
            coro.close()  # refused before it ran, as asyncio refuses it
            inner.close()

    with pytest.raises(
        RuntimeError, match="Cannot run the event loop while another loop is running"
    ):
        simclock.run(main())


def test_run_in_executor_refuses_a_coroutine_function_in_debug_mode():
    async def coroutine_function():
        pass

    async def main():
        await asyncio.get_running_loop().run_in_executor(None, coroutine_function)

    with pytest.raises(TypeError, match="coroutine"):
        simclock.run(main(), debug=True)


def test_a_callback_rearming_itself_at_one_instant_is_a_livelock_naming_it():
    async def main():
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1

        def rearm():
            if loop.time() <= deadline:
                loop.call_at(deadline, rearm)

        loop.call_at(deadline, rearm)
        await asyncio.sleep(5)

    with pytest.raises(simclock.Livelock, match="rearm") as caught:
        simclock.run(main(), livelock_after=10_000)
    assert caught.value.now == 1.0


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "many"])
def test_a_bad_livelock_bound_is_refused(bad):
    with pytest.raises(ValueError, match="livelock_after"):
        simclock.new_event_loop(livelock_after=bad)


def test_a_deadlock_report_shows_who_waits_on_whom_down_to_the_programs_line():
    async def wait_for_signal(event):
        await event.wait()

    async def child(event):
        await wait_for_signal(event)

    async def main():
        event = asyncio.Event()
        await asyncio.gather(asyncio.create_task(child(event), name="child-1"))

    with pytest.raises(simclock.Deadlock) as caught:
        simclock.run(main())
    lines = str(caught.value).splitlines()
    main_line = next(i for i, line in enumerate(lines) if " main() waiting in main()" in line)
    assert "-> 'child-1' child() waiting in wait_for_signal()" in lines[main_line + 1]
    assert lines[main_line + 1].endswith("await event.wait()")


def test_a_deadlock_beside_a_background_heartbeat_is_reported_at_once():
    async def heartbeat():
        while True:
            await asyncio.sleep(0.05)

    async def main():
        simclock.background(asyncio.create_task(heartbeat(), name="heartbeat"))
        await asyncio.sleep(1)
        await asyncio.Event().wait()  # nothing will ever set it

    with pytest.raises(simclock.Deadlock, match="background task 'heartbeat' still ticking"):
        simclock.run(main())


def test_a_background_task_does_not_cut_short_a_task_that_sleeps():
    async def heartbeat():
        while True:
            await asyncio.sleep(0.05)

    async def main():
        simclock.background(asyncio.create_task(heartbeat()))
        await asyncio.sleep(3)
        return asyncio.get_running_loop().clock.now

    assert simclock.run(main()) == pytest.approx(3.0)

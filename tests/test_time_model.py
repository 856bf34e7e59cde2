"""One truthful time for every thread and every clock reader."""

import asyncio
import concurrent.futures
import datetime as dt
import logging
import math
import queue
import threading
import time
from time import monotonic as monotonic_bound_at_import
from time import perf_counter as perf_counter_bound_at_import
from time import sleep as sleep_bound_at_import

import anyio
import cachetools
import janus
import pytest

import simclock
from simclock.process.bindings import real_perf_counter


def now() -> float:
    return asyncio.get_running_loop().clock.now


# Clock functions bound by name.


def test_clock_functions_bound_by_name_before_the_run_follow_virtual_time():
    async def main():
        start = (monotonic_bound_at_import(), perf_counter_bound_at_import())
        sleep_bound_at_import(3)  # a blocking sleep on the loop's thread: virtual
        await asyncio.sleep(7)
        return monotonic_bound_at_import() - start[0], perf_counter_bound_at_import() - start[1]

    real_start = real_perf_counter()
    assert simclock.run(main()) == (10.0, 10.0)
    assert real_perf_counter() - real_start < 1.0


def test_default_argument_timers_follow_virtual_time():
    cache = cachetools.TTLCache(maxsize=10, ttl=60, timer=time.monotonic)

    async def main():
        cache["k"] = "fresh"
        await asyncio.sleep(59)
        before = cache.get("k")
        await asyncio.sleep(2)
        return before, cache.get("k")

    assert simclock.run(main()) == ("fresh", None)


def test_clock_gettime_of_the_monotonic_clock_follows():
    async def main():
        start = time.clock_gettime(time.CLOCK_MONOTONIC)
        await asyncio.sleep(5)
        return time.clock_gettime(time.CLOCK_MONOTONIC) - start

    assert simclock.run(main()) == 5.0


def test_clock_functions_grabbed_during_a_run_are_real_after_it():
    grabbed = {}

    async def main():
        grabbed.update(monotonic=time.monotonic, sleep=time.sleep, perf=time.perf_counter)
        await asyncio.sleep(100)

    simclock.run(main())
    before = grabbed["monotonic"]()
    real_before = real_perf_counter()
    grabbed["sleep"](0.02)
    assert real_perf_counter() - real_before >= 0.02
    assert grabbed["monotonic"]() - before >= 0.02
    assert abs(grabbed["monotonic"]() - monotonic_bound_at_import()) < 1


def test_a_bad_sleep_raises_what_time_sleep_raises():
    async def main():
        with pytest.raises(ValueError):
            time.sleep(-1)
        with pytest.raises(TypeError):
            time.sleep("1")
        return now()

    assert simclock.run(main()) == 0.0


# The monotonic origin, tick, and tiny delays.


def test_monotonic_starts_where_a_machine_that_has_been_up_would():
    class Throttle:
        def __init__(self, interval):
            self.interval, self.last_call = interval, 0.0

        def ready(self):
            if time.monotonic() - self.last_call >= self.interval:
                self.last_call = time.monotonic()
                return True
            return False

    async def main():
        throttle = Throttle(30)
        return throttle.ready(), asyncio.get_running_loop().time(), now()

    first_call, loop_time, elapsed = simclock.run(main())
    assert first_call
    assert loop_time == simclock.MONOTONIC_ORIGIN
    assert elapsed == 0.0


def test_a_sleep_smaller_than_one_float_step_still_moves_time():
    async def main():
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.6)
        tokens, rate, moves = 0.9999999999999998, 1.0, 0
        last = loop.time()
        while tokens < 1:
            await asyncio.sleep((1 - tokens) / rate)  # 2.2e-17 s: below one step
            tokens += (loop.time() - last) * rate
            last = loop.time()
            moves += 1
        return moves, loop.time() > simclock.MONOTONIC_ORIGIN + 0.6

    assert simclock.run(main(), limit=10) == (1, True)


def test_tick_makes_two_reads_differ_and_sleeps_last_longer_the_same_every_run():
    async def main():
        t1, t2 = time.monotonic(), time.monotonic()
        before = time.perf_counter()
        await asyncio.sleep(1)
        return t2 - t1, time.perf_counter() - before

    first = simclock.run(main(), tick=1e-6)
    assert first == simclock.run(main(), tick=1e-6)
    gap, slept = first
    assert gap > 0
    assert slept > 1


def test_tick_defaults_to_exact_time():
    async def main():
        return time.monotonic() == time.monotonic()

    assert simclock.run(main()) is True


@pytest.mark.parametrize("bad", [-1e-6, 1.0, math.nan, "1e-6", True])
def test_a_bad_tick_is_refused(bad):
    with pytest.raises(ValueError, match="tick"):
        simclock.Clock(tick=bad)


def test_logging_relative_times_make_sense_during_a_run():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("simclock-test-relative")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)

    async def main():
        await asyncio.sleep(2)
        logger.info("two seconds in")

    simclock.run(main())
    assert records[0].relativeCreated == pytest.approx(2000, abs=1)


# Threads simclock did not start itself.


def test_a_plain_thread_with_a_timer_pending_is_not_jumped_past():
    async def main():
        loop = asyncio.get_running_loop()
        answer = loop.create_future()

        def work():
            start = time.perf_counter()
            while time.perf_counter() - start < 0.1:
                pass
            loop.call_soon_threadsafe(answer.set_result, "worked")

        threading.Thread(target=work).start()
        async with asyncio.timeout(10):
            return await answer, now()

    assert simclock.run(main()) == ("worked", 0.0)


def test_executor_submit_from_a_coroutine_is_seen():
    def job():
        time.sleep(3)  # a virtual wait in a worker
        return "slept"

    async def main(pool):
        future = pool.submit(job)
        return await asyncio.wrap_future(future), now()

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        assert simclock.run(main(pool)) == ("slept", 3.0)


def test_anyio_worker_threads_are_seen_100_times_in_a_row():
    def blocking(seconds):
        time.sleep(seconds)
        return seconds

    async def main():
        results = []
        for seconds in (0.5, 1.5):
            results.append(await anyio.to_thread.run_sync(blocking, seconds))
        async with asyncio.timeout(5):
            results.append(await anyio.to_thread.run_sync(blocking, 0))
        return results, now()

    for _ in range(100):
        assert simclock.run(main()) == ([0.5, 1.5, 0], 2.0)


def test_a_queue_bridging_a_plain_thread_and_a_coroutine_100_times_in_a_row():
    async def main():
        bridge = janus.Queue()

        def producer():
            for item in range(3):
                time.sleep(1)
                bridge.sync_q.put(item)

        thread = threading.Thread(target=producer)
        thread.start()
        got = [await bridge.async_q.get() for _ in range(3)]
        thread.join()
        bridge.close()
        await bridge.wait_closed()
        return got, now()

    for _ in range(100):
        assert simclock.run(main()) == ([0, 1, 2], 3.0)


def test_a_worker_polling_real_work_inside_a_timeout_is_not_cut_short():
    def busy():
        start = time.perf_counter()
        while time.perf_counter() - start < 0.2:
            pass
        return time.perf_counter() - start

    async def main():
        async with asyncio.timeout(10):
            spent = await asyncio.to_thread(busy)
        return spent >= 0.2, now()

    assert simclock.run(main()) == (True, 0.0)


def test_a_busy_worker_with_no_timer_pending_finishes():
    def busy():
        start = time.perf_counter()
        while time.perf_counter() - start < 0.1:
            pass
        return "done"

    assert simclock.run(asyncio.to_thread(busy)) == "done"


def test_worker_waits_time_out_at_virtual_deadlines_as_in_a_real_run():
    async def main():
        items = queue.Queue()

        def take():
            try:
                return items.get(timeout=5)
            except queue.Empty:
                return "empty"

        taker = asyncio.create_task(asyncio.to_thread(take))
        await asyncio.sleep(10)
        items.put("late item")
        return await taker, now()

    real_start = real_perf_counter()
    assert simclock.run(main()) == ("empty", 10.0)
    assert real_perf_counter() - real_start < 1.0


def test_a_worker_bridging_sleeps_through_the_loop_costs_no_real_time():
    async def main():
        loop = asyncio.get_running_loop()

        def bridge():
            for _ in range(5):
                asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), loop).result()
            return "bridged"

        return await asyncio.to_thread(bridge), now()

    real_start = real_perf_counter()
    result, elapsed = simclock.run(main())
    assert (result, elapsed) == ("bridged", pytest.approx(0.25))
    assert real_perf_counter() - real_start < 1.0


def test_results_of_workers_at_one_instant_arrive_in_submission_order():
    async def main():
        async def job(index):
            await asyncio.to_thread(time.sleep, 1)
            return index

        tasks = [asyncio.create_task(job(index)) for index in range(4)]
        return [await task for task in asyncio.as_completed(tasks)]

    orders = {tuple(simclock.run(main())) for _ in range(20)}
    assert orders == {(0, 1, 2, 3)}


class _NewestFirst(queue.LifoQueue):
    """A pool's queue: after `hold(n)`, nothing is taken until n calls are in, newest first."""

    def __init__(self):
        super().__init__()
        self._holding = 0

    def hold(self, count):
        with self.mutex:
            self._holding = count

    def _qsize(self):
        return 0 if self._holding else len(self.queue)

    def _put(self, item):
        super()._put(item)
        if self._holding and len(self.queue) >= self._holding:
            self._holding = 0
            self.not_empty.notify_all()  # put() holds its lock


def test_pool_calls_at_one_instant_deliver_in_submission_order_whatever_order_they_start_in():
    pool = concurrent.futures.ThreadPoolExecutor(4)
    pool._work_queue = _NewestFirst()  # before the pool has a thread: they all take from it
    # Four threads, all idle: a pool makes a new one only while none is idle.
    barrier = threading.Barrier(4)
    for started in [pool.submit(barrier.wait) for _ in range(4)]:
        started.result()

    async def main():
        loop = asyncio.get_running_loop()

        async def job(index):
            await loop.run_in_executor(pool, time.sleep, 1)
            return index

        pool._work_queue.hold(4)  # the pool's threads start the four calls newest first
        tasks = [asyncio.create_task(job(index)) for index in range(4)]
        results = [await task for task in asyncio.as_completed(tasks)]
        return results, simclock.current_clock().now

    try:
        for _ in range(5):
            assert simclock.run(main()) == ([0, 1, 2, 3], 1.0)
    finally:
        pool.shutdown()


def test_a_worker_blocked_on_a_lock_nobody_releases_is_named_in_the_deadlock():
    lock = threading.Lock()
    lock.acquire()

    def stuck():
        lock.acquire()

    async def main():
        await asyncio.to_thread(stuck)

    real_start = real_perf_counter()
    with pytest.raises(simclock.Deadlock) as caught:
        simclock.run(main())
    lock.release()
    assert real_perf_counter() - real_start < 5
    message = str(caught.value)
    assert "stuck" in message
    assert "lock.acquire()" in message


# Restoring everything, however the run ends.


@pytest.mark.parametrize(
    "ending", ["result", "exception", "deadlock", "limit", "keyboard interrupt"]
)
def test_every_clock_is_real_again_after_any_ending(ending):
    async def main():
        await asyncio.sleep(1)
        if ending == "exception":
            raise ValueError("boom")
        if ending == "deadlock":
            await asyncio.Event().wait()
        if ending == "limit":
            await asyncio.sleep(100)
        if ending == "keyboard interrupt":
            raise KeyboardInterrupt

    try:
        simclock.run(main(), limit=10)
    except (ValueError, simclock.SimclockError, KeyboardInterrupt):
        pass
    assert abs(monotonic_bound_at_import() - real_perf_counter()) < 1e6  # both real
    before = monotonic_bound_at_import()
    sleep_bound_at_import(0.01)
    assert monotonic_bound_at_import() - before >= 0.01
    assert abs(dt.datetime.now().timestamp() - time.time()) < 1
    assert time.time() > 1.7e9


def test_a_run_in_a_second_thread_that_outlives_the_first_keeps_its_clock():
    clock = simclock.Clock()
    first_done = threading.Event()
    seen = []

    async def long_run():
        await asyncio.sleep(10)
        while not first_done.is_set():  # the first run ends in real time meanwhile
            await asyncio.sleep(0)
        seen.append(time.monotonic() - simclock.MONOTONIC_ORIGIN)

    thread = threading.Thread(target=simclock.run, args=(long_run(),), kwargs={"clock": clock})
    thread.start()
    simclock.run(asyncio.sleep(3), clock=clock)
    first_done.set()
    thread.join()
    assert seen and seen[0] >= 10.0
    before = time.monotonic()
    time.sleep(0.01)
    assert time.monotonic() - before >= 0.01


def test_a_thread_left_over_from_one_run_reads_real_time_during_the_next():
    from simclock.process.bindings import real_monotonic

    go, done = threading.Event(), threading.Event()
    seen = []

    def leftover():
        go.wait()  # a virtual wait in the first run, a real one once that run is over
        seen.append((time.monotonic() - real_monotonic(), time.time()))
        done.set()

    async def first():
        threading.Thread(target=leftover, daemon=True).start()
        await asyncio.sleep(7000)  # ends with the thread still waiting

    async def second():
        go.set()
        await asyncio.to_thread(done.wait)  # the to_thread worker is this run's own

    simclock.run(first())
    simclock.run(second(), start="2001-01-01")
    (monotonic_offset, wall) = seen[0]
    assert abs(monotonic_offset) < 1  # not the first run's clock, ~7,000 s ahead
    assert wall > 1.7e9  # not the second run's wall clock in 2001


@pytest.mark.parametrize("head_start", [False, True], ids=["racing", "worker first"])
def test_work_handed_to_the_default_executor_before_the_loop_runs_is_seen(head_start):
    loop = simclock.new_event_loop()
    try:
        future = loop.run_in_executor(None, time.sleep, 2)
        if head_start:
            # No clock is bound yet: the worker's sleep starts before the loop runs.
            threading.Event().wait(0.2)
        loop.run_until_complete(asyncio.wait_for(future, 10))
        assert loop.clock.now == 2.0
    finally:
        loop.close()


# xdist's workers always run a second thread; 3.15 then warns on fork, as an error here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_child_forked_during_a_run_reads_real_time():
    import os

    async def main():
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: real clocks, whatever the parent had bound
            real = time.time() > 1.7e9 and time.monotonic() != simclock.MONOTONIC_ORIGIN
            os.write(write, b"real" if real else b"virtual")
            os._exit(0)
        os.waitpid(pid, 0)
        return os.read(read, 10)

    assert simclock.run(main(), start="2001-01-01") == b"real"


def test_a_thread_reading_the_wall_clock_while_runs_start_and_end_reads_real_time():
    import threading

    from simclock.process import bindings

    stop = threading.Event()
    wrong: list[object] = []

    def reader():
        while not stop.is_set():
            try:
                now = time.time()
            except Exception as error:  # noqa: BLE001 - what a binding must never cause
                wrong.append(error)
            else:
                if now < 1.7e9:  # before 2023: not this thread's real time
                    wrong.append(now)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(3000):
            with bindings.bound(simclock.Clock()):
                pass
    finally:
        stop.set()
        thread.join()
    assert wrong == []


def test_a_sleep_past_what_the_wall_clock_can_show_means_never():
    async def main():
        forever = asyncio.create_task(asyncio.sleep(1e300))
        await asyncio.sleep(1)
        seen = time.time(), dt.datetime.now(dt.UTC).year, simclock.current_clock().now
        forever.cancel()
        return seen

    assert simclock.run(main()) == (simclock.DEFAULT_START.timestamp() + 1, 2025, 1.0)


def test_only_a_sleep_past_the_wall_clock_pending_is_a_deadlock():
    with pytest.raises(simclock.Deadlock):
        simclock.run(asyncio.sleep(1e300))


@pytest.mark.parametrize("start", [1e18, -1e12, "9999-12-31T23:59:59+00:00"])
def test_a_start_the_wall_clock_cannot_show_is_refused(start):
    if isinstance(start, str):
        clock = simclock.Clock(start=start)  # the very last instant is fine...
        with pytest.raises(OverflowError, match="year 9999"):
            clock.advance(1)  # ...but nothing after it
        return
    with pytest.raises(ValueError, match="outside what the wall clock can show"):
        simclock.Clock(start=start)


def test_ctime_and_asctime_show_the_virtual_date():
    async def main():
        await asyncio.sleep(86400)
        return time.ctime(), time.asctime()

    assert simclock.run(main()) == ("Thu Jan  2 00:00:00 2025", "Thu Jan  2 00:00:00 2025")


def test_tick_loop_makes_an_in_process_round_trip_measure_more_than_zero():
    async def round_trip():
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[float] = asyncio.Queue()

        async def peer():
            queue.put_nowait(await queue.get())

        task = asyncio.create_task(peer())
        sent = loop.time()
        queue.put_nowait(sent)
        await asyncio.sleep(0)
        await queue.get()
        await task
        return loop.time() - sent

    assert simclock.run(round_trip(), tick=0.001) == 0.0  # tick alone: loop.time() is exact
    assert simclock.run(round_trip(), tick=0.001, tick_loop=True) > 0.0


def test_tick_loop_needs_a_tick():
    with pytest.raises(ValueError, match=r"tick_loop=True .* give a tick"):
        simclock.Clock(tick_loop=True)

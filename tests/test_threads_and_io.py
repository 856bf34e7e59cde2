"""Threads, executors, sockets and child processes on the virtual clock."""

import asyncio
import concurrent.futures
import io
import os
import queue
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from contextlib import redirect_stdout

import pytest

import simclock
from simclock.process import bindings
from simclock.process.bindings import real_perf_counter

CHILD = [sys.executable, "-S", "-c"]


def _in_a_child(source: str) -> subprocess.CompletedProcess[str]:
    """Run `source` in a fresh Python process: no pytest session, no hooks left on."""
    return subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60, check=False
    )


def test_thread_doing_real_work_does_not_lose_to_a_virtual_timeout():
    def crunch():
        start = time.perf_counter()
        while time.perf_counter() - start < 0.2:  # the worker's own clock reads real time spent
            pass
        return "crunched"

    async def main():
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(10):
            result = await asyncio.to_thread(crunch)
        return result, loop.clock.now

    assert simclock.run(main()) == ("crunched", 0.0)


def test_a_threading_wait_in_a_worker_times_out_at_its_virtual_deadline():
    async def main():
        loop = asyncio.get_running_loop()
        never_set = threading.Event()
        waited = await asyncio.wait_for(asyncio.to_thread(never_set.wait, 0.2), timeout=10)
        return waited, loop.clock.now

    real_start = time.perf_counter()
    assert simclock.run(main()) == (False, pytest.approx(0.2))
    assert time.perf_counter() - real_start < 0.19


def test_time_sleep_in_a_worker_thread_is_a_virtual_wait():
    async def main():
        start = time.monotonic()
        elapsed = lambda: time.monotonic() - start  # noqa: E731
        thread = asyncio.create_task(asyncio.to_thread(time.sleep, 2))
        await asyncio.sleep(1)
        print(f"{elapsed():.1f} async done")
        await thread
        print(f"{elapsed():.1f} thread done")

    out = io.StringIO()
    real_start = time.perf_counter()
    with redirect_stdout(out):
        simclock.run(main())
    assert out.getvalue() == "1.0 async done\n2.0 thread done\n"
    assert time.perf_counter() - real_start < 1.0


def test_several_sleeping_workers_wake_in_deadline_order():
    async def main():
        order = []

        def nap(seconds):
            time.sleep(seconds)
            order.append(seconds)

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(pool, nap, s) for s in (3, 1, 2)))
        return order, loop.clock.now

    assert simclock.run(main()) == ([1, 2, 3], 3.0)


def test_a_loop_whose_only_work_is_a_running_thread_is_not_deadlocked():
    async def main():
        return await asyncio.to_thread(threading.Event().wait, 0.05)

    assert simclock.run(main()) is False


def test_getaddrinfo_runs_in_a_tracked_thread():
    async def main():
        infos = await asyncio.get_running_loop().getaddrinfo("127.0.0.1", 80)
        return infos[0][4][0]

    assert simclock.run(main()) == "127.0.0.1"


def test_default_executor_teardown_neither_deadlocks_nor_jumps():
    async def main():
        await asyncio.to_thread(lambda: None)
        await asyncio.sleep(5)

    clock = simclock.Clock()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simclock.run(main(), clock=clock)
    assert clock.now == 5.0


def test_work_submitted_to_a_users_pool_is_found_without_declaring_it():
    def slow():
        start = time.perf_counter()
        while time.perf_counter() - start < 0.05:
            pass
        threading.Event().wait(0.1)
        return "done"

    async def main(pool):
        async with asyncio.timeout(5):
            return await asyncio.wrap_future(
                pool.submit(slow)
            ), asyncio.get_running_loop().clock.now

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert simclock.run(main(pool)) == ("done", pytest.approx(0.1))


@pytest.mark.parametrize("when", ["before the run", "queued", "running"])
def test_a_pool_call_still_there_after_its_loop_closed_keeps_no_clock_bound(when):
    # A call handed off without waiting for it (aiohttp closes a file that
    # way) may start, or still run, after its loop closed and its run let the
    # clock go. It then runs in real time, as a real run's would; it must not
    # keep the finished run's clock bound, or the next run (the next test)
    # fails with ClockConflict.
    from simclock.process.bindings import current_clock

    busy, release, started = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def late_call():
        started.set()
        release.wait(10)
        seen.append((current_clock(), time.time() > 1.7e9))

    async def main(pool):
        loop = asyncio.get_running_loop()
        if when == "queued":
            pool.submit(busy.wait, 10)  # the pool's one thread is taken: the call waits
        loop.run_in_executor(pool, late_call)
        if when == "running":
            await asyncio.to_thread(started.wait, 10)

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        if when == "before the run":
            # Started before the loop runs, the call binds the loop's clock itself.
            loop = simclock.new_event_loop(start="2001-01-01")
            pool.submit(busy.wait, 10)  # the call starts once the handing over is done
            loop.run_in_executor(pool, late_call)
            busy.set()
            assert started.wait(10)
            assert current_clock() is loop.clock
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
        else:
            simclock.run(main(pool), start="2001-01-01")
        assert current_clock() is None
        busy.set()
        assert started.wait(10)
        assert current_clock() is None  # the next run may bind its own clock now
        simclock.run(asyncio.sleep(1))
    finally:
        busy.set()
        release.set()
        pool.shutdown(wait=True)
    assert seen == [(None, True)]


# The loop is left unclosed on purpose: its collection warns.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_pool_call_binding_the_clock_survives_its_loop_being_collected_meanwhile():
    # A call that starts before its loop runs binds the loop's clock itself.
    # Binding allocates, and a garbage collection then may finalize that very
    # loop, left unclosed: closing its work must not wait for a lock the
    # binding call holds (it hung the pool thread for good).
    import gc

    pool = concurrent.futures.ThreadPoolExecutor(1)
    gate, done = threading.Event(), threading.Event()
    pool.submit(gate.wait, 10)  # nothing bound: untracked; takes the pool's one thread

    async def main():
        pool.submit(done.set)  # tracked by the loop, and queued behind the gate

    collecting = (gc.collect, lambda: None, None)  # a collection during the next bind
    enabled = gc.isenabled()
    gc.disable()
    try:
        simclock.new_event_loop().run_until_complete(main())  # the loop is left unclosed
        bindings._hooks.insert(0, collecting)
        gate.set()
        assert done.wait(10)
    finally:
        gate.set()
        if collecting in bindings._hooks:
            bindings._hooks.remove(collecting)
        if enabled:
            gc.enable()
        pool.shutdown(wait=done.is_set())
    assert bindings.current_clock() is None


def test_a_thread_started_while_the_loop_ticks_and_a_worker_waits_virtually_does_not_hang():
    # With tick_loop, reading the loop's time moves the clock, and a worker's
    # virtual wait with a deadline makes every move take the loop's work lock:
    # enlisting the next thread under that lock hung the loop. Run in a child
    # process, so that a hang fails this test alone.
    code = textwrap.dedent("""
        import asyncio, threading, time
        import simclock

        async def main():
            sleeper = threading.Thread(target=time.sleep, args=(5,))
            sleeper.start()
            await asyncio.sleep(0.01)
            threading.Thread(target=lambda: None).start()
            await asyncio.to_thread(sleeper.join)
            return "ok"

        print(simclock.run(main(), clock=simclock.Clock(tick=0.001, tick_loop=True)))
    """)
    done = _in_a_child(code)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_a_plain_thread_calling_back_is_found_without_declaring_it():
    async def main():
        loop = asyncio.get_running_loop()
        answer = loop.create_future()

        def worker():
            start = time.perf_counter()
            while time.perf_counter() - start < 0.05:
                pass
            loop.call_soon_threadsafe(answer.set_result, 42)

        threading.Thread(target=worker).start()
        async with asyncio.timeout(1):
            return await answer, loop.clock.now

    assert simclock.run(main()) == (42, 0.0)


def test_external_work_holds_time_for_work_simclock_cannot_see():
    import queue

    jobs: queue.Queue = queue.Queue()

    def stranger():  # started before the run, so not a worker of its loop
        while (job := jobs.get()) is not None:
            job()

    def crunch_then_answer(loop, answer):
        start = real_perf_counter()
        while real_perf_counter() - start < 0.05:
            pass
        try:
            loop.call_soon_threadsafe(answer.set_result, 42)
        except RuntimeError:  # the undeclared run gave up and closed its loop
            pass

    async def main(declared):
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        jobs.put(lambda: crunch_then_answer(loop, answer))
        if not declared:
            async with asyncio.timeout(1):
                return await answer
        async with simclock.external_work(), asyncio.timeout(1):
            return await answer

    thread = threading.Thread(target=stranger)
    thread.start()
    try:
        with pytest.raises(TimeoutError):
            simclock.run(main(declared=False))
        assert simclock.run(main(declared=True)) == 42
    finally:
        jobs.put(None)
        thread.join()


def test_external_work_is_harmless_on_a_real_loop():
    async def main():
        async with simclock.external_work():
            return 1

    assert asyncio.run(main()) == 1


def test_idle_listening_socket_does_not_slow_jumps():
    async def main():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        for _ in range(1000):
            await asyncio.sleep(1)
        server.close()
        await server.wait_closed()
        return asyncio.get_running_loop().clock.now

    real_start = time.perf_counter()
    assert simclock.run(main()) == 1000.0
    assert time.perf_counter() - real_start < 1.0


def test_loopback_peers_in_this_process_never_wait_for_real_time():
    async def main():
        async def echo(reader, writer):
            try:
                while line := await reader.readline():
                    await asyncio.sleep(0.5)
                    writer.write(line)
            finally:
                writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(20):
            writer.write(b"ping\n")
            assert await asyncio.wait_for(reader.readline(), 1) == b"ping\n"
            await asyncio.sleep(10)
        writer.close()
        await writer.wait_closed()
        server.close()
        return asyncio.get_running_loop().clock.now

    real_start = time.perf_counter()
    assert simclock.run(main()) == pytest.approx(210.0)
    assert time.perf_counter() - real_start < 1.0


def test_child_process_answering_in_real_time_beats_a_virtual_timeout():
    async def main():
        child = await asyncio.create_subprocess_exec(
            *CHILD,
            "import time; time.sleep(0.05); print('pong', flush=True)",
            stdout=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(5):
            line = await child.stdout.readline()
        await child.wait()
        return line, asyncio.get_running_loop().clock.now

    line, now = simclock.run(main())
    assert line == b"pong\n"
    assert now == 0.0


def test_awaiting_a_child_that_takes_real_time_does_not_trip_a_virtual_timeout():
    async def main():
        child = await asyncio.create_subprocess_exec(*CHILD, "import time; time.sleep(0.2)")
        async with asyncio.timeout(5):
            return await child.wait()

    assert simclock.run(main()) == 0


def test_socket_peer_in_another_process_gets_its_grace():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        connection, _ = server.accept()
        with connection:
            connection.recv(100)
            threading.Event().wait(0.05)  # a slow peer, in real time
            connection.sendall(b"pong\n")

    # A thread with a blocking socket stands in for another process: the loop
    # cannot see it and it answers in real time.
    thread = threading.Thread(target=serve)
    thread.start()

    async def main():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        async with asyncio.timeout(5):
            reply = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return reply

    try:
        assert simclock.run(main()) == b"pong\n"
    finally:
        thread.join()
        server.close()


def test_zero_grace_does_not_wait_for_outside_peers():
    async def main():
        # A child blocked reading its stdin waits for us: real work it is not.
        child = await asyncio.create_subprocess_exec(
            *CHILD, "import sys; sys.stdin.read()", stdin=asyncio.subprocess.PIPE
        )
        try:
            async with asyncio.timeout(5):
                await child.wait()
        finally:
            child.stdin.close()
            await child.wait()

    loop = simclock.new_event_loop(io_grace=0)
    try:
        with pytest.raises(TimeoutError):
            loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_io_grace_is_checked(bad):
    with pytest.raises(ValueError, match="io_grace"):
        simclock.new_event_loop(io_grace=bad)


def test_calls_queued_behind_sleeping_workers_let_time_jump():
    async def main():
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.1) for _ in range(5)))
        return loop.clock.now

    assert simclock.run(main()) == pytest.approx(0.3)


def test_teardown_waits_virtually_for_a_worker_still_asleep():
    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.5), 0.1)

    clock = simclock.Clock()
    simclock.run(main(), clock=clock)
    assert clock.now == pytest.approx(0.5)


def test_a_worker_outliving_its_loop_sleeps_for_real():
    ticks = []

    def job():
        for tick in range(3):
            time.sleep(0.02)
            ticks.append(tick)

    pool = concurrent.futures.ThreadPoolExecutor(1)

    async def main():
        asyncio.get_running_loop().run_in_executor(pool, job)
        await asyncio.sleep(0.01)

    simclock.run(main())
    pool.shutdown(wait=True)
    assert ticks == [0, 1, 2]


def test_a_thread_waiting_on_the_loop_does_not_hang_it():
    import queue

    async def main():
        items: queue.Queue[int] = queue.Queue()
        consumer = asyncio.create_task(asyncio.to_thread(lambda: [items.get() for _ in range(3)]))
        for item in range(3):
            await asyncio.sleep(0.05)
            items.put(item)
        return await consumer

    assert simclock.run(main(), io_grace=0.05) == [0, 1, 2]


def double(x):
    return 2 * x


def test_process_pool_work_is_awaited_in_real_time():
    async def main():
        loop = asyncio.get_running_loop()
        with concurrent.futures.ProcessPoolExecutor(1) as pool:
            return await asyncio.wait_for(loop.run_in_executor(pool, double, 21), 5)

    assert simclock.run(main()) == 42


def test_threads_off_the_timeline_keep_real_monotonic_time():
    seen = []
    started = threading.Event()

    def poller():
        started.set()
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:
            threading.Event().wait(0.01)
        seen.append("deadline passed")

    async def main():
        await asyncio.to_thread(thread.join)
        return asyncio.get_running_loop().clock.now

    thread = threading.Thread(target=poller)  # started before the run: not a worker
    thread.start()
    started.wait()
    assert simclock.run(main()) == 0.0
    assert seen == ["deadline passed"]


def test_a_real_loop_inside_a_worker_keeps_real_time():
    async def main():
        return await asyncio.to_thread(asyncio.run, asyncio.sleep(0.01, "real"))

    assert simclock.run(main()) == "real"


def now():
    return simclock.current_clock().now


def test_a_pools_exit_on_the_loops_thread_waits_for_its_virtual_sleeps():
    async def main():
        with concurrent.futures.ThreadPoolExecutor() as pool:
            pool.submit(time.sleep, 1)
        return now()

    started = real_perf_counter()
    assert simclock.run(main()) == 1.0
    assert real_perf_counter() - started < 1.0  # the sleep was skipped, not waited


def test_joining_a_sleeping_thread_on_the_loops_thread_ends_when_it_does():
    async def main():
        thread = threading.Thread(target=time.sleep, args=(1,))
        thread.start()
        thread.join()
        return now()

    assert simclock.run(main()) == 1.0


async def _join_a_1_s_sleeper_for_3_s():
    thread = threading.Thread(target=time.sleep, args=(1,))
    thread.start()
    thread.join(3)
    return now(), thread.is_alive()


def test_a_timed_join_returns_when_the_thread_ends_before_the_timeout():
    assert simclock.run(_join_a_1_s_sleeper_for_3_s()) == (1.0, False)


def test_a_join_right_after_the_start_waits_for_the_workers_virtual_sleep(monkeypatch):
    # The new thread is slow to reach its own code (under load, on a free-threaded
    # Python): the join, which comes first, is already a join of one of the loop's workers.
    from simclock.threads.work import Worker

    start_running_on = Worker.start_running_on

    def slow_to_start(worker, thread):
        bindings.real_sleep(0.05)
        start_running_on(worker, thread)

    monkeypatch.setattr(Worker, "start_running_on", slow_to_start)

    assert simclock.run(_join_a_1_s_sleeper_for_3_s()) == (1.0, False)


def test_a_timed_join_does_not_time_out_while_the_thread_is_torn_down(monkeypatch):
    # Past its work, a thread still has its teardown to do, in real time: the join
    # waits for its end and no deadline passes meanwhile.
    from simclock.threads.work import WorkInFlight

    discharge = WorkInFlight.discharge

    def slow_teardown(work, worker):
        discharge(work, worker)
        bindings.real_sleep(0.05)

    monkeypatch.setattr(WorkInFlight, "discharge", slow_teardown)

    assert simclock.run(_join_a_1_s_sleeper_for_3_s()) == (1.0, False)


def test_a_timed_join_times_out_at_its_virtual_instant():
    async def main():
        thread = threading.Thread(target=time.sleep, args=(5,))
        thread.start()
        thread.join(3)
        timed_out = now(), thread.is_alive()
        thread.join()
        return timed_out, now()

    assert simclock.run(main()) == ((3.0, True), 5.0)


def crunch(seconds):
    """Real work: computes for `seconds` of real time."""
    started = real_perf_counter()
    while real_perf_counter() - started < seconds:
        pass
    return "crunched"


def test_real_work_in_a_worker_is_cut_by_a_short_timeout_as_on_a_real_machine():
    async def main():
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(0.01):
                await asyncio.to_thread(crunch, 0.3)
        except TimeoutError:
            return "timed out", loop.time() - simclock.MONOTONIC_ORIGIN
        return "finished", loop.time() - simclock.MONOTONIC_ORIGIN

    outcome, at = simclock.run(main())
    assert outcome == "timed out"
    assert at == pytest.approx(0.01, abs=1e-9)  # at the timeout's own instant


def test_quick_work_keeps_exact_times():
    async def main():
        await asyncio.to_thread(crunch, 0.005)
        await asyncio.sleep(1)
        return now()

    assert simclock.run(main()) == 1.0


def test_compute_instant_lets_work_take_no_virtual_time():
    async def main():
        async with asyncio.timeout(0.01):
            result = await asyncio.to_thread(crunch, 0.05)
        return result, now()

    assert simclock.run(main(), compute="instant") == ("crunched", 0.0)
    with pytest.raises(ValueError, match="compute must be 'real' or 'instant'"):
        simclock.Clock(compute="fast")


def test_a_workers_post_before_socket_data_runs_before_the_datas_callback():
    async def main():
        loop = asyncio.get_running_loop()
        order = []
        mine, theirs = socket.socketpair()
        mine.setblocking(False)
        read = loop.create_future()

        def on_read():
            mine.recv(1)
            order.append("read")
            loop.remove_reader(mine)
            read.set_result(None)

        loop.add_reader(mine, on_read)

        def worker():
            loop.call_soon_threadsafe(order.append, "posted")
            theirs.send(b"x")  # after the post: a stock loop runs the post first
            time.sleep(0.5)

        await asyncio.gather(asyncio.to_thread(worker), read)
        mine.close()
        theirs.close()
        return order

    for _ in range(20):
        assert simclock.run(main()) == ["posted", "read"]


def test_a_wrapper_installed_after_import_stays_beneath_the_hooks():
    seen = []
    original = threading.Thread.start

    def traced_start(thread):
        seen.append(thread.name)
        return original(thread)

    async def main():
        await asyncio.to_thread(time.sleep, 1)
        thread = threading.Thread(target=time.sleep, args=(1,), name="traced")
        thread.start()
        thread.join()
        return now()

    threading.Thread.start = traced_start
    try:
        assert simclock.run(main()) == 2.0
        assert seen.count("traced") == 1  # the wrapper ran beneath simclock's hook, once
        seen.clear()
        after = threading.Thread(target=lambda: None, name="after")
        after.start()  # with no clock bound: the wrapper, once, and nothing of simclock's
        after.join()
        assert seen == ["after"]
    finally:
        threading.Thread.start = original


# Run in a child process: pytest's session leaves simclock's hooks on between tests.
_PUT_BACK = """
import asyncio, threading, time, types
import simclock
from simclock.process import bindings

original = threading.Thread.start
seen = []

def traced_start(thread):
    seen.append(thread.name)
    return original(thread)

async def main():
    await asyncio.to_thread(time.sleep, 1)
    thread = threading.Thread(target=time.sleep, args=(1,), name="traced")
    thread.start()
    thread.join()
    return simclock.current_clock().now

threading.Thread.start = traced_start
assert simclock.run(main()) == 2.0
assert seen.count("traced") == 1, seen
assert threading.Thread.start is traced_start  # put back after the run
threading.Thread.start = original

# Inside hooks_stay() the hooks stay on between runs, and a tracer may wrap
# them meanwhile: the next run puts a hook on top, the tracer runs once per
# start, threads are still the loop's, and nothing recurses.
with bindings.hooks_stay():
    assert simclock.run(main()) == 2.0
    staying = threading.Thread.start
    assert staying is not original
    assert staying.__wrapped__ is original

    def tracer(thread, beneath=staying):
        seen.append("tracer:" + thread.name)
        return beneath(thread)

    threading.Thread.start = tracer
    seen.clear()
    assert simclock.run(main()) == 2.0
    assert seen.count("tracer:traced") == 1, seen
    assert threading.Thread.start is not tracer  # a hook of simclock's on top again
    assert simclock.run(main()) == 2.0  # and a third run finds it there
    assert seen.count("tracer:traced") == 2, seen
assert threading.Thread.start is tracer  # taken off as the block ended, the tracer's back
threading.Thread.start = original

# A tracer that puts back the hook it found, an older one than simclock's
# newest: the end of the block still takes simclock's hook off.
with bindings.hooks_stay():
    assert simclock.run(main()) == 2.0
    found = threading.Thread.start
    threading.Thread.start = tracer
    assert simclock.run(main()) == 2.0
    threading.Thread.start = found
    assert simclock.run(main()) == 2.0
assert threading.Thread.start is original
# The same, with no run after the tracer came off.
with bindings.hooks_stay():
    assert simclock.run(main()) == 2.0
    found = threading.Thread.start
    threading.Thread.start = tracer
    assert simclock.run(main()) == 2.0
    threading.Thread.start = found
assert threading.Thread.start is original


# A proxy that passes for what it wraps (equal, same hash, as wrapt's do),
# put on between runs: simclock's hook goes over the proxy, not over the
# function the proxy wraps.
class Proxy:
    def __init__(self, wrapped):
        self.wrapped = wrapped

    def __call__(self, thread):
        seen.append("proxy:" + thread.name)
        return self.wrapped(thread)

    def __eq__(self, other):
        return self.wrapped == other

    def __hash__(self):
        return hash(self.wrapped)

    def __get__(self, instance, owner=None):
        return self if instance is None else types.MethodType(self, instance)


assert simclock.run(main()) == 2.0
threading.Thread.start = Proxy(original)
seen.clear()
assert simclock.run(main()) == 2.0
assert "proxy:traced" in seen, seen
threading.Thread.start = original
print("ok")
"""


def test_hooks_are_put_back_after_a_run_and_stay_on_inside_hooks_stay():
    done = _in_a_child(_PUT_BACK)
    assert done.stdout.strip() == "ok", done.stderr


_POPEN_STAYS = """
import asyncio, os, subprocess, sys
import trio
import simclock
from simclock.process import bindings

names = ("__init__", "wait", "communicate")
stock = {name: vars(subprocess.Popen)[name] for name in names}
fork, trio_run = os.fork, trio.run


def on_popen():
    return {name: vars(subprocess.Popen)[name] for name in names}


async def nap():
    await trio.sleep(0)
    return "napped"


with bindings.hooks_stay():
    simclock.run(asyncio.sleep(1))
    assert os.fork is fork  # taken off at the release: its warning names its caller
    hooks = on_popen()
    assert all(hooks[name] is not stock[name] for name in names), hooks
    assert all(hooks[name].__wrapped__ is stock[name] for name in names), hooks
    assert trio.run is not trio_run and trio.run.__wrapped__ is trio_run
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=30)  # passed on
    assert trio.run(nap) == "napped"
    simclock.run(asyncio.sleep(1))
    assert on_popen() == hooks  # still the same hooks
assert on_popen() == stock
assert trio.run is trio_run
simclock.run(asyncio.sleep(1))
assert on_popen() == stock  # outside the block a release takes them off
assert os.fork is fork and trio.run is trio_run
print("ok")
"""


def test_popen_and_trio_run_hooks_stay_on_inside_hooks_stay_but_fork_comes_off():
    pytest.importorskip("trio")
    done = _in_a_child(_POPEN_STAYS)
    assert done.stdout.strip() == "ok", done.stderr


_TRIO_AGAIN = """
import asyncio, sys, types
import simclock

stub = types.ModuleType("trio")
stub.run = lambda *args, **kwargs: "stub"
sys.modules["trio"] = stub  # what a test's monkeypatch may put there
simclock.run(asyncio.sleep(1))
del sys.modules["trio"]
import trio

plain = trio.run


async def main():
    return getattr(trio.run, "__wrapped__", None) is plain


assert simclock.run(main()) is True  # hooked: the module of this bind's
assert trio.run is plain and stub.run(None) == "stub"
print("ok")
"""


def test_trio_run_is_hooked_on_the_module_that_is_trio_at_each_bind():
    pytest.importorskip("trio")
    done = _in_a_child(_TRIO_AGAIN)
    assert done.stdout.strip() == "ok", done.stderr


def test_joining_a_thread_that_does_not_work_for_the_loop_waits_in_real_time():
    started = threading.Event()

    def outsider():  # started before the run: it lives in real time
        started.wait()
        crunch(0.05)

    thread = threading.Thread(target=outsider)
    thread.start()

    async def main():
        started.set()
        thread.join(30)
        return thread.is_alive(), now()

    assert simclock.run(main()) == (False, 0.0)


def test_a_closed_loop_that_used_threads_is_freed_without_the_collector():
    import gc
    import weakref

    loops = []

    async def uses_threads():
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await asyncio.to_thread(time.sleep, 0.5)
        thread = threading.Thread(target=time.sleep, args=(0.5,))
        thread.start()
        thread.join()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            await asyncio.get_running_loop().run_in_executor(pool, time.sleep, 0.5)
        await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.1), 1)

    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        simclock.run(uses_threads())
        assert loops[0]() is None  # freed at once, not at the collector's next pass
    finally:
        if enabled:
            gc.enable()


def test_round_trips_through_a_thread_blocked_in_a_simple_queue_cost_no_settle_delay():
    async def main():
        loop = asyncio.get_running_loop()
        requests = queue.SimpleQueue()  # a C-level wait simclock has no hook for

        def serve():
            while (item := requests.get()) is not None:
                future, value = item
                loop.call_soon_threadsafe(future.set_result, value * 2)

        server = threading.Thread(target=serve)
        server.start()
        answers = []
        for value in range(200):
            future = loop.create_future()
            requests.put((future, value))
            answers.append(await future)
            await asyncio.sleep(0.01)  # a jump: the server must be seen durably blocked
        requests.put(None)
        await asyncio.to_thread(server.join)
        return answers, loop.clock.now

    started = real_perf_counter()
    answers, now = simclock.run(main())
    assert answers == [2 * value for value in range(200)]
    assert now == pytest.approx(2.0)
    # A generous bound: two 50 ms settle delays per round trip made this 20 s.
    assert real_perf_counter() - started < 5


@pytest.mark.parametrize("wait", ["lock", "simple queue", "pipe read"])
def test_a_c_level_wait_on_the_loops_thread_ends_when_a_sleeping_worker_releases_it(wait):
    async def main():
        if wait == "lock":
            lock = threading.Lock()
            lock.acquire()
            block, release = lock.acquire, lock.release
        elif wait == "simple queue":
            items = queue.SimpleQueue()
            block, release = items.get, lambda: items.put(1)
        else:
            read_end, write_end = os.pipe()
            block, release = (lambda: os.read(read_end, 1)), (lambda: os.write(write_end, b"x"))

        def worker():
            time.sleep(1)  # a virtual sleep: nobody else can move the clock meanwhile
            release()

        thread = threading.Thread(target=worker)
        thread.start()
        block()  # the loop's own thread, in a wait simclock has no hook for
        thread.join()
        if wait == "pipe read":
            os.close(read_end)
            os.close(write_end)
        return asyncio.get_running_loop().clock.now

    assert simclock.run(main(), limit=100) == 1.0  # as a real run: the worker slept 1 s


@pytest.mark.parametrize("far_timer", [False, True], ids=["nothing pending", "a far timer"])
def test_a_workers_c_level_lock_wait_with_a_timeout_ends_at_its_instant(far_timer):
    async def main():
        lock = threading.Lock()
        lock.acquire()
        loop = asyncio.get_running_loop()
        if far_timer:
            loop.call_later(60, lambda: None)
        got = await asyncio.to_thread(lock.acquire, timeout=0.5)
        return got, loop.clock.now

    got, instant = simclock.run(main())
    assert got is False  # as a real run: a timeout, not a deadlock
    # The wait was real waiting: the loop's clock moves on by its length, as a real one does.
    assert 0.5 <= instant < 0.6


def test_a_worker_woken_from_a_c_level_lock_reads_the_instant_it_was_released():
    async def main():
        lock = threading.Lock()
        lock.acquire()
        seen = []

        def worker():
            lock.acquire()  # durably blocked where simclock has no hook, until t=3
            seen.append(time.monotonic() - simclock.MONOTONIC_ORIGIN)

        thread = threading.Thread(target=worker)
        thread.start()
        await asyncio.sleep(3)
        lock.release()
        await asyncio.to_thread(thread.join)
        return seen

    (reading,) = simclock.run(main())
    assert 3.0 <= reading < 3.5  # it read about 0.003 before: its start plus real time


def test_while_a_clock_is_bound_popen_and_fork_look_as_they_do_unbound():
    import inspect

    from simclock.process import bindings

    def seen():
        popen = subprocess.Popen
        return (
            inspect.signature(popen),
            inspect.signature(popen.wait),
            inspect.signature(popen.communicate),
            popen.__init__.__qualname__,
            os.fork.__name__,
        )

    before = seen()
    with bindings.bound(simclock.Clock()):
        assert subprocess.Popen.__init__.__module__ == "subprocess"
        assert seen() == before


def test_hooks_left_on_between_runs_are_remembered_once_and_pass_calls_on():
    from simclock.process import bindings

    with bindings.hooks_stay():
        simclock.run(asyncio.sleep(1))
        left = len(bindings._left_on)
        for _ in range(5):
            simclock.run(asyncio.sleep(1))
        assert len(bindings._left_on) == left  # not one more per run
        # Between runs the policy makes the loop it would have made, and a
        # stock loop runs on real time as it would have.
        loop = asyncio.new_event_loop()  # through the policy's, which stays on
        try:
            assert not isinstance(loop, simclock.VirtualEventLoop)
            assert loop.run_until_complete(asyncio.sleep(0.01, "real")) == "real"
        finally:
            loop.close()


def test_a_thread_started_by_a_wrapper_beneath_the_hooks_works_for_the_loop_too():
    original = threading.Thread.start
    helpers = []

    def tracer(thread):  # starts a helper beside the thread it traces
        if thread.name == "traced":
            helper = threading.Thread(target=time.sleep, args=(3,), name="helper")
            helpers.append(helper)
            helper.start()
        return original(thread)

    async def main():
        thread = threading.Thread(target=time.sleep, args=(1,), name="traced")
        thread.start()
        await asyncio.to_thread(thread.join)
        await asyncio.to_thread(helpers[0].join)
        return now()

    threading.Thread.start = tracer
    try:
        real_start = real_perf_counter()
        assert simclock.run(main()) == 3.0  # the helper's 3 s sleep, a worker's virtual wait
        assert real_perf_counter() - real_start < 2
    finally:
        threading.Thread.start = original


def test_a_call_a_wrapper_beneath_the_hooks_hands_the_same_pool_works_for_the_loop_too():
    original = concurrent.futures.ThreadPoolExecutor.submit
    extra = []

    def tracer(executor, fn, /, *args, **kwargs):
        if not extra:  # hands the pool one more call beside the first it sees
            extra.append(None)
            extra[0] = executor.submit(time.sleep, 3)
        return original(executor, fn, *args, **kwargs)

    async def main():
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            await loop.run_in_executor(pool, time.sleep, 1)
            await asyncio.wrap_future(extra[0])
        return now()

    concurrent.futures.ThreadPoolExecutor.submit = tracer
    try:
        real_start = real_perf_counter()
        assert simclock.run(main()) == 3.0  # the extra call's 3 s sleep, a worker's virtual wait
        assert real_perf_counter() - real_start < 2
    finally:
        concurrent.futures.ThreadPoolExecutor.submit = original

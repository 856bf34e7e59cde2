"""The bubble: loops in other threads and the threads that feed them share one clock.

A loop run in a thread of its own and fed from the thread that bound the clock
(a portal, a bridge, `run_coroutine_threadsafe`) is not deadlocked while its
feeder works; a feeder's sleeps and waits are virtual and let the loop's timers
fire in between at their own instants (simclock.threads.bubble).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import os
import sys
import threading
import time

import anyio.from_thread
import pytest

import simclock
import simclock.threads.strangers
from simclock.process import bindings, bound, natives
from simclock.process.bindings import real_perf_counter, real_sleep
from simclock.process.loops import virtual_loops
from simclock.process.probe import _TIMEOUT_ARGS, ThreadProbe, _kernel_wait


def loop_in_a_thread(clock: simclock.Clock) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = simclock.new_event_loop(clock)
    thread = threading.Thread(target=loop.run_forever, name="loop thread")
    thread.start()
    while not loop.is_running():  # the feeder's waits are the bubble's once the loop runs
        real_sleep(0.001)
    return loop, thread


def stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def test_a_loop_fed_from_the_binding_thread_is_not_deadlocked():
    clock = simclock.Clock()

    async def work():
        await asyncio.sleep(1)
        return clock.now

    with bound(clock):
        loop, thread = loop_in_a_thread(clock)
        time.sleep(0)  # the loop goes idle before anything is posted
        results = [asyncio.run_coroutine_threadsafe(work(), loop).result() for _ in range(3)]
        stop(loop, thread)
    assert results == [1.0, 2.0, 3.0]


def test_an_anyio_portal_on_a_virtual_loop_answers_at_virtual_instants():
    clock = simclock.Clock()

    async def handler(name):
        await anyio.sleep(2)
        return name, clock.now

    started = real_perf_counter()
    with bound(clock):
        options = {"loop_factory": simclock.new_event_loop}
        with anyio.from_thread.start_blocking_portal(backend_options=options) as portal:
            answers = [portal.call(handler, "a"), portal.call(handler, "b")]
    assert answers == [("a", 2.0), ("b", 4.0)]
    assert real_perf_counter() - started < 1.0


def test_the_feeders_sleep_lets_the_loops_timers_fire_at_their_instants():
    clock = simclock.Clock()
    fired = []
    with bound(clock):
        loop, thread = loop_in_a_thread(clock)
        for delay in (0.5, 1.5):
            loop.call_soon_threadsafe(loop.call_later, delay, lambda: fired.append(clock.now))
        time.sleep(1)
        woke = clock.now
        time.sleep(1)
        stop(loop, thread)
    assert fired == [0.5, 1.5]
    assert woke == 1.0
    assert clock.now == 2.0


def test_a_feeders_timed_result_times_out_at_its_virtual_instant():
    clock = simclock.Clock()
    with bound(clock):
        loop, thread = loop_in_a_thread(clock)
        future = asyncio.run_coroutine_threadsafe(asyncio.sleep(1, "late"), loop)
        started = real_perf_counter()
        with pytest.raises(concurrent.futures.TimeoutError):
            future.result(timeout=0.5)
        timed_out_at = clock.now
        assert real_perf_counter() - started < 0.5  # the wait was skipped, not waited
        assert future.result() == "late"
        stop(loop, thread)
    assert (timed_out_at, clock.now) == (0.5, 1.0)


def test_two_loops_in_two_threads_keep_one_order_of_events():
    clock = simclock.Clock()
    events = []

    async def ticker(name, period, count):
        for _ in range(count):
            await asyncio.sleep(period)
            events.append((clock.now, name))

    with bound(clock):
        first, first_thread = loop_in_a_thread(clock)
        second, second_thread = loop_in_a_thread(clock)
        a = asyncio.run_coroutine_threadsafe(ticker("a", 1.0, 3), first)
        b = asyncio.run_coroutine_threadsafe(ticker("b", 0.75, 4), second)
        a.result()
        b.result()
        stop(first, first_thread)
        stop(second, second_thread)
    # The two ticks at 3.0 are truly concurrent: either may be recorded first.
    assert [when for when, _name in events] == [0.75, 1.0, 1.5, 2.0, 2.25, 3.0, 3.0]


def test_a_loop_in_another_thread_waits_for_real_work_in_the_feeder():
    clock = simclock.Clock()
    with bound(clock):
        loop, thread = loop_in_a_thread(clock)
        timer = asyncio.run_coroutine_threadsafe(asyncio.sleep(10, "done"), loop)
        crunched = 0
        started = real_perf_counter()
        while real_perf_counter() - started < 0.05:  # real work, not waiting
            crunched += 1
        during = clock.now
        assert timer.result() == "done"
        stop(loop, thread)
    assert during < 10.0  # the loop did not jump past the feeder's work
    assert clock.now == 10.0


# Real code: a web framework's test client and Django's sync/async bridge.


def slow_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def slow(request):
        await asyncio.sleep(1)
        return JSONResponse({"t": simclock.current_clock().now})

    return Starlette(routes=[Route("/slow", slow)])


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_starlettes_test_client_runs_its_app_on_the_virtual_clock():
    from starlette.testclient import TestClient

    clock = simclock.Clock()
    started = real_perf_counter()
    with bound(clock), virtual_loops(simclock.new_event_loop):
        with TestClient(slow_app()) as client:
            answers = [client.get("/slow").json()["t"] for _ in range(3)]
    assert answers == [1.0, 2.0, 3.0]
    assert real_perf_counter() - started < 1.0


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_starlettes_test_client_takes_simclock_as_its_loop_factory():
    from starlette.testclient import TestClient

    clock = simclock.Clock()
    options = {"loop_factory": simclock.new_event_loop}
    with bound(clock):
        with TestClient(slow_app(), backend_options=options) as client:
            answers = [client.get("/slow").json()["t"] for _ in range(2)]
    assert answers == [1.0, 2.0]


def test_asgirefs_nested_bridge_hands_work_back_to_the_main_thread():
    from asgiref.sync import async_to_sync, sync_to_async

    async def inner():
        await asyncio.sleep(1)
        return simclock.current_clock().now

    def middle():
        return async_to_sync(inner)()

    async def outer():
        return await sync_to_async(middle)()

    clock = simclock.Clock()
    started = real_perf_counter()
    with bound(clock), virtual_loops(simclock.new_event_loop):
        assert async_to_sync(outer)() == 1.0
    assert real_perf_counter() - started < 1.0


def test_trio_run_on_a_bound_thread_runs_on_real_time_instead_of_hanging():
    import trio

    async def main():
        await trio.sleep(0.02)
        return trio.current_time() > 0

    clock = simclock.Clock()
    with bound(clock):
        assert trio.run(main) is True
        assert clock.now == 0.0  # trio's time is its own; the virtual clock did not move
        assert time.monotonic() == simclock.MONOTONIC_ORIGIN  # the thread is virtual again


def test_a_spinning_loop_in_a_crowd_lets_real_time_end_the_feeders_sleep():
    clock = simclock.Clock()
    flag = threading.Event()

    async def spinner():
        while not flag.is_set():  # real work: it spins until the feeder's sleep ends
            await asyncio.sleep(0)
        return clock.now

    with bound(clock):
        loop = simclock.new_event_loop(clock, livelock_after=10_000)
        thread = threading.Thread(target=loop.run_forever)
        thread.start()
        spun = asyncio.run_coroutine_threadsafe(spinner(), loop)
        time.sleep(0.2)
        flag.set()
        assert spun.result() == pytest.approx(0.2)
        stop(loop, thread)


def test_a_feeder_waiting_on_a_deadlocked_loop_is_let_go_with_the_error():
    clock = simclock.Clock()

    async def never():
        await asyncio.Event().wait()  # nothing will ever set it

    with bound(clock):
        loop = simclock.new_event_loop(clock)
        errors = []

        def run():
            try:
                loop.run_forever()
            except simclock.Deadlock as error:
                errors.append(error)

        thread = threading.Thread(target=run)
        thread.start()
        while not loop.is_running():  # the feeder waits in the bubble once the loop runs
            real_sleep(0.001)
        future = asyncio.run_coroutine_threadsafe(never(), loop)
        with pytest.raises(simclock.errors.RunEnded, match="ended with Deadlock"):
            future.result()  # would wait forever
        thread.join()
        loop.close()
    assert len(errors) == 1


# Threads outside every bubble (strangers): they read real time, but may still post.


def test_a_loop_made_outside_any_run_and_fed_from_its_maker_thread_answers():
    loop = simclock.new_event_loop()  # no clock bound: the maker thread is no member
    thread = threading.Thread(target=loop.run_forever, name="loop thread")
    thread.start()

    async def work():
        await asyncio.sleep(5)
        return loop.clock.now

    try:
        results = [asyncio.run_coroutine_threadsafe(work(), loop).result(30) for _ in range(3)]
    finally:
        stop(loop, thread)
    assert results == [5.0, 10.0, 15.0]


@pytest.mark.parametrize("how", ["computes", "sleeps"])
def test_a_thread_started_before_the_run_may_still_post_to_an_idle_loop(how):
    loop = simclock.new_event_loop()
    answer = loop.create_future()

    def server():
        if how == "sleeps":
            time.sleep(0.2)  # no clock is bound: a real sleep, a timed wait in the kernel
        else:
            end = real_perf_counter() + 0.2
            while real_perf_counter() < end:
                pass
        loop.call_soon_threadsafe(answer.set_result, "done")

    thread = threading.Thread(target=server)
    thread.start()
    try:
        # Nothing is pending on the loop: a real loop sleeps in select until the post.
        assert loop.run_until_complete(answer) == "done"
        assert loop.clock.now == 0.0  # waiting for a stranger takes no virtual time
    finally:
        thread.join()
        loop.close()


def test_a_deadlock_is_still_reported_beside_a_stranger_blocked_for_good():
    blocked = threading.Event()
    stranger = threading.Thread(target=blocked.wait, daemon=True)  # no timeout: cannot post
    stranger.start()
    started = real_perf_counter()
    try:
        with pytest.raises(simclock.Deadlock):
            simclock.run(asyncio.Event().wait())
    finally:
        blocked.set()
        stranger.join()
    assert real_perf_counter() - started < 5  # a generous bound: it takes about SETTLE


def test_a_stranger_that_never_posts_holds_a_deadlock_only_for_a_while(monkeypatch):
    monkeypatch.setattr(simclock.threads.strangers, "PATIENCE", 0.2)
    done = threading.Event()

    def heartbeat():
        while not done.wait(0.01):  # wakes and sleeps again, never posts
            pass

    stranger = threading.Thread(target=heartbeat, name="heartbeat", daemon=True)
    stranger.start()
    try:
        with pytest.raises(simclock.Deadlock, match=r"heartbeat.*never posted"):
            simclock.run(asyncio.Event().wait())
    finally:
        done.set()
        stranger.join()


@pytest.mark.parametrize("timeout", [None, 0.5])
def test_a_loops_thread_blocked_on_another_loops_answer_lets_that_loop_move_on(timeout):
    clock = simclock.Clock()
    other = simclock.new_event_loop(clock)

    async def answer():
        await asyncio.sleep(1)
        return clock.now

    async def main():
        thread = threading.Thread(target=other.run_forever, name="other loop")
        thread.start()
        while not other.is_running():
            real_sleep(0.001)
        future = asyncio.run_coroutine_threadsafe(answer(), other)
        try:
            # Blocks this loop's own thread: the other loop must still reach its timer.
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            timed_out = clock.now
            return f"timed out at {timed_out}, answered at {future.result()}"
        finally:
            other.call_soon_threadsafe(other.stop)
            thread.join()
            other.close()

    started = real_perf_counter()
    expected = 1.0 if timeout is None else "timed out at 0.5, answered at 1.0"
    assert simclock.run(main(), clock=clock) == expected
    assert real_perf_counter() - started < 0.9  # a generous bound: it took 1 s real


def test_a_loop_a_worker_makes_joins_the_runs_clock():
    async def nap():
        await asyncio.sleep(2)
        return type(asyncio.get_running_loop()).__name__

    async def main():
        started = time.monotonic()
        kind = await asyncio.to_thread(asyncio.run, nap())  # as asgiref's async_to_sync does
        return kind, time.monotonic() - started

    started = real_perf_counter()
    assert simclock.run(main()) == ("VirtualEventLoop", 2.0)
    assert real_perf_counter() - started < 1.5  # a generous bound: it took 2 s real


def test_a_thread_on_real_time_still_gets_a_stock_loop_during_a_run():
    kinds = []

    def outsider():
        loop = asyncio.new_event_loop()
        kinds.append(type(loop).__name__)
        loop.close()

    async def main():
        worker = threading.Thread(target=outsider)
        worker.start()  # started by the run's thread: a worker, on the clock
        await asyncio.to_thread(worker.join)
        stranger = threading.Thread(target=outsider)
        with bindings.viewing(None):  # started from real time, as before the run: a stranger
            stranger.start()
        stranger.join()
        return kinds

    assert simclock.run(main()) == ["VirtualEventLoop", "_UnixSelectorEventLoop"]


def test_a_deadlock_after_one_that_named_strangers_names_only_its_own(monkeypatch):
    monkeypatch.setattr(simclock.threads.strangers, "PATIENCE", 0.2)
    done = threading.Event()
    stranger = threading.Thread(target=lambda: done.wait(30), name="heartbeat", daemon=True)
    loop = simclock.new_event_loop()
    try:
        stranger.start()
        with pytest.raises(simclock.Deadlock, match=r"heartbeat.*never posted"):
            loop.run_until_complete(asyncio.Event().wait())
        done.set()
        stranger.join()
        with pytest.raises(simclock.Deadlock) as caught:
            loop.run_until_complete(asyncio.Event().wait())
        assert "heartbeat" not in str(caught.value)
    finally:
        done.set()
        loop.close()


# Threads C code starts (simclock.process.natives): the kernel sees them, `threading` does not.

needs_proc = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs Linux: native threads are seen in /proc"
)


def _pthreads() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.pthread_create.argtypes = [
        ctypes.POINTER(ctypes.c_ulong),
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    libc.pthread_join.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
    libc.pthread_cancel.argtypes = [ctypes.c_ulong]
    libc.pthread_tryjoin_np.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
    return libc


def _start_native(libc: ctypes.CDLL, function: object, argument: int | None) -> ctypes.c_ulong:
    thread = ctypes.c_ulong()
    pointer = ctypes.cast(function, ctypes.c_void_p)
    assert libc.pthread_create(ctypes.byref(thread), None, pointer, argument) == 0
    return thread


@needs_proc
def test_a_thread_c_code_starts_holds_time_while_it_sleeps():
    # `usleep` as the thread's body: 0.3 real seconds in nanosleep, all in C.
    libc = _pthreads()

    async def main():
        loop = asyncio.get_running_loop()
        started = loop.time()
        thread = _start_native(libc, libc.usleep, 300_000)
        while libc.pthread_tryjoin_np(thread, None) != 0:
            await asyncio.sleep(0.01)
        return loop.time() - started

    elapsed = simclock.run(main())
    # The polls follow real time while the thread sleeps (in steps, each due once as
    # much real time has passed), as in a real run; racing past it, 0.3 real seconds
    # of polls would have made hours of virtual time.
    assert 0 < elapsed < 30, elapsed


@needs_proc
def test_a_worker_joining_a_native_thread_that_waits_does_not_let_a_timeout_pass():
    # A DNS query in c-ares's own thread, as the loop sees it: the answer comes
    # after a wait with a timeout in C, while the caller's 300 s timeout is
    # pending. Here a worker joins the C thread: blocked with no timeout, it
    # alone would let the clock jump to the timeout.
    libc = _pthreads()

    async def main():
        started = time.monotonic()
        thread = _start_native(libc, libc.usleep, 300_000)
        await asyncio.wait_for(asyncio.to_thread(libc.pthread_join, thread, None), 300)
        return time.monotonic() - started

    elapsed = simclock.run(main())
    # The wait took its real time, as in a real run (and not 300 s).
    assert 0.25 <= elapsed < 30, elapsed


@needs_proc
def test_a_native_thread_blocked_for_good_lets_time_jump():
    libc = _pthreads()

    async def main():
        loop = asyncio.get_running_loop()
        started = loop.time()
        thread = _start_native(libc, libc.pause, None)
        try:
            await asyncio.sleep(3600)
        finally:
            libc.pthread_cancel(thread)
            libc.pthread_join(thread, None)
        return loop.time() - started

    started = real_perf_counter()
    assert simclock.run(main()) == 3600.0
    assert real_perf_counter() - started < 30  # a generous sanity bound: it jumped


@needs_proc
def test_without_glibcs_thread_count_the_link_count_of_proc_sees_native_threads(monkeypatch):
    monkeypatch.setattr(natives, "_glibc_counter", None)  # as on musl
    test_a_worker_joining_a_native_thread_that_waits_does_not_let_a_timeout_pass()
    with bound(simclock.Clock()):
        counter, threads = natives.threads_to_watch()
        assert type(counter).__name__ == "_LinkCount"
        assert counter[0] == threads == len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("runnable", [True, False])
def test_a_stranger_awake_and_waiting_only_for_a_cpu_may_still_post(monkeypatch, runnable):
    # Under load a thread whose sleep has ended may wait a while for a CPU: it is
    # neither asleep with a timeout nor using CPU time, and still about to post.
    read, write = os.pipe()

    def blocked_in_select():
        import select

        select.select([read], [], [])  # no timeout: asleep, not timed

    stranger = threading.Thread(target=blocked_in_select, daemon=True)
    stranger.start()
    monkeypatch.setattr(ThreadProbe, "runnable", lambda probe: runnable)
    watch = simclock.threads.strangers.Strangers()
    others = lambda thread: thread is not stranger  # noqa: E731 - only the stranger is looked at
    try:
        probe = ThreadProbe(stranger.native_id)
        while not probe.asleep():  # until it is in select
            real_sleep(0.001)
        probe.close()
        now = bindings.real_monotonic()
        watch.may_post(others, now)  # a first look counts as work
        watch.may_post(others, now + 0.001)
        later = watch.may_post(others, now + 10 * simclock.threads.bubble.SETTLE)
    finally:
        os.write(write, b"x")
        stranger.join()
        watch.forget()
        os.close(read)
        os.close(write)
    assert later == ([stranger.name] if runnable else [])


def test_a_probe_tells_a_thread_ready_to_run_from_one_asleep():
    release = threading.Event()
    sleeper = threading.Thread(target=release.wait)
    sleeper.start()
    try:
        probe = ThreadProbe(sleeper.native_id)
        while not probe.asleep():  # until it waits on the event
            real_sleep(0.001)
        probe.close()
        me, other = ThreadProbe(threading.get_native_id()), ThreadProbe(sleeper.native_id)
        try:
            assert me.runnable()
            assert not other.runnable()
        finally:
            me.close()
            other.close()
    finally:
        release.set()
        sleeper.join()


needs_syscalls = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _TIMEOUT_ARGS,
    reason="needs Linux, on a machine whose system calls simclock knows",
)


def _in_a_wait(thread: threading.Thread, timed: bool, argument: int | None = None) -> None:
    """Return once `thread` is asleep in the kernel, in a wait with a timeout or with none.

    With `argument`, in a system call whose first argument it is (a read of that fd).
    """
    deadline = real_perf_counter() + 10
    wanted = None if argument is None else b"%#x" % argument
    while True:
        timeout, line = _kernel_wait(thread.native_id)
        if timeout is timed and (wanted is None or (line or b"").split()[1:2] == [wanted]):
            return
        assert thread.is_alive() and real_perf_counter() < deadline, "it never reached that wait"
        real_sleep(0.001)


def _sleeps_then_takes_a_mutex() -> tuple[threading.Thread, threading.Lock, threading.Lock]:
    """A started thread that waits with a timeout until `sleep` is released, then for `mutex`.

    Both locks are held: release `sleep` to end its timed wait, `mutex` to let it end.
    """
    sleep, mutex = threading.Lock(), threading.Lock()
    sleep.acquire()
    mutex.acquire()

    def sleeps_then_takes_the_mutex():
        sleep.acquire(timeout=60)  # a wait with a timeout, as a time.sleep
        mutex.acquire()  # then one with none
        mutex.release()

    thread = threading.Thread(target=sleeps_then_takes_the_mutex)
    thread.start()
    return thread, sleep, mutex


@needs_syscalls
def test_a_stranger_whose_timed_wait_ended_may_post_while_it_waits_for_a_mutex(monkeypatch):
    # A sleep ends; on its way back the thread waits a moment for a mutex with no
    # timeout (the GIL's, under load), using too little CPU to count as work. It is
    # about to post: its quiet time starts afresh, not from when its sleep began.
    monkeypatch.setattr("simclock.process.probe._PROGRESS_NS", 10**15)  # waking never shows as work
    stranger, sleep, mutex = _sleeps_then_takes_a_mutex()
    watch = simclock.threads.strangers.Strangers()
    others = lambda thread: thread is not stranger  # noqa: E731 - only the stranger is looked at
    settle = simclock.threads.bubble.SETTLE
    try:
        _in_a_wait(stranger, timed=True)
        now = bindings.real_monotonic()
        watch.may_post(others, now)  # a first look counts as work
        watch.may_post(others, now + 0.001)  # quiet from here
        asleep = watch.may_post(others, now + 10 * settle)
        sleep.release()
        _in_a_wait(stranger, timed=False)
        woken = watch.may_post(others, now + 10 * settle + 0.001)
        blocked = watch.may_post(others, now + 20 * settle)
    finally:
        mutex.release()
        stranger.join()
        watch.forget()
    assert asleep == [stranger.name]  # asleep with a timeout: it comes back by itself
    assert woken == [stranger.name]  # in its new wait only lately
    assert blocked == []  # in the same wait for SETTLE: blocked for good


@needs_syscalls
def test_a_worker_whose_timed_wait_ended_holds_time_while_it_waits_for_a_mutex(monkeypatch):
    # As for a stranger (above), for a worker of the loop: quiet in a timed wait for
    # longer than the loop's I/O grace, it no longer held time; once that wait ended,
    # a moment's wait for a mutex on its way back is work again.
    monkeypatch.setattr("simclock.process.probe._PROGRESS_NS", 10**15)  # waking never shows as work
    thread, sleep, mutex = _sleeps_then_takes_a_mutex()
    loop = simclock.new_event_loop()
    work = loop._work
    worker = work.enlist("sleeper")
    grace = work.io_grace
    try:
        _in_a_wait(thread, timed=True)
        worker.start_running_on(thread)
        now = bindings.real_monotonic()
        work.look_closer(now, True, 5.0)  # a first look counts as work
        work.look_closer(now + 0.001, True, 5.0)  # quiet from here
        asleep = work.look_closer(now + 10 * grace, True, 5.0)
        sleep.release()
        _in_a_wait(thread, timed=False)
        woken = work.look_closer(now + 10 * grace + 0.001, True, 5.0)
    finally:
        mutex.release()
        thread.join()
        work.discharge(worker)
        loop.close()
    assert not asleep  # quiet for longer than the grace, with a timeout of its own
    assert woken  # in its new wait only lately


@needs_syscalls
def test_a_thread_is_blocked_for_good_only_when_seen_twice_in_the_same_wait(monkeypatch):
    # Two reads of two pipes: waits with no timeout, told apart by their arguments.
    # (Lock waits are not always: on a free-threaded Python every lock parks its
    # thread on one semaphore of the thread's own.)
    monkeypatch.setattr("simclock.process.probe._PROGRESS_NS", 10**15)  # moving on is never work
    first, second = os.pipe(), os.pipe()

    def one_read_then_another():
        os.read(first[0], 1)
        os.read(second[0], 1)

    thread = threading.Thread(target=one_read_then_another)
    thread.start()
    watcher = None
    try:
        _in_a_wait(thread, timed=False, argument=first[0])
        watcher = ThreadProbe(thread.native_id)
        watcher.activity()  # a first look counts as work
        watcher.activity()
        again = watcher.blocked_for_good
        os.write(first[1], b"x")
        _in_a_wait(thread, timed=False, argument=second[0])
        watcher.activity()
        moved = watcher.blocked_for_good
        watcher.activity()
        stays = watcher.blocked_for_good
    finally:
        if watcher is not None:
            watcher.close()
        os.write(second[1], b"x")
        thread.join()
        for fd in (*first, *second):
            os.close(fd)
    assert again  # the same read twice, no CPU used between
    assert not moved  # another read than last time: not yet for good
    assert stays

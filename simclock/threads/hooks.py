"""How simclock finds the threads working for a loop, and makes their waits virtual.

Installed while a clock is bound (`simclock.loop` registers `install` and
`uninstall` with `simclock.process.bindings.while_bound`), and
inert for every thread that does not live on a virtual clock:

- `threading.Thread.start`, called by code working for a loop (on its thread
  or in one of its workers), makes the new thread a worker of that loop from
  before it starts until its `run` returns. A thread pool's own threads are
  left alone: the calls handed to them are tracked instead.
- `concurrent.futures.ThreadPoolExecutor.submit`, called the same way, makes
  the call a worker while it runs (`run_in_executor`, `to_thread` and
  `getaddrinfo` all go through it).
- `threading.Condition.wait` in a worker is a virtual wait: every `threading`
  wait built on a condition (`Event`, `Semaphore`, `Barrier`, `queue.Queue`,
  `concurrent.futures.Future.result`) times out at its virtual deadline.
  `Condition.notify` marks the workers it wakes as working before they run,
  so the loop cannot jump past them.
- `threading.Thread.join` in a worker is a durable wait.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import math
import threading
from collections.abc import Callable
from typing import Any

from simclock._compat.threading_internals import (
    POOL_THREAD_TARGET,
    acquire_restore,
    allocate_lock,
    is_owned,
    release_save,
    waiters,
)
from simclock.clock.clock import Clock, later
from simclock.clock.idle import Snapshot, Verdict, decide
from simclock.errors import Deadlock
from simclock.process import bindings
from simclock.process.patches import Patch, Patches
from simclock.threads.bubble import GATES as BUBBLE_GATES
from simclock.threads.bubble import Bubble, bubble_of, in_a_crowd
from simclock.threads.work import GATES, TrackedCall, Worker, WorkInFlight

__all__ = ["PATCHES", "install", "uninstall"]

# Real seconds the loop's thread may wait, blocked, with nothing that could end it.
_PATIENCE = 5.0


def _work_of_caller() -> WorkInFlight | None:
    work = getattr(bindings.current_view(), "work", None)
    if isinstance(work, WorkInFlight) and not work.closed:
        return work
    return None


def _worker_of_caller() -> Worker | None:
    worker = getattr(bindings.current_view(), "worker", None)
    if isinstance(worker, Worker) and not worker.work.closed:
        return worker
    return None


def _start(start: Callable[..., Any], thread: threading.Thread) -> None:
    work = _work_of_caller()
    if work is None:
        view = bindings.current_view()
        if isinstance(view, bindings.ClockView):
            # A thread that bound the clock starts one: it joins the bubble.
            bubble = bubble_of(view.clock)
            bubble.started(thread)
            try:
                start(thread)
            except BaseException:
                bubble.not_started(thread)
                raise
            return
        start(thread)
        return
    if getattr(thread, "_target", None) is POOL_THREAD_TARGET:
        start(thread)
        return
    # Working from before it starts, so the loop cannot jump past its first steps,
    # and known by its thread at once: a join right after the start is a join of a worker.
    worker = work.enlist(thread.name)
    worker.thread = thread
    run = thread.run

    def run_as_worker() -> None:
        worker.start_running_on(threading.current_thread())
        try:
            with bindings.viewing(worker):
                run()
        finally:
            work.discharge(worker)

    thread.run = run_as_worker  # type: ignore[method-assign]
    try:
        start(thread)
    except BaseException:
        work.discharge(worker)
        raise


def _join(join: Callable[..., Any], thread: threading.Thread, timeout: float | None = None) -> None:
    worker = _worker_of_caller()
    if worker is None:
        view = bindings.current_view()
        work = _work_of_caller()
        # Asked once: a worker discharged between two asks would have no `ending`.
        employed = work is not None and work.employs(thread)
        if (
            work is not None
            and isinstance(view, bindings.ClockView)
            and thread.is_alive()
            and (employed or getattr(thread, "_target", None) is POOL_THREAD_TARGET)
        ):
            # The loop's own thread joins one of its workers or a pool's thread (a
            # pool's __exit__): while it lives, its virtual waits must still end at
            # their instants. Any other thread ends in real time, and so does the join.
            if timeout is not None and timeout <= 0:
                join(thread, timeout)
                return

            def ended(seconds: float) -> bool:
                join(thread, seconds)
                return not thread.is_alive()

            ending = None
            if employed:

                def ending() -> bool:
                    # Its work is over, and the thread is being torn down: that ends
                    # by itself, in real time; no deadline of this loop's passes
                    # meanwhile (loops sharing the clock do not see it: see
                    # `_block_in_a_crowd`).
                    return not work.employs(thread)

            block_the_loops_thread(ended, timeout, view.clock, work, ending)
            return
        join(thread, timeout)
        return
    # Joining a worker: durable while that worker is; its end wakes the joiner.
    gate = allocate_lock()
    gate.acquire()
    if timeout is not None or not worker.work.join_gate(worker, gate, thread):
        # A timed join, or a thread that does not work for the loop: it ends in
        # real time, so does the wait for it, and the joiner holds time meanwhile.
        with worker.waiting_for_real():
            join(thread, timeout)
        return
    try:
        join(thread, timeout)
    finally:
        worker.waking = False  # its thread runs again
        worker.work.resume_gate(gate, by_itself=True)


def _wait(
    wait: Callable[..., Any], condition: threading.Condition, timeout: float | None = None
) -> bool:
    worker = _worker_of_caller()
    if timeout is not None and timeout <= 0:
        return bool(wait(condition, timeout))
    if worker is None:
        view = bindings.current_view()
        work = _work_of_caller()
        if work is not None and isinstance(view, bindings.ClockView):
            return _wait_on_the_loops_thread(condition, timeout, view.clock, work)
        bubble = in_a_crowd(view.clock) if isinstance(view, bindings.ClockView) else None
        if bubble is not None:
            # A thread that bound the clock, while a loop runs on it in another.
            notified, virtual = _condition_wait(
                condition, lambda waiter: bubble.wait(waiter, timeout)
            )
            if notified or virtual:
                return notified
        return bool(wait(condition, timeout))
    notified, virtual = _condition_wait(
        condition, lambda waiter: worker.block(waiter, timeout, "threading wait")
    )
    if notified:
        return True
    if not virtual:  # the loop closed under the wait: wait for real instead
        return bool(wait(condition, timeout))
    return False  # the virtual deadline woke it


def _condition_wait(
    condition: threading.Condition, block: Callable[[Any], bool]
) -> tuple[bool, bool]:
    """`Condition.wait`'s protocol around `block(waiter)`, which blocks on the waiter lock.

    Returns whether a notify woke the wait (it took the waiter off the queue),
    and what `block` answered.
    """
    if not is_owned(condition):
        raise RuntimeError("cannot wait on un-acquired lock")
    waiter = allocate_lock()
    waiter.acquire()
    queue = waiters(condition)
    queue.append(waiter)
    saved_state = release_save(condition)
    answer = False
    try:
        answer = block(waiter)
    finally:
        acquire_restore(condition, saved_state)
    try:
        queue.remove(waiter)
    except ValueError:
        return True, answer
    return False, answer


def _wait_on_the_loops_thread(
    condition: threading.Condition, timeout: float | None, clock: Clock, work: WorkInFlight
) -> bool:
    """A blocking `threading` wait on the loop's own thread (a sync queue, a lock)."""

    def block(waiter: Any) -> bool:
        return block_the_loops_thread(
            lambda seconds: bool(waiter.acquire(True, seconds)), timeout, clock, work
        )

    notified, _ = _condition_wait(condition, block)
    return notified


def block_the_loops_thread(
    attempt: Callable[[float], bool],
    timeout: float | None,
    clock: Clock,
    work: WorkInFlight,
    ending: Callable[[], bool] | None = None,
) -> bool:
    """Block the loop's own thread until `attempt(seconds)` succeeds, or `timeout` virtual seconds.

    `attempt` waits at most `seconds` real seconds for what the thread waits
    on and says whether it came. Nothing on the loop can run meanwhile, so only
    workers can bring it, and the loop's own timers cannot fire: this wait's
    deadline stands in for them. While a worker works, wait in real time; once
    none works, the idle decision (`simclock.clock.idle.decide`) jumps to the
    next worker deadline or to this wait's own (then False: timed out at its
    own instant), waits while a worker was busy within the last `_PATIENCE`
    real seconds, and otherwise calls it a deadlock, instead of a hang.

    `ending`, if given, says whether what the thread waits for is on its way by
    itself (a joined worker past its work, its thread being torn down): real
    work, as a worker's, for at most `_PATIENCE` real seconds.
    """
    deadline = math.inf if timeout is None else later(clock.reading, timeout)
    bubble = in_a_crowd(clock)
    if bubble is not None:
        return _block_in_a_crowd(attempt, deadline, bubble, work, ending)
    look, busy_at = 0.001, bindings.real_monotonic()
    ends_by_itself = _ends_by_itself(ending)
    while not attempt(look):
        look = min(0.05, look * 2)
        now = bindings.real_monotonic()
        if (work.holds_time() and work.look_closer(now, True, _PATIENCE)) or ends_by_itself(now):
            busy_at = now
            continue
        decision = decide(
            Snapshot(
                next_timer=deadline,
                next_wait=work.next_wait(),
                could_be_woken=now - busy_at <= _PATIENCE,
            )
        )
        if decision.verdict is Verdict.JUMP:
            clock.jump_to(decision.reading)
            if decision.reading >= deadline:
                return attempt(0)  # timed out at its own instant, unless it came just now
            busy_at, look = now, 0.001  # a worker's wait ended: it works again, look soon
        elif decision.verdict is Verdict.DEADLOCK:
            raise Deadlock(
                clock.now,
                [],
                [
                    "the loop's own thread is blocked (a lock, a queue, an Event, a join) "
                    "in a wait that no worker can end"
                ],
            )
    return True


def _ends_by_itself(ending: Callable[[], bool] | None) -> Callable[[float], bool]:
    """`ending`, held true for at most `_PATIENCE` real seconds each time it becomes true."""
    since: float | None = None

    def ends_by_itself(now: float) -> bool:
        nonlocal since
        if ending is None or not ending():
            since = None
            return False
        if since is None:
            since = now
        return now - since < _PATIENCE

    return ends_by_itself


def _block_in_a_crowd(
    attempt: Callable[[float], bool],
    deadline: float,
    bubble: Bubble,
    work: WorkInFlight,
    ending: Callable[[], bool] | None = None,
) -> bool:
    """`block_the_loops_thread` while other loops run on the clock in other threads.

    The blocked loop publishes this wait's deadline (and its workers') as its
    own, so the other loops may move on meanwhile, as the thread of a real loop
    blocked in a callback lets the others run; what it waits for most often
    comes from one of them (a `run_coroutine_threadsafe(...).result()`). Once
    none of them and none of its workers works, it moves the clock for the whole
    bubble to the earliest deadline, as an idle loop does. A deadlock, if it
    comes to that, is for the other loops to call.
    """
    clock = bubble.clock
    me = threading.get_ident()
    loop = clock.loops().get(me)
    look, published = 0.001, None
    ends_by_itself = _ends_by_itself(ending)
    try:
        while not attempt(look):
            if clock.reading >= deadline:
                return attempt(0)  # another loop moved the clock to this wait's deadline
            look = min(0.05, look * 2)
            own = min(deadline, work.next_wait())
            if loop is not None and own != published:
                # Published, and the others woken to look, only when it changes: a
                # loop woken for nothing would find this thread running, and wait.
                loop.blocked_until(own)
                published = own
                bubble.wake_loops(me)
            now = bindings.real_monotonic()
            if work.holds_time() and work.look_closer(now, True, _PATIENCE):
                continue
            if ends_by_itself(now) or bubble.others_working(me, now):
                continue
            target = min(own, bubble.next_deadline(me))
            if target == math.inf or target <= clock.reading:
                continue
            bubble.jump_to(target, me)
            if target >= deadline:
                return attempt(0)  # timed out at its own instant, unless it came just now
            look = 0.001
        return True
    finally:
        if loop is not None:
            loop.blocked_until(None)


def _notify(notify: Callable[..., Any], condition: threading.Condition, n: int = 1) -> None:
    if GATES or BUBBLE_GATES:
        # The waiters notify() will release, in its order: mark their workers
        # and members working before any of them can run.
        left = n
        for waiter in list(waiters(condition)):
            if left <= 0:
                break
            if waiter.locked():
                left -= 1
                work = GATES.get(waiter)
                if work is not None:
                    work.resume_gate(waiter)
                bubble = BUBBLE_GATES.get(waiter)
                if bubble is not None:
                    bubble.resume(waiter)
    notify(condition, n)


def _submit(
    submit: Callable[..., Any],
    executor: concurrent.futures.ThreadPoolExecutor,
    fn: Callable[..., Any],
    /,
    *args: Any,
    **kwargs: Any,
) -> concurrent.futures.Future[Any]:
    work = _work_of_caller()
    if work is None:
        return submit(executor, fn, *args, **kwargs)  # type: ignore[no-any-return]
    pool = work.pool(executor, getattr(executor, "_max_workers", None))
    call: TrackedCall[Any] = TrackedCall(work, pool, fn)
    try:
        future: concurrent.futures.Future[Any] = submit(executor, call, *args, **kwargs)
    except BaseException:
        # The pool may have queued the call before failing (starting its thread,
        # say): it must still end as a worker when it runs, not wait for a future.
        call.future_done()
        call.attach(None)
        raise
    call.attach(future)
    future.add_done_callback(call.future_done)
    return future


# Installed as a clock is bound, and left on between bindings of a pytest
# session (`bindings.hooks_stay`): inert while no clock is bound.
PATCHES = Patches(
    Patch(threading.Thread, "start", _start),
    Patch(threading.Thread, "join", _join),
    Patch(threading.Condition, "wait", _wait),
    Patch(threading.Condition, "notify", _notify),
    Patch(concurrent.futures.ThreadPoolExecutor, "submit", _submit),
)


def install() -> None:
    """Hook threading and thread pools: called as a clock is bound.

    The hooks go on top of whatever is there at that moment (a tracer's or a
    profiler's wrapper installed after simclock was imported) and call it
    beneath; `uninstall` puts exactly it back.
    """
    PATCHES.install()


def uninstall() -> None:
    """Put threading and thread pools back."""
    PATCHES.uninstall()

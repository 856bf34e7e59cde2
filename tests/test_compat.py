"""Each assumption simclock makes about asyncio's and threading's private state, pinned.

simclock reads other code's private state only through `simclock._compat`.
The suite runs on every supported Python, so a release that breaks one of
these assumptions fails here first, under the assumption's own name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dis
import gc
import logging
import threading
import warnings
from asyncio import base_events

import pytest

import simclock
from simclock._compat import asyncio_internals as aio
from simclock._compat import threading_internals as thr
from simclock.loop.timers import VirtualTimerHandle


def _slots(cls: type) -> set[str]:
    return {slot for klass in cls.__mro__ for slot in getattr(klass, "__slots__", ())} - {
        "__weakref__"
    }


def test_handle_slots_are_those_the_fast_path_sets() -> None:
    assert _slots(asyncio.Handle) == aio.HANDLE_SLOTS
    assert _slots(asyncio.TimerHandle) == aio.TIMER_SLOTS
    assert _slots(VirtualTimerHandle) == aio.TIMER_SLOTS | {"_background", "_owner", "_queue"}


def test_a_handle_built_by_the_fast_path_equals_one_built_by_asyncio() -> None:
    async def main() -> tuple[dict[str, object], dict[str, object]]:
        loop = asyncio.get_running_loop()
        fast = loop.call_soon(print)
        stock = asyncio.Handle(print, (), loop, fast._context)  # type: ignore[attr-defined]
        fast.cancel()
        stock.cancel()
        return (
            {slot: getattr(fast, slot) for slot in aio.HANDLE_SLOTS},
            {slot: getattr(stock, slot) for slot in aio.HANDLE_SLOTS},
        )

    fast, stock = simclock.run(main())
    assert fast == stock


def test_run_forever_is_the_driver_that_calls_run_once() -> None:
    called = {
        instruction.argval
        for instruction in dis.get_instructions(aio.RUN_FOREVER)
        if instruction.opname in ("LOAD_ATTR", "LOAD_METHOD")
    }
    assert "_run_once" in called
    assert "_stopping" in called


def test_timer_purge_rule_and_select_timeout_exist() -> None:
    assert isinstance(aio.MIN_SCHEDULED_TIMERS, int) and aio.MIN_SCHEDULED_TIMERS > 0
    assert 0 < aio.MIN_CANCELLED_FRACTION < 1
    assert aio.MAX_SELECT_TIMEOUT > 0


def test_format_handle_names_a_handle() -> None:
    loop = asyncio.new_event_loop()
    try:
        handle = loop.call_soon(print)
        assert "print" in aio.format_handle(handle)
    finally:
        loop.close()


def test_a_sleeping_tasks_timer_is_owned_by_the_task() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(asyncio.sleep(5))
        await asyncio.sleep(0)
        timers = [timer for timer in loop._timers if not timer._cancelled]  # type: ignore[attr-defined]
        owned = aio.owner_of(timers[0]) is task
        task.cancel()
        return owned

    assert simclock.run(main())


def test_awaited_future_is_what_a_task_waits_on() -> None:
    async def main() -> bool:
        future = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(asyncio.wait_for(future, None))
        await asyncio.sleep(0)
        inner = aio.awaited_future(task)
        future.set_result(None)
        await task
        return inner is future and aio.awaited_future(task) is None

    assert simclock.run(main())


def test_gathered_children_are_a_gathers_tasks() -> None:
    async def main() -> bool:
        first = asyncio.create_task(asyncio.sleep(1))
        second = asyncio.create_task(asyncio.sleep(2))
        gathered = asyncio.gather(first, second)
        children = aio.gathered_children(gathered)
        await gathered
        return children == [first, second] and aio.gathered_children(first) is None

    assert simclock.run(main())


def test_stored_exception_does_not_mark_it_retrieved(caplog: pytest.LogCaptureFixture) -> None:
    async def fail() -> None:
        raise ValueError("boom")

    async def main() -> BaseException | None:
        task = asyncio.create_task(fail())
        await asyncio.sleep(0)
        seen = aio.stored_exception(task)
        del task  # dropped unretrieved: asyncio reports it
        return seen

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        seen = asyncio.run(main())
        gc.collect()
    assert isinstance(seen, ValueError)
    assert "exception was never retrieved" in caplog.text


def test_the_policy_base_makes_the_implicit_loops() -> None:
    assert aio.POLICY_BASE is not None
    assert "new_event_loop" in vars(aio.POLICY_BASE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the policy API, from 3.14
        policy = asyncio.get_event_loop_policy()
    assert isinstance(policy, aio.POLICY_BASE)


def test_condition_wait_protocol_parts() -> None:
    condition = threading.Condition(threading.RLock())
    with condition:
        with condition:  # an RLock at depth two
            assert thr.is_owned(condition)
            state = thr.release_save(condition)
            assert not thr.is_owned(condition)
            thr.acquire_restore(condition, state)
            assert thr.is_owned(condition)
        waiter = thr.allocate_lock()
        waiter.acquire()
        thr.waiters(condition).append(waiter)
        condition.notify()
        assert not waiter.locked()
        assert len(thr.waiters(condition)) == 0


def test_a_thread_has_started_once_its_bootstrap_says_so() -> None:
    go = threading.Event()
    thread = threading.Thread(target=go.wait)
    assert not thr.thread_has_started(thread)
    thread.start()
    assert thr.thread_has_started(thread)
    go.set()
    thread.join()
    assert thr.thread_has_started(thread)  # ended, but it did start


def test_a_pools_threads_run_the_pool_thread_target() -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(int).result()
        (thread,) = pool._threads  # type: ignore[attr-defined]
        assert getattr(thread, "_target", None) is thr.POOL_THREAD_TARGET


def test_base_events_still_has_the_logger_simclock_warns_through() -> None:
    assert isinstance(base_events.logger, logging.Logger)  # type: ignore[attr-defined]


def test_a_selector_loop_keeps_each_sockets_transport_by_fd() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        fd = writer.transport.get_extra_info("socket").fileno()
        found = aio.transport_of(loop, fd) is writer.transport
        writer.close()
        await writer.wait_closed()  # or its socket is left to the collector, in a later test
        server.close()
        await server.wait_closed()
        return found

    assert simclock.run(main())

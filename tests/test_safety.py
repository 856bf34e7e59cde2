"""simclock never corrupts memory, and works beneath other tools' wrappers.

The swapped clock functions are called by the interpreter itself (see
simclock.process.clockswap), so whatever a replacement raises reaches the
caller as the real function's errors do. These tests run in subprocesses:
a corrupted interpreter shows as a crash or a wrong exit status there.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading

import pytest

import simclock


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_pre_bound_sleep_raises_what_sleep_raises_during_a_run():
    result = run_python(
        """
        import time
        from time import sleep
        import simclock

        BAD = ["x", -1, float("nan"), None, float("inf"), 1e300, [], object()]

        def raised_by(function):
            raised = []
            for bad in BAD:
                try:
                    function(bad)
                    raised.append("nothing")
                except Exception as error:
                    raised.append((type(error).__name__, str(error)))
            return raised

        async def main():
            return raised_by(sleep), raised_by(time.sleep)

        in_a_run = simclock.run(main())
        real = raised_by(sleep)
        print(in_a_run[0] == real, in_a_run[1] == real, len(real))
        """
    )
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr
    assert result.stdout.strip() == "True True 8"


def test_sleep_of_true_sleeps_a_virtual_second_as_time_sleep_does():
    result = run_python(
        """
        import time
        import simclock

        async def main():
            time.sleep(True)
            return simclock.current_clock().now

        print(simclock.run(main()))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1.0"


def test_a_recursion_error_inside_a_pre_bound_clock_propagates():
    result = run_python(
        """
        import sys
        from time import monotonic
        import simclock

        def deep(n):
            return monotonic() if n == 0 else deep(n - 1)

        async def main():
            try:
                deep(sys.getrecursionlimit() + 50)
            except RecursionError:
                return "RecursionError"
            return "no error"

        print(simclock.run(main()))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "RecursionError"


def test_ctrl_c_during_a_pre_bound_sleep_in_another_thread_is_not_lost():
    result = run_python(
        """
        import os, signal, threading, time
        from time import sleep
        import simclock

        started = threading.Event()

        async def main():
            started.set()
            await __import__("asyncio").sleep(3600)

        runner = threading.Thread(target=simclock.run, args=(main(),), daemon=True)
        runner.start()
        started.wait()
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            sleep(30)  # the main thread reads real time: a real sleep, interrupted
        except KeyboardInterrupt:
            print("interrupted")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "interrupted"


def test_hostile_calls_from_many_threads_never_crash_the_interpreter():
    calls = 4 * 5_000
    result = run_python(
        f"""
        import math, threading
        from time import monotonic, monotonic_ns, perf_counter, perf_counter_ns, sleep
        import simclock

        # Arguments time.sleep refuses, and two it takes that sleep no time at all.
        HOSTILE = ["x", -1, math.nan, math.inf, None, [], 10**400, 1e300, object(), 0, -0.0]
        errors, ok = [], []  # appends: a shared counter loses updates without the GIL

        def hammer():
            for index in range({calls // 4}):
                value = HOSTILE[index % len(HOSTILE)]
                try:
                    monotonic(); monotonic_ns(); perf_counter(); perf_counter_ns()
                    sleep(value)
                    ok.append(1)
                except (TypeError, ValueError, OverflowError) as error:
                    errors.append(type(error).__name__)

        async def main():
            threads = [threading.Thread(target=hammer) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return len(errors) + len(ok)

        print(simclock.run(main()))
        """,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr
    assert int(result.stdout) == calls


@pytest.mark.parametrize("order", ["wrapper first", "simclock first"])
def test_a_wrapper_on_time_sleep_keeps_working_on_top_of_the_virtual_clock(order):
    wrap = """
        import functools, time
        calls = []
        _sleep = time.sleep

        @functools.wraps(_sleep)
        def wrapper(seconds):
            calls.append(seconds)
            return _sleep(seconds)

        time.sleep = wrapper
    """
    use = """
        import simclock

        async def main():
            time.sleep(2)
            return simclock.current_clock().now

        print(simclock.run(main()), calls, time.sleep is wrapper)
    """
    parts = [wrap, use] if order == "wrapper first" else ["import simclock", wrap, use]
    result = run_python("\n".join(textwrap.dedent(part) for part in parts))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.0 [2] True"


STUCK = """
import asyncio, threading
import simclock

async def main():
    await asyncio.to_thread(threading.Event().wait)  # nobody will ever set it

simclock.run(main())
"""


def test_a_deadlock_with_a_worker_stuck_in_a_virtual_wait_ends_the_process():
    result = run_python(STUCK, timeout=30)
    assert result.returncode == 1
    assert result.stderr.count("simclock.errors.Deadlock") == 1  # the first error, once
    assert "RuntimeWarning" not in result.stderr


def test_simclock_run_exits_after_such_a_deadlock(tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text(STUCK.replace("simclock.run(main())", "asyncio.run(main())"))
    result = subprocess.run(
        [sys.executable, "-m", "simclock", "run", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "Deadlock" in result.stderr


def test_a_pool_submit_that_fails_after_queueing_leaves_no_thread_stuck():
    # A blocking-call detector (or anything) raising inside submit once the call is
    # queued: the call still runs when a thread takes it, and ends as a worker,
    # instead of waiting forever for a future it was never given.
    import concurrent.futures

    async def main():
        loop = asyncio.get_running_loop()
        executor = concurrent.futures.ThreadPoolExecutor(1)
        adjust = executor._adjust_thread_count

        def refuse_once():
            executor._adjust_thread_count = adjust
            raise RuntimeError("a detector objects")

        executor._adjust_thread_count = refuse_once
        with pytest.raises(RuntimeError, match="a detector objects"):
            await loop.run_in_executor(executor, sum, [1, 2])
        result = await loop.run_in_executor(executor, sum, [3, 4])  # starts the thread
        await asyncio.to_thread(executor.shutdown, wait=True)  # both calls ended
        return result

    outcome = []
    runner = threading.Thread(target=lambda: outcome.append(simclock.run(main())), daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "the pool's thread is stuck"
    assert outcome == [7]

"""Each lesson of the asyncio blog, as a test a student can read.

    pytest examples/teaching        (the project's own test run includes these too)

Every test replays one of the blog's scripts in `examples/blog/` on a virtual
clock with `simclock.replay_script`, in a few milliseconds, and asserts what
the lesson teaches: when each line was printed, which task was done when,
and in what order things happened. A test fails with a message that says
when the expected thing did happen.
"""

from __future__ import annotations

from pathlib import Path

import simclock

BLOG = Path(__file__).resolve().parent.parent / "blog"


def replay(stem: str) -> simclock.ScriptRun:
    result = simclock.replay_script(BLOG / f"{stem}.py")
    assert result.status == 0, result.stderr
    return result


def test_await_in_sequence_takes_the_sum_of_the_chores_11_seconds():
    timeline = replay("04_await_in_sequence").timeline
    assert timeline.duration == 11.0
    timeline.assert_at(11.0, "[최종 종료 시각] 11.0초")
    # Each chore starts only when the one before it has ended.
    timeline.assert_printed_in_order(
        " 0.0초 :: 세탁기 시작",
        " 4.0초 :: 세탁기 종료",
        " 4.0초 :: 로봇청소기 시작",
        " 7.0초 :: 로봇청소기 종료",
        " 7.0초 :: 샤워 시작",
        " 9.0초 :: 샤워 종료",
        " 9.0초 :: 공부 시작",
        "11.0초 :: 공부 종료",
    )
    assert len(timeline.tasks()) == 1  # no task but main: nothing ran alongside


def test_create_task_runs_the_machines_alongside_4_seconds_in_all():
    timeline = replay("05_create_task").timeline
    assert timeline.duration == 4.0
    timeline.assert_at(4.0, "[최종 종료 시각]  4.0초")
    timeline.assert_overlapped("washing_task", "vacuum_task")
    timeline.assert_took("washing_task", 4.0)
    timeline.assert_took("vacuum_task", 3.0)
    # While main showers and studies, both machines are still going.
    at_two = timeline.state_at(2.0)
    assert at_two["washing_task"] is at_two["vacuum_task"] is simclock.TaskState.PENDING
    timeline.assert_before("샤워 종료", "vacuum_task finished")
    timeline.assert_before("vacuum_task finished", "washing_task finished")
    timeline.assert_at(4.0, "washing_task finished", "main() finished")


def test_gather_returns_results_in_argument_order_whatever_finishes_first():
    timeline = replay("06_gather").timeline
    timeline.assert_printed_in_order(" 1.0초 :: C", " 2.0초 :: B", " 3.0초 :: A")
    timeline.assert_at(3.0, "results :: ['a', 'b', 'c']")


def test_taskgroup_block_ends_when_its_last_task_does():
    timeline = replay("07_taskgroup").timeline
    timeline.assert_before(":: A", "out of tg block")
    timeline.assert_at(3.0, "out of tg block", "a b c")


def test_wait_with_timeout_3_returns_c_and_b_done_and_a_pending():
    timeline = replay("08_wait_timeout").timeline
    at_timeout = timeline.state_at(3.0)
    # A task left unnamed is labelled by the call that made it.
    assert [timeline.label(task) for task in at_timeout.done] == [
        "fetch_data('C', 1)",
        "fetch_data('B', 2)",
    ]
    assert [timeline.label(task) for task in at_timeout.pending] == ["main()", "fetch_data('A', 3)"]
    timeline.assert_at(3.0, "완료된 작업 :  ['c', 'b']")
    # A is due at t=3 too, but finishes only after main has reported it pending.
    timeline.assert_before("안 끝난 작업", "fetch_data('A', 3) finished")
    timeline.assert_at(3.0, "fetch_data('A', 3) finished")


def test_wait_first_completed_returns_as_soon_as_c_is_done():
    timeline = replay("09_wait_first_completed").timeline
    reported = timeline.find("완료된 작업")
    assert reported.at == 1.0
    states = timeline.state_at(reported)  # exactly when main printed the line
    assert [timeline.label(task) for task in states.done] == ["fetch_data('C', 1)"]
    assert [timeline.label(task) for task in states.pending] == [
        "main()",
        "fetch_data('A', 3)",
        "fetch_data('B', 2)",
    ]
    assert states[reported.task or ""] is simclock.TaskState.RUNNING


def test_as_completed_hands_results_over_in_the_order_they_finish():
    timeline = replay("10_as_completed").timeline
    timeline.assert_printed_in_order("처리 완료 : c", "처리 완료 : b", "처리 완료 : a")
    timeline.assert_at(1.0, "처리 완료 : c")
    timeline.assert_at(2.0, "처리 완료 : b")
    timeline.assert_at(3.0, "처리 완료 : a")


def test_a_blocking_sleep_still_takes_its_2_seconds():
    result = replay("02_blocking_sleep")
    assert result.stdout == "2.0 :: wakeup!\n"
    assert result.timeline.duration == 2.0


def test_a_forgotten_await_takes_no_time_and_python_warns():
    result = replay("03_forgotten_await")
    assert result.stdout == "0.0초 :: wakeup!\n"
    assert "coroutine 'sleep' was never awaited" in result.stderr

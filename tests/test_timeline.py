"""The Timeline records what happened when, and its assertions pin orderings exactly."""

import asyncio
import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

import simclock
from simclock.replay.script import compile_script, run_script
from simclock.timeline import draw

BLOG = Path(__file__).resolve().parent.parent / "examples" / "blog"


def replay_blog(stem: str) -> simclock.Timeline:
    timeline = simclock.Timeline()
    run_script(compile_script(str(BLOG / f"{stem}.py")), [], simclock.Clock(), timeline=timeline)
    return timeline


def test_create_task_example_as_a_lesson(capsys):
    timeline = replay_blog("05_create_task")
    capsys.readouterr()
    timeline.assert_at(4.0, "세탁기 종료", "공부 종료")
    timeline.assert_before("샤워 종료", "세탁기 종료")
    timeline.assert_before("로봇청소기 종료", "세탁기 종료")
    timeline.assert_took("washing_task", 4.0)
    timeline.assert_took("vacuum_task", 3.0)
    timeline.assert_overlapped("washing_task", "vacuum_task")
    assert timeline.end == 4.0
    main = timeline.tasks()[0]
    main_steps = [e.at for e in timeline if e.task == main and e.kind is simclock.EventKind.RAN]
    assert main_steps == [0.0, 2.0, 4.0]


def test_await_in_sequence_example_never_overlaps(capsys):
    timeline = replay_blog("04_await_in_sequence")
    capsys.readouterr()
    timeline.assert_sequence(
        [
            (0.0, " 0.0초 :: 세탁기 시작"),
            (4.0, " 4.0초 :: 세탁기 종료"),
            (4.0, " 4.0초 :: 로봇청소기 시작"),
            (7.0, " 7.0초 :: 로봇청소기 종료"),
            (7.0, " 7.0초 :: 샤워 시작"),
            (9.0, " 9.0초 :: 샤워 종료"),
            (9.0, " 9.0초 :: 공부 시작"),
            (11.0, "11.0초 :: 공부 종료"),
            (11.0, ""),
            (11.0, "[최종 종료 시각] 11.0초"),
        ]
    )
    assert len(timeline.tasks()) == 1


def test_gather_example_finishes_in_reverse_and_returns_in_order(capsys):
    timeline = replay_blog("06_gather")
    capsys.readouterr()
    timeline.assert_before(":: C", ":: B")
    timeline.assert_before(":: B", ":: A")
    timeline.assert_at(3.0, ":: A", "results :: ['a', 'b', 'c']")


def test_wait_timeout_example_reports_before_a_finishes(capsys):
    timeline = replay_blog("08_wait_timeout")
    capsys.readouterr()
    timeline.assert_before("안 끝난 작업", ":: A")
    timeline.assert_at(3.0, "완료된 작업 :  ['c', 'b']", ":: A")


def test_marks_and_prints_carry_their_task_and_time(capsys):
    async def worker():
        await asyncio.sleep(1.5)
        simclock.mark("worker checkpoint")
        print("worker done")

    async def main():
        task = asyncio.create_task(worker(), name="worker")
        print("main waiting")
        await task

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    assert capsys.readouterr().out == "main waiting\nworker done\n"
    notes = [(e.at, e.task, e.kind.value, e.text) for e in timeline.notes()]
    main = timeline.tasks()[0]
    assert notes == [
        (0.0, main, "printed", "main waiting"),
        (1.5, "worker", "mark", "worker checkpoint"),
        (1.5, "worker", "printed", "worker done"),
    ]
    assert timeline.real_seconds > 0


def test_mark_without_a_timeline_does_nothing():
    async def main():
        simclock.mark("nobody listens")
        return 1

    assert simclock.run(main()) == 1
    simclock.mark("outside any run")


def test_task_endings_are_recorded():
    async def fails():
        await asyncio.sleep(1)
        raise ValueError("boom")

    async def sleeper():
        await asyncio.sleep(10)

    async def main():
        failing = asyncio.create_task(fails(), name="fails")
        cancelled = asyncio.create_task(sleeper(), name="sleeper")
        await asyncio.sleep(2)
        cancelled.cancel()
        await asyncio.gather(failing, cancelled, return_exceptions=True)

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    endings = {
        (e.task, e.kind.value, e.at) for e in timeline if e.kind.value in ("failed", "cancelled")
    }
    assert endings == {("fails", "failed", 1.0), ("sleeper", "cancelled", 2.0)}


def test_failed_assertions_show_expected_against_recorded_with_times(capsys):
    timeline = replay_blog("05_create_task")
    capsys.readouterr()
    with pytest.raises(simclock.TimelineAssertionError, match=r"expected \['세탁기 종료'\]") as at:
        timeline.assert_at(3.0, "세탁기 종료")
    assert "t=   4.000s" in str(at.value)
    with pytest.raises(AssertionError, match="expected '세탁기 종료' before '샤워 종료'"):
        timeline.assert_before("세탁기 종료", "샤워 종료")
    with pytest.raises(AssertionError, match=r"took 4s .* expected 3s"):
        timeline.assert_took("washing_task", 3.0)
    with pytest.raises(AssertionError, match="no task named or labelled 'dryer'"):
        timeline.assert_took("dryer", 1.0)
    with pytest.raises(AssertionError, match=r"(?s)- expected +'wrong'.*\+ t="):
        timeline.assert_printed([timeline.printed()[0], "wrong"])


def test_tasks_one_after_another_did_not_overlap():
    async def main():
        await asyncio.create_task(asyncio.sleep(1), name="first")
        await asyncio.create_task(asyncio.sleep(1), name="second")

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    with pytest.raises(AssertionError, match=r"'first' ran t=0.000..1.000s .* did not overlap"):
        timeline.assert_overlapped("first", "second")
    timeline.assert_took("second", 1.0)


def test_text_chart_fits_80_columns_and_shows_each_lane(capsys):
    timeline = replay_blog("05_create_task")
    capsys.readouterr()
    chart = draw.to_text(timeline)
    lines = chart.splitlines()
    assert all(len(line) <= 80 for line in lines[:8]), chart
    lanes = {
        line.split()[0]: line for line in lines if line.startswith(("main()", "washing", "vacuum"))
    }
    assert set(lanes) == {"main()", "washing_task", "vacuum_task"}
    assert lanes["washing_task"].rstrip().endswith("■")
    assert lanes["main()"].count("●") == 2  # ran at 0 and 2; its end at 4 is drawn as ■
    assert "4.000 s virtual" in lines[0]


def test_svg_and_html_escape_what_the_script_prints():
    async def main():
        print("<script>alert('x')</script> & done")

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    for page in (draw.to_svg(timeline, "<b>title</b>"), draw.to_html(timeline)):
        assert "<script>" not in page
        assert "&lt;script&gt;" in page
        assert "<b>title</b>" not in page


def test_json_export_round_trips_the_events(capsys):
    timeline = replay_blog("06_gather")
    capsys.readouterr()
    document = json.loads(draw.to_json(timeline))
    assert document["virtual_seconds"] == 3.0
    assert [
        (e["t"], e["kind"], e["text"]) for e in document["events"] if e["kind"] == "printed"
    ] == [(e.at, "printed", e.text) for e in timeline.notes()]


def test_instants_allow_for_float_sums():
    async def job():
        for _ in range(3):
            await asyncio.sleep(0.1)
        print("done")

    async def main():
        await asyncio.create_task(job(), name="job")

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    timeline.assert_took("job", 0.3)
    timeline.assert_at(0.3, "done")
    assert timeline.virtual_seconds == pytest.approx(0.3)


def test_replay_records_module_level_prints(tmp_path):
    path = tmp_path / "module_level.py"
    path.write_text("import time\nprint('first')\ntime.sleep(2)\nprint('second')\n")
    timeline = simclock.Timeline()
    run_script(compile_script(str(path)), [], simclock.Clock(), timeline=timeline)
    timeline.assert_sequence([(0.0, "first"), (2.0, "second")])
    assert timeline.virtual_seconds == 2.0


def test_state_at_an_instant_counts_an_ending_from_just_after_it(capsys):
    timeline = replay_blog("08_wait_timeout")
    capsys.readouterr()
    letter = {timeline.find(f":: {x}").task: x for x in "ABC"}
    at_timeout = timeline.state_at(3.0)
    assert [letter[task] for task in at_timeout.done] == ["C", "B"]  # in the order they ended
    assert [letter.get(task, "main") for task in at_timeout.pending] == ["main", "A"]
    assert set(timeline.state_at(0.0).values()) == {simclock.TaskState.PENDING}
    after = timeline.state_at(3.5)
    assert after.pending == [] and all(state.done for state in after.values())


def test_state_at_an_event_is_exact_and_its_own_task_is_running(capsys):
    timeline = replay_blog("08_wait_timeout")
    capsys.readouterr()
    reported = timeline.find("완료된 작업")
    states = timeline.state_at(reported)
    a = timeline.find(":: A").task
    assert states[reported.task or ""] is simclock.TaskState.RUNNING
    assert states[a] is simclock.TaskState.PENDING
    assert timeline.state_at(timeline.find(":: A"))[a] is simclock.TaskState.RUNNING
    assert timeline.state_at(timeline.find(f"{a} finished"))[a] is simclock.TaskState.RUNNING


def test_task_steps_in_ordering_assertions(capsys):
    timeline = replay_blog("05_create_task")
    capsys.readouterr()
    timeline.assert_before("vacuum_task finished", "washing_task finished")
    timeline.assert_before(simclock.TaskEvent("washing_task", "created"), "샤워 종료")
    timeline.assert_before("washing_task finished", "main() ended")
    timeline.assert_at(4.0, "washing_task finished", "main() finished", "공부 종료")
    timeline.assert_at(3.0, simclock.TaskEvent("vacuum_task"))
    with pytest.raises(AssertionError, match=r"(?s)'washing_task finished' happened at t=4\.000s"):
        timeline.assert_at(3.0, "washing_task finished")
    with pytest.raises(AssertionError, match="'washing_task cancelled' never happened"):
        timeline.assert_at(4.0, "washing_task cancelled")
    with pytest.raises(AssertionError, match="expected 'washing_task finished' before"):
        timeline.assert_before("washing_task finished", "vacuum_task ended")
    with pytest.raises(ValueError, match="a task step is one of"):
        simclock.TaskEvent("washing_task", "done")


def test_text_that_names_no_task_is_looked_for_in_the_printed_lines():
    async def main():
        print("dryer finished")
        simclock.mark("main ended")

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    timeline.assert_at(0.0, "dryer finished", "main ended")
    timeline.assert_before("dryer finished", "main() finished")


def test_assert_printed_flags_only_the_lines_that_differ(capsys):
    timeline = replay_blog("04_await_in_sequence")
    capsys.readouterr()
    lines = timeline.printed()
    swapped = [lines[0], lines[2], lines[1], *lines[3:]]
    with pytest.raises(AssertionError) as failure:
        timeline.assert_printed(swapped)
    flagged = [line for line in str(failure.value).splitlines() if line.startswith("  ")]
    flagged = [line for line in flagged if line.lstrip().startswith(("-", "+"))]
    assert len(flagged) == 2, str(failure.value)  # one line moved: one -, one +
    assert "t=  4.000s" in str(failure.value)


def test_printed_in_order_allows_lines_between_and_says_when_one_came(capsys):
    timeline = replay_blog("10_as_completed")
    capsys.readouterr()
    timeline.assert_printed(["처리 완료 : c", "처리 완료 : b", "처리 완료 : a"], subsequence=True)
    timeline.assert_printed_in_order(" 1.0초 :: C", "처리 완료 : c", " 3.0초 :: A")
    with pytest.raises(AssertionError, match=r"printed at t=1\.000s, before that"):
        timeline.assert_printed_in_order("처리 완료 : b", "처리 완료 : c")
    with pytest.raises(AssertionError, match="no printed line contains it"):
        timeline.assert_printed_in_order("처리 완료 : d")


def test_every_assertion_matches_text_and_tasks_by_the_one_rule(capsys):
    timeline = replay_blog("10_as_completed")
    capsys.readouterr()
    # A string names the first printed line containing it, in every assertion alike.
    timeline.assert_printed_in_order("1.0초", "완료 : c", "3.0초")
    timeline.assert_before("1.0초", "완료 : c")
    timeline.assert_at(1.0, "1.0초")
    assert timeline.find("완료 : c").at == 1.0
    # A task is named by its name or by the label the charts show, everywhere.
    for name, label in timeline.labels().items():
        assert timeline.span(label) == timeline.span(name)
    main_name = timeline.tasks()[0]
    main_label = timeline.label(main_name)
    assert main_label == "main()"
    start, end = timeline.span(main_name)
    timeline.assert_took(main_label, end - start)
    with pytest.raises(AssertionError, match=r"took .* expected 99s"):
        timeline.assert_took(main_label, 99)


def test_replay_script_returns_status_output_and_timeline(tmp_path):
    path = tmp_path / "lesson.py"
    path.write_text(
        "import asyncio, datetime, sys\n"
        "async def main():\n"
        "    await asyncio.sleep(2)\n"
        "    print(sys.argv[1:], datetime.date.today())\n"
        "    raise SystemExit(3)\n"
        "asyncio.run(main())\n",
        encoding="utf-8",
    )
    result = simclock.replay_script(path, argv=["--fast"], start="2030-05-06T00:00:00Z")
    assert (result.status, result.stdout) == (3, "['--fast'] 2030-05-06\n")
    result.timeline.assert_at(2.0, "['--fast']")
    assert result.timeline.duration == 2.0
    broken = tmp_path / "broken.py"
    broken.write_text("raise KeyError('gone')\n", encoding="utf-8")
    failed = simclock.replay_script(broken)
    assert failed.status == 1 and "KeyError: 'gone'" in failed.stderr
    with pytest.raises(simclock.replay.ScriptError, match="can't open file"):
        simclock.replay_script(tmp_path / "missing.py")


def test_unnamed_tasks_are_labelled_by_the_call_that_made_them():
    class Washer:
        async def spin(self, seconds):
            await asyncio.sleep(seconds)

    async def fetch(letter, seconds, *, retries=0):
        await asyncio.sleep(seconds)

    async def main():
        await asyncio.gather(
            fetch("A", 3, retries=2),
            fetch("x" * 100, 1),
            Washer().spin(2),
            asyncio.create_task(fetch("B", 2), name="named"),
        )

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    labels = list(timeline.labels().values())  # in the order the tasks were made
    assert labels[:2] == ["main()", "named"]  # gather's argument is made before gather runs
    assert labels[2] == "fetch('A', 3, 2)"
    assert labels[3].startswith("fetch('xxxx") and len(labels[3]) < 40
    assert labels[4] == "spin(2)"  # `self` left out
    timeline.assert_at(3.0, "fetch('A', 3, 2) finished")
    assert timeline.label("named") == "named"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager_task_factory is 3.12+")
def test_an_eager_task_is_recorded_when_made_and_its_first_step_under_its_name():
    async def child(delay):
        print("child starts")
        await asyncio.sleep(delay)
        print("child ends")

    async def main():
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        await asyncio.sleep(1)
        task = asyncio.create_task(child(2), name="kid")
        print("main goes on")
        await task

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    kid = [
        (event.at, event.kind.value, event.text) for event in timeline.events if event.task == "kid"
    ]
    assert kid == [
        (1.0, "created", ""),
        (1.0, "ran", ""),
        (1.0, "printed", "child starts"),
        (1.0, "waited", "until t=3.000s"),
        (3.0, "ran", ""),
        (3.0, "printed", "child ends"),
        (3.0, "finished", ""),
    ]
    assert not any(
        (event.task or "").startswith("Task-")
        and event.kind.value == "printed"
        and event.text.startswith("child")
        for event in timeline.events
    )
    timeline.assert_printed(["child starts", "main goes on", "child ends"])


def test_lines_printed_by_many_threads_at_once_are_each_recorded_once_and_whole():
    async def main():
        def printer(number):
            for index in range(2_000):
                print(f"worker {number} line {index}")

        await asyncio.gather(*(asyncio.to_thread(printer, number) for number in range(4)))

    timeline = simclock.Timeline()
    with contextlib.redirect_stdout(io.StringIO()):
        simclock.run(main(), timeline=timeline)
    lines = [event.text for event in timeline.events if event.kind is simclock.EventKind.PRINTED]
    assert sorted(lines) == sorted(f"worker {n} line {i}" for n in range(4) for i in range(2_000))


def test_labels_draw_object_arguments_by_type_never_by_address():
    class Client:
        pass

    async def poller(client, every):
        await asyncio.sleep(every)

    async def main():
        first, second = Client(), Client()
        await asyncio.gather(poller(first, 1), poller(second, 2), poller(first, 3))
        await asyncio.create_task(asyncio.to_thread(print, "done"))

    labels = []
    for _ in range(2):  # the same labels on every run, whatever the addresses
        timeline = simclock.Timeline()
        simclock.run(main(), timeline=timeline)
        labels.append(list(timeline.labels().values()))
    assert labels[0] == labels[1]
    assert labels[0][1:4] == ["poller(Client, 1)", "poller(Client#2, 2)", "poller(Client, 3)"]
    assert "to_thread(print)" in labels[0]
    assert not any("0x" in label for label in labels[0])

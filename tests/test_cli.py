"""`simclock run` and `simclock compare` behave as `python SCRIPT` would, on good and bad input."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

from simclock import Timeline

ROOT = Path(__file__).resolve().parent.parent


def simclock(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simclock", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        check=False,
    )


def python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        check=False,
    )


def script(tmp_path: Path, source: str, name: str = "script.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_script_gets_argv_and_stdout_as_under_python(tmp_path):
    path = script(tmp_path, "import sys\nprint(sys.argv[1:], __name__)\n")
    ours = simclock("run", str(path), "--flag", "value")
    assert ours.stdout == "['--flag', 'value'] __main__\n"
    assert ours.returncode == 0


def test_uncaught_exception_gives_pythons_traceback_and_status(tmp_path):
    script(
        tmp_path,
        """\
        import asyncio

        async def main():
            await asyncio.sleep(5)
            raise KeyError("missing")

        asyncio.run(main())
        """,
    )
    ours, theirs = simclock("run", "script.py", cwd=tmp_path), python("script.py", cwd=tmp_path)
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr == theirs.stderr
    assert "simclock" not in ours.stderr


def test_system_exit_code_passes_through(tmp_path):
    path = script(tmp_path, "import sys\nprint('bye')\nsys.exit(3)\n")
    result = simclock("run", str(path))
    assert (result.returncode, result.stdout) == (3, "bye\n")


def test_warnings_match_a_real_run():
    example = "examples/blog/03_forgotten_await.py"
    ours, theirs = simclock("run", example, cwd=ROOT), python(example, cwd=ROOT)
    assert ours.stderr == theirs.stderr
    assert "coroutine 'sleep' was never awaited" in ours.stderr


def test_missing_script_is_a_short_error():
    result = simclock("run", "no/such/script.py")
    assert result.returncode == 2
    assert "can't open file" in result.stderr and "script.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_directory_is_a_short_error(tmp_path):
    result = simclock("run", str(tmp_path))
    assert result.returncode == 2
    assert "is a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_syntax_error_is_reported_like_python_without_a_simclock_traceback(tmp_path):
    path = script(tmp_path, "async def main(:\n    pass\n")
    result = simclock("run", str(path))
    assert result.returncode == 1
    assert "is not valid Python" in result.stderr
    assert "line 1" in result.stderr and "SyntaxError" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_start_is_a_short_error(tmp_path):
    path = script(tmp_path, "print(1)\n")
    result = simclock("run", "--start", "soonish", str(path))
    assert (
        result.returncode == 2 and "--start" in result.stderr and "Traceback" not in result.stderr
    )


def test_deadlocked_script_fails_at_once_naming_the_task(tmp_path):
    path = script(
        tmp_path,
        """\
        import asyncio

        async def main():
            await asyncio.Event().wait()

        asyncio.run(main())
        """,
    )
    result = simclock("run", str(path))
    assert result.returncode == 1
    assert "Deadlock: no task can make progress" in result.stderr
    assert "main()" in result.stderr and "await asyncio.Event().wait()" in result.stderr


def test_limit_stops_an_endless_script(tmp_path):
    path = script(
        tmp_path,
        """\
        import asyncio

        async def main():
            while True:
                await asyncio.sleep(1)

        asyncio.run(main())
        """,
    )
    result = simclock("run", "--limit", "30", str(path))
    assert result.returncode == 1
    assert "virtual time limit of 30s exceeded" in result.stderr


def test_timeline_goes_to_stderr_and_leaves_stdout_alone():
    example = "examples/blog/05_create_task.py"
    plain, charted = (
        simclock("run", example, cwd=ROOT),
        simclock("run", "--timeline", example, cwd=ROOT),
    )
    assert charted.stdout == plain.stdout
    assert "simclock timeline: 4.000 s virtual" in charted.stderr
    assert "washing_task" in charted.stderr and "vacuum_task" in charted.stderr


def test_timeline_file_and_json_are_written(tmp_path):
    example = ROOT / "examples/blog/06_gather.py"
    svg, page, data = tmp_path / "t.svg", tmp_path / "t.html", tmp_path / "t.json"
    assert simclock("run", f"--timeline={svg}", "--json", str(data), str(example)).returncode == 0
    assert simclock("run", f"--timeline={page}", str(example)).returncode == 0
    assert svg.read_text(encoding="utf-8").startswith("<svg")
    assert "<table" in page.read_text(encoding="utf-8")
    events = json.loads(data.read_text(encoding="utf-8"))["events"]
    assert [e["text"] for e in events if e["kind"] == "printed"][-1] == "results :: ['a', 'b', 'c']"


def test_compare_reports_a_match_and_the_speed_up(tmp_path):
    path = script(
        tmp_path,
        """\
        import asyncio, time
        start = time.monotonic()

        async def main():
            await asyncio.gather(asyncio.sleep(0.3), asyncio.sleep(0.2))
            print(f"{time.monotonic() - start:.1f}")

        asyncio.run(main())
        """,
    )
    result = simclock("compare", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("match: ")
    # The speed-up itself is a real-time figure: benchmarks/ measures it, not a test.
    assert re.search(r"python [\d.]+ s, simclock [\d.]+ s", result.stdout), result.stdout


def test_compare_shows_a_diff_when_outputs_differ(tmp_path):
    path = script(tmp_path, "import time\nprint(int(time.time()) // 10_000_000)\n")
    result = simclock("compare", str(path))
    assert result.returncode == 1
    assert "MISMATCH" in result.stdout
    assert "--- stdout (python)" in result.stdout and "+++ stdout (simclock)" in result.stdout
    assert "only numbers differ" in result.stdout


def test_compare_does_not_blame_timing_when_text_differs(tmp_path):
    path = script(
        tmp_path, "import time\nprint('late' if time.time() > 1.7e9 + 5e7 else 'early')\n"
    )
    result = simclock("compare", str(path))
    assert result.returncode == 1
    assert "only numbers differ" not in result.stdout


def test_usage_errors_exit_2():
    result = simclock()
    assert result.returncode == 2
    assert "usage:" in result.stderr


@pytest.mark.parametrize("command", ["run", "check", "compare"])
def test_a_command_without_a_script_asks_for_one(command):
    result = simclock(command)
    assert result.returncode == 2
    assert f"{command}: which script? e.g. simclock {command} script.py [ARGS...]" in result.stderr
    assert "ARGS" not in result.stderr.split("e.g.")[0]  # the script's arguments are optional


def test_timeline_after_an_option_with_a_value_leaves_the_script_alone():
    result = simclock("run", "--limit", "100", "--timeline", "examples/blog/06_gather.py", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "simclock timeline: 3.000 s virtual" in result.stderr


def test_summary_counts_time_no_event_marks(tmp_path):
    path = script(tmp_path, "import time\ntime.sleep(180)\n")
    result = simclock("run", "--summary", str(path))
    assert "180.000 s virtual" in result.stderr


def test_uncaught_keyboard_interrupt_dies_by_sigint_like_python(tmp_path):
    path = script(tmp_path, "raise KeyboardInterrupt\n")
    ours, theirs = simclock("run", str(path)), python(str(path))
    assert ours.returncode == theirs.returncode
    assert ours.stderr.splitlines()[-1] == "KeyboardInterrupt"


def test_script_sees_builtins_as_the_module_and_leaves_sys_path_alone(tmp_path):
    path = script(
        tmp_path,
        "import builtins, sys\nprint(__builtins__ is builtins)\nsys.path.insert(0, '/x')\n",
    )
    assert simclock("run", str(path)).stdout == "True\n"


def test_limit_caps_the_whole_script_not_each_loop(tmp_path):
    path = script(
        tmp_path,
        "import asyncio\nasyncio.run(asyncio.sleep(40))\nasyncio.run(asyncio.sleep(40))\n",
    )
    result = simclock("run", "--limit", "60", str(path))
    assert result.returncode == 1
    assert "virtual time limit of 60s exceeded: reached t=40.000s" in result.stderr


def test_version_names_the_package_version():
    result = simclock("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"simclock {__import__('simclock').__version__}"


def _never_runs(tmp_path: Path) -> Path:
    """A script that leaves a file behind if it runs at all."""
    return script(tmp_path, "open('ran', 'w').close()\n")


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--timeline=out.png"], "--timeline=out.png: use a .svg, .html or .mmd (Mermaid) file"),
        (["--timeline", "out.svg"], "--timeline takes its file after '=': --timeline=out.svg"),
        (["--timeline", "events.json"], "for JSON use --json events.json"),
        (["--timeline=no/such/dir/out.svg"], "no directory 'no/such/dir' to write it in"),
        (["--json", "."], "--json=.: is a directory"),
        (["--start", "soonish"], "--start:"),
    ],
)
def test_option_mistakes_fail_at_once_in_one_line_before_the_script_runs(tmp_path, options, says):
    path = _never_runs(tmp_path)
    result = simclock("run", *options, str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert not (tmp_path / "ran").exists()


def test_a_file_that_cannot_be_written_after_the_run_is_one_line_and_a_failure(tmp_path):
    path = script(tmp_path, "print('hello')\n")
    result = simclock("run", "--json", "/dev/full", str(path))
    assert result.stdout == "hello\n"
    assert result.returncode == 1
    assert result.stderr == "simclock: cannot write --json=/dev/full: No space left on device\n"


def test_mermaid_timeline_file_and_json_that_a_timeline_loads(tmp_path):
    example = ROOT / "examples/blog/05_create_task.py"
    chart, data = tmp_path / "t.mmd", tmp_path / "t.json"
    result = simclock("run", f"--timeline={chart}", "--json", str(data), str(example))
    assert result.returncode == 0, result.stderr
    assert chart.read_text(encoding="utf-8").startswith("gantt\n")
    timeline = Timeline.from_json(data.read_text(encoding="utf-8"))
    timeline.assert_at(4.0, "washing_task finished", "main() finished")
    assert timeline.duration == 4.0 and timeline.tasks()[1:] == ["washing_task", "vacuum_task"]


def test_compare_start_sets_the_virtual_runs_wall_clock(tmp_path):
    path = script(tmp_path, "import datetime\nprint(datetime.date.today().year)\n")
    pinned = simclock("compare", "--start", "2031-01-01T00:00:00Z", str(path))
    assert pinned.returncode == 1 and "+2031" in pinned.stdout
    assert simclock("compare", "--start", "now", str(path)).returncode == 0
    bad = simclock("compare", "--start", "soonish", str(path))
    assert bad.returncode == 2 and "--start:" in bad.stderr


def test_json_and_charts_of_a_script_printing_surrogates_and_colour_codes(tmp_path):
    path = script(
        tmp_path,
        """\
        import os
        print("file:", os.fsdecode(b"caf\\xe9.txt"), "\\x1b[31mred\\x1b[0m \\x07")
        """,
    )
    data, svg = tmp_path / "t.json", tmp_path / "t.svg"
    command = ["run", "--json", str(data), f"--timeline={svg}", str(path)]
    result = subprocess.run(
        [sys.executable, "-m", "simclock", *command],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:surrogateescape", "LC_ALL": "C.UTF-8"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = Timeline.from_json(data.read_text(encoding="utf-8")).printed()
    assert printed == ["file: caf\udce9.txt \x1b[31mred\x1b[0m \x07"]
    ElementTree.fromstring(svg.read_text(encoding="utf-8"))


def test_check_names_the_first_event_two_runs_disagree_on(tmp_path):
    script = tmp_path / "dice.py"
    script.write_text(
        "import asyncio, random\n"
        "async def main():\n"
        "    await asyncio.sleep(1)\n"
        "    print('roll', random.random())\n"
        "asyncio.run(main())\n"
    )
    result = simclock("check", str(script))
    assert result.returncode == 1
    assert "differ at event" in result.stderr
    assert "first run:  t=1.000000000s" in result.stderr and "printed: roll 0." in result.stderr


def test_check_passes_a_deterministic_script():
    result = simclock("check", str(ROOT / "examples/blog/05_create_task.py"))
    assert result.returncode == 0, result.stderr
    assert "agree on all" in result.stderr


def test_run_seed_takes_an_explored_schedule():
    race = str(ROOT / "examples/races/lost_update.py")
    assert simclock("run", race).returncode == 0  # asyncio's own order
    outcomes = {seed: simclock("run", "--seed", str(seed), race).returncode for seed in range(8)}
    assert set(outcomes.values()) == {0, 1}  # some schedules lose the update, some do not
    losing = str(min(seed for seed, code in outcomes.items() if code))
    first = simclock("run", "--seed", losing, race)
    assert first.returncode == 1 and "an increment was lost" in first.stderr
    assert simclock("run", "--seed", losing, race).stderr == first.stderr  # replayed exactly


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--limit=-5", "--limit: limit must be a positive number"),
        ("--limit=nan", "--limit: limit must be a positive number"),
        ("--io-grace=-1", "--io-grace: io_grace must be a finite number"),
    ],
)
def test_bad_numbers_are_refused_before_the_script_runs(tmp_path, option, message):
    path = script(tmp_path, "print('the script ran')\n")
    result = simclock("run", option, str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"simclock: {message}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_finds_no_difference_in_object_arguments(tmp_path):
    path = script(
        tmp_path,
        """
        import asyncio

        class Connection:
            pass

        async def poller(connection, every):
            await asyncio.sleep(every)
            print("polled", every)

        async def main():
            await asyncio.gather(poller(Connection(), 1), poller(Connection(), 2))

        asyncio.run(main())
        """,
    )
    result = simclock("check", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agree on all" in result.stderr

"""Every example replays with the output of a real `python` run, in virtual time.

The files under `expected/` were captured from real runs of the same scripts
(addresses and paths normalised); the blog's documented output is checked
against them in `test_expected_outputs_are_the_blogs`.
"""

import io
import re
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import simclock
from simclock.replay.script import compile_script, run_script

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = Path(__file__).resolve().parent / "expected"
BLOG = ROOT.parent / "shared" / "seeds" / "asyncio-patterns-blog.txt"
# Where the post's documented output differs from what its own code prints.
BLOG_ERRATA = {"2.0 :: wakeup!": "2.0초 :: wakeup!"}  # its comment adds a 초 the f-string lacks

# Virtual seconds each example takes, as a real run measures them.
VIRTUAL_SECONDS = {
    "01_coroutine_object": 0.0,
    "02_blocking_sleep": 2.0,
    "03_forgotten_await": 0.0,
    "04_await_in_sequence": 11.0,
    "05_create_task": 4.0,
    "06_gather": 3.0,
    "07_taskgroup": 3.0,
    "08_wait_timeout": 3.0,
    "09_wait_first_completed": 1.0,
    "10_as_completed": 3.0,
    "producer_consumer": 4.9,
    "rate_limiter": 2.5,
    "retry_backoff": 8.0,
    "echo_server": 0.7,
}
EXAMPLES = sorted([*ROOT.glob("examples/blog/*.py"), *ROOT.glob("examples/*.py")])


def normalise(text: str) -> str:
    text = re.sub(r"0x[0-9a-f]+", "0x…", text)
    return re.sub(r"/[^ ]*/([^/ ]+\.py)", r"\1", text)


def replay(path: Path) -> tuple[str, str, simclock.Clock, int]:
    clock = simclock.Clock()
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = run_script(compile_script(str(path)), [], clock)
    return out.getvalue(), err.getvalue(), clock, status


def test_every_example_has_an_expected_output_and_duration():
    assert {path.stem for path in EXAMPLES} == set(VIRTUAL_SECONDS)
    assert {path.stem for path in EXAMPLES} == {path.stem for path in EXPECTED.glob("*.out")}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_prints_what_a_real_run_prints(path):
    # A process of its own, as `python SCRIPT` has: task names count from Task-1.
    result = subprocess.run(
        [sys.executable, "-m", "simclock", "run", str(path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert normalise(result.stdout) == (EXPECTED / f"{path.stem}.out").read_text(encoding="utf-8")


@pytest.mark.filterwarnings("ignore:coroutine '.*' was never awaited:RuntimeWarning")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_takes_the_virtual_time_a_real_run_takes(path):
    _, _, clock, status = replay(path)
    assert status == 0
    assert clock.now == pytest.approx(VIRTUAL_SECONDS[path.stem], abs=1e-9)


@pytest.mark.parametrize(
    ("stem", "warning"),
    [
        ("01_coroutine_object", "RuntimeWarning: coroutine 'fetch_data' was never awaited"),
        ("03_forgotten_await", "RuntimeWarning: coroutine 'sleep' was never awaited"),
    ],
)
def test_unawaited_coroutines_warn_as_in_a_real_run(stem, warning):
    with pytest.warns(RuntimeWarning, match="never awaited") as caught:
        replay(ROOT / "examples" / "blog" / f"{stem}.py")
    assert any(warning.split(": ", 1)[1] in str(w.message) for w in caught)
    assert any(w.filename.endswith(f"{stem}.py") for w in caught)


@pytest.mark.filterwarnings("ignore:coroutine '.*' was never awaited:RuntimeWarning")
def test_whole_example_set_replays_in_under_a_real_second():
    started = time.perf_counter()
    for path in EXAMPLES:
        replay(path)
    assert time.perf_counter() - started < 1.0


@pytest.mark.skipif(
    not BLOG.exists(),
    reason=f"needs the seed blog post at {BLOG}: clone this repository beside ../shared "
    "(the project's shared folder, which holds seeds/asyncio-patterns-blog.txt)",
)
@pytest.mark.parametrize(
    "path", [p for p in EXAMPLES if p.parent.name == "blog"], ids=lambda p: p.stem
)
def test_expected_outputs_are_the_blogs(path):
    """Each expected line is in the post, in order (the post trims spaces and reprs)."""
    blog = [
        line.strip().removeprefix("# -->").replace(" ", "")
        for line in BLOG.read_text(encoding="utf-8").splitlines()
    ]
    position = 0
    for line in (EXPECTED / f"{path.stem}.out").read_text(encoding="utf-8").splitlines():
        line = BLOG_ERRATA.get(line.strip(), line.strip())
        if not line:
            continue
        if "<Task pending" in line or "<coroutine object" in line:
            line = line.split(" at ")[0].split("...")[0]
            line = line[: line.index("<") + 20]
        wanted = line.replace(" ", "")
        matches = [i for i in range(position, len(blog)) if blog[i].startswith(wanted)]
        assert matches, f"{path.stem}: {line!r} is not in the blog after line {position}"
        position = matches[0] + 1


def test_replay_reads_time_at_module_level_on_the_virtual_clock(tmp_path):
    script = tmp_path / "two_runs.py"
    script.write_text(
        "import asyncio, time\n"
        "start = time.time()\n"
        "time.sleep(1)\n"
        "asyncio.run(asyncio.sleep(2))\n"
        "asyncio.run(asyncio.sleep(3))\n"
        "loop = asyncio.new_event_loop()\n"
        "print(time.time() - start, loop.time())\n"
        "loop.close()\n",
        encoding="utf-8",
    )
    out, _, clock, _ = replay(script)
    assert out == f"6.0 {simclock.MONOTONIC_ORIGIN + 6.0}\n"
    assert clock.now == 6.0


def test_replay_gives_the_script_its_argv_main_and_path(tmp_path):
    script = tmp_path / "who.py"
    script.write_text(
        "import sys\nprint(__name__, sys.argv, sys.path[0] == __file__.rsplit('/', 1)[0])\n",
        encoding="utf-8",
    )
    clock = simclock.Clock()
    out = io.StringIO()
    with redirect_stdout(out):
        run_script(compile_script(str(script)), ["-x", "7"], clock)
    assert out.getvalue() == f"__main__ {[str(script), '-x', '7']} True\n"
    assert sys.modules["__main__"].__name__ == "__main__"


def test_replay_makes_get_event_loops_implicit_loop_virtual(tmp_path):
    script = tmp_path / "old_style.py"
    script.write_text(
        "import asyncio, warnings\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "loop = asyncio.new_event_loop()\n"
        "policy_loop = asyncio.get_event_loop_policy().new_event_loop()\n"
        "print(type(loop).__name__, type(policy_loop).__name__)\n"
        "loop.close()\n"
        "policy_loop.close()\n",
        encoding="utf-8",
    )
    out, _, _, _ = replay(script)
    assert out == "VirtualEventLoop VirtualEventLoop\n"

"""The HTML page in a real browser: laid out as the chart means it, with no script errors.

Needs headless Chromium (Debian: `apt-get install chromium fonts-noto-cjk`, the
fonts for the Korean of the blog's examples); skipped without it. The page is
loaded with a small checking script added at its end, which measures every
label and line as the browser drew it and writes what it found into the DOM,
read back with `--dump-dom`.
"""

import asyncio
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import simclock
from simclock.timeline import draw

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs headless Chromium on PATH: apt-get install chromium fonts-noto-cjk "
    "(scripts/test installs them when run as root)",
)
BLOG = Path(__file__).resolve().parent.parent / "examples" / "blog"

_CHECK = """
<script>
window.addEventListener("load", () => {
  const problems = [];
  const svg = document.querySelector(".chart svg");
  const width = svg.width.baseVal.value;
  const bars = [...svg.querySelectorAll("rect.bar")].map((bar) => bar.getBBox().x);
  const plotLeft = Math.min(...bars);
  const labels = [...svg.querySelectorAll("text.label")];
  let previousBottom = -Infinity;
  for (const label of labels) {
    const box = label.getBBox();
    const name = label.firstChild.textContent;
    if (box.x + box.width > plotLeft) problems.push("runs under the bars: " + name);
    if (box.y < previousBottom - 2) problems.push("overlaps the label above: " + name);
    previousBottom = box.y + box.height;
  }
  for (const text of svg.querySelectorAll("text")) {
    const box = text.getBBox();
    if (box.x < 0 || box.x + box.width > width + 1) {
      problems.push("leaves the picture: " + text.textContent.slice(0, 40));
    }
  }
  // Texts on one baseline (an axis's ticks, a listing's row) must not run into each other.
  const rows = new Map();
  for (const text of svg.querySelectorAll("text")) {
    const y = text.getAttribute("y");
    if (!rows.has(y)) rows.set(y, []);
    rows.get(y).push(text.getBBox());
  }
  for (const [y, boxes] of rows) {
    boxes.sort((a, b) => a.x - b.x);
    for (let i = 1; i < boxes.length; i++) {
      const left = boxes[i - 1], right = boxes[i];
      if (left.width > 0 && right.width > 0 && left.x + left.width > right.x + 1) {
        problems.push("texts overlap at y=" + y);
      }
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    problems.push("the page scrolls sideways: " + document.documentElement.scrollWidth);
  }
  const notes = document.querySelectorAll("#notes tbody tr").length;
  const names = labels.map((label) => label.firstChild.textContent);
  const axis = [...svg.querySelectorAll("text[text-anchor=middle]")].map((t) => t.textContent);
  document.body.setAttribute(
    "data-check", JSON.stringify({labels: names, rows: notes, problems, axis}));
});
</script>
"""


def browse(page: str, tmp_path: Path, *extra: str) -> tuple[dict[str, object], str]:
    """Load `page` with the checking script; what it found, and chromium's log."""
    path = tmp_path / "page.html"
    path.write_text(page.replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [
            CHROMIUM or "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            *extra,
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=90,
        check=False,
        env={**os.environ, "LANG": "C.UTF-8"},
    )
    found = re.search(r'data-check="([^"]*)"', result.stdout)
    assert found, f"the page never finished loading:\n{result.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1))), result.stderr


def replayed(stem: str) -> simclock.Timeline:
    return simclock.replay_script(BLOG / f"{stem}.py").timeline


def crowd(count: int, name: str) -> simclock.Timeline:
    async def worker(index: int) -> None:
        await asyncio.sleep(1 + index / 10)
        print(f"\x1b[1m{name.format(index)}\x1b[0m finished: " + "처리 완료 " * (index % 4))

    async def main() -> None:
        await asyncio.gather(
            *(asyncio.create_task(worker(i), name=name.format(i)) for i in range(count))
        )

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    return timeline


@pytest.mark.parametrize(
    "make",
    [
        lambda: replayed("05_create_task"),
        lambda: replayed("08_wait_timeout"),
        lambda: crowd(30, "worker-with-a-rather-long-name-{}"),
        lambda: crowd(200, "w{}"),
        lambda: crowd(3, "세탁기-세탁기-세탁기-세탁기-세탁기-세탁기-{}"),
    ],
    ids=["create_task", "wait_timeout", "30-long-names", "200-tasks", "cjk-names"],
)
def test_page_lays_out_as_the_chart_means_it(tmp_path, capsys, make):
    timeline = make()
    capsys.readouterr()
    found, log = browse(draw.to_html(timeline, "simclock run lesson.py"), tmp_path)
    assert found["problems"] == [], found["problems"]
    labels = found["labels"]
    assert isinstance(labels, list) and len(set(labels)) == len(labels) > 1
    assert found["rows"] == len(timeline.notes())
    assert "Uncaught" not in log and "SyntaxError" not in log


def lasting(seconds: float) -> simclock.Timeline:
    """A run of `seconds`: pollers printing all along, one task failing near the end."""

    async def poller(every: float) -> None:
        for count in range(5):
            await asyncio.sleep(every)
            print(f"poll {count} every {every:g}s")

    async def doomed() -> None:
        await asyncio.sleep(seconds * 0.9)
        raise ConnectionError("the peer hung up")

    async def main() -> None:
        failing = asyncio.create_task(doomed(), name="doomed")
        await asyncio.gather(poller(seconds / 5), poller(seconds / 7), poller(seconds / 500))
        await asyncio.gather(failing, return_exceptions=True)

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    return timeline


@pytest.mark.parametrize(
    ("seconds", "unit"), [(1.0, "s"), (660.0, "min"), (3 * 86400.0, "d")], ids=["1s", "11min", "3d"]
)
def test_a_chart_holds_from_a_second_to_days(tmp_path, capsys, seconds, unit):
    timeline = lasting(seconds)
    capsys.readouterr()
    page = draw.to_html(timeline, "simclock run poller.py")
    found, log = browse(page, tmp_path)
    assert found["problems"] == [], found["problems"]
    axis = found["axis"]
    assert isinstance(axis, list) and axis[0] == "0"
    assert all(tick.endswith(unit) for tick in axis[1:]), axis  # one unit that fits
    assert "the peer hung up" in page  # the failed task's exception, not only its colour
    assert "Uncaught" not in log and "SyntaxError" not in log


def test_any_printed_text_keeps_the_page_valid_in_the_browser(tmp_path):
    timeline = simclock.Timeline()
    timeline.record(0.0, "main", simclock.EventKind.CREATED)
    for index, text in enumerate(
        [
            "\x1b[31mred\x1b[0m",
            "RTL: שלום עולם \u202eoverride",
            "</script><script>throw new Error('injected')</script>",
            "long " + "가" * 3000,
            "nul\x00 and \udcff",
        ]
    ):
        timeline.record(index, "main", simclock.EventKind.PRINTED, text)
    timeline.record(5.0, "main", simclock.EventKind.FINISHED)
    found, log = browse(draw.to_html(timeline), tmp_path)
    assert found["problems"] == [] and found["rows"] == 5
    assert "injected" not in log


def test_screenshot_of_the_create_task_chart(tmp_path, capsys):
    timeline = replayed("05_create_task")
    capsys.readouterr()
    svg = tmp_path / "create_task.svg"
    svg.write_text(draw.to_svg(timeline), encoding="utf-8")
    shot = tmp_path / "create_task.png"
    subprocess.run(
        [
            CHROMIUM or "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=900,500",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            svg.as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=False,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (900, 500)

"""Charts of a timeline: valid for any text, readable at a glance, and in every format."""

import asyncio
import itertools
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

import simclock
from simclock.timeline import draw
from simclock.timeline.draw.labels import columns, elide, printable, wrap
from simclock.timeline.draw.model import chart
from simclock.timeline.timeline import EventKind

SVG = "{http://www.w3.org/2000/svg}"
BLOG = Path(__file__).resolve().parent.parent / "examples" / "blog"

HOSTILE = [
    "\x1b[31mred\x1b[0m and \x1b]0;title\x07 back to plain",
    "bell\x07 nul\x00 esc\x1b del\x7f c1\x85\x9b form\x0c",
    "lone surrogates \udcff and \ud800 from a file name",
    "RTL: שלום עולם, مرحبا \u202eoverride\u202c \u2067isolate\u2069",
    "CJK: 세탁기 시작 洗濯機 せんたく",
    "markup <script>alert('x')</script> & ]]> \"quoted\"",
    "long " + "x" * 5000,
    "tab\there\r\nand a newline",
    "\ufffe\uffff noncharacters",
]


def hostile_timeline() -> simclock.Timeline:
    timeline = simclock.Timeline()
    timeline.record(0.0, "main\x1b[1m <b>", EventKind.CREATED)
    timeline.record(0.0, "main\x1b[1m <b>", EventKind.RAN)
    for index, text in enumerate(HOSTILE):
        timeline.record(index * 0.5, "main\x1b[1m <b>", EventKind.PRINTED, text)
        timeline.record(index * 0.5, None, EventKind.MARK, text)
    timeline.record(5.0, "main\x1b[1m <b>", EventKind.FAILED, "ValueError('\x00\udcff')")
    return timeline


class _WellFormedHTML(HTMLParser):
    """Tags close in the order they opened, as in XML; HTML's void elements need no end tag."""

    VOID: ClassVar[set[str]] = {"meta", "br", "img", "input", "link", "hr", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def unknown_decl(self, data: str) -> None:
        self.problems.append(f"unknown declaration {data!r}")


def assert_well_formed_html(page: str) -> str:
    parser = _WellFormedHTML()
    parser.feed(page)
    parser.close()
    assert parser.problems == [] and parser.open == [], (parser.problems, parser.open)
    return "".join(parser.text)


def svg_text(svg: str) -> str:
    """Every string a reader sees in the picture, hover tooltips left out."""
    root = ET.fromstring(svg)
    return "\n".join(
        "".join(element.itertext()) for element in root.iter(f"{SVG}text") if element.text
    )


def test_any_printed_text_gives_well_formed_svg_html_and_json():
    timeline = hostile_timeline()
    svg = draw.to_svg(timeline, "title \x1b[2J <&>")
    ET.fromstring(svg)  # raises on anything XML forbids
    shown = svg_text(svg)
    assert "red and  back to plain" in shown  # colour codes dropped, the words kept
    assert "\x1b" not in svg and "\x07" not in svg and "\x00" not in svg
    assert "세탁기 시작" in shown and "שלום" in shown
    page = draw.to_html(timeline)
    text = assert_well_formed_html(page)
    assert "<script>alert" in text  # as text, escaped in the page itself
    assert "<script>" not in page
    document = draw.to_json(timeline)
    document.encode("utf-8")  # writable as a file
    assert [e["text"] for e in json.loads(document)["events"] if e["kind"] == "printed"] == HOSTILE
    draw.to_text(timeline).encode("utf-8")
    assert "\x1b" not in draw.to_text(timeline)


def test_printed_text_survives_a_json_round_trip_exactly():
    timeline = hostile_timeline()
    again = simclock.Timeline.from_json(timeline.to_json())
    assert again.events == timeline.events
    assert again.printed() == HOSTILE
    assert again.duration == timeline.duration


def test_printable_keeps_what_a_reader_recognises():
    assert printable("\x1b[1;32mok\x1b[0m") == "ok"
    assert printable("a\x07b") == "a\\x07b"
    assert printable("x\udcffy") == "x\ufffdy"
    assert printable("줄\n바꿈") == "줄\\n바꿈"
    assert printable("plain text, 한글") == "plain text, 한글"


def test_labels_cut_in_the_middle_keep_the_end_that_tells_them_apart():
    names = [f"worker-with-a-rather-long-name-{index}" for index in range(30)]
    cut = [elide(name, 16) for name in names]
    assert len(set(cut)) == 30
    assert all(columns(label) <= 16 and label.endswith(f"-{i}") for i, label in enumerate(cut))
    assert elide("세탁기세탁기세탁기세탁기", 9) == "세탁…탁기"  # columns, not characters


def test_wrap_breaks_long_lines_at_spaces_and_marks_what_is_left_out():
    lines = wrap("one two three four five six seven", 10, 2)
    assert lines[0] == "one two"
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(columns(line) <= 10 for line in lines)
    assert wrap("가나다라마바사", 6, 5) == ["가나다", "라마바", "사"]


def many_workers(count: int, name: str = "worker-with-a-rather-long-name-{}") -> simclock.Timeline:
    async def worker(index: int) -> None:
        await asyncio.sleep(1 + index / 10)

    async def main() -> None:
        await asyncio.gather(
            *(asyncio.create_task(worker(i), name=name.format(i)) for i in range(count))
        )

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    return timeline


def test_thirty_long_task_names_stay_distinct_in_every_format():
    timeline = many_workers(30)
    text_lanes = [line.split()[0] for line in draw.to_text(timeline).splitlines()[4:35]]
    assert len(set(text_lanes)) == 31, text_lanes  # main() and 30 workers
    svg_labels = [
        "".join(element.itertext())
        for element in ET.fromstring(draw.to_svg(timeline)).iter(f"{SVG}text")
        if element.get("x") == "12" and element.find(f"{SVG}title") is not None
    ]
    assert len(svg_labels) == 31 and len(set(svg_labels)) == 31
    assert all(label.endswith(f"-{index}") for index, label in enumerate(svg_labels[1:]))


def test_picture_size_follows_the_lanes_and_labels():
    small, wide = many_workers(3, "w{}"), many_workers(3)
    tall = many_workers(30, "w{}")

    def size(timeline: simclock.Timeline) -> tuple[float, float]:
        root = ET.fromstring(draw.to_svg(timeline))
        return float(root.get("width", 0)), float(root.get("height", 0))

    assert size(small)[0] < size(wide)[0]  # the label column is as wide as the labels
    assert size(small)[1] < size(tall)[1] <= 900


def test_text_chart_keeps_its_columns_with_cjk_and_long_task_names(capsys):
    async def chore(seconds: float) -> None:
        await asyncio.sleep(seconds)
        print(f"\x1b[32m{seconds}초\x1b[0m 끝")

    async def main() -> None:
        await asyncio.gather(
            asyncio.create_task(chore(2), name="세탁기-세탁기-세탁기-세탁기-세탁기"),
            asyncio.create_task(chore(1), name="a-very-long-task-name-indeed-number-1"),
        )

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    capsys.readouterr()
    lines = draw.to_text(timeline).splitlines()
    lanes = lines[4:7]
    assert len({columns(line.split("●")[0]) for line in lanes}) == 1, lanes  # bars start together
    listed = [line for line in lines if "│" in line]
    assert len(listed) == 2
    assert len({columns(line.split("│")[0]) for line in listed}) == 1, listed
    assert all(columns(line) <= 80 for line in lines[:8])


def test_printed_lines_are_drawn_in_the_picture_not_only_on_hover(capsys):
    timeline = simclock.Timeline()
    simclock.run(_two_chores(), timeline=timeline)
    capsys.readouterr()
    shown = svg_text(draw.to_svg(timeline))
    for line in ("washer started", "washer done", "vacuum done"):
        assert line in shown
    assert "printed line n" in shown  # the legend says what the numbered ticks are


async def _two_chores() -> None:
    async def chore(name: str, seconds: float) -> None:
        print(f"{name} started")
        await asyncio.sleep(seconds)
        print(f"{name} done")

    washer = asyncio.create_task(chore("washer", 4), name="washing_task")
    vacuum = asyncio.create_task(chore("vacuum", 3), name="vacuum_task")
    await asyncio.sleep(1)
    await washer
    await vacuum


def test_a_task_awaiting_another_is_joined_to_its_end(capsys):
    timeline = simclock.Timeline()
    simclock.run(_two_chores(), timeline=timeline)
    capsys.readouterr()
    main = timeline.tasks()[0]
    drawn = chart(timeline)
    assert [(j.awaited, j.waiter, j.ended, j.resumed) for j in drawn.joins] == [
        ("washing_task", main, 4.0, 4.0)  # vacuum had ended by then: no wait, no join
    ]
    assert {lane.name: lane.parent for lane in drawn.lanes}["washing_task"] == main
    assert "_two_chores() resumed at 4s when washing_task ended at 4s" in draw.to_text(timeline)
    svg = draw.to_svg(timeline)
    assert svg.count('marker-end="url(#arrow)"') == 2  # the join and its legend entry
    assert "resumed when the awaited task ended" in svg_text(svg)


def test_gather_joins_each_of_its_tasks():
    async def job(seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def main() -> None:
        await asyncio.gather(job(1), job(2))

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    joins = chart(timeline).joins
    assert [(j.ended, j.resumed) for j in joins] == [(1.0, 2.0), (2.0, 2.0)]


def test_legend_names_every_kind_of_mark_drawn():
    async def fails() -> None:
        raise ValueError("boom")

    async def main() -> None:
        simclock.mark("checkpoint")
        sleeper = asyncio.create_task(asyncio.sleep(5), name="sleeper")
        failing = asyncio.create_task(fails(), name="fails")
        await asyncio.sleep(1)
        sleeper.cancel()
        await asyncio.gather(sleeper, failing, return_exceptions=True)

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    shown = svg_text(draw.to_svg(timeline))
    for entry in ("ran", "waiting", "finished", "cancelled", "failed", "simclock.mark"):
        assert entry in shown, entry
    assert "printed line n" not in shown  # nothing was printed: no legend for it


def test_crowded_runs_are_summarised_by_coroutine():
    timeline = many_workers(400)
    groups = chart(timeline).groups
    assert groups is not None and [g.title for g in groups] == [
        "main() (1 task)",
        "worker() (400 tasks)",
    ]
    alive = groups[1].alive  # worker i ends at 1 + i/10 s: the crowd thins out steadily
    assert alive[0] == 400 and alive == sorted(alive, reverse=True) and 0 < alive[-1] < 10
    text = draw.to_text(timeline)
    assert "worker() (400 tasks)" in text and "at most 400 alive at once" in text
    assert len(text.splitlines()) < 40
    svg = draw.to_svg(timeline)
    root = ET.fromstring(svg)
    assert float(root.get("height", 0)) < 400
    assert "400 finished" in svg_text(svg)
    page = draw.to_html(timeline)
    assert_well_formed_html(page)
    assert "Tasks, by coroutine" in page


def test_html_lists_every_printed_line_with_its_kind():
    timeline = hostile_timeline()
    parser = _WellFormedHTML()
    page = draw.to_html(timeline)
    parser.feed(page)
    kinds = re.findall(r"<td>(printed|mark)</td>", page)
    assert kinds.count("printed") == kinds.count("mark") == len(HOSTILE)
    assert "overflow-wrap:anywhere" in page  # a long line wraps inside the page


_DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
MERMAID_TASK = re.compile(
    rf"^    (?P<label>[^:#;%\n]+?) :(?P<meta>[a-z, ]*[a-z]\w*, {_DATE}, {_DATE})$"
)


def test_mermaid_gantt_has_sections_tasks_and_safe_labels():
    timeline = hostile_timeline()
    timeline.record(5.0, None, EventKind.PRINTED, "title section; click #1 %% comment")
    diagram = draw.to_mermaid(timeline, "run: the #1 %% test")
    lines = diagram.splitlines()
    assert lines[0] == "gantt"
    assert "    dateFormat YYYY-MM-DD HH:mm:ss.SSS" in lines
    assert lines[1].startswith("    title ") and ":" not in lines[1] and "%%" not in lines[1]
    sections = [line for line in lines if line.startswith("    section ")]
    assert len(sections) == 2
    entries = [line for line in lines[4:] if not line.startswith(("    section ", "    tick"))]
    for line in entries:
        assert MERMAID_TASK.match(line), line
    assert any(
        line.startswith("    ▸ title section\uff1b click \uff031 \uff05\uff05 comment :")
        for line in entries
    )


def test_mermaid_of_the_create_task_lesson(capsys):
    timeline = simclock.Timeline()
    simclock.run(_two_chores(), timeline=timeline)
    capsys.readouterr()
    diagram = draw.to_mermaid(timeline)
    start, four, three = "2000-01-01 00:00:00.000", "2000-01-01 00:00:04.000", "00:00:03.000"
    assert f"    washing_task (finished) :done, t2, {start}, {four}" in diagram
    assert f"    vacuum done :milestone, n3, 2000-01-01 {three}, 2000-01-01 {three}" in diagram


def _one_task_lasting(seconds: float) -> simclock.Timeline:
    timeline = simclock.Timeline()
    timeline.record(0.0, "Task-1", simclock.EventKind.CREATED, "main()")
    timeline.record(seconds, "Task-1", simclock.EventKind.FINISHED)
    return timeline


# What Mermaid draws an interval as: a tick wherever the unit's clock field is a
# multiple of the step, so a step must divide the next unit up to tick regularly.
_REGULAR = {
    "millisecond": {1, 2, 5, 10, 20, 50, 100, 200, 500},
    "second": {1, 2, 5, 10, 15, 30},
    "minute": {1, 2, 5, 10, 15, 30},
    "hour": {1, 2, 3, 6, 12},
    "day": {1, 2, 5, 10},
}


@pytest.mark.parametrize(
    ("seconds", "axis"),
    [
        (0.25, "%Lms"),
        (1.0, "%-S.%Ls"),
        (11.0, "%-Ss"),
        (660.0, "%-M:%S"),
        (5 * 3600.0, "%-H:%M"),
        (3 * 86400.0, "day %-d %H:%M"),
    ],
)
def test_mermaid_ticks_regularly_and_a_few_times_from_milliseconds_to_days(seconds, axis):
    lines = draw.to_mermaid(_one_task_lasting(seconds)).splitlines()
    assert f"    axisFormat {axis}" in lines
    (interval,) = [line.split()[1] for line in lines if line.startswith("    tickInterval")]
    count, unit = re.fullmatch(r"(\d+)([a-z]+)", interval).groups()
    if unit == "week":
        step = int(count) * 7 * 86400.0
    else:
        assert int(count) in _REGULAR[unit], interval
        step = (
            int(count)
            * {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit]
        )
    assert 2 <= seconds / step <= 10  # a handful of ticks, never thousands


def test_mermaid_dates_read_the_same_in_every_time_zone():
    # Written as local dates (no zone, no epoch number): the viewer's zone reads and
    # draws them alike, so an 11-minute run shows 0:00 to 11:00 under any TZ.
    diagram = draw.to_mermaid(_one_task_lasting(660.0))
    assert "2000-01-01 00:00:00.000, 2000-01-01 00:11:00.000" in diagram
    assert "dateFormat x" not in diagram


@pytest.mark.parametrize("draw", [draw.to_svg, draw.to_html, draw.to_text])
def test_an_empty_timeline_still_draws(draw):
    draw(simclock.Timeline())


def test_readme_shows_the_mermaid_chart_the_create_task_lesson_makes():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"```mermaid\n(.*?)```", readme, re.DOTALL)
    assert shown is not None
    result = simclock.replay_script(BLOG / "05_create_task.py")
    title = "simclock run examples/blog/05_create_task.py"
    assert shown.group(1) == draw.to_mermaid(result.timeline, title)


def _polls_then_a_long_wait(wait):
    async def poll(name, every):
        for index in range(4):
            await asyncio.sleep(every)
            print(f"{name} poll {index}")

    async def main():
        await asyncio.gather(poll("fast", 0.5), poll("quick", 0.7))
        await asyncio.sleep(wait)
        print("done after the long wait")

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    return timeline


@pytest.mark.parametrize("wait", [655.0, 3 * 86400.0])
def test_a_long_quiet_stretch_is_drawn_narrow_so_the_busy_seconds_spread_out(wait):
    timeline = _polls_then_a_long_wait(wait)
    drawn = chart(timeline)
    axis = drawn.axis
    assert axis.breaks, "the quiet stretch after 2.8 s was drawn at full scale"
    assert axis.breaks[-1][1] == drawn.span
    # The eight polls of the first 2.8 s take most of the width, a step apart.
    polls = sorted({note.at for note in drawn.notes if "poll" in note.text})
    positions = [axis.position(at) for at in polls]
    assert positions[-1] > 0.8
    assert min(b - a for a, b in itertools.pairwise(positions)) > 0.02
    # No tick falls inside a break; the end of the run is labelled.
    labelled = axis.labels(10)
    for tick, _label in labelled:
        assert not any(start < tick < end for start, end in axis.breaks)
    assert labelled[-1][0] == drawn.span
    text = draw.to_text(timeline)
    assert "≈" in text
    svg = draw.to_svg(timeline)
    assert "drawn narrow" in svg
    ET.fromstring(svg)


def test_an_evenly_busy_run_keeps_a_linear_axis():
    async def main():
        for seconds in (1, 2, 3, 5):
            await asyncio.sleep(seconds)
            print(f"after {seconds}")

    timeline = simclock.Timeline()
    simclock.run(main(), timeline=timeline)
    axis = chart(timeline).axis
    assert axis.breaks == ()
    assert axis.position(5.5) == pytest.approx(0.5)

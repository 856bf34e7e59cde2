"""The chart as a self-contained HTML page: the SVG picture, then every line and every task.

The picture (`svgchart`) is for looking at; the tables below it are for
reading: every printed line and mark with its number, time, task and kind,
and every task with when it was created and by whom, how it ended and what
it waited on. Text wraps inside the page, however long; right-to-left text
is isolated (`<bdi>`) so it never reorders the cells around it.
"""

from __future__ import annotations

from simclock.timeline.draw.model import TOP_LEVEL, Chart, chart
from simclock.timeline.draw.svg import escape, picture
from simclock.timeline.timeline import Timeline

__all__ = ["to_html"]


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    ".chart{overflow-x:auto;margin:0 0 2em 0}"
    "table{border-collapse:collapse;margin-bottom:2em;max-width:100%}"
    "td,th{padding:2px 12px;text-align:left;vertical-align:top;border-bottom:1px solid #eee}"
    "td.text{font-family:ui-monospace,monospace;white-space:pre-wrap;overflow-wrap:anywhere;"
    "max-width:70ch}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
)


def to_html(timeline: Timeline, title: str = "simclock timeline") -> str:
    """A self-contained page: the SVG chart, every printed line and mark, and every task.

    The tables list everything, however many: the picture above them lists
    only the first lines when there are very many.
    """
    drawn = chart(timeline)
    labels = {lane.name: lane.label for lane in drawn.lanes}
    note_rows = "\n".join(
        f'<tr><td class="num">{note.number}</td><td class="num">{note.at:.3f}s</td>'
        f"<td><bdi>{escape(labels.get(note.task or TOP_LEVEL, '-'))}</bdi></td>"
        f'<td>{note.kind.value}</td><td class="text"><bdi>{escape(note.text)}</bdi></td></tr>'
        for note in drawn.notes
    )
    parts = [
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f'<div class="chart">{picture(drawn, timeline, title, listing=False)}</div>',
        '<h2>Printed lines and marks</h2><table id="notes"><thead><tr><th>#</th><th>t</th>'
        "<th>task</th><th>kind</th><th>text</th></tr></thead>",
        f"<tbody>\n{note_rows}\n</tbody></table>",
        *_task_table(drawn),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _task_table(drawn: Chart) -> list[str]:
    if drawn.groups is not None:
        rows = "\n".join(
            f'<tr><td><bdi>{escape(g.label)}</bdi></td><td class="num">{g.count:,}</td>'
            f'<td class="num">{g.start:.3f}s</td><td class="num">{g.end:.3f}s</td>'
            f'<td class="num">{max(g.alive, default=0):,}</td>'
            f"<td>{escape(', '.join(f'{n:,} {e}' for e, n in g.endings.items()))}</td></tr>"
            for g in drawn.groups
        )
        return [
            '<h2>Tasks, by coroutine</h2><table id="tasks"><thead><tr><th>coroutine</th>'
            "<th>tasks</th><th>first created</th><th>last ended</th><th>most alive at once</th>"
            f"<th>endings</th></tr></thead><tbody>\n{rows}\n</tbody></table>"
        ]
    labels = {lane.name: lane.label for lane in drawn.lanes}
    rows_list = []
    for lane in drawn.lanes:
        if lane.name == TOP_LEVEL:
            continue
        waits = "; ".join(wait.describe(lane.end, labels) for wait in lane.waits)
        how = lane.ending.value if lane.ending else "still pending"
        if lane.failure:
            how += f": {lane.failure}"
        ended = f"{lane.end:.3f}s" if lane.end is not None else ""
        rows_list.append(
            f"<tr><td><bdi>{escape(lane.label)}</bdi></td><td>{escape(lane.name)}</td>"
            f'<td class="num">{lane.start:.3f}s</td>'
            f"<td><bdi>{escape(labels.get(lane.parent or '', ''))}</bdi></td>"
            f'<td class="num">{ended}</td><td>{escape(how)}</td>'
            f'<td class="text">{escape(waits)}</td></tr>'
        )
    rows = "\n".join(rows_list)
    return [
        '<h2>Tasks</h2><table id="tasks"><thead><tr><th>task</th><th>name</th><th>created</th>'
        "<th>created by</th><th>ended</th><th>how</th><th>waited</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table>"
    ]

"""Draw a `Timeline`: a terminal chart, a self-contained SVG or HTML page, Mermaid, or JSON.

`model` turns a timeline into lanes, waits and joins; `text`, `svg`, `html` and
`mermaid` draw that model; `labels` measures and cuts text for all of them.
"""

from simclock.timeline.draw.html import to_html
from simclock.timeline.draw.mermaid import to_mermaid
from simclock.timeline.draw.model import summary
from simclock.timeline.draw.svg import to_svg
from simclock.timeline.draw.text import to_json, to_text

__all__ = ["summary", "to_html", "to_json", "to_mermaid", "to_svg", "to_text"]

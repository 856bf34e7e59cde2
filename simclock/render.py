"""Kept so that `simclock.render` keeps working: the charts live in `simclock.timeline.draw`."""

from simclock.timeline.draw import summary, to_html, to_json, to_mermaid, to_svg, to_text

__all__ = ["summary", "to_html", "to_json", "to_mermaid", "to_svg", "to_text"]

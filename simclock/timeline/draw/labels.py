"""Text as a chart shows it: printable, measured in terminal columns, shortened in the middle.

A script may print anything: colour codes, a bell, a lone surrogate from a
file name, right-to-left or CJK text, a line of 10,000 characters. The
timeline keeps the text exactly as printed; a chart shows `printable(text)`,
which is safe in a terminal, in XML and in HTML, and keeps every character a
reader would recognise.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["columns", "elide", "printable", "truncate", "wrap"]

# ANSI escape sequences: CSI (colours, cursor moves), OSC (titles, links) and the
# two-character ones. A terminal acts on them; a chart drops them.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[@-Z\\-_]"  # two-character escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # CSI as one C1 character
)
# What is left that no chart may carry: C0 and C1 controls, DEL, lone
# surrogates, the two noncharacters XML forbids, and the explicit bidi
# embeddings, overrides and isolates, which would reorder the text around them.
_UNSHOWABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
)


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with colour codes removed and every control character shown as an escape.

    Tabs become a space, newlines and carriage returns `\\n` and `\\r`, other
    controls `\\x07`-style escapes, and a lone surrogate U+FFFD. The result is
    valid in XML 1.0 and HTML and moves no terminal cursor.
    """
    if text.isprintable():
        return text
    text = _ANSI.sub("", text).replace("\t", " ").replace("\n", "\\n").replace("\r", "\\r")
    return _UNSHOWABLE.sub(_shown, text)


def _char_columns(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def columns(text: str) -> int:
    """How many terminal columns `text` takes: CJK characters two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(_char_columns(char) for char in text)


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` columns, ending in `…` when something was cut."""
    if columns(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        size = _char_columns(char)
        if used + size > width - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept) + "…"


def elide(text: str, width: int) -> str:
    """`text` in at most `width` columns, shortened in the middle.

    Both ends survive: `worker-with-a-r…name-17` still tells worker 17 from
    worker 18, where cutting the end would make them one label. The end keeps
    a little more than the start, since that is where names differ.
    """
    if columns(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail_width = width // 2
    head_width = width - 1 - tail_width
    head, used = [], 0
    for char in text:
        size = _char_columns(char)
        if used + size > head_width:
            break
        head.append(char)
        used += size
    tail, used = [], 0
    for char in reversed(text):
        size = _char_columns(char)
        if used + size > tail_width:
            break
        tail.append(char)
        used += size
    return "".join(head) + "…" + "".join(reversed(tail))


def wrap(text: str, width: int, most_lines: int) -> list[str]:
    """`text` broken into lines of at most `width` columns, at most `most_lines` of them.

    Breaks fall at spaces when a line has one, else anywhere (CJK and long
    tokens); the last line ends in `…` if text was left over.
    """
    lines: list[str] = []
    rest = text
    while rest and len(lines) < most_lines:
        if columns(rest) <= width:
            lines.append(rest)
            rest = ""
            break
        cut = max(1, len(truncate(rest, width + 1)) - 1)  # characters that fit in `width`
        space = rest.rfind(" ", 0, cut + 1)
        if space > cut // 2:
            cut = space + 1
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip(" ")
    if rest:
        lines[-1] = truncate(lines[-1] + " " + rest, width)
    return lines or [""]

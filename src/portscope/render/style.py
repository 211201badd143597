"""Terminal styling that degrades to plain text: bold and colour only on a TTY, never with NO_COLOR.

A tiny stand-in for a rich-text library: ``portscope explain`` must start in a few milliseconds, and
a handful of SGR codes is all it prints with (https://no-color.org for NO_COLOR).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True

if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["Style", "wrap"]

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}


class Style:
    """Wraps text in SGR codes when ``enabled``; ``width`` is the terminal's width for wrapping."""

    def __init__(self, enabled: bool, width: int = 100, *, tty: bool = False) -> None:
        self.enabled = enabled
        self.width = width
        self.tty = tty  # tables are cut to the width only on a terminal; piped, no cell is ever cut

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        tty = hasattr(stream, "isatty") and stream.isatty()
        enabled = tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        width = 100
        if tty:
            try:
                width = os.get_terminal_size(stream.fileno()).columns
            except (OSError, ValueError):
                width = 100
            width = int(os.environ.get("COLUMNS", width)) if os.environ.get("COLUMNS", "").isdigit() else width
        return cls(enabled, max(60, min(width, 160)), tty=tty)

    def __call__(self, text: str, *names: str) -> str:
        if not self.enabled or not names:
            return text
        codes = ";".join(_CODES[n] for n in names)
        return f"\x1b[{codes}m{text}\x1b[0m"


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap to ``width`` columns (words longer than a line are cut).

    Our own, because :mod:`textwrap` compiles several regular expressions at import: start-up time.
    """
    lines: list[str] = []
    current = ""
    for whole in text.split():
        word = whole
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines

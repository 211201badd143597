"""Terminal styling that degrades to plain text: bold and colour only on a TTY, never with NO_COLOR.

A tiny stand-in for a rich-text library: ``portscope explain`` must start in a few milliseconds, and
a handful of SGR codes is all it prints with (https://no-color.org for NO_COLOR).
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

__all__ = ["Style"]

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}


class Style:
    """Wraps text in SGR codes when ``enabled``; ``width`` is the terminal's width for wrapping."""

    def __init__(self, enabled: bool, width: int = 100) -> None:
        self.enabled = enabled
        self.width = width

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        tty = hasattr(stream, "isatty") and stream.isatty()
        enabled = tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        width = shutil.get_terminal_size((100, 24)).columns if tty else 100
        return cls(enabled, max(60, min(width, 160)))

    def __call__(self, text: str, *names: str) -> str:
        if not self.enabled or not names:
            return text
        codes = ";".join(_CODES[n] for n in names)
        return f"\x1b[{codes}m{text}\x1b[0m"

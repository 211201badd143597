"""Neutralise attacker-controlled text before it reaches a terminal, a spreadsheet or a web page.

Process names, command lines and log fields are chosen by whoever ran the process or sent the packet.
Printed raw, an escape sequence can rewrite the screen, hide a line, or set the window title; a CSV
cell starting with ``=`` runs as a formula in a spreadsheet (OWASP 'CSV injection').
"""

from __future__ import annotations

import re
from functools import cache

TYPE_CHECKING = False  # typing costs explain's start-up 3 ms; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["for_csv", "for_csv_column", "for_terminal"]

# ECMA-48: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte ESC sequences, and C1 CSI (0x9b).
_ESCAPES_RE = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, terminated by BEL or ST (or unterminated)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]?"  # other ESC sequences, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # C1 CSI
)
_CONTROLS_RE = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Compiled on first need: most text is printable and never needs them (start-up time matters)."""
    return re.compile(_ESCAPES_RE), re.compile(_CONTROLS_RE)


def for_terminal(text: str, *, keep_newlines: bool = False) -> str:
    """Strip escape sequences, and show other control characters (and bidi overrides) as ``\\xNN``.

    Newlines and tabs become visible ``\\n``/``\\t`` unless ``keep_newlines``, so one record stays one line.
    Invalid UTF-8 should be decoded with ``errors='replace'`` or ``'backslashreplace'`` before it gets here.
    """
    if text.isprintable():  # no control, escape, separator or format character: nothing to do
        return text
    escapes, controls = _patterns()
    text = escapes.sub("", text)
    if not keep_newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return controls.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def for_csv(text: str) -> str:
    """Make a cell that a spreadsheet shows as text, never runs as a formula (OWASP CSV injection)."""
    text = for_terminal(text)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


# What makes a cell need for_csv: a formula's first character, or any escape or control character.
_CSV_RISK_RE = r"^[=+\-@\t\r]|[\x00-\x1f\x7f-\x9f\x{2028}\x{2029}\x{202a}-\x{202e}\x{2066}-\x{2069}]"


def for_csv_column(column: Any) -> Any:
    """A pyarrow string column with every cell as :func:`for_csv` makes it: the one CSV sanitiser, for
    columns (``convert --to csv``) as for cells (``live --csv``). The engine finds the few cells at risk
    (RE2 over the whole column), and only those go through :func:`for_csv`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    risky = pc.fill_null(pc.match_substring_regex(column, _CSV_RISK_RE), False)
    if not pc.any(risky).as_py():
        return column
    values = column.to_pylist()
    for index in pc.indices_nonzero(risky).to_pylist():
        values[index] = for_csv(values[index])
    return pa.array(values, type=column.type)

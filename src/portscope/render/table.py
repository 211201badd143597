"""Aligned text tables: headers in bold on a terminal, plain aligned text when piped.

Every cell passes through :func:`~portscope.render.sanitize.for_terminal` first: process names and
command lines are chosen by whoever started the process, and may carry escape sequences.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from portscope.render.sanitize import for_terminal
from portscope.render.style import Style

__all__ = ["render_table"]


def _fit(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(1, width - 1)] + "…"


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    style: Style,
    *,
    shrinkable: Sequence[int] = (),
    right: Sequence[int] = (),
    narrowest: int = 8,
) -> list[str]:
    """Lines of an aligned table, no wider than ``style.width`` on a terminal (piped, nothing is cut).

    ``shrinkable`` columns (by index) are cut, with an ellipsis, when the table would be too wide, down
    to ``narrowest`` characters (or their header's width); the others are never cut, and a table that
    still does not fit runs past the edge rather than lose them. ``right`` columns are right-aligned.
    """
    cells = [[for_terminal("" if v is None else str(v)) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for k, cell in enumerate(row):
            widths[k] = max(widths[k], len(cell))
    total = sum(widths) + 2 * (len(widths) - 1)
    excess = total - style.width if style.tty else 0
    for k in sorted(shrinkable, key=lambda k: -widths[k]):
        if excess <= 0:
            break
        cut = min(excess, max(0, widths[k] - max(narrowest, len(headers[k]))))
        widths[k] -= cut
        excess -= cut

    def line(values: Sequence[str]) -> str:
        parts = []
        for k, value in enumerate(values):
            text = _fit(value, widths[k])
            parts.append(text.rjust(widths[k]) if k in right else text.ljust(widths[k]))
        return "  ".join(parts).rstrip()

    out = [style(line(list(headers)), "bold")]
    out += [line(row) for row in cells]
    return out

"""Terminal tables: aligned, cut to the width on a terminal only, and never carrying escape sequences."""

from __future__ import annotations

from portscope.render.style import Style
from portscope.render.table import render_table

ROWS = [("firefox", "tcp 443", "x" * 60), ("sshd", "tcp 22", "short")]


def test_piped_tables_are_aligned_and_uncut() -> None:
    lines = render_table(("NAME", "PORT", "NOTE"), ROWS, Style(False, 40, tty=False))
    assert lines[0] == "NAME     PORT     NOTE"
    assert lines[1] == "firefox  tcp 443  " + "x" * 60
    assert lines[2] == "sshd     tcp 22   short"


def test_terminal_tables_cut_shrinkable_columns_with_an_ellipsis() -> None:
    lines = render_table(("NAME", "PORT", "NOTE"), ROWS, Style(False, 40, tty=True), shrinkable=(2,))
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].endswith("…")


def test_cells_are_sanitised_and_headers_bold_only_when_coloured() -> None:
    lines = render_table(("NAME",), [("\x1b[2Jevil\nname",)], Style(True, 80, tty=True))
    assert lines[0] == "\x1b[1mNAME\x1b[0m"
    assert lines[1] == "evil\\nname"

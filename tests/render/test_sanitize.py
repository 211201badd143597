"""Hostile strings are neutralised before a terminal or a spreadsheet sees them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from portscope.render.sanitize import for_csv, for_terminal


def test_escape_sequences_are_removed() -> None:
    assert for_terminal("evil\x1b[2J\x1b[31mred\x1b[0m") == "evilred"
    assert for_terminal("title\x1b]0;pwned\x07x") == "titlex"
    assert for_terminal("a\x9b31mb") == "ab"
    assert for_terminal("lone\x1b") == "lone"


def test_controls_become_visible() -> None:
    assert for_terminal("two\nlines\ttab\x00nul\x7f") == "two\\nlines\\ttab\\x00nul\\x7f"
    assert for_terminal("keep\nthis", keep_newlines=True) == "keep\nthis"
    assert for_terminal("bidi\u202eoverride") == "bidi\\x202eoverride"


def test_csv_formulas_are_neutralised() -> None:
    assert for_csv("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert for_csv("+1") == "'+1"
    assert for_csv("@SUM(1)") == "'@SUM(1)"
    assert for_csv("firefox") == "firefox"


@given(st.text())
def test_no_escape_or_control_survives(text: str) -> None:
    out = for_terminal(text)
    assert "\x1b" not in out and "\x9b" not in out
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)


def test_wrap_fills_greedily_and_cuts_long_words() -> None:
    from portscope.render.style import wrap

    assert wrap("a bb ccc dddd", 6) == ["a bb", "ccc", "dddd"]
    assert wrap("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
    assert wrap("   ", 10) == []
    for line in wrap("the quick brown fox jumps over the lazy dog " * 5, 17):
        assert len(line) <= 17

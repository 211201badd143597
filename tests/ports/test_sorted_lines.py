"""Bisection over sorted lines finds exactly what a linear scan finds, on any sorted file."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from portscope.ports._sorted_lines import bisect_lines, lines_from


def _key(line: bytes) -> int:
    return int(line.split(b"\t", 1)[0]) if line[:1].isdigit() else -1


@given(
    st.lists(st.integers(0, 70), max_size=60).map(sorted),
    st.integers(-1, 75),
    st.booleans(),
    st.booleans(),
)
def test_bisect_matches_a_scan(keys: list[int], target: int, header: bool, final_newline: bool) -> None:
    lines = [b"# header"] * header + [b"%d\tvalue%d" % (k, i) for i, k in enumerate(keys)]
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    found = []
    for line in lines_from(data, bisect_lines(data, -1, len(data), _key, target), len(data)):
        if _key(line) != target:
            break
        found.append(line)
    assert found == [line for line in lines if _key(line) == target]

"""RFC 6335 ranges and the OS ephemeral range table."""

from __future__ import annotations

import pytest

from portscope.ports.ranges import EPHEMERAL_RANGES, OTHER_POOLS, iana_range, ranges_for_os


@pytest.mark.parametrize(
    ("port", "name"),
    [(0, "system"), (1023, "system"), (1024, "user"), (49151, "user"), (49152, "dynamic"), (65535, "dynamic")],
)
def test_iana_range_boundaries(port: int, name: str) -> None:
    assert iana_range(port)[0] == name


def test_iana_range_rejects_non_ports() -> None:
    with pytest.raises(ValueError, match="outside 0-65535"):
        iana_range(65536)


def test_every_range_is_sane_and_cited() -> None:
    for rng in (*EPHEMERAL_RANGES, *OTHER_POOLS):
        assert 0 < rng.low <= rng.high <= 65535, rng
        assert len(rng.source) > 10, f"{rng.os} has no source"
    linux = next(r for r in EPHEMERAL_RANGES if r.os == "linux")
    assert (linux.low, linux.high, linux.size) == (32768, 60999, 28232)
    windows = next(r for r in EPHEMERAL_RANGES if r.os == "windows")
    assert (windows.low, windows.high) == (49152, 65535)


def test_os_selection_and_aliases() -> None:
    assert {r.os for r in ranges_for_os("windows")} == {"windows", "windows-xp"}
    assert {r.os for r in ranges_for_os("Darwin")} == {"macos"}
    assert {r.os for r in ranges_for_os("freebsd")} == {"freebsd"}
    assert ranges_for_os(None) == EPHEMERAL_RANGES
    with pytest.raises(ValueError, match=r"unknown OS .plan9.; valid ones are: .*linux"):
        ranges_for_os("plan9")

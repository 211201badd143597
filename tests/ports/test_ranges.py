"""RFC 6335 ranges and the OS ephemeral range table."""

from __future__ import annotations

import pytest

from portscope.errors import UsageError
from portscope.ports.ranges import (
    ANY_OS,
    EPHEMERAL_RANGES,
    IANA_DYNAMIC,
    OTHER_POOLS,
    client_range,
    iana_range,
    parse_client_range,
    ranges_for_os,
)


@pytest.mark.parametrize(
    ("port", "name"),
    [(0, "system"), (1023, "system"), (1024, "user"), (49151, "user"), (49152, "dynamic"), (65535, "dynamic")],
)
def test_iana_range_boundaries(port: int, name: str) -> None:
    assert iana_range(port)[0] == name


def test_iana_range_rejects_non_ports() -> None:
    with pytest.raises(UsageError, match="outside 0-65535"):
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
    with pytest.raises(UsageError, match=r"unknown OS .plan9.; valid ones are: .*linux"):
        ranges_for_os("plan9")


def test_client_range_in_force_for_an_os() -> None:
    """--os picks the OS's current range (Windows Vista+, not XP), 'any' is Linux and Windows together,
    and no OS at all is IANA's dynamic range."""
    assert (client_range("windows").low, client_range("windows").high) == (49152, 65535)
    assert (client_range("linux").low, client_range("linux").high) == (32768, 60999)
    assert client_range("any") == ANY_OS and (ANY_OS.low, ANY_OS.high) == (32768, 65535)
    assert client_range(None) == IANA_DYNAMIC and (IANA_DYNAMIC.low, IANA_DYNAMIC.high) == (49152, 65535)
    with pytest.raises(UsageError, match="unknown OS"):
        client_range("plan9")


def test_parse_client_range_takes_an_os_or_a_range_and_names_where_it_failed() -> None:
    assert (parse_client_range("1024-65535", "--host-os").low, parse_client_range("1024-65535", "x").high) == (
        1024,
        65535,
    )
    assert parse_client_range("macos", "--os").low == 49152
    for bad in ("0-10", "9-8", "70000-70001", "beos"):
        with pytest.raises(UsageError, match=r"hosts.txt:3: "):
            parse_client_range(bad, "hosts.txt:3:")

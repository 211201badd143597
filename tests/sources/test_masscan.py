"""masscan: real masscan 1.3.2 -oJ/-oL output, the older trailing-comma JSON, banner findings."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import masscan
from tests.sources._flowtest import fixture, fuzz_once, read


def test_json() -> None:
    """Each finding a row: dst address and port, protocol, rule status/reason, start = its timestamp."""
    table, stats = read("masscan", fixture("masscan", "masscan.json"))
    assert (stats.good, stats.bad) == (4, 0)
    got = sorted((r["dst_port"], r["protocol"], r["rule"]) for r in table.to_pylist())
    assert got == [
        (22, "tcp", "open/syn-ack"),
        (53, "udp", "open/none"),
        (80, "tcp", "open/syn-ack"),
        (8080, "tcp", "open/syn-ack"),
    ]
    first = table.to_pylist()[0]
    assert (first["dst_addr"], first["src_addr"], first["action"]) == ("10.99.0.2", None, "unknown")
    assert first["start"] == datetime.fromtimestamp(1795461214, timezone.utc)
    assert table.column("evidence_line").to_pylist() == [1, 2, 3, 4]


def test_list() -> None:
    """-oL lines: status proto port address time; comments skipped; line numbers are the file's."""
    table, stats = read("masscan", fixture("masscan", "masscan.list"))
    assert stats.good == 4
    assert table.column("evidence_line").to_pylist() == [2, 3, 4, 5]
    assert table.to_pylist()[1]["dst_port"] == 53 and table.to_pylist()[1]["protocol"] == "udp"


def test_banners_are_skipped_not_bad() -> None:
    """--banners findings (JSON service objects, -oL banner lines) are counted as skipped."""
    table, stats = read("masscan", fixture("masscan", "masscan-banners.json"))
    assert (table.num_rows, stats.bad, stats.skipped) == (2, 0, 1)
    table, stats = read("masscan", fixture("masscan", "masscan-banners.list"))
    assert (table.num_rows, stats.bad, stats.skipped) == (2, 0, 2)


def test_trailing_comma_quirk() -> None:
    """Old masscan's stray comma before ] and its {finished: 1} element are tolerated silently."""
    table, stats = read("masscan", fixture("masscan", "masscan-1.0-trailing-comma.json"))
    assert (stats.good, stats.bad) == (3, 0)
    assert table.column("dst_addr").to_pylist() == ["192.0.2.10", "192.0.2.10", "192.0.2.11"]


def test_bad_records() -> None:
    """Port 70000, a bad address, a bad time, a cut file: counted by record or line; the rest kept."""
    data = fixture("masscan", "masscan.json")
    broken = data.replace(b'"port": 80,', b'"port": 70000,')
    broken = broken.replace(b'"1795461214", "ports": [ {"port": 53', b'"soon", "ports": [ {"port": 53')
    table, stats = read("masscan", broken, label="m.json")
    assert table.num_rows == 2 and stats.kinds == {"bad port": 1, "bad timestamp": 1}
    table, stats = read("masscan", data[:-60], label="m.json")
    assert table.num_rows == 3 and stats.kinds == {"truncated input": 1}
    lines = fixture("masscan", "masscan.list").replace(b"22 10.99.0.2 ", b"22 10.99.0.300 ")
    table, stats = read("masscan", lines + b"open tcp 99999 10.0.0.1 1\nnonsense\n", label="m.list")
    assert table.num_rows == 3 and stats.bad == 3
    with pytest.raises(DataError, match=r"m\.list:2: bad address"):
        read("masscan", lines, label="m.list", strict=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 600), st.binary(max_size=60))
def test_fuzz(cut: int, noise: bytes) -> None:
    """Real output cut anywhere, plus noise, never raises anything but DataError under strict."""
    fuzz_once("masscan", fixture("masscan", "masscan.json")[:cut] + noise)
    fuzz_once("masscan", fixture("masscan", "masscan.list")[: cut // 4] + noise)


def test_sniff() -> None:
    """JSON findings and -oL lines 95; nmap XML and other JSON 0."""
    assert masscan.sniff(fixture("masscan", "masscan.json"), "x") == 95
    assert masscan.sniff(fixture("masscan", "masscan-1.0-trailing-comma.json"), "x") == 95
    assert masscan.sniff(fixture("masscan", "masscan.list"), "x") == 95
    assert masscan.sniff(b"open tcp 80 192.0.2.1 1390000000\n", "x") == 95
    assert masscan.sniff(fixture("nmap_xml", "masscan.xml"), "x") == 0
    assert masscan.sniff(b'[{"a": 1}]', "x") == 0

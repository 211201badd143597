"""aws_vpc: VPC flow log records, default and custom formats, NODATA/SKIPDATA, TCP flags and directions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import _tabular, aws_vpc
from tests.sources._flowtest import fixture, fuzz_once, mutations, read


def test_default_format_with_header() -> None:
    """The documentation's records: accept, reject, IPv6; NODATA and SKIPDATA skipped and counted, not bad."""
    table, stats = read("aws_vpc", fixture("aws_vpc", "default-v2.log"))
    assert (stats.good, stats.bad, stats.skipped) == (5, 0, 2)  # type: ignore[attr-defined]
    first = table.to_pylist()[0]
    assert (first["src_addr"], first["src_port"], first["dst_addr"], first["dst_port"]) == (
        "172.31.16.139",
        20641,
        "172.31.16.21",
        22,
    )
    assert (first["protocol"], first["packets_out"], first["bytes_out"], first["packets_in"]) == ("tcp", 20, 4249, None)
    assert first["start"] == datetime(2014, 12, 14, 4, 6, 50, tzinfo=timezone.utc) and first["duration"] == 60
    assert (first["observer"], first["action"], first["initiator"]) == ("eni-1235b8ca123456789", "allow", None)
    assert table.column("action").to_pylist() == ["allow", "deny", "allow", "deny", "allow"]
    assert table.column("evidence_line").to_pylist() == [2, 3, 6, 7, 8]


def test_icmp_has_no_ports() -> None:
    """AWS writes 0 in the port fields of ICMP records: null ports, and no type/code (AWS logs none)."""
    table, _ = read("aws_vpc", fixture("aws_vpc", "default-v2.log"))
    icmp = [r for r in table.to_pylist() if r["protocol"] == "icmp"]
    assert len(icmp) == 2
    assert all(r["src_port"] is None and r["dst_port"] is None and r["icmp_type"] is None for r in icmp)


def test_no_header_default_shape() -> None:
    """CloudWatch Logs lines (no header) in the default format read as such."""
    table, stats = read("aws_vpc", fixture("aws_vpc", "cloudwatch-no-header.log"))
    assert (stats.good, stats.skipped, table.column("evidence_line").to_pylist()) == (2, 1, [1, 2])  # type: ignore[attr-defined]


def test_tcp_flags_and_initiator() -> None:
    """The docs' flag sequence: client SYN (2) is the initiator, SYN-ACK (18), 0 and FIN (1) not; SYN+FIN (3) is."""
    table, _ = read("aws_vpc", fixture("aws_vpc", "custom-v3-tcp-flags.log"))
    got = [(r["tcp_flags"], r["initiator"], r["src_port"]) for r in table.to_pylist()]
    assert got == [
        ("SYN", "observed", 43416), ("ACK SYN", None, 5001), (None, None, 43416), ("FIN", None, 5001),
        ("SYN FIN", "observed", 60112),
    ]  # fmt: skip


def test_custom_v5_direction_and_header_switch() -> None:
    """flow-direction ingress/egress -> inbound/outbound; a second header mid-file switches the layout."""
    table, stats = read("aws_vpc", fixture("aws_vpc", "custom-v5-direction.log"))
    assert stats.bad == 0
    assert table.column("direction").to_pylist() == ["outbound", "inbound", "inbound", None]
    assert table.column("evidence_line").to_pylist() == [2, 3, 4, 6]
    last = table.to_pylist()[-1]
    assert (last["protocol"], last["dst_port"], last["bytes_out"]) == ("udp", 53, 73)


def test_bad_records_counted() -> None:
    """Port 70000, a bad address, a bad action, a short line, invalid UTF-8: rejected by line; the rest kept."""
    header, good = fixture("aws_vpc", "default-v2.log").splitlines()[:2]
    data = b"\n".join(
        [
            header,
            good,
            good.replace(b" 22 6 ", b" 70000 6 "),
            good.replace(b"172.31.16.21", b"172.31.16"),
            good.replace(b"ACCEPT", b"MAYBE"),
            good.rsplit(b" ", 3)[0],
            good.replace(b"eni-", b"eni-\xff"),
            good,
        ]
    )
    table, stats = read("aws_vpc", data, label="vpc.log")
    assert table.column("evidence_line").to_pylist() == [2, 8]
    assert stats.kinds == {"bad port": 1, "bad address": 1, "bad value": 1, "malformed line": 1, "invalid UTF-8": 1}
    with pytest.raises(DataError, match=r"vpc\.log:3: bad port: dstport '70000'"):
        read("aws_vpc", data, label="vpc.log", strict=True)


def test_no_header_and_other_shape_is_bad() -> None:
    """Lines without a header that are not the default format cannot be read: each is a bad record."""
    table, stats = read("aws_vpc", b"5 eni-1 10.0.0.1 10.0.0.2 1 2 6\n5 eni-1 10.0.0.1 10.0.0.2 1 2 6\n")
    assert table.num_rows == 0 and stats.kinds == {"malformed line": 2}


def test_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers and records cut across reads give the same rows and line numbers."""
    data = fixture("aws_vpc", "custom-v5-direction.log") + fixture("aws_vpc", "default-v2.log")
    whole, _ = read("aws_vpc", data)
    monkeypatch.setattr(_tabular, "CHUNK_SIZE", 53)
    assert read("aws_vpc", data, batch_size=2)[0].to_pylist() == whole.to_pylist()
    assert whole.num_rows == 9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=4), st.binary(max_size=200))
def test_fuzz(picks: list[int], noise: bytes) -> None:
    """Damaged records and noise never raise anything but DataError under strict."""
    lines = fixture("aws_vpc", "custom-v3-tcp-flags.log").splitlines()
    for n, pick in enumerate(picks):
        lines[1 + n % 5] = mutations(lines[1 + n % 5])[pick]
    fuzz_once("aws_vpc", b"\n".join(lines) + b"\n" + noise)
    fuzz_once("aws_vpc", noise)


def test_sniff() -> None:
    """A header of field names 100, default-shaped lines 90, anything else 0."""
    assert aws_vpc.sniff(fixture("aws_vpc", "default-v2.log"), "x") == 100
    assert aws_vpc.sniff(fixture("aws_vpc", "custom-v5-direction.log"), "x") == 100
    assert aws_vpc.sniff(fixture("aws_vpc", "cloudwatch-no-header.log"), "x") == 90
    assert aws_vpc.sniff(b"2 hello world\n", "x") == 0
    assert aws_vpc.sniff(fixture("zeek_conn", "zat-bro2-conn.log"), "x") == 0

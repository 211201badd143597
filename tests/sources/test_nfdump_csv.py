"""nfdump_csv: real nfdump 1.7.1 csv of real NetFlow v9/IPFIX exports, checked against nfacctd's decoding."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import _tabular, nfdump_csv
from tests.sources._flowtest import fixture, fuzz_once, mutations, read


def test_ipfix_fixed_header_and_summary() -> None:
    """12 IPFIX flows come out; the trailing Summary block (3 lines) is neither a flow nor a bad record."""
    table, stats = read("nfdump_csv", fixture("nfdump_csv", "ipfix-100-cisco.csv"))
    assert (stats.good, stats.bad) == (12, 0)
    first = table.to_pylist()[0]
    assert first["start"] == datetime(2023, 2, 28, 9, 46, 1, tzinfo=timezone.utc)
    assert first["duration"] == 11.264  # td keeps the milliseconds that ts/te lose
    assert (first["src_addr"], first["src_port"], first["dst_port"], first["protocol"]) == (
        "10.231.65.56",
        17000,
        17000,
        "udp",
    )
    assert (first["packets_out"], first["bytes_out"], first["packets_in"], first["bytes_in"]) == (2, 220, None, None)
    assert (first["in_interface"], first["out_interface"], first["observer"]) == ("995", "841", "127.0.0.1")
    assert table.column("evidence_line").to_pylist() == list(range(2, 14))


def test_matches_nfacctd_on_the_same_exports(shared_data: Path) -> None:
    """Addresses, ports, packets and bytes equal what pmacct's nfacctd decoded from the same pcap."""
    table, _ = read("nfdump_csv", fixture("nfdump_csv", "ipfix-100-cisco.csv"))
    ours = Counter(
        (r["src_addr"], r["dst_addr"], r["src_port"], r["dst_port"], r["packets_out"], r["bytes_out"])
        for r in table.to_pylist()
    )
    truth = Counter()
    for line in (shared_data / "netflow-ipfix" / "100-IPFIXv10-CISCO" / "output-flow-00.json").read_text().splitlines():
        r = json.loads(line)
        truth[(r["ip_src"], r["ip_dst"], r["port_src"], r["port_dst"], r["packets"], r["bytes"])] += 1
    assert ours == truth


def test_timezone_option() -> None:
    """nfdump prints local wall-clock time without a zone: options['timezone'] says which; UTC otherwise."""
    zurich = fixture("nfdump_csv", "ipfix-100-zurich-time.csv")
    wrong, _ = read("nfdump_csv", zurich)
    right, _ = read("nfdump_csv", zurich, options={"timezone": "Europe/Zurich"})
    utc, _ = read("nfdump_csv", fixture("nfdump_csv", "ipfix-100-cisco.csv"))
    assert right.column("start").to_pylist() == utc.column("start").to_pylist()
    assert wrong.column("start").to_pylist() != utc.column("start").to_pylist()


def test_tcp_flags_and_initiator() -> None:
    """Flags letters become names; SYN without ACK (a lone SYN) marks the src as opener, SYN+ACK does not."""
    table, _ = read("nfdump_csv", fixture("nfdump_csv", "nfv9-101-cisco.csv"))
    flags = Counter(table.column("tcp_flags").to_pylist())
    assert flags["ACK"] and flags["ACK SYN"] and flags["ACK FIN"]
    assert set(table.column("initiator").to_pylist()) == {None}
    named, _ = read("nfdump_csv", fixture("nfdump_csv", "named-columns.csv"))
    assert [r["initiator"] for r in named.to_pylist()] == [None, "observed", None, None, None]


def test_epoch_time_and_portless_protocols() -> None:
    """Flows without times (printed as the epoch) get null start/end; VRRP's 0 ports are no ports; ICMPv6 typed."""
    table, stats = read("nfdump_csv", fixture("nfdump_csv", "ipfix-104-ipv6.csv"))
    assert stats.bad == 0
    rows_ = table.to_pylist()
    assert all(r["start"] is None and r["end"] is None for r in rows_)
    assert [(r["protocol"], r["src_port"], r["dst_port"]) for r in rows_] == [
        ("icmpv6", None, None), ("vrrp", None, None), ("vrrp", None, None),
    ]  # fmt: skip


def test_quiet_output_has_no_header() -> None:
    """nfdump -q prints neither header nor Summary: 48 fields are read as the fixed 1.6/1.7 layout."""
    table, stats = read("nfdump_csv", fixture("nfdump_csv", "mixed-111-quiet.csv"))
    assert (stats.good, stats.bad) == (11, 0)
    assert table.column("evidence_line").to_pylist()[0] == 1


def test_named_columns_icmp_and_reverse_counters() -> None:
    """Later releases: firstSeen/srcAddr/... names, ms, proto numbers, ICMP as type.code; 0000-00-00 is no time."""
    table, stats = read("nfdump_csv", fixture("nfdump_csv", "named-columns.csv"))
    assert stats.bad == 0
    tls, _syn, ping, dns, unreachable = table.to_pylist()
    assert tls["start"] == datetime(2025, 3, 4, 12, 0, 1, 250000, tzinfo=timezone.utc)
    assert (tls["packets_in"], tls["bytes_in"], tls["tcp_flags"]) == (10, 5321, "ACK PSH SYN FIN")
    assert (ping["protocol"], ping["icmp_type"], ping["icmp_code"], ping["dst_port"]) == ("icmp", 8, 0, None)
    assert (unreachable["icmp_type"], unreachable["icmp_code"], unreachable["start"]) == (3, 3, None)
    assert (dns["protocol"], dns["dst_port"], dns["src_addr"]) == ("udp", 53, "2001:db8::10")


def test_icmp_in_the_port_field() -> None:
    """1.6/1.7 keep ICMP type*256+code in dp (2048 = echo request, 771 = port unreachable)."""
    header, line = fixture("nfdump_csv", "ipfix-100-cisco.csv").splitlines()[:2]
    echo = line.replace(b",17000,17000,UDP,", b",0,2048,ICMP,")
    unreachable = line.replace(b",17000,17000,UDP,", b",0,771,ICMP,")
    table, _ = read("nfdump_csv", b"\n".join([header, echo, unreachable]) + b"\n")
    assert [(r["icmp_type"], r["icmp_code"], r["src_port"], r["dst_port"]) for r in table.to_pylist()] == [
        (8, 0, None, None), (3, 3, None, None),
    ]  # fmt: skip


def test_bad_lines_counted() -> None:
    """Port 70000, a bad address, a bad time, a short line: rejected with their line; the rest kept."""
    lines = fixture("nfdump_csv", "ipfix-100-cisco.csv").splitlines()
    lines[2] = lines[2].replace(b",17000,17000,", b",17000,70000,")
    lines[3] = lines[3].replace(b"10.231.25.158", b"10.231.25")
    lines[4] = b"2023-02-30" + lines[4][10:]
    lines[5] = lines[5][:40]
    _, stats = read("nfdump_csv", b"\n".join(lines) + b"\n", label="nf.csv")
    assert stats.good == 8
    assert stats.kinds == {"bad port": 1, "bad address": 1, "bad timestamp": 1, "malformed line": 1}
    with pytest.raises(DataError, match=r"nf\.csv:3: bad port: dp '70000'"):
        read("nfdump_csv", b"\n".join(lines), strict=True, label="nf.csv")


def test_small_chunks_and_concatenated_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two nfdump outputs cat-ed (header, flows, Summary, header...) read the same in tiny chunks."""
    data = fixture("nfdump_csv", "ipfix-100-cisco.csv") + fixture("nfdump_csv", "ipfix-104-ipv6.csv")
    whole, stats = read("nfdump_csv", data)
    assert (whole.num_rows, stats.bad) == (15, 0)
    monkeypatch.setattr(_tabular, "CHUNK_SIZE", 61)
    assert read("nfdump_csv", data, batch_size=4)[0].to_pylist() == whole.to_pylist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=4), st.binary(max_size=200))
def test_fuzz(picks: list[int], noise: bytes) -> None:
    """Damaged lines and noise never raise anything but DataError under strict."""
    lines = fixture("nfdump_csv", "ipfix-100-cisco.csv").splitlines()
    for n, pick in enumerate(picks):
        lines[1 + n] = mutations(lines[1 + n])[pick]
    fuzz_once("nfdump_csv", b"\n".join(lines) + noise)
    fuzz_once("nfdump_csv", noise)


def test_sniff() -> None:
    """The header (either vocabulary) 100, header-less fixed layout 80, others 0."""
    assert nfdump_csv.sniff(fixture("nfdump_csv", "ipfix-100-cisco.csv"), "x") == 100
    assert nfdump_csv.sniff(fixture("nfdump_csv", "named-columns.csv"), "x") == 100
    assert nfdump_csv.sniff(fixture("nfdump_csv", "mixed-111-quiet.csv"), "x") == 80
    assert nfdump_csv.sniff(b"a,b,c\n1,2,3\n", "x") == 0

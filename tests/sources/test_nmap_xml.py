"""nmap_xml: real nmap 7.93 and masscan 1.3.2 XML, one row per scanned host and port."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import nmap_xml
from tests.sources._flowtest import fixture, fuzz_once, read


def test_syn_version_scan() -> None:
    """open/closed/filtered ports each a row: dst = host and port, src null, action unknown, rule state/reason."""
    table, stats = read("nmap_xml", fixture("nmap_xml", "nmap-syn-version.xml"))
    assert (stats.good, stats.bad) == (5, 0)
    got = [(r["dst_port"], r["rule"], r["service"]) for r in table.to_pylist()]
    assert got == [
        (22, "open/syn-ack", "ssh"), (80, "open/syn-ack", "tcpwrapped"), (443, "closed/reset", "https"),
        (3306, "filtered/no-response", "mysql"), (8080, "open/syn-ack", "tcpwrapped"),
    ]  # fmt: skip
    first = table.to_pylist()[0]
    assert (first["dst_addr"], first["src_addr"], first["src_port"], first["action"]) == (
        "10.99.0.2",
        None,
        None,
        "unknown",
    )
    assert (first["protocol"], first["ip_proto"]) == ("tcp", 6)
    assert first["start"] == datetime.fromtimestamp(1795461207, timezone.utc)  # the host's starttime
    assert table.column("evidence_line").to_pylist() == [1, 2, 3, 4, 5]


def test_udp_ipv6_and_two_hosts() -> None:
    """UDP states, an IPv6 target (the MAC address is not the host's address), and 22 ports over 2 hosts."""
    udp, _ = read("nmap_xml", fixture("nmap_xml", "nmap-udp.xml"))
    assert {(r["dst_port"], r["rule"]) for r in udp.to_pylist()} >= {
        (53, "open/udp-response"),
        (123, "closed/port-unreach"),
    }
    v6, _ = read("nmap_xml", fixture("nmap_xml", "nmap-ipv6.xml"))
    assert set(v6.column("dst_addr").to_pylist()) == {"fd00:99::2"}
    two, stats = read("nmap_xml", fixture("nmap_xml", "nmap-two-hosts.xml"), batch_size=5)
    assert stats.good == 22 and set(two.column("dst_addr").to_pylist()) == {"10.99.0.1", "10.99.0.2"}


def test_ip_protocol_scan_has_no_ports() -> None:
    """nmap -sO lists IP protocols: protocol and ip_proto from the number, never a port."""
    table, _ = read("nmap_xml", fixture("nmap_xml", "nmap-ipproto.xml"))
    got = [(r["protocol"], r["ip_proto"], r["dst_port"], r["rule"]) for r in table.to_pylist()]
    assert got == [
        ("icmp", 1, None, "open/proto-unreach"), ("tcp", 6, None, "open/proto-response"),
        ("udp", 17, None, "open/port-unreach"), ("gre", 47, None, "closed/proto-unreach"),
    ]  # fmt: skip


def test_masscan_xml_uses_scan_start_when_no_host_starttime() -> None:
    """masscan -oX hosts carry endtime only: start is the scan's start."""
    table, stats = read("nmap_xml", fixture("nmap_xml", "masscan.xml"))
    assert stats.good == 4
    assert set(table.column("start").to_pylist()) == {datetime.fromtimestamp(1795461227, timezone.utc)}


def test_truncated_and_malformed() -> None:
    """A file cut mid-host keeps the hosts before and counts one truncated record; bad ports are bad records."""
    data = fixture("nmap_xml", "nmap-two-hosts.xml")
    cut = data[: data.index(b"<host", data.index(b"</host>")) + 300]
    table, stats = read("nmap_xml", cut, label="scan.xml")
    assert table.num_rows == 11 and stats.kinds == {"truncated input": 1}
    bad = fixture("nmap_xml", "nmap-syn-version.xml").replace(b'portid="443"', b'portid="70000"')
    table, stats = read("nmap_xml", bad, label="scan.xml")
    assert table.num_rows == 4 and stats.kinds == {"bad port": 1}
    with pytest.raises(DataError, match=r"scan\.xml:3: "):
        read("nmap_xml", bad, label="scan.xml", strict=True)


def test_entities_refused() -> None:
    """A document declaring entities (the XML bomb shape) is refused, not expanded."""
    bomb = b'<?xml version="1.0"?><!DOCTYPE nmaprun [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    bomb += b"<nmaprun>&b;</nmaprun>"
    table, stats = read("nmap_xml", bomb)
    assert table.num_rows == 0 and stats.kinds == {"malformed XML": 1}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4700), st.binary(max_size=60))
def test_fuzz(cut: int, noise: bytes) -> None:
    """Real XML cut anywhere and followed by noise never raises anything but DataError under strict."""
    data = fixture("nmap_xml", "nmap-two-hosts.xml")
    fuzz_once("nmap_xml", data[:cut] + noise)


def test_sniff() -> None:
    """<nmaprun documents 100, anything else 0."""
    assert nmap_xml.sniff(fixture("nmap_xml", "nmap-udp.xml"), "x") == 100
    assert nmap_xml.sniff(fixture("nmap_xml", "masscan.xml"), "x") == 100
    assert nmap_xml.sniff(b"<?xml version='1.0'?><Events/>", "x") == 0

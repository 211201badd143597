"""pfSense/OPNsense filterlog: golden lines from the documented layout, bad input, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import ParseStats, detect, pfsense
from tests.sources._firewall import OPTIONS, golden, plain_rows, table_of
from tests.sources._flowtest import DATA, fuzz_once, mutations, read

PATH, EXPECTED = golden("pfsense", "filterlog.log")
REAL = DATA / "pfsense" / "crowdsec-pf-logs.log"
BARE = DATA / "pfsense" / "filterlog-bare.log"
LINES = PATH.read_bytes().splitlines() + REAL.read_bytes().splitlines() + BARE.read_bytes().splitlines()


def test_golden() -> None:
    """pfSense BSD syslog, OPNsense RFC 5424 and the hostless forwarded form all give the expected rows."""
    stats = ParseStats()
    assert plain_rows(table_of(PATH, "pfsense", stats)) == EXPECTED
    assert (stats.bad, stats.skipped) == (0, 1)  # dhcpd's line


def test_fields_by_hand() -> None:
    """Values read off the lines: the docs' UDP example, a SYN, ICMP request, IPv6, the forwarded form."""
    rows = plain_rows(table_of(PATH, "pfsense"))
    udp = rows[0]
    assert (udp["src_addr"], udp["src_port"], udp["dst_addr"], udp["dst_port"]) == (
        "198.51.100.1",
        4242,
        "198.51.100.2",
        53,
    )
    assert (udp["action"], udp["direction"], udp["in_interface"], udp["bytes_out"], udp["rule"]) == (
        "deny",
        "inbound",
        "igb1",
        60,
        "5/1000000103",
    )
    syn = rows[1]
    assert (syn["tcp_flags"], syn["initiator"]) == ("S", "observed")
    assert rows[2]["action"] == "allow" and rows[2]["out_interface"] == "igb0" and rows[2]["direction"] == "outbound"
    assert (rows[3]["icmp_type"], rows[3]["icmp_code"]) == (8, 0) and "src_port" not in rows[3]
    assert rows[4]["protocol"] == "icmpv6" and rows[4]["src_addr"] == "fe80::1"
    assert rows[5]["src_addr"] == "2001:db8::10" and rows[5]["dst_port"] == 53
    opnsense = rows[7]
    assert (
        opnsense["observer"] == "OPNsense.localdomain" and opnsense["tcp_flags"] == "SA" and "initiator" not in opnsense
    )
    assert opnsense["start"] == "2025-01-15T10:23:53.123456+00:00"
    forwarded = rows[8]
    assert "observer" not in forwarded and forwarded["dst_port"] == 5060


F = b"Jan 15 10:23:45 pf filterlog[1]: 5,,,1000000103,igb1"
BAD = [
    (
        F + b",match,block,in,4,0x0,,64,0,0,DF,17,udp,60,999.1.1.1,198.51.100.2,4242,53,40",
        "invalid address",
    ),
    (
        F + b",match,block,in,4,0x0,,64,0,0,DF,17,udp,60,198.51.100.1,198.51.100.2,70000,53,40",
        "invalid port",
    ),
    (
        F + b",match,block,in,4,0x0,,64,0,0,DF,17,udp,60,198.51.100.1",
        "truncated record",
    ),
    (F + b"", "truncated record"),
    (
        F + b",match,block,in,7,0x0,,64,0,0,DF,17,udp,60",
        "invalid field",
    ),
]


@pytest.mark.parametrize(("line", "kind"), BAD)
def test_bad_records(line: bytes, kind: str) -> None:
    table, stats = read("pfsense", line + b"\r\n", options=OPTIONS)
    assert (table.num_rows, dict(stats.kinds)) == (0, {kind: 1})
    with pytest.raises(DataError, match=r"t\.log:1: "):
        read("pfsense", line + b"\n", strict=True, options=OPTIONS)


def test_sniff() -> None:
    assert pfsense.sniff(PATH.read_bytes(), "x") == 90
    assert pfsense.sniff(b"Jan 15 10:23:45 h sshd[1]: hello\n", "x") == 0


def test_real_pfsense_and_opnsense_lines() -> None:
    """CrowdSec's real test lines: pfSense BSD syslog, OPNsense RFC 5424, and the RFC 5424 without
    ``<PRI>1`` that OPNsense's own filter log holds (it was skipped: 8 of 9 lines read)."""
    stats = ParseStats()
    rows = plain_rows(table_of(REAL, "pfsense", stats, year=2022))
    assert (stats.good, stats.bad, stats.skipped) == (9, 0, 0)
    last = rows[-1]
    assert (last["observer"], last["start"], last["rule"]) == (
        "OPNsense.internal",
        "2026-03-10T17:20:33+00:00",
        "69/49484b4b90e87d327015604798f010e9",
    )
    assert (last["src_addr"], last["src_port"], last["dst_addr"], last["dst_port"]) == (
        "192.168.122.91",
        123,
        "51.91.83.168",
        123,
    )


def test_bare_filterlog_messages() -> None:
    """The CSV alone, as log pipelines forward it (no syslog header, no ``filterlog[pid]:`` tag), is
    detected and read: each message gives the row its syslog line gives, without the time and host the
    header carried. Before: not detected, and with --format pfsense 0 of 11 lines read (11 skipped)."""
    assert detect(BARE.read_bytes()[:65536], str(BARE)) == "pfsense"
    assert pfsense.sniff(BARE.read_bytes(), "x") == 85
    stats = ParseStats()
    bare = plain_rows(table_of(BARE, "pfsense", stats))
    assert (stats.good, stats.bad, stats.skipped) == (11, 0, 0)
    headed = plain_rows(table_of(REAL, "pfsense", year=2022))
    for row in headed:
        del row["start"], row["observer"]
    assert bare[:9] == headed


def test_carp_and_vrrp_are_named_vrrp() -> None:
    """IP protocol 112 (pfSense writes ``carp`` for IPv4, ``VRRP`` for IPv6) is named ``vrrp``, as
    every source names it, not the bare number; no ports."""
    carp, vrrp = plain_rows(table_of(BARE, "pfsense"))[9:]
    assert (carp["protocol"], carp["ip_proto"], carp["src_addr"], carp["dst_addr"]) == (
        "vrrp",
        112,
        "192.168.11.1",
        "224.0.0.18",
    )
    assert (vrrp["protocol"], vrrp["ip_proto"], vrrp["dst_addr"]) == ("vrrp", 112, "ff02::12")
    assert "src_port" not in carp and "dst_port" not in vrrp
    assert (carp["action"], carp["direction"], carp["rule"]) == ("deny", "inbound", "48/1000000201")


def test_bare_messages_cut_short_are_bad_records() -> None:
    """In a file of bare messages, one cut short is a bad record, not a line of another program."""
    table, stats = read("pfsense", BARE.read_bytes() + b"5,,,1000000103,igb1\n")
    assert (table.num_rows, dict(stats.kinds), stats.skipped) == (11, {"truncated record": 1}, 0)


@pytest.mark.parametrize(
    "line",
    [
        b"ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt",
        b"2024-01-01 10:00:00,2024-01-01 10:00:01,1.0,10.0.0.1,10.0.0.2,1234,80,TCP,.AP.SF,0,0,10,1000",
        b"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20",
        b"5,,,1000000103,igb0,match,block,sideways,4,0x0,,64,0,0,DF,6,tcp,60,192.0.2.1,198.51.100.2,51000,22",
        b"date,src,dst,sport,dport,proto,action,direction,version,a,b,c,d,e,f,g,h",
    ],
)
def test_sniff_leaves_other_csv_alone(line: bytes) -> None:
    """Only the filterlog shape (rule, sub-rule, anchor, tracker, interface, reason, action, in/out,
    4/6) is claimed: other CSV lines, even with as many fields, are not."""
    assert pfsense.sniff((line + b"\n") * 5, "x") == 0


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(blob: bytes) -> None:
    fuzz_once("pfsense", blob, options=OPTIONS)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(range(len(LINES))), st.integers(0, 5), st.integers(0, 200))
def test_fuzz_mutated_lines(index: int, how: int, cut: int) -> None:
    """Damaged real-format lines (cut, bad bytes, huge numbers) are rows or counted bad records."""
    line = mutations(LINES[index])[how]
    fuzz_once("pfsense", line[: cut or None] + b"\n", options=OPTIONS)

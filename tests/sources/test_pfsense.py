"""pfSense/OPNsense filterlog: golden lines from the documented layout, bad input, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import ParseStats, pfsense
from tests.sources._firewall import OPTIONS, golden, plain_rows, table_of
from tests.sources._flowtest import fuzz_once, mutations, read

PATH, EXPECTED = golden("pfsense", "filterlog.log")
LINES = PATH.read_bytes().splitlines()


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

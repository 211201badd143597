"""Windows Firewall pfirewall.log: a real log read whole, a golden slice, bad input, fuzzing."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import ParseStats, windows_firewall
from tests.sources._firewall import golden, plain_rows, table_of
from tests.sources._flowtest import fuzz_once, mutations, read

PATH, EXPECTED = golden("windows-firewall", "pfirewall.slice.log")
HEADER = (
    b"#Version: 1.5\n#Software: Microsoft Windows Firewall\n#Time Format: Local\n#Fields: date time action protocol"
    b" src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype icmpcode info path\n\n"
)


def test_golden_slice() -> None:
    stats = ParseStats()
    assert plain_rows(table_of(PATH, "windows_firewall", stats)) == EXPECTED
    assert (stats.bad, stats.skipped) == (0, 1)  # one INFO-EVENTS-LOST record


def test_whole_real_log(shared_data: Path) -> None:
    """All 16,809 records: 11,688 DROP and 5,119 ALLOW become rows, the 2 INFO-EVENTS-LOST are skipped."""
    path = shared_data / "windows-firewall" / "pfirewall.BetaHydri.2021-06.log"
    stats = ParseStats()
    table = table_of(path, "windows_firewall", stats)
    assert (table.num_rows, stats.bad, stats.skipped) == (16807, 0, 2)
    actions = dict(zip(*[c.to_pylist() for c in pc.value_counts(table.column("action")).flatten()], strict=True))
    assert actions == {"deny": 11688, "allow": 5119}
    protocols = dict(zip(*[c.to_pylist() for c in pc.value_counts(table.column("protocol")).flatten()], strict=True))
    assert protocols["udp"] == 15360 and protocols["tcp"] == 1366 and protocols["igmp"] == 32
    assert protocols["icmp"] + protocols["icmpv6"] == 49


def test_records_by_hand() -> None:
    """Rows checked against their lines: a dropped mDNS packet, an IPv6 RDP accept, IGMP, ICMPv6."""
    rows = plain_rows(table_of(PATH, "windows_firewall"))
    mdns = rows[0]  # 2021-06-22 12:19:41 DROP UDP 192.168.178.25 224.0.0.251 5353 5353 73 - - - - - - - RECEIVE
    assert mdns == {
        "start": "2021-06-22T12:19:41+00:00", "source_format": "windows_firewall", "protocol": "udp", "ip_proto": 17,
        "src_addr": "192.168.178.25", "src_port": 5353, "dst_addr": "224.0.0.251", "dst_port": 5353, "action": "deny",
        "direction": "inbound", "packets_out": 1, "bytes_out": 73, "evidence_line": 6,
    }  # fmt: skip
    rdp = next(
        r for r in rows if r.get("dst_port") == 3389
    )  # ALLOW TCP 2a01:110:2001:d:fe::1a ... 62188 3389 0 ... RECEIVE
    assert (rdp["action"], rdp["direction"], rdp["src_addr"], "bytes_out" in rdp) == (
        "allow",
        "inbound",
        "2a01:110:2001:d:fe::1a",
        False,
    )
    igmp = next(r for r in rows if r["protocol"] == "igmp")
    assert igmp["ip_proto"] == 2 and "src_port" not in igmp
    icmp = next(r for r in rows if r["protocol"] == "icmpv6")
    assert "icmp_type" in icmp and "src_port" not in icmp


def test_pid_column_and_flags() -> None:
    """Newer logs add pid; tcpflags S without A marks the connection attempt."""
    data = (
        HEADER.replace(b"info path", b"info path pid")
        + b"2024-05-01 10:00:00 ALLOW TCP 10.0.0.2 10.0.0.1 50000 443 52 S 123 0 64240 - - - SEND 4242\n"
    )
    table, _ = read("windows_firewall", data)
    row = table.to_pylist()[0]
    assert (row["process_pid"], row["tcp_flags"], row["initiator"], row["direction"]) == (
        4242,
        "S",
        "observed",
        "outbound",
    )


BAD = [
    (b"2021-06-22 12:19:41 DROP UDP 999.1.1.1 224.0.0.251 5353 5353 73 - - - - - - - RECEIVE", "invalid address"),
    (b"2021-06-22 12:19:41 DROP UDP 192.168.178.25 224.0.0.251 70000 5353 73 - - - - - - - RECEIVE", "invalid port"),
    (b"2021-06-22 12:19:41 DROP UDP 192.168.178.25", "truncated record"),
    (
        b"2021-02-30 12:19:41 DROP UDP 192.168.178.25 224.0.0.251 5353 5353 73 - - - - - - - RECEIVE",
        "invalid timestamp",
    ),
    (b"2021-06-22 12:19:41 MAYBE UDP 192.168.178.25 224.0.0.251 5353 5353 73 - - - - - - - RECEIVE", "invalid field"),
]


@pytest.mark.parametrize(("line", "kind"), BAD)
def test_bad_records(line: bytes, kind: str) -> None:
    table, stats = read("windows_firewall", HEADER + line + b"\r\n")
    assert (table.num_rows, dict(stats.kinds)) == (0, {kind: 1})
    with pytest.raises(DataError, match=r"t\.log:6: "):
        read("windows_firewall", HEADER + line + b"\n", strict=True)


def test_sniff() -> None:
    assert windows_firewall.sniff(PATH.read_bytes(), "x") == 95
    assert windows_firewall.sniff(b"#Fields: ts uid id.orig_h\n", "x") == 0


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(blob: bytes) -> None:
    fuzz_once("windows_firewall", HEADER + blob)


LINES = [line for line in PATH.read_bytes().splitlines() if line and not line.startswith(b"#")]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(range(len(LINES))), st.integers(0, 5), st.integers(0, 200))
def test_fuzz_mutated_lines(index: int, how: int, cut: int) -> None:
    line = mutations(LINES[index])[how]
    fuzz_once("windows_firewall", HEADER + line[: cut or None] + b"\n")

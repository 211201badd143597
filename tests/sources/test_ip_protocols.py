"""IP protocol names: one table, and every source names a protocol number the same way.

The numbers come from real traffic: psad's protocol scan (iptables LOG lines of ``nmap -sO``, one
packet per IP protocol number), read by the iptables source; the same numbers then go through the
other sources that carry a protocol number (pfSense filterlog, AWS VPC flow logs, pcap, and the
shared name/number parser the JSON, CSV and XML sources use).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from portscope.sources._ip_protocols import PROTOCOL_NAMES, PROTOCOL_NUMBERS, protocol_name
from portscope.sources._tabular import protocol
from tests.sources._firewall import table_of
from tests.sources._flowtest import read


def test_one_table() -> None:
    """Names are unique and lowercase, each name parses back to its number, VRRP/CARP is 112."""
    assert len(set(PROTOCOL_NAMES.values())) == len(PROTOCOL_NAMES)
    assert all(name == name.lower() for name in PROTOCOL_NUMBERS)
    assert all(PROTOCOL_NUMBERS[name] == number for number, name in PROTOCOL_NAMES.items())
    assert (PROTOCOL_NUMBERS["carp"], protocol_name(112), protocol_name(253)) == (112, "vrrp", "253")
    assert [protocol_name(n) for n in (2, 47, 50, 51, 89, 103, 132)] == [
        "igmp",
        "gre",
        "esp",
        "ah",
        "ospf",
        "pim",
        "sctp",
    ]


def _scanned(shared_data: Path) -> dict[int, str]:
    folder = shared_data / "psad" / "scans"
    if not folder.is_dir():
        pytest.skip("psad's scans are not in the shared data")
    table = table_of(folder / "proto_scan", "iptables", year=2015)
    return dict(zip(table.column("ip_proto").to_pylist(), table.column("protocol").to_pylist(), strict=True))


def test_iptables_names_the_real_protocol_scan(shared_data: Path) -> None:
    """Every protocol of the real scan is named from the table (gre, esp, vrrp...), the others are numbers."""
    scanned = _scanned(shared_data)
    assert len(scanned) > 200
    assert scanned == {number: protocol_name(number) for number in scanned}
    assert {scanned[47], scanned[112]} == {"gre", "vrrp"}


def test_every_source_names_the_scanned_numbers_alike(shared_data: Path) -> None:
    """The scan's protocol numbers through pfSense, AWS VPC, pcap and the shared parser: the same names."""
    numbers = sorted(_scanned(shared_data))
    bare = b"".join(
        b"5,,,1000000103,igb0,match,block,in,4,0x0,,64,0,0,none,%d,x,40,192.0.2.1,198.51.100.2,datalength=20\n" % n
        for n in numbers
        if n not in (1, 6, 17, 58, 132, 136)  # these carry fields of their own after the addresses
    )
    pfsense, _ = read("pfsense", bare)
    vpc_lines = b"".join(
        b"2 123456789010 eni-0a1b2c3d 192.0.2.1 198.51.100.2 0 0 %d 1 40 1700000000 1700000060 REJECT OK\n" % n
        for n in numbers
    )
    vpc, _ = read("aws_vpc", vpc_lines)
    capture, _ = read("pcap", _capture(numbers))
    for table in (pfsense, vpc, capture):
        named = dict(zip(table.column("ip_proto").to_pylist(), table.column("protocol").to_pylist(), strict=True))
        assert named == {number: protocol_name(number) for number in named}
        assert named[112] == "vrrp"
    assert all(protocol(str(n)) == (protocol_name(n), n) for n in numbers)
    assert protocol("CARP") == protocol("VRRP") == ("vrrp", 112)


def _capture(numbers: list[int]) -> bytes:
    """A pcap of one Ethernet/IPv4 packet per protocol number (protocols with headers of their own left out)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for index, number in enumerate(n for n in numbers if n not in (1, 6, 17, 33, 58, 132, 136)):
        payload = bytes(20)
        ip = struct.pack(
            ">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), index, 0, 64, number, 0, b"\xc0\0\2\1", b"\xc6\x33\x64\2"
        )
        frame = b"\2\0\0\0\0\1\2\0\0\0\0\2\x08\x00" + ip + payload
        out.append(struct.pack("<IIII", 1_700_000_000 + index, 0, len(frame), len(frame)) + frame)
    return b"".join(out)

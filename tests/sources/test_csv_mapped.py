"""csv_mapped: any CSV/TSV through a column mapping; types checked per column, bad values counted per row."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError, UsageError
from portscope.sources import csv_mapped
from tests.sources._flowtest import fixture, fuzz_once, read

FIREWALL = {
    "start": "Timestamp", "src_addr": "SourceIP", "src_port": "SPort", "dst_addr": "DestinationIP", "dst_port": "DPort",
    "protocol": "Proto", "action": "Action", "bytes_out": "Bytes Sent", "rule": "Rule Name", "process_name": "Process",
}  # fmt: skip


def test_mapped_export() -> None:
    """Quoted fields, CRLF, ISO times with offsets and epoch seconds, '-' as null, ACCEPT/DROP, ICMP without ports."""
    table, stats = read("csv_mapped", fixture("csv_mapped", "firewall-export.csv"), options={"map": FIREWALL})
    assert (stats.good, stats.bad) == (4, 0)
    web, dns, ssh, ping = table.to_pylist()
    assert (web["src_port"], web["dst_port"], web["protocol"], web["ip_proto"], web["action"]) == (
        51544,
        443,
        "tcp",
        6,
        "allow",
    )
    assert web["rule"] == "allow web, outbound" and ssh["rule"] == 'block ssh "ext"'
    assert dns["start"] == datetime(2024, 5, 1, 8, 0, 1, 250000, tzinfo=timezone.utc)
    assert ssh["start"] == datetime(2024, 5, 1, 10, 0, 2, tzinfo=timezone.utc)
    assert (dns["src_port"], dns["process_name"], ssh["action"]) == (None, None, "deny")
    assert (ping["protocol"], ping["src_port"], ping["dst_port"]) == ("icmp", None, None)
    assert table.column("evidence_line").to_pylist() == [2, 3, 4, 5]
    assert table.column("packets_out").null_count == 4  # not mapped: null


def test_delimiters_sniffed() -> None:
    """Semicolons (with epoch milliseconds) and tabs are found from the header line."""
    mapping = {"start": "time", "src_addr": "src", "dst_addr": "dst", "dst_port": "dport", "protocol": "proto"}
    table, _ = read("csv_mapped", fixture("csv_mapped", "semicolons.csv"), options={"map": mapping})
    assert table.column("start").to_pylist()[0] == datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)
    table, _ = read("csv_mapped", fixture("csv_mapped", "tabs.tsv"), options={"map": {"dst_port": "dport"}})
    assert table.column("dst_port").to_pylist() == [80]


def test_bad_values_counted_per_row() -> None:
    """A port of 70000, a bad address, a bad time, an unknown action, a short row: each row a bad record."""
    header = b"Timestamp,SourceIP,SPort,DestinationIP,DPort,Proto,Action,Bytes Sent,Rule Name,Process\n"
    rows_ = [
        b"2024-05-01T10:00:00Z,192.0.2.10,1,198.51.100.80,70000,TCP,ACCEPT,1,r,p\n",
        b"2024-05-01T10:00:00Z,192.0.2.300,1,198.51.100.80,80,TCP,ACCEPT,1,r,p\n",
        b"2024-13-01T10:00:00Z,192.0.2.1,1,198.51.100.80,80,TCP,ACCEPT,1,r,p\n",
        b"2024-05-01T10:00:00Z,192.0.2.1,1,198.51.100.80,80,TCP,MAYBE,1,r,p\n",
        b"2024-05-01T10:00:00Z,192.0.2.1\n",
        b"2024-05-01T10:00:00Z,192.0.2.1,1,198.51.100.80,80,TCP,ACCEPT,-1,r,p\n",
        b"2024-05-01T10:00:00Z,192.0.2.1,1,198.51.100.80,80,TCP,ACCEPT,1,r,p\n",
    ]
    table, stats = read("csv_mapped", header + b"".join(rows_), label="fw.csv", options={"map": FIREWALL})
    assert table.column("evidence_line").to_pylist() == [8]
    assert stats.kinds == {"bad port": 1, "bad address": 1, "bad timestamp": 1, "bad value": 2, "malformed line": 1}
    with pytest.raises(DataError, match=r"fw\.csv:2: bad port: DPort '70000'"):
        read("csv_mapped", header + b"".join(rows_), label="fw.csv", strict=True, options={"map": FIREWALL})


def test_mapping_errors_name_the_problem() -> None:
    """No mapping, a flow column that does not exist, an input column the header lacks: one clear error."""
    data = fixture("csv_mapped", "tabs.tsv")
    with pytest.raises(UsageError, match="--map"):
        read("csv_mapped", data)
    with pytest.raises(UsageError, match="cannot map dst_prt"):
        read("csv_mapped", data, options={"map": {"dst_prt": "dport"}})
    with pytest.raises(DataError, match="no column 'DPort'; it has: src, dst, dport"):
        read("csv_mapped", data, options={"map": {"dst_port": "DPort"}})


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz(noise: bytes) -> None:
    """Noise after a real header never raises anything but DataError under strict."""
    fuzz_once("csv_mapped", fixture("csv_mapped", "firewall-export.csv") + noise, options={"map": FIREWALL})


def test_sniff_is_never_sure() -> None:
    """csv_mapped is only ever chosen by name."""
    assert csv_mapped.sniff(fixture("csv_mapped", "firewall-export.csv"), "x") == 0

"""windows_events: 5156/5157 and Sysmon 3 in wevtutil XML, exported <Events>, ConvertTo-Json and Winlogbeat."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import windows_events
from tests.sources._flowtest import fixture, fuzz_once, read


def test_wfp_inbound_makes_the_remote_side_src() -> None:
    """Microsoft's 5156 example: WFP's Source is the local listener, so inbound events swap to src = the client."""
    table, stats = read("windows_events", fixture("windows_events", "security-wevtutil.xml"))
    assert (stats.good, stats.bad, stats.skipped) == (5, 0, 1)  # type: ignore[attr-defined]
    first = table.to_pylist()[0]
    assert (first["src_addr"], first["src_port"], first["dst_addr"], first["dst_port"]) == (
        "10.0.0.100",
        49278,
        "10.0.0.10",
        3333,
    )
    assert (first["direction"], first["initiator"], first["action"], first["rule"]) == (
        "inbound",
        "observed",
        "allow",
        "wfp filter 70201",
    )
    assert (first["process_name"], first["process_pid"], first["observer"]) == (
        "listener.exe",
        4556,
        "DC01.contoso.local",
    )
    assert first["start"] == datetime(2015, 9, 22, 5, 24, 22, 622090, tzinfo=timezone.utc)


def test_wfp_outbound_blocked_and_icmp() -> None:
    """Outbound keeps WFP's order; 5157 is deny; ICMP type/code come from WFP's local/remote port fields."""
    rows_ = read("windows_events", fixture("windows_events", "security-wevtutil.xml"))[0].to_pylist()
    outbound, dns, blocked, ping = rows_[1:]
    assert (outbound["src_port"], outbound["dst_port"], outbound["direction"]) == (51544, 443, "outbound")
    assert (dns["protocol"], dns["dst_addr"], dns["dst_port"]) == ("udp", "2001:db8:53::1", 53)
    assert (blocked["action"], blocked["src_addr"], blocked["dst_port"], blocked["process_name"]) == (
        "deny",
        "203.0.113.99",
        445,
        "System",
    )
    assert (ping["protocol"], ping["icmp_type"], ping["icmp_code"], ping["src_port"], ping["dst_port"]) == (
        "icmp",
        8,
        0,
        None,
        None,
    )


def test_sysmon_initiated_gives_direction() -> None:
    """Sysmon's Source is the opener either way: Initiated true outbound, false inbound; Image, User, pid kept."""
    table, stats = read("windows_events", fixture("windows_events", "sysmon-events.xml"))
    assert (stats.good, stats.skipped) == (2, 1)  # type: ignore[attr-defined]
    outbound, inbound = table.to_pylist()
    assert (outbound["direction"], outbound["user"], outbound["process_name"], outbound["action"]) == (
        "outbound", "CONTOSO\\alice", "powershell.exe", None,
    )  # fmt: skip
    assert outbound["rule"] == "technique_id=T1059.001,technique_name=PowerShell"
    assert outbound["start"] == datetime(2024, 5, 1, 10, 14, 59, 871000, tzinfo=timezone.utc)  # UtcTime
    assert (inbound["direction"], inbound["dst_port"], inbound["src_port"], inbound["rule"]) == (
        "inbound",
        3389,
        50731,
        None,
    )


def test_convertto_json_positional_properties() -> None:
    """Get-WinEvent | ConvertTo-Json: Properties by template position; /Date(ms)/ and ISO times."""
    table, _ = read("windows_events", fixture("windows_events", "get-winevent.json"))
    wfp, sysmon = table.to_pylist()
    assert wfp["start"] == datetime(2024, 5, 1, 10, 0, 6, tzinfo=timezone.utc)
    assert (wfp["src_port"], wfp["dst_port"], wfp["process_pid"]) == (51560, 443, 7712)
    assert (sysmon["protocol"], sysmon["dst_port"], sysmon["direction"]) == ("udp", 53, "outbound")
    assert table.column("evidence_line").to_pylist() == [1, 2]


def test_winlogbeat_lines() -> None:
    """Winlogbeat JSON lines: event_id as string or number; other event ids skipped."""
    table, stats = read("windows_events", fixture("windows_events", "winlogbeat.ndjson"))
    assert (stats.good, stats.skipped) == (2, 1)  # type: ignore[attr-defined]
    blocked, sysmon = table.to_pylist()
    assert (blocked["action"], blocked["src_addr"], blocked["dst_port"], blocked["evidence_line"]) == (
        "deny",
        "203.0.113.200",
        3389,
        1,
    )
    assert (sysmon["dst_port"], sysmon["evidence_line"]) == (8443, 2)


def test_bad_and_truncated() -> None:
    """A port of 70000 or a bad address is a bad record by number; a cut document keeps the events before it."""
    data = fixture("windows_events", "security-wevtutil.xml")
    bad = data.replace(b"<Data Name='DestPort'>443<", b"<Data Name='DestPort'>70000<", 1)
    table, stats = read("windows_events", bad, label="sec.xml")
    assert table.num_rows == 4 and stats.kinds == {"bad port": 1}
    with pytest.raises(DataError, match=r"sec\.xml:2: bad port"):
        read("windows_events", bad, label="sec.xml", strict=True)
    cut = data[: data.index(b"</Event>") + 300]
    table, stats = read("windows_events", cut, label="sec.xml")
    assert table.num_rows == 1 and stats.kinds == {"truncated input": 1}
    json = fixture("windows_events", "winlogbeat.ndjson").replace(b'"SourceIp":"192.0.2.57"', b'"SourceIp":"192.0.2"')
    table, stats = read("windows_events", json)
    assert table.num_rows == 1 and stats.kinds == {"bad address": 1}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 6000), st.binary(max_size=80))
def test_fuzz(cut: int, noise: bytes) -> None:
    """XML and JSON cut anywhere plus noise never raise anything but DataError under strict."""
    fuzz_once("windows_events", fixture("windows_events", "security-wevtutil.xml")[:cut] + noise)
    fuzz_once("windows_events", fixture("windows_events", "get-winevent.json")[: cut // 3] + noise)
    fuzz_once("windows_events", fixture("windows_events", "winlogbeat.ndjson")[: cut // 2] + noise)


def test_sniff() -> None:
    """Connection events in XML or JSON 95; other Windows events and other JSON 0."""
    for name in ("security-wevtutil.xml", "sysmon-events.xml", "get-winevent.json", "winlogbeat.ndjson"):
        assert windows_events.sniff(fixture("windows_events", name), "x") == 95, name
    assert windows_events.sniff(b'{"winlog":{"event_id":"4624"}}', "x") == 0
    assert windows_events.sniff(fixture("nmap_xml", "nmap-udp.xml"), "x") == 0

"""suricata_eve: eve.json flow, netflow and alert events, checked against suricata-verify's own assertions."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import suricata_eve
from tests.sources._flowtest import DATA, fixture, fuzz_once, read, rows

CASES = sorted(p.name.removesuffix(".test.yaml") for p in (DATA / "suricata_eve").glob("*.test.yaml"))
# eve field -> (flow column, how the value reads there); fields without a flow column are not compared
_COLUMNS = {
    "src_ip": ("src_addr", lambda v: str(ipaddress.ip_address(v))),  # the flow table keeps RFC 5952 text
    "dest_ip": ("dst_addr", lambda v: str(ipaddress.ip_address(v))),
    "src_port": ("src_port", int),
    "dest_port": ("dst_port", int),
    "proto": ("protocol", lambda v: {"ipv6-icmp": "icmpv6"}.get(v.lower(), v.lower())),
    "app_proto": ("service", lambda v: None if v == "failed" else v),
    "community_id": ("community_id", str),
    "icmp_type": ("icmp_type", int),
    "icmp_code": ("icmp_code", int),
    "flow.pkts_toserver": ("packets_out", int),
    "flow.pkts_toclient": ("packets_in", int),
    "flow.bytes_toserver": ("bytes_out", int),
    "flow.bytes_toclient": ("bytes_in", int),
    "flow.action": ("action", lambda v: {"pass": "allow", "drop": "deny"}[v]),
}


def _checks(test: str) -> list[tuple[int, dict[str, Any]]]:
    """The ``filter`` checks of a suricata-verify test.yaml: (count, match) pairs (a small reader for this shape)."""
    checks: list[tuple[int, dict[str, Any]]] = []
    for text in re.split(r"\n\s*- filter:\n", (DATA / "suricata_eve" / f"{test}.test.yaml").read_text())[1:]:
        block = re.split(r"\n\s*- (?:filter|shell):", text)[0]
        count = int(re.search(r"count: (\d+)", block)[1])  # type: ignore[index]
        match: dict[str, Any] = {}
        for key, raw in re.findall(r"^\s+([\w.]+): (.+)$", block.split("match:", 1)[1], re.M):
            value = raw.strip().strip("'\"")
            match[key] = int(value) if value.lstrip("-").isdigit() else value
        checks.append((count, match))
    return checks


@pytest.mark.parametrize("test", CASES)
def test_suricata_verify_checks_hold(test: str) -> None:
    """Each flow/alert check of the test.yaml matches exactly ``count`` rows, field by field (raw byte counts)."""
    table, stats = read("suricata_eve", fixture("suricata_eve", f"{test}.eve.json"), options={"link_header_bytes": 0})
    assert stats.bad == 0
    flows = table.to_pylist()
    compared = 0
    for count, match in _checks(test):
        kind = match.get("event_type")
        if kind not in ("flow", "alert"):
            continue
        wanted = {_COLUMNS[k][0]: _COLUMNS[k][1](v) for k, v in match.items() if k in _COLUMNS}
        hits = [
            f
            for f in flows
            if (f["rule"] is not None) == (kind == "alert") and all(f[c] == v for c, v in wanted.items())
        ]
        assert len(hits) == count, (match, wanted)
        compared += 1
    assert compared


def test_skipped_events_are_counted_not_bad() -> None:
    """dns, http, fileinfo, stats events are no flows: skipped and counted as skipped, never as bad records."""
    table, stats = read("suricata_eve", fixture("suricata_eve", "decode-teredo-01.eve.json"))
    assert (table.num_rows, stats.bad, stats.skipped) == (15, 0, 24)


def test_bytes_are_link_layer_so_null_by_default() -> None:
    """One SYN in a 66-byte Ethernet frame: Suricata says 66 bytes; the IP packet is 52. Unknown link: null."""
    (row,) = read("suricata_eve", fixture("suricata_eve", "bug-6733-syn-packet-flow-output.eve.json"))[0].to_pylist()
    assert (row["packets_out"], row["packets_in"], row["bytes_out"], row["bytes_in"]) == (1, 0, None, None)
    assert (row["tcp_flags"], row["initiator"], row["protocol"], row["ip_proto"]) == ("SYN", "observed", "tcp", 6)
    assert row["start"] == row["end"] == datetime(2024, 1, 15, 10, 0, tzinfo=timezone.utc)
    assert row["duration"] == 0
    (row,) = read(
        "suricata_eve",
        fixture("suricata_eve", "bug-6733-syn-packet-flow-output.eve.json"),
        options={"link_header_bytes": 14},
    )[0].to_pylist()
    assert row["bytes_out"] == 52


def test_teredo_bytes_match_zeek_with_ethernet_header() -> None:
    """The same pcap read by Zeek and Suricata: with 14 header bytes a packet, Suricata's counts are Zeek's IP bytes."""
    zeek, _ = read("zeek_conn", fixture("zeek_conn", "teredo-conn.log"))
    eve, _ = read(
        "suricata_eve", fixture("suricata_eve", "decode-teredo-01.eve.json"), options={"link_header_bytes": 14}
    )
    key = ("src_addr", "src_port", "dst_addr", "dst_port")
    by_tuple = {tuple(r[k] for k in key): r for r in zeek.to_pylist()}
    compared = 0
    for flow in eve.to_pylist():
        match = by_tuple.get(tuple(flow[k] for k in key))
        if match is None or flow["rule"] is not None or match["packets_out"] != flow["packets_out"]:
            continue  # Suricata merged Zeek's two DNS conns, or saw the other side first
        if ":" in flow["src_addr"]:
            continue  # IPv6 inside Teredo: Suricata counts the outer frame, whose size is not header + inner
        assert (flow["bytes_out"], flow["bytes_in"]) == (match["bytes_out"], match["bytes_in"])
        compared += 1
    assert compared >= 4


def test_alerts_rule_action_and_no_initiator() -> None:
    """An alert is the matching packet (here the server's reply): rule = signature, allowed -> allow, no initiator."""
    table, _ = read("suricata_eve", fixture("suricata_eve", "alert-testmyids-midstream5.eve.json"))
    alert, flow = rows(table)
    assert alert["rule"] == "GPL ATTACK_RESPONSE id check returned root" and alert["action"] == "allow"
    assert alert["src_port"] == 80 and alert.get("initiator") is None and alert.get("end") is None
    assert flow["dst_port"] == 80 and flow["service"] == "http"
    table, _ = read("suricata_eve", fixture("suricata_eve", "ips-state-1.eve.json"))
    assert [(r["action"], r["rule"]) for r in table.to_pylist()] == [
        ("allow", None), ("allow", None), ("deny", None), ("deny", "DROP ALL"),
    ]  # fmt: skip


def test_icmpv6_flow_and_canonical_addresses() -> None:
    """ICMPv6 (proto IPv6-ICMP): type/code, no ports; Suricata's uncompressed IPv6 text becomes RFC 5952's form."""
    table, _ = read("suricata_eve", fixture("suricata_eve", "decode-teredo-01.eve.json"))
    (icmp,) = [r for r in table.to_pylist() if r["protocol"] == "icmpv6"]
    assert (icmp["icmp_type"], icmp["icmp_code"], icmp["src_port"], icmp["ip_proto"]) == (128, 0, None, 58)
    assert icmp["dst_addr"] == "2001:4860:0:2001::68"


def test_midstream_tcp_is_inferred() -> None:
    """A TCP flow whose src sent no SYN (picked up mid-stream) has initiator inferred; with a SYN, observed."""
    table, _ = read("suricata_eve", fixture("suricata_eve", "decode-teredo-01.eve.json"))
    by_port = {
        (r["src_port"], r["dst_port"]): r["initiator"]
        for r in table.to_pylist()
        if r["protocol"] == "tcp" and not r["rule"]
    }
    assert by_port[(80, 1576)] == "inferred" and by_port[(1578, 80)] == "observed"


def test_netflow_one_direction_per_record() -> None:
    """netflow records are one direction each: packets_out/bytes_out only, not merged, no initiator."""
    table, _ = read("suricata_eve", fixture("suricata_eve", "netflow.eve.json"), options={"link_header_bytes": 14})
    out, back, ping = table.to_pylist()
    assert (out["packets_out"], out["bytes_out"], out["packets_in"]) == (12, 2042 - 12 * 14, None)
    assert (back["src_port"], back["dst_port"]) == (443, 51744)
    assert out["initiator"] is None and out["tcp_flags"] == "ACK PSH SYN FIN"
    assert (ping["icmp_type"], ping["icmp_code"], ping["src_port"], ping["service"]) == (8, 0, None, None)
    assert out["duration"] == pytest.approx(2.309)


def test_bad_events_counted_with_line() -> None:
    """Port 70000, a bad address, a bad time, a cut line, invalid UTF-8: each a bad record; the good one kept."""
    good = fixture("suricata_eve", "bug-6733-syn-packet-flow-output.eve.json").strip()
    data = b"\n".join(
        [
            good,
            good.replace(b'"dest_port":25', b'"dest_port":70000'),
            good.replace(b"155.166.235.43", b"155.166.235"),
            good.replace(b"2024-01-15T10:00:00", b"2024-13-15T10:00:00"),
            good[:80],
            good.replace(b"shutdown", b"shut\xffdown"),
            b"[1, 2]",
        ]
    )
    table, stats = read("suricata_eve", data, label="eve.json")
    assert table.num_rows == 1
    assert stats.kinds == {"bad port": 1, "bad address": 1, "bad timestamp": 1, "malformed JSON": 3}
    assert stats.examples[0].startswith("eve.json:2: bad port: dest_port")
    with pytest.raises(DataError, match=r"eve\.json:2: bad port"):
        read("suricata_eve", data, label="eve.json", strict=True)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 400))
def test_fuzz(noise: bytes, cut: int) -> None:
    """Noise, and real events cut anywhere, never raise anything but DataError under strict."""
    real = fixture("suricata_eve", "decode-teredo-01.eve.json")[-2000:]
    fuzz_once("suricata_eve", noise)
    fuzz_once("suricata_eve", real[: len(real) - cut] + noise)


def test_sniff() -> None:
    """eve events score 95; Zeek JSON, other JSON lines and text score 0."""
    assert suricata_eve.sniff(fixture("suricata_eve", "decode-teredo-01.eve.json"), "x") == 95
    assert suricata_eve.sniff(fixture("zeek_conn", "zat-json-conn.log"), "x") == 0
    assert suricata_eve.sniff(b'{"a": 1}\n', "x") == 0
    assert suricata_eve.sniff(b"#fields\tts\n", "x") == 0

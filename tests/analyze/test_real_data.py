"""On real logs and captures: the scans in them are found, benign ones report none, harmless oddities are explained.

The data (../shared/data): psad's iptables logs recorded during real nmap scans, a real Windows
Firewall log of a home network, zat's real Zeek conn.logs, and Zeek's test captures and conn.logs.
The precision and recall over these files are in docs/analyze.md.
"""

from __future__ import annotations

import pytest

from tests.analyze._report import SCAN_KINDS, kinds, run, shared

SCANNER = "192.168.10.55"  # psad's test scanner

# psad scan files and the finding each must give (nmap -sS/-sF/-sX/-sN/-sA/-sO against 192.168.10.1).
PSAD_SCANS = {
    "syn_scan_1000_1500": ("vertical_scan", 501),
    "fin_scan_1000_1150": ("vertical_scan", 151),
    "xmas_scan_1000_1150": ("vertical_scan", 151),
    "null_scan_1000_1150": ("vertical_scan", 151),
    "ack_scan_1000_1150": ("vertical_scan", 151),
    "proto_scan": ("protocol_scan", 253),
}
# psad files with no port scan in them (a ping, IGMP, one SPA packet, two SQL Server probes...).
PSAD_BENIGN = ("ipv4_valid_ping", "ipv4_igmp", "invalid_icmp_type_code", "fwknop_spa_pkt", "syslog_time_fmt1.log")


@pytest.mark.parametrize("name", sorted(PSAD_SCANS))
def test_psad_scans_are_found(name: str) -> None:
    report = run([shared("psad", "scans", name)])
    kind, size = PSAD_SCANS[name]
    found = [f for f in report["findings"] if f["kind"] == kind]
    assert len(found) == 1, kinds(report)
    finding = found[0]
    assert finding["src"] == SCANNER and finding["dst"] == "192.168.10.1"
    assert finding["metrics"]["ports" if kind == "vertical_scan" else "protocols"] == size
    assert finding["mitre"] == {"id": "T1046", "name": "Network Service Discovery"}
    sample = finding["evidence"]["sample"]
    assert len(sample) == 20 and sample[0]["file"].endswith(name) and sample[0]["line"] >= 1
    assert [e["start"] for e in sample] == sorted(e["start"] for e in sample)
    assert report["failed"] is (finding["severity"] in ("high", "critical"))


@pytest.mark.parametrize("name", PSAD_BENIGN)
def test_psad_benign_files_report_no_scan(name: str) -> None:
    report = run([shared("psad", "scans", name)])
    assert not [k for k in kinds(report) if k[0] in SCAN_KINDS]


def test_real_windows_firewall_log_reports_no_scan_and_explains_the_noise() -> None:
    """16,807 records of a home network: SSDP/mDNS chatter and late SSDP answers are explained, not findings."""
    report = run([shared("windows-firewall", "pfirewall.BetaHydri.2021-06.log")])
    assert report["summary"]["flows"] == 16807
    assert not [k for k in kinds(report) if k[0] in SCAN_KINDS | {"brute_force"}]
    explained = {(e["kind"], e["port"]) for e in report["explained"]}
    assert ("group", 1900) in explained and ("group", 5353) in explained
    assert ("late_udp_reply", 1900) in explained
    # No multicast or broadcast destination is ever a beacon.
    assert not [
        f for f in report["findings"] if f["kind"] == "beaconing" and f["dst"].startswith(("224.", "239.", "ff"))
    ]


def test_zat_conn_log_finds_the_udp_16464_sweep() -> None:
    """zat's conn.log holds a host sweeping UDP 16464 (ZeroAccess's peer-to-peer port) over 202 hosts."""
    report = run([shared("zat", "conn.log")])
    sweeps = [f for f in report["findings"] if f["kind"] == "horizontal_scan"]
    assert [(f["src"], f["port"], f["protocol"], f["metrics"]["hosts"]) for f in sweeps] == [
        ("192.168.33.10", 16464, "udp", 202)
    ]


def test_zat_json_conn_log_is_benign() -> None:
    report = run([shared("zat", "json", "conn.log")])
    assert report["summary"]["flows"] == 50
    assert report["findings"] == []


def test_ftp_data_on_ephemeral_ports_is_expected() -> None:
    """Zeek's FTP captures (IPv4 and IPv6): data connections between ephemeral ports follow a control
    connection to 21 between the same hosts; no finding."""
    folder = shared("zeek", "ftp-ipv4-ipv6-ephemeral-data", "pcaps")
    report = run(sorted(folder.rglob("*.pcap")))
    assert report["summary"]["flows"] == 11
    assert report["findings"] == []
    ports = {(p["port"], p["as"]) for p in report["ports"]}
    assert (21, "service") in ports


@pytest.mark.parametrize(
    ("baseline", "app", "port"),
    [
        ("scripts.base.protocols.ssh.http-port-22/conn.log", "http", 22),
        ("spicy.replaces/conn.log", "ssh", 80),
        ("scripts.base.protocols.modbus.modbus_and_non_modbus_on_port_502/conn.log", "ssl", 502),
    ],
)
def test_protocol_on_nonstandard_port_from_zeek(baseline: str, app: str, port: int) -> None:
    report = run([shared("zeek", "service-on-nonstandard-port", "baselines", *baseline.split("/"))])
    found = [
        (f["metrics"]["app"], f["port"]) for f in report["findings"] if f["kind"] == "protocol_on_nonstandard_port"
    ]
    assert (app, port) in found
    assert all(f["mitre"]["id"] == "T1571" for f in report["findings"] if f["kind"] == "protocol_on_nonstandard_port")


@pytest.mark.parametrize(
    "case", ["wikipedia-mixed", "known-services-std-ports", "udp-services", "communityid", "teredo-ipv6-in-udp"]
)
def test_benign_zeek_captures_report_no_scan(case: str) -> None:
    folder = shared("zeek", case, "pcaps")
    report = run(sorted(p for p in folder.rglob("*.pcap*")))
    assert report["summary"]["flows"] > 0
    assert not [k for k in kinds(report) if k[0] in SCAN_KINDS]

"""``portscope explain '<log line>'``: real lines of every format, explained as ``portscope analyze`` would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portscope.errors import UsageError
from portscope.explain_line import explain_line
from tests.conftest import REPO, run_portscope

DATA = REPO / "tests" / "data"
SHARED = REPO.parent / "shared" / "data"
PSAD = SHARED / "psad" / "scans"


def _line(path: Path, contains: str) -> str:
    """The first line of ``path`` holding ``contains``: tests read real lines, never retyped ones."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if contains in line:
            return line
    raise AssertionError(f"{path} has no line with {contains!r}")


def _psad(name: str, contains: str = "") -> str:
    if not PSAD.is_dir():
        pytest.skip("../shared/data (psad's real scan logs, GPL) is not beside this clone")
    return _line(PSAD / name, contains)


UFW = DATA / "iptables" / "ufw_syslog.log"


def test_blocked_ack_fin_from_443_is_a_late_reply() -> None:
    """The seed case: a dropped ACK FIN from 443 to a client port is conntrack forgetting, not an attack."""
    real = _line(UFW, "SPT=443 DPT=51000")  # UFW's own BLOCK of a server's ACK RST
    for flags in ("ACK RST", "ACK FIN"):
        exp = explain_line(real.replace("ACK RST", flags))
        assert exp.kind == "late_reply" and exp.reason == "late_reply"
        assert exp.client == "destination" and exp.destination.port == 51000
        assert exp.destination.port_class == "ephemeral" and exp.source.services[:1] == ("https",)
        assert "late reply" in exp.reason_text
        assert any("nf_conntrack_tcp_timeout_established = 432000" in fact for fact in exp.why)


def test_lone_syn_to_telnet_from_a_high_port_is_a_probe() -> None:
    exp = explain_line(_psad("mirai_default_credentials_scan", "DPT=23 "))
    assert (exp.kind, exp.reason) == ("denied", "probe")
    assert exp.orientation == "observed" and exp.client == "source"
    assert exp.destination.services[:1] == ("telnet",)
    assert any("Mirai" in fact for fact in exp.why)


def test_ufw_blocked_ssh_syn_is_a_probe_with_an_observed_client() -> None:
    exp = explain_line(_line(UFW, "[UFW BLOCK]"))
    assert (exp.format, exp.kind, exp.reason, exp.orientation) == ("iptables", "denied", "probe", "observed")
    assert exp.source.port == 45678 and exp.source.role == "client"


@pytest.mark.parametrize(
    ("scan", "reason"),
    [("null_scan_1000_1150", "scan_null"), ("fin_scan_1000_1150", "scan_fin"), ("xmas_scan_1000_1150", "scan_xmas"),
     ("ack_scan_1000_1150", "scan_ack")],
)  # fmt: skip
def test_scan_flag_combinations_are_scan_probes(scan: str, reason: str) -> None:
    exp = explain_line(_psad(scan, "DPT=1025 "))
    assert exp.reason == reason, exp.reason_text
    assert "scan" in exp.reason_text


def test_allowed_outbound_to_443_is_a_client_of_https() -> None:
    exp = explain_line(_line(DATA / "pfsense" / "filterlog.log", "pass,out,4,0x0,,63,24044"))
    assert (exp.format, exp.kind, exp.reason) == ("pfsense", "service", "client_of_service")
    assert exp.client == "source" and exp.source.port == 39212 and exp.source.port_class == "ephemeral"
    assert exp.destination.services[:1] == ("https",) and exp.destination.role == "server"
    assert "Linux" in exp.source.ephemeral_in


def test_aws_vpc_return_record_is_return_traffic() -> None:
    exp = explain_line(_line(DATA / "aws_vpc" / "cloudwatch-no-header.log", " 443 51544 "))
    assert (exp.format, exp.action, exp.kind, exp.reason) == ("aws_vpc", "allow", "return_traffic", "return_traffic")
    assert exp.client == "destination" and exp.orientation == "inferred"


def test_windows_firewall_data_line_reads_under_the_standard_header() -> None:
    exp = explain_line(_line(DATA / "windows-firewall" / "pfirewall.slice.log", "ALLOW TCP 192.168.178.51"))
    assert exp.format == "windows_firewall" and exp.destination.port == 443 and exp.kind == "service"
    assert exp.direction == "outbound" and exp.direction_said


def test_zeek_tsv_line_reads_under_the_default_fields() -> None:
    zat = DATA / "zeek_conn" / "zat-bro2-conn.log"  # Bro 2.x: 20 fields, no local_resp
    for path in (DATA / "zeek_conn" / "dhcp-conn.log", zat):
        data = next(line for line in path.read_text().splitlines() if line and not line.startswith("#"))
        exp = explain_line(data)
        assert exp.format == "zeek_conn" and exp.orientation == "observed"


def test_zeek_json_suricata_and_sshd_lines() -> None:
    zeek = explain_line((DATA / "zeek_conn" / "zat-json-conn.log").read_text().splitlines()[0])
    assert (zeek.format, zeek.destination.port, zeek.conn_state) == ("zeek_conn", 88, "RSTR")
    eve = explain_line((DATA / "suricata_eve" / "netflow.eve.json").read_text().splitlines()[0])
    assert eve.format == "suricata_eve" and eve.destination.port == 443 and eve.source.port_class == "ephemeral"
    ssh = explain_line(_line(DATA / "ssh_auth" / "auth.log", "Connection from"))
    assert (ssh.format, ssh.client, ssh.source.port, ssh.destination.port) == ("ssh_auth", "source", 54572, 22)
    failed = explain_line(_line(DATA / "ssh_auth" / "auth.log", "Failed password"))  # names the client only
    assert failed.client == "source" and failed.destination.address == "vm" and failed.destination.port == 22


def test_nftables_outbound_dns_and_os_option() -> None:
    line = _line(DATA / "iptables" / "nftables_iso.log", "DPT=53")
    assert explain_line(line).source.port_class == "ephemeral"
    windows = explain_line(line, os="windows")  # 55000 is outside Windows' 49152-65535? no: inside
    assert windows.ephemeral_range == (49152, 65535) and windows.os == "windows"
    xp = explain_line(line, os="windows-xp")
    assert xp.source.port_class == "other" and xp.ephemeral_range == (1025, 5000)
    with pytest.raises(UsageError, match="unknown OS"):
        explain_line(line, os="beos")


def test_lines_that_are_no_connection_are_clear_errors() -> None:
    with pytest.raises(UsageError, match="not a log line portscope recognises"):
        explain_line("hello there, this is no log line")
    with pytest.raises(UsageError, match="no connection"):
        explain_line(_line(DATA / "ssh_auth" / "auth.log", "Server listening"))
    with pytest.raises(UsageError, match="not a valid one"):
        explain_line(_line(UFW, "[UFW BLOCK]").split(" URGP")[0].replace(" SYN", "").split(" SPT=")[0])
    with pytest.raises(UsageError, match="one log line"):
        explain_line("a\nb")


def test_consistency_with_analyze() -> None:
    """For every line of real logs, explain_line's kind is the kind ``portscope analyze`` gives that row."""
    import ibis
    import pyarrow as pa

    from portscope.analyze.options import AnalyzeOptions
    from portscope.analyze.prepare import prepare
    from portscope.flows import flow_schema
    from portscope.sources import read_flows

    logs = [
        UFW,
        DATA / "iptables" / "nftables_iso.log",
        DATA / "pfsense" / "filterlog.log",
        DATA / "aws_vpc" / "cloudwatch-no-header.log",
        DATA / "windows-firewall" / "pfirewall.slice.log",
    ]  # not sshd logs: a session's lines share the server address and port only within a file
    if PSAD.is_dir():
        logs += [PSAD / name for name in ("ack_scan_1000_1150", "null_scan_1000_1150", "syslog_time_fmt1.log")]
    con = ibis.duckdb.connect()
    compared = 0
    for path in logs:
        # the flow table portscope analyze builds from this file (engine.load_inputs: read_flows, then Ibis)
        table = pa.Table.from_batches(list(read_flows([str(path)])), schema=flow_schema())
        rows = con.to_pyarrow(prepare(ibis.memtable(table), AnalyzeOptions()).select("line", "kind")).to_pylist()
        kinds = {row["line"]: row["kind"] for row in rows}
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, kind in sorted(kinds.items())[:15]:
            assert explain_line(lines[number - 1]).kind == kind, f"{path.name}:{number}"
            compared += 1
    assert compared > 30


def test_cli_text_json_and_errors() -> None:
    late = _line(UFW, "SPT=443 DPT=51000")
    done = run_portscope("explain", late, "443/tcp", "--no-live")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("TCP 10.0.0.5:443 -> 203.0.113.80:51000 - a late reply")
    assert "443/tcp - a service port" in done.stdout
    doc = json.loads(run_portscope("explain", "--json", late, "--no-live").stdout)
    (result,) = doc["results"]
    assert result["kind"] == "line" and result["query"] == late and result["flow_kind"] == "late_reply"
    assert result["destination"]["role"] == "client" and result["source"]["services"] == ["https"]
    bad = run_portscope("explain", "SRC=1.2.3.4 this is not a packet log", "--json")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert json.loads(bad.stdout)["errors"][0]["argument"] == "SRC=1.2.3.4 this is not a packet log"


def test_hostile_text_is_neutralised() -> None:
    """A log line is written by whoever sent the packet: escape sequences must not reach the terminal."""
    late = _line(UFW, "SPT=443 DPT=51000").replace("[UFW BLOCK]", "[UFW BLOCK \x1b]0;pwned\x07\x1b[2J]")
    done = run_portscope("explain", late, "--no-live")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "late reply" in done.stdout
    bad = run_portscope("explain", "\x1b[31mnot=a line\x1b[0m")
    assert bad.returncode == 2 and "\x1b" not in bad.stderr


def test_port_specs_still_take_the_fast_path() -> None:
    """Ranges with spaces stay ranges; ``portscope explain 443`` never loads the log-line machinery."""
    from portscope.cli.explain import is_log_line

    assert not any(map(is_log_line, ("443", "443/udp", "49152 - 49160", "ssh", "https/udp", "3com-tsmux")))
    assert all(map(is_log_line, ("a b", "SRC=1", '{"ts":1}', "x" * 41)))

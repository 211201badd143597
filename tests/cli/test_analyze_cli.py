"""portscope analyze on the command line: exit codes, JSON, HTML, and bad input in one line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portscope.cli import main
from tests.conftest import REPO

DATA = REPO / "tests" / "data"
UFW_SCAN = "".join(
    f"Nov 13 04:36:{i % 60:02d} gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00:16:3e:5e:6c:00:00:1b:21:3a:4b:5c:08:00 "
    f"SRC=203.0.113.9 DST=10.0.0.5 LEN=44 TOS=0x00 PREC=0x00 TTL=52 ID={i} PROTO=TCP SPT=61000 DPT={1000 + i} "
    "WINDOW=1024 RES=0x00 SYN URGP=0\n"
    for i in range(150)
)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_report_and_exit_code_follow_fail_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "ufw.log"
    log.write_text(UFW_SCAN)
    code, out, _ = _run(capsys, str(log), "--json")
    report = json.loads(out)
    assert report["schema"] == "portscope.analyze/1"
    assert [(f["kind"], f["severity"], f["src"]) for f in report["findings"]] == [
        ("vertical_scan", "medium", "203.0.113.9")
    ]
    assert code == 0 and report["failed"] is False  # medium is below the default --fail-on high
    code, out, _ = _run(capsys, str(log), "--json", "--fail-on", "medium")
    assert code == 1 and json.loads(out)["failed"] is True
    code, out, _ = _run(capsys, str(log), "--json", "--threshold", "vertical_ports=200")
    assert code == 0 and json.loads(out)["findings"] == []


def test_text_report_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "ufw\x1b[31m.log"
    log.write_text(UFW_SCAN)
    html = tmp_path / "report.html"
    code, out, _ = _run(capsys, str(log), "--html", str(html))
    assert code == 0
    assert "\x1b" not in out  # the file name carried an escape sequence: shown, not obeyed
    assert "probed 150 tcp ports of 10.0.0.5" in out
    assert "Services" in out and "Top talkers" in out
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "probed 150 tcp ports" in page and "<svg" in page


def test_empty_and_portless_inputs_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.parquet"
    from portscope.flows import flow_schema

    pq.write_table(pa.Table.from_batches([], schema=flow_schema()), empty)
    code, out, _ = _run(capsys, str(empty), "--json")
    report = json.loads(out)
    assert code == 0 and report["summary"]["empty_reason"] == "the inputs hold no flows" and report["findings"] == []
    icmp = tmp_path / "ping.log"
    icmp.write_text(
        "Nov 13 04:36:54 gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.9 DST=10.0.0.5 LEN=84 TOS=0x00 "
        "PREC=0x00 TTL=64 ID=1 DF PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1\n"
    )
    code, out, _ = _run(capsys, str(icmp))
    assert code == 0 and "1 flow " in out and "Findings: none" in out


def test_bad_inputs_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(tmp_path / "missing.log"))
    assert code == 2 and err.count("\n") == 1 and "missing.log" in err
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), other)
    log = tmp_path / "ufw.log"
    log.write_text(UFW_SCAN)
    code, _, err = _run(capsys, str(log), "--baseline", str(other))
    assert code == 2 and "not a portscope flow table" in err and err.count("\n") == 1
    code, _, err = _run(capsys, str(log), "--threshold", "nonsense=3")
    assert code == 2 and "--threshold" in err


def test_unreachable_spark_master_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "ufw.log"
    log.write_text(UFW_SCAN)
    code, _, err = _run(capsys, str(log), "--spark-master", f"spark://127.0.0.1:{port}")
    assert code == 2 and "cannot reach the Spark master" in err and err.count("\n") == 1


def test_baseline_reports_new_ports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tmp_path / "before.parquet"
    assert main(["convert", str(DATA / "zeek_conn" / "wikipedia-conn.log"), "-o", str(before)]) == 0
    log = tmp_path / "ufw.log"
    log.write_text(UFW_SCAN)
    capsys.readouterr()
    code, out, _ = _run(capsys, str(log), "--baseline", str(before), "--json", "--threshold", "vertical_ports=1000")
    assert code == 0
    new = [f for f in json.loads(out)["findings"] if f["kind"] == "new_port"]
    assert len(new) == 150 and {f["severity"] for f in new} == {"medium"}  # inbound: medium


def test_progress_on_a_terminal_only(tmp_path: Path) -> None:
    """Each step shows on stderr when it is a terminal (a pty here), and is cleared at the end."""
    import os
    import pty
    import subprocess
    import sys

    log = tmp_path / "ufw.log"
    log.write_text(UFW_SCAN)
    main_end, terminal = pty.openpty()
    command = [sys.executable, "-m", "portscope", "analyze", str(log), "--json"]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=terminal, check=False, timeout=120)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(main_end, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main_end)
    assert done.returncode == 0 and json.loads(done.stdout)["schema"] == "portscope.analyze/1"
    assert b"reading and orienting the flows" in shown and b"detections 1/" in shown
    assert shown.endswith(b"\r\x1b[K")
    piped = subprocess.run(command, capture_output=True, check=False, timeout=120)
    assert piped.stderr == b""


def test_parquet_inputs_counted_and_globbed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "ufw.log"
    log.write_text(UFW_SCAN)
    for name in ("a.parquet", "b.parquet"):
        assert main(["convert", str(log), "-o", str(tmp_path / name)]) == 0
    capsys.readouterr()
    code, out, _ = _run(capsys, str(tmp_path / "*.parquet"), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["inputs"] == [
        {
            "path": str(tmp_path / "*.parquet"),
            "format": "parquet",
            "flows": 300,
            "bad_records": 0,
            "skipped_lines": 0,
            "bad_examples": [],
        }
    ]
    assert report["summary"]["flows"] == 300


def _ufw(action: str, src: str, sport: int, dst: str, dport: int, second: int) -> str:
    return (
        f"Nov 13 04:37:{second:02d} gw kernel: [UFW {action}] IN=eth0 OUT= MAC= SRC={src} DST={dst} LEN=60 "
        f"TOS=0x00 PREC=0x00 TTL=52 ID={second} PROTO=TCP SPT={sport} DPT={dport} WINDOW=64240 RES=0x00 SYN URGP=0\n"
    )


def test_host_os_gives_one_host_its_client_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """61000 is outside Linux's pool (32768-60999) and inside Windows's (49152-65535): a SYN to it is
    unsolicited inbound to an ephemeral port on the Windows host only."""
    log = tmp_path / "ufw.log"
    log.write_text(
        "".join(_ufw("BLOCK", "203.0.113.7", 1500, dst, 61000, i) for i, dst in enumerate(("10.0.0.5", "10.0.0.9")))
    )

    def inbound(*options: str) -> list[str | None]:
        code, out, _ = _run(capsys, str(log), "--json", "--os", "linux", *options)
        assert code == 0
        return [f["dst"] for f in json.loads(out)["findings"] if f["kind"] == "unsolicited_inbound_ephemeral"]

    assert inbound() == []
    assert inbound("--host-os", "10.0.0.5=windows") == ["10.0.0.5"]
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# inventory\n10.0.0.5 windows  # the file server\n\n")
    assert inbound("--host-os", f"@{hosts}") == ["10.0.0.5"]
    code, out, _ = _run(capsys, str(log), "--os", "linux", "--host-os", f"@{hosts}")
    assert code == 0 and "client port range: linux 32768-60999; 1 host with their own (--host-os)" in out
    for bad in ("10.0.0.5", "nohost=windows", "10.0.0.5=plan9", "10.0.0.5=70000-80000", "@/nonexistent/hosts"):
        code, _, err = _run(capsys, str(log), "--host-os", bad)
        assert code == 2 and err.count("\n") == 1 and "--host-os" in err, err


def test_host_os_range_is_the_pool_exhaustion_is_measured_against(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NAT address with a 100-port pool using 60 ports to one destination within a minute."""
    log = tmp_path / "ufw.log"
    log.write_text("".join(_ufw("ALLOW", "10.0.0.5", 60000 + i, "198.51.100.1", 443, i) for i in range(60)))

    def exhaustion(*options: str) -> list[tuple[str | None, int]]:
        code, out, _ = _run(capsys, str(log), "--json", *options)
        assert code == 0
        found = json.loads(out)["findings"]
        return [(f["src"], f["metrics"]["pool"]) for f in found if f["kind"] == "ephemeral_exhaustion"]

    assert exhaustion() == []
    assert exhaustion("--host-os", "10.0.0.5=60000-60099") == [("10.0.0.5", 100)]

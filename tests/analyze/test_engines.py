"""Two engines, one definition: DuckDB and Spark give the same report, findings and evidence included,
on a million flows with embedded scans, beacons, brute force and exhaustion; and those are all found.

Spark runs in local mode (pyspark from the test extra, Java 17); without them the Spark half skips.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.report import analyze
from portscope.render.analyze_json import report_json
from tests.analyze.synthetic import flow_table

FLOWS = 1_000_000


def spark_test(test: Any) -> Any:
    """A slow Spark test, quiet about what py4j and pyspark leave behind (sockets, deprecations), and
    skipped where pyspark or Java is missing."""
    for warning in (
        "ResourceWarning",
        "pytest.PytestUnraisableExceptionWarning",
        "DeprecationWarning",
        "FutureWarning",
    ):
        test = pytest.mark.filterwarnings(f"ignore::{warning}")(test)
    return pytest.mark.usefixtures("spark_available")(pytest.mark.slow(test))


@pytest.fixture
def spark_available() -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'portscope[spark]')")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java (CI installs openjdk-17-jre-headless)")


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    table, truth = flow_table(FLOWS, seed=11)
    path = tmp_path_factory.mktemp("flows") / "flows.parquet"
    pq.write_table(table, path)
    return path, truth


@pytest.fixture(scope="module")
def duckdb_report(million: tuple[Path, Any]) -> dict[str, Any]:
    return report_json(analyze([str(million[0])], AnalyzeOptions(engine="duckdb")))


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("generated", "engine")}


@pytest.mark.slow
def test_every_embedded_pattern_is_found_and_no_background_flagged(
    million: tuple[Path, Any], duckdb_report: dict[str, Any]
) -> None:
    _, truth = million
    assert duckdb_report["summary"]["flows"] == FLOWS
    score = truth.score((f["kind"], f["src"], f["dst"], f["port"]) for f in duckdb_report["findings"])
    assert not score.missed, score.missed
    assert not score.flagged_background, score.flagged_background


@spark_test
def test_spark_gives_the_same_report(million: tuple[Path, Any], duckdb_report: dict[str, Any]) -> None:
    spark_report = report_json(analyze([str(million[0])], AnalyzeOptions(engine="spark")))
    assert spark_report["engine"] == "spark"
    ours, theirs = _comparable(duckdb_report), _comparable(spark_report)
    assert ours["findings"] == theirs["findings"]  # first: the part that matters most, and a readable diff
    for key in ours:
        assert ours[key] == theirs[key], key


@spark_test
def test_spark_reads_zeek_logs_itself_with_the_same_result() -> None:
    """On Spark a conn.log is read by the engine's CSV reader (tables.py), not by portscope on the driver:
    the report is the same as DuckDB's through portscope's reader, but for line numbers (engines have none)."""
    log = str(Path(__file__).resolve().parents[1] / "data" / "zeek_conn" / "zat-bro2-conn.log")
    reports = [report_json(analyze([log], AnalyzeOptions(engine=engine))) for engine in ("duckdb", "spark")]
    for report in reports:
        for finding in report["findings"]:
            assert finding["evidence"]["sample"]
            for flow in finding["evidence"]["sample"]:
                flow["line"] = None
    ours, theirs = (_comparable(r) for r in reports)
    assert theirs["inputs"] == [
        {"path": log, "format": "zeek_conn", "flows": 360, "bad_records": 0, "skipped_lines": 0, "bad_examples": []}
    ]
    assert [f["kind"] for f in ours["findings"]] == ["horizontal_scan"]
    assert ours == theirs


@spark_test
def test_spark_reads_vpc_flow_logs_itself_with_the_same_result(tmp_path: Path) -> None:
    """A VPC flow log with both halves of 3,000 connections and a scan: Spark's own read of it gives
    DuckDB's report through portscope's reader, but for line numbers."""
    from tests.analyze.test_direction import _vpc_log

    log = tmp_path / "vpc.log"
    _vpc_log(log)
    reports = [report_json(analyze([str(log)], AnalyzeOptions(engine=engine))) for engine in ("duckdb", "spark")]
    for report in reports:
        for finding in report["findings"]:
            for flow in finding["evidence"]["sample"]:
                flow["line"] = None
    ours, theirs = (_comparable(r) for r in reports)
    assert theirs["inputs"][0]["format"] == "aws_vpc" and theirs["inputs"][0]["flows"] == 6040
    assert [f["kind"] for f in ours["findings"]] == ["vertical_scan"]
    assert ours == theirs


@spark_test
def test_spark_uses_each_hosts_range_as_duckdb_does(tmp_path: Path) -> None:
    """--host-os: a Windows host's 61000 is ephemeral (unsolicited inbound), a NAT address's 100-port
    pool is nearly used up (exhaustion); the same report on both engines."""

    def line(second: int, action: str, src: str, sport: int, dst: str, dport: int) -> str:
        return (
            f"Nov 13 04:38:{second:02d} gw kernel: [UFW {action}] IN=eth0 OUT= MAC= SRC={src} DST={dst} LEN=60 "
            f"TOS=0x00 PREC=0x00 TTL=52 ID=1 PROTO=TCP SPT={sport} DPT={dport} WINDOW=64240 RES=0x00 SYN URGP=0\n"
        )

    log = tmp_path / "ufw.log"
    probes = [line(i, "BLOCK", "203.0.113.7", 1500, dst, 61000) for i, dst in enumerate(("10.0.0.5", "10.0.0.9"))]
    nat = [line(i, "ALLOW", "10.0.0.7", 60000 + i, "198.51.100.1", 443) for i in range(60)]
    log.write_text("".join(probes + nat))
    hosts = (("10.0.0.5", 49152, 65535), ("10.0.0.7", 60000, 60099))
    reports = [
        report_json(
            analyze(
                [str(log)], AnalyzeOptions(engine=engine, ephemeral=(32768, 60999), pool_size=28232, host_ranges=hosts)
            )
        )
        for engine in ("duckdb", "spark")
    ]
    ours, theirs = (_comparable(r) for r in reports)
    found = [(f["kind"], f["dst"], f["metrics"].get("pool")) for f in ours["findings"]]
    assert sorted(found, key=str) == [
        ("ephemeral_exhaustion", "198.51.100.1", 100),
        ("unsolicited_inbound_ephemeral", "10.0.0.5", None),
    ]
    assert ours == theirs

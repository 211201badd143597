"""Issue 11, case 15 (and 7's command line): analyze takes --year, --timezone and --vpc-fields as convert
does, and every report says in which year and zone it dated the times that carry neither."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO, run_portscope

DATA = REPO / "tests" / "data"
UFW = DATA / "iptables" / "ufw_syslog.log"  # RFC 3164: "Jan 15 10:23:45 web01 kernel: ...", no year, no zone
ZEEK = DATA / "zeek_conn" / "wikipedia-conn.log"  # epoch times: nothing to assume
VPC_NO_HEADER = DATA / "aws_vpc" / "cloudwatch-custom-v3-no-header.log"
VPC_FIELDS = (DATA / "aws_vpc" / "custom-v3-tcp-flags.log").read_text().splitlines()[0]


def _analyze(*args: str) -> dict:  # type: ignore[type-arg]
    done = run_portscope("analyze", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_2023_log_is_dated_2023_in_its_zone_when_told() -> None:
    report = _analyze(str(UFW), "--year", "2023", "--timezone", "Europe/Berlin")
    assert report["summary"]["first_seen"] == "2023-01-15T09:23:45.000000Z"  # 10:23:45 CET is 09:23:45 UTC
    assert report["dating"] == {
        "years": [2023],
        "years_assumed": False,
        "timezone": "Europe/Berlin",
        "timezone_assumed": False,
    }


def test_what_was_assumed_is_said_in_json_text_html_and_convert(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.timezone.utc).year
    report = _analyze(str(UFW))
    assert report["dating"]["years"] in ([now], [now - 1]) and report["dating"]["years_assumed"] is True
    assert (report["dating"]["timezone"], report["dating"]["timezone_assumed"]) == ("UTC", True)
    text = run_portscope("analyze", str(UFW)).stdout
    assert "dated: lines without a year dated" in text and "(assumed: --year and --timezone set them)" in text
    page = tmp_path / "r.html"
    assert run_portscope("analyze", str(UFW), "--html", str(page), "-q").returncode == 0
    assert "Dated: lines without a year dated" in page.read_text()
    out = tmp_path / "f.parquet"
    done = run_portscope("convert", str(UFW), "-o", str(out), "--year", "2023")
    assert done.returncode == 0 and "lines without a year dated 2023" in done.stderr
    assert "(assumed: --timezone sets it)" in done.stderr
    assert pq.read_table(out).column("start")[0].as_py().year == 2023
    summary = json.loads(run_portscope("convert", str(UFW), "-o", str(out), "--json").stdout)
    assert summary["dating"]["years_assumed"] is True


def test_times_with_their_own_year_and_zone_assume_nothing() -> None:
    report = _analyze(str(ZEEK))
    assert report["dating"] == {"years": None, "years_assumed": False, "timezone": None, "timezone_assumed": False}
    assert "dated:" not in run_portscope("analyze", str(ZEEK)).stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--year", "99999"], "--year: 99999 is not a year"),
        (["--timezone", "Mars/Olympus_Mons"], "--timezone: unknown zone"),
        (["--vpc-fields", "srcaddr nosuchfield"], "--vpc-fields:"),
    ],
)
@pytest.mark.parametrize("command", ["analyze", "convert"])
def test_bad_reading_options_are_usage_errors_before_any_input(
    tmp_path: Path, command: str, args: list[str], says: str
) -> None:
    out = tmp_path / "never-written.parquet"
    extra = ["-o", str(out)] if command == "convert" else []
    done = run_portscope(command, str(UFW), *extra, *args)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and not out.exists()


def test_analyze_reads_vpc_logs_without_a_header_given_their_fields() -> None:
    without = run_portscope("analyze", str(VPC_NO_HEADER), "--json")
    (read,) = json.loads(without.stdout)["inputs"]
    assert read["flows"] == 0 and "give the field list: --vpc-fields" in read["bad_examples"][0]
    assert "give the field list: --vpc-fields" in without.stderr
    report = _analyze(str(VPC_NO_HEADER), "--vpc-fields", VPC_FIELDS)
    records = len(VPC_NO_HEADER.read_text().splitlines())
    assert report["summary"]["flows"] == records and report["inputs"][0]["bad_records"] == 0

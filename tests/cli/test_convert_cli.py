"""``portscope convert`` as a user runs it: several formats in, one table out, bad input reported."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import REPO, run_portscope

DATA = REPO / "tests" / "data"
UFW = DATA / "iptables" / "ufw_syslog.log"
ZEEK = DATA / "zeek_conn" / "wikipedia-conn.log"


def test_mixed_inputs_one_parquet_table(tmp_path: Path) -> None:
    """Formats are detected from content; compression too (the .gz has a misleading name)."""
    packed = tmp_path / "zeek-but-named.txt"
    packed.write_bytes(gzip.compress(ZEEK.read_bytes()))
    out = tmp_path / "flows.parquet"
    done = run_portscope("convert", str(UFW), str(packed), "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    table = pq.read_table(out)
    assert summary["flows"] == table.num_rows > 0
    formats = set(table.column("source_format").to_pylist())
    assert formats == {"iptables", "zeek_conn"}
    files = set(table.column("evidence_file").to_pylist())
    assert files == {str(UFW), str(packed)}


def test_stdin_to_jsonl_with_community_id(tmp_path: Path) -> None:
    out = tmp_path / "flows.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "portscope", "convert", "-", "-o", str(out), "--community-id"],
        input=ZEEK.read_bytes(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(r["evidence_file"] == "-" for r in rows)
    assert all(r["community_id"] and r["community_id"].startswith("1:") for r in rows if r["src_addr"])


def test_malformed_records_are_counted_and_strict_fails(tmp_path: Path) -> None:
    bad = tmp_path / "ufw.log"
    lines = UFW.read_text().splitlines()
    broken = lines[0].replace("SPT=", "SPT=70000 X=").replace("DPT=", "DPT=99999 Y=")
    bad.write_text("\n".join([*lines, broken]) + "\n")
    out = tmp_path / "o.csv"
    done = run_portscope("convert", str(bad), "-o", str(out))
    assert done.returncode == 0
    assert "1 malformed record skipped" in done.stderr and f"{bad}:{len(lines) + 1}:" in done.stderr
    strict = run_portscope("convert", str(bad), "-o", str(out), "--strict")
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert f"{bad}:{len(lines) + 1}" in strict.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    cases = [
        (["convert", str(UFW), "-o", str(tmp_path / "x.xml")], "cannot tell the output format"),
        (["convert", str(UFW), "-o", str(tmp_path / "x.csv"), "--format", "nope"], "unknown format 'nope'"),
        (["convert", str(tmp_path / "missing.log"), "-o", str(tmp_path / "x.csv")], "no such file"),
        (["convert", str(UFW), "-o", str(tmp_path / "x.csv"), "--timezone", "Mars/Olympus"], "unknown zone"),
        (["convert", str(UFW), "-o", str(tmp_path / "x.csv"), "--map", "bogus=X"], "unknown flow column"),
    ]
    for args, message in cases:
        done = run_portscope(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_unknown_content_names_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 10)
    done = run_portscope("convert", str(junk), "-o", str(tmp_path / "x.parquet"))
    assert done.returncode == 2
    assert f"{junk}: not a format portscope knows" in done.stderr

"""Issue 11's "never lose data" cases, as a user meets them: a failed run keeps the file it would have
replaced, one bad input does not stop the others, a full disk is one line, and the success is said."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO, run_portscope

DATA = REPO / "tests" / "data"
UFW = DATA / "iptables" / "ufw_syslog.log"
ZEEK = DATA / "zeek_conn" / "wikipedia-conn.log"


def _run(*args: str, stdout: object = subprocess.PIPE, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portscope", *args],
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        input=None if stdin is None else stdin.decode(),
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


def _one_line_exit_2(done: subprocess.CompletedProcess[str], says: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert says in done.stderr, done.stderr


def test_a_failed_convert_keeps_the_file_it_would_have_replaced(tmp_path: Path) -> None:
    """Case 1: a missing input used to leave keep.parquet at 0 bytes."""
    keep = tmp_path / "keep.parquet"
    assert run_portscope("convert", str(UFW), "-o", str(keep)).returncode == 0
    before = keep.read_bytes()
    done = run_portscope("convert", "/nonexistent.log", "-o", str(keep))
    _one_line_exit_2(done, "no input could be read")
    assert keep.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.parquet"]  # no half-written file left


def test_strict_stops_without_writing_and_without_a_traceback(tmp_path: Path) -> None:
    """Case 1: an unrecognised input under --strict used to end in a pyarrow traceback and a corrupt file."""
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not a log at all \xff" * 50)
    out = tmp_path / "out.parquet"
    done = run_portscope("convert", str(UFW), str(junk), "-o", str(out), "--strict")
    _one_line_exit_2(done, "not a format portscope knows")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["junk.bin"]


def test_one_bad_input_does_not_stop_the_others(tmp_path: Path) -> None:
    """Case 2: an empty file (a just-rotated ufw.log), a README in a directory, a missing path: each
    skipped with one line and counted; the good inputs are read; exit 0."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "ufw.log").write_bytes(b"")
    (logs / "ufw.log.1").write_bytes(UFW.read_bytes())
    (logs / "README.md").write_text("# what these logs are\n")
    out = tmp_path / "flows.parquet"
    done = run_portscope("convert", str(logs), "/nonexistent/ufw.log.2", "-o", str(out), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert pq.read_table(out).num_rows == summary["flows"] > 0
    skipped = {item["input"]: item["reason"] for item in summary["inputs_skipped"]}
    assert set(skipped) == {str(logs / "ufw.log"), str(logs / "README.md"), "/nonexistent/ufw.log.2"}
    assert "empty" in skipped[str(logs / "ufw.log")]
    assert done.stderr.count("(skipped)") == 3


def test_strict_fails_on_a_skipped_input_or_line(tmp_path: Path) -> None:
    """Case 6's rule: with --strict, any skipped input, bad record or skipped line exits 2."""
    out = tmp_path / "flows.parquet"
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    _one_line_exit_2(run_portscope("convert", str(UFW), str(empty), "-o", str(out), "--strict"), "empty")
    assert not out.exists()
    # A line that is no record of the format (it used to exit 0 with "ok": true under --strict).
    mixed = tmp_path / "mixed.log"
    mixed.write_bytes(UFW.read_bytes() + b"Jan 15 10:24:01 web01 CRON[812]: (root) CMD (run-parts /etc/cron.hourly)\n")
    done = run_portscope("convert", str(mixed), "-o", str(out), "--strict", "--json")
    _one_line_exit_2(done, "--strict")
    assert json.loads(done.stdout)["ok"] is False and not out.exists()
    assert run_portscope("convert", str(mixed), "-o", str(out)).returncode == 0  # without --strict: read


@pytest.mark.parametrize(
    ("argv", "stdout_to_full"),
    [
        (["convert", str(UFW), "-o", "/dev/full", "--to", "parquet"], False),
        (["convert", str(UFW), "-o", "-", "--to", "csv"], True),
        (["analyze", str(UFW), "--json"], True),
        (["live", "--csv", "--no-process"], True),
        (["explain", "22", "--json"], True),
    ],
)
def test_a_full_disk_is_one_line_and_exit_2(argv: list[str], stdout_to_full: bool) -> None:
    """Case 9: -o /dev/full and > /dev/full used to end in tracebacks."""
    with open("/dev/full", "w") as full:
        done = _run(*argv, stdout=full if stdout_to_full else subprocess.PIPE)
    _one_line_exit_2(done, "No space left on device")
    assert done.stderr.count("\n") == 1, done.stderr


def test_standard_input_given_twice_is_a_usage_error(tmp_path: Path) -> None:
    """Case 9: ``convert - -``."""
    done = _run("convert", "-", "-", "-o", str(tmp_path / "o.parquet"), stdin=UFW.read_bytes())
    _one_line_exit_2(done, "standard input) is given more than once")


def test_csv_out_has_no_terminal_escapes(tmp_path: Path) -> None:
    """Case 10: hostile log fields reach a CSV written to a terminal without their escape sequences,
    and formulas stay text: the same sanitiser as live --csv."""
    line = UFW.read_text().splitlines()[0]
    hostile = tmp_path / "hostile.log"
    # The host name and the interface are attacker-chosen text the reader keeps in cells of their own.
    line = line.replace(" web01 ", " \x1b]0;owned\x07=HYPERLINK(1) ", 1).replace("IN=eth0", "IN=@SUM(1)", 1)
    hostile.write_text(line + "\n")
    done = _run("convert", str(hostile), "-o", "-", "--to", "csv")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    header, *rows = list(csv.reader(io.StringIO(done.stdout)))
    assert len(rows) == 1
    cells = dict(zip(header, rows[0], strict=True))
    assert "HYPERLINK(1)" in cells["observer"] and "SUM(1)" in cells["in_interface"]
    assert not [cell for cell in rows[0] if cell[:1] in ("=", "+", "@", "\t", "\r")], rows[0]


def test_success_is_said_once_unless_quiet_or_data_on_stdout(tmp_path: Path) -> None:
    """Case 17."""
    out = tmp_path / "ufw.parquet"
    done = run_portscope("convert", str(UFW), "-o", str(out))
    rows = pq.read_table(out).num_rows
    said = f"portscope convert: wrote {rows:,} flows to {out}; lines without a year dated "
    assert done.stderr.startswith(said) and done.stderr.count("\n") == 1, done.stderr
    assert run_portscope("convert", str(UFW), "-o", str(out), "--quiet").stderr == ""
    assert _run("convert", str(UFW), "-o", "-", "--to", "jsonl").stderr == ""
    page = tmp_path / "report.html"
    done = run_portscope("analyze", str(UFW), "--html", str(page))
    assert done.stderr.startswith(f"portscope analyze: wrote {page} (") and page.stat().st_size > 1000
    assert run_portscope("analyze", str(UFW), "--html", str(page), "--quiet").stderr == ""


def test_analyze_reads_a_pipe_once(tmp_path: Path) -> None:
    """Case 4: ``analyze <(cat log)`` kept 3,962 of 3,978 flows (the path was sniffed, then read again);
    a FIFO hung. Every flow, once, from a FIFO and from stdin."""
    log = ZEEK.read_bytes()
    expected = json.loads(run_portscope("analyze", str(ZEEK), "--json").stdout)["summary"]["flows"]
    fifo = tmp_path / "conn.fifo"
    os.mkfifo(fifo)
    with subprocess.Popen(
        [sys.executable, "-m", "portscope", "analyze", str(fifo), "--json"], stdout=subprocess.PIPE, text=True
    ) as reader:
        with open(fifo, "wb") as writer:
            writer.write(log)
        document, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0 and json.loads(document)["summary"]["flows"] == expected > 0
    piped = _run("analyze", "-", "--json", stdin=log)
    assert json.loads(piped.stdout)["summary"]["flows"] == expected


def test_analyze_goes_on_past_a_just_rotated_empty_log(tmp_path: Path) -> None:
    """Case 2 as the README's own ``portscope analyze /var/log/ufw.log*`` met it: the live ufw.log is
    empty right after rotation, and the run used to fail with 0 records read."""
    (tmp_path / "ufw.log").write_bytes(b"")
    (tmp_path / "ufw.log.1").write_bytes(UFW.read_bytes())
    (tmp_path / "README.md").write_text("# notes\n")
    done = run_portscope("analyze", str(tmp_path / "ufw.log*"), str(tmp_path / "README.md"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["flows"] > 0
    reasons = {item["input"]: item["reason"] for item in report["inputs_skipped"]}
    assert set(reasons) == {str(tmp_path / "ufw.log"), str(tmp_path / "README.md")}
    assert done.stderr.count("(skipped)") == 2
    nothing = run_portscope("analyze", str(tmp_path / "ufw.log"), str(tmp_path / "missing.log"))
    _one_line_exit_2(nothing, "no input could be read")

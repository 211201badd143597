"""Scan detection in a firewall log: ``portscope analyze`` against psad, same file, same run.

Generates a 1,000,000-line iptables/UFW log of a busy gateway (tests/analyze/synthetic.py
``iptables_log``: late replies, DNS and SSDP replies, internet background radiation of one to three
ports per source, UFW ALLOW lines, weeks of them) with embedded scanners: two nmap SYN scans of
1000 ports, a FIN, a NULL and an XMAS scan, a port-22 sweep over 300 hosts and a slow scan (one
probe a minute for 17 hours). Then times whole processes under ``/usr/bin/time -f %M`` (peak memory):

- portscope: ``portscope analyze FILE --json``, findings read from the JSON;
- psad 2.4.6's offline analysis, ``psad -A -m FILE`` (installed with apt-get when missing and root).
  psad is run as shipped except what offline analysis needs: its data and run directories in a
  temporary folder (``-O`` override file), no whois, reverse DNS, e-mail, syslog or firewall checks,
  so it sends nothing and touches no system file. A source counts as flagged when psad gives it a
  danger level (DL 1 or more: ``SRC: addr, DL: n`` in its report), as its alerts do by default.
  ``--psad-lines N`` gives psad the first N lines only (it reads about 6,000 of these lines a second
  on a quiet 2-core machine, so the whole file takes under 3 minutes); its time is then reported for
  the lines it read, never extrapolated, and lines/s compared.

Prints, per tool: lines, seconds, lines/s, peak memory, embedded scanners found / total, background
sources flagged, and the speed ratio. Goal: portscope at least 100x psad's lines/s, every scanner
found, no background source flagged. Run from the repository root:
``python benchmarks/bench_psad.py [--lines N] [--psad-lines N] [--no-psad]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.analyze.synthetic_logs import iptables_log  # noqa: E402

from _scoring import portscope_findings, print_score  # noqa: E402
from _timing import run_timed  # noqa: E402

PSAD_OVERRIDE = """\
HOSTNAME                    benchhost;
PSAD_DIR                    {work}/log;
PSAD_RUN_DIR                {work}/run;
PSAD_FIFO_DIR               {work}/fifo;
ALERTING_METHODS            noemail,nosyslog;
ENABLE_WHOIS_LOOKUPS        N;
ENABLE_DNS_LOOKUPS          N;
ENABLE_FW_LOGGING_CHECK     N;
IPTABLES_PREREQ_CHECK       0;
AUTO_DETECT_JOURNALCTL      N;
IPT_SYSLOG_FILE             /dev/null;
"""
PSAD_SOURCE = re.compile(r"^SRC:\s+(\S+), DL: (\d+)", re.MULTILINE)
PSAD_READ = re.compile(r"Found (\d+) iptables log messages")


class Run(NamedTuple):
    name: str
    lines: int
    seconds: float
    peak_mb: float
    stdout: str


def timed(name: str, command: list[str], lines: int, ok: tuple[int, ...] = (0,)) -> Run | None:
    """One whole process under /usr/bin/time: wall seconds and peak resident memory."""
    done = run_timed(name, command, ok, shown=800)
    return None if done is None else Run(name, lines, done.seconds, done.peak_mb, done.stdout)


def psad_available() -> bool:
    if shutil.which("psad"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "psad"], capture_output=True, check=False, env=env, timeout=900)
    return shutil.which("psad") is not None


def psad_command(work: Path, log: Path) -> list[str]:
    for sub in ("log", "run", "fifo"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    override = work / "override.conf"
    override.write_text(PSAD_OVERRIDE.format(work=work), encoding="ascii")
    return [
        shutil.which("psad") or "psad", "-O", str(override), "-A", "-m", str(log),
        "--no-whois", "--no-rdns", "--no-fwcheck", "--no-netstat",
    ]  # fmt: skip


def psad_flagged(stdout: str) -> dict[str, int]:
    """Source address -> danger level, from psad's IP status detail."""
    return {addr: int(level) for addr, level in PSAD_SOURCE.findall(stdout) if int(level) >= 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--psad-lines", type=int, default=0, help="psad reads only the first N lines (0: all)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-psad", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-psad-") as tmp:
        work = Path(tmp)
        log = work / "fw.log"
        started = time.perf_counter()
        truth = iptables_log(log, args.lines, seed=args.seed)
        size = log.stat().st_size / 1e6
        print(f"generated {truth.rows:,} lines ({size:.0f} MB) in {time.perf_counter() - started:.1f} s:")
        print(f"  {len(truth.expected)} embedded scanners, {len(truth.background):,} background sources")

        command = [sys.executable, "-m", "portscope", "analyze", str(log), "--json"]
        ours = timed("portscope analyze", command, truth.rows, ok=(0, 1))
        rows: list[tuple[Run, str, str]] = []
        if ours is not None:
            rows.append((ours, *print_score("portscope", portscope_findings(ours.stdout), truth)))

        if not args.no_psad:
            if not psad_available():
                print("psad: not installed and cannot be (apt-get install psad failed or not root)")
            else:
                psad_lines = min(args.psad_lines or truth.rows, truth.rows)
                psad_log = log
                if psad_lines < truth.rows:
                    psad_log = work / "psad.log"
                    with log.open("rb") as src, psad_log.open("wb") as out:
                        for number, line in enumerate(src):
                            if number >= psad_lines:
                                break
                            out.write(line)
                theirs = timed(f"psad -A -m ({psad_lines:,} lines)", psad_command(work / "psad", psad_log), psad_lines)
                if theirs is not None:
                    read = PSAD_READ.search(theirs.stdout)
                    print(f"psad read {int(read.group(1)) if read else 0:,} iptables log messages")
                    flagged = psad_flagged(theirs.stdout)
                    present = _sources_in(psad_log)
                    scanners = truth.scanners & present
                    background = truth.background & present
                    levels: dict[int, int] = {}
                    for level in flagged.values():
                        levels[level] = levels.get(level, 0) + 1
                    print(f"psad danger levels (sources per DL): {dict(sorted(levels.items()))}")
                    found = len(scanners & flagged.keys())
                    wrongly = sorted(background & flagged.keys())
                    rows.append((theirs, f"{found}/{len(scanners)}", f"{len(wrongly)}/{len(background)}"))
                    for addr in sorted(scanners - flagged.keys()):
                        print(f"  psad missed scanner {addr}")

    print(
        f"\n{'tool':34} {'lines':>10} {'seconds':>8} {'lines/s':>11} {'peak MB':>8} {'scanners found':>15}"
        f" {'background flagged':>19}"
    )
    for run, found_share, flagged_share in rows:
        rate = run.lines / run.seconds
        print(
            f"{run.name:34} {run.lines:>10,} {run.seconds:>8.2f} {rate:>11,.0f} {run.peak_mb:>8.0f} {found_share:>15}"
            f" {flagged_share:>19}"
        )
    if len(rows) == 2:
        ratio = (rows[0][0].lines / rows[0][0].seconds) / (rows[1][0].lines / rows[1][0].seconds)
        print(f"\nportscope processes {ratio:,.0f}x the lines per second of psad (goal: at least 100x)")


def _sources_in(path: Path) -> set[str]:
    """The SRC= addresses of a log: which sources psad was shown at all when it read a prefix."""
    found: set[str] = set()
    pattern = re.compile(rb" SRC=(\S+) ")
    with path.open("rb") as lines:
        for line in lines:
            match = pattern.search(line)
            if match:
                found.add(match.group(1).decode())
    return found


if __name__ == "__main__":
    main()

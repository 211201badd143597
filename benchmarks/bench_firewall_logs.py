"""Kernel packet LOG lines (iptables, UFW) to a flow table: portscope against the usual ways, same run.

Generates N realistic lines (default 1,000,000: RFC 3164 and RFC 3339 syslog headers, printk stamps or
not, UFW/iptables/nftables prefixes, TCP/UDP/ICMP, IPv4 and IPv6 as nf_log_syslog.c prints them), then
times whole processes, each under ``/usr/bin/time -f %M`` for its peak memory:

- portscope: ``portscope convert FILE --format iptables -o out.parquet`` (the command line's own code);
  also on a tenth of the lines, to show that memory stays flat as the input grows;
- a plain Python ``re`` loop: one compiled pattern per line, every field captured;
- DuckDB: ``read_csv`` of the lines and one ``regexp_extract`` per field, written to Parquet;
- psad (``psad -A -m FILE``, its offline analysis mode) on the first 100,000 lines: psad is what
  people run on these logs, and it does more than parse (scan detection), so it is shown, not raced;
- portscope's Windows Firewall reader on the real pfirewall.log of ../shared/data, when present.

Prints lines/s, the ratio to portscope and peak memory. Run from the repository root:
``python benchmarks/bench_firewall_logs.py [--lines N] [--psad-lines N] [--no-psad]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WINDOWS_LOG = REPO.parent / "shared" / "data" / "windows-firewall" / "pfirewall.BetaHydri.2021-06.log"

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
PREFIXES = [
    "[UFW BLOCK] ", "[UFW ALLOW] ", "[UFW AUDIT] ", "[UFW LIMIT BLOCK] ", "DROP ", "iptables-dropped: ",
    "nft drop in: ", "", "ACCEPT ",
]  # fmt: skip
FLAGS = ["SYN", "ACK", "ACK PSH", "ACK FIN", "RST", "ACK RST", "ACK SYN"]
# Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7
SYN_OPTIONS = "OPT (020405B40402080A5F3E2A1B0000000001030307) "


def _v6(r: random.Random) -> str:
    return ":".join(f"{r.randrange(65536):04x}" for _ in range(8))  # the kernel's %pI6: uncompressed


def generate(path: Path, count: int, seed: int = 1) -> None:
    """``count`` log lines, 80% RFC 3164 with printk stamps, 20% rsyslog RFC 3339; 15% IPv6."""
    r = random.Random(seed)
    hosts = ["gw", "web01", "db-02.example.org", "fw"]
    with path.open("w", encoding="ascii") as out:
        for _ in range(count):
            clock = f"{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}"
            host = r.choice(hosts)
            if r.random() < 0.8:
                stamp = f"[{r.randrange(1, 9999999):>5}.{r.randrange(1000000):06d}] " if r.random() < 0.7 else ""
                head = f"{r.choice(MONTHS)} {r.randrange(1, 29):2d} {clock} {host} kernel: {stamp}"
            else:
                day = f"2025-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}"
                head = f"{day}T{clock}.{r.randrange(1000000):06d}+02:00 {host} kernel: "
            inbound = r.random() < 0.7
            iface = "IN=eth0 OUT= MAC=00:16:3e:5e:6c:00:00:1b:21:3a:4b:5c:08:00 " if inbound else "IN= OUT=eth0 "
            if r.random() < 0.85:
                src = f"{r.randrange(1, 224)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(256)}"
                dst = f"10.0.{r.randrange(256)}.{r.randrange(256)}"
                ip = f"SRC={src} DST={dst} LEN={r.randrange(28, 1500)} TOS=0x00 PREC=0x00 "
                ip += f"TTL={r.randrange(1, 256)} ID={r.randrange(65536)} "
                ip += "DF " if r.random() < 0.5 else ""
                icmp = "ICMP"
            else:
                ip = f"SRC={_v6(r)} DST={_v6(r)} LEN={r.randrange(40, 1500)} TC=0 "
                ip += f"HOPLIMIT={r.randrange(1, 256)} FLOWLBL={r.randrange(1 << 20)} "
                icmp = "ICMPv6"
            kind = r.random()
            if kind < 0.6:
                flags = r.choice(FLAGS)
                l4 = f"PROTO=TCP SPT={r.randrange(1, 65536)} DPT={r.randrange(1, 65536)} "
                l4 += f"WINDOW={r.randrange(65536)} RES=0x00 {flags} URGP=0 "
                l4 += SYN_OPTIONS if flags == "SYN" and r.random() < 0.5 else ""
            elif kind < 0.9:
                l4 = f"PROTO=UDP SPT={r.randrange(1, 65536)} DPT={r.randrange(1, 65536)} LEN={r.randrange(8, 1400)} "
            else:
                echo = 8 if icmp == "ICMP" else 128
                l4 = f"PROTO={icmp} TYPE={echo} CODE=0 ID={r.randrange(65536)} SEQ={r.randrange(65536)} "
            out.write(head + r.choice(PREFIXES) + iface + ip + l4 + "\n")


RE_LOOP = r"""
import re, sys
line_re = re.compile(
    rb"^(?:(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d+) (?P<hms>[\d:]{8})|(?P<iso>\d{4}-\d\d-\d\dT[\d:.]+[+-Z][\d:]*))"
    rb" (?P<host>\S+) kernel: (?:\[\s*\d+\.\d+\] )?(?P<prefix>.*?)IN=(?P<in>\S*) OUT=(?P<out>\S*) (?:MAC=\S* )?"
    rb"SRC=(?P<src>\S+) DST=(?P<dst>\S+) LEN=(?P<len>\d+) .*?PROTO=(?P<proto>\S+)"
    rb"(?: SPT=(?P<spt>\d+) DPT=(?P<dpt>\d+))?(?: WINDOW=\d+ RES=0x\w\w (?P<flags>[A-Z ]*?) URGP=)?"
    rb"(?: TYPE=(?P<type>\d+) CODE=(?P<code>\d+))?"
)
rows = bad = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        m = line_re.search(line)
        if m is None:
            bad += 1
            continue
        g = m.groupdict()
        record = (g["mon"], g["day"], g["hms"], g["iso"], g["host"].decode(), g["prefix"].decode().rstrip(),
                  g["in"].decode(), g["out"].decode(), g["src"].decode(), g["dst"].decode(), int(g["len"]),
                  g["proto"].decode(),
                  int(g["spt"]) if g["spt"] else None, int(g["dpt"]) if g["dpt"] else None, g["flags"],
                  int(g["type"]) if g["type"] else None, int(g["code"]) if g["code"] else None)
        rows += 1
print(rows, bad, 0)
"""

DUCKDB = r"""
import sys, duckdb
fields = {
    "host": r"^\S+ +\S+ \S+ (\S+) kernel: |^\S+ (\S+) kernel: ", "prefix": r"kernel: (?:\[\s*[\d.]+\] )?(.*?)IN=",
    "in_if": r"IN=(\S*) ", "out_if": r" OUT=(\S*) ", "src": r" SRC=(\S+)", "dst": r" DST=(\S+)", "len": r" LEN=(\d+)",
    "proto": r" PROTO=(\S+)", "spt": r" SPT=(\d+)", "dpt": r" DPT=(\d+)", "flags": r" RES=0x\w\w ([A-Z ]*?) ?URGP=",
    "type": r" TYPE=(\d+)", "code": r" CODE=(\d+)", "ts": r"^(\S+ +\S+ \S+|\S+)",
}
columns = ", ".join(f"regexp_extract(line, '{rx}', 1) AS {name}" for name, rx in fields.items())
con = duckdb.connect()
con.execute(
    f"COPY (SELECT {columns} FROM read_csv('{sys.argv[1]}', columns={{'line': 'VARCHAR'}}, delim='\x01', header=false,"
    f" quote='', escape='', auto_detect=false)) TO '{sys.argv[2]}' (FORMAT parquet)"
)
print(con.execute(f"SELECT count(*) FROM '{sys.argv[2]}'").fetchone()[0], 0, 0)
"""


def portscope(python: str, source: Path, out: Path, fmt: str) -> list[str]:
    """The command line itself, with --json so its counts can be read back."""
    return [python, "-m", "portscope", "convert", str(source), "--format", fmt, "-o", str(out), "--json"]


def _said(stdout: str) -> str:
    """What a reader printed: its last line, or for portscope's JSON report its good/bad/skipped counts."""
    text = stdout.strip()
    if text.startswith("{"):
        report = json.loads(text)
        return f"{report['good_records']} {report['bad_records']} {report['skipped_lines']}"
    return text.splitlines()[-1] if text else ""


def run(name: str, command: list[str], lines: int) -> tuple[str, int, float, float, str]:
    """(name, lines, seconds, peak MB, what it printed) of one whole process under /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as peak:
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-o", peak.name, "-f", "%M", *command], capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        kilobytes = peak.read().strip().splitlines()[-1] if done.returncode == 0 else "0"
    if done.returncode != 0:
        print(f"{name}: exit {done.returncode}: {done.stderr.strip()[-400:]}", file=sys.stderr)
        return name, lines, float("nan"), float("nan"), "failed"
    return (
        name,
        lines,
        seconds,
        int(kilobytes) / 1024,
        _said(done.stdout),
    )


def psad_available() -> bool:
    if shutil.which("psad"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "psad"], capture_output=True, check=False, env=env)
    return shutil.which("psad") is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--psad-lines", type=int, default=100_000)
    parser.add_argument("--no-psad", action="store_true")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench-fw-") as tmp:
        work = Path(tmp)
        big, small, sample = work / "big.log", work / "small.log", work / "psad.log"
        started = time.perf_counter()
        generate(big, args.lines)
        with big.open("rb") as src, small.open("wb") as tenth, sample.open("wb") as psad_sample:
            for number, line in enumerate(src):
                if number < args.lines // 10:
                    tenth.write(line)
                if number < args.psad_lines:
                    psad_sample.write(line)
        size = big.stat().st_size / 1e6
        print(f"generated {args.lines:,} lines ({size:.0f} MB) in {time.perf_counter() - started:.1f} s")
        results = [
            run("portscope", portscope(python, big, work / "p.parquet", "iptables"), args.lines),
            run(
                "portscope (1/10 input)",
                portscope(python, small, work / "s.parquet", "iptables"),
                args.lines // 10,
            ),
            run("python re loop", [python, "-c", RE_LOOP, str(big)], args.lines),
            run(
                "duckdb regexp_extract per field", [python, "-c", DUCKDB, str(big), str(work / "d.parquet")], args.lines
            ),
        ]
        if not args.no_psad:
            if psad_available():
                lines = min(args.psad_lines, args.lines)
                results.append(run(f"psad -A -m ({lines:,} lines)", ["psad", "-A", "-m", str(sample)], lines))
            else:
                print("psad: not installed and cannot be (apt-get install psad failed)")
        if WINDOWS_LOG.exists():
            records = sum(1 for line in WINDOWS_LOG.open("rb") if line.strip() and not line.startswith(b"#"))
            results.append(
                run(
                    "portscope windows_firewall (real log)",
                    portscope(python, WINDOWS_LOG, work / "w.parquet", "windows_firewall"),
                    records,
                )
            )
    base = results[0][1] / results[0][2]
    print(
        f"\n{'reader':42} {'lines':>10} {'seconds':>8} {'lines/s':>11} {'vs portscope':>12} {'peak MB':>8}"
        "  output (rows bad skipped)"
    )
    for name, lines, seconds, peak, output in results:
        rate = lines / seconds
        print(
            f"{name:42} {lines:>10,} {seconds:>8.2f} {rate:>11,.0f} {rate / base:>11.2f}x {peak:>8.0f}  {output[:60]}"
        )


if __name__ == "__main__":
    main()

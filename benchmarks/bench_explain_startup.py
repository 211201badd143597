#!/usr/bin/env python3
"""Cold start of ``portscope explain 56744`` against ``python3 -c pass``, same interpreter, same run.

Goal (issue 2): the median whole-process time under 3x that of ``python3 -c pass``, with no heavy
library imported. Goal (issue 11): ``explain '<log line>'`` within 3x of ``explain PORT`` (column
``x port``): UFW, pfSense, Zeek conn.log and AWS VPC lines (read as one row, no pyarrow) and an nfdump
CSV line (its reader is column-at-a-time, so pyarrow is imported). Runs alternate between the commands so that
machine noise hits all alike. ``--before SRC`` also times another checkout's ``src`` (the commit
before a change) in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import portscope_at

# Lines made here, with documentation addresses (RFC 5737): the shapes of each format's real lines.
LINES = {
    "ufw": (
        "Nov 13 04:37:01 gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.7 DST=192.0.2.5 LEN=60 "
        "TOS=0x00 PREC=0x00 TTL=52 ID=1 PROTO=TCP SPT=56744 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0"
    ),
    "pfsense": (
        "Sep 28 10:38:09 pfSense filterlog[123]: 53,,,1000000301,em0,match,block,in,4,0x0,,64,420,0,none,6,tcp,"
        "460,198.51.100.2,192.0.2.15,53742,22,40,S,1234,,64240,,mss"
    ),
    "aws-vpc": "2 123456789010 eni-1235b8ca123456789 192.0.2.139 198.51.100.21 20641 22 6 20 4249 1418530010 "
    "1418530070 ACCEPT OK",
    "nfdump": (
        "2023-02-28 09:46:01,2023-02-28 09:46:12,11.264,192.0.2.56,198.51.100.213,17000,17000,UDP,........,0,184,2,"
        "220,0,0,995,841,4294967295,4294967295,0,0,0,255,192.0.2.46,0.0.0.0,0,0,00:00:00:00:00:00,"
        "00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,69-5-0,24305-5-1,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,"
        "0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,127.0.0.1,0/0,1,2026-11-23 19:10:31.771"
    ),
    "zeek": (
        "1379288667.706265\tCoyZrY2g74UvMMgp4a\t192.0.2.10\t1032\t198.51.100.191\t80\ttcp\thttp\t0.447460\t601\t"
        "38393\tRSTO\t-\t0\tShADadR\t22\t1489\t31\t39641\t(empty)"
    ),
}


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--before", metavar="SRC", help="another checkout's src folder, timed side by side")
    args = parser.parse_args()
    python = sys.executable
    script = shutil.which("portscope", path=str(Path(python).parent))
    commands = {
        "python3 -c pass": [python, "-c", "pass"],
        "python -m portscope explain 56744": [python, "-m", "portscope", "explain", "56744"],
    }
    if script:
        commands["portscope explain 56744 (console script)"] = [script, "explain", "56744"]
        for name, line in LINES.items():
            commands[f"portscope explain '<{name} line>'"] = [script, "explain", line]
    if args.before:
        commands["python -m portscope explain 56744 (before)"] = [*portscope_at(args.before), "explain", "56744"]
    for argv in commands.values():  # warm the page cache and .pyc files once
        _time(argv)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            samples[name].append(_time(argv))
    base = statistics.median(samples["python3 -c pass"])
    port = statistics.median(samples.get("portscope explain 56744 (console script)", [float("nan")]))
    print(f"{'command':45} {'median ms':>10} {'min ms':>8} {'x python':>9} {'x port':>7}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:45} {median * 1e3:10.1f} {min(values) * 1e3:8.1f} {median / base:9.2f} {median / port:7.2f}")
    imports = subprocess.run(
        [python, "-X", "importtime", "-m", "portscope", "explain", "56744"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    modules = [line.rsplit("|", 1)[-1].strip() for line in imports.splitlines() if "|" in line]
    heavy = sorted({m.split(".")[0] for m in modules} & {"duckdb", "pyarrow", "pandas", "numpy", "rich", "polars"})
    print(f"modules imported: {len(modules)}; heavy libraries among them: {heavy or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

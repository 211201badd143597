#!/usr/bin/env python3
"""``portscope live --json`` against ss -tanp, ss -tan, lsof and psutil, on N loopback connections.

Goal (issue 3), at 50,000 established connections (100,000 sockets counting both ends): portscope,
with processes and roles, within 4x the time of ``ss -tan`` (which attributes no process), a pid on
at least 99% of the sockets that have an owner, and peak memory under 300 MB. Each command runs as
a whole process, alternating with the others so machine noise hits all alike; peak memory is the
child's own ru_maxrss from wait4(2).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _loopback import loopback_connections
from _timing import portscope_at

PSUTIL_SCRIPT = "import psutil, sys; c = psutil.net_connections(kind='tcp'); sys.stdout.write(str(len(c)))"


def run(argv: list[str]) -> tuple[float, float]:
    """Run ``argv`` to completion under GNU time; (seconds, peak resident MB of that process).

    GNU time forks the command from a small process: a fork of this (large) benchmark would report
    our own pages as the child's peak.
    """
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited with {done.returncode}: {done.stderr[-500:]}")
    return elapsed, int(done.stderr.strip().splitlines()[-1]) / 1024


def coverage(portscope: list[str]) -> tuple[int, int, int]:
    """(sockets, sockets that have an owner (not TIME_WAIT/orphans), of those with a pid) from one run."""
    with tempfile.TemporaryFile("w+") as out:
        subprocess.run([*portscope, "live", "--json", "--tcp"], stdout=out, check=True)
        out.seek(0)
        doc = json.load(out)
    owned = [s for s in doc["sockets"] if s["inode"] is not None]
    return len(doc["sockets"]), len(owned), sum(1 for s in owned if s["pid"] is not None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("connections", type=int, nargs="*", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--per-child", type=int, default=4_000)
    parser.add_argument("--before", metavar="SRC", help="also time another checkout's src (before a change)")
    args = parser.parse_args()
    python = sys.executable
    script = shutil.which("portscope", path=os.path.dirname(python))
    portscope = [script] if script else [python, "-m", "portscope"]
    commands = {
        "portscope live --json": [*portscope, "live", "--json"],
        "portscope live --json --no-process": [*portscope, "live", "--json", "--no-process"],
        "portscope live --json --columnar": [*portscope, "live", "--json", "--columnar"],
        **(
            {
                "portscope live --json (before)": [*portscope_at(args.before), "live", "--json"],
                "portscope live --json --no-process (before)": [
                    *portscope_at(args.before),
                    "live",
                    "--json",
                    "--no-process",
                ],
            }
            if args.before
            else {}
        ),
        "ss -tan": ["ss", "-tan"],
        "ss -tanp": ["ss", "-tanp"],
        "lsof -nP -iTCP": ["lsof", "-nP", "-iTCP"],
        "psutil net_connections()": [python, "-c", PSUTIL_SCRIPT],
    }
    if shutil.which("lsof") is None:
        del commands["lsof -nP -iTCP"]
    if not os.path.exists("/usr/bin/time"):
        parser.error("needs GNU time (/usr/bin/time; Debian package 'time') to measure peak memory")
    for n in args.connections:
        with loopback_connections(n, per_child=args.per_child):
            sockets, owned, with_pid = coverage(portscope)
            times: dict[str, list[float]] = {name: [] for name in commands}
            peaks: dict[str, float] = dict.fromkeys(commands, 0.0)
            for argv in commands.values():  # one warm-up each: page cache, dentries for /proc/*/fd
                run(argv)
            for _ in range(args.repeat):
                for name, argv in commands.items():
                    seconds, peak = run(argv)
                    times[name].append(seconds)
                    peaks[name] = max(peaks[name], peak)
        base = statistics.median(times["ss -tan"])
        print(f"\n{n} established loopback connections: {sockets} TCP sockets; {with_pid}/{owned} owned sockets "
              f"have a pid ({with_pid / max(1, owned):.2%})")  # fmt: skip
        print(f"{'command':38} {'median s':>9} {'min s':>7} {'x ss -tan':>10} {'peak MB':>8}")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:38} {median:9.3f} {min(values):7.3f} {median / base:10.2f} {peaks[name]:8.0f}")
        ours = statistics.median(times["portscope live --json"])
        if args.before:
            for name in ("portscope live --json", "portscope live --json --no-process"):
                earlier = statistics.median(times[f"{name} (before)"])
                print(f"{name}: {statistics.median(times[name]) / earlier:.2f}x the time before the change")
        for other in ("ss -tanp", "lsof -nP -iTCP", "psutil net_connections()"):
            if other in times:
                print(f"portscope live --json is {statistics.median(times[other]) / ours:.1f}x faster than {other}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Capture to flows: ``portscope convert`` against tshark, tcpdump and cat on one generated capture.

The capture (benchmarks/_pcap_gen.py, written with numpy in a few seconds): 1,000,000 packets, about
50,000 connections, ~770 MB: complete TCP connections (10% over IPv6) and DNS-like UDP exchanges with
realistic sizes. Every tool runs as a whole process under ``/usr/bin/time`` (wall time and peak
memory), in the same run, on the same file, from the page cache:

- ``portscope convert FILE -o flows.parquet`` (reading, connections, Parquet),
- ``tshark -q -z conv,tcp -r FILE`` (the reference: TCP conversations only),
- ``tcpdump -nn -r FILE`` (a packet per line, to /dev/null),
- ``cat FILE`` (the floor: reading the file).

Then the Parquet file is checked against what was generated: every connection found, with its
packets and IP bytes each way, SF, and Zeek's history (TCP ShADdfFa, UDP Dd). Last, the same run on a
capture ten times smaller: portscope's peak memory should not grow with the file (it keeps the open
connections and a bounded read buffer, not the capture).

Goal (issue): at least 10x faster than tshark's conversation table. The temporary directory (and
its captures) is deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pcap_gen import Expected, generate


def timed(argv: list[str], stdout: str = os.devnull) -> tuple[float, int]:
    """Wall seconds and peak memory (KiB) of a command, via /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r") as report, open(stdout, "w") as out:
        start = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-o", report.name, "-f", "%e %M", *argv],
            stdout=out,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        elapsed = time.perf_counter() - start
        _, peak = report.read().split()
    return elapsed, int(peak)


def check(parquet: str, truth: Expected) -> str:
    """Every generated connection in the flow table, with its counts, state and history."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(parquet).to_pydict()
    found = {}
    for k in range(len(table["src_addr"])):
        key = (table["src_addr"][k], table["src_port"][k], table["dst_addr"][k], table["dst_port"][k])
        found[key] = (
            table["packets_out"][k],
            table["bytes_out"][k],
            table["packets_in"][k],
            table["bytes_in"][k],
            table["conn_state"][k],
            table["history"][k],
        )
    import ipaddress

    def text(pair: np.ndarray, version: int) -> str:
        value = (int(pair[0]) << 64) | int(pair[1])
        return str(ipaddress.IPv4Address(value & 0xFFFFFFFF) if version == 4 else ipaddress.IPv6Address(value))

    wrong = 0
    for k in range(truth.proto.size):
        key = (
            text(truth.client[k], truth.version[k]),
            int(truth.sport[k]),
            text(truth.server[k], truth.version[k]),
            int(truth.dport[k]),
        )
        history = "ShADdfFa" if truth.proto[k] == 6 else "Dd"
        want = (
            int(truth.orig_pkts[k]),
            int(truth.orig_bytes[k]),
            int(truth.resp_pkts[k]),
            int(truth.resp_bytes[k]),
            "SF",
            history,
        )
        wrong += found.get(key) != want
    extra = len(found) - truth.proto.size
    return f"{truth.proto.size - wrong}/{truth.proto.size} generated connections found exactly; {extra} extra rows"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="portscope runs (the best and median are shown)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--dir", default=None, help="where to write the captures (default: a temporary directory)")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-pcap-", dir=args.dir)
    try:
        capture = os.path.join(workdir, "generated.pcap")
        start = time.perf_counter()
        truth = generate(capture, args.packets, tcp_flows=args.packets // 25)
        size = os.path.getsize(capture)
        print(
            f"generated {args.packets:,} packets, {truth.proto.size:,} connections, {size / 1e6:.0f} MB "
            f"in {time.perf_counter() - start:.1f} s: {capture}"
        )
        subprocess.run(["cat", capture], stdout=subprocess.DEVNULL, check=True)  # into the page cache
        parquet = os.path.join(workdir, "flows.parquet")
        portscope = [sys.executable, "-m", "portscope", "convert", capture, "-o", parquet]
        runs = sorted(timed(portscope) for _ in range(args.runs))
        rows = {"portscope convert": (runs[0], runs[len(runs) // 2])}
        for name, argv in (
            ("tshark -q -z conv,tcp", ["tshark", "-q", "-z", "conv,tcp", "-r", capture]),
            ("tcpdump -nn -r", ["tcpdump", "-nn", "-r", capture]),
            ("cat", ["cat", capture]),
        ):
            if shutil.which(argv[0]):
                result = timed(argv)
                rows[name] = (result, result)
            else:
                print(f"({argv[0]} is not installed: skipped)")
        best = rows["portscope convert"][0][0]
        print(f"\n{'command':<24} {'best s':>8} {'median s':>9} {'peak MiB':>9} {'vs portscope':>13}")
        for name, ((wall, peak), (median, _)) in rows.items():
            ratio = "" if name.startswith("portscope") else f"{wall / best:>12.1f}x"
            print(f"{name:<24} {wall:>8.2f} {median:>9.2f} {peak / 1024:>9.0f} {ratio:>13}")
        if "tshark -q -z conv,tcp" in rows:
            speedup = rows["tshark -q -z conv,tcp"][0][0] / best
            print(f"\nportscope is {speedup:.1f}x faster than tshark's conversation table (goal: 10x)")
        print(check(parquet, truth))

        # Peak memory, 10x the input: both runs with small output batches (--batch-size 4096), so
        # that both fill theirs (by default one batch is 65,536 connections, more than the large
        # capture has): what remains is what reading costs, which should not grow with the file.
        small = os.path.join(workdir, "small.pcap")
        generate(small, args.packets // 10, tcp_flows=args.packets // 250)
        flat = [*portscope[:4], "--batch-size", "4096"]
        _, small_peak = timed([*flat, small, "-o", parquet])
        _, big_peak = timed([*flat, capture, "-o", parquet])
        print(
            f"peak memory (--batch-size 4096): {small_peak / 1024:.0f} MiB for {args.packets // 10:,} packets, "
            f"{big_peak / 1024:.0f} MiB for {args.packets:,} ({big_peak / small_peak:.2f}x for 10x the input)"
        )
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

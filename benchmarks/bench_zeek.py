#!/usr/bin/env python3
"""Zeek conn.log to a Parquet flow table: portscope against DuckDB's own CSV-to-Parquet COPY.

Goal: converting a 5,000,000-row conn.log (~650 MB, generated here with realistic values) takes at
most 1.5x the time of ``COPY (SELECT * FROM read_csv(FILE, delim='\\t', comment='#', header=false,
nullstr='-', quote='', escape='')) TO 'x.parquet'`` on the same file, with peak memory under 1 GB
and flat as the input grows 10x (the 500,000-row file is the 1x point).

Both sides run as whole processes under GNU time (wall clock, peak resident memory of the child),
alternating, so machine noise hits both; the median of ``--repeat`` runs is compared. portscope is
``portscope convert FILE --format zeek_conn -o out.parquet`` (the library through ``python -c``
where the command is missing). DuckDB only copies 22 text-typed columns; portscope also checks
every address, time and port, maps ICMP, protocols and directions, and writes the 35-column flow
schema. Row counts of the outputs are compared. A third line, "tuned", is the same read written with
Parquet settings fitted to the flow schema (see tuned_command): what ``portscope convert`` would take
with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FIELDS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration", "orig_bytes",
    "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
    "resp_pkts", "resp_ip_bytes", "tunnel_parents", "ip_proto",
]  # fmt: skip
TYPES = [
    "time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count", "string", "bool",
    "bool", "count", "string", "count", "count", "count", "count", "set[string]", "count",
]  # fmt: skip
ALNUM = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
# (responder port, service, [(conn_state, history, weight)]) per transport, weighted as a busy edge sees them
TCP = [(443, "ssl", 45), (80, "http", 15), (22, "ssh", 5), (8080, "http", 5), (3389, "-", 3), (25, "smtp", 2)]
TCP_STATES = [("SF", "ShADadFf", 60), ("S0", "S", 14), ("REJ", "Sr", 8), ("RSTO", "ShADadR", 7), ("SH", "ShF", 4),
              ("S1", "ShADad", 4), ("OTH", "^dA", 3)]  # fmt: skip
UDP = [(53, "dns", 60), (123, "ntp", 10), (443, "quic", 20), (5353, "dns", 10)]
UDP_STATES = [("SF", "Dd", 80), ("S0", "D", 20)]
ICMP = [(8, 0, 60), (3, 3, 25), (11, 0, 15)]  # echo (Zeek logs the counterpart type 0), unreachable, time exceeded


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _choice(rng: np.random.Generator, table: list[tuple], n: int) -> np.ndarray:
    weights = np.array([row[-1] for row in table], dtype=float)
    return rng.choice(len(table), n, p=weights / weights.sum())


def _addresses(rng: np.random.Generator, prefixes: list[str], n: int) -> pa.Array:
    base = np.array(prefixes, dtype=object)[rng.integers(0, len(prefixes), n)]
    return pc.binary_join_element_wise(
        pa.array(base, pa.string()), _text(rng.integers(0, 256, n)), _text(rng.integers(1, 255, n)), "."
    )


def _block(rng: np.random.Generator, n: int, t0: int) -> bytes:
    """``n`` conn.log lines: 62% TCP, 34% UDP, 4% ICMP, consistent ports, services, states and sizes."""
    kind = rng.choice(3, n, p=[0.62, 0.34, 0.04])
    tcp_i, udp_i, icmp_i = _choice(rng, TCP, n), _choice(rng, UDP, n), _choice(rng, ICMP, n)
    tcp_s, udp_s = _choice(rng, TCP_STATES, n), _choice(rng, UDP_STATES, n)
    pick = lambda table, i, col: np.array([r[col] for r in table], dtype=object)[i]  # noqa: E731
    resp_p = np.where(kind == 0, pick(TCP, tcp_i, 0), np.where(kind == 1, pick(UDP, udp_i, 0), pick(ICMP, icmp_i, 1)))
    orig_p = np.where(kind == 2, pick(ICMP, icmp_i, 0), rng.integers(32768, 60999, n))
    service = np.where(kind == 0, pick(TCP, tcp_i, 1), np.where(kind == 1, pick(UDP, udp_i, 1), "-"))
    state = np.where(kind == 0, pick(TCP_STATES, tcp_s, 0), np.where(kind == 1, pick(UDP_STATES, udp_s, 0), "OTH"))
    history = np.where(kind == 0, pick(TCP_STATES, tcp_s, 1), np.where(kind == 1, pick(UDP_STATES, udp_s, 1), "-"))
    established = np.isin(state, ["SF", "RSTO", "S1"])
    duration = np.where(established, np.round(rng.lognormal(-0.5, 1.6, n), 6), np.nan)
    orig_bytes = np.where(established, rng.lognormal(6.5, 1.2, n).astype(np.int64), 0)
    resp_bytes = np.where(established, rng.lognormal(8.5, 2.0, n).astype(np.int64), 0)
    orig_pkts = np.where(established, 3 + orig_bytes // 700, 1)
    resp_pkts = np.where(established, 2 + resp_bytes // 1300, np.where(state == "REJ", 1, 0))
    overhead = np.where(kind == 0, 52, np.where(kind == 1, 28, 28))
    dash = pa.scalar("-", pa.string())
    no_time = pa.array(~established)
    secs = t0 + np.sort(rng.integers(0, 600, n))
    uid = pc.binary_join_element_wise(
        "C", pc.cast(pa.array(ALNUM[rng.integers(0, 62, (n, 17))].view("S17").ravel(), pa.binary(17)), pa.string()), ""
    )
    columns = [
        pc.binary_join_element_wise(_text(secs), pc.utf8_lpad(_text(rng.integers(0, 1_000_000, n)), 6, "0"), "."),
        uid,
        _addresses(rng, ["10.1", "10.20", "172.16"], n),
        _text(orig_p),
        _addresses(rng, ["93.184", "142.250", "151.101", "8.8", "10.1"], n),
        _text(resp_p.astype(np.int64)),
        pa.array(np.array(["tcp", "udp", "icmp"], dtype=object)[kind], pa.string()),
        pa.array(service.astype(object), pa.string()),
        pc.if_else(no_time, dash, _text(duration)),
        pc.if_else(no_time, dash, _text(orig_bytes)),
        pc.if_else(no_time, dash, _text(resp_bytes)),
        pa.array(state.astype(object), pa.string()),
        pa.array(np.where(rng.random(n) < 0.9, "T", "F").astype(object), pa.string()),
        pa.array(np.where(rng.random(n) < 0.25, "T", "F").astype(object), pa.string()),
        pa.array(["0"] * n, pa.string()),
        pa.array(history.astype(object), pa.string()),
        _text(orig_pkts),
        _text(orig_pkts * overhead + orig_bytes),
        _text(resp_pkts),
        _text(resp_pkts * overhead + resp_bytes),
        pa.array(["-"] * n, pa.string()),
        pa.array(np.array(["6", "17", "1"], dtype=object)[kind], pa.string()),
    ]
    lines = pc.binary_join_element_wise(*columns, "\t")
    return ("\n".join(lines.to_pylist()) + "\n").encode()


def generate(path: str, rows: int, seed: int = 7) -> None:
    """Write a conn.log of ``rows`` records with Zeek 7's header and #close line."""
    rng = np.random.default_rng(seed)
    header = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
        "#open\t2024-05-01-10-00-00\n#fields\t" + "\t".join(FIELDS) + "\n#types\t" + "\t".join(TYPES) + "\n"
    )
    with open(path, "wb") as out:
        out.write(header.encode())
        done = 0
        while done < rows:
            n = min(250_000, rows - done)
            out.write(_block(rng, n, 1714557600 + done // 2000))
            done += n
        out.write(b"#close\t2024-05-01-11-00-00\n")


def run(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak resident MB) of ``argv`` run to completion under GNU time."""
    start = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited with {done.returncode}: {done.stderr[-800:]}")
    return elapsed, int(done.stderr.strip().splitlines()[-1]) / 1024


def portscope_command(python: str, source: str, out: str) -> list[str]:
    """``portscope convert`` when this install has it, else the same through the library."""
    check = subprocess.run([python, "-m", "portscope", "convert", "--help"], capture_output=True, check=False)
    if check.returncode == 0:
        return [python, "-m", "portscope", "convert", source, "--format", "zeek_conn", "-o", out]
    code = (
        "import sys, pyarrow.parquet as pq\n"
        "from portscope.flows import flow_schema\n"
        "from portscope.sources import read_flows\n"
        "with pq.ParquetWriter(sys.argv[2], flow_schema()) as w:\n"
        "    for b in read_flows([sys.argv[1]], format='zeek_conn'): w.write_batch(b)\n"
    )
    return [python, "-c", code, source, out]


def tuned_command(python: str, source: str, out: str) -> list[str]:
    """The same read through the library, written with Parquet settings fitted to the flow schema.

    zstd as ``portscope convert`` uses, but dictionary pages only for the dictionary-typed columns
    (trying them on unique strings such as uid wastes time) and min/max statistics only on the
    non-string columns: the difference to ``portscope convert`` is what those settings cost.
    """
    code = (
        "import sys, pyarrow as pa, pyarrow.parquet as pq\n"
        "from portscope.flows import flow_schema\n"
        "from portscope.sources import read_flows\n"
        "s = flow_schema()\n"
        "d = [f.name for f in s if pa.types.is_dictionary(f.type)]\n"
        "t = [f.name for f in s if not pa.types.is_string(f.type)]\n"
        "with pq.ParquetWriter(sys.argv[2], s, compression='zstd', use_dictionary=d, write_statistics=t) as w:\n"
        "    for b in read_flows([sys.argv[1]], format='zeek_conn'): w.write_batch(b)\n"
    )
    return [python, "-c", code, source, out]


def duckdb_command(python: str, source: str, out: str) -> list[str]:
    code = (
        "import duckdb, sys\n"
        "duckdb.sql(\"COPY (SELECT * FROM read_csv('\" + sys.argv[1] + \"', delim='\\t', comment='#', header=false, "
        "nullstr='-', quote='', escape='')) TO '\" + sys.argv[2] + \"' (FORMAT parquet)\")\n"
    )
    return [python, "-c", code, source, out]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", type=int, nargs="*", default=[500_000, 5_000_000], help="rows per generated log")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", help="where to write the logs (default: a temporary directory, removed after)")
    args = parser.parse_args()
    if not os.path.exists("/usr/bin/time"):
        parser.error("needs GNU time (/usr/bin/time; Debian package 'time') to measure peak memory")
    work = args.dir or tempfile.mkdtemp(prefix="bench-zeek-")
    python = sys.executable
    results = []
    try:
        for rows in args.sizes:
            log = os.path.join(work, f"conn-{rows}.log")
            if not os.path.exists(log):
                began = time.perf_counter()
                generate(log, rows)
                print(
                    f"generated {log}: {os.path.getsize(log) / 1e6:.0f} MB in {time.perf_counter() - began:.0f} s",
                    flush=True,
                )
            ours, theirs = os.path.join(work, "portscope.parquet"), os.path.join(work, "duckdb.parquet")
            tuned = os.path.join(work, "tuned.parquet")
            commands = {
                "portscope": portscope_command(python, log, ours),
                "tuned": tuned_command(python, log, tuned),
                "duckdb": duckdb_command(python, log, theirs),
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            peaks: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.repeat):
                for name, argv in commands.items():
                    seconds, peak = run(argv)
                    times[name].append(seconds)
                    peaks[name].append(peak)
            counts = [pq.ParquetFile(path).metadata.num_rows for path in (ours, tuned, theirs)]
            if counts != [rows] * 3:
                raise RuntimeError(f"row counts (portscope, tuned, duckdb) are {counts}, expected {rows}")
            median = {name: statistics.median(values) for name, values in times.items()}
            results.append((rows, os.path.getsize(log), median, {n: max(v) for n, v in peaks.items()}))
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'rows':>10} {'MB':>5} {'portscope s':>11} {'tuned s':>8} {'duckdb s':>8} {'ratio':>6} {'tuned':>6}"
          f" {'peak MB':>8} {'tuned MB':>8} {'duckdb MB':>9}")  # fmt: skip
    for rows, size, median, peak in results:
        ratio, tuned_ratio = median["portscope"] / median["duckdb"], median["tuned"] / median["duckdb"]
        seconds = f"{median['portscope']:>11.2f} {median['tuned']:>8.2f} {median['duckdb']:>8.2f}"
        memory = f"{peak['portscope']:>8.0f} {peak['tuned']:>8.0f} {peak['duckdb']:>9.0f}"
        print(f"{rows:>10,} {size / 1e6:>5.0f} {seconds} {ratio:>6.2f} {tuned_ratio:>6.2f} {memory}")
    largest = results[-1]
    ratio = largest[2]["portscope"] / largest[2]["duckdb"]
    verdict = {True: "ok", False: "MISSED"}
    print(f"\ntime ratio at {largest[0]:,} rows: {ratio:.2f} (goal <= 1.5): {verdict[ratio <= 1.5]}")
    tuned_ratio = largest[2]["tuned"] / largest[2]["duckdb"]
    print(f"with the fitted Parquet settings: {tuned_ratio:.2f} (goal <= 1.5): {verdict[tuned_ratio <= 1.5]}")
    peak = largest[3]["portscope"]
    print(f"peak memory: {peak:.0f} MB (goal < 1024): {verdict[peak < 1024]}")
    if len(results) > 1:
        growth = peak / results[0][3]["portscope"]
        sizes = f"{results[0][0]:,} -> {largest[0]:,} rows"
        print(f"peak memory {sizes}: x{growth:.2f} (goal: flat, < x1.5): {verdict[growth < 1.5]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

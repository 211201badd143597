#!/usr/bin/env python3
"""Dumping N established loopback TCP connections: ``dump_inet_sockets()`` and ``socket_owners()`` in
process against ``ss -tan`` and ``ss -tanp`` run as commands, same machine, same sockets, same run.

Goal (issue 3): 50,000 connections (100,000 sockets counting both ends) dumped in about 0.3-0.4 s, and
the /proc walk over their 100,000 fds well under 0.6 s.

The connections live in child processes, each holding at most ``--per-child`` pairs (both ends), because
a process may have only so many open files (RLIMIT_NOFILE, 20,000 on the machine this was written
on). Every child listens on its own 127.0.0.1 port, so the client ends can share ephemeral ports across
listeners (Linux checks the 4-tuple, not the port, for connect()). Children exit when the parent closes
their stdin or after ``--lifetime`` seconds, whichever comes first; their sockets close with a reset
(SO_LINGER 0) so a run leaves no TIME_WAIT behind to skew the next one. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from portscope.host._netlink import dump_inet_sockets
from portscope.host._procfs import socket_owners

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _loopback import spawn, stop, wait_ready


def _samples(func: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        out.append(time.perf_counter() - start)
    return out


def _command(argv: list[str]) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("connections", type=int, nargs="?", default=10_000)
    parser.add_argument("--per-child", type=int, default=4_000, help="pairs per child (2 fds each)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lifetime", type=float, default=300.0, help="children exit after this many seconds")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if 2 * args.per_child + 64 > hard:
        parser.error(f"--per-child {args.per_child} needs {2 * args.per_child + 64} open files; the limit is {hard}")

    start = time.perf_counter()
    children = spawn(args.connections, args.per_child, args.lifetime)
    try:
        wait_ready(children, timeout=min(args.lifetime, 120.0))
        setup = time.perf_counter() - start
        print(f"{args.connections} loopback connections in {len(children)} processes, set up in {setup:.1f} s")

        dump = dump_inet_sockets()
        established = sum(1 for state in dump.state if state == 1)
        cold_start = time.perf_counter()
        owners = socket_owners()  # the first walk also creates the kernel's dentries for every fd
        cold = time.perf_counter() - cold_start
        print(
            f"dump: {len(dump)} sockets, {established} established; "
            f"/proc walk: {owners.scanned} processes, {owners.fds} fds, {owners.sockets} sockets, "
            f"{len(owners.owners)} inodes, {owners.denied} denied, {owners.vanished} vanished"
        )
        rows = {
            "dump_inet_sockets() tcp+udp, v4+v6": _samples(dump_inet_sockets, args.repeat),
            "dump_inet_sockets(('tcp',))": _samples(lambda: dump_inet_sockets(("tcp",)), args.repeat),
            "ss -tan (command)": _samples(_command(["ss", "-tan"]), args.repeat),
            "socket_owners() /proc walk": _samples(socket_owners, args.repeat),
            "dump + socket_owners": _samples(lambda: (dump_inet_sockets(("tcp",)), socket_owners()), args.repeat),
            "ss -tanp (command)": _samples(_command(["ss", "-tanp"]), args.repeat),
        }
    finally:
        stop(children)

    print(f"{'measure':40} {'median s':>9} {'min s':>7}")
    for name, values in rows.items():
        print(f"{name:40} {statistics.median(values):9.3f} {min(values):7.3f}")
    print(f"{'socket_owners(), first walk (cold)':40} {cold:9.3f}")

    def ratio(ours: str, theirs: str) -> None:
        value = statistics.median(rows[ours]) / statistics.median(rows[theirs])
        print(f"{ours} / {theirs}: {value:.2f}")

    ratio("dump_inet_sockets(('tcp',))", "ss -tan (command)")
    ratio("dump + socket_owners", "ss -tanp (command)")
    per_socket = statistics.median(rows["dump_inet_sockets(('tcp',))"]) / max(1, len(dump)) * 1e6
    per_fd = statistics.median(rows["socket_owners() /proc walk"]) / max(1, owners.fds) * 1e6
    print(f"per socket (dump): {per_socket:.2f} us; per fd (/proc walk): {per_fd:.2f} us; pid {os.getpid()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

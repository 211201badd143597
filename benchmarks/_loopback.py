"""Hold N established loopback TCP connections open in child processes, for benchmarks.

Each child holds at most ``per_child`` pairs (both ends), because a process may have only so many
open files (RLIMIT_NOFILE, 20,000 on the machine this was written on). Every child listens on its own
127.0.0.1 port, so client ends can share ephemeral ports across listeners (Linux checks the 4-tuple,
not the port, for connect()). Children exit when the parent closes their stdin or after ``lifetime``
seconds, whichever comes first; their sockets close with a reset (SO_LINGER 0) so a run leaves no
TIME_WAIT behind to skew the next one. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_CHILD = r"""
import os, resource, select, socket, struct, sys
pairs, lifetime = int(sys.argv[1]), float(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
linger = struct.pack("ii", 1, 0)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4096)
held = []
while len(held) < 2 * pairs:
    batch = min(1000, pairs - len(held) // 2)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(batch)]
    for sock in clients:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        held.append(sock)
    for _ in range(batch):
        server, _ = listener.accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        held.append(server)
print(listener.getsockname()[1], flush=True)
select.select([sys.stdin], [], [], lifetime)  # EOF from the parent, or the lifetime is over
"""


def spawn(pairs: int, per_child: int, lifetime: float) -> list[subprocess.Popen[str]]:
    children: list[subprocess.Popen[str]] = []
    left = pairs
    while left > 0:
        count = min(per_child, left)
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(count), str(lifetime)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        left -= count
    return children


def wait_ready(children: list[subprocess.Popen[str]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for child in children:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready or not child.stdout.readline().strip():
            raise RuntimeError(f"child {child.pid} did not open its connections in {timeout:.0f} s")


def stop(children: list[subprocess.Popen[str]]) -> None:
    for child in children:
        if child.stdin is not None:
            child.stdin.close()
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


@contextmanager
def loopback_connections(
    pairs: int, per_child: int = 4_000, lifetime: float = 300.0
) -> Iterator[list[subprocess.Popen[str]]]:
    """``pairs`` established connections on 127.0.0.1, held by child processes until the block ends."""
    children = spawn(pairs, per_child, lifetime)
    try:
        wait_ready(children, timeout=min(lifetime, 180.0))
        yield children
    finally:
        stop(children)

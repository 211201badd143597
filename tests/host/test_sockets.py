"""Live snapshots on real sockets: roles, exposure, owners, on both back-ends, and against ss."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from portscope.host.sockets import Snapshot, snapshot
from portscope.records import Socket
from tests.conftest import run_as_nobody

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sockets")

CHILD = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()  # until the test closes our stdin; bounded by the test's own timeout
"""


class Sockets:
    """The test's own sockets, closed afterwards."""

    def __init__(self) -> None:
        self.open: list[socket.socket] = []

    def add(self, sock: socket.socket) -> socket.socket:
        self.open.append(sock)
        return sock

    def tcp_listener(self, address: str, family: int = socket.AF_INET, v6only: bool | None = None) -> socket.socket:
        s = self.add(socket.socket(family, socket.SOCK_STREAM))
        if v6only is not None:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
        s.bind((address, 0))
        s.listen()
        return s

    def close(self) -> None:
        for s in self.open:
            s.close()


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    owned = Sockets()
    try:
        yield owned
    finally:
        owned.close()


def _find(snap: Snapshot, protocol: str, port: int, remote_port: int | None = None) -> Socket:
    """The socket on local ``port`` whose remote port is ``remote_port`` (None: no peer, a listener)."""
    t = snap.table
    for row in t.rows():
        if row.protocol == protocol and row.local_port == port and row.remote_port == remote_port:
            return row
    raise AssertionError(f"{protocol} port {port} (remote {remote_port}) not in the snapshot")


def _free_udp_port_outside_ephemeral() -> socket.socket:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
        low, high = (int(v) for v in handle.read().split())
    for port in range(20000, 30000):
        if low <= port <= high:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        return s
    raise AssertionError("no free UDP port in 20000-30000")


@pytest.mark.parametrize("backend", ["netlink", "psutil"])
def test_roles_exposure_and_owner(sockets: Sockets, backend: str) -> None:
    """Each kind of socket gets its role and exposure, and this process as its owner."""
    loop4 = sockets.tcp_listener("127.0.0.1")
    loop6 = sockets.tcp_listener("::1", socket.AF_INET6)
    any4 = sockets.tcp_listener("0.0.0.0")
    dual = sockets.tcp_listener("::", socket.AF_INET6, v6only=False)
    v6only = sockets.tcp_listener("::", socket.AF_INET6, v6only=True)
    client = sockets.add(socket.create_connection(("127.0.0.1", loop4.getsockname()[1])))
    server, _ = loop4.accept()
    sockets.add(server)
    udp_client = sockets.add(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    udp_client.bind(("0.0.0.0", 0))
    udp_listener = sockets.add(_free_udp_port_outside_ephemeral())

    snap = snapshot(backend=backend)
    me = os.getpid()
    port = lambda s: s.getsockname()[1]  # noqa: E731

    row = _find(snap, "tcp", port(loop4), None)
    assert (row.state, row.role, row.role_basis, row.exposure) == ("LISTEN", "listen", "fact", "loopback")
    assert row.pid == me and row.process and row.user
    assert _find(snap, "tcp", port(loop6)).exposure == "loopback"
    assert _find(snap, "tcp", port(any4)).exposure == "all"
    dual_row, v6only_row = _find(snap, "tcp", port(dual)), _find(snap, "tcp", port(v6only))
    assert dual_row.exposure == v6only_row.exposure == "all"
    if backend == "netlink":  # psutil cannot tell IPV6_V6ONLY
        assert (dual_row.dual_stack, v6only_row.dual_stack) == (True, False)
    out = _find(snap, "tcp", port(client), port(loop4))
    assert (out.role, out.role_basis, out.state) == ("outbound", "fact", "ESTABLISHED")
    inbound = _find(snap, "tcp", port(loop4), port(client))
    assert (inbound.role, inbound.role_basis) == ("inbound", "fact")
    assert inbound.pid == out.pid == me
    udp_c = _find(snap, "udp", port(udp_client))
    assert (udp_c.role, udp_c.role_basis, udp_c.state) == ("client", "inferred", "UNCONN")
    assert udp_c.local_ephemeral
    udp_l = _find(snap, "udp", port(udp_listener))
    assert (udp_l.role, udp_l.exposure) == ("listen", "loopback")


def test_child_process_owns_its_socket() -> None:
    """A socket held by another process is attributed to that process, by pid and name."""
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        row = _find(snapshot(), "tcp", port)
        assert row.pid == child.pid
        assert row.process is not None and row.process.startswith("python")
        assert row.exe is not None and os.path.basename(row.exe).startswith("python")
        assert row.cmdline is not None and "socket" in row.cmdline
    finally:
        child.communicate(timeout=10)


def test_time_wait_says_why_it_has_no_owner(sockets: Sockets) -> None:
    listener = sockets.tcp_listener("127.0.0.1")
    client = socket.create_connection(("127.0.0.1", listener.getsockname()[1]))
    server, _ = listener.accept()
    client_port = client.getsockname()[1]
    client.close()  # the side that closes first keeps the TIME_WAIT
    server.close()
    deadline = time.monotonic() + 5
    row = None
    while time.monotonic() < deadline:
        rows = [r for r in snapshot().table.rows() if r.local_port == client_port and r.state == "TIME_WAIT"]
        if rows:
            row = rows[0]
            break
        time.sleep(0.05)
    assert row is not None, "no TIME_WAIT socket appeared"
    assert row.pid is None
    assert row.owner_note is not None and "kernel" in row.owner_note


def test_no_process_skips_owners(sockets: Sockets) -> None:
    listener = sockets.tcp_listener("127.0.0.1")
    row = _find(snapshot(processes=False), "tcp", listener.getsockname()[1])
    assert row.pid is None and row.owner_note == "skipped"
    assert row.role == "listen"


def _ss(flag: str) -> set[tuple[str, str, int, str, int, int | None]]:
    """ss's view: (state, local addr, local port, remote addr, remote port, pid) per socket."""
    out = subprocess.run(["ss", f"-{flag}anpH"], capture_output=True, text=True, timeout=30, check=True).stdout
    rows = set()
    for line in out.splitlines():
        fields = line.split()
        state, local, remote = fields[0], fields[3], fields[4]
        pid = None
        if "pid=" in line:
            pid = int(line.split("pid=", 1)[1].split(",", 1)[0])
        laddr, _, lport = local.rpartition(":")
        raddr, _, rport = remote.rpartition(":")
        if rport == "*":  # no peer: ss prints the wildcard address, portscope None
            raddr, rport = "*", "0"
        rows.add((state, laddr.strip("[]").split("%")[0], int(lport), raddr.strip("[]"), int(rport), pid))
    return rows


_SS_STATE = {"ESTABLISHED": "ESTAB", "LISTEN": "LISTEN", "UNCONN": "UNCONN", "TIME_WAIT": "TIME-WAIT"}


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_same_view_as_ss(sockets: Sockets) -> None:
    """Our own sockets, seen by portscope and by ss -tanpH / -uanpH at the same moment, agree."""
    listener = sockets.tcp_listener("127.0.0.1")
    clients = [sockets.add(socket.create_connection(("127.0.0.1", listener.getsockname()[1]))) for _ in range(5)]
    for _ in clients:
        sockets.add(listener.accept()[0])
    udp = sockets.add(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    udp.bind(("127.0.0.1", 0))
    ours = {s.getsockname()[1] for s in sockets.open}
    snap = snapshot()
    ss_rows = {r for r in _ss("t") | _ss("u") if r[2] in ours and r[5] == os.getpid()}
    mine = set()
    for row in snap.table.rows():
        if row.local_port in ours and row.pid == os.getpid():
            remote = row.remote_address or "*"
            mine.add((_SS_STATE[row.state], row.local_address, row.local_port, remote, row.remote_port or 0, row.pid))
    assert mine == ss_rows
    assert len(mine) == 1 + 5 + 5 + 1


def test_arrow_table_has_every_socket(sockets: Sockets) -> None:
    sockets.tcp_listener("127.0.0.1")
    snap = snapshot()
    arrow = snap.to_arrow()
    assert arrow.num_rows == len(snap)  # type: ignore[attr-defined]
    assert arrow.column_names == list(Socket._fields)  # type: ignore[attr-defined]


def test_without_root_unattributed_sockets_say_why() -> None:
    """As an unprivileged user, root's sockets show no owner, each saying why, and a note says what root adds."""
    code = (
        "from portscope.host.sockets import snapshot\n"
        "s = snapshot()\n"
        "t = s.table\n"
        "print(sum(1 for n in t.owner_note if n == 'not-visible'), sum(1 for p in t.pid if p is not None))\n"
        "print(s.notes[-1] if s.notes else '')\n"
    )
    with socket.socket() as listener:  # a root-owned socket nobody cannot attribute
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        done = run_as_nobody(code)
    assert done.returncode == 0, done.stderr
    counts, note = done.stdout.splitlines()
    hidden = int(counts.split()[0])
    assert hidden >= 1
    assert "could not be read without root" in note and "run as root" in note


def test_a_socket_shared_after_fork_lists_every_owner(sockets: Sockets) -> None:
    """A listener inherited by a child (a pre-fork server's pattern) names both processes."""
    listener = sockets.tcp_listener("127.0.0.1")
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, pass_fds=(listener.fileno(),)
    )
    try:
        row = _find(snapshot(), "tcp", listener.getsockname()[1])
        assert set(row.pids) == {os.getpid(), child.pid}
        assert row.pid == min(row.pids)
    finally:
        child.communicate(timeout=10)

"""The sock_diag dump against real sockets on loopback, and against ``ss`` on the same sockets."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from portscope.errors import PlatformError, UsageError
from portscope.host import _netlink
from portscope.host._netlink import (
    ALL_STATES,
    TCP_STATE_NAMES,
    RawSocket,
    RawSockets,
    _address_text,
    _chunks,
    _dump_one,
    _last_chunk,
    _open,
    dump_inet_sockets,
    start_dump,
)

ESTABLISHED, CLOSE, LISTEN = 1, 7, 10


def _netlink_available() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4).close()
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _netlink_available(), reason="needs Linux with a NETLINK_SOCK_DIAG socket")


class Sockets:
    """Makes and adopts sockets for one test; all are closed when it ends, whatever happens."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self.all: list[socket.socket] = []

    def adopt(self, sock: socket.socket) -> socket.socket:
        self.all.append(self._stack.enter_context(sock))
        return sock

    def new(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        return self.adopt(socket.socket(family, kind))

    def listener(self, family: int, address: str, v6only: bool | None = None, backlog: int = 5) -> socket.socket:
        sock = self.new(family)
        if v6only is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
        sock.bind((address, 0))
        sock.listen(backlog)
        return sock

    def pair(self, listener: socket.socket, family: int) -> tuple[socket.socket, socket.socket]:
        """A connected (client, accepted) pair; ``family`` is the client's."""
        client = self.new(family)
        host = "127.0.0.1" if family == socket.AF_INET else "::1"
        if listener.getsockname()[0] not in ("0.0.0.0", "::"):
            host = listener.getsockname()[0].removeprefix("::ffff:")
        client.connect((host, listener.getsockname()[1]))
        server, _ = listener.accept()
        return client, self.adopt(server)


@pytest.fixture
def socks() -> Iterator[Sockets]:
    with contextlib.ExitStack() as stack:
        yield Sockets(stack)


def _inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def _row(dump: RawSockets, sock: socket.socket) -> RawSocket:
    inode = _inode(sock)
    rows = [row for row in dump if row.inode == inode]
    assert len(rows) == 1, f"inode {inode} is in the dump {len(rows)} times"
    return rows[0]


def test_tcp_listeners_addresses_ports_inodes_and_v6only(socks: Sockets) -> None:
    """Protects the base record: state, addresses, kernel-chosen port, inode, uid, V6ONLY, backlog."""
    cases = [
        (socket.AF_INET, "127.0.0.1", None, "127.0.0.1", None),
        (socket.AF_INET, "0.0.0.0", None, "0.0.0.0", None),
        (socket.AF_INET6, "::1", True, "::1", True),
        # Binding a specific IPv6 address turns IPV6_V6ONLY on (__inet6_bind in net/ipv6/af_inet6.c).
        (socket.AF_INET6, "::1", False, "::1", True),
        (socket.AF_INET6, "::", True, "::", True),
        (socket.AF_INET6, "::", False, "::", False),
    ]
    made = [(socks.listener(fam, addr, v6only, backlog=7), fam, text, flag) for fam, addr, v6only, text, flag in cases]
    dump = dump_inet_sockets()
    for sock, family, text, flag in made:
        row = _row(dump, sock)
        assert row.family == family
        assert row.protocol == "tcp"
        assert TCP_STATE_NAMES[row.state] == "LISTEN"
        assert (row.local_address, row.local_port) == (text, sock.getsockname()[1])
        assert (row.remote_address, row.remote_port) == (None, None)
        assert row.v6only is flag
        assert row.v4_mapped is False
        assert row.uid == os.geteuid()
        assert row.send_queue == 7  # a listener's idiag_wqueue is its backlog
        assert row.receive_queue == 0
        assert row.cookie not in (0, 0xFFFFFFFFFFFFFFFF)
        assert row.interface is None


def test_established_pair_both_ends_and_receive_queue(socks: Sockets) -> None:
    """Protects the 5-tuple of each end, byte-swapped ports, and idiag_rqueue as unread bytes."""
    client, server = socks.pair(socks.listener(socket.AF_INET, "127.0.0.1"), socket.AF_INET)
    client.sendall(b"x" * 1000)
    deadline = time.monotonic() + 5
    while True:
        dump = dump_inet_sockets(("tcp",), (socket.AF_INET,))
        srow = _row(dump, server)
        if srow.receive_queue == 1000 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    crow = _row(dump, client)
    assert srow.receive_queue == 1000
    assert (crow.state, srow.state) == (ESTABLISHED, ESTABLISHED)
    assert (crow.local_address, crow.local_port) == client.getsockname()
    assert (crow.remote_address, crow.remote_port) == client.getpeername()
    assert (srow.local_address, srow.local_port) == server.getsockname()
    assert (srow.remote_address, srow.remote_port) == server.getpeername()
    assert crow.v6only is None  # the kernel sends INET_DIAG_SKV6ONLY for LISTEN and CLOSE only
    assert crow.cookie != srow.cookie


def test_ipv6_pair_and_v4_mapped_dual_stack(socks: Sockets) -> None:
    """Protects IPv6 text, and IPv4-mapped addresses shown as IPv4 with v4_mapped set."""
    client6, server6 = socks.pair(socks.listener(socket.AF_INET6, "::1"), socket.AF_INET6)
    mapped = socks.listener(socket.AF_INET6, "::ffff:127.0.0.1", v6only=False)
    client4, server4 = socks.pair(mapped, socket.AF_INET)
    dump = dump_inet_sockets(("tcp",))
    row = _row(dump, server6)
    assert (row.family, row.state, row.local_address, row.remote_address) == (
        socket.AF_INET6,
        ESTABLISHED,
        "::1",
        "::1",
    )
    assert row.remote_port == client6.getsockname()[1]
    assert row.v6only is None
    listen_row = _row(dump, mapped)
    assert (listen_row.local_address, listen_row.v4_mapped, listen_row.v6only) == ("127.0.0.1", True, False)
    accepted = _row(dump, server4)
    assert accepted.family == socket.AF_INET6
    assert (accepted.local_address, accepted.remote_address, accepted.v4_mapped) == ("127.0.0.1", "127.0.0.1", True)
    assert accepted.remote_port == client4.getsockname()[1]
    client_row = _row(dump, client4)
    assert (client_row.family, client_row.v4_mapped) == (socket.AF_INET, False)


def test_udp_bound_and_connected(socks: Sockets) -> None:
    """Protects UDP's TCP-numbered states: unconnected is CLOSE (7), connected ESTABLISHED (1)."""
    bound = socks.new(socket.AF_INET, socket.SOCK_DGRAM)
    bound.bind(("127.0.0.1", 0))
    connected = socks.new(socket.AF_INET, socket.SOCK_DGRAM)
    connected.connect(bound.getsockname())
    bound6 = socks.new(socket.AF_INET6, socket.SOCK_DGRAM)
    bound6.bind(("::1", 0))
    dump = dump_inet_sockets(("udp",))
    row = _row(dump, bound)
    assert (row.protocol, row.state, row.local_address, row.local_port) == ("udp", CLOSE, *bound.getsockname())
    assert (row.remote_address, row.remote_port, row.v6only) == (None, None, None)
    row = _row(dump, connected)
    assert (row.state, row.remote_address, row.remote_port) == (ESTABLISHED, *bound.getsockname())
    assert (row.local_address, row.local_port) == connected.getsockname()
    row = _row(dump, bound6)
    assert (row.family, row.state, row.local_address, row.v6only) == (socket.AF_INET6, CLOSE, "::1", True)


def _kernel_at_least(major: int, minor: int) -> bool:
    match = re.match(r"(\d+)\.(\d+)", platform.release())
    return match is not None and (int(match[1]), int(match[2])) >= (major, minor)


@pytest.mark.skipif(not _kernel_at_least(6, 6), reason="TCP_BOUND_INACTIVE dumps came with Linux 6.6")
def test_bound_only_tcp_socket_holds_a_port_in_state_close(socks: Sockets) -> None:
    """Protects the bound-but-idle TCP socket: dumped only for TCPF_BOUND_INACTIVE, reported as CLOSE."""
    bound = socks.new(socket.AF_INET6)
    bound.bind(("::1", 0))
    row = _row(dump_inet_sockets(("tcp",)), bound)
    assert (row.state, row.local_port, row.v6only) == (CLOSE, bound.getsockname()[1], True)
    without = dump_inet_sockets(("tcp",), states=ALL_STATES & ~(1 << 13))
    assert _inode(bound) not in without.inode


def test_states_mask_is_applied_by_the_kernel(socks: Sockets) -> None:
    listener = socks.listener(socket.AF_INET, "127.0.0.1")
    client, _ = socks.pair(listener, socket.AF_INET)
    dump = dump_inet_sockets(("tcp",), (socket.AF_INET,), states=1 << LISTEN)
    assert set(dump.state) == {LISTEN}
    assert _inode(listener) in dump.inode
    assert _inode(client) not in dump.inode


def test_columns_have_equal_length_and_row_matches_columns() -> None:
    dump = dump_inet_sockets()
    lengths = {len(getattr(dump, name)) for name in RawSocket._fields}
    assert lengths == {len(dump)}
    if len(dump):
        assert dump.row(0) == next(iter(dump))


def test_bad_arguments_name_the_valid_choices() -> None:
    with pytest.raises(UsageError, match="invalid protocol 'sctp'; valid ones are: tcp, udp"):
        dump_inet_sockets(("sctp",))
    with pytest.raises(UsageError, match="valid ones are: AF_INET"):
        dump_inet_sockets(families=(socket.AF_UNIX,))
    with pytest.raises(UsageError, match="states mask"):
        dump_inet_sockets(states=-1)


def test_kernel_error_becomes_platform_error() -> None:
    """Protects NLMSG_ERROR handling: a protocol with no inet_diag handler (254) is refused by the kernel."""
    out = RawSockets()
    sock = _open()  # a bare _socket.socket: no context manager
    try:
        with pytest.raises(PlatformError, match=r"sock_diag dump of test/AF_INET failed: .*ENOENT"):
            _dump_one(sock, True, socket.AF_INET, 254, ALL_STATES, 1, "test/AF_INET", out)
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("family", "raw", "text"),
    [
        (socket.AF_INET, socket.inet_pton(socket.AF_INET, "192.0.2.1") + bytes(12), "192.0.2.1"),
        (socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "2001:db8::1"), "2001:db8::1"),
        (socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "::ffff:198.51.100.7"), "198.51.100.7"),
        (socket.AF_INET6, bytes(16), "::"),
    ],
)
def test_address_text(family: int, raw: bytes, text: str) -> None:
    assert _address_text(family, raw) == text


# ss(8) state names (iproute2 misc/ss.c sstate_name) -> kernel numbers.
_SS_STATES = {
    "ESTAB": 1,
    "SYN-SENT": 2,
    "SYN-RECV": 3,
    "FIN-WAIT-1": 4,
    "FIN-WAIT-2": 5,
    "TIME-WAIT": 6,
    "UNCONN": 7,
    "CLOSE-WAIT": 8,
    "LAST-ACK": 9,
    "LISTEN": 10,
    "CLOSING": 11,
}


def _ss_address(text: str) -> tuple[str | None, int | None]:
    """``[::ffff:127.0.0.1]:80``, ``127.0.0.1%lo:53``, ``*:80``, ``0.0.0.0:*`` -> our text and port."""
    address, _, port = text.rpartition(":")
    if port == "*":
        return None, None
    address = address.strip("[]").split("%", 1)[0]
    if address == "*":  # ss prints a dual-stack (not V6ONLY) IPv6 wildcard as '*'
        address = "::"
    if address.startswith("::ffff:") and "." in address:
        address = address[len("::ffff:") :]
    return address, int(port)


def _ss(argv: list[str]) -> dict[int, tuple[object, ...]]:
    """Run ss with -e and key its lines by inode: (state, local, remote, cookie, v6only)."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
    rows: dict[int, tuple[object, ...]] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in _SS_STATES:
            continue
        extra = dict(field.split(":", 1) for field in fields[5:] if ":" in field)
        if "ino" not in extra or extra["ino"] == "0":
            continue
        v6only = {"0": False, "1": True}.get(extra.get("v6only", ""))
        rows[int(extra["ino"])] = (
            _SS_STATES[fields[0]],
            _ss_address(fields[3]),
            _ss_address(fields[4]),
            int(extra["sk"], 16),
            v6only,
        )
    return rows


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_against_ss(socks: Sockets) -> None:
    """Cross-check with ss -e on our own sockets: same state, 5-tuple, cookie and V6ONLY, by inode."""
    listener4 = socks.listener(socket.AF_INET, "127.0.0.1")
    listener6 = socks.listener(socket.AF_INET6, "::1")
    socks.listener(socket.AF_INET6, "::", v6only=False)
    mapped = socks.listener(socket.AF_INET6, "::ffff:127.0.0.1", v6only=False)
    socks.pair(listener4, socket.AF_INET)
    socks.pair(listener6, socket.AF_INET6)
    socks.pair(mapped, socket.AF_INET)
    socks.new(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.1", 0))
    socks.new(socket.AF_INET6, socket.SOCK_DGRAM).connect(("::1", 9))
    ours = {_inode(sock) for sock in socks.all}
    theirs = _ss(["ss", "-tanHe"]) | _ss(["ss", "-uanHe"])
    mine = {
        row.inode: (
            row.state,
            (row.local_address, row.local_port),
            (row.remote_address, row.remote_port),
            row.cookie,
            row.v6only,
        )
        for row in dump_inet_sockets()
        if row.inode in ours
    }
    assert set(mine) == ours
    assert mine == {inode: theirs.get(inode) for inode in ours}


def test_a_dump_started_early_gives_the_sockets_or_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """``explain PORT`` starts its dump on another thread before its parser is built: the result is a
    whole dump (a listener opened before it is there), and a failed dump raises when its result is asked."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = start_dump(("tcp",))
        raw = result()
    assert port in raw.local_port and set(raw.protocol) <= {"tcp"}
    assert result() is raw  # asked again: the same dump, no second one

    def refused(protocols: object) -> None:
        raise PlatformError("sock_diag is blocked here")

    monkeypatch.setattr(_netlink, "dump_inet_sockets", refused)
    with pytest.raises(PlatformError, match="blocked"):
        start_dump()()


def test_a_chunk_that_only_looks_like_the_last_does_not_end_the_dump() -> None:
    """The read-ahead thread stops after a chunk ending in what looks like NLMSG_DONE; if that was in
    fact the tail of a socket's message (its timer 20 ms, its receive queue 3 bytes), the parser reads
    the rest itself. Chunks come through a SOCK_SEQPACKET pair, which keeps their bounds as netlink does."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    message = struct.pack(
        "=IHHII4B2H16s16sI8s5I", 88, 20, 2, 1, 0, socket.AF_INET, ESTABLISHED, 0, 0, socket.htons(56744),
        socket.htons(443), bytes(16), bytes(16), 0, bytes(8), 20, 3, 0, 0, 4242,
    )  # fmt: skip
    done = struct.pack("=IHHIIi", 20, 3, 2, 1, 0, 0)
    assert _last_chunk(message) and _last_chunk(done) and not _last_chunk(message[:-4])
    a.send(message)
    a.send(done)
    chunks = _chunks(b, "test")
    got = [next(chunks)[0][:88], next(chunks)[0][:20]]
    chunks.close()
    a.close()
    assert got == [message, done]

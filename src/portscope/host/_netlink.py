"""Every TCP and UDP socket of this network namespace, dumped through netlink sock_diag (Linux only).

This is what ``ss`` does (iproute2 ``misc/ss.c``): one ``SOCK_DIAG_BY_FAMILY`` request per (family,
protocol) on a ``NETLINK_SOCK_DIAG`` socket, answered by a multi-part stream of ``struct inet_diag_msg``
(linux/inet_diag.h, sock_diag(7)). It is far cheaper than parsing /proc/net/tcp{,6} and it carries the
socket cookie. The kernel dumps the namespace the netlink socket lives in: the one we run in.

Kernel behaviour the code relies on (net/ipv4/inet_diag.c, tcp_diag.c, udp_diag.c, include/net/tcp_states.h):

- ``idiag_state`` is a TCP state number even for UDP: an unconnected UDP socket is TCP_CLOSE (7), a
  connected one TCP_ESTABLISHED (1).
- ``INET_DIAG_SKV6ONLY`` comes only for AF_INET6 sockets in TCP_LISTEN or TCP_CLOSE
  (``inet_diag_msg_attrs_fill``): listeners, bound-only TCP sockets and unconnected UDP. Other sockets
  report no V6ONLY flag, hence ``None`` rather than a guess.
- TIME_WAIT and SYN_RECV entries are mini-sockets (``inet_twsk_diag_fill``, ``inet_req_diag_fill``): no
  attributes, inode 0, and for TIME_WAIT uid 0. Orphans (closed by their process, e.g. FIN_WAIT2) keep
  their uid but have inode 0. We report those missing values as ``None``.
- Since Linux 6.6 TCP sockets that are bound but neither listening nor connecting are dumped only when
  the request asks for the pseudo-state TCP_BOUND_INACTIVE (13), and are then reported in state
  TCP_CLOSE. :data:`ALL_STATES` asks for them: they hold a port, which is what portscope is about. ``ss``
  before iproute2 6.7 never asks, so it does not list them.
- A dual-stack AF_INET6 socket talking IPv4 is in the AF_INET6 dump with IPv4-mapped addresses
  (``::ffff:a.b.c.d``, RFC 4291 section 2.5.5.2); we show the IPv4 address and set ``v4_mapped``.
- A dump reply comes in chunks of at most ~32 KiB (``netlink_recvmsg`` caps ``max_recvmsg_len`` at
  SKB_WITH_OVERHEAD(32768)), and the kernel builds the next chunk only when we read one, so SO_RCVBUF
  changes nothing (measured). For 100,000 sockets the kernel's side (~0.1 s, ~390 recvmsg) and our
  parse loop cost about the same; asking for TCP_BOUND_INACTIVE adds a walk of the bind hash (bhash2),
  every bound socket included, ~0.05 s more at that size.
- A dump is not an atomic snapshot: the kernel walks its hash tables bucket by bucket, so a socket that
  changes meanwhile may be missed or appear twice (this is as true of ``ss``).
"""

from __future__ import annotations

# The C module, not ``socket``: that one also imports selectors and builds IntEnums (~4 ms), and
# ``portscope explain`` reaches this module on its start-up path. The calls used here are the same.
import _socket as socket
import _thread
import errno
import os
import struct
import sys
from collections.abc import Callable, Iterable, Iterator

from portscope.errors import PlatformError, PortscopeError, UsageError

TYPE_CHECKING = False  # see portscope._namedtuple: typing is too slow to import at start-up
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from portscope._namedtuple import NamedTuple

__all__ = [
    "ALL_STATES",
    "TCP_STATE_NAMES",
    "RawSocket",
    "RawSockets",
    "dump_inet_sockets",
    "start_dump",
]

# include/net/tcp_states.h; 13 is the inet_diag pseudo-state TCP_BOUND_INACTIVE (Linux 6.6+).
TCP_STATE_NAMES: dict[int, str] = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
    13: "BOUND_INACTIVE",
}
ALL_STATES = 0xFFFFFFFF
"""The ``idiag_states`` bitmask asking for every state, bound-only TCP sockets included."""

_TCP_TIME_WAIT = 6
_TCP_CLOSE = 7
_TCP_LISTEN = 10
_V6ONLY_STATES = frozenset((_TCP_LISTEN, _TCP_CLOSE))  # inet_diag_msg_attrs_fill sends V6ONLY only then

_NETLINK_SOCK_DIAG = 4  # linux/netlink.h; the socket module does not name it
_SOCK_DIAG_BY_FAMILY = 20  # linux/sock_diag.h
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
_NLMSG_NOOP = 1
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_INET_DIAG_SKV6ONLY = 11
_INET_DIAG_NOCOOKIE = 0xFFFFFFFF
_NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

_PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}
_FAMILY_NAMES: dict[int, str] = {socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6"}

# struct nlmsghdr + struct inet_diag_req_v2: the request.
_REQUEST = struct.Struct("=IHHII BBBxI HH16s16sIII")
# struct nlmsghdr (flags, seq and pid skipped) + struct inet_diag_msg (timer, retrans, expires skipped);
# the third field is idiag_family, unused: the request named the family.
# The ports are big-endian inside a native-endian struct: unpacked native, then byte-swapped.
_MESSAGE = struct.Struct("=IH10xBB2xHH16s16sIII4xIIII")
_ERRNO = struct.Struct("=i")
_ATTR = struct.Struct("=HH")
_MESSAGE_SIZE = _MESSAGE.size  # 88
_SWAP_PORTS = sys.byteorder == "little"

_CHUNK = 1 << 20  # a dump chunk is ~32 KiB; a large buffer costs nothing and survives a kernel change
_ZERO16 = bytes(16)
_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
_CACHE_LIMIT = 1 << 16
_text_cache: dict[int, dict[bytes, str]] = {socket.AF_INET: {}, socket.AF_INET6: {}}


class RawSocket(NamedTuple):
    """One row of :class:`RawSockets`, for code and tests that look at a few sockets one at a time."""

    family: int
    protocol: str
    state: int
    local_address: str
    local_port: int
    remote_address: str | None
    remote_port: int | None
    v4_mapped: bool
    interface: int | None
    inode: int | None
    uid: int | None
    cookie: int
    receive_queue: int
    send_queue: int
    v6only: bool | None


class RawSockets:
    """The sock_diag dump, column by column: row ``i`` of every list is one socket.

    Columnar because a busy host has sockets by the hundred thousand: parallel lists cost a fraction of
    an object per socket, and turn into Arrow columns without a pass over rows.

    - ``family``: AF_INET or AF_INET6, the socket's own family (a dual-stack socket is AF_INET6).
    - ``protocol``: ``"tcp"`` or ``"udp"``.
    - ``state``: kernel TCP state number (:data:`TCP_STATE_NAMES`); UDP is 7 (unconnected) or 1.
    - ``local_address``/``remote_address``: text; IPv4-mapped IPv6 shown as the IPv4 it is.
      ``remote_address`` and ``remote_port`` are None when there is no peer (listeners, unconnected
      UDP); a local ``0.0.0.0`` or ``::`` is a real wildcard bind and stays.
    - ``v4_mapped``: True when the local or remote address was IPv4-mapped (``::ffff:a.b.c.d``).
    - ``interface``: ``idiag_if``, the bound device (SO_BINDTODEVICE) or IPv6 scope; None when unset.
    - ``inode``: the socket inode /proc/<pid>/fd links name; None for TIME_WAIT, SYN_RECV, orphans.
    - ``uid``: owner, mapped into our user namespace; None for TIME_WAIT.
    - ``cookie``: the kernel's 64-bit socket cookie, stable for the socket's life (SO_COOKIE): it tells
      a socket apart across snapshots where a 5-tuple or an inode may be reused.
    - ``receive_queue``/``send_queue``: bytes queued (``idiag_rqueue``/``idiag_wqueue``); for a
      listener, the accept queue length and its maximum (the backlog).
    - ``v6only``: IPV6_V6ONLY for AF_INET6 listeners, bound-only sockets and unconnected UDP; None
      where the kernel does not say (AF_INET, other states).

    A plain class, not a dataclass: ``portscope explain`` uses this module and must not pay for
    importing :mod:`dataclasses` (~10 ms).
    """

    __slots__ = RawSocket._fields

    def __init__(self) -> None:
        self.family: list[int] = []
        self.protocol: list[str] = []
        self.state: list[int] = []
        self.local_address: list[str] = []
        self.local_port: list[int] = []
        self.remote_address: list[str | None] = []
        self.remote_port: list[int | None] = []
        self.v4_mapped: list[bool] = []
        self.interface: list[int | None] = []
        self.inode: list[int | None] = []
        self.uid: list[int | None] = []
        self.cookie: list[int] = []
        self.receive_queue: list[int] = []
        self.send_queue: list[int] = []
        self.v6only: list[bool | None] = []

    def __len__(self) -> int:
        return len(self.state)

    def row(self, index: int) -> RawSocket:
        return RawSocket(
            self.family[index],
            self.protocol[index],
            self.state[index],
            self.local_address[index],
            self.local_port[index],
            self.remote_address[index],
            self.remote_port[index],
            self.v4_mapped[index],
            self.interface[index],
            self.inode[index],
            self.uid[index],
            self.cookie[index],
            self.receive_queue[index],
            self.send_queue[index],
            self.v6only[index],
        )

    def __iter__(self) -> Iterator[RawSocket]:
        return (self.row(i) for i in range(len(self.state)))


def _address_text(family: int, raw: bytes) -> str:
    """inet_ntop, except that an IPv4-mapped IPv6 address comes out as the IPv4 address it carries."""
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    if raw[:12] == _MAPPED_PREFIX:
        return socket.inet_ntop(socket.AF_INET, raw[12:])
    return socket.inet_ntop(socket.AF_INET6, raw)


def _open() -> socket.socket:
    if not sys.platform.startswith("linux") or not hasattr(socket, "AF_NETLINK"):
        raise PlatformError(f"netlink sock_diag is Linux-only; this is {sys.platform}")
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG)
    except OSError as exc:
        raise PlatformError(f"cannot open a NETLINK_SOCK_DIAG socket: {exc.strerror or exc}") from exc
    return sock


_SWITCH = 0.0002  # seconds: the GIL switch interval while a dump is read (Python's default is 0.005)
_SLACK = bytes(_MESSAGE_SIZE)  # after each chunk: unpacking a short final message never runs off the end
_DONE_TAIL = (20).to_bytes(4, sys.byteorder) + _NLMSG_DONE.to_bytes(2, sys.byteorder)


def _last_chunk(data: bytes) -> bool:
    """Whether the kernel sends nothing after this chunk: it ends with NLMSG_DONE (20 bytes: no extended
    ACK was asked for) or is the NLMSG_ERROR that refuses the request. A chunk taken for the last one
    wrongly only makes the parser read the rest itself (:func:`_chunks`)."""
    return data[-20:-14] == _DONE_TAIL or data[4:6] == _NLMSG_ERROR.to_bytes(2, sys.byteorder)


def _chunks(sock: socket.socket, what: str) -> Iterator[tuple[bytes, int]]:
    """The reply to a dump request, chunk by chunk ((bytes with slack after them, length)), read one
    ahead of the parser by another thread.

    The kernel builds each ~32 KiB chunk only when it is read, and that is half of a dump's time
    (~0.15 s of 0.25 at 100,000 sockets): a thread that reads the next chunk while the caller parses
    this one overlaps the two (``recv`` releases the GIL; the switch interval is lowered meanwhile so
    that the reader gets it back at once). The reader stops after the last chunk; if the parser has
    not met the end of the dump by then, it reads on itself. The socket is closed when the dump ends.
    """
    from _queue import SimpleQueue

    queue: SimpleQueue[bytes | OSError | None] = SimpleQueue()

    def read() -> None:
        try:
            while True:
                data = sock.recv(_CHUNK)
                queue.put(data + _SLACK if data else data)
                if not data or _last_chunk(data):
                    break
        except OSError as exc:  # the parser raises it, as a PlatformError
            queue.put(exc)
        finally:
            queue.put(None)  # however the reader ends, the parser is not left waiting: it reads on itself

    _thread.start_new_thread(read, ())
    try:
        while (item := queue.get()) is not None:
            if isinstance(item, OSError):
                raise _read_error(item, what) from item
            if not item:
                raise PlatformError(f"sock_diag dump of {what}: the kernel closed the socket mid-dump")
            yield item, len(item) - len(_SLACK)
        yield from _chunks_here(sock, what)  # the reader took a chunk for the last one: read the rest here
    finally:
        sock.close()


def _chunks_here(sock: socket.socket, what: str) -> Iterator[tuple[bytes, int]]:
    """The reply to a dump request, chunk by chunk as :func:`_chunks` gives it, read by this thread."""
    while True:
        try:
            data = sock.recv(_CHUNK)
        except OSError as exc:
            raise _read_error(exc, what) from exc
        if not data:
            raise PlatformError(f"sock_diag dump of {what}: the kernel closed the socket mid-dump")
        yield data + _SLACK, len(data)


def _read_error(exc: OSError, what: str) -> PlatformError:
    return PlatformError(f"sock_diag dump of {what} failed while reading: {exc.strerror or exc}")


def _netlink_error(buf: bytes | bytearray, offset: int, what: str) -> PlatformError:
    """Translate the errno of an NLMSG_ERROR or NLMSG_DONE payload (a negative int, netlink(7))."""
    (code,) = _ERRNO.unpack_from(buf, offset + 16)
    number = -code
    name = errno.errorcode.get(number, str(number))
    hint = ""
    if number in (errno.EPERM, errno.EACCES):
        hint = " (sock_diag is blocked here, as in some sandboxes)"
    elif number == errno.ENOENT:
        hint = " (the kernel has no sock_diag handler for it: module inet_diag/tcp_diag/udp_diag missing?)"
    return PlatformError(f"sock_diag dump of {what} failed: {os.strerror(number)} ({name}){hint}")


def _dump_one(
    sock: socket.socket,
    read_ahead: bool,
    family: int,
    protocol: int,
    states: int,
    seq: int,
    what: str,
    out: RawSockets,
) -> int:
    """Send one dump request and parse the reply into ``out``; returns the number of sockets added.

    The loop is the hot path (100,000 sockets in a fraction of a second): bound methods and constants
    are locals, one ``unpack_from`` per message at a computed offset, no object per message, and the
    attributes are walked only where the one we keep (V6ONLY) can be.
    """
    request = _REQUEST.pack(
        _REQUEST.size,
        _SOCK_DIAG_BY_FAMILY,
        _NLM_F_REQUEST | _NLM_F_DUMP,
        seq,
        0,
        family,
        protocol,
        0,  # idiag_ext: no extension wanted; V6ONLY is sent unasked
        states,
        0,
        0,
        _ZERO16,
        _ZERO16,
        0,
        _INET_DIAG_NOCOOKIE,
        _INET_DIAG_NOCOOKIE,
    )
    try:
        sock.sendto(request, (0, 0))
    except OSError as exc:
        raise PlatformError(f"cannot send the sock_diag request for {what}: {exc.strerror or exc}") from exc

    append_state = out.state.append
    append_lport = out.local_port.append
    append_laddr = out.local_address.append
    append_rport = out.remote_port.append
    append_raddr = out.remote_address.append
    append_if = out.interface.append
    append_inode = out.inode.append
    append_uid = out.uid.append
    append_cookie = out.cookie.append
    append_rq = out.receive_queue.append
    append_wq = out.send_queue.append
    append_v6only = out.v6only.append
    unpack = _MESSAGE.unpack_from
    unpack_attr = _ATTR.unpack_from
    cache = _text_cache[family]
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    is_v6 = family == socket.AF_INET6
    v6only_states = _V6ONLY_STATES
    swap = _SWAP_PORTS
    zero = _ZERO16
    by_family = _SOCK_DIAG_BY_FAMILY
    size = _MESSAGE_SIZE
    count = 0

    for buf, n in _chunks(sock, what) if read_ahead else _chunks_here(sock, what):
        off = 0
        while off < n:
            # One unpack per message; a short control message (NLMSG_DONE is 20 bytes) reads stale
            # buffer bytes past its end, which the slack after _CHUNK keeps in bounds, and we ignore.
            (
                length,
                kind,
                _,
                state,
                sport,
                dport,
                src,
                dst,
                ifindex,
                cookie_lo,
                cookie_hi,
                rqueue,
                wqueue,
                uid,
                inode,
            ) = unpack(buf, off)
            if kind != by_family:
                if kind == _NLMSG_DONE:
                    if length >= 20 and _ERRNO.unpack_from(buf, off + 16)[0] < 0:
                        raise _netlink_error(buf, off, what)
                    return count
                if kind == _NLMSG_ERROR:
                    raise _netlink_error(buf, off, what)
                if kind == _NLMSG_NOOP and length >= 16:
                    off += (length + 3) & ~3
                    continue
                raise PlatformError(f"sock_diag dump of {what}: unexpected netlink message type {kind}")
            if length < size or off + length > n:
                raise PlatformError(f"sock_diag dump of {what}: truncated message ({length} bytes at {off})")
            if swap:
                sport = ((sport & 0xFF) << 8) | (sport >> 8)
                dport = ((dport & 0xFF) << 8) | (dport >> 8)
            append_state(state)
            append_lport(sport)
            text = cache.get(src)
            if text is None:
                text = cache[src] = _address_text(family, src)
            append_laddr(text)
            if dport == 0 and dst == zero:
                append_rport(None)
                append_raddr(None)
            else:
                append_rport(dport)
                text = cache.get(dst)
                if text is None:
                    text = cache[dst] = _address_text(family, dst)
                append_raddr(text)
            append_if(ifindex or None)
            append_inode(inode or None)
            append_uid(None if state == _TCP_TIME_WAIT else uid)
            append_cookie(cookie_lo | (cookie_hi << 32))
            append_rq(rqueue)
            append_wq(wqueue)
            flag: bool | None = None
            if is_v6 and state in v6only_states:
                attr = off + size
                end = off + length
                while attr + 4 <= end:
                    attr_len, attr_type = unpack_attr(buf, attr)
                    if attr_len < 4:
                        break
                    if attr_type & _NLA_TYPE_MASK == _INET_DIAG_SKV6ONLY:
                        flag = buf[attr + 4] != 0
                        break
                    attr += (attr_len + 3) & ~3
            append_v6only(flag)
            count += 1
            off += (length + 3) & ~3
    raise PlatformError(f"sock_diag dump of {what}: the reply ended without NLMSG_DONE")  # pragma: no cover


def _check_choices(protocols: Iterable[str], families: Iterable[int]) -> tuple[list[str], list[int]]:
    protos = list(protocols)
    fams = list(families)
    for proto in protos:
        if proto not in _PROTOCOLS:
            raise UsageError(f"invalid protocol {proto!r}; valid ones are: {', '.join(sorted(_PROTOCOLS))}")
    for fam in fams:
        if fam not in _FAMILY_NAMES:
            valid = ", ".join(f"{name} ({number})" for number, name in _FAMILY_NAMES.items())
            raise UsageError(f"invalid address family {fam!r}; valid ones are: {valid}")
    return protos, fams


def dump_inet_sockets(
    protocols: Iterable[str] = ("tcp", "udp"),
    families: Iterable[int] = (socket.AF_INET, socket.AF_INET6),
    states: int = ALL_STATES,
    *,
    read_ahead: bool = True,
) -> RawSockets:
    """Dump the TCP and/or UDP sockets of this network namespace, one sock_diag request per pair.

    ``states`` is the kernel bitmask ``1 << state`` (:data:`TCP_STATE_NAMES`), applied by the kernel.
    ``read_ahead``: read each next chunk on another thread while this one is parsed (:func:`_chunks`);
    a caller whose other core is busy already (a snapshot's owner walk) gains nothing from it.
    Raises :class:`~portscope.errors.PlatformError` when sock_diag is unavailable (not Linux, no
    netlink in a sandbox, a missing diag module), so the caller can fall back to another back-end.
    """
    protos, fams = _check_choices(protocols, families)
    if not 0 <= states <= ALL_STATES:
        raise UsageError(f"invalid states mask {states!r}; expected a 32-bit mask of 1 << state")

    out = RawSockets()
    seq = 0
    switching = sys.getswitchinterval()
    if read_ahead:
        sys.setswitchinterval(min(switching, _SWITCH))  # see _chunks: the reader must not wait for the GIL
    try:
        for family in fams:
            for proto in protos:
                seq += 1
                sock = _open()  # one per request: a reader that outlived its dump can take nothing from the next
                start = len(out.state)
                try:
                    what = f"{proto}/{_FAMILY_NAMES[family]}"
                    count = _dump_one(sock, read_ahead, family, _PROTOCOLS[proto], states, seq, what, out)
                finally:
                    sock.close()
                out.family.extend([family] * count)
                out.protocol.extend([proto] * count)
                if family == socket.AF_INET6:
                    # Mapped addresses are the only IPv6 ones whose text has no colon.
                    out.v4_mapped.extend(
                        ":" not in local or (remote is not None and ":" not in remote)
                        for local, remote in zip(out.local_address[start:], out.remote_address[start:], strict=True)
                    )
                else:
                    out.v4_mapped.extend([False] * count)
    finally:
        sys.setswitchinterval(switching)
    return out


def start_dump(protocols: Iterable[str] = ("tcp", "udp")) -> Callable[[], RawSockets]:
    """Start :func:`dump_inet_sockets` on another thread now; the returned function waits for its result
    (or raises its error).

    For ``portscope explain PORT``, whose look-up of who uses the port is mostly the kernel walking its
    socket hash tables (3-4 ms even on an idle host): the walk releases the GIL, so it runs on the other
    core while the command imports and explains. ``_thread``, not ``threading``, whose import would
    cost what the overlap saves.
    """
    wanted = tuple(protocols)
    done = _thread.allocate_lock()
    done.acquire()
    box: list[RawSockets | PortscopeError] = []

    def work() -> None:
        try:
            box.append(dump_inet_sockets(wanted))
        except PortscopeError as exc:  # the waiter raises it
            box.append(exc)
        finally:
            done.release()

    _thread.start_new_thread(work, ())

    def result() -> RawSockets:
        with done:
            found = box[0] if box else PlatformError("the socket dump stopped without a result")
        if isinstance(found, PortscopeError):
            raise found
        return found

    return result

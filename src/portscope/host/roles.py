"""Give every socket a role, from the kernel's facts first and port numbers second, and say which decided.

Facts, in order:
- a TCP socket in LISTEN is a listener;
- a connected TCP socket whose local address and port a listener of this host holds was accepted
  from it: ``inbound``;
- a TCP socket in SYN_SENT is connecting out: ``outbound``; so is one whose remote end is a
  listener of this very host (a loopback or local-address connection, seen from its client side).
Inferences, marked ``inferred``, from the ports' classes (:mod:`portscope.ports.classify`, judged by
the socket's own network namespace's range):
- any other connected socket was opened by this host (only accept() makes the other kind), so it is
  ``outbound`` when its local port is ephemeral, ``peer`` when both sides are ephemeral and neither
  listens, ``inbound`` when its local port is a service port whose listener has gone, ``unknown``
  otherwise;
- an unconnected UDP socket bound to an ephemeral port is a client's (a resolver's, a browser's QUIC
  socket): ``client``, never a "new listener" (the false alarm users of osquery-defense-kit, Wazuh
  rule 533 and ntopng #2076 complain of). Bound to any other port (a service port, WireGuard's 51820
  inside the range), it is a listener.

Exposure of a listener: ``loopback`` (127.0.0.0/8, ::1), ``all`` (0.0.0.0 or ::) or ``addresses``.
An IPv6 wildcard listener without IPV6_V6ONLY (INET_DIAG_SKV6ONLY = 0) takes IPv4 too: ``dual_stack``.

One socket at a time: :class:`ListenerIndex` holds what the facts need (the listeners and this
host's addresses, per namespace) and can be added to and removed from as sockets come and go, and
:func:`classify_socket` judges one socket against it: what a watcher receiving one event at a time
uses. :func:`classify` fills a whole :class:`~portscope.host.table.SocketTable` with the same two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from portscope.host.table import SocketTable
from portscope.ports.classify import CODE_EPHEMERAL, CODE_SERVICE, class_table
from portscope.ports.curated import CURATED_SERVICES
from portscope.ports.iana import registry
from portscope.ports.ranges import EPHEMERAL_RANGES
from portscope.records import ClientRange

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from portscope._namedtuple import NamedTuple

__all__ = [
    "DEFAULT_RANGE",
    "REASONS",
    "ROLES",
    "ListenerIndex",
    "NamespaceRanges",
    "SocketRole",
    "classify",
    "classify_socket",
    "exposure_of",
]

_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 - names wildcard binds, binds nothing
_LINUX = EPHEMERAL_RANGES[0]
# The range a namespace is judged by when its own could not be read: the Linux kernel's default.
DEFAULT_RANGE = ClientRange(
    _LINUX.low, _LINUX.high, "Linux default (this host's range could not be read)", _LINUX.source
)


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def exposure_of(address: str) -> str:
    """``loopback``, ``all`` or ``addresses`` for a listener bound to ``address``."""
    if address in _WILDCARDS:
        return "all"
    if _is_loopback(address):
        return "loopback"
    return "addresses"


# Every role a socket can get (docs/live.md says what each means).
ROLES = ("listen", "inbound", "outbound", "client", "peer", "unknown")

# Why a socket got its role: a stable code in the table (scripts match on it), a sentence for people.
REASONS = {
    "listen-state": "TCP socket in LISTEN state",
    "bound-idle": "TCP socket bound to a port but neither listening nor connected: it holds the port, idle",
    "udp-ephemeral-unconnected": "unconnected UDP socket on an ephemeral port: a client's socket (resolver, QUIC), "
    "not a service",
    "udp-bound": "unconnected UDP socket bound to a port: it receives from anyone",
    "listener-port": "its local address and port are a listening socket's: accepted from that listener",
    "syn-sent": "SYN sent: this host is connecting out",
    "remote-is-local-listener": "its remote end is a listening socket of this very host",
    "udp-listener-port": "connected UDP socket on a port that a UDP listener of this host also holds",
    "both-ephemeral": "both ports are ephemeral and neither is a listening port",
    "local-ephemeral": "its local port is in the ephemeral range and no listener holds it",
    "local-service-port": "its local port is a service port (its listener has gone) and the remote port a client's",
    "remote-service-port": "its remote port is a service port; the program bound its local port itself",
    "no-clue": "neither port tells which side is the client",
}


class SocketRole(NamedTuple):
    """What classification says of one socket: the columns of the socket table it fills (their list is
    :data:`portscope.host.columns.SOCKET_COLUMNS`' ``role`` stage)."""

    # BEGIN generated from portscope.host.columns: python scripts/generate.py
    role: str
    role_basis: str
    role_reason: str
    exposure: str | None
    dual_stack: bool | None
    local_service: str | None
    remote_service: str | None
    local_ephemeral: bool
    remote_ephemeral: bool | None
    # END generated


class NamespaceRanges:
    """Each network namespace's client range, and per (namespace, protocol) the one classifier's table.

    ``ranges`` maps a namespace inode (None: "unknown namespace") to its range; a namespace not in it
    is judged by the range of None, else the first given, else :data:`DEFAULT_RANGE`.
    """

    def __init__(self, ranges: Mapping[int | None, ClientRange]) -> None:
        self.ranges = dict(ranges)
        self.default = self.ranges.get(None) or next(iter(self.ranges.values()), DEFAULT_RANGE)
        self._tables: dict[tuple[int | None, str], bytes] = {}

    def table(self, netns: int | None, protocol: str) -> bytes:
        """65,536 class codes (ports/classify.py), cached per namespace and protocol."""
        key = (netns, protocol)
        found = self._tables.get(key)
        if found is None:
            found = self._tables[key] = class_table(protocol, self.ranges.get(netns, self.default))
        return found


_NAMES: dict[str, list[str | None]] = {}


def _names(protocol: str) -> list[str | None]:
    """A 65,536-entry list of service names for ``protocol``: IANA's, else the curated list's."""
    names = _NAMES.get(protocol)
    if names is None:
        names = [None] * 65536
        for (port, proto), name in registry().service_names().items():
            if proto == protocol:
                names[port] = name
        for entry in CURATED_SERVICES:
            if protocol in entry.protocols:
                for port in range(entry.low, entry.high + 1):
                    names[port] = names[port] or entry.name
        _NAMES[protocol] = names
    return names


class ListenerIndex:
    """What the facts need to judge a socket: the listeners of each namespace and this host's addresses.

    Counted, not sets, so that removing one of two sockets on a port (SO_REUSEPORT, a restart's
    overlap) keeps the port held. Add every socket (listeners and connections alike: a connection's
    local address is one of this host's) and remove it when it closes.
    """

    def __init__(self) -> None:
        self.tcp: Counter[tuple[int | None, str, int]] = Counter()  # LISTEN sockets: (netns, address, port)
        self.tcp_wildcard: Counter[tuple[int | None, int]] = Counter()  # LISTEN on 0.0.0.0 or ::
        self.udp: Counter[tuple[int | None, int]] = Counter()  # unconnected UDP sockets: (netns, port)
        self.addresses: Counter[str] = Counter()  # this host's addresses, as its sockets' local ends

    def _change(
        self, step: int, protocol: str, state: str, address: str, port: int, remote_port: int | None, netns: int | None
    ) -> None:
        if state == "LISTEN":
            self.tcp[(netns, address, port)] += step
            if address in _WILDCARDS:
                self.tcp_wildcard[(netns, port)] += step
        elif protocol == "udp" and remote_port is None:
            self.udp[(netns, port)] += step
        if address not in _WILDCARDS:
            self.addresses[address] += step
        if step < 0:  # drop the keys that reached zero: nothing grows with uptime
            for counter in (self.tcp, self.tcp_wildcard, self.udp, self.addresses):
                if counter and min(counter.values()) <= 0:
                    for key in [k for k, n in counter.items() if n <= 0]:
                        del counter[key]

    def add(
        self, protocol: str, state: str, address: str, port: int, remote_port: int | None, netns: int | None
    ) -> None:
        """A socket appeared (or was in the snapshot)."""
        self._change(1, protocol, state, address, port, remote_port, netns)

    def remove(
        self, protocol: str, state: str, address: str, port: int, remote_port: int | None, netns: int | None
    ) -> None:
        """A socket went away (closed, or changed state: remove the old state, add the new)."""
        self._change(-1, protocol, state, address, port, remote_port, netns)

    def tcp_listens(self, netns: int | None, address: str, port: int) -> bool:
        """Whether a TCP listener of ``netns`` takes connections to ``address``:``port``."""
        return (netns, port) in self.tcp_wildcard or (netns, address, port) in self.tcp


def classify_socket(
    index: ListenerIndex,
    ranges: NamespaceRanges,
    protocol: str,
    state: str,
    local_address: str,
    local_port: int,
    remote_address: str | None,
    remote_port: int | None,
    netns: int | None,
    v6only: bool | None = None,
) -> SocketRole:
    """One socket's role, exposure and per-side port classes, judged against ``index`` (the module
    docstring says how; ``index`` should already hold this socket)."""
    classes = ranges.table(netns, protocol)
    names = _names(protocol)
    local_class = classes[local_port]
    local_eph = local_class == CODE_EPHEMERAL
    local_service = names[local_port]
    if remote_port is None:  # nobody on the other end: a listener, a bound UDP socket, or an idle bound TCP one
        if protocol == "tcp" and state != "LISTEN":
            return SocketRole("unknown", "fact", "bound-idle", None, None, local_service, None, local_eph, None)
        exposure = exposure_of(local_address)
        dual = v6only is False if local_address == "::" else None
        if protocol == "tcp":
            return SocketRole("listen", "fact", "listen-state", exposure, dual, local_service, None, local_eph, None)
        if local_eph:  # a client's socket: the kernel picked its port
            return SocketRole(
                "client", "inferred", "udp-ephemeral-unconnected", exposure, dual, local_service, None, True, None
            )
        return SocketRole("listen", "fact", "udp-bound", exposure, dual, local_service, None, False, None)
    remote_class = classes[remote_port]
    remote_eph = remote_class == CODE_EPHEMERAL
    remote_service = names[remote_port]
    decided = _connected_role(
        index, protocol, state, local_address, local_port, remote_address, remote_port, netns, local_class, remote_class
    )
    return SocketRole(*decided, None, None, local_service, remote_service, local_eph, remote_eph)


def _connected_role(
    index: ListenerIndex,
    protocol: str,
    state: str,
    local_address: str,
    local_port: int,
    remote_address: str | None,
    remote_port: int,
    netns: int | None,
    local_class: int,
    remote_class: int,
) -> tuple[str, str, str]:
    """(role, basis, reason) of a socket with a remote end: the facts first, then the ports' classes."""
    if protocol == "tcp":
        if index.tcp_listens(netns, local_address, local_port):
            return "inbound", "fact", "listener-port"
        if state == "SYN_SENT":
            return "outbound", "fact", "syn-sent"
        local_peer = remote_address is not None and remote_address in index.addresses
        if local_peer and index.tcp_listens(netns, remote_address or "", remote_port):
            return "outbound", "fact", "remote-is-local-listener"
    elif local_class != CODE_EPHEMERAL and (netns, local_port) in index.udp:
        return "inbound", "inferred", "udp-listener-port"
    if local_class == CODE_EPHEMERAL:
        if remote_class == CODE_EPHEMERAL:
            return "peer", "inferred", "both-ephemeral"
        return "outbound", "inferred", "local-ephemeral"
    local_serves = remote_class == CODE_EPHEMERAL or (local_class == CODE_SERVICE and remote_class != CODE_SERVICE)
    if local_class == CODE_SERVICE and remote_class == CODE_SERVICE:  # two services: the lower port serves
        local_serves = local_port < remote_port
    elif remote_class != CODE_SERVICE and not local_serves:
        return "unknown", "inferred", "no-clue"
    if local_serves:
        return "inbound", "inferred", "local-service-port"
    return "outbound", "inferred", "remote-service-port"


def classify(table: SocketTable, ranges: Mapping[int | None, ClientRange]) -> None:
    """Fill role, role_basis, role_reason, exposure, dual_stack and the per-side port columns.

    ``ranges`` maps a namespace inode (the table's ``netns`` column; None for "unknown namespace")
    to that namespace's client range. The index is built from the whole table first (a connection
    may come before its listener in the dump), then each socket is judged by :func:`classify_socket`.
    """
    index = ListenerIndex()
    columns = (table.protocol, table.state, table.local_address, table.local_port, table.remote_port, table.netns)
    add = index.add
    for row in zip(*columns, strict=True):
        add(*row)
    book = NamespaceRanges(ranges)
    rows = zip(
        table.protocol,
        table.state,
        table.local_address,
        table.local_port,
        table.remote_address,
        table.remote_port,
        table.netns,
        table.v6only,
        strict=True,
    )
    judged = [classify_socket(index, book, *row) for row in rows]
    if not judged:
        for name in SocketRole._fields:
            setattr(table, name, [])
        return
    for name, values in zip(SocketRole._fields, zip(*judged, strict=True), strict=True):
        setattr(table, name, list(values))

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
from collections.abc import Callable, Mapping
from itertools import compress
from operator import getitem

from portscope._gc import collector_paused
from portscope.host.table import SocketTable
from portscope.ports.classify import CODE_EPHEMERAL, CODE_SERVICE, class_table
from portscope.ports.curated import CURATED_SERVICES
from portscope.ports.iana import registry
from portscope.ports.ranges import EPHEMERAL_RANGES
from portscope.records import ClientRange

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any, NamedTuple
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

    def forget(self, netns: int | None) -> None:
        """A namespace went away (a container stopped): its range and tables go too."""
        self.ranges.pop(netns, None)
        for key in [key for key in self._tables if key[0] == netns]:
            del self._tables[key]

    def table(self, netns: int | None, protocol: str) -> bytes:
        """65,536 class codes (ports/classify.py), cached per namespace and protocol, and one more at
        :data:`NO_PORT`, :data:`CODE_NO_PORT`: the "port" of a socket with no remote end."""
        key = (netns, protocol)
        found = self._tables.get(key)
        if found is None:
            classes = class_table(protocol, self.ranges.get(netns, self.default))
            found = self._tables[key] = classes + bytes([CODE_NO_PORT])
        return found


# A socket without a remote end is looked up at this "port": its class and name tables end with an
# entry for it, so that whole columns are looked up by C-level maps, None and all.
NO_PORT, CODE_NO_PORT = 65536, 3
_EPHEMERAL_OF_CODE = (False, True, False, None)  # class code -> the *_ephemeral column's value

_NAMES: dict[str, list[str | None]] = {}


def _names(protocol: str) -> list[str | None]:
    """A list of service names for ``protocol`` by port: IANA's, else the curated list's (None at
    :data:`NO_PORT`)."""
    names = _NAMES.get(protocol)
    if names is None:
        names = [None] * (NO_PORT + 1)
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

    @classmethod
    def of_table(cls, table: SocketTable) -> ListenerIndex:
        """Every socket of ``table`` added at once: the same counts as :meth:`add` for each row, made
        by C-level counting over the columns (a busy host's table holds 100,000 rows)."""
        index = cls()
        netns, addresses, ports = table.netns, table.local_address, table.local_port
        listeners = list(compress(zip(netns, addresses, ports, strict=True), map("LISTEN".__eq__, table.state)))
        index.tcp.update(listeners)
        index.tcp_wildcard.update((ns, port) for ns, address, port in listeners if address in _WILDCARDS)
        udp = compress(zip(netns, ports, table.remote_port, strict=True), map("udp".__eq__, table.protocol))
        index.udp.update((ns, port) for ns, port, remote in udp if remote is None)
        index.addresses.update(addresses)
        for wildcard in _WILDCARDS:
            index.addresses.pop(wildcard, None)
        return index

    def _change(
        self, step: int, protocol: str, state: str, address: str, port: int, remote_port: int | None, netns: int | None
    ) -> None:
        touched: list[tuple[Counter[Any], Any]] = []
        if state == "LISTEN":
            touched.append((self.tcp, (netns, address, port)))
            if address in _WILDCARDS:
                touched.append((self.tcp_wildcard, (netns, port)))
        elif protocol == "udp" and remote_port is None:
            touched.append((self.udp, (netns, port)))
        if address not in _WILDCARDS:
            touched.append((self.addresses, address))
        for counter, key in touched:
            counter[key] += step
            if counter[key] <= 0:  # gone: its key goes too, so that nothing grows with uptime
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


# A socket's role, basis, reason, exposure and dual_stack. A connected socket's are constants, shared:
# the table path makes 100,000 of them, and new tuples by the hundred thousand are what the cyclic
# garbage collector walks again and again.
_TCP_LISTEN, _UDP_BOUND = ("listen", "fact", "listen-state"), ("listen", "fact", "udp-bound")
_UDP_CLIENT = ("client", "inferred", "udp-ephemeral-unconnected")
_BOUND_IDLE = ("unknown", "fact", "bound-idle", None, None)
_LISTENER_PORT, _SYN_SENT = (
    ("inbound", "fact", "listener-port", None, None),
    ("outbound", "fact", "syn-sent", None, None),
)
_REMOTE_LISTENER = ("outbound", "fact", "remote-is-local-listener", None, None)
_UDP_SERVER = ("inbound", "inferred", "udp-listener-port", None, None)
_PEER = ("peer", "inferred", "both-ephemeral", None, None)
_LOCAL_EPHEMERAL = ("outbound", "inferred", "local-ephemeral", None, None)
_NO_CLUE = ("unknown", "inferred", "no-clue", None, None)
_LOCAL_SERVICE = ("inbound", "inferred", "local-service-port", None, None)
_REMOTE_SERVICE = ("outbound", "inferred", "remote-service-port", None, None)
_Role = tuple[str, str, str, str | None, bool | None]


def _judge_with(index: ListenerIndex) -> Callable[..., _Role]:
    """The one decision, bound to ``index``'s counters: ``judge(classes, protocol, state, local_address,
    local_port, remote_address, remote_port, netns, v6only)`` gives (role, basis, reason, exposure,
    dual_stack), ``classes`` being the socket's namespace's class table. :func:`classify_socket` and
    :func:`classify` both judge with it. (A closure: the counters are read from its cells, not looked
    up as attributes, as a whole table is judged a socket at a time.)"""
    wildcard, listening, addresses, udp = index.tcp_wildcard, index.tcp, index.addresses, index.udp

    def judge(
        classes: bytes,
        protocol: str,
        state: str,
        local_address: str,
        local_port: int,
        remote_address: str | None,
        remote_port: int | None,
        netns: int | None,
        v6only: bool | None,
    ) -> _Role:
        if remote_port is None:  # nobody on the other end: a listener, a bound UDP socket, or an idle bound TCP one
            if protocol == "tcp":
                if state != "LISTEN":
                    return _BOUND_IDLE
                decided = _TCP_LISTEN
            elif classes[local_port] == CODE_EPHEMERAL:  # the kernel picked the port: a client's socket
                decided = _UDP_CLIENT
            else:
                decided = _UDP_BOUND
            return (*decided, exposure_of(local_address), v6only is False if local_address == "::" else None)
        if protocol == "tcp":
            if (netns, local_port) in wildcard or (netns, local_address, local_port) in listening:
                return _LISTENER_PORT
            if state == "SYN_SENT":
                return _SYN_SENT
            if remote_address in addresses and (
                (netns, remote_port) in wildcard or (netns, remote_address, remote_port) in listening
            ):
                return _REMOTE_LISTENER
        elif classes[local_port] != CODE_EPHEMERAL and (netns, local_port) in udp:
            return _UDP_SERVER
        local, remote = classes[local_port], classes[remote_port]
        if local == CODE_EPHEMERAL:
            return _PEER if remote == CODE_EPHEMERAL else _LOCAL_EPHEMERAL
        if remote == CODE_EPHEMERAL:
            return _LOCAL_SERVICE
        if local == CODE_SERVICE:
            if remote != CODE_SERVICE or local_port < remote_port:  # two services: the lower port serves
                return _LOCAL_SERVICE
            return _REMOTE_SERVICE
        return _REMOTE_SERVICE if remote == CODE_SERVICE else _NO_CLUE

    return judge


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
    """One socket's role, exposure and per-side port classes and names, judged against ``index``
    (the module docstring says how; ``index`` should already hold this socket)."""
    classes, names = ranges.table(netns, protocol), _names(protocol)
    role = _judge_with(index)(
        classes, protocol, state, local_address, local_port, remote_address, remote_port, netns, v6only
    )
    remote = NO_PORT if remote_port is None else remote_port
    local_ephemeral = classes[local_port] == CODE_EPHEMERAL
    return SocketRole(*role, names[local_port], names[remote], local_ephemeral, _EPHEMERAL_OF_CODE[classes[remote]])


def classify(table: SocketTable, ranges: Mapping[int | None, ClientRange]) -> None:
    """Fill role, role_basis, role_reason, exposure, dual_stack and the per-side port columns.

    ``ranges`` maps a namespace inode (the table's ``netns`` column; None for "unknown namespace")
    to that namespace's client range. The index holds the whole table first (a connection may come
    before its listener in the dump), then each socket is judged alone, by the decision
    :func:`classify_socket` makes; the columns are filled from the results at once.
    """
    with collector_paused():
        index = ListenerIndex.of_table(table)
        book = NamespaceRanges(ranges)
        keys = set(zip(table.netns, table.protocol, strict=True))
        tables = {key: book.table(*key) for key in keys}
        names = {protocol: _names(protocol) for _, protocol in keys}
        # Each row's class table and names, picked by C-level maps rather than a look-up per row.
        row_tables = list(map(tables.__getitem__, zip(table.netns, table.protocol, strict=True)))
        row_names = list(map(names.__getitem__, table.protocol))
        roles = map(
            _judge_with(index),
            row_tables,
            table.protocol,
            table.state,
            table.local_address,
            table.local_port,
            table.remote_address,
            table.remote_port,
            table.netns,
            table.v6only,
        )
        columns = list(zip(*roles, strict=True)) or [() for _ in range(5)]
        table.role, table.role_basis, table.role_reason, table.exposure, table.dual_stack = map(list, columns)
        # The per-side columns are look-ups, made column-wise: each port's name and class.
        remote_ports = [NO_PORT if port is None else port for port in table.remote_port]
        for side, ports in (("local", table.local_port), ("remote", remote_ports)):
            setattr(table, f"{side}_service", list(map(getitem, row_names, ports)))
            codes = map(getitem, row_tables, ports)
            setattr(table, f"{side}_ephemeral", list(map(_EPHEMERAL_OF_CODE.__getitem__, codes)))

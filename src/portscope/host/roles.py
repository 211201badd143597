"""Give every socket a role, from the kernel's facts first and port numbers second, and say which decided.

Facts, in order:
- a TCP socket in LISTEN is a listener;
- a connected TCP socket whose local address and port a listener of this host holds was accepted
  from it: ``inbound``;
- a TCP socket in SYN_SENT is connecting out: ``outbound``; so is one whose remote end is a
  listener of this very host (a loopback or local-address connection, seen from its client side).
Inferences, marked ``inferred``:
- any other connected socket was opened by this host (only accept() makes the other kind), so it is
  ``outbound`` when its local port lies in this namespace's ephemeral range, ``peer`` when both
  sides are ephemeral and neither listens, ``inbound`` when its local port is a service port whose
  listener has gone, ``unknown`` otherwise;
- an unconnected UDP socket bound to an ephemeral port is a client's (a resolver's, a browser's QUIC
  socket): ``client``, never a "new listener" (the false alarm users of osquery-defense-kit, Wazuh
  rule 533 and ntopng #2076 complain of). Bound to any other port, it is a listener.

Exposure of a listener: ``loopback`` (127.0.0.0/8, ::1), ``all`` (0.0.0.0 or ::) or ``addresses``.
An IPv6 wildcard listener without IPV6_V6ONLY (INET_DIAG_SKV6ONLY = 0) takes IPv4 too: ``dual_stack``.
"""

from __future__ import annotations

from collections.abc import Mapping

from portscope.host.table import SocketTable
from portscope.ports.iana import registry

__all__ = ["REASONS", "NamespaceRange", "classify", "exposure_of"]

_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 - names wildcard binds, binds nothing


class NamespaceRange:
    """The ephemeral range a namespace's kernel hands out, minus the reserved ports.

    ``table`` is a 65,536-byte map (1 = ephemeral) so that classifying 100,000 sockets costs one
    index per port instead of a range test.
    """

    def __init__(self, low: int, high: int, reserved: tuple[tuple[int, int], ...] = ()) -> None:
        self.low = low
        self.high = high
        self.reserved = reserved
        table = bytearray(65536)
        table[low : high + 1] = b"\x01" * (high - low + 1)
        for reserved_low, reserved_high in reserved:
            lo, hi = max(reserved_low, low), min(reserved_high, high)
            if lo <= hi:
                table[lo : hi + 1] = bytes(hi - lo + 1)
        self.table = bytes(table)

    def contains(self, port: int) -> bool:
        return bool(self.table[port])


def _names_by_port() -> dict[str, list[str | None]]:
    """Per protocol, a 65,536-entry list of IANA service names (None where unassigned)."""
    out: dict[str, list[str | None]] = {p: [None] * 65536 for p in ("tcp", "udp", "sctp", "dccp")}
    for (port, proto), name in registry().service_names().items():
        if proto in out:
            out[proto][port] = name
    return out


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def exposure_of(address: str) -> str:
    """``loopback``, ``all`` or ``addresses`` for a listener bound to ``address``."""
    if address in _WILDCARDS:
        return "all"
    if _is_loopback(address):
        return "loopback"
    return "addresses"


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
_TCP_LISTEN, _BOUND_IDLE, _UDP_CLIENT, _UDP_LISTEN = (
    "listen-state",
    "bound-idle",
    "udp-ephemeral-unconnected",
    "udp-bound",
)
_LISTENER_PORT, _SYN_SENT, _REMOTE_LISTENER = "listener-port", "syn-sent", "remote-is-local-listener"
_UDP_SERVER, _BOTH_EPHEMERAL, _LOCAL_EPHEMERAL = "udp-listener-port", "both-ephemeral", "local-ephemeral"
_LOCAL_SERVICE, _REMOTE_SERVICE, _NO_CLUE = "local-service-port", "remote-service-port", "no-clue"


def classify(table: SocketTable, ranges: Mapping[int | None, NamespaceRange]) -> None:
    """Fill role, role_basis, role_reason, exposure, dual_stack and the per-side port columns.

    ``ranges`` maps a namespace inode (the table's ``netns`` column; None for "unknown namespace")
    to that namespace's ephemeral range.
    """
    names = _names_by_port()
    n = len(table)
    # Listeners by namespace: TCP (addr, port) pairs and ports with a wildcard bind; UDP likewise.
    tcp_listen: set[tuple[int | None, str, int]] = set()
    tcp_wild: set[tuple[int | None, int]] = set()
    udp_bound: set[tuple[int | None, int]] = set()
    protos, states, laddrs, lports = table.protocol, table.state, table.local_address, table.local_port
    netns, rports, raddrs, v6only = table.netns, table.remote_port, table.remote_address, table.v6only
    for i in range(n):
        if states[i] == "LISTEN":
            tcp_listen.add((netns[i], laddrs[i], lports[i]))
            if laddrs[i] in _WILDCARDS:
                tcp_wild.add((netns[i], lports[i]))
        elif protos[i] == "udp" and rports[i] is None:
            udp_bound.add((netns[i], lports[i]))
    # Addresses of this host: where a connection's remote end is one of them, its listener is ours to see.
    local_addresses = {a for a in laddrs if a not in _WILDCARDS}
    default_range = ranges.get(None) or next(iter(ranges.values()), NamespaceRange(32768, 60999))
    eph_tables = {ns: r.table for ns, r in ranges.items()}

    role: list[str] = [""] * n
    basis: list[str] = [""] * n
    reason: list[str] = [""] * n
    exposure: list[str | None] = [None] * n
    dual: list[bool | None] = [None] * n
    lservice: list[str | None] = [None] * n
    rservice: list[str | None] = [None] * n
    leph: list[bool] = [False] * n
    reph: list[bool | None] = [None] * n
    for i in range(n):
        proto, state, lport, rport, ns = protos[i], states[i], lports[i], rports[i], netns[i]
        eph = eph_tables.get(ns, default_range.table)
        proto_names = names[proto]
        local_eph = leph[i] = eph[lport] == 1
        lservice[i] = proto_names[lport]
        if rport is not None:
            remote_eph = reph[i] = eph[rport] == 1
            rservice[i] = proto_names[rport]
        else:
            remote_eph = False
        if rport is None:  # nobody on the other end: a listener, a bound UDP socket, or an idle bound TCP one
            address = laddrs[i]
            if proto == "tcp" and state != "LISTEN":
                role[i], basis[i], reason[i] = "unknown", "fact", _BOUND_IDLE
                continue
            exposure[i] = exposure_of(address)
            if address == "::":
                dual[i] = v6only[i] is False
            if proto == "tcp":
                role[i], basis[i], reason[i] = "listen", "fact", _TCP_LISTEN
            elif local_eph and lservice[i] is None:
                role[i], basis[i], reason[i] = "client", "inferred", _UDP_CLIENT
            else:
                role[i], basis[i], reason[i] = "listen", "fact", _UDP_LISTEN
            continue
        if proto == "tcp":
            if (ns, lport) in tcp_wild or (ns, laddrs[i], lport) in tcp_listen:
                role[i], basis[i], reason[i] = "inbound", "fact", _LISTENER_PORT
                continue
            if state == "SYN_SENT":
                role[i], basis[i], reason[i] = "outbound", "fact", _SYN_SENT
                continue
            raddr = raddrs[i]
            if raddr in local_addresses and ((ns, rport) in tcp_wild or (ns, raddr, rport) in tcp_listen):
                role[i], basis[i], reason[i] = "outbound", "fact", _REMOTE_LISTENER
                continue
        elif (ns, lport) in udp_bound and not local_eph:
            role[i], basis[i], reason[i] = "inbound", "inferred", _UDP_SERVER
            continue
        if local_eph and remote_eph:
            role[i], basis[i], reason[i] = "peer", "inferred", _BOTH_EPHEMERAL
        elif local_eph:
            role[i], basis[i], reason[i] = "outbound", "inferred", _LOCAL_EPHEMERAL
        elif remote_eph or (lservice[i] is not None and rport >= 1024):
            role[i], basis[i], reason[i] = "inbound", "inferred", _LOCAL_SERVICE
        elif rservice[i] is not None or rport < 1024:
            role[i], basis[i], reason[i] = "outbound", "inferred", _REMOTE_SERVICE
        else:
            role[i], basis[i], reason[i] = "unknown", "inferred", _NO_CLUE
    table.role, table.role_basis, table.role_reason = role, basis, reason
    table.exposure, table.dual_stack = exposure, dual
    table.local_service, table.remote_service = lservice, rservice
    table.local_ephemeral, table.remote_ephemeral = leph, reph

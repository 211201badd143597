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

__all__ = ["NamespaceRange", "classify", "exposure_of"]

_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 - names wildcard binds, binds nothing


class NamespaceRange:
    """The ephemeral range a namespace's kernel hands out, minus the reserved ports (as a fast test)."""

    def __init__(self, low: int, high: int, reserved: tuple[tuple[int, int], ...] = ()) -> None:
        self.low = low
        self.high = high
        self.reserved = reserved

    def contains(self, port: int) -> bool:
        if not self.low <= port <= self.high:
            return False
        return not any(lo <= port <= hi for lo, hi in self.reserved)


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def exposure_of(address: str) -> str:
    """``loopback``, ``all`` or ``addresses`` for a listener bound to ``address``."""
    if address in _WILDCARDS:
        return "all"
    if _is_loopback(address):
        return "loopback"
    return "addresses"


def classify(table: SocketTable, ranges: Mapping[int | None, NamespaceRange]) -> None:
    """Fill role, role_basis, role_reason, exposure, dual_stack and the per-side port columns.

    ``ranges`` maps a namespace inode (the table's ``netns`` column; None for "unknown namespace")
    to that namespace's ephemeral range.
    """
    names = registry().service_names()
    n = len(table)
    # Listeners by namespace: TCP (addr, port) pairs and ports with a wildcard bind; UDP likewise.
    tcp_listen: set[tuple[int | None, str, int]] = set()
    tcp_wild: set[tuple[int | None, int]] = set()
    udp_bound: set[tuple[int | None, int]] = set()
    protos, states, laddrs, lports = table.protocol, table.state, table.local_address, table.local_port
    netns, rports = table.netns, table.remote_port
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
    role: list[str] = [""] * n
    basis: list[str] = [""] * n
    reason: list[str] = [""] * n
    exposure: list[str | None] = [None] * n
    dual: list[bool | None] = [None] * n
    lservice: list[str | None] = [None] * n
    rservice: list[str | None] = [None] * n
    leph: list[bool] = [False] * n
    reph: list[bool | None] = [None] * n
    v6only = table.v6only
    raddrs = table.remote_address
    for i in range(n):
        proto, state, lport, rport, ns = protos[i], states[i], lports[i], rports[i], netns[i]
        rng = ranges.get(ns, default_range)
        local_eph = rng.contains(lport)
        leph[i] = local_eph
        lservice[i] = names.get((lport, proto))
        if rport is not None:
            reph[i] = rng.contains(rport)
            rservice[i] = names.get((rport, proto))
        if state == "LISTEN" or (proto == "udp" and rport is None):
            address = laddrs[i]
            exposure[i] = exposure_of(address)
            if address == "::":
                dual[i] = v6only[i] is False
            if proto == "tcp":
                role[i], basis[i], reason[i] = "listen", "fact", "TCP socket in LISTEN state"
            elif local_eph and lservice[i] is None:
                role[i], basis[i] = "client", "inferred"
                reason[i] = (
                    f"unconnected UDP socket on port {lport}, inside the ephemeral range {rng.low}-{rng.high}: "
                    "a client's socket (resolver, QUIC), not a service"
                )
            else:
                role[i], basis[i] = "listen", "fact"
                reason[i] = "unconnected UDP socket bound to a port: it receives from anyone"
            continue
        if proto == "tcp":
            if (ns, laddrs[i], lport) in tcp_listen or (ns, lport) in tcp_wild:
                role[i], basis[i] = "inbound", "fact"
                reason[i] = f"local port {lport} is a listening port of this host"
                continue
            if state == "SYN_SENT":
                role[i], basis[i], reason[i] = "outbound", "fact", "SYN sent: this host is connecting out"
                continue
            raddr = raddrs[i]
            if raddr in local_addresses and ((ns, raddr, rport) in tcp_listen or (ns, rport) in tcp_wild):
                role[i], basis[i] = "outbound", "fact"
                reason[i] = f"remote {raddr} port {rport} is a listening socket of this host"
                continue
        elif (ns, lport) in udp_bound and not local_eph:
            role[i], basis[i] = "inbound", "inferred"
            reason[i] = f"connected UDP socket on port {lport}, which a UDP listener of this host also holds"
            continue
        remote_eph = bool(reph[i])
        if local_eph and remote_eph:
            role[i], basis[i] = "peer", "inferred"
            reason[i] = "both ports are ephemeral and neither is a listening port"
        elif local_eph:
            role[i], basis[i] = "outbound", "inferred"
            reason[i] = f"local port {lport} is in the ephemeral range and no listener holds it"
        elif remote_eph or (lservice[i] is not None and rport is not None and rport >= 1024):
            role[i], basis[i] = "inbound", "inferred"
            reason[i] = (
                f"local port {lport} is a service port (its listener has gone) and the remote port is a client's"
            )
        elif rport is not None and (rservice[i] is not None or rport < 1024):
            role[i], basis[i] = "outbound", "inferred"
            reason[i] = f"remote port {rport} is a service port; local port {lport} was bound by the program"
        else:
            role[i], basis[i], reason[i] = "unknown", "inferred", "neither port tells which side is the client"
    table.role, table.role_basis, table.role_reason = role, basis, reason
    table.exposure, table.dual_stack = exposure, dual
    table.local_service, table.remote_service = lservice, rservice
    table.local_ephemeral, table.remote_ephemeral = leph, reph

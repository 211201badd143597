"""Ephemeral-port health: how full each namespace's pool is, per destination, and what collides with it.

What actually runs out is not "the ephemeral range" but the ports available *to one destination*:
Linux lets the same source port serve connections to different remote ip:port pairs (the 4-tuple
must be unique: net/ipv4/inet_hashtables.c ``__inet_hash_connect``), so one busy upstream (a
database, a proxy's backend) exhausts its pool while the host looks idle. TIME_WAIT sockets keep
their port for 60 s (TCP_TIMEWAIT_LEN) and count. A listener whose port lies inside the ephemeral
range and is not in ip_local_reserved_ports can lose its port to an outgoing connection: after a
restart, bind() fails with EADDRINUSE at random.

The thresholds below are the defaults of :class:`HealthThresholds`, documented in docs/live.md and
settable from the command line.
"""

from __future__ import annotations

import datetime
import functools
from collections import Counter
from dataclasses import dataclass
from itertools import compress

from portscope import _words
from portscope.findings import Finding, Severity
from portscope.host.sockets import NamespaceView, Snapshot, client_range_of_view
from portscope.ports.curated import CURATED_SERVICES
from portscope.records import DestinationUse, EphemeralHealth, Subject

__all__ = ["HealthThresholds", "ephemeral_health", "health_findings"]


@dataclass(frozen=True)
class HealthThresholds:
    """When a fill level becomes a finding. Fractions are of the namespace's usable ephemeral range."""

    destination_warn: float = 0.5  # one destination uses half its pool: medium
    destination_critical: float = 0.8  # four fifths: high, connects start failing soon (EADDRNOTAVAIL)
    time_wait_warn: float = 0.5  # TIME_WAIT sockets as a share of the range, host-wide
    conntrack_warn: float = 0.8  # conntrack table fill (nf_conntrack_count / nf_conntrack_max)
    top_destinations: int = 5  # how many of the busiest destinations a report lists


# Roles whose local port the kernel picked from the ephemeral pool (an inbound socket's is its listener's).
_POOL_ROLES = frozenset({"outbound", "peer", "client", "unknown"})


@functools.cache
def _curated_ports() -> frozenset[int]:
    """Every port of the curated service list, whatever its transport."""
    return frozenset(port for entry in CURATED_SERVICES for port in range(entry.low, entry.high + 1))


def _pool_map(view: NamespaceView) -> bytes:
    """65,536 bytes, 1 where the namespace's kernel may hand the port out: its range less the reserved
    ports. Membership, not class: a curated service's port inside the range (WireGuard's 51820) is a
    service, yet the kernel may still give it to an outgoing connection."""
    pool = client_range_of_view(view)
    table = bytearray(65536)
    table[pool.low : pool.high + 1] = b"\x01" * (pool.high - pool.low + 1)
    for low, high in pool.reserved:
        lo, hi = max(low, pool.low), min(high, pool.high)
        if lo <= hi:
            table[lo : hi + 1] = bytes(hi - lo + 1)
    return bytes(table)


def ephemeral_health(snap: Snapshot, thresholds: HealthThresholds | None = None) -> list[EphemeralHealth]:
    """One :class:`EphemeralHealth` per namespace in the snapshot, from a single pass over the table."""
    limits = thresholds or HealthThresholds()
    t = snap.table
    pools = {view.label: _pool_map(view) for view in snap.namespaces}
    # Sockets whose local port came from the pool, then C-level counting over their (namespace, ...) keys.
    # In the pool: an ephemeral port by class (in the range, not reserved), or, rarely, a curated
    # service's port in the range (its class says service, yet the kernel may hand it out).
    in_pool = [e and r in _POOL_ROLES for e, r in zip(t.local_ephemeral, t.role, strict=True)]
    curated = _curated_ports()
    hits = () if curated.isdisjoint(t.local_port) else compress(range(len(t)), map(curated.__contains__, t.local_port))
    for i in hits:
        ports = pools.get(t.namespace[i])
        in_pool[i] = t.role[i] in _POOL_ROLES and ports is not None and ports[t.local_port[i]] == 1
    in_use: Counter[tuple[str, str]] = Counter(compress(zip(t.namespace, t.protocol, strict=True), in_pool))
    destinations_of: Counter[tuple[str, str, str | None, int | None]] = Counter(
        compress(zip(t.namespace, t.protocol, t.remote_address, t.remote_port, strict=True), in_pool)
    )
    waiting = [p and s == "TIME_WAIT" for p, s in zip(in_pool, t.state, strict=True)]
    time_wait_of: Counter[tuple[str, str, str | None, int | None]] = Counter(
        compress(zip(t.namespace, t.protocol, t.remote_address, t.remote_port, strict=True), waiting)
    )
    per_destination: dict[str, Counter[tuple[str, str, int]]] = {v.label: Counter() for v in snap.namespaces}
    time_wait_per: dict[str, Counter[tuple[str, str, int]]] = {v.label: Counter() for v in snap.namespaces}
    for (ns, proto, raddr, rport), count in destinations_of.items():
        if raddr is not None and rport is not None and ns in per_destination:
            per_destination[ns][(proto, raddr, rport)] = count
            time_wait_per[ns][(proto, raddr, rport)] = time_wait_of.get((ns, proto, raddr, rport), 0)
    out: list[EphemeralHealth] = []
    for view in snap.namespaces:
        pool = client_range_of_view(view)
        low, high, size, reserved = pool.low, pool.high, pool.size, pool.reserved
        source = pool.source if view.ranges else pool.label
        waits = time_wait_per[view.label]
        destinations = tuple(
            DestinationUse(proto, addr, port, count, waits[(proto, addr, port)], count / size if size else 1.0)
            for (proto, addr, port), count in per_destination[view.label].most_common(limits.top_destinations)
        )
        out.append(
            EphemeralHealth(
                namespace=view.label,
                low=low,
                high=high,
                size=size,
                reserved=reserved,
                source=source,
                in_use=tuple(sorted((proto, n) for (ns, proto), n in in_use.items() if ns == view.label)),
                time_wait=sum(waits.values()),
                destinations=destinations,
                worst=destinations[0] if destinations else None,
            )
        )
    return out


def _sysctl_fix(ports: list[int], reserved: tuple[tuple[int, int], ...]) -> str:
    """Reserving is for a port its service binds every time; one the kernel picked for bind(0) (a JVM's
    RMI port, a test runner's server) is a new one next run, and reserving it only shrinks the pool."""
    existing = [f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in reserved]
    value = ",".join([*existing, *(str(p) for p in sorted(set(ports)))])
    return (
        "only for a service that binds the same port every time (one that asks for port 0 gets a new one each "
        f"run: nothing to reserve): sysctl -w net.ipv4.ip_local_reserved_ports={value}, and "
        f"'net.ipv4.ip_local_reserved_ports = {value}' in /etc/sysctl.d/90-portscope.conf to keep it"
    )


def health_findings(
    snap: Snapshot, health: list[EphemeralHealth], thresholds: HealthThresholds | None = None
) -> list[Finding]:
    """Findings from the pool's fill and from listeners that sit inside the ephemeral range."""
    limits = thresholds or HealthThresholds()
    findings: list[Finding] = []
    t = snap.table
    pools = {view.label: _pool_map(view) for view in snap.namespaces}
    seen = _iso(snap.taken_at)
    for h in health:
        for d in h.destinations:
            if d.fraction < limits.destination_warn:
                continue
            findings.append(
                Finding(
                    Severity.HIGH if d.fraction >= limits.destination_critical else Severity.MEDIUM,
                    "ephemeral-exhaustion-risk",
                    f"{d.ports} local ports to {d.remote_address}:{d.remote_port}/{d.protocol} "
                    f"({d.fraction:.0%} of the {h.size}-port pool)",
                    f"Connections to one destination share the ephemeral range {h.low}-{h.high}; at 100% new "
                    f"connects fail with EADDRNOTAVAIL. {d.time_wait} of them are in TIME_WAIT.",
                    Subject(dst=d.remote_address, port=d.remote_port, protocol=d.protocol, namespace=h.namespace),
                    seen,
                    seen,
                    d.ports,
                    (f"{h.namespace}: {d.remote_address}:{d.remote_port}/{d.protocol}",),
                    "widen net.ipv4.ip_local_port_range, reuse connections (pooling, keep-alive), or spread "
                    "load over more destination addresses/ports",
                    metrics={
                        "ports": d.ports,
                        "pool": h.size,
                        "fraction": round(d.fraction, 3),
                        "time_wait": d.time_wait,
                    },
                )
            )
        if h.size and h.time_wait / h.size >= limits.time_wait_warn:
            findings.append(
                Finding(
                    Severity.MEDIUM,
                    "time-wait-pile-up",
                    f"{h.time_wait} TIME_WAIT sockets hold {h.time_wait / h.size:.0%} of the ephemeral range",
                    "Each closed outgoing connection keeps its port for 60 s.",
                    Subject(namespace=h.namespace),
                    seen,
                    seen,
                    h.time_wait,
                    (h.namespace,),
                    "reuse connections; net.ipv4.tcp_tw_reuse=1 lets new outgoing connections take TIME_WAIT ports",
                    metrics={"time_wait": h.time_wait, "pool": h.size, "fraction": round(h.time_wait / h.size, 3)},
                )
            )
        view = next((v for v in snap.namespaces if v.label == h.namespace), None)
        usage = view.conntrack if view is not None else None
        fill = usage.fill if usage is not None else None
        if usage is not None and fill is not None and fill >= limits.conntrack_warn:
            findings.append(
                Finding(
                    Severity.HIGH,
                    "conntrack-table-full" if fill >= 0.99 else "conntrack-table-filling",
                    f"connection tracking table {fill:.0%} full ({usage.entries} of {usage.maximum} entries)",
                    "When it is full the kernel drops the first packet of every new connection "
                    "('nf_conntrack: table full, dropping packet'): the usual exhaustion on busy NAT and "
                    "Kubernetes nodes, which looks like random connect timeouts.",
                    Subject(namespace=h.namespace),
                    seen,
                    seen,
                    usage.entries,
                    (f"{h.namespace}: {usage.source}",),
                    "raise net.netfilter.nf_conntrack_max (and nf_conntrack_buckets), or shorten "
                    "nf_conntrack_tcp_timeout_established / time_wait",
                    metrics={"entries": usage.entries, "maximum": usage.maximum, "fill": round(fill, 3)},
                )
            )
        colliding: dict[int, list[str]] = {}
        pool = pools.get(h.namespace, b"")
        for i in (k for k, role in enumerate(t.role) if role == "listen"):
            if t.namespace[i] == h.namespace and pool[t.local_port[i]] == 1:
                who = f"{t.process[i] or '?'} (pid {t.pid[i]})" if t.pid[i] is not None else "owner unknown"
                colliding.setdefault(t.local_port[i], []).append(
                    f"{t.protocol[i]} {t.local_address[i]}:{t.local_port[i]} {who}"
                )
        if colliding:
            ports = sorted(colliding)
            shown = ", ".join(str(p) for p in ports[:10]) + (" ..." if len(ports) > 10 else "")
            evidence = tuple(e for p in ports for e in colliding[p])
            findings.append(
                Finding(
                    Severity.LOW,
                    "listener-in-ephemeral-range",
                    f"{_words.count(len(ports), 'listening port')} inside the ephemeral range {h.low}-{h.high}: "
                    f"{shown}",
                    "A service that binds one of these ports every time may find it taken: the kernel hands "
                    "ports of this range to outgoing connections, so its next bind() can fail with EADDRINUSE. "
                    "A port the kernel picked for the service itself (bind to port 0) is no risk.",
                    Subject(namespace=h.namespace),
                    seen,
                    seen,
                    len(evidence),
                    evidence,
                    _sysctl_fix(ports, h.reserved),
                    metrics={"ports": ports},
                )
            )
    return findings


def _iso(taken_at: float) -> str:
    """A snapshot's time as the findings write times: ISO 8601 UTC, microseconds, a Z."""
    moment = datetime.datetime.fromtimestamp(taken_at, datetime.timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"

"""The one-screen summary of a snapshot: ephemeral noise collapsed into the services it serves.

A hundred outgoing connections from firefox to port 443 are one line, ``firefox -> 443/https x 87``;
listeners are grouped by process with their exposure; inbound connections by the local service.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from portscope.host.sockets import Snapshot

__all__ = ["ConnectionGroup", "ListenerGroup", "Summary", "summarize"]


class ListenerGroup(NamedTuple):
    """The listening sockets of one process (or of no known process)."""

    process: str | None
    pids: tuple[int, ...]
    user: str | None
    namespace: str
    endpoints: tuple[str, ...]  # "tcp 22 all (IPv4+IPv6)", "udp 5353 addresses 192.0.2.1"
    owner_note: str | None = None  # without a process: why (host.owners.OWNER_NOTES), e.g. "outside"


class ConnectionGroup(NamedTuple):
    """Connections of one process to (or from) one service port: the ephemeral side collapsed."""

    process: str | None
    pids: tuple[int, ...]
    protocol: str
    port: int
    service: str | None
    connections: int
    peers: int  # distinct remote addresses
    states: tuple[tuple[str, int], ...]
    namespace: str


class Summary(NamedTuple):
    listeners: tuple[ListenerGroup, ...]
    outbound: tuple[ConnectionGroup, ...]
    inbound: tuple[ConnectionGroup, ...]
    clients: tuple[tuple[str, int], ...]  # UDP client sockets per process
    other: tuple[tuple[str, int], ...]  # peer / unknown roles, counted
    totals: tuple[tuple[str, int], ...]  # sockets per role


def _endpoint(
    protocol: str,
    address: str,
    port: int,
    exposure: str | None,
    dual: bool | None,
    namespace: str,
    published: str | None,
) -> str:
    if exposure == "all":
        if dual:
            where = "all interfaces (IPv4+IPv6)"
        else:
            where = "all IPv6 interfaces" if address == "::" else "all IPv4 interfaces"
    elif exposure == "loopback":
        where = f"loopback {address}"
    else:
        where = f"address {address}"
    if namespace != "host":  # a container's 0.0.0.0 is its own namespace's, not the host's (osquery #8516)
        where += f" of {namespace}"
    if published:
        where += f", published: {published}"
    return f"{protocol} {port} {where}"


def summarize(snap: Snapshot) -> Summary:
    t = snap.table
    listeners: dict[tuple[str | None, int | None, str, str | None, str | None], tuple[set[int], list[str]]] = {}
    groups: dict[tuple[str, str | None, str, int, str], tuple[set[int], Counter[str], set[str | None]]] = {}
    services: dict[tuple[str, int], str | None] = {}
    clients: Counter[str] = Counter()
    other: Counter[str] = Counter()
    totals: Counter[str] = Counter(t.role)
    for i in range(len(t)):
        role, proc, ns = t.role[i], t.process[i], t.namespace[i]
        if role == "listen":
            # One row per process: two programs of one name (two pythons, two nginx masters) are two
            # listeners to know about; a process's forked workers share its sockets, and its lowest pid.
            # Sockets of no known process are grouped by why (held outside this pid namespace, hidden...).
            key = (proc, t.pid[i], ns, t.user[i], t.owner_note[i] if t.pid[i] is None else None)
            pids, endpoints = listeners.setdefault(key, (set(), []))
            if t.pid[i] is not None:
                pids.add(t.pid[i])  # type: ignore[arg-type]
            endpoint = _endpoint(
                t.protocol[i], t.local_address[i], t.local_port[i], t.exposure[i], t.dual_stack[i], ns, t.published[i]
            )
            if endpoint not in endpoints:
                endpoints.append(endpoint)
        elif role in ("outbound", "inbound"):
            outbound = role == "outbound"
            port = t.remote_port[i] if outbound else t.local_port[i]
            if port is None:
                continue
            service = t.remote_service[i] if outbound else t.local_service[i]
            gkey = (role, proc, t.protocol[i], port, ns)
            services[(t.protocol[i], port)] = service
            pids, states, peers = groups.setdefault(gkey, (set(), Counter(), set()))
            if t.pid[i] is not None:
                pids.add(t.pid[i])  # type: ignore[arg-type]
            states[t.state[i]] += 1
            peers.add(t.remote_address[i])
        elif role == "client":
            clients[proc or "?"] += 1
        else:
            other[role] += 1
    listener_groups = tuple(
        ListenerGroup(proc, tuple(sorted(pids)), user, ns, tuple(endpoints), note)
        for (proc, _, ns, user, note), (pids, endpoints) in sorted(
            listeners.items(), key=lambda kv: (kv[0][0] or "~", kv[0][1] or 0, kv[0][2], kv[0][4] or "")
        )
    )
    conn_groups = [
        ConnectionGroup(
            proc,
            tuple(sorted(pids)),
            proto,
            port,
            services[(proto, port)],
            sum(states.values()),
            len(peers),
            tuple(states.most_common()),
            ns,
        )
        for (role, proc, proto, port, ns), (pids, states, peers) in groups.items()
    ]
    by_count = sorted(range(len(conn_groups)), key=lambda k: -conn_groups[k].connections)
    roles = [key[0] for key in groups]
    return Summary(
        listeners=listener_groups,
        outbound=tuple(conn_groups[k] for k in by_count if roles[k] == "outbound"),
        inbound=tuple(conn_groups[k] for k in by_count if roles[k] == "inbound"),
        clients=tuple(clients.most_common()),
        other=tuple(other.most_common()),
        totals=tuple(totals.most_common()),
    )

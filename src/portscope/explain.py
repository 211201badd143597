"""``explain``: everything portscope knows about a port, from facts first and heuristics second.

It joins the knowledge in :mod:`portscope.ports` (IANA registry, RFC 6335 ranges, OS ephemeral ranges,
notes, the system's services databases) with this host's real ephemeral range, and gives a role:
is a port with this number most likely a service, or the client side of one outgoing connection?
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from portscope.host.ephemeral import client_range_of, host_port_ranges
from portscope.ports.classify import EPHEMERAL, SERVICE, classify, iana_assignment
from portscope.ports.iana import registry
from portscope.ports.notes import notes_for
from portscope.ports.ranges import EPHEMERAL_RANGES, IANA_DYNAMIC, client_range, iana_range, ranges_for_os
from portscope.ports.services_db import system_services
from portscope.ports.spec import parse_port_spec
from portscope.records import (
    ClientRange,
    EphemeralRange,
    HostPortRange,
    IanaEntry,
    PortClass,
    PortExplanation,
    PortQuery,
    RangeExplanation,
    RangeMembership,
    RangeOverlap,
)

__all__ = ["explain", "explain_port", "explain_query", "explain_range", "who_uses_commands"]


def who_uses_commands(port: int, protocols: Iterable[str], platform: str = sys.platform) -> tuple[str, ...]:
    """The exact commands that show which process uses ``port`` right now on ``platform``."""
    protos = [p for p in protocols if p in ("tcp", "udp")] or ["tcp"]
    if platform.startswith("linux"):
        flags = "".join(sorted({"t" if p == "tcp" else "u" for p in protos}, reverse=True))
        return (
            f"ss -{flags}anp '( sport = :{port} or dport = :{port} )'",
            f"lsof -nP -i :{port}",
        )
    if platform == "win32":
        return (
            f'netstat -ano | findstr ":{port} "',
            f"Get-NetTCPConnection -LocalPort {port} | Select-Object LocalAddress,RemoteAddress,State,OwningProcess",
            f"Get-NetUDPEndpoint -LocalPort {port} | Select-Object LocalAddress,OwningProcess",
        )
    if platform.startswith("freebsd"):
        return (f"sockstat -46 -p {port}", f"lsof -nP -i :{port}")
    return (f"lsof -nP -i :{port}", f"netstat -an | grep '[.:]{port} '")


def _memberships(
    port: int,
    os_ranges: tuple[EphemeralRange, ...],
    host: tuple[HostPortRange, ...],
    protocols: tuple[str, ...],
) -> tuple[tuple[RangeMembership, ...], tuple[RangeMembership, ...]]:
    os_part = tuple(RangeMembership(r.os, r.label, r.low, r.high, r.contains(port), r.source) for r in os_ranges)
    host_part = tuple(
        RangeMembership(
            os=f"this host ({h.platform})",
            label="this host's ephemeral range",
            low=h.low,
            high=h.high,
            inside=h.contains(port),
            source=h.source,
            protocol=h.protocol,
            reserved=h.reserved_range_of(port) is not None,
        )
        for h in host
        if h.protocol in protocols
    )
    return os_part, host_part


def _role(
    port: int,
    assigned: list[IanaEntry],
    os_inside: list[RangeMembership],
    host_inside: list[RangeMembership],
    host_known: bool,
    os_given: bool,
    classes: dict[str, PortClass],
    curated: list[PortClass],
) -> tuple[str, str, list[str]]:
    """Say the role the port's classes give it (:func:`portscope.ports.classify.classify`, one per
    asked protocol), with the facts behind them. ``curated`` are the classes the curated list decided
    where the IANA registry and the range alone would not have made the port a service."""
    reasons: list[str] = []
    names = sorted({e.name or e.description for e in assigned})
    if port == 0:
        return (
            "special",
            "not a real port: port 0 means 'let the OS choose'",
            ["port 0 is reserved (RFC 6335)"],
        )
    ephemeral_here = [m for m in host_inside if m.inside and not m.reserved] if host_known and not os_given else []
    ephemeral_os = [m for m in os_inside if m.inside]
    if assigned:
        reasons.append(f"IANA assigns it to {', '.join(names)}")
    for c in {(c.service, c.source): c for c in curated}.values():
        reasons.append(f"{c.service} listens on it by default ({c.source}): a service even inside a client range")
    if ephemeral_here:
        reasons.append(f"it is in this host's ephemeral range {ephemeral_here[0].low}-{ephemeral_here[0].high}")
    elif host_known and not os_given:
        reasons.append("it is outside this host's ephemeral range")
    if ephemeral_os:
        labels = ", ".join(m.label for m in ephemeral_os if m.os != "iana")
        if labels:
            reasons.append(f"it is in the default ephemeral range of {labels}")
    reasons += list(dict.fromkeys(c.note for c in classes.values() if c.note))
    served = {proto: c for proto, c in classes.items() if c.port_class == SERVICE}
    picked = [proto for proto, c in classes.items() if c.port_class == EPHEMERAL]
    if served and picked:
        services = ", ".join(f"{c.service} on {proto}" for proto, c in served.items())
        return (
            "ambiguous",
            f"a service ({services}), but a client port the OS may pick on {', '.join(picked)}: look at the "
            "other side; if that is a well-known port, this is the client",
            reasons,
        )
    if served:
        shown = sorted({*names, *(c.service for c in curated if c.service)})
        return (
            "service",
            f"a service port ({', '.join(shown)}): the side that uses it is most likely the server",
            reasons,
        )
    if picked:
        return (
            "ephemeral-client",
            "most likely the client side of an outgoing connection: a port the OS picked for that one "
            "connection, used for its lifetime and then freed; not a service",
            reasons,
        )
    if ephemeral_os or port >= 49152:
        where = ", ".join(m.label for m in ephemeral_os if m.os != "iana") or "Windows and macOS (49152-65535)"
        return (
            "ephemeral-elsewhere",
            f"not this host's ephemeral range, but a client port on {where}; on this host, a port here is a "
            "service on a private port or a NAT's translated port",
            reasons,
        )
    reasons.append("IANA has no assignment for it")
    return (
        "unknown",
        "unassigned and outside every common ephemeral range: a private or unregistered service",
        reasons,
    )


def client_ranges(
    protocols: tuple[str, ...], os_name: str | None, host: tuple[HostPortRange, ...]
) -> dict[str, ClientRange]:
    """The client range in force for each protocol: ``--os``'s, else this host's, else IANA's."""
    if os_name is not None:
        chosen = client_range(os_name)
        return dict.fromkeys(protocols, chosen)
    return {p: client_range_of(host, p) or IANA_DYNAMIC for p in protocols}


_IN_LOGS = {
    "special": "A log line with port 0 is a fragment, a portless protocol written with zeros, or a crafted "
    "probe; a flood of them is a scan or a DoS attempt.",
    "service": "In a flow or firewall log, the side on {port} is the server; the other side's port is "
    "most likely an ephemeral client port. Many different clients on {port} is normal for a service.",
    "ambiguous": "In a log, look at the other port of the same line: if it is a well-known service port, "
    "{port} is a client's ephemeral port; if the other side is itself high and random, {port} is the service.",
    "ephemeral-client": "In a log, {port} is almost certainly the client's side: the other port of the same "
    "line (443, 53, 22...) names the service. A blocked packet sent TO {port} from a service port is "
    "usually a late reply after the firewall's connection tracking forgot the connection, not an attack; "
    "an unsolicited SYN to it is a probe, and a process listening on it is worth a look.",
    "ephemeral-elsewhere": "In a log from a Windows or macOS machine (or a NAT), {port} is most likely that "
    "host's client port; on a Linux host it would be a service on a private port or a NAT's mapping.",
    "unknown": "In a log, traffic to {port} is to an unregistered service, or a client port of an OS with an "
    "unusual range; check which process listens on it (below).",
}


def explain_port(port: int, protocols: tuple[str, ...] = ("tcp", "udp"), os_name: str | None = None) -> PortExplanation:
    """Explain one port over ``protocols``; ``os_name`` puts that OS's client range in force.

    Raises UsageError for an unknown ``os_name`` (the message lists the valid ones).
    """
    selected = {r.os for r in ranges_for_os(None if os_name == "any" else os_name)}
    host = host_port_ranges()
    iana_name, iana_text = iana_range(port)
    entries = tuple(e for e in registry().lookup(port) if e.protocol in (*protocols, None))
    assigned = [e for e in entries if e.assigned]
    in_force = client_ranges(protocols, os_name, host)
    classes = {proto: classify(port, proto, in_force[proto]) for proto in protocols}
    # The curated list is said where it decided: inside the range, or where IANA assigns nothing.
    curated = [
        c
        for proto, c in classes.items()
        if c.reason == "curated" and (in_force[proto].contains(port) or iana_assignment(port, proto) is None)
    ]
    # Every OS's verdict is shown; the class in force decides the role.
    os_part, host_part = _memberships(port, EPHEMERAL_RANGES, host, protocols)
    role, role_text, reasons = _role(
        port,
        assigned,
        [m for m in os_part if m.os in selected],
        list(host_part),
        bool(host_part),
        os_name is not None,
        classes,
        curated,
    )
    notes = tuple(f"{n.text} [{n.source}]" for n in notes_for(port, protocols))
    host_notes: list[str] = []
    for h in host:
        if h.protocol not in protocols:
            continue
        reserved = h.reserved_range_of(port)
        if reserved and h.reserved_source:
            host_notes.append(
                f"{h.protocol.upper()} port {port} is held back from ephemeral use on this host "
                f"({h.reserved_source} has {reserved[0]}-{reserved[1]})"
            )
        if h.unprivileged_port_start is not None and 0 < port < h.unprivileged_port_start:
            host_notes.append(
                f"binding it needs root or CAP_NET_BIND_SERVICE here (ip_unprivileged_port_start = "
                f"{h.unprivileged_port_start})"
            )
    return PortExplanation(
        port=port,
        protocols=protocols,
        iana_range=iana_name,
        iana_range_text=iana_text,
        iana=entries,
        system_services=tuple(s for s in system_services(port) if s.protocol in protocols),
        os_ranges=os_part,
        host_ranges=host_part,
        role=role,
        role_text=role_text,
        reasons=tuple(reasons),
        in_logs=_IN_LOGS[role].format(port=port),
        notes=notes,
        who_uses_it=who_uses_commands(port, protocols),
        host_notes=tuple(dict.fromkeys(host_notes)),
    )


def _overlap(low: int, high: int, rng: EphemeralRange | HostPortRange, os: str, label: str) -> RangeOverlap | None:
    lo, hi = max(low, rng.low), min(high, rng.high)
    return RangeOverlap(os, label, rng.low, rng.high, lo, hi, rng.source) if lo <= hi else None


def explain_range(
    low: int, high: int, protocols: tuple[str, ...] = ("tcp", "udp"), os_name: str | None = None
) -> RangeExplanation:
    """Summarise ``low``..``high``: overlapping IANA and ephemeral ranges, and the assignments inside."""
    client_range(os_name)  # validates the name; a range summary shows every OS
    entries = registry().in_range(low, high)
    assigned = tuple(e for e in entries if e.assigned and e.protocol in protocols)
    covered: set[int] = set()
    for e in assigned:
        covered.update(range(max(low, e.low), min(high, e.high) + 1))
    spans = tuple(
        name
        for name, lo, hi in (("system", 0, 1023), ("user", 1024, 49151), ("dynamic", 49152, 65535))
        if lo <= high and hi >= low
    )
    os_overlaps = tuple(o for r in EPHEMERAL_RANGES if (o := _overlap(low, high, r, r.os, r.label)))
    host_overlaps = tuple(
        o
        for h in host_port_ranges()
        if h.protocol in protocols
        and (o := _overlap(low, high, h, f"this host ({h.platform})", "this host's ephemeral range"))
    )
    return RangeExplanation(
        low=low,
        high=high,
        protocols=protocols,
        iana_ranges=spans,
        assigned=assigned,
        unassigned_count=(high - low + 1) - len(covered),
        os_overlaps=os_overlaps,
        host_overlaps=host_overlaps,
    )


def explain_query(query: PortQuery, os_name: str | None = None) -> PortExplanation | RangeExplanation:
    """Explain what one parsed argument asks about: a port, or a range summary."""
    if query.low == query.high:
        return explain_port(query.low, query.protocols, os_name)
    return explain_range(query.low, query.high, query.protocols, os_name)


def explain(argument: str, os_name: str | None = None) -> list[PortExplanation | RangeExplanation]:
    """Parse one argument as typed (``443/udp``, ``ssh``, ``49152-49160``) and explain each port it means.

    Raises PortSpecError for an argument that cannot be understood, UsageError for an unknown OS.
    """
    return [explain_query(q, os_name) for q in parse_port_spec(argument)]

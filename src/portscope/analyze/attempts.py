"""Repeated attempts at one service: brute force, and denied-then-allowed.

Only TCP: an unanswered UDP datagram (a DNS query that timed out) is no failed login. An attempt
is a connection from a new client port (a retransmitted SYN reuses its port, and UFW's rate limit
drops lines, so lines are not attempts). Failed or denied attempts of one source at one
service port of one host, ``brute_force_attempts`` or more, are brute force (MITRE T1110) when the
port is a service; ``denied_then_allowed``: a source denied at least that many times and later let
through (a rule changed, or a guess worked).
"""

from __future__ import annotations

from typing import Any

from portscope._words import count
from portscope.analyze.findings import Detection, DetectionInput, DetectionRule, named_by_sides
from portscope.analyze.pairs import PAIR_KEYS, calls
from portscope.analyze.scans import probes
from portscope.findings import Severity

__all__ = ["BRUTE_FORCE", "DENIED_THEN_ALLOWED", "brute_force", "denied_then_allowed"]

_ID = ("src", "dst", "port", "protocol")

# Services people log in to interactively: a login that fails still completes the TCP handshake (an
# SSH brute force is hundreds of short SF connections in Zeek), so here sessions count: three times
# as many, within ten minutes, and short (under 30 s: a refused password, not a working session).
# Denied-then-allowed looks at any TCP service a firewall denied.
AUTH_PORTS = (21, 22, 23, 110, 143, 993, 995, 1433, 3306, 3389, 5432, 5900, 5985, 5986)
_BURST_US = 600 * 1_000_000
_SHORT_SECONDS = 30.0


def _attempts(f: Any, candidates: Any) -> Any:
    """Probes of TCP services that are logins or were denied, of the ``candidates`` pairs only (the
    fold says which pairs have enough flows to matter: most have a handful)."""
    p = probes(f)
    p = p.filter((p.server_port.isin(AUTH_PORTS) | (p.action == "deny")) & (p.proto == "tcp"))
    return named_by_sides(p.semi_join(candidates.select(*PAIR_KEYS), list(PAIR_KEYS)))


def brute_force(data: DetectionInput) -> Detection:
    th = data.options.thresholds
    limit = th.brute_force_attempts
    c = calls(data.pairs)
    # Either threshold below needs at least this many failed, or this many, flows of the pair.
    a = _attempts(data.flows, c.filter(c.server_port.isin(AUTH_PORTS) & ((c.failed >= limit) | (c.flows >= 3 * limit))))
    # A failed login, not a working session. Without a duration (firewall logs) only failures count:
    # management tools (WinRM, LDAP) open many short allowed sessions and a log cannot tell them apart.
    short = a.duration.notnull() & (a.duration < _SHORT_SECONDS)
    bad = a.filter(a.server_port.isin(AUTH_PORTS) & (a.failed | short))
    bursts = bad.mutate(burst=bad.t // _BURST_US)
    per_burst = bursts.group_by([*_ID, "burst"]).agg(sessions=bursts.client_port.nunique())
    peak = per_burst.group_by(list(_ID)).agg(peak_10min=per_burst.sessions.max())
    g = bad.group_by(list(_ID)).agg(
        attempts=bad.client_port.nunique(),
        failed=bad.client_port.nunique(where=bad.failed),
        flows=bad.count(),
        denied=(bad.action == "deny").cast("int64").sum(),
        first_seen=bad.start.min(),
        last_seen=bad.start.max(),
    )
    g = g.inner_join(peak, list(_ID))
    found = g.filter((g.failed >= limit) | (g.port.isin(AUTH_PORTS) & (g.peak_10min >= 3 * limit)))
    return Detection(found, bad, _describe_brute)


def _describe_brute(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    severity = Severity.HIGH if row["attempts"] >= 100 else Severity.MEDIUM
    failed = f"{row['failed']} failed or refused, {row['denied']} denied"
    where = f"{row['dst']}:{row['port']}/{row['protocol']}"
    title = f"{row['src']} made {count(row['attempts'], 'attempt')} at {where} ({failed})"
    return severity, title, "T1110"


def denied_then_allowed(data: DetectionInput) -> Detection:
    th = data.options.thresholds
    c = calls(data.pairs)
    a = _attempts(data.flows, c.filter((c.denied >= th.denied_then_allowed) & (c.flows > c.denied)))
    g = a.group_by(list(_ID)).agg(
        denied=a.client_port.nunique(where=a.action == "deny"),
        first_denied=a.t.min(where=a.action == "deny"),
        last_allowed=a.t.max(where=a.action == "allow"),
        flows=a.count(),
        first_seen=a.start.min(),
        last_seen=a.start.max(),
    )
    found = g.filter((g.denied >= th.denied_then_allowed) & (g.last_allowed > g.first_denied))
    found = found.drop("first_denied", "last_allowed")
    return Detection(found, a, _describe_denied)


def _describe_denied(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    title = (
        f"{row['src']} was denied {count(row['denied'], 'time')} at {row['dst']}:{row['port']}/{row['protocol']}, "
        "then let through"
    )
    return Severity.HIGH, title, "T1110"


_CALLS = ("client", "server", "server_port", "proto", "client_is_src", "group", "flows")
_PROBES = ("client_is_src", "dport", "kind", "action", "client_port", "t", "start")
BRUTE_FORCE = DetectionRule(
    "brute_force", brute_force, _ID, (*_CALLS, "failed", *_PROBES, "duration"), (Severity.MEDIUM, Severity.HIGH)
)
DENIED_THEN_ALLOWED = DetectionRule(
    "denied_then_allowed", denied_then_allowed, _ID, (*_CALLS, "denied", *_PROBES), (Severity.HIGH,)
)

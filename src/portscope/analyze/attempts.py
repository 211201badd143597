"""Repeated attempts at one service: brute force, and denied-then-allowed.

An attempt is a connection from a new client port (a retransmitted SYN reuses its port, and UFW's
rate limit drops lines, so lines are not attempts). Failed or denied attempts of one source at one
service port of one host, ``brute_force_attempts`` or more, are brute force (MITRE T1110) when the
port is a service; ``denied_then_allowed``: a source denied at least that many times and later let
through (a rule changed, or a guess worked).
"""

from __future__ import annotations

from typing import Any

from portscope.analyze.findings import Detection
from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.scans import probes

__all__ = ["brute_force", "denied_then_allowed"]

_ID = ("src", "dst", "port", "protocol")


def _attempts(f: Any) -> Any:
    p = probes(f)
    p = p.filter(p.server_class == "service")
    return p.mutate(src=p.client, dst=p.server, port=p.server_port, protocol=p.proto)


def brute_force(f: Any, options: AnalyzeOptions) -> Detection:
    th = options.thresholds
    a = _attempts(f)
    bad = a.filter(a.failed)
    g = bad.group_by(list(_ID)).agg(
        attempts=bad.client_port.nunique(),
        flows=bad.count(),
        denied=(bad.action == "deny").cast("int64").sum(),
        first_seen=bad.start.min(),
        last_seen=bad.start.max(),
    )
    found = g.filter(g.attempts >= th.brute_force_attempts)
    members = bad.semi_join(found.select(*_ID), list(_ID))
    return Detection("brute_force", found, members, _ID, _describe_brute)


def _describe_brute(row: dict[str, Any]) -> tuple[str, str, str | None]:
    severity = "high" if row["attempts"] >= 100 else "medium"
    title = (
        f"{row['src']} made {row['attempts']} failed attempts at {row['dst']}:{row['port']}/{row['protocol']}"
        f" ({row['denied']} denied)"
    )
    return severity, title, "T1110"


def denied_then_allowed(f: Any, options: AnalyzeOptions) -> Detection:
    th = options.thresholds
    a = _attempts(f)
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
    members = a.semi_join(found.select(*_ID), list(_ID))
    return Detection("denied_then_allowed", found, members, _ID, _describe_denied)


def _describe_denied(row: dict[str, Any]) -> tuple[str, str, str | None]:
    title = (
        f"{row['src']} was denied {row['denied']} times at {row['dst']}:{row['port']}/{row['protocol']}, "
        "then let through"
    )
    return "high", title, "T1110"

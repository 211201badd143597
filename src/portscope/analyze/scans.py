"""Port scans: one source probing many ports of one host (vertical), or one port of many hosts
(horizontal), counted over the whole input so a slow scan (a probe a minute for hours) is found too.

Only probes count: rows whose client is their source. A server's replies (late ACKs a firewall
dropped, a flow log's return half) reach many ephemeral ports of one host and would look like a
vertical scan to a naive rule; here they were oriented first and never count. Most of a scan's
probes fail (closed ports, dropped packets): a source must have failed or been denied on at least
``probe_failed_share`` of them, so a busy client of many healthy services is not a scanner.
Thresholds count distinct ports or hosts, not lines: UFW's rate limit and retransmitted SYNs change
the number of lines, not the number of ports.
"""

from __future__ import annotations

from typing import Any

from portscope._words import count
from portscope.analyze.findings import Detection, DetectionInput, DetectionRule
from portscope.analyze.overview import EXPLAINED_KINDS
from portscope.analyze.pairs import calls
from portscope.findings import Severity

__all__ = [
    "HORIZONTAL_SCAN",
    "PROTOCOL_SCAN",
    "VERTICAL_SCAN",
    "horizontal_scans",
    "probes",
    "protocol_scans",
    "vertical_scans",
]


def probes(f: Any) -> Any:
    """Rows where a client reached for a port: oriented source-first, not explained, with ports."""
    return f.filter(f.client_is_src & f.dport.notnull() & ~f.kind.isin(EXPLAINED_KINDS))


def _per_port(pairs: Any) -> Any:
    """Probes per (source, host, port), from the fold: both scan kinds count these rows (a distinct
    count in two steps, which is what makes them cheap: most sources reach few ports of few hosts)."""
    c = calls(pairs)
    return c.select(
        src=c.client,
        dst=c.server,
        protocol=c.proto,
        dport=c.server_port,
        flows=c.flows,
        failed=c.failed,
        answered=c.answered,
        first_seen=c.first_seen,
        last_seen=c.last_seen,
    )


def _span(first: Any, last: Any) -> Any:
    return (last.delta(first, unit="microsecond") / 1_000_000).cast("float64")


def vertical_scans(data: DetectionInput) -> Detection:
    import ibis

    th = data.options.thresholds
    p = probes(data.flows)
    pp = _per_port(data.pairs)
    g = pp.group_by("src", "dst", "protocol").agg(
        ports=pp.count(),
        flows=pp.flows.sum(),
        failed=pp.failed.sum(),
        open_ports=pp.answered.sum(),
        port_low=pp.dport.min(),
        port_high=pp.dport.max(),
        first_seen=pp.first_seen.min(),
        last_seen=pp.last_seen.max(),
    )
    found = g.filter((g.ports >= th.vertical_ports) & (g.failed >= g.flows * th.probe_failed_share))
    found = found.mutate(port=ibis.null("int32"), span_s=_span(found.first_seen, found.last_seen))
    members = p.mutate(protocol=p.proto)
    return Detection(found, members, _vertical(th.slow_scan_seconds))


def _vertical(slow: float) -> Any:
    def describe(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
        ports, span = row["ports"], row["span_s"] or 0.0
        pace = f"slow scan over {span / 3600:.1f} h" if span > slow else f"in {span:.0f} s"
        severity = Severity.HIGH if ports >= 1000 or row["open_ports"] else Severity.MEDIUM
        opened = f", {row['open_ports']} answered" if row["open_ports"] else ""
        title = (
            f"{row['src']} probed {ports} {row['protocol']} ports of {row['dst']} "
            f"({row['port_low']}-{row['port_high']}, {pace}{opened})"
        )
        return severity, title, "T1046"

    return describe


def horizontal_scans(data: DetectionInput) -> Detection:
    import ibis

    th = data.options.thresholds
    p = probes(data.flows)
    pp = _per_port(data.pairs)
    g = pp.group_by("src", "dport", "protocol").agg(
        hosts=pp.count(),
        flows=pp.flows.sum(),
        failed=pp.failed.sum(),
        answered=pp.answered.sum(),
        first_seen=pp.first_seen.min(),
        last_seen=pp.last_seen.max(),
    )
    g = g.rename(port="dport")
    found = g.filter((g.hosts >= th.horizontal_hosts) & (g.failed >= g.flows * th.probe_failed_share))
    found = found.mutate(dst=ibis.null("string"), span_s=_span(found.first_seen, found.last_seen))
    members = p.mutate(port=p.dport, protocol=p.proto)
    return Detection(found, members, _horizontal(th.slow_scan_seconds))


def _horizontal(slow: float) -> Any:
    def describe(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
        hosts, span = row["hosts"], row["span_s"] or 0.0
        pace = f"slow sweep over {span / 3600:.1f} h" if span > slow else f"in {span:.0f} s"
        severity = Severity.HIGH if hosts >= 256 or row["answered"] else Severity.MEDIUM
        title = f"{row['src']} swept port {row['port']}/{row['protocol']} of {count(hosts, 'host')} ({pace})"
        return severity, title, "T1046"

    return describe


def protocol_scans(data: DetectionInput) -> Detection:
    """nmap -sO: one source trying many IP protocols (no ports) against one host."""
    import ibis

    th = data.options.thresholds
    f = data.flows
    p = f.filter(f.kind == "no_ports")
    g = p.group_by(src=p.src, dst=p.dst).agg(
        protocols=p.proto.nunique(),
        flows=p.count(),
        failed=p.failed.cast("int64").sum(),
        first_seen=p.start.min(),
        last_seen=p.start.max(),
    )
    found = g.filter((g.protocols >= th.vertical_ports) & (g.failed >= g.flows * th.probe_failed_share))
    found = found.mutate(port=ibis.null("int32"), protocol=ibis.literal("ip"))
    return Detection(found, p, _describe_protocols)


def _describe_protocols(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    title = f"{row['src']} tried {row['protocols']} IP protocols against {row['dst']} (an IP protocol scan, nmap -sO)"
    return Severity.MEDIUM, title, "T1046"


_PROBES = ("client_is_src", "dport", "kind")
_PAIRS = ("client", "server", "proto", "server_port", "client_is_src", "group", "flows", "failed", "answered",
          "first_seen", "last_seen")  # fmt: skip
VERTICAL_SCAN = DetectionRule(
    "vertical_scan", vertical_scans, ("src", "dst", "protocol"), (*_PROBES, *_PAIRS), (Severity.MEDIUM, Severity.HIGH)
)
HORIZONTAL_SCAN = DetectionRule(
    "horizontal_scan",
    horizontal_scans,
    ("src", "port", "protocol"),
    (*_PROBES, *_PAIRS),
    (Severity.MEDIUM, Severity.HIGH),
)
PROTOCOL_SCAN = DetectionRule(
    "protocol_scan",
    protocol_scans,
    ("src", "dst"),
    ("kind", "src", "dst", "proto", "failed", "start"),
    (Severity.MEDIUM,),
)

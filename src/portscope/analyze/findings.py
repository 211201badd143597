"""Findings from flows: what a detection hands over, how each gets its evidence, and their order.

A detection is two Ibis expressions: ``findings`` (one row per finding, with the columns in
:data:`FINDING_COLUMNS` and its own metric columns) and ``members`` (the candidate flows, with the
same key columns). Once a detection's findings are fetched, one more query per detection takes the
members whose keys are among them and returns the first ``N`` flows of each finding, earliest
first, with their file and line: the evidence. Severity and title are worded here, in Python, from
the few rows a detection returns, and each row becomes the one :class:`~portscope.findings.Finding`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portscope.analyze.options import AnalyzeOptions
from portscope.findings import Finding, FlowEvidence, Severity, Subject

__all__ = [
    "FINDING_COLUMNS",
    "Detection",
    "DetectionInput",
    "DetectionRule",
    "collect_findings",
    "iso",
    "json_rows",
    "named_by_sides",
]

FINDING_COLUMNS = ("src", "dst", "port", "protocol", "first_seen", "last_seen", "flows")
EVIDENCE_COLUMNS = ("start", "src", "sport", "dst", "dport", "proto", "action", "flags", "file", "line")

# (severity, title, MITRE technique id or None) from one finding's row.
Describe = Callable[[dict[str, Any]], tuple[Severity, str, str | None]]
# Whether a finding's port is a client's ephemeral port (for its identifier), by (port, protocol, dst).
IsEphemeral = Callable[[int | None, str | None, str | None], bool]


@dataclass(frozen=True)
class DetectionInput:
    """What every detection is given: the prepared flows (with their sides), their fold
    (:mod:`.pairs`), the run's options, and the prepared baseline flows where ``--baseline`` gave them."""

    flows: Any
    pairs: Any
    options: AnalyzeOptions
    baseline: Any = None


@dataclass
class Detection:
    """What one detection found: ``findings`` (a row per finding: :data:`FINDING_COLUMNS`, its rule's
    keys and its metrics), ``members`` (its candidate flows, with the same keys) and ``describe``, which
    words a finding's row."""

    findings: Any
    members: Any
    describe: Describe


@dataclass(frozen=True)
class DetectionRule:
    """One detection, declared: the code its findings carry, the function that finds them, the
    columns by which a finding is matched to its evidence (``keys``), the columns of the prepared
    flows and of their fold it reads (``reads``), and the severities it gives. tests/analyze/
    test_detections.py holds every rule of :data:`portscope.analyze.detections.DETECTIONS` to this."""

    code: str
    detect: Callable[[DetectionInput], Detection]
    keys: tuple[str, ...]
    reads: tuple[str, ...]
    severities: tuple[Severity, ...]
    needs_baseline: bool = False


def named_by_sides(t: Any) -> Any:
    """The parties a finding names, from oriented flows: the client as ``src``, the server as ``dst``,
    the service port as ``port``, the transport as ``protocol``. (Evidence still shows each flow as
    it was recorded: collect_findings derives its addresses from the sides, not from these names.)"""
    return t.mutate(src=t.client, dst=t.server, port=t.server_port, protocol=t.proto)


def _key(table: Any, kind: str, keys: tuple[str, ...]) -> Any:
    import ibis

    parts: list[Any] = [ibis.literal(kind)]
    for name in keys:
        parts.append(ibis.literal("|"))
        parts.append(table[name].cast("string").fill_null(""))
    key = parts[0]
    for part in parts[1:]:
        key = key + part
    return key


def iso(value: Any) -> str | None:
    """ISO 8601 UTC with microseconds and a Z; Spark hands back naive datetimes that are UTC."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        text: str = value.isoformat(timespec="microseconds") + "Z"
        return text
    return str(value)


def json_rows(table: Any) -> list[dict[str, Any]]:
    """An engine's Arrow result as JSON-ready dicts: times as ISO text with a Z, floats rounded to 3
    places, done column-wise in Arrow (per value in Python, a firewall log's 60,000 ports took a second)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            as_utc = table.column(index).cast(pa.timestamp("us"))
            text = pc.strftime(as_utc, format="%Y-%m-%dT%H:%M:%S") if len(as_utc) else as_utc.cast(pa.string())
            text = pc.binary_join_element_wise(text, pa.scalar("Z"), "") if len(as_utc) else text
            table = table.set_column(index, column.name, text)
        elif pa.types.is_floating(column.type):
            table = table.set_column(index, column.name, pc.round(table.column(index), 3))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def collect_findings(
    con: Any,
    detections: list[tuple[DetectionRule, Detection]],
    evidence: int,
    step: Callable[[str], None] | None = None,
    is_ephemeral: IsEphemeral | None = None,
) -> list[Finding]:
    """Run every detection, fetch each one's evidence, and return the findings, most severe first."""
    import ibis

    found: list[tuple[str, dict[str, Any], Severity, str, str | None, dict[str, Any]]] = []
    samples: dict[str, list[FlowEvidence]] = {}
    for number, (rule, detection) in enumerate(detections, 1):
        if step is not None:
            step(f"detections {number}/{len(detections)}: {rule.code.replace('_', ' ')}")
        keyed = detection.findings.mutate(fkey=_key(detection.findings, rule.code, rule.keys))
        fetched = con.to_pyarrow(keyed)
        result = json_rows(fetched)
        if not result:
            continue
        # Worded from the exact values (a jitter of 0.0054 is "1%"), stored as the report shows them.
        for exact, row in zip(fetched.to_pylist(), result, strict=True):
            severity, title, technique = detection.describe(exact)
            metrics = {k: v for k, v in row.items() if k not in FINDING_COLUMNS and k not in ("fkey", "kind")}
            found.append((rule.code, row, severity, title, technique, metrics))
        # The evidence: candidate flows whose key is one of the findings just fetched (a small table
        # of keys, so the engine does not compute the detection again), the first N of each.
        # Matched on the key columns first (a hash join on a few rows), the key text made only for
        # the flows that matched: building it for millions of candidate rows cost seconds.
        wanted = ibis.memtable(fetched.select(list(rule.keys)))
        m = detection.members.semi_join(wanted, list(rule.keys))
        recorded = {
            "src": ibis.ifelse(m.client_is_src, m.client, m.server),  # as the flow was written, whatever
            "dst": ibis.ifelse(m.client_is_src, m.server, m.client),  # a detection named its keys
        }
        columns = {c: recorded.get(c, m[c]) for c in (*EVIDENCE_COLUMNS, "t")}
        flows = m.select(fkey=_key(m, rule.code, rule.keys), **columns)
        earliest = [flows.t, flows.file, flows.line, flows.sport, flows.dport]
        ranked = flows.mutate(rank=ibis.row_number().over(ibis.window(group_by="fkey", order_by=earliest)))
        picked = ranked.filter(ranked.rank < evidence).drop("rank", "t")
        for flow in json_rows(con.to_pyarrow(picked)):
            samples.setdefault(flow.pop("fkey"), []).append(_evidence_row(flow))
    found.sort(
        key=lambda f: (
            -f[2],
            f[1]["first_seen"] or "",
            f[0],
            f[1]["src"] or "",
            f[1]["dst"] or "",
            f[1]["port"] if f[1]["port"] is not None else -1,
            f[1]["protocol"] or "",
        )
    )
    out = []
    for kind, row, severity, title, technique, metrics in found:
        flows = samples.get(row["fkey"], [])
        flows.sort(key=lambda e: (e.start or "", e.file or "", e.line or 0, e.src_port or 0, e.dst_port or 0))
        port, protocol, dst = row["port"], row["protocol"], row["dst"]
        ephemeral = is_ephemeral(port, protocol, dst) if is_ephemeral is not None else False
        out.append(
            Finding(
                severity,
                kind,
                title,
                subject=Subject(row["src"], dst, port, protocol, ephemeral=ephemeral),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                count=row["flows"],
                evidence=tuple(flows[:evidence]),
                mitre=technique,
                metrics=metrics,
            )
        )
    return out


def _evidence_row(flow: dict[str, Any]) -> FlowEvidence:
    return FlowEvidence(
        start=flow["start"],
        src=flow["src"],
        src_port=flow["sport"],
        dst=flow["dst"],
        dst_port=flow["dport"],
        protocol=flow["proto"],
        action=flow["action"],
        tcp_flags=flow["flags"],
        file=flow["file"],
        line=flow["line"],
    )

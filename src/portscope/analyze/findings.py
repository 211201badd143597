"""Findings: what a detection hands over, how each gets its evidence, and their order in a report.

A detection is two Ibis expressions: ``findings`` (one row per finding, with the columns in
:data:`FINDING_COLUMNS` and its own metric columns) and ``members`` (the candidate flows, with the
same key columns). Once a detection's findings are fetched, one more query per detection takes the
members whose keys are among them and returns the first ``N`` flows of each finding, earliest
first, with their file and line: the evidence. Severity and title are worded here, in Python, from
the few rows a detection returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portscope.analyze.options import SEVERITIES

__all__ = ["FINDING_COLUMNS", "MITRE", "Detection", "collect_findings", "iso", "json_rows", "named_by_sides"]

FINDING_COLUMNS = ("src", "dst", "port", "protocol", "first_seen", "last_seen", "flows")
EVIDENCE_COLUMNS = ("start", "src", "sport", "dst", "dport", "proto", "action", "flags", "file", "line")

MITRE = {
    "T1046": "Network Service Discovery",
    "T1595.001": "Active Scanning: Scanning IP Blocks",
    "T1571": "Non-Standard Port",
    "T1071": "Application Layer Protocol",
    "T1110": "Brute Force",
}

# (severity, title, MITRE technique id or None) from one finding's row.
Describe = Callable[[dict[str, Any]], tuple[str, str, str | None]]


@dataclass
class Detection:
    """One detection's findings and member flows, keyed by ``keys`` (columns present in both)."""

    kind: str
    findings: Any
    members: Any
    keys: tuple[str, ...]
    describe: Describe


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
    con: Any, detections: list[Detection], evidence: int, step: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Run every detection, fetch each one's evidence, and return the findings, ordered."""
    import ibis

    rows: list[dict[str, Any]] = []
    samples: dict[str, list[dict[str, Any]]] = {}
    for number, detection in enumerate(detections, 1):
        if step is not None:
            step(f"detections {number}/{len(detections)}: {detection.kind.replace('_', ' ')}")
        found = detection.findings.mutate(fkey=_key(detection.findings, detection.kind, detection.keys))
        fetched = con.to_pyarrow(found)
        result = json_rows(fetched)
        if not result:
            continue
        # Worded from the exact values (a jitter of 0.0054 is "1%"), stored as the report shows them.
        for exact, row in zip(fetched.to_pylist(), result, strict=True):
            severity, title, technique = detection.describe(exact)
            finding: dict[str, Any] = {
                "kind": detection.kind,
                "severity": severity,
                "title": title,
                "mitre": None if technique is None else {"id": technique, "name": MITRE[technique]},
            }
            for name in FINDING_COLUMNS:
                finding[name] = row.get(name)
            finding["metrics"] = {
                k: v for k, v in row.items() if k not in FINDING_COLUMNS and k not in ("fkey", "kind")
            }
            finding["fkey"] = row["fkey"]
            rows.append(finding)
        # The evidence: candidate flows whose key is one of the findings just fetched (a small table
        # of keys, so the engine does not compute the detection again), the first N of each.
        # Matched on the key columns first (a hash join on a few rows), the key text made only for
        # the flows that matched: building it for millions of candidate rows cost seconds.
        wanted = ibis.memtable(fetched.select(list(detection.keys)))
        m = detection.members.semi_join(wanted, list(detection.keys))
        recorded = {
            "src": ibis.ifelse(m.client_is_src, m.client, m.server),  # as the flow was written, whatever
            "dst": ibis.ifelse(m.client_is_src, m.server, m.client),  # a detection named its keys
        }
        columns = {c: recorded.get(c, m[c]) for c in (*EVIDENCE_COLUMNS, "t")}
        flows = m.select(fkey=_key(m, detection.kind, detection.keys), **columns)
        earliest = [flows.t, flows.file, flows.line, flows.sport, flows.dport]
        ranked = flows.mutate(rank=ibis.row_number().over(ibis.window(group_by="fkey", order_by=earliest)))
        picked = ranked.filter(ranked.rank < evidence).drop("rank", "t")
        for flow in json_rows(con.to_pyarrow(picked)):
            samples.setdefault(flow.pop("fkey"), []).append(_evidence_row(flow))
    rank = {name: index for index, name in enumerate(reversed(SEVERITIES))}
    rows.sort(
        key=lambda r: (
            rank[r["severity"]],
            r["first_seen"] or "",
            r["kind"],
            r["src"] or "",
            r["dst"] or "",
            r["port"] if r["port"] is not None else -1,
            r["protocol"] or "",
        )
    )
    for number, finding in enumerate(rows, 1):
        key = finding.pop("fkey")
        flows = samples.get(key, [])
        flows.sort(
            key=lambda e: (e["start"] or "", e["file"] or "", e["line"] or 0, e["src_port"] or 0, e["dst_port"] or 0)
        )
        finding["evidence"] = {"flows": finding["flows"], "sample": flows[:evidence]}
        finding["id"] = f"F{number}"
    return [{"id": f.pop("id"), **f} for f in rows]


def _evidence_row(flow: dict[str, Any]) -> dict[str, Any]:
    return {
        "start": flow["start"],
        "src": flow["src"],
        "src_port": flow["sport"],
        "dst": flow["dst"],
        "dst_port": flow["dport"],
        "protocol": flow["proto"],
        "action": flow["action"],
        "tcp_flags": flow["flags"],
        "file": flow["file"],
        "line": flow["line"],
    }

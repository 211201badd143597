"""Run every analysis on the prepared flows and assemble the report (docs/analyze-json.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from portscope._gc import collector_paused
from portscope.analyze import overview, pairs
from portscope.analyze.engine import InputSummary, Materialised, connect, disconnect, load_inputs
from portscope.analyze.findings import Detection, DetectionInput, DetectionRule, collect_findings, iso, json_rows
from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.prepare import STORED, prepare, with_sides
from portscope.findings import SEVERITIES, Severity
from portscope.sources import SkippedInput
from portscope.sources._syslog import TimeReading

__all__ = ["SCHEMA", "analyze", "build_report"]

SCHEMA = "portscope.analyze/1"

_EXPLAINED_TEXT = {
    "late_reply": (
        "TCP ACK/FIN/RST from a service port to a client's ephemeral port, denied: a late reply that "
        "arrived after the firewall's connection tracking forgot the connection (timeout or flush). Harmless."
    ),
    "late_udp_reply": (
        "UDP from a service port (DNS 53, NTP 123, QUIC 443, SSDP 1900, mDNS 5353...) to a client port, "
        "denied: an answer that came after the firewall stopped expecting it, or SSDP answering a "
        "multicast search. Harmless."
    ),
    "group": (
        "Sent to a multicast or broadcast address (SSDP 1900, mDNS 5353, LLMNR 5355, NetBIOS 137/138, "
        "DHCP): announcements and discovery on the local network, repeated on a timer. Not a connection."
    ),
    "return_traffic": (
        "The server's half of a connection, recorded as a flow of its own (flow logs record each "
        "direction): its destination port is the client's ephemeral port. Not a connection to that port."
    ),
}


def analyze(
    paths: Sequence[str],
    options: AnalyzeOptions,
    *,
    format: str | None = None,
    read_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report for ``paths`` (files, globs, directories, Parquet flow tables); ``read_options``
    are the readers' (``year``, ``timezone``, ``fields``..., as :func:`portscope.sources.read_flows` takes)."""
    con = connect(options.engine, options.spark_master)
    try:
        with load_inputs(con, paths, format=format, options=read_options) as loaded:
            baseline_ctx = load_inputs(con, [options.baseline], format="parquet") if options.baseline else None
            if baseline_ctx is None:
                report = build_report(con, loaded.table, loaded.inputs, options)
            else:
                with baseline_ctx as known:
                    report = build_report(con, loaded.table, loaded.inputs, options, known.table)
            return _with_reading(report, loaded.skipped, loaded.dating)
    finally:
        disconnect(con)


def _with_reading(report: dict[str, Any], skipped: list[SkippedInput], dating: TimeReading) -> dict[str, Any]:
    """The report with, after its inputs, the inputs passed over and how yearless or zoneless times were dated."""
    out: dict[str, Any] = {}
    for key, value in report.items():
        out[key] = value
        if key == "inputs":
            out["inputs_skipped"] = [{"input": s.label, "reason": s.reason} for s in skipped]
            out["dating"] = dating.as_dict()
    return out


def build_report(
    con: Any, flows: Any, inputs: list[InputSummary], options: AnalyzeOptions, baseline: Any = None
) -> dict[str, Any]:
    with collector_paused():
        return _build_report(con, flows, inputs, options, baseline)


def _build_report(
    con: Any, flows: Any, inputs: list[InputSummary], options: AnalyzeOptions, baseline: Any
) -> dict[str, Any]:
    options.step("reading and orienting the flows")
    stored = Materialised(prepare(flows, options).select(*STORED))
    try:
        f = with_sides(stored.table)
        folded = Materialised(pairs.fold(f))
        try:
            return _report(con, f, folded.table, inputs, options, baseline)
        finally:
            folded.release()
    finally:
        stored.release()


def _report(
    con: Any, f: Any, folded: Any, inputs: list[InputSummary], options: AnalyzeOptions, baseline: Any
) -> dict[str, Any]:
    # One pass for the summary: flows and time span per (protocol, action, orientation), added up here.
    by_class = con.to_pyarrow(overview.summary_counts(f)).to_pylist()
    head = {
        "flows": sum(r["flows"] for r in by_class),
        "first_seen": min((r["first_seen"] for r in by_class if r["first_seen"] is not None), default=None),
        "last_seen": max((r["last_seen"] for r in by_class if r["last_seen"] is not None), default=None),
    }
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "generated": iso(dt.datetime.now(dt.timezone.utc)),
        "engine": options.engine,
        "os": options.os,
        "ephemeral": list(options.ephemeral),
        "hosts": [{"addr": addr, "ephemeral": [low, high]} for addr, low, high in options.host_ranges],
        "inputs": [i.as_dict() for i in inputs],
    }
    flows = int(head["flows"] or 0)
    summary: dict[str, Any] = {
        "flows": flows,
        "first_seen": iso(head["first_seen"]),
        "last_seen": iso(head["last_seen"]),
        "addresses": None,
        "protocols": _counts(by_class, "proto"),
        "actions": _counts(by_class, "action"),
        "orientation": _counts(by_class, "orientation"),
        "findings": dict.fromkeys(reversed(SEVERITIES), 0),  # the most severe first
        "empty_reason": _empty_reason(inputs, flows),
    }
    document["summary"] = summary
    document["thresholds"] = options.thresholds.as_dict()
    if not flows:
        document.update(services=[], ports=[], explained=[], talkers=[], findings=[], failed=False)
        document["timeline"] = {"bucket_seconds": 60, "classes": list(overview.TIMELINE_CLASSES), "rows": []}
        document["fail_on"] = options.fail_on
        return document
    options.step("services, ports, talkers, timeline")
    summary["addresses"] = _addresses(con, folded)
    names = _service_names()
    document["services"] = _services(con, f, names)
    document["ports"] = _ports(con, f, names, options)
    document["explained"] = _explained(con, f)
    document["talkers"] = _rows(con, overview.talkers(folded, options.top))
    document["timeline"] = _timeline(con, f, head)
    data = DetectionInput(f, folded, options, None if baseline is None else prepare(baseline, options))
    findings = collect_findings(con, run_detections(data), options.evidence, options.step, _ephemeral_test(options))
    for finding in findings:
        summary["findings"][finding.severity.label] += 1
    document["findings"] = findings
    document["fail_on"] = options.fail_on
    bar = Severity.parse(options.fail_on)
    document["failed"] = any(x.severity >= bar for x in findings)
    return document


def run_detections(data: DetectionInput) -> list[tuple[DetectionRule, Detection]]:
    """Every declared detection (:data:`~portscope.analyze.detections.DETECTIONS`), in order; the ones
    that compare with a baseline only when there is one."""
    from portscope.analyze.detections import DETECTIONS

    return [(rule, rule.detect(data)) for rule in DETECTIONS if data.baseline is not None or not rule.needs_baseline]


def _ephemeral_test(options: AnalyzeOptions) -> Any:
    """Whether a finding's port is a client's ephemeral port, judged by its host's range (--host-os)
    where known, else the run's: what the finding's identifier buckets."""
    from portscope.ports.classify import CODE_EPHEMERAL, class_table
    from portscope.records import ClientRange

    run = ClientRange(*options.ephemeral, options.os)
    hosts = {address: ClientRange(low, high, address) for address, low, high in options.host_ranges}

    def is_ephemeral(port: int | None, protocol: str | None, host: str | None) -> bool:
        if port is None or protocol is None:
            return False
        rng = hosts.get(host, run) if host is not None else run
        return class_table(protocol, rng)[port] == CODE_EPHEMERAL

    return is_ephemeral


def _empty_reason(inputs: list[InputSummary], flows: int) -> str | None:
    if flows:
        return None
    bad = sum(i.bad_records for i in inputs)
    if bad:
        return f"every record was bad ({bad} bad records); nothing to analyse"
    if any(i.flows for i in inputs):
        return "no flow has both addresses"
    return "the inputs hold no flows"


def _rows(con: Any, expr: Any) -> list[dict[str, Any]]:
    return json_rows(con.to_pyarrow(expr))


def _counts(by_class: list[dict[str, Any]], column: str) -> dict[str, int]:
    """Flows per value of ``column``, most first, from the summary's rows."""
    counts: dict[str, int] = {}
    for row in by_class:
        counts[str(row[column])] = counts.get(str(row[column]), 0) + int(row["flows"])
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _addresses(con: Any, folded: Any) -> int:
    """Distinct addresses on either side, from the fold (every flow's two addresses are a pair's)."""
    both = folded.select(a=folded.client).union(folded.select(a=folded.server))
    return int(con.to_pyarrow(both.aggregate(n=both.a.nunique())).to_pylist()[0]["n"])


def _service_names() -> dict[tuple[int, str], str]:
    from portscope.ports.iana import registry

    return registry().service_names()


def _services(con: Any, f: Any, names: dict[tuple[int, str], str]) -> list[dict[str, Any]]:
    rows = _rows(con, overview.services(f))
    out = []
    for row in rows:
        out.append(
            {
                "port": row["port"],
                "protocol": row["protocol"],
                "service": names.get((row["port"], row["protocol"])),
                **{k: v for k, v in row.items() if k not in ("port", "protocol")},
            }
        )
    return out


def _ports(con: Any, f: Any, names: dict[tuple[int, str], str], options: AnalyzeOptions) -> list[dict[str, Any]]:
    """Every port, a line each. A day of flows has a hundred thousand of them (each client port), so
    rows are read column-wise from Arrow rather than as dictionaries first."""
    from portscope.ports.classify import CODE_EPHEMERAL, class_table
    from portscope.ports.ranges import iana_range
    from portscope.records import ClientRange

    low, high = options.ephemeral
    client_range = ClientRange(low, high, options.os)
    serves: dict[tuple[int, str], list[str]] = {}
    top = con.to_pyarrow(_top_services_per_client_port(f))
    for port, protocol, service_port in _columns(top, "port", "protocol", "service_port"):
        serves.setdefault((port, protocol), []).append(f"{service_port}/{protocol}")
    out = []
    for port, protocol, served, used in _columns(
        con.to_pyarrow(overview.ports(f)), "port", "protocol", "server_flows", "client_flows"
    ):
        if port is None:  # a side without a port (a cut log without id.orig_p)
            continue
        serving = serves.get((port, protocol))
        role = "both" if served and used else "service" if served else "client" if serving else "unexplained"
        out.append(
            {
                "port": port,
                "protocol": protocol,
                "as": role,
                "service": names.get((port, protocol)),
                "flows": served + used,
                "serves": serving[:3] if serving and role in ("client", "both") else [],
                "range": iana_range(port)[0],
                "ephemeral": class_table(protocol, client_range)[port] == CODE_EPHEMERAL,
            }
        )
    return out


def _columns(table: Any, *names: str) -> Any:
    """The rows of an Arrow table as tuples of the named columns' Python values."""
    return zip(*(table.column(name).to_pylist() for name in names), strict=True)


def _top_services_per_client_port(f: Any) -> Any:
    import ibis

    g = overview.client_port_services(f)
    ranked = g.mutate(
        rank=ibis.row_number().over(
            ibis.window(group_by=["port", "protocol"], order_by=[ibis.desc("flows"), "service_port"])
        )
    )
    return ranked.filter(ranked.rank < 3).order_by(["port", "protocol", "rank"]).drop("rank")


def _explained(con: Any, f: Any) -> list[dict[str, Any]]:
    out = []
    for row in _rows(con, overview.explained(f)):
        out.append(
            {
                "kind": row["kind"],
                "port": row["port"],
                "protocol": row["protocol"],
                "flows": row["flows"],
                "servers": row["servers"],
                "clients": row["clients"],
                "first_seen": row["first_seen"],
                "text": _EXPLAINED_TEXT[row["kind"]],
            }
        )
    return out


def _timeline(con: Any, f: Any, head: dict[str, Any]) -> dict[str, Any]:
    first, last = head["first_seen"], head["last_seen"]
    span = (last - first).total_seconds() if first is not None and last is not None else 0.0
    bucket = overview.bucket_seconds(span)
    rows = []
    for row in con.to_pyarrow(overview.timeline(f, bucket)).to_pylist():
        start = dt.datetime.fromtimestamp(row["bucket"] / 1_000_000, dt.timezone.utc)
        rows.append({"t": iso(start), "class": row["klass"], "flows": int(row["flows"])})
    return {"bucket_seconds": bucket, "classes": list(overview.TIMELINE_CLASSES), "rows": rows}

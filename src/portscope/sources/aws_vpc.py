"""AWS VPC Flow Logs as text: the default format (version 2) or a custom one named by its header line.

AWS documentation, "Logging IP traffic using VPC Flow Logs" > "Flow log records": a record is one
line of space-separated fields, ``-`` where a field has no value. The default format is
``${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol}
${packets} ${bytes} ${start} ${end} ${action} ${log-status}``; a custom format picks and orders any
of the available fields (v3: vpc-id, subnet-id, instance-id, tcp-flags, type, pkt-srcaddr,
pkt-dstaddr; v4: region, az-id, sublocation-*; v5: pkt-src-aws-service, pkt-dst-aws-service,
flow-direction, traffic-path; later: ecs-*, reject-reason). Files delivered to S3 start with a header
line of the field names (``version account-id interface-id ...``), which is how a custom format is
read; concatenated S3 objects repeat it, and a new header switches the layout. Without any header,
lines must have the default format's shape.

Mapping: ``srcaddr``/``dstaddr`` (the interface-level addresses; ``pkt-*`` are the addresses inside a
NAT or tunnel) and ports; ``start``/``end`` are Unix seconds; ``interface-id`` is the observer;
ACCEPT/REJECT become allow/deny; ``flow-direction`` ingress/egress becomes inbound/outbound. Each
record is one direction of traffic, as AWS aggregates it: ``packets``/``bytes`` go to the ``_out``
columns and the other direction's record is not merged here. ``tcp-flags`` is the OR of the flags
seen (FIN 1, SYN 2, RST 4, SYN-ACK 18; "3 for SYN and FIN" on a short connection): the src opened
the connection when SYN is set without the ACK of a SYN-ACK, so then ``initiator`` is observed, and
otherwise null. ICMP records carry 0 in the port fields and no type or code: ports stay null.
NODATA and SKIPDATA records (no traffic, or records AWS could not capture) are no flows: skipped
and counted as such.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from portscope.sources import ReadContext
from portscope.sources._delimited import Checker, Deferred, as_count, as_int, as_ip, as_port, missing, read_strings
from portscope.sources._records import flow_batch
from portscope.sources._tabular import PORT_PROTOCOLS, PROTOCOL_NAMES, line_chunks, slices, tcp_flag_names

NAME = "aws_vpc"
DESCRIPTION = "AWS VPC flow logs, default version 2 format or a custom format with its header line"

DEFAULT_FIELDS = [
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
    "bytes", "start", "end", "action", "log-status",
]  # fmt: skip
KNOWN_FIELDS = frozenset([
    *DEFAULT_FIELDS, "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr", "region",
    "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction",
    "traffic-path", "ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn", "ecs-container-instance-id",
    "ecs-container-id", "ecs-second-container-id", "ecs-service-name", "ecs-task-definition-arn", "ecs-task-arn",
    "ecs-task-id", "reject-reason",
])  # fmt: skip
# A line of lowercase names: a header candidate (data lines hold digits, ids, ACCEPT, or "-").
_HEADERISH = re.compile(rb"(?m)^\$?\{?[a-z][a-z_-]*\}?(?: \$?\{?[a-z][a-z_-]*\}?)+\r?$")
_DEFAULT_SHAPE = re.compile(
    rb"2 (?:\d{12}|-|unknown) (?:eni-[0-9a-f]+|-)(?: \S+){9} (?:ACCEPT|REJECT|-) (?:OK|NODATA|SKIPDATA)"
)


def _names(line: bytes) -> list[str] | None:
    """The field names of a header line (``account-id``, Athena's ``account_id`` or ``${account-id}``), or None."""
    tokens = [t.strip("${}").replace("_", "-") for t in line.decode("ascii", "replace").split()]
    return tokens if tokens and all(t in KNOWN_FIELDS for t in tokens) else None


def sniff(head: bytes, label: str) -> int:
    """100 for a header line of VPC flow log field names, 90 for lines of the default format's shape, else 0."""
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")[:20] if line.strip()]
    if not lines:
        return 0
    names = _names(lines[0])
    if names is not None and {"srcaddr", "dstaddr"} & set(names) and len(names) >= 3:
        return 100
    shaped = [line for line in lines[:10] if _DEFAULT_SHAPE.fullmatch(line)]
    return 90 if shaped and len(shaped) >= min(len(lines[:10]), 2) - 1 and _DEFAULT_SHAPE.fullmatch(lines[0]) else 0


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Flows from VPC flow log text, a chunk of lines at a time; headers may come and go."""
    fields: list[str] | None = None
    line = 1
    skipped = 0
    for chunk in line_chunks(stream):
        if chunk is None:
            ctx.stats.reject(ctx.label, line, "malformed line", "longer than 16 MiB")
            line += 1
            continue
        pos = 0
        for match in _HEADERISH.finditer(chunk):
            names = _names(match[0])
            if names is None:
                continue
            if match.start() > pos:
                batch, skips = _run(chunk[pos : match.start()], line, fields, ctx)
                skipped += skips
                yield from batch
                line += chunk.count(b"\n", pos, match.start())
            fields, pos = names, min(match.end() + 1, len(chunk))
            line += 1
        if pos < len(chunk):
            batch, skips = _run(chunk[pos:], line, fields, ctx)
            skipped += skips
            yield from batch
            line += chunk.count(b"\n", pos)
    ctx.stats.count_skipped(skipped)


def _run(run: bytes, first: int, fields: list[str] | None, ctx: ReadContext) -> tuple[list[Any], int]:
    """(flow batches, records skipped) for lines under one header (or none: the default format)."""
    if fields is None:
        head = next((line for line in run.split(b"\n", 3) if line.strip()), b"").rstrip(b"\r")
        if not _DEFAULT_SHAPE.fullmatch(head):
            for offset, text in enumerate(run.split(b"\n")):
                if text.strip():
                    ctx.stats.reject(ctx.label, first + offset, "malformed line", "no header line names the fields")
            return [], 0
        fields = DEFAULT_FIELDS
    split_errors = Deferred()
    columns, lines = read_strings(run, first, fields, " ", quoted=False, stats=split_errors, label=ctx.label)
    return _flows(columns, lines, ctx, split_errors)


def _flows(text: dict[str, Any], lines: Any, ctx: ReadContext, split_errors: Deferred) -> tuple[list[Any], int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = len(lines)
    nulls = pa.nulls(rows, pa.string())
    status = text.get("log-status", nulls)
    quiet = pc.fill_null(pc.is_in(status, pa.array(["NODATA", "SKIPDATA"])), False)
    skipped = pc.sum(quiet).as_py() or 0
    if skipped:
        keep = pc.invert(quiet)
        text, lines, rows = {k: v.filter(keep) for k, v in text.items()}, lines.filter(keep), rows - skipped
        nulls = pa.nulls(rows, pa.string())
    checks = Checker(lines, ctx.stats, ctx.label, split_errors)

    def field(name: str) -> Any:
        return text.get(name, nulls)

    src, bad = as_ip(field("srcaddr"))
    checks.check("bad address", "srcaddr", field("srcaddr"), bad)
    dst, bad = as_ip(field("dstaddr"))
    checks.check("bad address", "dstaddr", field("dstaddr"), bad)
    ports = {}
    for name in ("srcport", "dstport"):
        ports[name], bad = as_port(field(name))
        checks.check("bad port", name, field(name), bad)
    ip_proto, bad = as_int(field("protocol"), 0, 255, pa.uint8())
    checks.check("bad value", "protocol", field("protocol"), bad)
    counts = {}
    for name in ("packets", "bytes"):
        counts[name], bad = as_count(field(name))
        checks.check("bad value", name, field(name), bad)
    times = {}
    for name in ("start", "end"):
        seconds, bad = as_int(field(name), 0, 10**11, pa.int64())
        checks.check("bad timestamp", name, field(name), bad)
        times[name] = pc.cast(pc.multiply(seconds, 1_000_000), pa.timestamp("us", tz="UTC"))
    flags, bad = as_int(field("tcp-flags"), 0, 255, pa.uint8())
    checks.check("bad value", "tcp-flags", field("tcp-flags"), bad)
    action = _coded(field("action"), {"ACCEPT": "allow", "REJECT": "deny"})
    checks.check("bad value", "action", field("action"), _unknown(field("action"), action))
    direction = _coded(field("flow-direction"), {"ingress": "inbound", "egress": "outbound"})
    checks.check("bad value", "flow-direction", field("flow-direction"), _unknown(field("flow-direction"), direction))
    status = field("log-status")
    checks.check("bad value", "log-status", status, pc.invert(pc.or_(missing(status), pc.equal(status, "OK"))))
    keep = checks.keep()
    names = pa.array([PROTOCOL_NAMES.get(n, str(n)) for n in range(256)])
    portless = pc.fill_null(pc.invert(pc.is_in(ip_proto, pa.array(PORT_PROTOCOLS, pa.uint8()))), False)
    no_port = pa.scalar(None, pa.uint16())
    syn = pc.not_equal(pc.bit_wise_and(flags, 0x02), 0)
    acked = pc.not_equal(pc.bit_wise_and(flags, 0x10), 0)
    opened = pc.fill_null(pc.and_(syn, pc.invert(acked)), False)
    flag_names = pa.array([tcp_flag_names(n) or None for n in range(256)])
    duration = pc.divide(
        pc.cast(pc.subtract(pc.cast(times["end"], pa.int64()), pc.cast(times["start"], pa.int64())), pa.float64()), 1e6
    )
    columns = {
        "start": times["start"],
        "end": times["end"],
        "duration": duration,
        "observer": pc.if_else(missing(field("interface-id")), pa.scalar(None, pa.string()), field("interface-id")),
        "protocol": pc.dictionary_encode(pc.take(names, ip_proto)),
        "ip_proto": ip_proto,
        "src_addr": src,
        "src_port": pc.if_else(portless, no_port, ports["srcport"]),
        "dst_addr": dst,
        "dst_port": pc.if_else(portless, no_port, ports["dstport"]),
        "action": pc.dictionary_encode(action),
        "direction": pc.dictionary_encode(direction),
        "initiator": pc.dictionary_encode(pc.if_else(opened, "observed", pa.scalar(None, pa.string()))),
        "packets_out": counts["packets"],
        "bytes_out": counts["bytes"],
        "tcp_flags": pc.take(flag_names, flags),
        "evidence_line": lines,
    }
    columns = {name: column.filter(keep) for name, column in columns.items()}
    kept = len(columns["evidence_line"])
    ctx.stats.good += kept
    if not kept:
        return [], skipped
    return list(slices(flow_batch(columns, kept, NAME, ctx.label), ctx.batch_size)), skipped


def _coded(values: Any, words: dict[str, str]) -> Any:
    """The flow-table word for each of a field's known values; null for "-" and for unknown text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = list(words)
    index = pc.index_in(values, pa.array(keys))
    return pc.take(pa.array(list(words.values())), index)


def _unknown(values: Any, coded: Any) -> Any:
    """Rows that hold text that is neither "-" nor a known value."""
    import pyarrow.compute as pc

    return pc.and_(pc.invert(missing(values)), pc.is_null(coded))

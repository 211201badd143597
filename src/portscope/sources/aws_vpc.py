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

Lines without a header line (CloudWatch Logs exports, ``aws logs filter-log-events``, a pipeline that
dropped the S3 header) in a custom format need their field list: the read option ``fields``, a
list of field names or one string of them separated by spaces or commas, each as AWS documents it,
with hyphens or underscores, bare or as ``${...}`` (``"version account-id interface-id srcaddr
..."``). It is the layout until a header line says otherwise. Without it, lines that do not have the
default format's shape are bad records whose message asks for it; the files are still recognised
(a version number, an ``eni-``/``vpc-`` id and ACCEPT/REJECT or a log status), so the user is told.

JSON, as log pipelines write it (read by :mod:`portscope.sources._aws_vpc_json`: one value per line,
values concatenated without a separator as Firehose delivers to S3, or pretty-printed), in three
shapes:

- records whose keys are the flow log fields (Firehose transforms, Vector/Fluent Bit, Athena and
  OCSF exports): ``{"version": 2, "account_id": "123456789010", "srcaddr": ...}``, names with
  hyphens or underscores; numbers as JSON numbers or text, null or ``"-"`` for no value;
- CloudWatch Logs subscription data, ``{"messageType": "DATA_MESSAGE", ..., "logEvents": [{"id":
  ..., "timestamp": ..., "message": "2 123456789010 eni-..."}]}``, whose messages are text records
  (the ``fields`` option applies to them), also as a Lambda event (``{"awslogs": {"data":
  base64(gzip(that))}}``); CONTROL_MESSAGE records are skipped;
- one text record per object under ``message`` or ``@message`` (pipelines, Logs Insights exports).

A JSON record's ``evidence_line`` is the line its object starts on.

Under ``ReadContext.as_rows`` (explain's pasted line) records are split and converted one by one,
without pyarrow (:func:`_flow_row`, the same checks and mapping as :func:`_flows`), and each is
yielded as a row dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from portscope.errors import UsageError
from portscope.flows import row_values
from portscope.sources import ReadContext
from portscope.sources._delimited import (
    Checker,
    Deferred,
    as_count,
    as_int,
    as_ip,
    as_port,
    count_value,
    int_value,
    ip_value,
    is_missing,
    missing,
    port_value,
    read_strings,
    split_lines,
)
from portscope.sources._records import BadRecord, flow_batch
from portscope.sources._tabular import (
    PORT_PROTOCOLS,
    PROTOCOL_NAMES,
    Readable,
    first_byte,
    line_chunks,
    slices,
    tcp_flag_names,
)

NAME = "aws_vpc"
DESCRIPTION = "AWS VPC flow logs: default (v2) or custom formats (header line or field list), as text or JSON"
READS_ROWS = True  # honours ReadContext.as_rows: record by record, no numpy or pyarrow

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
# A record of some custom format: a version, then an AWS resource id and an action or log status somewhere.
_CUSTOM_SHAPE = re.compile(
    rb"[2-9](?=.* (?:eni|vpc|subnet|i)-[0-9a-f]{8,17}(?: |$))(?=.* (?:ACCEPT|REJECT|OK|NODATA|SKIPDATA)(?: |$))"
    rb"(?: \S+){4,}"
)
_NO_FIELDS = "no header line names the fields (give the field list: --vpc-fields, the read option 'fields')"
_QUIET = ("NODATA", "SKIPDATA")  # log-status of records that are no flows: skipped
_ACTIONS = {"ACCEPT": "allow", "REJECT": "deny"}
_DIRECTIONS = {"ingress": "inbound", "egress": "outbound"}
_MAX_SECONDS = 10**11


def _names(line: bytes) -> list[str] | None:
    """The field names of a header line (``account-id``, Athena's ``account_id`` or ``${account-id}``), or None."""
    tokens = [_field_name(t) for t in line.decode("ascii", "replace").split()]
    return tokens if tokens and all(t in KNOWN_FIELDS for t in tokens) else None


def _field_name(token: str) -> str:
    """A field name as AWS writes it in a format string or a header (``account-id``), from any of its spellings."""
    return token.strip().strip("${}").replace("_", "-").lower()


def field_list(option: Any) -> list[str] | None:
    """The ``fields`` read option as field names; None when not given. UsageError naming a name AWS does not define.

    A list (or tuple) of names, or one string of them separated by spaces or commas; hyphens or
    underscores, bare or as ``${...}``.
    """
    if option is None:
        return None
    if isinstance(option, str):
        tokens = option.replace(",", " ").split()
    elif isinstance(option, (list, tuple)) and all(isinstance(t, str) for t in option):
        tokens = list(option)
    else:
        raise UsageError(f"the VPC flow log field list must be a list of names or a string of them, not {option!r}")
    names = [_field_name(t) for t in tokens]
    unknown = [t for t, n in zip(tokens, names, strict=True) if n not in KNOWN_FIELDS]
    if unknown or not names:
        raise UsageError(
            f"invalid VPC flow log field {unknown[0] if unknown else option!r}; "
            f"valid ones are: {', '.join(sorted(KNOWN_FIELDS))}"
        )
    if len(set(names)) != len(names):
        raise UsageError(f"the VPC flow log field list names a field twice: {option!r}")
    return names


def sniff(head: bytes, label: str) -> int:
    """100 for a header line of VPC flow log field names, 95 for JSON of flow log records or of CloudWatch
    Logs events holding them, 90 for lines of the default format's shape, 70 for lines of a custom
    format without a header (which need the field list to be read), else 0."""
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return 95 if _json_sniff(stripped) else 0
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")[:20] if line.strip()]
    if not lines:
        return 0
    names = _names(lines[0])
    if names is not None and {"srcaddr", "dstaddr"} & set(names) and len(names) >= 3:
        return 100
    shaped = [line for line in lines[:10] if _DEFAULT_SHAPE.fullmatch(line)]
    if shaped and len(shaped) >= min(len(lines[:10]), 2) - 1 and _DEFAULT_SHAPE.fullmatch(lines[0]):
        return 90
    custom = [line for line in lines[:10] if _CUSTOM_SHAPE.fullmatch(line)]
    return 70 if custom and 2 * len(custom) >= len(lines[:10]) and _CUSTOM_SHAPE.fullmatch(lines[0]) else 0


def _json_sniff(head: bytes) -> bool:
    """JSON whose first record has flow log fields as keys, or CloudWatch Logs events with flow log records."""
    if b'"logEvents"' in head and b'"messageType"' in head:
        return re.search(rb'"message" ?: ?"[2-9] ', head) is not None and (b"eni-" in head or b"NODATA" in head)
    keys = set(re.findall(rb'"([a-z][a-z_-]*)" ?:', head[:4096]))
    found = {_field_name(k.decode()) for k in keys} & KNOWN_FIELDS
    return {"srcaddr", "dstaddr"} <= found and len(found) >= 4


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Flows from VPC flow log text, a chunk of lines at a time (headers may come and go), or from JSON."""
    given = field_list(ctx.options.get("fields"))
    first, replayed = first_byte(stream)
    if first in (b"{", b"["):
        from portscope.sources._aws_vpc_json import read_json

        yield from read_json(replayed, ctx, given)
        return
    skipped = 0
    for run, line, fields in _text_runs(replayed, ctx, given):
        batch, skips = _run(run, line, fields, ctx)
        skipped += skips
        yield from batch
    ctx.stats.count_skipped(skipped)


def _text_runs(stream: Readable, ctx: ReadContext, fields: list[str] | None) -> Iterator[tuple[bytes, int, Any]]:
    """``(lines, number of the first, their field list)`` for each run of lines under one header line
    (or under ``fields``, or none: None), a chunk at a time; an overlong line is a bad record."""
    line = 1
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
                yield chunk[pos : match.start()], line, fields
                line += chunk.count(b"\n", pos, match.start())
            fields, pos = names, min(match.end() + 1, len(chunk))
            line += 1
        if pos < len(chunk):
            yield chunk[pos:], line, fields
            line += chunk.count(b"\n", pos)


def _run(run: bytes, first: int, fields: list[str] | None, ctx: ReadContext) -> tuple[list[Any], int]:
    """(flow batches, or rows under ``as_rows``; records skipped) for lines under one header or field list
    (or none: the default format)."""
    if fields is None:
        head = next((line for line in run.split(b"\n", 3) if line.strip()), b"").rstrip(b"\r")
        if not _DEFAULT_SHAPE.fullmatch(head):
            for offset, text in enumerate(run.split(b"\n")):
                if text.strip():
                    ctx.stats.reject(ctx.label, first + offset, "malformed line", _NO_FIELDS)
            return [], 0
        fields = DEFAULT_FIELDS
    split_errors = Deferred()
    if ctx.as_rows:
        split = split_lines(run, first, fields, " ", quoted=False, stats=split_errors, label=ctx.label)
        return _flow_rows(((line, dict(zip(fields, values, strict=True))) for line, values in split), ctx, split_errors)
    columns, lines = read_strings(run, first, fields, " ", quoted=False, stats=split_errors, label=ctx.label)
    return _flows(columns, lines, ctx, split_errors)


def _flows(text: dict[str, Any], lines: Any, ctx: ReadContext, split_errors: Deferred) -> tuple[list[Any], int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = len(lines)
    nulls = pa.nulls(rows, pa.string())
    status = text.get("log-status", nulls)
    quiet = pc.fill_null(pc.is_in(status, pa.array(_QUIET)), False)
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
    times, seconds = {}, {}
    for name in ("start", "end"):
        seconds[name], bad = as_int(field(name), 0, _MAX_SECONDS, pa.int64())
        checks.check("bad timestamp", name, field(name), bad)
        times[name] = pc.cast(pc.multiply(seconds[name], 1_000_000), pa.timestamp("us", tz="UTC"))
    flags, bad = as_int(field("tcp-flags"), 0, 255, pa.uint8())
    checks.check("bad value", "tcp-flags", field("tcp-flags"), bad)
    action = _coded(field("action"), _ACTIONS)
    checks.check("bad value", "action", field("action"), _unknown(field("action"), action))
    direction = _coded(field("flow-direction"), _DIRECTIONS)
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
    # In whole seconds, exact as float64 (under 2**53); in microseconds a time past 2255 was not.
    duration = pc.cast(pc.subtract(seconds["end"], seconds["start"]), pa.float64())
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


def _flow_rows(
    records: Iterable[tuple[int, dict[str, str | None]]], ctx: ReadContext, earlier: Deferred
) -> tuple[list[Any], int]:
    """(flow rows, records skipped) of records' text by field name, as :func:`_flows` makes batches of them:
    NODATA and SKIPDATA skipped, the bad records (with ``earlier``'s, once ``records`` is read) reported
    in line order."""
    rows = []
    failed: list[tuple[int, str, str]] = []
    skipped = 0
    for line, text in records:
        if text.get("log-status") in _QUIET:
            skipped += 1
            continue
        try:
            rows.append(_flow_row(text, line, ctx.label))
        except BadRecord as exc:
            failed.append((line, exc.kind, exc.detail))
    for line, kind, detail in sorted([*earlier.rejected, *failed], key=lambda r: r[0]):
        ctx.stats.reject(ctx.label, line, kind, detail)
    ctx.stats.good += len(rows)
    return rows, skipped


def _flow_row(text: dict[str, str | None], line: int, label: str) -> dict[str, Any]:
    """The flow row (:func:`portscope.flows.row_values`) of one record's text by field name, as :func:`_flows`
    makes it, without pyarrow; BadRecord for the first of its checks the record fails (same kind, same message)."""

    def checked(kind: Any, name: str, value_bad: tuple[Any, bool]) -> Any:
        value, bad = value_bad
        if bad:
            raise BadRecord(kind, f"{name} {text.get(name)!r}")
        return value

    src = checked("bad address", "srcaddr", ip_value(text.get("srcaddr")))
    dst = checked("bad address", "dstaddr", ip_value(text.get("dstaddr")))
    ports = {name: checked("bad port", name, port_value(text.get(name))) for name in ("srcport", "dstport")}
    ip_proto = checked("bad value", "protocol", int_value(text.get("protocol"), 0, 255))
    counts = {name: checked("bad value", name, count_value(text.get(name))) for name in ("packets", "bytes")}
    times = {
        name: checked("bad timestamp", name, int_value(text.get(name), 0, _MAX_SECONDS)) for name in ("start", "end")
    }
    flags = checked("bad value", "tcp-flags", int_value(text.get("tcp-flags"), 0, 255))
    action = checked("bad value", "action", _word(text.get("action"), _ACTIONS))
    direction = checked("bad value", "flow-direction", _word(text.get("flow-direction"), _DIRECTIONS))
    status = text.get("log-status")
    checked("bad value", "log-status", (None, not (is_missing(status) or status == "OK")))
    start, end = (None if times[n] is None else times[n] * 1_000_000 for n in ("start", "end"))
    portless = ip_proto not in PORT_PROTOCOLS
    observer = text.get("interface-id")
    return row_values(
        {
            "start": start,
            "end": end,
            "duration": None if times["start"] is None or times["end"] is None else times["end"] - times["start"],
            "observer": None if is_missing(observer) else observer,
            "source_format": NAME,
            "protocol": None if ip_proto is None else PROTOCOL_NAMES.get(ip_proto, str(ip_proto)),
            "ip_proto": ip_proto,
            "src_addr": src,
            "src_port": None if portless else ports["srcport"],
            "dst_addr": dst,
            "dst_port": None if portless else ports["dstport"],
            "action": action,
            "direction": direction,
            "initiator": "observed" if flags is not None and flags & 0x12 == 0x02 else None,
            "packets_out": counts["packets"],
            "bytes_out": counts["bytes"],
            "tcp_flags": None if flags is None else tcp_flag_names(flags) or None,
            "evidence_file": label,
            "evidence_line": line,
        }
    )


def _word(value: str | None, words: dict[str, str]) -> tuple[str | None, bool]:
    """One value of :func:`_coded` and :func:`_unknown`: (the flow-table word or None, whether the text is unknown)."""
    word = None if value is None else words.get(value)
    return word, word is None and not is_missing(value)

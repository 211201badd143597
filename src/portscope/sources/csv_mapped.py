"""Any CSV or TSV with a header line, read through a column mapping (``--map src_addr=SourceIP``).

``options["map"]`` maps flow columns to the input's column names (``{"src_addr": "SourceIP",
"dst_port": "DPort"}``); unmapped flow columns stay null. The delimiter is the one of comma, tab
and semicolon the header line holds most of; fields may be double-quoted (RFC 4180), but a record
must fit on one line (its line number is its evidence). This source never guesses a file is its
format (``sniff`` is 0): it is chosen with ``--format csv_mapped``.

Each mapped value is checked for its flow column's type, a whole column at a time: addresses must be
IPv4/IPv6 text, ports 0-65535, counts whole numbers, times ISO 8601 (a zone offset or ``Z``, UTC
when none is written) or Unix epoch seconds (milliseconds and microseconds are told apart by size).
A row with a value that is not what its column holds is a bad record naming line, column and value;
empty cells and ``-`` are null. ``protocol`` takes names or numbers (``TCP``, ``6``) and fills
``ip_proto`` too; ``action`` and ``direction`` take the usual words (accept/permit/pass, drop/
reject/block; in/out, ingress/egress). ICMP rows keep no ports.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from portscope.errors import DataError, UsageError
from portscope.flows import FLOW_COLUMNS
from portscope.sources import ReadContext
from portscope.sources._delimited import (
    Checker,
    Deferred,
    as_count,
    as_float,
    as_int,
    as_ip,
    as_port,
    missing,
    read_strings,
)
from portscope.sources._records import flow_batch
from portscope.sources._tabular import PORT_PROTOCOLS, iso_micros, line_chunks, protocol, slices

NAME = "csv_mapped"
DESCRIPTION = "any CSV/TSV with a header, through a column mapping given with --map"

_TYPES = {c.name: c.type for c in FLOW_COLUMNS}
_FIXED = ("source_format", "evidence_file", "evidence_line")
_ACTIONS = {
    "allow": "allow", "allowed": "allow", "accept": "allow", "accepted": "allow", "permit": "allow",
    "permitted": "allow", "pass": "allow", "deny": "deny", "denied": "deny", "drop": "deny", "dropped": "deny",
    "reject": "deny", "rejected": "deny", "block": "deny", "blocked": "deny", "unknown": "unknown",
}  # fmt: skip
_DIRECTIONS = {
    "inbound": "inbound", "in": "inbound", "ingress": "inbound", "outbound": "outbound", "out": "outbound",
    "egress": "outbound", "forward": "forward", "forwarded": "forward", "local": "local",
}  # fmt: skip


def sniff(head: bytes, label: str) -> int:
    """Always 0: a CSV says nothing about which column is what, so this source is only chosen by name."""
    return 0


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Flows from the mapped columns, a chunk of lines at a time; bad values counted per row."""
    mapping = _mapping(ctx.options.get("map"))
    header: list[str] | None = None
    delimiter = ","
    line = 1
    for piece in line_chunks(stream):
        if piece is None:
            ctx.stats.reject(ctx.label, line, "malformed line", "longer than 16 MiB")
            line += 1
            continue
        chunk = piece
        if header is None:
            while chunk and header is None:
                end = chunk.find(b"\n")
                first, chunk = (chunk, b"") if end < 0 else (chunk[:end], chunk[end + 1 :])
                line += 1
                if first.strip():
                    header, delimiter = _header(first, ctx.label, mapping)
            if header is None or not chunk:
                continue
        split_errors = Deferred()
        columns, lines = read_strings(chunk, line, header, delimiter, quoted=True, stats=split_errors, label=ctx.label)
        yield from _flows(columns, lines, mapping, ctx, split_errors)
        line += chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
    # An empty file (or blank lines only) is an empty table, as other sources read it: no header, no rows.


def _mapping(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise UsageError(
            "csv_mapped needs a column mapping: --map FLOW_COLUMN=INPUT_COLUMN (e.g. --map src_addr=SourceIP)"
        )
    mapping = {str(k): str(v) for k, v in value.items()}
    unknown = sorted(set(mapping) - set(_TYPES) | set(mapping) & set(_FIXED))
    if unknown:
        valid = ", ".join(n for n in _TYPES if n not in _FIXED)
        raise UsageError(f"cannot map {', '.join(unknown)}; the flow columns that take a mapping are: {valid}")
    return mapping


def _header(line: bytes, label: str, mapping: dict[str, str]) -> tuple[list[str], str]:
    """Column names and delimiter from the header line; DataError naming mapped columns it lacks."""
    import csv
    import io

    text = line.rstrip(b"\r").removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
    delimiter = max(",\t;", key=text.count)
    try:
        names = [n.strip() for n in next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))]
    except (csv.Error, StopIteration) as exc:  # a stray CR or a quote left open: no header to map from
        raise DataError(f"{label}: line 1: the header line cannot be read as CSV: {exc or 'it is empty'}") from exc
    absent = sorted(set(mapping.values()) - set(names))
    if absent:
        raise DataError(f"{label}: the header has no column {', '.join(map(repr, absent))}; it has: {', '.join(names)}")
    return names, delimiter


def _flows(
    text: dict[str, Any], lines: Any, mapping: dict[str, str], ctx: ReadContext, split_errors: Deferred
) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    checks = Checker(lines, ctx.stats, ctx.label, split_errors)
    columns: dict[str, Any] = {}
    for flow, source in mapping.items():
        values = pc.utf8_trim_whitespace(text[source])
        kind = _TYPES[flow]
        if flow in ("src_addr", "dst_addr"):
            columns[flow], bad = as_ip(values)
            checks.check("bad address", source, values, bad)
        elif kind == "uint16":
            columns[flow], bad = as_port(values)
            checks.check("bad port", source, values, bad)
        elif kind == "uint8":
            columns[flow], bad = as_int(values, 0, 255, pa.uint8())
            checks.check("bad value", source, values, bad)
        elif kind == "uint32":
            columns[flow], bad = as_int(values, 0, 2**32 - 1, pa.uint32())
            checks.check("bad value", source, values, bad)
        elif kind == "uint64":
            columns[flow], bad = as_count(values)
            checks.check("bad value", source, values, bad)
        elif kind == "float64":
            columns[flow], bad = as_float(values)
            checks.check("bad value", source, values, bad)
        elif kind == "timestamp":
            columns[flow], bad = _times(values)
            checks.check("bad timestamp", source, values, bad)
        elif flow == "protocol":
            columns[flow], number, bad = _protocols(values)
            checks.check("bad value", source, values, bad)
            if "ip_proto" not in mapping:
                columns["ip_proto"] = number
        elif flow in ("action", "direction"):
            words = _ACTIONS if flow == "action" else _DIRECTIONS
            columns[flow] = _words(values, words)
            checks.check("bad value", source, values, pc.and_(pc.invert(missing(values)), pc.is_null(columns[flow])))
        else:
            columns[flow] = pc.if_else(missing(values), pa.scalar(None, pa.string()), values)
    keep = checks.keep()
    number = columns.get("ip_proto")
    if number is not None:  # a protocol without ports keeps none
        portless = pc.fill_null(pc.invert(pc.is_in(number, pa.array(PORT_PROTOCOLS, pa.uint8()))), False)
        for name in ("src_port", "dst_port"):
            if name in columns:
                columns[name] = pc.if_else(portless, pa.scalar(None, pa.uint16()), columns[name])
    columns["evidence_line"] = lines
    columns = {name: column.filter(keep) for name, column in columns.items()}
    kept = len(columns["evidence_line"])
    ctx.stats.good += kept
    if kept:
        yield from slices(flow_batch(columns, kept, NAME, ctx.label), ctx.batch_size)


def _times(values: Any) -> tuple[Any, Any]:
    """(UTC timestamps, bad rows) from ISO 8601 text or epoch numbers; one column, a few vectorised steps."""
    import pyarrow as pa
    import pyarrow.compute as pc

    absent = missing(values)
    numeric, _ = as_float(values)
    epoch = pc.if_else(
        pc.greater(numeric, 1e14),
        numeric,
        pc.if_else(pc.greater(numeric, 1e11), pc.multiply(numeric, 1e3), pc.multiply(numeric, 1e6)),
    )
    from_epoch = pc.cast(pc.cast(pc.round(epoch), pa.int64()), pa.timestamp("us", tz="UTC"))
    text = pc.if_else(pc.or_(absent, pc.is_valid(numeric)), pa.scalar(None, pa.string()), values)
    unique = [v for v in pc.unique(text).to_pylist() if v is not None]
    parsed: list[int | None] = []
    for value in unique:
        try:
            parsed.append(iso_micros(value))
        except ValueError:
            parsed.append(None)
    index = pc.index_in(text, pa.array(unique, pa.string()))
    from_text = pc.cast(pc.take(pa.array(parsed, pa.int64()), index), pa.timestamp("us", tz="UTC"))
    stamps = pc.coalesce(from_epoch, from_text)
    return stamps, pc.and_(pc.invert(absent), pc.is_null(stamps))


def _protocols(values: Any) -> tuple[Any, Any, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    unique = [v for v in pc.unique(values).to_pylist() if v not in (None, "", "-")]
    names: list[str | None] = []
    numbers: list[int | None] = []
    for value in unique:
        try:
            name, number = protocol(value)
        except ValueError:
            name, number = None, None
        names.append(name)
        numbers.append(number)
    index = pc.index_in(values, pa.array(unique, pa.string()))
    named = pc.take(pa.array(names, pa.string()), index)
    bad = pc.and_(pc.invert(missing(values)), pc.is_null(named))
    return named, pc.take(pa.array(numbers, pa.uint8()), index), bad


def _words(values: Any, words: dict[str, str]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    index = pc.index_in(pc.utf8_lower(values), pa.array(list(words), pa.string()))
    return pc.take(pa.array(list(words.values()), pa.string()), index)

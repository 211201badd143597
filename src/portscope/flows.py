"""The flow table: one schema for every log, capture and scan portscope reads.

The schema is data: each column declares its name, Arrow type, unit and description, and both the
Arrow schema (:func:`flow_schema`) and docs/schema.md (:func:`schema_markdown`, checked by a test)
are generated from :data:`FLOW_COLUMNS`. Sources yield ``pyarrow.RecordBatch`` objects in this
schema (:func:`batch_from_columns`), a batch at a time, so a 10 GB input never sits in memory whole.

Conventions every source follows:
- Missing is null, never a fake 0 or epoch (zat's dash_mapper turns Zeek's ``-`` into port 0: not here).
- ``src``/``dst`` are as the source recorded them. ``initiator`` says whether ``src`` is known to have
  opened the flow: ``observed`` when the source says so (a SYN, Zeek's orig side, a process's
  outbound connect), ``inferred`` when portscope guessed it from ports (and then says so), null when
  nothing tells (one logged packet of a UDP exchange).
- ICMP type and code are never ports: they go to ``icmp_type``/``icmp_code`` and the ports stay null.
- Byte counts are IP bytes (headers included), as Zeek's ``orig_ip_bytes``; ``payload`` counts are
  not in this table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

__all__ = [
    "FLOW_COLUMNS",
    "FlowColumn",
    "column_names",
    "flow_schema",
    "row_values",
    "schema_markdown",
]


class FlowColumn(NamedTuple):
    """One column of the flow table: its name, Arrow type (by name, see :func:`_arrow_type`), unit, meaning."""

    name: str
    type: str
    unit: str
    description: str


FLOW_COLUMNS: tuple[FlowColumn, ...] = (
    FlowColumn("start", "timestamp", "UTC, microseconds", "when the flow (or the logged packet) began"),
    FlowColumn(
        "end",
        "timestamp",
        "UTC, microseconds",
        "when the flow was last seen; null for single-packet records",
    ),
    FlowColumn("duration", "float64", "seconds", "end minus start, or the duration the source reports"),
    FlowColumn("observer", "string", "", "the host or device that recorded it (syslog host, sensor, VPC interface)"),
    FlowColumn("source_format", "dictionary", "", "the reader that produced the row: iptables, zeek_conn, pcap, ..."),
    FlowColumn(
        "protocol",
        "dictionary",
        "",
        "the IP protocol by name, the same for every source (tcp, udp, icmp, icmpv6, sctp, igmp, gre, esp, ah, "
        "ospf, vrrp...: IANA's keywords, lowercased); any other protocol is its number as text",
    ),
    FlowColumn(
        "ip_proto",
        "uint8",
        "IANA protocol number",
        "the IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6)",
    ),
    FlowColumn("src_addr", "string", "IPv4/IPv6 text", "source address as recorded"),
    FlowColumn("src_port", "uint16", "", "source port; null for protocols without ports"),
    FlowColumn("dst_addr", "string", "IPv4/IPv6 text", "destination address as recorded"),
    FlowColumn("dst_port", "uint16", "", "destination port; null for protocols without ports"),
    FlowColumn("icmp_type", "uint8", "", "ICMP/ICMPv6 type (never stored as a port)"),
    FlowColumn("icmp_code", "uint8", "", "ICMP/ICMPv6 code"),
    FlowColumn("action", "dictionary", "", "allow, deny or unknown: what the recording device did"),
    FlowColumn(
        "direction",
        "dictionary",
        "",
        "inbound, outbound, forward or local as the source says; null when it does not",
    ),
    FlowColumn(
        "initiator",
        "dictionary",
        "",
        "observed: src opened the flow, as the source says; inferred: portscope's guess from ports; null: unknown",
    ),
    FlowColumn("packets_out", "uint64", "packets", "packets from src to dst"),
    FlowColumn("packets_in", "uint64", "packets", "packets from dst to src"),
    FlowColumn("bytes_out", "uint64", "bytes (IP)", "IP bytes from src to dst, headers included"),
    FlowColumn("bytes_in", "uint64", "bytes (IP)", "IP bytes from dst to src, headers included"),
    FlowColumn("tcp_flags", "string", "", "TCP flags of a logged packet (SYN, ACK FIN...), as the source wrote them"),
    FlowColumn("conn_state", "dictionary", "", "Zeek-style connection state (S0, SF, REJ, ...) where known"),
    FlowColumn("history", "string", "", "Zeek-style history string (ShADadFf...) where known"),
    FlowColumn(
        "service",
        "dictionary",
        "",
        "the application protocol the source identified (Zeek service, Suricata app_proto)",
    ),
    FlowColumn("in_interface", "string", "", "interface the packet came in on (iptables IN=)"),
    FlowColumn("out_interface", "string", "", "interface it went out on (iptables OUT=)"),
    FlowColumn("rule", "string", "", "the firewall rule, log prefix or signature that wrote the record"),
    FlowColumn(
        "process_name",
        "string",
        "",
        "process that owned the connection, where the source names it (Sysmon, Windows 5156)",
    ),
    FlowColumn("process_pid", "uint32", "", "that process's id"),
    FlowColumn("process_path", "string", "", "that process's executable path"),
    FlowColumn("user", "string", "", "the user the source names"),
    FlowColumn("flow_id", "string", "", "the source's own flow identifier (Zeek uid, Suricata flow_id)"),
    FlowColumn("community_id", "string", "", "Community ID v1 (seed 0, base64) of the 5-tuple, where computed"),
    FlowColumn("evidence_file", "dictionary", "", "the file the record came from (- for standard input)"),
    FlowColumn(
        "evidence_line",
        "uint64",
        "line or packet number",
        "where in that file: a 1-based line, or packet number for captures",
    ),
)  # fmt: skip


def column_names() -> tuple[str, ...]:
    return tuple(c.name for c in FLOW_COLUMNS)


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    types = {
        "timestamp": pa.timestamp("us", tz="UTC"),
        "float64": pa.float64(),
        "string": pa.string(),
        "dictionary": pa.dictionary(pa.int32(), pa.string()),
        "uint8": pa.uint8(),
        "uint16": pa.uint16(),
        "uint32": pa.uint32(),
        "uint64": pa.uint64(),
    }
    return types[name]


def flow_schema() -> Any:
    """The flow table's ``pyarrow.Schema``, column descriptions and units in each field's metadata."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(
                c.name, _arrow_type(c.type), nullable=True, metadata={"unit": c.unit, "description": c.description}
            )
            for c in FLOW_COLUMNS
        ],
        metadata={"portscope.schema": "flows/1"},
    )


def schema_markdown() -> str:
    """docs/schema.md, generated: a test checks the file is exactly this text."""
    lines = [
        "# The flow table (schema `flows/1`)",
        "",
        "Generated from `portscope.flows.FLOW_COLUMNS` (`python -m portscope.flows > docs/schema.md`);",
        "a test checks this file is current. Every source (firewall logs, Zeek, Suricata, flow logs,",
        "NetFlow, captures, scans) is read into these columns; missing values are null, never 0.",
        "",
        "| column | type | unit | meaning |",
        "|---|---|---|---|",
    ]
    for c in FLOW_COLUMNS:
        kind = "string (dictionary-encoded)" if c.type == "dictionary" else c.type
        if c.type == "timestamp":
            kind = "timestamp[us, UTC]"
        lines.append(f"| `{c.name}` | {kind} | {c.unit} | {c.description} |")
    lines += [
        "",
        "`initiator`: `observed` when the source itself says that `src` opened the flow (a SYN, Zeek's",
        "originator, a connect logged with its process), `inferred` when portscope guessed it from the",
        "ports and the OS ephemeral ranges, null when nothing tells. Nothing is guessed silently.",
        "",
    ]
    return "\n".join(lines)


def batch_from_columns(columns: dict[str, Any], rows: int) -> Any:
    """A ``pyarrow.RecordBatch`` in the flow schema from per-column values (lists or Arrow arrays).

    Columns absent from ``columns`` are all null; each present one is converted to its declared type.
    """
    import pyarrow as pa

    schema = flow_schema()
    arrays = []
    for field in schema:
        values = columns.get(field.name)
        if values is None:
            arrays.append(pa.nulls(rows, type=field.type))
            continue
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            array = values.cast(field.type) if values.type != field.type else values
        elif pa.types.is_dictionary(field.type):
            array = pa.array(values, type=pa.string()).dictionary_encode().cast(field.type)
        else:
            array = pa.array(values, type=field.type)
        if field.name in _ADDRESS_COLUMNS:
            array = canonical_addresses(array)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


_ADDRESS_COLUMNS = frozenset({"src_addr", "dst_addr"})


def row_values(values: dict[str, Any]) -> dict[str, Any]:
    """One flow as :func:`batch_from_columns` would hold it and ``to_pylist()`` give it back, without pyarrow.

    For a single record (``portscope explain '<log line>'``), where importing pyarrow would be most
    of the time taken. ``values`` are what a source gives :func:`batch_from_columns` for one row:
    every column, in schema order; absent ones null; timestamps as UTC datetimes (from µs since the
    epoch, or a datetime); numbers as the column's Python type; addresses canonical. A parity test
    holds this to the batch path on every line-format fixture.
    """
    row: dict[str, Any] = {}
    for column in FLOW_COLUMNS:
        value = values.get(column.name)
        if value is not None:
            kind = column.type
            if kind == "timestamp":
                if isinstance(value, dt.datetime):
                    value = value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
                else:
                    value = _EPOCH + dt.timedelta(microseconds=int(value))
            elif kind == "float64":
                value = float(value)
            elif kind.startswith("uint"):
                value = int(value)
                if not 0 <= value < 1 << int(kind[4:]):
                    raise ValueError(f"{column.name}: {value} is out of range for {kind}")
            else:
                value = str(value)
                if column.name in _ADDRESS_COLUMNS and ":" in value:
                    value = _canonical(value)
        row[column.name] = value
    return row


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _canonical(text: str) -> str:
    """One address's canonical text; the C library's inet_pton/inet_ntop (RFC 5952 in glibc) do the
    work, a tenth of the ipaddress module's time, which was half of parsing an IPv6-heavy kernel log."""
    import socket

    bare = text.split("%", 1)[0]
    try:
        packed = socket.inet_pton(socket.AF_INET6, bare)
    except (OSError, ValueError):
        return text  # not an address after all: keep what the source wrote
    if packed[:12] == _MAPPED_PREFIX:
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    written = socket.inet_ntop(socket.AF_INET6, packed)
    if "." in written:  # glibc writes ::a.b.c.d for ::/96 and ::ffff:0:0/96; RFC 5952 wants hex there
        import ipaddress

        return ipaddress.IPv6Address(packed).compressed
    return written


_MAPPED_PREFIX = bytes(10) + b"\xff\xff"


def canonical_addresses(array: Any) -> Any:
    """IPv6 text in its one canonical form (RFC 5952: compressed, lower case); ``::ffff:a.b.c.d`` as IPv4.

    Sources write IPv6 differently (the kernel's LOG target and Suricata the full form, Zeek the
    compressed one); without one form the same flow would not join across tools. Only the distinct
    values containing ``:`` are parsed, so an IPv4-only batch costs one vectorised test.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count == len(array) or not pc.any(pc.match_substring(array, ":")).as_py():
        return array
    encoded = array.dictionary_encode()
    words = [None if v is None else (_canonical(v) if ":" in v else v) for v in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(words, type=pa.string()), encoded.indices)


if __name__ == "__main__":
    print(schema_markdown(), end="")

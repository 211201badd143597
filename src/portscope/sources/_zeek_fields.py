"""The conn.log fields portscope reads, their Zeek types, and their mapping to the flow table.

Split from :mod:`zeek_conn` (which finds the fields in a log and parses its lines): here is what
each field holds and how a checked set of them becomes flow rows, vectorised (:func:`to_flows`) or
one record at a time without pyarrow (:func:`to_flow_row`, explain's pasted line), step for step
the same. References are in zeek_conn's docstring; the ICMP pairs are Zeek's
``ICMP4_counterpart``/``ICMP6_counterpart`` (ICMP.cc).
"""

from __future__ import annotations

import re
from typing import Any

from portscope.flows import row_values
from portscope.sources._records import flow_batch
from portscope.sources._tabular import PROTOCOL_NAMES, iso_micros

__all__ = ["KINDS", "MAX_SECONDS", "arrow_types", "json_value", "text_value", "to_flow_row", "to_flows"]

# The conn.log fields the flow table uses, by Zeek type; other fields are not converted at all.
KINDS = {
    "ts": "time",
    "uid": "string",
    "id.orig_h": "addr",
    "id.orig_p": "port",
    "id.resp_h": "addr",
    "id.resp_p": "port",
    "proto": "string",
    "service": "string",
    "duration": "interval",
    "conn_state": "string",
    "local_orig": "bool",
    "local_resp": "bool",
    "history": "string",
    "orig_pkts": "count",
    "orig_ip_bytes": "count",
    "resp_pkts": "count",
    "resp_ip_bytes": "count",
    "ip_proto": "proto",
    "community_id": "string",
}
_MASKED_TIME = "XXXXXXXXXX.XXXXXX"
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
MAX_SECONDS = 1e11  # year 5138: a later "time" is garbage, and would overflow microseconds
# ICMP types that come in request/reply pairs: Zeek logs the counterpart type, not the code, for them.
_PAIRED_V4 = (0, 8, 9, 10, 13, 14, 15, 16, 17, 18)
_PAIRED_V6 = (128, 129, 130, 131, 133, 134, 135, 136, 139, 140, 144, 145)
_NUMBERED = {"tcp": 6, "udp": 17}  # the transports named in proto whose number a log without ip_proto implies


def arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    by_kind = {
        "time": pa.float64(),
        "string": pa.string(),
        "addr": pa.string(),
        "port": pa.uint16(),
        "interval": pa.float64(),
        "bool": pa.bool_(),
        "count": pa.uint64(),
        "proto": pa.uint8(),
    }
    return {name: by_kind[kind] for name, kind in KINDS.items()}


def text_value(name: str, text: str, unset: str, empty: str) -> Any:
    """One TSV field converted as its Zeek type; ValueError naming field and value when it does not parse."""
    if text in (unset, empty):
        return None
    kind = KINDS[name]
    if kind in ("string", "addr"):
        return text
    if kind == "time" and text == _MASKED_TIME:
        return None
    if kind in ("time", "interval"):
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{name} {text!r} is not a number")
        return float(text)
    if kind == "bool":
        if text not in ("T", "F"):
            raise ValueError(f"{name} {text!r} is not T or F")
        return text == "T"
    limit = {"port": 65535, "count": 2**64 - 1, "proto": 255}[kind]
    if not (text.isascii() and text.isdigit()) or int(text) > limit:
        raise ValueError(f"{name} {text!r} is not a whole number 0-{limit}")
    return int(text)


def json_value(name: str, value: Any) -> Any:
    """One JSON field checked against its Zeek type; ValueError naming field and value otherwise."""
    if value is None:
        return None
    kind = KINDS[name]
    if kind in ("string", "addr"):
        if isinstance(value, list):  # a set written as an array (service in some Zeek versions)
            return ",".join(str(v) for v in value) or None
        if not isinstance(value, str):
            raise ValueError(f"{name} {value!r} is not a string")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} {value!r} is not true or false")
        return value
    if kind == "time" and isinstance(value, str):
        return iso_micros(value) / 1e6
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} {value!r} is not a number")
    if kind == "time":
        return value / 1000 if isinstance(value, int) and value > MAX_SECONDS else float(value)  # TS_MILLIS
    if kind == "interval":
        return float(value)
    limit = {"port": 65535, "count": 2**64 - 1, "proto": 255}[kind]
    if not isinstance(value, int) or not 0 <= value <= limit:
        raise ValueError(f"{name} {value!r} is not a whole number 0-{limit}")
    return value


def to_flows(raw: dict[str, Any], lines: Any, label: str) -> Any:
    """The flow-schema batch for checked conn.log columns (Zeek names), every step vectorised.

    Columns with a known small vocabulary (protocol, initiator, direction) are built as dictionary
    indices directly rather than hashed.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = len(lines)
    types = arrow_types()

    def column(name: str) -> Any:
        value = raw.get(name)
        return value if value is not None else pa.nulls(rows, types[name])

    def coded(indices: Any, words: list[str]) -> Any:
        return pa.DictionaryArray.from_arrays(pc.cast(indices, pa.int32()), pa.array(words, pa.string()))

    timestamp = pa.timestamp("us", tz="UTC")
    start_us = pc.cast(pc.round(pc.multiply(column("ts"), 1e6)), pa.int64())
    duration = column("duration")
    end_us = pc.add(start_us, pc.cast(pc.round(pc.multiply(duration, 1e6)), pa.int64()))
    proto = column("proto")
    orig_p, resp_p = column("id.orig_p"), column("id.resp_p")
    icmp = pc.fill_null(pc.equal(proto, "icmp"), False)
    unknown = pc.fill_null(pc.equal(proto, "unknown_transport"), False)
    any_icmp = pc.any(icmp).as_py()
    ip_proto = raw.get("ip_proto")
    if ip_proto is not None and any_icmp:
        v6 = pc.fill_null(pc.equal(ip_proto, 58), False)
    elif any_icmp:
        v6 = pc.fill_null(pc.match_substring(column("id.orig_h"), ":"), False)
    else:
        v6 = pa.repeat(False, rows) if rows else pa.array([], pa.bool_())
    if ip_proto is None:
        numbered = pa.array(list(_NUMBERED.values()), pa.uint8())
        named = pc.take(numbered, pc.index_in(proto, pa.array(list(_NUMBERED))))
        ip_proto = pc.cast(pc.if_else(icmp, pc.if_else(v6, 58, 1), named), pa.uint8())
    names = [PROTOCOL_NAMES.get(n, str(n)) for n in range(256)]
    if ip_proto.null_count == 0 or pc.all(pc.or_(unknown, pc.is_valid(ip_proto))).as_py() is not False:
        protocol = coded(ip_proto, names)  # null where Zeek wrote unknown_transport and no ip_proto
    else:  # a transport name this table does not know (unknown_transport is none: null there too)
        unnamed = pc.if_else(unknown, pa.scalar(None, pa.string()), proto)
        protocol = pc.dictionary_encode(pc.coalesce(pc.take(pa.array(names), ip_proto), unnamed))
    portless = pc.or_(icmp, unknown)
    no_port = pa.scalar(None, pa.uint16())
    if any_icmp:
        paired = pc.if_else(
            v6,
            pc.is_in(orig_p, pa.array(_PAIRED_V6, pa.uint16())),
            pc.is_in(orig_p, pa.array(_PAIRED_V4, pa.uint16())),
        )
        icmp_type = pc.cast(pc.if_else(icmp, orig_p, no_port), pa.uint8())
        icmp_code = pc.cast(pc.if_else(pc.and_(icmp, pc.invert(paired)), resp_p, no_port), pa.uint8())
    else:
        icmp_type = icmp_code = pa.nulls(rows, pa.uint8())
    flipped = pc.fill_null(pc.match_substring(column("history"), "^"), False)
    local_orig, local_resp = column("local_orig"), column("local_resp")
    direction = pc.if_else(
        pc.and_(local_orig, pc.invert(local_resp)),
        0,
        pc.if_else(pc.and_(pc.invert(local_orig), local_resp), 1, pa.scalar(None, pa.int32())),
    )
    columns = {
        "start": pc.cast(start_us, timestamp),
        "end": pc.cast(end_us, timestamp),
        "duration": duration,
        "protocol": protocol,
        "ip_proto": ip_proto,
        "src_addr": column("id.orig_h"),
        "src_port": pc.if_else(portless, no_port, orig_p),
        "dst_addr": column("id.resp_h"),
        "dst_port": pc.if_else(portless, no_port, resp_p),
        "icmp_type": icmp_type,
        "icmp_code": icmp_code,
        "direction": coded(direction, ["outbound", "inbound"]),
        "initiator": coded(flipped, ["observed", "inferred"]),
        "packets_out": column("orig_pkts"),
        "packets_in": column("resp_pkts"),
        "bytes_out": column("orig_ip_bytes"),
        "bytes_in": column("resp_ip_bytes"),
        "conn_state": pc.dictionary_encode(column("conn_state")),
        "history": column("history"),
        "service": pc.dictionary_encode(column("service")),
        "flow_id": column("uid"),
        "community_id": column("community_id"),
        "evidence_line": lines,
    }
    return flow_batch(columns, rows, "zeek_conn", label)


def to_flow_row(raw: dict[str, Any], line: int, label: str, has_ip_proto: bool) -> dict[str, Any]:
    """The flow row (:func:`portscope.flows.row_values`) of one checked conn.log record, as :func:`to_flows`
    makes it, without pyarrow.

    ``raw`` holds the record's values by Zeek name (absent: unset). ``has_ip_proto`` says whether
    the log has that field at all (``#fields`` names it, or a JSON record of the same run holds it),
    as to_flows judges it per run: without it ``ip_proto`` is derived from ``proto`` (and ICMPv6 from
    an IPv6 originator); with it, an unset one stays null.
    """
    proto = raw.get("proto")
    icmp, portless = proto == "icmp", proto in ("icmp", "unknown_transport")
    ip_proto = raw.get("ip_proto")
    if has_ip_proto:
        v6 = ip_proto == 58
    else:
        v6 = ":" in (raw.get("id.orig_h") or "")
        ip_proto = (58 if v6 else 1) if icmp else _NUMBERED.get(proto or "")
    protocol: str | None = None if proto == "unknown_transport" else proto
    if ip_proto is not None:
        protocol = PROTOCOL_NAMES.get(ip_proto, str(ip_proto))
    orig_p, resp_p = raw.get("id.orig_p"), raw.get("id.resp_p")
    paired = orig_p in (_PAIRED_V6 if v6 else _PAIRED_V4)
    ts, duration = raw.get("ts"), raw.get("duration")
    start = None if ts is None else round(ts * 1e6)
    local_orig, local_resp = raw.get("local_orig"), raw.get("local_resp")
    direction = None
    if local_orig is not None and local_resp is not None and local_orig != local_resp:
        direction = "outbound" if local_orig else "inbound"
    return row_values(
        {
            "start": start,
            "end": None if start is None or duration is None else start + round(duration * 1e6),
            "duration": duration,
            "source_format": "zeek_conn",
            "protocol": protocol,
            "ip_proto": ip_proto,
            "src_addr": raw.get("id.orig_h"),
            "src_port": None if portless else orig_p,
            "dst_addr": raw.get("id.resp_h"),
            "dst_port": None if portless else resp_p,
            "icmp_type": orig_p if icmp else None,
            "icmp_code": resp_p if icmp and not paired else None,
            "direction": direction,
            "initiator": "inferred" if "^" in (raw.get("history") or "") else "observed",
            "packets_out": raw.get("orig_pkts"),
            "packets_in": raw.get("resp_pkts"),
            "bytes_out": raw.get("orig_ip_bytes"),
            "bytes_in": raw.get("resp_ip_bytes"),
            "conn_state": raw.get("conn_state"),
            "history": raw.get("history"),
            "service": raw.get("service"),
            "flow_id": raw.get("uid"),
            "community_id": raw.get("community_id"),
            "evidence_file": label,
            "evidence_line": line,
        }
    )

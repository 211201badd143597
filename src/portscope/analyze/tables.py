"""Logs that are tables already (Zeek conn.log, AWS VPC flow logs), read by the engine from their files.

On Spark, a month of an organisation's Zeek conn.logs should never pass through the driver: the
executors read the TSV themselves (the engine's CSV reader: tab separated, ``#`` lines skipped,
``-`` for unset) and the columns become the flow table here, in Ibis, the way portscope's own
reader (sources/_zeek_fields.py) maps them: ICMP type and code out of the port columns, bytes from
``orig_ip_bytes``/``resp_ip_bytes``, the originator observed unless Zeek flipped it (``^``),
direction from ``local_orig``/``local_resp``. VPC flow logs with their header line (as S3 delivery
writes them) likewise, as sources/aws_vpc.py maps them. Engines do not number lines, so the
evidence of such rows names the file (and for Zeek the ``uid``, ``flow_id``), with no line; and
engines do not report malformed values one by one: a value that does not parse becomes null.
"""

from __future__ import annotations

import gzip
from typing import Any

from portscope.errors import DataError

__all__ = ["is_zeek_tsv", "vpc_header", "vpc_table", "zeek_fields", "zeek_table"]

_PAIRED_V4 = (0, 8, 9, 10, 13, 14, 15, 16, 17, 18)  # ICMP echo/info pairs: resp_p is the reply type
_PAIRED_V6 = (128, 129, 130, 131, 133, 134, 135, 136, 139, 140, 144, 145)


def _head(path: str, size: int = 65536) -> bytes | None:
    """The first bytes of a plain or gzip file, or None when it cannot be read (then it is no table)."""
    try:
        opener: Any = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            data: bytes = handle.read(size)
            return data
    except OSError:
        return None


def zeek_fields(path: str) -> list[str] | None:
    """The ``#fields`` of a Zeek TSV log (plain or gzip), or None when the file is not one."""
    head = _head(path)
    if head is None:
        return None
    for line in head.split(b"\n")[:20]:
        if line.startswith(b"#fields\t"):
            names: list[str] = line.rstrip(b"\r").decode("utf-8", "replace").split("\t")[1:]
            return names
    return None


def is_zeek_tsv(path: str) -> bool:
    fields = zeek_fields(path)
    return fields is not None and {"ts", "id.orig_h", "id.resp_h", "proto"} <= set(fields)


def zeek_table(con: Any, engine: str, path: str, fields: list[str]) -> Any:
    """The conn.log at ``path`` as an Ibis table in the flow schema, read by the engine."""
    import ibis

    columns = {name.replace(".", "_"): "string" for name in fields}
    if engine == "spark":
        raw = con.read_csv(
            path, sep="\t", comment="#", header=False, nullValue="-", schema=", ".join(f"`{c}` string" for c in columns)
        )
    else:
        raw = con.read_csv(
            path, delim="\t", comment="#", header=False, nullstr="-", quote="", escape="", columns=columns
        )
    missing = {"ts", "id_orig_h", "id_resp_h", "proto"} - set(raw.columns)
    if missing:
        raise DataError(f"{path}: a Zeek log without {', '.join(sorted(missing))}: not a conn.log")
    return _flows(raw, path, ibis)


def _flows(raw: Any, path: str, ibis: Any) -> Any:
    from portscope.flows import flow_schema
    from portscope.sources._ip_protocols import PROTOCOL_NAMES

    def col(name: str, kind: str = "string") -> Any:
        if name in raw.columns:
            value = raw[name]
            return value.nullif("(empty)").try_cast(kind) if kind != "string" else value.nullif("(empty)")
        return ibis.literal(None, type=kind)

    proto = col("proto")
    ts = col("ts", "float64")
    duration = col("duration", "float64")
    start_us = (ts * 1e6).round().cast("int64")
    end_us = start_us + (duration * 1e6).round().cast("int64")
    epoch = ibis.timestamp("1970-01-01 00:00:00")
    icmp = proto == "icmp"
    v6 = col("id_orig_h").contains(":")
    named = ibis.cases(
        (icmp & v6, 58), (icmp, 1), (proto == "tcp", 6), (proto == "udp", 17), (proto == "sctp", 132), else_=None
    )
    # Newer Zeek logs the IP protocol number (ip_proto): it names what Zeek calls unknown_transport.
    ip_proto = ibis.coalesce(col("ip_proto", "int32"), named) if "ip_proto" in raw.columns else named
    protocol = ibis.cases(
        *((ip_proto == number, name) for number, name in PROTOCOL_NAMES.items()),
        (ip_proto.notnull(), ip_proto.cast("string")),
        else_=ibis.ifelse(proto == "unknown_transport", ibis.literal(None, type="string"), proto),
    )
    portless = icmp | (proto == "unknown_transport")
    orig_p, resp_p = col("id_orig_p", "int32"), col("id_resp_p", "int32")
    paired = ibis.ifelse(v6, orig_p.isin(_PAIRED_V6), orig_p.isin(_PAIRED_V4))

    def flag(name: str) -> Any:
        return raw[name] == "T" if name in raw.columns else ibis.literal(None, type="boolean")

    local_orig, local_resp = flag("local_orig"), flag("local_resp")
    flows = raw.select(
        start=epoch + (start_us).as_interval("us"),
        end=epoch + end_us.as_interval("us"),
        duration=duration,
        observer=ibis.null("string"),
        source_format=ibis.literal("zeek_conn"),
        protocol=protocol,
        ip_proto=ip_proto.cast("int32"),
        src_addr=col("id_orig_h"),
        src_port=ibis.ifelse(portless, ibis.null("int32"), orig_p),
        dst_addr=col("id_resp_h"),
        dst_port=ibis.ifelse(portless, ibis.null("int32"), resp_p),
        icmp_type=ibis.ifelse(icmp, orig_p, ibis.null("int32")),
        icmp_code=ibis.ifelse(icmp & ~paired, resp_p, ibis.null("int32")),
        action=ibis.null("string"),
        direction=ibis.cases(
            (local_orig & ~local_resp, "outbound"), (~local_orig & local_resp, "inbound"), else_=ibis.null("string")
        ),
        initiator=ibis.ifelse(col("history").fill_null("").contains("^"), "inferred", "observed"),
        packets_out=col("orig_pkts", "int64"),
        packets_in=col("resp_pkts", "int64"),
        bytes_out=col("orig_ip_bytes", "int64"),
        bytes_in=col("resp_ip_bytes", "int64"),
        tcp_flags=ibis.null("string"),
        conn_state=col("conn_state"),
        history=col("history"),
        service=col("service"),
        in_interface=ibis.null("string"),
        out_interface=ibis.null("string"),
        rule=ibis.null("string"),
        process_name=ibis.null("string"),
        process_pid=ibis.null("int64"),
        process_path=ibis.null("string"),
        user=ibis.null("string"),
        flow_id=col("uid"),
        community_id=col("community_id"),
        evidence_file=ibis.literal(path),
        evidence_line=ibis.null("int64"),
    )
    if list(flows.columns) != flow_schema().names:  # the flow schema grew: this mapping must follow
        raise RuntimeError("analyze/tables.py maps Zeek to an outdated flow schema")
    return flows


_VPC_NEEDED = {"srcaddr", "dstaddr", "srcport", "dstport", "protocol", "start", "action"}


def vpc_header(path: str) -> list[str] | None:
    """The header line's raw tokens of an AWS VPC flow log (plain or gzip), or None when it has none."""
    from portscope.sources.aws_vpc import KNOWN_FIELDS

    head = _head(path)
    if head is None:
        return None
    tokens: list[str] = head.split(b"\n", 1)[0].decode("ascii", "replace").split()
    names = [_vpc_name(t) for t in tokens]
    if not tokens or not all(n in KNOWN_FIELDS for n in names) or not set(names) >= _VPC_NEEDED:
        return None
    return tokens


def _vpc_name(token: str) -> str:
    return token.strip("${}").replace("_", "-")


def vpc_table(con: Any, engine: str, path: str, tokens: list[str]) -> Any:
    """The VPC flow log at ``path`` (with its header) as an Ibis table in the flow schema, read by the engine."""
    import ibis

    if engine == "spark":
        raw = con.read_csv(path, sep=" ", header=True, nullValue="-", inferSchema=False)
    else:
        raw = con.read_csv(path, delim=" ", header=True, all_varchar=True, quote="", escape="", nullstr="-")
    rename = {_vpc_name(t).replace("-", "_"): t for t in tokens}
    raw = raw.rename(rename)
    return _vpc_flows(raw, path, ibis)


def _vpc_flows(raw: Any, path: str, ibis: Any) -> Any:
    from portscope.flows import flow_schema
    from portscope.sources._ip_protocols import PROTOCOL_NAMES
    from portscope.sources._tabular import _FLAG_BITS, PORT_PROTOCOLS

    def col(name: str, kind: str = "string") -> Any:
        key = name.replace("-", "_")
        if key in raw.columns:
            return raw[key].try_cast(kind) if kind != "string" else raw[key]
        return ibis.literal(None, type=kind)

    status = col("log-status")
    raw = raw.filter(status.isnull() | ~status.isin(("NODATA", "SKIPDATA")))
    first = _vpc_name(raw.columns[0]) if raw.columns else ""
    if first.replace("-", "_") in raw.columns:  # the header again (files concatenated): not a record
        lead = raw[raw.columns[0]].cast("string")
        raw = raw.filter(lead.isnull() | (lead != first))
    ip_proto = col("protocol", "int32")
    flags = col("tcp-flags", "int32")
    start_us = col("start", "int64") * 1_000_000
    end_us = col("end", "int64") * 1_000_000
    epoch = ibis.timestamp("1970-01-01 00:00:00")
    portless = ~ip_proto.isin(PORT_PROTOCOLS)
    names = ibis.literal("")
    for bit, name in _FLAG_BITS:
        names = names + ibis.ifelse((flags & bit) != 0, name + " ", "")
    flag_text = names.rstrip().nullif("")
    opened = ((flags & 0x02) != 0) & ((flags & 0x10) == 0)
    action = col("action")
    way = col("flow-direction")
    flows = raw.select(
        start=epoch + start_us.as_interval("us"),
        end=epoch + end_us.as_interval("us"),
        duration=(end_us - start_us).cast("float64") / 1e6,
        observer=col("interface-id"),
        source_format=ibis.literal("aws_vpc"),
        protocol=ibis.cases(
            *((ip_proto == number, name) for number, name in PROTOCOL_NAMES.items()), else_=ip_proto.cast("string")
        ),
        ip_proto=ip_proto,
        src_addr=col("srcaddr"),
        src_port=ibis.ifelse(portless, ibis.literal(None, type="int32"), col("srcport", "int32")),
        dst_addr=col("dstaddr"),
        dst_port=ibis.ifelse(portless, ibis.literal(None, type="int32"), col("dstport", "int32")),
        icmp_type=ibis.literal(None, type="int32"),
        icmp_code=ibis.literal(None, type="int32"),
        action=ibis.cases((action.isin(("ACCEPT",)), "allow"), (action.isin(("REJECT",)), "deny"), else_=None),
        direction=ibis.cases((way.isin(("ingress",)), "inbound"), (way.isin(("egress",)), "outbound"), else_=None),
        initiator=ibis.ifelse(opened.fill_null(False), "observed", ibis.literal(None, type="string")),
        packets_out=col("packets", "int64"),
        packets_in=ibis.literal(None, type="int64"),
        bytes_out=col("bytes", "int64"),
        bytes_in=ibis.literal(None, type="int64"),
        tcp_flags=flag_text,
        conn_state=ibis.literal(None, type="string"),
        history=ibis.literal(None, type="string"),
        service=ibis.literal(None, type="string"),
        in_interface=ibis.literal(None, type="string"),
        out_interface=ibis.literal(None, type="string"),
        rule=ibis.literal(None, type="string"),
        process_name=ibis.literal(None, type="string"),
        process_pid=ibis.literal(None, type="int64"),
        process_path=ibis.literal(None, type="string"),
        user=ibis.literal(None, type="string"),
        flow_id=ibis.literal(None, type="string"),
        community_id=ibis.literal(None, type="string"),
        evidence_file=ibis.literal(path),
        evidence_line=ibis.literal(None, type="int64"),
    )
    if list(flows.columns) != flow_schema().names:  # the flow schema grew: this mapping must follow
        raise RuntimeError("analyze/tables.py maps VPC flow logs to an outdated flow schema")
    return flows

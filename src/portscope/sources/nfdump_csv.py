"""NetFlow/IPFIX flows as ``nfdump -o csv`` prints them (nfdump 1.6, 1.7 and the named-column csv of later ones).

nfdump 1.6 (bin/output_csv.c) and 1.7 (src/output/output_csv.c) print one fixed header,
``ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,
svln,dvln,ismc,odmc,idmc,osmc,mpls1,...,mpls10,cl,sl,al,ra,eng,exid,tr`` (older 1.6 releases end at
``...,mpls10,ra,eng``), then a line per flow and, unless ``-q``, a trailing block ``Summary`` /
``flows,bytes,packets,avg_bps,avg_pps,avg_bpp`` / totals (nfdump.c PrintSummary), which is no flow
and is skipped. Later releases build the csv from format tokens and name the columns
(``firstSeen,lastSeen,duration,srcAddr,dstAddr,srcPort,dstPort,proto,flags,...``): columns are
found by name in either vocabulary. With ``-q`` there is no header: 48 or 43 fields mean the
fixed layouts above.

What the fields hold, from the printing code:
- ``ts``/``te``: ``%Y-%m-%d %H:%M:%S`` (later ``.%03u`` added) in the *local time of the machine
  that ran nfdump* (strftime of localtime()), with no zone written: read in ``options["timezone"]``
  (an IANA name), UTC when not given. ``0000-00-00 00:00:00.000`` means no time. ``td`` is seconds
  with milliseconds, the precise duration.
- ``pr``: a name from nfdump's protocol table (``TCP``, ``UDP``, ``ICMP``, ``ICMP6``...) or a number.
- ICMP: NetFlow carries type and code in the destination port (type * 256 + code, as nfdump
  stores them: icmpType is the high byte of dstPort); named-column releases print ``type.code``.
  Either way they go to icmp_type/icmp_code and the ports stay null.
- ``flg``: the cumulative TCP flags of this direction, ``CEUAPRSF`` with dots for absent ones.
  NetFlow records one direction: SYN without ACK means this src opened a connection (a scan, a
  refused connect), so ``initiator`` is observed then and null otherwise.
- ``ipkt``/``ibyt`` are the flow's packets and layer-3 bytes (IN_PKTS/IN_BYTES); ``opkt``/``obyt``
  are 0 unless the exporter sends reverse counters (NSEL, bidirectional IPFIX): 0 there means "not
  sent", so it becomes null. ``in``/``out`` are SNMP interface indexes (0: unknown, null);
  ``ra`` is the exporter's address: the observer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from portscope.sources import ReadContext
from portscope.sources._delimited import Checker, Deferred, as_count, as_float, as_int, as_ip, missing, read_strings
from portscope.sources._records import flow_batch
from portscope.sources._tabular import PORT_PROTOCOLS, line_chunks, protocol, slices, tcp_flag_names

NAME = "nfdump_csv"
DESCRIPTION = "NetFlow/IPFIX as nfdump -o csv writes it (1.6, 1.7 and named columns)"

FIXED = [
    "ts", "te", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd", "stos", "ipkt", "ibyt", "opkt", "obyt", "in", "out",
    "sas", "das", "smk", "dmk", "dtos", "dir", "nh", "nhb", "svln", "dvln", "ismc", "odmc", "idmc", "osmc", "mpls1",
    "mpls2", "mpls3", "mpls4", "mpls5", "mpls6", "mpls7", "mpls8", "mpls9", "mpls10", "cl", "sl", "al", "ra", "eng",
    "exid", "tr",
]  # fmt: skip
FIXED_OLD = [*FIXED[:41], "ra", "eng"]
# Named-column csv (format tokens) -> the short names of the fixed header.
_ALIASES = {
    "firstSeen": "ts", "lastSeen": "te", "duration": "td", "srcAddr": "sa", "dstAddr": "da", "srcPort": "sp",
    "dstPort": "dp", "proto": "pr", "flags": "flg", "inPackets": "ipkt", "packets": "ipkt", "inBytes": "ibyt",
    "bytes": "ibyt", "outPackets": "opkt", "outBytes": "obyt", "input": "in", "output": "out", "routerIP": "ra",
    "icmpTYpe": "it", "icmpType": "it", "icmpCode": "ic",
}  # fmt: skip
_UNSET_ADDRESSES = ["0.0.0.0", "::"]  # what nfdump prints for an exporter address it did not get  # noqa: S104
_SPECIAL = re.compile(rb"(?m)^(?:ts,te,td,|firstSeen,|Summary\r?$|flows,bytes,packets,)")
_STAMP = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def sniff(head: bytes, label: str) -> int:
    """100 for nfdump's csv header (either vocabulary), 80 for header-less lines of its fixed layout, else 0."""
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    if first.startswith((b"ts,te,td,sa,da,sp,dp,pr", b"firstSeen,lastSeen,duration,srcAddr,dstAddr")):
        return 100
    fields = first.split(b",")
    if len(fields) in (len(FIXED), len(FIXED_OLD)) and _STAMP.fullmatch(fields[0]) and _STAMP.fullmatch(fields[1]):
        return 80
    return 0


def _names(header: bytes) -> list[str]:
    return [
        _ALIASES.get(name.strip(), name.strip()) for name in header.decode("utf-8", "replace").rstrip("\r").split(",")
    ]


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Flows from nfdump csv, a chunk of lines at a time; headers and Summary blocks handled where they fall."""
    fields: list[str] | None = None
    line = 1
    skip_next = False  # the totals line after a summary header may start the next chunk
    zone = ctx.options.get("timezone")
    for chunk in line_chunks(stream):
        if chunk is None:
            ctx.stats.reject(ctx.label, line, "malformed line", "longer than 16 MiB")
            line += 1
            continue
        pos = 0
        if skip_next:
            pos = chunk.find(b"\n") + 1 or len(chunk)
            line, skip_next = line + 1, False
        for match in _SPECIAL.finditer(chunk, pos):
            if match.start() < pos:
                continue
            if match.start() > pos:
                yield from _run(chunk[pos : match.start()], line, fields, zone, ctx)
                line += chunk.count(b"\n", pos, match.start())
            end = chunk.find(b"\n", match.start())
            end = len(chunk) if end < 0 else end + 1
            text = chunk[match.start() : end]
            if text.startswith(b"flows,bytes,packets,"):  # the totals line follows: no flow either
                following = chunk.find(b"\n", end)
                if following < 0 and end >= len(chunk):
                    skip_next = True
                else:
                    end, line = (len(chunk) if following < 0 else following + 1), line + 1
            elif not text.startswith(b"Summary"):
                fields = _names(text)
            pos, line = end, line + 1
        if pos < len(chunk):
            yield from _run(chunk[pos:], line, fields, zone, ctx)
            line += chunk.count(b"\n", pos)


def _run(run: bytes, first: int, fields: list[str] | None, zone: Any, ctx: ReadContext) -> Iterator[Any]:
    if fields is None:
        head = next((line for line in run.split(b"\n", 2) if line.strip()), b"")
        count = head.count(b",") + 1
        fields = FIXED if count == len(FIXED) else FIXED_OLD if count == len(FIXED_OLD) else None
        if fields is None:
            for offset, text in enumerate(run.split(b"\n")):
                if text.strip():
                    ctx.stats.reject(ctx.label, first + offset, "malformed line", "no header line names the columns")
            return
    split_errors = Deferred()
    columns, lines = read_strings(run, first, fields, ",", quoted=False, stats=split_errors, label=ctx.label)
    yield from _flows(columns, lines, zone, ctx, split_errors)


def _flows(text: dict[str, Any], lines: Any, zone: Any, ctx: ReadContext, split_errors: Deferred) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = len(lines)
    nulls = pa.nulls(rows, pa.string())
    checks = Checker(lines, ctx.stats, ctx.label, split_errors)

    def field(name: str) -> Any:
        return pc.utf8_trim_whitespace(text[name]) if name in text else nulls

    src, bad = as_ip(field("sa"))
    checks.check("bad address", "sa", field("sa"), bad)
    dst, bad = as_ip(field("da"))
    checks.check("bad address", "da", field("da"), bad)
    names, numbers = _protocols(field("pr"))
    checks.check("bad value", "pr", field("pr"), pc.and_(pc.invert(missing(field("pr"))), pc.is_null(names)))
    icmp = pc.fill_null(pc.is_in(numbers, pa.array([1, 58], pa.uint8())), False)
    portless = pc.fill_null(pc.invert(pc.is_in(numbers, pa.array(PORT_PROTOCOLS, pa.uint8()))), False)
    src_port, bad = as_int(field("sp"), 0, 65535, pa.uint16())
    checks.check("bad port", "sp", field("sp"), bad)
    dotted = pc.fill_null(pc.match_substring_regex(field("dp"), r"^[0-9]{1,3}\.[0-9]{1,3}$"), False)
    plain_dp = pc.if_else(dotted, pa.scalar(None, pa.string()), field("dp"))
    dst_port, bad = as_int(plain_dp, 0, 65535, pa.uint16())
    checks.check("bad port", "dp", field("dp"), bad)
    parts = pc.split_pattern(pc.if_else(dotted, field("dp"), pa.scalar(None, pa.string())), ".")
    icmp_type = pc.if_else(
        dotted, pc.cast(pc.list_element(parts, 0), pa.int32()), pc.shift_right(pc.cast(dst_port, pa.int32()), 8)
    )
    icmp_code = pc.if_else(
        dotted, pc.cast(pc.list_element(parts, 1), pa.int32()), pc.bit_wise_and(pc.cast(dst_port, pa.int32()), 255)
    )
    if "it" in text and "ic" in text:  # named-column csv with its own type/code columns
        icmp_type, bad = as_int(field("it"), 0, 255, pa.int32())
        checks.check("bad value", "icmpType", field("it"), bad)
        icmp_code, bad = as_int(field("ic"), 0, 255, pa.int32())
        checks.check("bad value", "icmpCode", field("ic"), bad)
    in_range = pc.fill_null(pc.and_(pc.less_equal(icmp_type, 255), pc.less_equal(icmp_code, 255)), True)
    checks.check("bad value", "dp", field("dp"), pc.and_(icmp, pc.invert(in_range)))
    times = {name: _time(field(name), zone, checks, name) for name in ("ts", "te")}
    if times["ts"].null_count < len(times["ts"]):  # wall-clock times without a zone: the report says in which
        ctx.stats.dating.zoneless = True
        ctx.stats.dating.timezone = str(zone) if zone else None
    duration, bad = as_float(field("td"))
    checks.check("bad value", "td", field("td"), bad)
    counts = {}
    for name in ("ipkt", "ibyt", "opkt", "obyt"):
        value, bad = as_count(field(name))
        checks.check("bad value", name, field(name), bad)
        counts[name] = (
            value if name in ("ipkt", "ibyt") else pc.if_else(pc.equal(value, 0), pa.scalar(None, pa.uint64()), value)
        )
    flags_text = field("flg")
    checks.check(
        "bad value",
        "flg",
        flags_text,
        pc.invert(
            pc.or_(
                missing(flags_text), pc.fill_null(pc.match_substring_regex(flags_text, r"^[CEUAPRSF.]{1,8}$"), False)
            )
        ),
    )
    bits = pa.array([0] * rows, pa.int32()) if rows else pa.array([], pa.int32())
    for bit, letter in zip((128, 64, 32, 16, 8, 4, 2, 1), "CEUAPRSF", strict=True):
        bits = pc.add(bits, pc.if_else(pc.fill_null(pc.match_substring(flags_text, letter), False), bit, 0))
    tcp = pc.fill_null(pc.equal(numbers, 6), False)
    bits = pc.if_else(pc.and_(tcp, pc.invert(missing(flags_text))), bits, pa.scalar(None, pa.int32()))
    opened = pc.fill_null(
        pc.and_(pc.not_equal(pc.bit_wise_and(bits, 2), 0), pc.equal(pc.bit_wise_and(bits, 16), 0)), False
    )
    interfaces = {
        n: pc.if_else(pc.or_(missing(field(n)), pc.equal(field(n), "0")), pa.scalar(None, pa.string()), field(n))
        for n in ("in", "out")
    }
    observer, _ = as_ip(field("ra"))
    keep = checks.keep()
    no_port = pa.scalar(None, pa.uint16())
    no_small = pa.scalar(None, pa.uint8())
    columns = {
        "start": times["ts"],
        "end": times["te"],
        "duration": duration,
        "observer": pc.if_else(
            pc.fill_null(pc.is_in(observer, pa.array(_UNSET_ADDRESSES)), False), pa.scalar(None, pa.string()), observer
        ),
        "protocol": pc.dictionary_encode(names),
        "ip_proto": numbers,
        "src_addr": src,
        "src_port": pc.if_else(portless, no_port, src_port),
        "dst_addr": dst,
        "dst_port": pc.if_else(portless, no_port, dst_port),
        "icmp_type": pc.if_else(icmp, pc.cast(pc.if_else(in_range, icmp_type, None), pa.uint8()), no_small),
        "icmp_code": pc.if_else(icmp, pc.cast(pc.if_else(in_range, icmp_code, None), pa.uint8()), no_small),
        "initiator": pc.dictionary_encode(pc.if_else(opened, "observed", pa.scalar(None, pa.string()))),
        "packets_out": counts["ipkt"],
        "bytes_out": counts["ibyt"],
        "packets_in": counts["opkt"],
        "bytes_in": counts["obyt"],
        "tcp_flags": pc.take(pa.array([tcp_flag_names(n) or None for n in range(256)]), bits),
        "in_interface": interfaces["in"],
        "out_interface": interfaces["out"],
        "evidence_line": lines,
    }
    columns = {name: column.filter(keep) for name, column in columns.items()}
    kept = len(columns["evidence_line"])
    ctx.stats.good += kept
    if kept:
        yield from slices(flow_batch(columns, kept, NAME, ctx.label), ctx.batch_size)


def _protocols(values: Any) -> tuple[Any, Any]:
    """(flow-table protocol names, IANA numbers) for nfdump's protocol column; null names where unreadable."""
    import pyarrow as pa
    import pyarrow.compute as pc

    unique = pc.unique(values).to_pylist()
    names: dict[str, str | None] = {}
    numbers: dict[str, int | None] = {}
    for value in unique:
        if value is None:
            continue
        try:
            names[value], numbers[value] = protocol(value)
        except ValueError:
            names[value], numbers[value] = None, None
    index = pc.index_in(values, pa.array(list(names), pa.string()))
    named = pc.take(pa.array(list(names.values()), pa.string()), index)
    numbered = pc.take(pa.array(list(numbers.values()), pa.uint8()), index)
    return named, numbered


def _time(values: Any, zone: Any, checks: Checker, name: str) -> Any:
    """``YYYY-MM-DD HH:MM:SS[.mmm]`` wall-clock times in ``zone`` (UTC by default) as UTC timestamps."""
    import pyarrow as pa
    import pyarrow.compute as pc

    absent = pc.or_(missing(values), pc.fill_null(pc.starts_with(values, "0000-00-00"), False))
    shaped = pc.fill_null(pc.match_substring_regex(values, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?$"), False)
    usable = pc.if_else(pc.and_(shaped, pc.invert(absent)), values, pa.scalar(None, pa.string()))
    wall = pc.utf8_slice_codeunits(usable, 0, 19)
    seconds = pc.strptime(wall, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=True)
    # strptime rolls Feb 30 over to Mar 2: a date is real only if it prints back the same
    real = pc.equal(pc.utf8_slice_codeunits(pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S"), 0, 19), wall)
    seconds = pc.if_else(pc.fill_null(real, False), seconds, pa.scalar(None, seconds.type))
    fraction = pc.utf8_rpad(pc.utf8_slice_codeunits(usable, 20, 26), 6, "0")
    micros = pc.cast(pc.if_else(pc.equal(fraction, "000000"), "0", fraction), pa.int64())
    naive = pc.cast(pc.add(pc.cast(seconds, pa.int64()), pc.fill_null(micros, 0)), pa.timestamp("us"))
    checks.check("bad timestamp", name, values, pc.invert(pc.or_(absent, pc.is_valid(naive))))
    if zone:
        stamps = pc.assume_timezone(naive, timezone=str(zone), ambiguous="earliest", nonexistent="earliest")
    else:
        stamps = pc.cast(naive, pa.timestamp("us", tz="UTC"))
    # nfdump 1.6/1.7 print a flow without times as the epoch (localtime(0)): no time, not 1970
    epoch = pc.equal(pc.cast(stamps, pa.int64()), 0)
    return pc.if_else(pc.fill_null(epoch, False), pa.scalar(None, stamps.type), stamps)

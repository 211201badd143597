"""pfSense and OPNsense ``filterlog``: pf's packet log as comma-separated values in syslog.

The layout is Netgate's "Raw Filter Log Format" (docs.netgate.com/pfsense/en/latest/monitoring/
raw-filter-log-format.html) and OPNsense's filterlog description.txt, which write the same fields::

    rule, sub rule, anchor, tracker, interface, reason, action, direction, ip version,
    IPv4: tos, ecn, ttl, id, offset, flags, protocol id, protocol text,
    IPv6: class, flow label, hop limit, protocol text, protocol id,
    length, source, destination,
    TCP/UDP: source port, destination port, data length,
    TCP: flags, sequence, ack, window, urg, options
    ICMP: type as a word (request, reply, unreachport...), then that type's data

``action`` pass/block (and match, for match rules: unknown), ``direction`` in/out. TCP flags are pf's
letters (S A F R P U E W): ``S`` without ``A`` is a connection attempt from src, the one case where
``initiator`` is observed. ``length`` is the IP packet's total length: ``bytes_out``. The tracker
(pfSense's rule id, an OPNsense hash) goes to ``rule``, after the rule number:
``5/1000000103``. pfSense forwards without the hostname in BSD syslog, so ``observer`` can be null.
Lines of other programs in the same file are skipped, not bad.

Log pipelines (Logstash, Fluentd, Graylog, Splunk forwarders, Elastic Agent) often keep only the
message: the bare CSV, without the syslog header and the ``filterlog[pid]:`` tag. Such a line is read
too (no time, no observer) when it starts with the layout's fixed shape, rule number, sub-rule,
anchor, tracker, interface, reason, action, in/out, 4/6 (:data:`_BODY`); a file of them is
recognised by that shape, which no other CSV this tool reads has. The protocol is named from its
number as every source names it (:mod:`._ip_protocols`): 112, which pfSense writes ``carp``, is ``vrrp``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from portscope.sources import ReadContext
from portscope.sources._ip_protocols import protocol_name
from portscope.sources._records import BadRecord, Rows
from portscope.sources._syslog import TimeContext, parse_envelope

__all__ = ["DESCRIPTION", "NAME", "read", "sniff"]

READS_ROWS = True  # honours ReadContext.as_rows (through Rows)
NAME = "pfsense"
DESCRIPTION = "pfSense / OPNsense filterlog lines (pf's packet log as CSV in syslog)"

_ACTIONS = {"pass": "allow", "block": "deny", "reject": "deny"}
_DIRECTIONS = {"in": "inbound", "out": "outbound"}
# pf's ICMP type words (pfSense's filterlog.c, print_icmp): (type, code or None)
_ICMP_TYPES = {
    "reply": (0, 0),
    "unreach": (3, None),
    "unreachproto": (3, 2),
    "unreachport": (3, 3),
    "needfrag": (3, 4),
    "redirect": (5, None),
    "request": (8, 0),
    "routeradvert": (9, None),
    "routersol": (10, None),
    "timexceed": (11, None),
    "paramprob": (12, None),
    "tstamp": (13, 0),
    "tstampreply": (14, 0),
    "inforeq": (15, 0),
    "inforeply": (16, 0),
    "maskreq": (17, 0),
    "maskreply": (18, 0),
}


# A filterlog CSV message as pipelines forward it: rule number, sub-rule, anchor, tracker, interface,
# reason (pf's PFRES_NAMES: match, bad-offset...), action (pass, block...), direction, IP version.
_BODY = re.compile(rb"\d{1,10},\d*,[^,]*,[^,]*,[^,\s]+,[a-z-]+,[a-z-]+,(?:in|out),[46],")
# The start of one (rule number, sub-rule, anchor, tracker, interface): cut short, it is a bad record.
_BODY_START = re.compile(rb"\d{1,10},\d*,[^,]*,[^,]*,[^,\s]*(?:,|$)")
# RFC 5424's APP-NAME PROCID MSGID STRUCTURED-DATA (section 6), then the message.
_RFC5424_REST = re.compile(rb"filterlog \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) (.*)", re.DOTALL)


def sniff(head: bytes, label: str) -> int:
    """90 when ``filterlog`` lines with the CSV layout are there; 85 when most lines are bare filterlog
    messages (the CSV alone, as pipelines forward it)."""
    hits = bare = lines = 0
    for line in head.split(b"\n")[:200]:
        at = line.find(b"filterlog")
        if at >= 0 and line.count(b",", at) >= 16 and (b",in," in line or b",out," in line):
            hits += 1
        elif line.strip():
            lines += 1
            bare += _BODY.match(line) is not None and line.count(b",") >= 16
    if hits:
        return 90
    return 85 if bare and bare * 2 >= lines else 0


def read(stream: BinaryIO, context: ReadContext) -> Iterator[Any]:
    times = TimeContext(context.options, context.stats.dating)
    rows = Rows(NAME, context)
    skipped = 0
    for number, raw in enumerate(stream, 1):
        line = raw.rstrip(b"\r\n")
        try:
            envelope = parse_envelope(line, times)
        except ValueError as exc:
            if b"filterlog" in line:
                context.stats.reject(context.label, number, "invalid timestamp", str(exc))
            else:
                skipped += 1
            continue
        message = _message(envelope.tag, envelope.message)
        if message is None:
            skipped += 1
            continue
        try:
            values = parse_filterlog(message)
        except BadRecord as bad:
            context.stats.reject(context.label, number, bad.kind, bad.detail)
            continue
        if values is None:
            skipped += 1
            continue
        values.update(start=envelope.start, observer=envelope.host, packets_out=1)
        context.stats.good += 1
        yield from rows.add(values, number)
    context.stats.count_skipped(skipped)
    yield from rows.flush()


def _message(tag: bytes | None, message: bytes) -> bytes | None:
    """The filterlog CSV of a line's message, or None when the line is no filterlog line.

    OPNsense's own files (/var/log/filter/latest.log) write RFC 5424 without its ``<PRI>1``
    (``2026-03-10T17:20:33+00:00 host filterlog 87496 - [meta sequenceId="7"] 69,,,...``), which
    leaves ``filterlog PROCID MSGID SD`` at the start of the message.
    """
    if tag == b"filterlog":
        return message
    if tag is not None:
        return None
    if message.startswith(b"filterlog "):
        match = _RFC5424_REST.fullmatch(message)
        return match[1] if match else None
    return message if _BODY_START.match(message) else None


def _int(fields: list[str], index: int, name: str, limit: int) -> int:
    try:
        text = fields[index]
    except IndexError:
        raise BadRecord("truncated record", f"no {name} (field {index + 1})") from None
    if not text.isdigit() or len(text) > 10 or int(text) > limit:
        raise BadRecord("invalid port" if "port" in name else "invalid number", f"{name} {text[:40]!r}")
    return int(text)


def _address(fields: list[str], index: int, name: str) -> str:
    try:
        text = fields[index]
    except IndexError:
        raise BadRecord("truncated record", f"no {name} (field {index + 1})") from None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise BadRecord("invalid address", f"{name} {text[:60]!r}") from None
    return text


def parse_filterlog(message: bytes) -> dict[str, Any] | None:
    """Flow-table values of one filterlog CSV message; None for one that is not about an IP packet."""
    text = message.decode("utf-8", "replace").strip()
    fields = text.split(",")
    if len(fields) < 9:
        raise BadRecord("truncated record", f"{len(fields)} fields, a filterlog line has at least 9")
    version = fields[8]
    if version == "4":
        proto_number = _int(fields, 15, "protocol id", 255)
        base = 17
    elif version == "6":
        proto_number = _int(fields, 13, "protocol id", 255)
        base = 14
    else:
        raise BadRecord("invalid field", f"IP version {version[:10]!r}, not 4 or 6")
    protocol, number = protocol_name(proto_number), proto_number
    length = _int(fields, base, "length", 0xFFFFFFFF)
    src = _address(fields, base + 1, "source address")
    dst = _address(fields, base + 2, "destination address")
    rule = fields[0] + (f"/{fields[3]}" if fields[3] else "")
    values: dict[str, Any] = {
        "protocol": protocol,
        "ip_proto": number,
        "src_addr": src,
        "dst_addr": dst,
        "bytes_out": length,
        "in_interface": (fields[4] or None) if fields[7] == "in" else None,
        "out_interface": (fields[4] or None) if fields[7] == "out" else None,
        "action": _ACTIONS.get(fields[6], "unknown"),
        "direction": _DIRECTIONS.get(fields[7]),
        "rule": rule or None,
    }
    rest = base + 3
    if number in (6, 17, 136):
        values["src_port"] = _int(fields, rest, "source port", 0xFFFF)
        values["dst_port"] = _int(fields, rest + 1, "destination port", 0xFFFF)
        if number == 6:
            if len(fields) <= rest + 3:
                raise BadRecord("truncated record", "TCP without its flags field")
            flags = fields[rest + 3]
            if flags.strip("SAFRPUEW"):
                raise BadRecord("invalid field", f"TCP flags {flags[:20]!r}")
            values["tcp_flags"] = flags
            if "S" in flags and "A" not in flags:
                values["initiator"] = "observed"
    elif number in (1, 58):
        if len(fields) <= rest:
            raise BadRecord("truncated record", "ICMP without its type")
        word = fields[rest]
        known = _ICMP_TYPES.get(word)
        if known is not None and number == 1:
            values["icmp_type"], values["icmp_code"] = known
        elif word.isdigit() and int(word) <= 255:
            values["icmp_type"] = int(word)
    return values

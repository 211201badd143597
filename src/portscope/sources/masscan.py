"""masscan results: ``-oJ`` (a JSON array) and ``-oL`` (list lines). ``-oX`` is nmap's shape: see nmap_xml.

masscan's out-json.c writes one object per finding, ``{"ip": ..., "timestamp": "<epoch seconds>",
"ports": [{"port": 80, "proto": "tcp", "status": "open", "reason": "syn-ack", "ttl": 64}]}``; a
``--banners`` finding has ``"service": {"name", "banner"}`` instead of a status. Releases before
1.3 ended every object with ``},`` so the last one is followed by a stray comma before ``]`` (and
some wrote ``{finished: 1}`` as the last element, not JSON at all): both are tolerated. out-text.c
writes ``-oL``: ``#masscan``, then ``open tcp 80 192.0.2.1 1390000000`` (status, protocol, port,
address, epoch seconds) or ``banner tcp 80 192.0.2.1 1390000000 http <text>``, and ``# end``.

Each status finding is one row, as nmap_xml maps them: ``dst`` the scanned address and port, ``src``
null, ``action`` unknown, ``rule`` ``status/reason``, ``start`` its timestamp. Banner findings add
nothing a row needs (the port was already reported open) and are skipped, counted as skipped.
``evidence_line`` is the line for ``-oL`` and the finding's record number for ``-oJ``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from portscope.sources import ReadContext
from portscope.sources._records import BadRecord, Rows
from portscope.sources._tabular import (
    address,
    first_byte,
    json_array_items,
    line_chunks,
    port,
    protocol,
)

READS_ROWS = True  # honours ReadContext.as_rows (through Rows)
NAME = "masscan"
DESCRIPTION = "masscan -oJ (JSON) and -oL (list) scan results"

_LIST_LINE = re.compile(rb"(?:open|closed) (?:tcp|udp|sctp|icmp) \d{1,5} \S+ \d{1,11}")
_FINISHED = re.compile(rb"\{\s*finished\s*:\s*1\s*\}")


def sniff(head: bytes, label: str) -> int:
    """95 for a JSON array of objects with ``"ip"`` and ``"ports"``, 95 for ``-oL`` lines, else 0."""
    start = head.lstrip()
    if start.startswith(b"["):
        body = start[1:].lstrip()
        return 95 if body.startswith(b"{") and b'"ports"' in head[:4096] and b'"ip"' in head[:4096] else 0
    lines = [line.rstrip(b"\r") for line in start.split(b"\n")[:10] if line.strip()]
    if lines and lines[0] == b"#masscan":
        return 95
    data = [line for line in lines if not line.startswith(b"#")][:5]
    return 95 if data and all(_LIST_LINE.fullmatch(line) for line in data) else 0


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Rows from -oJ or -oL output, told apart by the first byte that is not blank."""
    rows = Rows(NAME, ctx)
    first, replay = first_byte(stream)
    if first == b"[":
        yield from _json(replay, rows, ctx)
    else:
        yield from _list(replay, rows, ctx)
    yield from rows.flush()


def _json(stream: Any, rows: Rows, ctx: ReadContext) -> Iterator[Any]:
    skipped = 0
    for number, finding in json_array_items(stream, ctx.stats, ctx.label, ignore=_FINISHED):
        if not isinstance(finding, dict):
            ctx.stats.reject(ctx.label, number, "malformed JSON", "an element that is not an object")
            continue
        ports = finding.get("ports")
        if not isinstance(ports, list) or not ports:
            ctx.stats.reject(ctx.label, number, "bad value", "a finding without its ports list")
            continue
        for entry in ports:
            if isinstance(entry, dict) and "status" not in entry and "service" in entry:
                skipped += 1  # a --banners finding
                continue
            try:
                values = _row(finding, entry)
            except ValueError as exc:
                ctx.stats.reject(ctx.label, number, getattr(exc, "kind", "bad value"), str(exc))
                continue
            ctx.stats.good += 1
            yield from rows.add(values, number)
    ctx.stats.count_skipped(skipped)


def _row(finding: dict[str, Any], entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadRecord("bad value", f"port entry {entry!r} is not an object")
    name, number = protocol(entry.get("proto") if isinstance(entry.get("proto"), str) else None)
    status, reason = entry.get("status"), entry.get("reason")
    service = entry.get("service")
    return {
        "start": _seconds(finding.get("timestamp")),
        "dst_addr": address(finding.get("ip"), "ip"),
        "dst_port": port(entry.get("port"), "port") if name not in ("icmp", "icmpv6") else None,
        "protocol": name,
        "ip_proto": number,
        "action": "unknown",
        "rule": f"{status}/{reason}" if reason is not None else str(status),
        "service": service.get("name") if isinstance(service, dict) else None,
    }


def _list(stream: Any, rows: Rows, ctx: ReadContext) -> Iterator[Any]:
    line = 1
    skipped = 0
    for chunk in line_chunks(stream):
        if chunk is None:
            ctx.stats.reject(ctx.label, line, "malformed line", "longer than 16 MiB")
            line += 1
            continue
        lines = chunk.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        for offset, raw in enumerate(lines):
            text = raw.rstrip(b"\r")
            if not text.strip() or text.startswith(b"#"):
                continue
            fields = text.split(b" ")
            if fields[0] == b"banner":
                skipped += 1
                continue
            try:
                values = _list_row(fields)
            except ValueError as exc:
                ctx.stats.reject(ctx.label, line + offset, getattr(exc, "kind", "malformed line"), str(exc))
                continue
            ctx.stats.good += 1
            yield from rows.add(values, line + offset)
        line += len(lines)
    ctx.stats.count_skipped(skipped)


def _list_row(fields: list[bytes]) -> dict[str, Any]:
    if len(fields) != 5 or fields[0] not in (b"open", b"closed"):
        raise BadRecord("malformed line", f"not 'status proto port address time': {b' '.join(fields)[:80]!r}")
    status, proto, number, ip, stamp = (f.decode("ascii", "replace") for f in fields)
    name, ip_proto = protocol(proto)
    return {
        "start": _seconds(stamp),
        "dst_addr": address(ip, "address"),
        "dst_port": port(number, "port") if name not in ("icmp", "icmpv6") else None,
        "protocol": name,
        "ip_proto": ip_proto,
        "action": "unknown",
        "rule": status,
    }


def _seconds(value: Any) -> int | None:
    """Microseconds from masscan's epoch seconds (a JSON string or number); BadRecord for anything else."""
    if value is None:
        return None
    text = str(value)
    if isinstance(value, bool) or not text.isascii() or not text.isdigit() or len(text) > 11:
        raise BadRecord("bad timestamp", f"timestamp {value!r} is not epoch seconds")
    return int(text) * 1_000_000

"""nmap -oX results (and masscan -oX, which writes the same shape): one row per scanned (host, port).

Format: nmap's XML output (nmap.org/book/output-formats-xml-output.html, DTD docs/nmap.dtd):
``<nmaprun start=...>`` holds ``<host starttime= endtime=>`` elements, each with ``<address addr=
addrtype="ipv4|ipv6|mac">`` and ``<ports>``; every ``<port protocol= portid=>`` has ``<state state=
reason=>`` and maybe ``<service name=>``. Ports nmap summarises (``<extraports state="closed"
count="996">``) were not listed one by one and give no rows.

A scan is not a flow log, so the mapping says what it can: ``dst`` is the scanned host and port,
``src`` is null (the scanner's own address is not in the file), ``action`` is ``unknown`` (a scan
result is not a decision by the recording device), ``rule`` is ``state/reason`` (``open/syn-ack``,
``filtered/no-response``) and ``service`` nmap's service name. ``start`` is the host's
``starttime``, else the scan's ``start``. An IP protocol scan (``-sO``, ``protocol="ip"``) lists
protocol numbers, not ports. ``evidence_line`` is the port's record number in the file (1-based).

The XML is parsed as it streams (xml.etree's pull parser, each host dropped once read), so memory
follows one host. Documents that declare entities (``<!ENTITY``) are refused: nmap never writes
them, and they are how XML bombs work. A file cut short keeps the ports read so far and counts one
bad record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO
from xml.etree import ElementTree

from portscope.sources import ReadContext
from portscope.sources._records import Rows
from portscope.sources._tabular import port, protocol, valid_ip

NAME = "nmap_xml"
DESCRIPTION = "nmap -oX (and masscan -oX) scan results: one row per host and port"

_BLOCK = 1 << 20


def sniff(head: bytes, label: str) -> int:
    """100 when the document's root is ``<nmaprun`` (nmap or masscan XML), else 0."""
    start = head.lstrip()[:4096]
    start = start.removeprefix(b"\xef\xbb\xbf")
    return 100 if (start.startswith(b"<?xml") and b"<nmaprun" in start) or start.startswith(b"<nmaprun") else 0


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Rows of every listed port of every host, streamed; malformed or cut XML ends with one bad record."""
    rows = Rows(NAME, ctx)
    parser: Any = ElementTree.XMLPullParser(events=("start", "end"))
    state = _Scan()
    tail = b""
    try:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            if b"<!ENTITY" in tail + block:
                ctx.stats.reject(ctx.label, state.number + 1, "malformed XML", "the document declares entities")
                return
            tail = block[-16:]
            parser.feed(block)
            yield from _events(parser, state, rows, ctx)
        parser.close()
        yield from _events(parser, state, rows, ctx)
    except ElementTree.ParseError as exc:
        yield from _events(parser, state, rows, ctx)
        kind = "truncated input" if "no element found" in str(exc) or "unclosed token" in str(exc) else "malformed XML"
        ctx.stats.reject(ctx.label, state.number + 1, kind, str(exc))
    yield from rows.flush()


class _Scan:
    """What the stream has told so far: the scan's start, the running port number, the root to prune."""

    def __init__(self) -> None:
        self.start: int | None = None
        self.number = 0
        self.root: Any = None


def _events(parser: Any, state: _Scan, rows: Rows, ctx: ReadContext) -> Iterator[Any]:
    element: Any
    for event, element in parser.read_events():
        if event == "start":
            if state.root is None:
                state.root = element
                state.start = _seconds(element.get("start"))
            continue
        if element.tag != "host":
            continue
        yield from _host(element, state, rows, ctx)
        if state.root is not None:
            state.root.clear()  # the host is read: let it go


def _host(host: ElementTree.Element, state: _Scan, rows: Rows, ctx: ReadContext) -> Iterator[Any]:
    address = next(
        (a.get("addr") for a in host.iter("address") if a.get("addrtype") in ("ipv4", "ipv6")),
        None,
    )
    start = _seconds(host.get("starttime"))
    if start is None:
        start = state.start
    for element in host.iter("port"):
        state.number += 1
        number = state.number
        if address is None or not valid_ip(address):
            ctx.stats.reject(ctx.label, number, "bad address", f"host address {address!r}")
            continue
        try:
            values = _port(element)
        except ValueError as exc:
            ctx.stats.reject(ctx.label, number, getattr(exc, "kind", "bad value"), str(exc))
            continue
        ctx.stats.good += 1
        values.update(start=start, dst_addr=address, action="unknown")
        yield from rows.add(values, number)


def _port(element: ElementTree.Element) -> dict[str, Any]:
    """One ``<port>``'s columns; ValueError naming what is wrong."""
    kind = element.get("protocol")
    state = element.find("state")
    service = element.find("service")
    values: dict[str, Any] = {
        "rule": f"{state.get('state')}/{state.get('reason')}" if state is not None else None,
        "service": service.get("name") if service is not None else None,
    }
    if kind == "ip":  # -sO: the "port" is an IP protocol number
        values["protocol"], values["ip_proto"] = protocol(element.get("portid", ""))
        return values
    values["protocol"], values["ip_proto"] = protocol(kind)
    values["dst_port"] = port(element.get("portid"), "portid")
    return values


def _seconds(value: str | None) -> int | None:
    """Microseconds from nmap's epoch-seconds attributes; None when absent or not a number."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 11:
        return None
    return int(value) * 1_000_000

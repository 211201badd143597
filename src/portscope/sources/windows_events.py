"""Windows connection events: Sysmon event 3 and Security events 5156/5157, as XML or JSON.

Events (Microsoft docs "5156(S): The Windows Filtering Platform has permitted a connection", "5157(F):
... has blocked a connection"; Sysinternals Sysmon "Event ID 3: Network connection"):

- 5156/5157 (Microsoft-Windows-Security-Auditing): ProcessID, Application (``\\device\\harddiskvolume2\\
  ...\\app.exe``), Direction (``%%14592`` inbound, ``%%14593`` outbound), SourceAddress/SourcePort,
  DestAddress/DestPort, Protocol (IANA number), FilterRTID, LayerName, LayerRTID. WFP always puts
  the *local* side in Source (Microsoft's example: an inbound connection to listener.exe has
  SourcePort 3333, its listening port, and DestPort 49278, the client's): for an inbound event
  the remote side opened the connection, so src/dst are swapped to make src the opener, and
  ``initiator`` is observed both ways. For ICMP, WFP keeps the type in the local port and the code
  in the remote port (fwpmu.h: FWPM_CONDITION_ICMP_TYPE is FWPM_CONDITION_IP_LOCAL_PORT, ..._CODE
  the remote port): they go to icmp_type/icmp_code. 5156 is allow, 5157 deny; ``rule`` names the
  WFP filter (``wfp filter 70201``).
- Sysmon 3 (Microsoft-Windows-Sysmon): Image, ProcessId, User, Protocol, Initiated, SourceIp/Port,
  DestinationIp/Port, UtcTime. Sysmon's Source is the side that opened the connection (the local
  process when Initiated is true, the accepted peer when false: SysmonForLinux's sysmonTCPaccept
  fills SrcAddr from accept()'s peer), so src/dst stay as written, ``initiator`` observed, and
  Initiated gives ``direction`` outbound/inbound. Sysmon decides nothing: ``action`` stays null.

Containers: ``wevtutil qe ... /f:xml`` (``<Event xmlns=...>`` elements one after another, no root:
read as if wrapped in ``<Events>``) or an exported ``<Events>`` document; PowerShell ``Get-WinEvent |
ConvertTo-Json`` (one object or an array; ``Id``, ``ProviderName``, ``TimeCreated`` as
``/Date(ms)/`` or ISO 8601, and ``Properties`` as a list of ``{"Value": ...}`` in the event's
template order); Winlogbeat/ECS JSON lines (``winlog.event_id``, ``winlog.provider_name``,
``winlog.event_data``); evtx_dump-style JSON (``Event.System``/``Event.EventData``). Other event IDs
are skipped and counted as such. ``evidence_line`` is the event's record number in the file (its
line for JSON lines).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO
from xml.etree import ElementTree

from portscope.sources import ReadContext
from portscope.sources._records import BadRecord, Rows
from portscope.sources._tabular import (
    Replayed,
    address,
    first_byte,
    iso_micros,
    json_array_items,
    json_lines,
    port,
    protocol,
)

READS_ROWS = True  # honours ReadContext.as_rows (through Rows)
NAME = "windows_events"
DESCRIPTION = "Sysmon event 3 and Windows Security 5156/5157 connection events, XML or JSON"

_SECURITY = [
    "ProcessID", "Application", "Direction", "SourceAddress", "SourcePort", "DestAddress", "DestPort", "Protocol",
    "FilterRTID", "LayerName", "LayerRTID", "RemoteUserID", "RemoteMachineID",
]  # fmt: skip
_SYSMON = [
    "RuleName", "UtcTime", "ProcessGuid", "ProcessId", "Image", "User", "Protocol", "Initiated", "SourceIsIpv6",
    "SourceIp", "SourceHostname", "SourcePort", "SourcePortName", "DestinationIsIpv6", "DestinationIp",
    "DestinationHostname", "DestinationPort", "DestinationPortName",
]  # fmt: skip
_DIRECTIONS = {"%%14592": "inbound", "inbound": "inbound", "%%14593": "outbound", "outbound": "outbound"}
_PS_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")
_BLOCK = 1 << 20


def sniff(head: bytes, label: str) -> int:
    """95 for Event XML or JSON of event 3 (Sysmon), 5156 or 5157; 0 otherwise."""
    text = head[:65536]
    if b"schemas.microsoft.com/win/2004/08/events/event" in text:
        return 95 if re.search(rb"<EventID[^>]*>\s*(?:3|5156|5157)\s*<", text) else 0
    start = text.lstrip()[:1]
    if start not in (b"{", b"["):
        return 0
    if re.search(rb'"(?:event_id|Id|EventID)"\s*:\s*"?(?:5156|5157)\b', text):
        return 95
    sysmon = re.search(rb'"(?:event_id|Id|EventID)"\s*:\s*"?3\b', text) and b"Sysmon" in text
    return 95 if sysmon else 0


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Rows for the connection events of an XML or JSON export; other events skipped and counted."""
    rows = Rows(NAME, ctx)
    first, replay = first_byte(stream)
    if first not in (b"", b"<", b"{", b"["):
        ctx.stats.reject(ctx.label, 1, "not an event export", f"starts with {first!r}, not XML or JSON")
        return
    skipped = 0
    events = _xml_events(replay, ctx) if first == b"<" else _json_events(replay, first, ctx)
    for number, event in events:
        try:
            values = _row(event)
        except ValueError as exc:
            ctx.stats.reject(ctx.label, number, getattr(exc, "kind", "bad value"), str(exc))
            continue
        if values is None:
            skipped += 1
            continue
        ctx.stats.good += 1
        yield from rows.add(values, number)
    yield from rows.flush()
    ctx.stats.count_skipped(skipped)


class _Event:
    """One event, whatever its container: id, provider, time (µs), computer, and EventData by name."""

    def __init__(self, event_id: Any, provider: Any, time: int | None, computer: Any, data: dict[str, Any]) -> None:
        self.event_id = event_id
        self.provider = str(provider or "")
        self.time = time
        self.computer = computer if isinstance(computer, str) else None
        self.data = data


# --- XML ------------------------------------------------------------------------------------------


def _xml_events(stream: Any, ctx: ReadContext) -> Iterator[tuple[int, _Event]]:
    parser: Any = ElementTree.XMLPullParser(events=("start", "end"))
    head = stream.read(_BLOCK)
    wrapped = not head.lstrip().lstrip(b"\xef\xbb\xbf").startswith((b"<?xml", b"<Events"))
    number = 0
    root: Any = None
    tail = b""
    ending = False  # all input fed: an error now means the document stops early
    try:
        if wrapped:
            parser.feed(b"<Events>")
        block = head
        while True:
            if not block:
                ending = True
                block = b"</Events>" if wrapped else b""
                wrapped = False
            if b"<!ENTITY" in tail + block:
                ctx.stats.reject(ctx.label, number + 1, "malformed XML", "the document declares entities")
                return
            tail = block[-16:]
            parser.feed(block)
            if ending:
                parser.close()
            for event, element in parser.read_events():
                if event == "start":
                    root = element if root is None else root
                    continue
                if _local(element.tag) == "Event":
                    number += 1
                    try:
                        parsed = _from_xml(element)
                    except ValueError as exc:  # a BadRecord (a damaged TimeCreated): this event only
                        ctx.stats.reject(ctx.label, number, getattr(exc, "kind", "bad value"), str(exc))
                    else:
                        yield number, parsed
                    root.clear()
            if ending:
                return
            block = stream.read(_BLOCK)
    except ElementTree.ParseError as exc:
        ctx.stats.reject(ctx.label, number + 1, "truncated input" if ending else "malformed XML", str(exc))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _from_xml(element: Any) -> _Event:
    fields: dict[str, Any] = {}
    time = None
    event_id = provider = computer = None
    for child in element.iter():
        name = _local(child.tag)
        if name == "EventID":
            event_id = (child.text or "").strip()
        elif name == "Provider":
            provider = child.get("Name")
        elif name == "TimeCreated":
            time = child.get("SystemTime")
        elif name == "Computer":
            computer = (child.text or "").strip() or None
        elif name == "Data" and child.get("Name"):
            fields[child.get("Name")] = child.text
    return _Event(event_id, provider, _time(time, "TimeCreated"), computer, fields)


# --- JSON -----------------------------------------------------------------------------------------


def _json_events(stream: Any, first: bytes, ctx: ReadContext) -> Iterator[tuple[int, _Event]]:
    """Events from JSON lines (numbered by line) or an array / pretty-printed objects (numbered 1, 2...)."""
    import orjson

    head = stream.read(_BLOCK)
    line = head.split(b"\n", 1)[0]
    try:
        one_per_line = first == b"{" and isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        one_per_line = False
    again = Replayed(head, stream)
    if one_per_line:
        items: Iterator[tuple[int, Any]] = json_lines(again, ctx.stats, ctx.label)
    else:
        items = json_array_items(Replayed(b"[" if first == b"{" else b"", again), ctx.stats, ctx.label)
    for number, record in items:
        if not isinstance(record, dict):
            ctx.stats.reject(ctx.label, number, "malformed JSON", "an event that is not an object")
            continue
        try:
            yield number, _from_json(record)
        except ValueError as exc:
            ctx.stats.reject(ctx.label, number, getattr(exc, "kind", "bad value"), str(exc))


def _from_json(record: dict[str, Any]) -> _Event:
    """Winlogbeat/ECS, ConvertTo-Json or evtx_dump shapes, told apart by their keys."""
    winlog = record.get("winlog")
    if isinstance(winlog, dict):  # Winlogbeat / Elastic Common Schema
        data = _mapping(winlog.get("event_data"))
        stamp = record.get("@timestamp")
        return _Event(
            winlog.get("event_id"),
            winlog.get("provider_name"),
            _time(stamp, "@timestamp"),
            winlog.get("computer_name"),
            data,
        )
    event = record.get("Event")
    if isinstance(event, dict):  # evtx_dump JSON
        system = _mapping(event.get("System"))
        data = _mapping(event.get("EventData"))
        event_id = system.get("EventID")
        if isinstance(event_id, dict):
            event_id = event_id.get("#text")
        name = _mapping(_mapping(system.get("Provider")).get("#attributes")).get("Name")
        stamp = _mapping(_mapping(system.get("TimeCreated")).get("#attributes")).get("SystemTime")
        return _Event(event_id, name, _time(stamp, "SystemTime"), system.get("Computer"), data)
    # Get-WinEvent | ConvertTo-Json: positional Properties in the template's order
    event_id = record.get("Id")
    values = [p.get("Value") if isinstance(p, dict) else p for p in record.get("Properties") or []]
    names = _SECURITY if str(event_id) in ("5156", "5157") else _SYSMON
    if names is _SYSMON and len(values) == len(_SYSMON) - 1:
        names = _SYSMON[1:]  # Sysmon before RuleName (schema 3.x)
    created = record.get("TimeCreated")
    match = _PS_DATE.fullmatch(created) if isinstance(created, str) else None
    time = int(match[1]) * 1000 if match else _time(created, "TimeCreated")
    return _Event(
        event_id, record.get("ProviderName"), time, record.get("MachineName"), dict(zip(names, values, strict=False))
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- mapping --------------------------------------------------------------------------------------


def _row(event: _Event) -> dict[str, Any] | None:
    """Flow columns of a connection event; None for other events."""
    event_id = str(event.event_id).strip() if event.event_id is not None else ""
    data = event.data
    if event_id in ("5156", "5157"):
        return _wfp(event, event_id, data)
    if event_id == "3" and "sysmon" in event.provider.lower():
        return _sysmon(event, data)
    return None


def _wfp(event: _Event, event_id: str, data: dict[str, Any]) -> dict[str, Any]:
    direction = _DIRECTIONS.get(str(data.get("Direction", "")).strip().lower())
    name, number = _protocol(data.get("Protocol"))
    local = (address(data.get("SourceAddress"), "SourceAddress"), _port(data.get("SourcePort"), "SourcePort"))
    remote = (address(data.get("DestAddress"), "DestAddress"), _port(data.get("DestPort"), "DestPort"))
    src, dst = (remote, local) if direction == "inbound" else (local, remote)
    values: dict[str, Any] = {
        "start": event.time,
        "observer": event.computer,
        "protocol": name,
        "ip_proto": number,
        "src_addr": src[0],
        "dst_addr": dst[0],
        "action": "allow" if event_id == "5156" else "deny",
        "direction": direction,
        "initiator": "observed" if direction else None,
        "rule": f"wfp filter {data['FilterRTID']}" if data.get("FilterRTID") not in (None, "") else None,
        **_process(data.get("Application"), data.get("ProcessID"), None),
    }
    if name in ("icmp", "icmpv6"):
        values["icmp_type"], values["icmp_code"] = _small(local[1], "ICMP type"), _small(remote[1], "ICMP code")
    else:
        values["src_port"], values["dst_port"] = src[1], dst[1]
    return values


def _sysmon(event: _Event, data: dict[str, Any]) -> dict[str, Any]:
    initiated = str(data.get("Initiated", "")).strip().lower()
    name, number = _protocol(data.get("Protocol"))
    utc = data.get("UtcTime")
    rule = data.get("RuleName")
    return {
        "start": _time(utc, "UtcTime") if utc not in (None, "") else event.time,
        "observer": event.computer,
        "protocol": name,
        "ip_proto": number,
        "src_addr": address(data.get("SourceIp"), "SourceIp"),
        "src_port": _port(data.get("SourcePort"), "SourcePort"),
        "dst_addr": address(data.get("DestinationIp"), "DestinationIp"),
        "dst_port": _port(data.get("DestinationPort"), "DestinationPort"),
        "direction": {"true": "outbound", "false": "inbound"}.get(initiated),
        "initiator": "observed",
        "rule": rule if isinstance(rule, str) and rule not in ("", "-") else None,
        **_process(data.get("Image"), data.get("ProcessId"), data.get("User")),
    }


def _process(path: Any, pid: Any, user: Any) -> dict[str, Any]:
    text = path if isinstance(path, str) and path not in ("", "-") else None
    return {
        "process_path": text,
        "process_name": re.split(r"[\\/]", text)[-1] if text else None,
        "process_pid": _pid(pid),
        "user": user if isinstance(user, str) and user not in ("", "-") else None,
    }


def _pid(value: Any) -> int | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        number = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError as exc:
        raise BadRecord("bad value", f"process id {value!r} is not a number") from exc
    if not 0 <= number < 2**32:
        raise BadRecord("bad value", f"process id {value!r} is out of range")
    return number


def _port(value: Any, name: str) -> int | None:
    return port(value if not isinstance(value, str) else value.strip(), name)


def _small(value: int | None, name: str) -> int | None:
    if value is not None and value > 255:
        raise BadRecord("bad value", f"{name} {value} is not 0-255")
    return value


def _protocol(value: Any) -> tuple[str | None, int | None]:
    if (value is not None and not isinstance(value, (str, int))) or isinstance(value, bool):
        raise BadRecord("bad value", f"protocol {value!r} is not a protocol")
    try:
        return protocol(value.strip() if isinstance(value, str) else value)
    except ValueError as exc:
        raise BadRecord("bad value", str(exc)) from exc


def _time(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRecord("bad timestamp", f"{name} {value!r} is not a time")
    try:
        return iso_micros(value)
    except ValueError as exc:
        raise BadRecord("bad timestamp", f"{name}: {exc}") from exc

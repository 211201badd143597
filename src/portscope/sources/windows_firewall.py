"""Windows Defender Firewall's pfirewall.log: W3C extended log format, space-separated, ``-`` for missing.

The ``#Fields:`` header names the columns (Microsoft, "Configure Windows Firewall logging"; W3C's
"Extended Log File Format" working draft for the ``#`` directives); format 1.5 writes
``date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin
icmptype icmpcode info path`` and later builds add ``pid``. Columns are found by name, so either
works, and a header repeated mid-file (the log restarts after a rotation) is read again.

- ``action`` ALLOW/DROP: allow/deny. ``INFO-EVENTS-LOST`` says how many events the driver could
  not log: no packet, skipped (counted), not bad.
- ``path`` SEND: outbound, RECEIVE: inbound, FORWARD: forward.
- Times are local (``#Time Format: Local``): read in ``options["timezone"]``, UTC when not given.
- ``size`` is the packet's size; allowed connections are logged with size 0, which says nothing
  about bytes, so 0 is null, not 0 bytes.
- ``ICMP`` with IPv6 addresses is ICMPv6 (Windows names both ICMP).
- ``tcpflags`` is letters (A F P R S U): S without A is a connection attempt, ``initiator`` observed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import Any, BinaryIO

from portscope.sources import ReadContext
from portscope.sources._kernel_log import protocol_of
from portscope.sources._records import BadRecord, Rows
from portscope.sources._syslog import TimeContext

__all__ = ["DESCRIPTION", "NAME", "read", "sniff"]

READS_ROWS = True  # honours ReadContext.as_rows (through Rows)
NAME = "windows_firewall"
DESCRIPTION = "Windows Firewall pfirewall.log (W3C extended log format)"

_DEFAULT_FIELDS = [
    "date", "time", "action", "protocol", "src-ip", "dst-ip", "src-port", "dst-port", "size",
    "tcpflags", "tcpsyn", "tcpack", "tcpwin", "icmptype", "icmpcode", "info", "path",
]  # fmt: skip
_ACTIONS = {"ALLOW": "allow", "DROP": "deny"}
_PATHS = {"SEND": "outbound", "RECEIVE": "inbound", "FORWARD": "forward"}
_REQUIRED = ("date", "time", "action", "protocol", "src-ip", "dst-ip")


def sniff(head: bytes, label: str) -> int:
    """95 for the ``#Software: Microsoft Windows Firewall`` header or its ``#Fields:`` line."""
    if b"#Software: Microsoft Windows Firewall" in head:
        return 95
    if b"#Fields: date time action protocol src-ip dst-ip" in head:
        return 90
    return 0


def read(stream: BinaryIO, context: ReadContext) -> Iterator[Any]:
    times = TimeContext(context.options, context.stats.dating)
    rows = Rows(NAME, context)
    names = list(_DEFAULT_FIELDS)
    index = {name: i for i, name in enumerate(names)}
    skipped = 0
    for number, raw in enumerate(stream, 1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        if line.startswith(b"#"):
            if line.startswith(b"#Fields:"):
                names = line[8:].decode("ascii", "replace").split()
                index = {name: i for i, name in enumerate(names)}
                missing = [name for name in _REQUIRED if name not in index]
                if missing:
                    context.stats.reject(
                        context.label, number, "invalid header", f"#Fields: lacks {', '.join(missing)}"
                    )
            continue
        try:
            values = parse_record(line.decode("utf-8", "replace").split(" "), index, times)
        except BadRecord as bad:
            context.stats.reject(context.label, number, bad.kind, bad.detail)
            continue
        if values is None:
            skipped += 1
            continue
        context.stats.good += 1
        yield from rows.add(values, number)
    context.stats.count_skipped(skipped)
    yield from rows.flush()


def _field(fields: list[str], index: dict[str, int], name: str) -> str | None:
    at = index.get(name)
    if at is None or at >= len(fields):
        return None
    value = fields[at]
    return None if value == "-" else value


def _number(fields: list[str], index: dict[str, int], name: str, limit: int) -> int | None:
    text = _field(fields, index, name)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 10 or int(text) > limit:
        raise BadRecord("invalid port" if name.endswith("port") else "invalid number", f"{name} {text[:40]!r}")
    return int(text)


@lru_cache(maxsize=4096)
def _parsed_time(date: str | None, clock: str | None, times: TimeContext) -> int:
    """µs since the epoch of a record's local date and time (cached: a busy log repeats each second)."""
    try:
        when = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
        return times.local(when.month, when.day, (when.hour, when.minute, when.second), 0, when.year)
    except ValueError:
        raise BadRecord("invalid timestamp", f"{date} {clock}"[:60]) from None


def _start(date: str | None, clock: str | None, times: TimeContext) -> int:
    return _parsed_time(date, clock, times)


@lru_cache(maxsize=4096)
def _checked_address(text: str) -> str:
    return str(ipaddress.ip_address(text))


def _address(text: str | None, name: str) -> str:
    """The address in ipaddress's form (Windows writes IPv6 compressed already); BadRecord if it is none."""
    try:
        return _checked_address(text or "")
    except ValueError:
        raise BadRecord("invalid address", f"{name} {str(text)[:60]!r}") from None


def parse_record(fields: list[str], index: dict[str, int], times: TimeContext) -> dict[str, Any] | None:
    """Flow-table values of one record; None for INFO-EVENTS-LOST; BadRecord when malformed."""
    if len(fields) < len(index):
        raise BadRecord("truncated record", f"{len(fields)} fields, the header names {len(index)}")
    action = _field(fields, index, "action")
    if action == "INFO-EVENTS-LOST":
        return None
    if action not in _ACTIONS:
        raise BadRecord("invalid field", f"action {str(action)[:30]!r}, not ALLOW or DROP")
    start = _start(_field(fields, index, "date"), _field(fields, index, "time"), times)
    addresses = [_address(_field(fields, index, name), name) for name in ("src-ip", "dst-ip")]
    raw_protocol = _field(fields, index, "protocol") or ""
    protocol, number = protocol_of(raw_protocol.encode())
    if number == 1 and ":" in addresses[0]:
        protocol, number = "icmpv6", 58
    size = _number(fields, index, "size", 0xFFFFFFFF)
    flags = _field(fields, index, "tcpflags")
    values: dict[str, Any] = {
        "start": start,
        "protocol": protocol,
        "ip_proto": number,
        "src_addr": addresses[0],
        "dst_addr": addresses[1],
        "action": _ACTIONS[action],
        "direction": _PATHS.get(_field(fields, index, "path") or ""),
        "bytes_out": size or None,
        "packets_out": 1 if size or action == "DROP" else None,
        "process_pid": _number(fields, index, "pid", 0xFFFFFFFF),
    }
    if number in (6, 17):
        values["src_port"] = _number(fields, index, "src-port", 0xFFFF)
        values["dst_port"] = _number(fields, index, "dst-port", 0xFFFF)
    if number == 6 and flags is not None:
        values["tcp_flags"] = flags
        if "S" in flags and "A" not in flags:
            values["initiator"] = "observed"
    if number in (1, 58):
        values["icmp_type"] = _number(fields, index, "icmptype", 255)
        values["icmp_code"] = _number(fields, index, "icmpcode", 255)
    return values

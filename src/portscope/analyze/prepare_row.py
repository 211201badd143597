"""One flow prepared as :func:`portscope.analyze.prepare.prepare` prepares a table, in plain Python.

``portscope explain '<log line>'`` judges one row. Starting an engine for it (Ibis, DuckDB, and the
pandas that Ibis imports) took 2.1-2.4 s for a question ``explain PORT`` answers in a tenth of that.
This is the same judgement written once more, for one row: the same constants (imported from
:mod:`.prepare`), the same classifier (:func:`portscope.ports.classify.class_table`), and SQL's null
logic where it decides something (a comparison with null is not true). A parity test runs every row
of the test data, and rows made to hit each case, through both and compares every column.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.prepare import ESTABLISHED_STATES, FAILED_STATES, GROUP_ADDRESS, PRIVATE_ADDRESS
from portscope.ports.classify import class_name, class_table
from portscope.records import ClientRange

__all__ = ["prepare_row"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_UDP_REPLY_PORTS = frozenset((53, 123, 443, 1900, 5353, 3478, 500, 4500))


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    return re.compile(PRIVATE_ADDRESS), re.compile(GROUP_ADDRESS), re.compile(r"^[FSRPAUECW]+$")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _micros(start: dt.datetime | None) -> int | None:
    if start is None:
        return None
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.timezone.utc)
    delta = start - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _port_class(port: int | None, proto: str, rng: ClientRange, observed: bool = False) -> str:
    if port is None:
        return "none"
    if observed:
        return "service"
    return class_name(class_table(proto, rng)[port])


def _range_of(address: str, options: AnalyzeOptions) -> ClientRange:
    for known, low, high in options.host_ranges:
        if known == address:
            return ClientRange(low, high, known)
    return ClientRange(*options.ephemeral, options.os)


def prepare_row(flow: Mapping[str, Any], options: AnalyzeOptions) -> dict[str, Any] | None:
    """The prepared columns of one flow-table row (a mapping of the flow schema's columns), or None
    where prepare() drops it (no source or destination address)."""
    src, dst = flow.get("src_addr"), flow.get("dst_addr")
    if src is None or dst is None:
        return None
    protocol, ip_proto = flow.get("protocol"), flow.get("ip_proto")
    proto = protocol.lower() if protocol is not None else (str(ip_proto) if ip_proto is not None else "unknown")
    flags = flow.get("tcp_flags")
    row: dict[str, Any] = {
        "start": flow.get("start"),
        "t": _micros(flow.get("start")),
        "observer": flow.get("observer"),
        "duration": flow.get("duration"),
        "proto": proto,
        "src": src,
        "sport": flow.get("src_port"),
        "dst": dst,
        "dport": flow.get("dst_port"),
        "action": "unknown" if flow.get("action") is None else str(flow["action"]),
        "said_direction": _text(flow.get("direction")),
        "initiator": _text(flow.get("initiator")),
        "flags": None if flags is None else flags.upper(),
        "state": _text(flow.get("conn_state")),
        "history": flow.get("history"),
        "app": None if flow.get("service") is None else str(flow["service"]).lower(),
        "packets": (flow.get("packets_out") or 0) + (flow.get("packets_in") or 0),
        "bytes": (flow.get("bytes_out") or 0) + (flow.get("bytes_in") or 0),
        "file": _text(flow.get("evidence_file")),
        "line": flow.get("evidence_line"),
    }
    observed = row["initiator"] == "observed"
    app_seen = row["app"] is not None and observed
    row["s_class"] = _port_class(row["sport"], proto, _range_of(src, options))
    row["d_class"] = _port_class(row["dport"], proto, _range_of(dst, options), app_seen)
    _orient(row, observed)
    _judge(row, observed)
    return row


def _by_ports(row: dict[str, Any]) -> bool | None:
    s, d, sport, dport = row["s_class"], row["d_class"], row["sport"], row["dport"]
    if d == "service" and s != "service":
        return True
    if s == "service" and d != "service":
        return False
    if (s == "service" and d == "service") or (s == "other" and d == "other"):  # the lower port serves
        return None if sport is None or dport is None else sport >= dport
    if s == "ephemeral" and d == "other":
        return True
    if d == "ephemeral" and s == "other":
        return False
    return None


def _orient(row: dict[str, Any], observed: bool) -> None:
    by_ports = _by_ports(row)
    client_is_src = True if observed else by_ports
    row["client_is_src"] = True if client_is_src is None else client_is_src
    row["orientation"] = "observed" if observed else ("inferred" if by_ports is not None else "unknown")
    client, server = ("s", "d") if row["client_is_src"] else ("d", "s")
    names = {"s": ("src", "sport"), "d": ("dst", "dport")}
    row["client"], row["client_port"] = row[names[client][0]], row[names[client][1]]
    row["client_class"] = row[f"{client}_class"]
    row["server"], row["server_port"] = row[names[server][0]], row[names[server][1]]
    row["server_class"] = row[f"{server}_class"]
    private, _, _ = _patterns()
    client_private = private.search(row["client"]) is not None
    server_private = private.search(row["server"]) is not None
    if client_private:
        derived = "internal" if server_private else "outbound"
    else:
        derived = "inbound" if server_private else "external"
    row["direction"] = row["said_direction"] if row["said_direction"] is not None else derived


def _judge(row: dict[str, Any], observed: bool) -> None:
    _, group_address, letters_only = _patterns()
    flags = row["flags"] or ""
    letters = letters_only.search(flags) is not None
    syn = "SYN" in flags or (letters and "S" in flags)
    ack = "ACK" in flags or (letters and "A" in flags)
    row["syn_only"] = syn and not ack
    row["has_flags"] = flags != ""
    row["group"] = group_address.search(row["dst"]) is not None
    replyish = row["has_flags"] and not row["syn_only"]
    history, state = row["history"] or "", row["state"] or ""
    row["attempt"] = row["syn_only"] or (history.startswith("S") and "h" not in history and "H" not in history)
    row["failed"] = row["action"] == "deny" or state in FAILED_STATES
    row["established"] = state in ESTABLISHED_STATES or "h" in history or "H" in history
    reply_direction = not row["client_is_src"] and row["orientation"] == "inferred"
    proto, s_class, d_class = row["proto"], row["s_class"], row["d_class"]
    late_tcp = proto == "tcp" and replyish and s_class == "service" and d_class in ("ephemeral", "other")
    late_udp = proto == "udp" and row["sport"] in _UDP_REPLY_PORTS and d_class in ("ephemeral", "other")
    late = row["action"] == "deny" and reply_direction and (late_tcp or late_udp)
    client_class, server_class = row["client_class"], row["server_class"]
    if row["group"]:
        kind = "group"
    elif s_class == "none":
        kind = "no_ports"
    elif late and proto == "tcp":
        kind = "late_reply"
    elif late:
        kind = "late_udp_reply"
    elif reply_direction and row["action"] != "deny":
        kind = "return_traffic"
    elif client_class == "ephemeral" and server_class == "ephemeral":
        kind = "ephemeral_peer"
    elif server_class == "ephemeral" and (client_class != "service" or observed):
        kind = "ephemeral_inbound"
    elif row["action"] == "deny":
        kind = "denied"
    else:
        kind = "service"
    row["kind"] = kind

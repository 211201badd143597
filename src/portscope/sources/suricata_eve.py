"""Suricata eve.json: flow, netflow and alert events (Suricata manual, "Eve JSON Format").

Every event is one JSON object per line with a common header (``timestamp``, ``flow_id``,
``in_iface``, ``event_type``, ``src_ip``, ``src_port``, ``dest_ip``, ``dest_port``, ``proto``,
``community_id``, and ``icmp_type``/``icmp_code`` instead of ports for ICMP). Rows come from:

- ``flow``: one per flow at its end, both directions: ``flow.pkts_toserver``/``pkts_toclient``,
  ``flow.start``/``flow.end``. ``src`` is Suricata's client side (the header is corrected when
  protocol detection found the flow was picked up backwards, FLOW_DIR_REVERSED), so ``initiator`` is
  ``observed`` when ``tcp.tcp_flags_ts`` holds the client's SYN, or for a non-TCP flow (its first
  sender, as Zeek's orig), ``inferred`` for TCP picked up mid-stream (no SYN from src).
- ``netflow``: one per direction (``netflow.pkts``/``bytes`` are src to dst only); not merged.
- ``alert``: the packet that matched: ``rule`` is ``alert.signature``, ``alert.action`` allowed/blocked
  gives allow/deny; its src/dst are that packet's, which may be the server's reply, so no initiator.

Bytes: Suricata counts each packet's whole captured length, link layer included (``GET_PKT_LEN`` in
FlowUpdateCounter): a one-SYN flow of suricata-verify's bug-6733 logs ``bytes_toserver: 66`` for a
66-byte Ethernet frame whose IP packet is 52 bytes, and on the Teredo pcap Suricata's byte counts are
Zeek's ``orig_ip_bytes`` plus 14 per packet. The flow table counts IP bytes, and the header size
depends on the capture (14 for Ethernet, 18 with a VLAN tag, 0 for NFQUEUE), which eve does not
say: ``bytes_out``/``bytes_in`` stay null unless ``options["link_header_bytes"]`` gives it, and then
are Suricata's counts minus that many bytes per packet.

Other event types (dns, http, tls, stats, anomaly...) are not flows: skipped and counted as such.
``app_proto`` ``failed`` (detection gave up) is no service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from portscope.sources import ReadContext
from portscope.sources._records import BadRecord, Rows
from portscope.sources._tabular import address, count, iso_micros, json_lines, port, protocol, tcp_flag_names

READS_ROWS = True  # honours ReadContext.as_rows (through Rows)
NAME = "suricata_eve"
DESCRIPTION = "Suricata eve.json flow, netflow and alert events"

_EVENTS = ("flow", "netflow", "alert")
_ACTIONS = {"allowed": "allow", "pass": "allow", "blocked": "deny", "drop": "deny", "reject": "deny"}


def sniff(head: bytes, label: str) -> int:
    """95 when the first JSON lines are eve events (``event_type`` with ``timestamp`` or ``src_ip``), else 0."""
    import orjson

    lines = [line for line in head.split(b"\n")[:20] if line.strip()]
    if len(head) >= 65536 and len(lines) > 1:
        lines = lines[:-1]
    seen = 0
    for line in lines[:5]:
        if not line.lstrip().startswith(b"{"):
            return 0
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(record, dict) or "event_type" not in record:
            return 0
        if "timestamp" in record or "src_ip" in record:
            seen += 1
    return 95 if seen else 0


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Flows from eve.json lines; bad lines counted with their number, other event types skipped."""
    header = ctx.options.get("link_header_bytes")
    link = int(header) if header is not None else None
    rows = Rows(NAME, ctx)
    skipped = 0
    for line, event in json_lines(stream, ctx.stats, ctx.label):
        kind = event.get("event_type")
        if kind not in _EVENTS:
            skipped += 1
            continue
        try:
            values = _row(event, str(kind), link)
        except BadRecord as exc:
            ctx.stats.reject(ctx.label, line, exc.kind, exc.detail)
            continue
        ctx.stats.good += 1
        yield from rows.add(values, line)
    yield from rows.flush()
    ctx.stats.count_skipped(skipped)


def _row(event: dict[str, Any], kind: str, link: int | None) -> dict[str, Any]:
    """One event's flow columns; BadRecord for a field that cannot be what eve writes there."""
    name, number = _protocol(event.get("proto"))
    values: dict[str, Any] = {
        "protocol": name,
        "ip_proto": number,
        "src_addr": address(event.get("src_ip"), "src_ip"),
        "dst_addr": address(event.get("dest_ip"), "dest_ip"),
        "observer": _text(event.get("host"), "host"),
        "in_interface": _text(event.get("in_iface"), "in_iface"),
        "flow_id": str(count(event.get("flow_id"), "flow_id")) if event.get("flow_id") is not None else None,
        "community_id": _text(event.get("community_id"), "community_id"),
    }
    if name in ("icmp", "icmpv6"):
        values["icmp_type"] = _small(event.get("icmp_type"), "icmp_type")
        values["icmp_code"] = _small(event.get("icmp_code"), "icmp_code")
    else:
        values["src_port"] = port(event.get("src_port"), "src_port")
        values["dst_port"] = port(event.get("dest_port"), "dest_port")
    service = _text(event.get("app_proto"), "app_proto")
    values["service"] = None if service == "failed" else service
    tcp = event.get("tcp") if isinstance(event.get("tcp"), dict) else None
    if tcp is not None and tcp.get("tcp_flags") is not None:
        values["tcp_flags"] = tcp_flag_names(_hex(tcp["tcp_flags"], "tcp.tcp_flags"))
    if kind == "alert":
        alert = event.get("alert")
        if not isinstance(alert, dict):
            raise BadRecord("bad value", "an alert event without its alert object")
        values["start"] = _time(event.get("timestamp"), "timestamp")
        values["rule"] = _text(alert.get("signature"), "alert.signature")
        values["action"] = _ACTIONS.get(str(alert.get("action")), "unknown")
        return values
    body = event.get(kind)
    if not isinstance(body, dict):
        raise BadRecord("bad value", f"a {kind} event without its {kind} object")
    values["start"] = _time(body.get("start"), f"{kind}.start")
    values["end"] = _time(body.get("end"), f"{kind}.end")
    if values["start"] is not None and values["end"] is not None:
        values["duration"] = (values["end"] - values["start"]) / 1e6
    if kind == "netflow":
        values["packets_out"] = count(body.get("pkts"), "netflow.pkts")
        values["bytes_out"] = _ip_bytes(count(body.get("bytes"), "netflow.bytes"), values["packets_out"], link)
    else:
        values["packets_out"] = count(body.get("pkts_toserver"), "flow.pkts_toserver")
        values["packets_in"] = count(body.get("pkts_toclient"), "flow.pkts_toclient")
        values["bytes_out"] = _ip_bytes(
            count(body.get("bytes_toserver"), "flow.bytes_toserver"), values["packets_out"], link
        )
        values["bytes_in"] = _ip_bytes(
            count(body.get("bytes_toclient"), "flow.bytes_toclient"), values["packets_in"], link
        )
        values["action"] = _ACTIONS.get(str(body.get("action"))) if body.get("action") is not None else None
        values["initiator"] = _initiator(name, tcp)
    return values


def _initiator(name: str | None, tcp: dict[str, Any] | None) -> str | None:
    if name != "tcp":
        return "observed" if name is not None else None
    if tcp is None or tcp.get("tcp_flags_ts") is None:
        return None
    return "observed" if _hex(tcp["tcp_flags_ts"], "tcp.tcp_flags_ts") & 0x02 else "inferred"


def _ip_bytes(frame_bytes: int | None, packets: int | None, link: int | None) -> int | None:
    if link is None or frame_bytes is None or packets is None:
        return None
    return max(frame_bytes - link * packets, 0)


def _protocol(value: Any) -> tuple[str | None, int | None]:
    if value is not None and not isinstance(value, (str, int)):
        raise BadRecord("bad value", f"proto {value!r} is not a protocol")
    try:
        return protocol(value)
    except ValueError as exc:
        raise BadRecord("bad value", str(exc)) from exc


def _time(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRecord("bad timestamp", f"{name} {value!r} is not a time")
    try:
        return iso_micros(value)
    except ValueError as exc:
        raise BadRecord("bad timestamp", f"{name}: {exc}") from exc


def _text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadRecord("bad value", f"{name} {value!r} is not text")


def _small(value: Any, name: str) -> int | None:
    number = count(value, name)
    if number is not None and number > 255:
        raise BadRecord("bad value", f"{name} {number} is not 0-255")
    return number


def _hex(value: Any, name: str) -> int:
    """Suricata writes TCP flags as two hex digits (``"%02x"`` of the flag byte)."""
    text = str(value)
    if not (1 <= len(text) <= 2 and all(c in "0123456789abcdefABCDEF" for c in text)):
        raise BadRecord("bad value", f"{name} {value!r} is not hex TCP flags")
    return int(text, 16)

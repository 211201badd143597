"""``portscope explain`` as a few readable lines per port, for people."""

from __future__ import annotations

from collections.abc import Iterable

from portscope.ports.ranges import EPHEMERAL_RANGES
from portscope.records import (
    IanaEntry,
    PortExplanation,
    RangeExplanation,
    RangeMembership,
    RangeOverlap,
)
from portscope.render.sanitize import for_terminal
from portscope.render.style import Style, wrap

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from portscope.explain_line import LineExplanation, LineSide

__all__ = ["render_explanation", "render_line_explanation"]

_LABEL_WIDTH = 11
_ROLE_HEADLINE = {
    "service": "a service port",
    "ephemeral-client": "most likely the client side of an outgoing connection",
    "ambiguous": "a service port, or a client's ephemeral port",
    "ephemeral-elsewhere": "a client port on other OSes; not this host's ephemeral range",
    "special": "a reserved, special port",
    "unknown": "unassigned, outside the common ephemeral ranges",
}
_ROLE_COLOUR = {"service": "green", "ephemeral-client": "cyan", "ambiguous": "yellow", "special": "red"}


class _Block:
    """Collects ``label  text`` rows, wrapping the text under itself."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self.lines: list[str] = []

    def row(self, label: str, text: str) -> None:
        indent = " " * (_LABEL_WIDTH + 2)
        body = wrap(for_terminal(text), self.style.width - len(indent)) or [""]
        self.lines.append("  " + self.style(label.ljust(_LABEL_WIDTH), "bold") + body[0])
        self.lines += [indent + more for more in body[1:]]

    def rows(self, label: str, texts: Iterable[str]) -> None:
        for i, text in enumerate(texts):
            self.row(label if i == 0 else "", text)


def _protocols(protocols: tuple[str, ...]) -> str:
    return "+".join(protocols)


def _iana_line(entry: IanaEntry) -> str:
    where = f"{entry.low}-{entry.high}" if entry.high != entry.low else str(entry.low)
    proto = entry.protocol or "any"
    name = entry.name or "-"
    text = f"{name} {where}/{proto}: {entry.description}"
    if entry.reference:
        text += f" {entry.reference}"
    if entry.unauthorized_use:
        text += f" (IANA: {entry.unauthorized_use})"
    return text


def _membership_summary(members: Iterable[RangeMembership]) -> list[str]:
    inside = [m for m in members if m.inside and m.os != "iana"]
    outside = [m for m in members if not m.inside and m.os != "iana"]
    out = []
    if inside:
        out.append("inside: " + "; ".join(f"{m.label} {m.low}-{m.high}" for m in inside))
    if outside:
        out.append("outside: " + "; ".join(f"{m.label} {m.low}-{m.high}" for m in outside))
    return out


def _port_block(exp: PortExplanation, style: Style, registry_date: str, now: list[str] | None) -> list[str]:
    block = _Block(style)
    headline = _ROLE_HEADLINE.get(exp.role, exp.role)
    title = f"{exp.port}/{_protocols(exp.protocols)}"
    block.lines.append(style(title, "bold") + " - " + style(headline, "bold", _ROLE_COLOUR.get(exp.role, "blue")))
    block.row("Role", exp.role_text)
    block.rows("Why", exp.reasons)
    block.row("In logs", exp.in_logs)
    block.row("IANA range", f"{exp.iana_range}: {exp.iana_range_text}")
    entries = [e for e in exp.iana if e.assigned]
    if entries:
        block.rows("IANA", [_iana_line(e) for e in entries])
    else:
        kinds = sorted({e.description.lower() for e in exp.iana}) or ["unassigned"]
        block.row("IANA", f"{' / '.join(kinds)} for {', '.join(exp.protocols)} (registry as of {registry_date})")
    services = []
    for s in exp.system_services:
        text = f"{s.name} {s.port}/{s.protocol}"
        if s.open_frequency is not None:
            text += f", open on {s.open_frequency:.4%} of hosts nmap scanned"
        if s.comment:
            text += f" ({s.comment})"
        if s.aliases:
            text += f" aliases {' '.join(s.aliases)}"
        services.append(f"{s.source}: {text}")
    if services:
        block.rows("Databases", services)
    # One line per distinct (range, verdict): TCP and UDP share one range on most systems.
    grouped: dict[tuple[int, int, bool, bool, str], list[str]] = {}
    for m in exp.host_ranges:
        grouped.setdefault((m.low, m.high, m.inside, m.reserved, m.source), []).append((m.protocol or "").upper())
    host_lines = []
    for (low, high, inside, reserved, source), protos in grouped.items():
        state = "inside" if inside else "outside"
        extra = ", but reserved: never handed out" if reserved else ""
        host_lines.append(f"{'+'.join(protos)} ephemeral range {low}-{high}: {state}{extra} ({source})")
    if host_lines:
        block.rows("This host", host_lines)
    block.rows("Ephemeral", _membership_summary(exp.os_ranges))
    if exp.host_notes:
        block.rows("Note", exp.host_notes)
    if exp.notes:
        block.rows("Known as", exp.notes)
    if now is not None:
        block.rows("Now", now)
    else:
        block.rows("Who now", exp.who_uses_it)
    return block.lines


def _overlap_text(o: RangeOverlap, size: int) -> str:
    where = "all" if o.ports == size else f"{o.ports} ({o.overlap_low}-{o.overlap_high})"
    return f"{o.label} {o.low}-{o.high}: {where}"


def _range_block(exp: RangeExplanation, style: Style, limit: int) -> list[str]:
    block = _Block(style)
    size = exp.high - exp.low + 1
    block.lines.append(style(f"{exp.low}-{exp.high}/{_protocols(exp.protocols)}", "bold") + f" - {size} ports")
    block.row("IANA range", ", ".join(exp.iana_ranges))
    shown = [_iana_line(e) for e in exp.assigned[:limit]]
    if len(exp.assigned) > limit:
        shown.append(f"... and {len(exp.assigned) - limit} more (use --json for all)")
    block.rows("Assigned", shown or ["nothing: IANA assigns no port in this range"])
    block.row("Unassigned", f"{exp.unassigned_count} of {size} ports")
    if exp.host_overlaps:
        block.rows("This host", list(dict.fromkeys(_overlap_text(o, size) for o in exp.host_overlaps)))
    overlaps = [_overlap_text(o, size) for o in exp.os_overlaps if o.os != "iana"]
    block.row("Ephemeral", "; ".join(overlaps) if overlaps else "in no common OS range")
    return block.lines


def render_explanation(
    exp: PortExplanation | RangeExplanation,
    style: Style,
    *,
    registry_date: str,
    limit: int = 20,
    now: list[str] | None = None,
) -> str:
    """One explanation as text lines, wrapped to ``style.width``."""
    lines = (
        _port_block(exp, style, registry_date, now)
        if isinstance(exp, PortExplanation)
        else _range_block(exp, style, limit)
    )
    return "\n".join(lines)


# reason code -> (headline, colour)
_LINE_HEADLINE = {
    "late_reply": ("a late reply after the firewall forgot the connection: harmless", "green"),
    "late_udp_reply": ("a late UDP answer: harmless", "green"),
    "return_traffic": ("return traffic: the server's half of a connection", "green"),
    "group": ("local multicast or broadcast chatter", "green"),
    "client_of_service": ("a client of a service", "green"),
    "peer_to_peer": ("peer-to-peer: both ports ephemeral", "yellow"),
    "ephemeral_listener": ("a connection to a listener in the ephemeral range", "yellow"),
    "failed_attempt": ("a failed connection attempt", "yellow"),
    "blocked_client": ("a blocked client: outbound, denied", "yellow"),
    "stale_client_packet": ("a packet of a connection the firewall does not know", "yellow"),
    "probe": ("a scan probe or unsolicited connection attempt", "red"),
    "probe_high_port": ("a probe of a port in the client pool", "red"),
    "blocked_high_port": ("blocked traffic between ephemeral ports", "red"),
    "scan_null": ("a scan probe: NULL (no flags)", "red"),
    "scan_fin": ("a scan probe: FIN without ACK", "red"),
    "scan_xmas": ("a scan probe: XMAS (FIN PSH URG)", "red"),
    "scan_synfin": ("a scan probe: SYN and FIN together", "red"),
    "scan_ack": ("a scan probe: bare ACK (ACK scan)", "red"),
    "no_ports": ("a packet without ports", "blue"),
}
_LINE_SHOWN = 400  # characters of the pasted line echoed back


def _endpoint(address: str, port: int | None) -> str:
    where = f"[{address}]" if ":" in address else address
    return where if port is None else f"{where}:{port}"


def _side_text(side: LineSide, pool: tuple[int, int]) -> str:
    if side.port is None:
        return f"{side.address}, no port: the {side.role}"
    names = f" ({', '.join(side.services)})" if side.services else ""
    if side.port_class == "service":
        what = f"a service port{names}"
    elif side.port_class == "ephemeral":
        what = f"an ephemeral port: inside the client pool {pool[0]}-{pool[1]}{names}"
    else:
        what = f"a {side.iana_range} port outside the client pool {pool[0]}-{pool[1]}{names}"
    text = f"{side.address} port {side.port}: the {side.role}; {what}"
    labels = [r.label for r in EPHEMERAL_RANGES if r.os != "iana"]
    outside = [label for label in labels if label not in side.ephemeral_in]
    if side.ephemeral_in and len(outside) <= 3:
        text += f"; in every common OS's default ephemeral range but {', '.join(outside) or 'none'}"
    elif side.ephemeral_in:
        text += f"; in the default ephemeral range of {', '.join(side.ephemeral_in)}"
    elif side.port_class != "none":
        text += "; in no common OS ephemeral range"
    return text


def render_line_explanation(exp: LineExplanation, style: Style) -> str:
    """One explained log line (portscope.explain_line) as text; every value from the line is sanitised."""
    block = _Block(style)
    headline, colour = _LINE_HEADLINE.get(exp.reason, (exp.reason, "blue"))
    src, dst = exp.source, exp.destination
    title = f"{exp.protocol.upper()} {_endpoint(src.address, src.port)} -> {_endpoint(dst.address, dst.port)}"
    block.lines.append(style(for_terminal(title), "bold") + " - " + style(headline, "bold", colour))
    shown = exp.line if len(exp.line) <= _LINE_SHOWN else exp.line[:_LINE_SHOWN] + "..."
    block.row("Line", shown)
    packet = [exp.format, {"deny": "denied", "allow": "allowed"}.get(exp.action, "action not logged")]
    if exp.flags is not None:
        packet.append(f"flags {exp.flags or 'none'}")
    if exp.conn_state:
        packet.append(f"Zeek state {exp.conn_state}" + (f" history {exp.history}" if exp.history else ""))
    if exp.app:
        packet.append(f"application {exp.app}")
    if exp.icmp_type is not None:
        packet.append(f"ICMP type {exp.icmp_type} code {exp.icmp_code}")
    packet.append(f"{exp.direction} ({'as logged' if exp.direction_said else 'from the addresses'})")
    block.row("Logged", ", ".join(packet))
    block.row("From", _side_text(src, exp.ephemeral_range))
    block.row("To", _side_text(dst, exp.ephemeral_range))
    block.row("Client", exp.orientation_text)
    block.row("Why logged", exp.reason_text)
    block.rows("Because", exp.why)
    block.row("Kind", f"{exp.kind} (as portscope analyze classifies this row; --os {exp.os})")
    more = [f"portscope explain {s.port}/{exp.protocol}" for s in (src, dst) if s.port is not None]
    if more:
        block.row("More", "; ".join(dict.fromkeys(more)))
    return "\n".join(block.lines)

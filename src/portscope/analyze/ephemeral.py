"""Traffic that lands on ephemeral ports and is not a reply: the cases worth a person's look.

- Unsolicited inbound: a connection attempt (a lone SYN, Zeek history ``S`` without ``h``) to a port
  in the client pool, from a port that is no service. Replies from service ports were told apart
  in prepare (late replies), and so never count here.
- A listener on an ephemeral port: such an attempt that was answered (the handshake completed).
  The OS may hand that port to an outgoing connection first, and backdoors like high ports.
- Ephemeral to ephemeral: an established connection between two pool ports (peer-to-peer, tunnels,
  backdoors).
FTP data connections (a client reaching a server's PASV port after a control connection to 21
between the same two hosts) are expected and are left out, as are RPC's dynamic ports after 111/135.
"""

from __future__ import annotations

from typing import Any

from portscope._words import count
from portscope.analyze.findings import Detection, DetectionInput, DetectionRule, named_by_sides
from portscope.findings import Severity

__all__ = [
    "EPHEMERAL_LISTENER",
    "EPHEMERAL_TO_EPHEMERAL",
    "UNSOLICITED_INBOUND",
    "ephemeral_listeners",
    "ephemeral_peers",
    "unsolicited_inbound",
]

_CONTROL_PORTS = (21, 111, 135)  # FTP, ONC RPC portmapper, MS RPC endpoint mapper: they hand out high ports


def _without_negotiated(f: Any, rows: Any) -> Any:
    """``rows`` minus flows between two hosts that also had an FTP/RPC control connection."""
    control = f.filter(f.server_port.isin(_CONTROL_PORTS))
    # Either way round: passive data goes client to server, active data server to client.
    pairs = control.select(client=control.client, server=control.server).union(
        control.select(client=control.server, server=control.client)
    )
    return rows.anti_join(pairs.distinct(), ["client", "server"])


def unsolicited_inbound(data: DetectionInput) -> Detection:
    f = data.flows
    rows = f.filter((f.kind == "ephemeral_inbound") & f.attempt & ~f.established & f.client_is_src)
    rows = named_by_sides(_without_negotiated(f, rows))
    found = rows.group_by("src", "dst", "protocol").agg(
        port=rows.server_port.min(),
        ports=rows.server_port.nunique(),
        flows=rows.count(),
        allowed=(rows.action == "allow").cast("int64").sum(),
        first_seen=rows.start.min(),
        last_seen=rows.start.max(),
    )
    return Detection(found, rows, _describe_unsolicited)


def _describe_unsolicited(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    severity = Severity.MEDIUM if row["allowed"] else Severity.LOW
    ports = f"port {row['port']}" if row["ports"] == 1 else f"{row['ports']} ephemeral ports from {row['port']}"
    what = "let through" if row["allowed"] else "blocked"
    title = (
        f"{row['src']} opened connections to {row['dst']} {ports}/{row['protocol']} in the ephemeral range "
        f"({count(row['flows'], 'attempt')}, {what}): no reply, a probe or a peer"
    )
    return severity, title, None


def ephemeral_listeners(data: DetectionInput) -> Detection:
    f = data.flows
    rows = f.filter(
        # ephemeral_inbound: a server port in the pool, a client port that is no service (prepare._judge).
        (f.kind == "ephemeral_inbound") & f.established & (f.orientation == "observed")
    )
    rows = named_by_sides(_without_negotiated(f, rows))
    found = rows.group_by("dst", "port", "protocol").agg(
        clients=rows.client.nunique(),
        src=rows.client.min(),
        flows=rows.count(),
        bytes=rows.bytes.sum(),
        first_seen=rows.start.min(),
        last_seen=rows.start.max(),
    )
    return Detection(found, rows, _describe_listener)


def _describe_listener(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    title = (
        f"{row['dst']} accepted {count(row['flows'], 'connection')} on ephemeral port {row['port']}/{row['protocol']} "
        f"from {count(row['clients'], 'client')}: a listener where the OS hands out client ports"
    )
    return Severity.MEDIUM, title, "T1571"


def ephemeral_peers(data: DetectionInput) -> Detection:
    f = data.flows
    rows = f.filter((f.kind == "ephemeral_peer") & (f.established | (f.action == "allow")))
    rows = named_by_sides(_without_negotiated(f, rows))
    g = rows.group_by("src", "dst", "protocol").agg(
        flows=rows.count(),
        ports=rows.server_port.nunique(),
        port=rows.server_port.min(),
        bytes=rows.bytes.sum(),
        first_seen=rows.start.min(),
        last_seen=rows.start.max(),
    )
    found = g.filter(g.flows >= data.options.thresholds.ephemeral_peer_flows)
    return Detection(found, rows, _describe_peer)


def _describe_peer(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    title = (
        f"{row['src']} and {row['dst']} talked between ephemeral ports ({count(row['flows'], 'flow')}, "
        f"{row['bytes']} bytes, {row['protocol']}): peer-to-peer, a tunnel or a backdoor"
    )
    return Severity.LOW, title, "T1571"


_SIDES = ("client", "server", "server_port", "proto", "start", "kind")
UNSOLICITED_INBOUND = DetectionRule(
    "unsolicited_inbound_ephemeral",
    unsolicited_inbound,
    ("src", "dst", "protocol"),
    (*_SIDES, "attempt", "established", "client_is_src", "action"),
    (Severity.LOW, Severity.MEDIUM),
)
EPHEMERAL_LISTENER = DetectionRule(
    "ephemeral_listener",
    ephemeral_listeners,
    ("dst", "port", "protocol"),
    (*_SIDES, "established", "orientation", "bytes"),
    (Severity.MEDIUM,),
)
EPHEMERAL_TO_EPHEMERAL = DetectionRule(
    "ephemeral_to_ephemeral",
    ephemeral_peers,
    ("src", "dst", "protocol"),
    (*_SIDES, "established", "action", "bytes"),
    (Severity.LOW,),
)

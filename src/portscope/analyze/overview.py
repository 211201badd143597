"""What is in the data: the ephemeral noise collapsed into services, every port explained, top
talkers and a timeline. Ibis expressions only; each function returns one expression to execute."""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXPLAINED_KINDS",
    "TIMELINE_CLASSES",
    "bucket_seconds",
    "explained",
    "ports",
    "services",
    "summary_counts",
    "talkers",
    "timeline",
]

# Per-flow kinds (prepare._judge) that are explained, not findings.
EXPLAINED_KINDS = ("late_reply", "late_udp_reply", "return_traffic", "group")
# Timeline classes, in the order plots stack them.
TIMELINE_CLASSES = ("service", "explained", "ephemeral", "denied", "no_ports")


def summary_counts(f: Any) -> Any:
    """Flows, first and last seen per (protocol, action, orientation): a few rows, which the report
    adds up for its totals and its counts per protocol, action and orientation in one pass."""
    return f.group_by("proto", "action", "orientation").agg(
        flows=f.count(), first_seen=f.start.min(), last_seen=f.start.max()
    )


def services(f: Any) -> Any:
    """One row per (service port, protocol, direction): every client's ephemeral port folded in."""
    with_ports = f.filter(f.server_port.notnull() & (f.kind != "ephemeral_peer"))
    return (
        with_ports.group_by(port=with_ports.server_port, protocol=with_ports.proto, direction=with_ports.direction)
        .agg(
            flows=with_ports.count(),
            packets=with_ports.packets.sum(),
            bytes=with_ports.bytes.sum(),
            clients=with_ports.client.nunique(),
            servers=with_ports.server.nunique(),
            client_ports=with_ports.client_port.nunique(),
            client_port_low=with_ports.client_port.min(),
            client_port_high=with_ports.client_port.max(),
            allowed=(with_ports.action == "allow").sum(),
            denied=(with_ports.action == "deny").sum(),
            first_seen=with_ports.start.min(),
            last_seen=with_ports.start.max(),
        )
        .order_by([_desc("flows"), "port", "protocol", "direction"])
    )


def _desc(column: str) -> Any:
    import ibis

    return ibis.desc(column)


def ports(f: Any) -> Any:
    """Every distinct (port, protocol), as the server side, the client side, or both; with flows."""
    import ibis

    with_ports = f.filter(f.server_port.notnull())
    served = with_ports.group_by(port=with_ports.server_port, protocol=with_ports.proto).agg(
        server_flows=with_ports.count()
    )
    used = with_ports.group_by(port=with_ports.client_port, protocol=with_ports.proto).agg(
        client_flows=with_ports.count()
    )
    joined = served.outer_join(used, ["port", "protocol"])
    port = ibis.coalesce(joined.port, joined.port_right)
    protocol = ibis.coalesce(joined.protocol, joined.protocol_right)
    server_flows = joined.server_flows.fill_null(0)
    client_flows = joined.client_flows.fill_null(0)
    return joined.select(port=port, protocol=protocol, server_flows=server_flows, client_flows=client_flows).order_by(
        ["port", "protocol"]
    )


def client_port_services(f: Any) -> Any:
    """For each client port, the services it was a client of (most flows first): what it was for."""
    with_ports = f.filter(f.server_port.notnull() & (f.kind != "ephemeral_peer"))
    return with_ports.group_by(
        port=with_ports.client_port, protocol=with_ports.proto, service_port=with_ports.server_port
    ).agg(flows=with_ports.count())


def explained(f: Any) -> Any:
    """Flows of the explained kinds, by kind, server port and protocol."""
    e = f.filter(f.kind.isin(EXPLAINED_KINDS))
    return (
        e.group_by(kind=e.kind, port=e.server_port, protocol=e.proto)
        .agg(flows=e.count(), servers=e.server.nunique(), clients=e.client.nunique(), first_seen=e.start.min())
        .order_by([_desc("flows"), "kind", "port", "protocol"])
    )


def talkers(pairs: Any, top: int) -> Any:
    """Top addresses by flows, as either side (from the fold of flows per pair: pairs.fold)."""
    import ibis

    def side(addr: Any, peer: Any, as_client: Any, as_server: Any) -> Any:
        return pairs.select(
            addr=addr,
            peer=peer,
            port=pairs.server_port,
            flows=pairs.flows,
            bytes=pairs.bytes,
            denied=pairs.denied,
            as_client=as_client,
            as_server=as_server,
        )

    none = ibis.literal(0, type="int64")
    as_client = side(pairs.client, pairs.server, pairs.flows, none)
    both = as_client.union(side(pairs.server, pairs.client, none, pairs.flows))
    return (
        both.group_by("addr")
        .agg(
            flows=both.flows.sum(),
            bytes=both.bytes.sum(),
            peers=both.peer.nunique(),
            ports=both.port.nunique(),
            as_client=both.as_client.sum(),
            as_server=both.as_server.sum(),
            denied=both.denied.sum(),
        )
        .order_by([_desc("flows"), "addr"])
        .limit(top)
    )


def bucket_seconds(span_seconds: float) -> int:
    """The smallest of 1 min, 5 min, 1 h, 1 day that keeps the timeline at 500 buckets or fewer."""
    for size in (60, 300, 3600, 86400):
        if span_seconds / size <= 500:
            return size
    return 86400 * max(1, int(span_seconds / 86400 / 500) + 1)


def timeline(f: Any, bucket: int) -> Any:
    """Flows per bucket per class (bucket start in microseconds since the epoch)."""
    import ibis

    klass = ibis.cases(
        (f.kind.isin(EXPLAINED_KINDS), "explained"),
        (f.kind.isin(("ephemeral_peer", "ephemeral_inbound")), "ephemeral"),
        (f.kind == "denied", "denied"),
        (f.kind == "no_ports", "no_ports"),
        else_="service",
    )
    size = bucket * 1_000_000
    f = f.filter(f.t.notnull())
    b = f.mutate(bucket=(f.t // size) * size, klass=klass)
    return b.group_by(["bucket", "klass"]).agg(flows=b.count()).order_by(["bucket", "klass"])

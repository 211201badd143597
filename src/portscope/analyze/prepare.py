"""Every flow's sides and class: who is the client, which port is the service, why the row exists.

Direction first. A row of a firewall log or a flow log is one packet or one direction, not one
connection: the server's reply to a client's ephemeral port is a row of its own (AWS VPC flow logs
record both halves; a firewall logs the late ACK it dropped after conntrack forgot the connection).
Naive rules flag every such row as "traffic to a high port". Here each row first gets its client
side: observed where the source says who opened the flow (a SYN, Zeek's originator), else inferred
from the ports (a service port against an ephemeral one), and marked so; only then is it judged.

Port classes, for one side's port, are :mod:`portscope.ports.classify`'s (its engine twin,
:func:`~portscope.ports.classify.class_expression`), judged by the client range in force: the host's
own where ``--host-os`` gives it one, else ``--os`` (Linux 32768-60999, Windows 49152-65535; by
default both, 32768-65535). The destination's port is a service by fact when the source saw an
application protocol on an observed flow (Zeek's ``service``, Suricata's ``app_proto``); a side
without a port (ICMP and other protocols) is ``none``.

Every expression here is Ibis, so DuckDB and Spark compute the same columns.
"""

from __future__ import annotations

import functools
from typing import Any

from portscope.analyze.options import AnalyzeOptions

__all__ = ["PRIVATE_ADDRESS", "STORED", "port_class", "prepare", "with_sides"]

# RFC 1918, loopback, link-local, CGNAT (RFC 6598) and IPv6 ULA/link-local/loopback, as canonical text.
PRIVATE_ADDRESS = (
    r"^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|169\.254\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|"
    r"f[cd][0-9a-f]{0,2}:|fe[89ab][0-9a-f]:|::1$)"
)

# IPv4 multicast (224.0.0.0/4), limited and (as /24s usually are) directed broadcast, IPv6 multicast.
GROUP_ADDRESS = r"^(22[4-9]\.|23[0-9]\.|255\.255\.255\.255$|[0-9.]+\.255$|ff[0-9a-f]{2}:)"

# Zeek states where the responder never completed a handshake: the attempt failed.
FAILED_STATES = ("S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR")
# Zeek states of an established connection.
ESTABLISHED_STATES = ("SF", "S1", "S2", "S3", "RSTO", "RSTR")


# What an analysis run keeps of the prepared flows (materialised once, read by every query).
# Materialising strings is what costs: the two address sides are not stored twice, and the
# columns only _judge reads (state, history, the port classes: kind says what they do) are left behind.
STORED = (
    "start", "t", "duration", "proto", "src", "sport", "dst", "dport", "action", "flags", "app",
    "packets", "bytes", "file", "line", "client_is_src", "orientation", "client_port", "server_port",
    "direction", "attempt", "failed", "established", "kind",
)  # fmt: skip


def with_sides(t: Any) -> Any:
    """client and server addresses of stored flows (each is src or dst, as client_is_src says)."""
    import ibis

    return t.mutate(
        client=ibis.ifelse(t.client_is_src, t.src, t.dst), server=ibis.ifelse(t.client_is_src, t.dst, t.src)
    )


@functools.cache
def _epoch_function(engine: str) -> Any:
    import ibis
    import ibis.expr.datatypes as dt

    # Each engine's own function: Ibis writes a timestamp difference, which DuckDB computes through
    # its time-zone library, 30 times slower than epoch_us (1.5 s of 10 million flows against 0.05).
    name = "unix_micros" if engine == "spark" else "epoch_us"

    def epoch(start: Any) -> Any:
        """Microseconds since 1970-01-01 UTC."""

    return ibis.udf.scalar.builtin(epoch, name=name, signature=((dt.Timestamp(timezone="UTC"),), dt.int64))


def epoch_microseconds(start: Any, engine: str) -> Any:
    """``start`` as an integer count of microseconds since the epoch (UTC), the unit Spark keeps."""
    return _epoch_function(engine)(start)


def port_class(port: Any, proto: Any, low: Any, high: Any, observed: Any = None) -> Any:
    """The one classifier's class of ``port`` (``low``-``high``, numbers or columns, is the client
    range), or ``none`` where the flow's protocol has no ports."""
    from portscope.ports.classify import class_expression

    return class_expression(port, proto, low, high, observed=observed).fill_null("none")


def prepare(flows: Any, options: AnalyzeOptions) -> Any:
    """The flow table with the columns every analysis reads (see the module docstring)."""
    f = flows
    proto = f.protocol.cast("string").lower().fill_null(f.ip_proto.cast("string")).fill_null("unknown")
    t = f.select(
        start=f.start,
        t=epoch_microseconds(f.start, options.engine),
        observer=f.observer,
        duration=f.duration,
        proto=proto,
        src=f.src_addr,
        sport=f.src_port.cast("int32"),
        dst=f.dst_addr,
        dport=f.dst_port.cast("int32"),
        action=f.action.cast("string").fill_null("unknown"),
        said_direction=f.direction.cast("string"),
        initiator=f.initiator.cast("string"),
        flags=f.tcp_flags.upper(),
        state=f.conn_state.cast("string"),
        history=f.history,
        app=f.service.cast("string").lower(),
        packets=f.packets_out.cast("int64").fill_null(0) + f.packets_in.cast("int64").fill_null(0),
        bytes=f.bytes_out.cast("int64").fill_null(0) + f.bytes_in.cast("int64").fill_null(0),
        file=f.evidence_file.cast("string"),
        line=f.evidence_line.cast("int64"),
    )
    t = t.filter(t.src.notnull() & t.dst.notnull())
    if options.host_ranges:
        t = _with_host_ranges(t, options)
        low, high = (t.s_low, t.d_low), (t.s_high, t.d_high)
    else:
        low, high = (options.ephemeral[0],) * 2, (options.ephemeral[1],) * 2
    # A fact: an application protocol seen on an observed flow runs on its destination's port.
    app_seen = t.app.notnull() & (t.initiator == "observed")
    s_class = port_class(t.sport, t.proto, low[0], high[0])
    d_class = port_class(t.dport, t.proto, low[1], high[1], app_seen)
    t = t.mutate(s_class=s_class, d_class=d_class)
    t = _orient(t)
    return _judge(t)


def _with_host_ranges(t: Any, options: AnalyzeOptions) -> Any:
    """Each side's client port range: its host's (--host-os) where known, else the run's."""
    import ibis

    low, high = options.ephemeral
    hosts = options.hosts_table().select("addr", "low", "high")
    for side, address in (("s", "src"), ("d", "dst")):
        known = hosts.rename(**{f"{side}_addr": "addr", f"{side}_known_low": "low", f"{side}_known_high": "high"})
        t = t.left_join(known, t[address] == known[f"{side}_addr"]).drop(f"{side}_addr")
        t = t.mutate(
            **{
                f"{side}_low": t[f"{side}_known_low"].fill_null(ibis.literal(low, "int32")),
                f"{side}_high": t[f"{side}_known_high"].fill_null(ibis.literal(high, "int32")),
            }
        ).drop(f"{side}_known_low", f"{side}_known_high")
    return t


def _orient(t: Any) -> Any:
    """client/server sides: observed when the source says who opened the flow, else from the ports."""
    import ibis

    s, d = t.s_class, t.d_class
    by_ports = ibis.cases(
        ((d == "service") & (s != "service"), True),
        ((s == "service") & (d != "service"), False),
        ((s == "service") & (d == "service"), t.sport >= t.dport),  # two services: the lower port serves
        ((s == "ephemeral") & (d == "other"), True),
        ((d == "ephemeral") & (s == "other"), False),
        ((s == "other") & (d == "other"), t.sport >= t.dport),  # equal ports: as recorded
        else_=ibis.null("boolean"),
    )
    observed = t.initiator == "observed"
    client_is_src = ibis.cases((observed, True), else_=by_ports)
    orientation = ibis.cases(
        (observed, "observed"),
        (by_ports.notnull(), "inferred"),
        else_="unknown",
    )
    t = t.mutate(client_is_src=client_is_src.fill_null(True), orientation=orientation)
    c = t.client_is_src
    t = t.mutate(
        client=ibis.ifelse(c, t.src, t.dst),
        client_port=ibis.ifelse(c, t.sport, t.dport),
        client_class=ibis.ifelse(c, t.s_class, t.d_class),
        server=ibis.ifelse(c, t.dst, t.src),
        server_port=ibis.ifelse(c, t.dport, t.sport),
        server_class=ibis.ifelse(c, t.d_class, t.s_class),
    )
    # Nested so that each address is tested once per flow: the engines inline an expression at every
    # place it is used, and these regular expressions are most of what preparing the flows costs.
    server_private = t.server.re_search(PRIVATE_ADDRESS)
    derived = ibis.ifelse(
        t.client.re_search(PRIVATE_ADDRESS),
        ibis.ifelse(server_private, "internal", "outbound"),
        ibis.ifelse(server_private, "inbound", "external"),
    )
    return t.mutate(direction=t.said_direction.fill_null(derived))


def _judge(t: Any) -> Any:
    """Per-flow facts the detections share, and the flow's class for the timeline and 'explained'.

    A late reply: a denied TCP packet with ACK, FIN or RST (not a lone SYN) from a service port to an
    ephemeral or user port: the firewall's connection tracking had forgotten the connection (timed
    out, or the host's state was flushed) when the server's last packets came. Denied UDP from 53,
    123, 443 (QUIC), 1900 (SSDP answers to a multicast M-SEARCH) or 5353 to a client port is the same
    story. Group: to a multicast or broadcast address (SSDP, mDNS, NetBIOS, DHCP announcements and
    searches), local chatter rather than a connection to anyone. Return traffic: an allowed row whose
    inferred client is its destination, as flow logs write the server's half of every connection.
    """
    import ibis

    flags = t.flags.fill_null("")
    # Kernel logs write words (SYN ACK); pfSense and Windows Firewall letters (S, SA, FA, AP).
    # As in _orient, the tests that several cases read are columns, computed once per flow.
    letters = flags.re_search(r"^[FSRPAUECW]+$")
    syn = flags.contains("SYN") | (letters & flags.contains("S"))
    ack = flags.contains("ACK") | (letters & flags.contains("A"))
    t = t.mutate(syn_only=syn & ~ack, has_flags=flags != "", group=t.dst.re_search(GROUP_ADDRESS))
    syn_only = t.syn_only
    replyish = t.has_flags & ~syn_only
    history = t.history.fill_null("")
    state = t.state.fill_null("")
    attempt = syn_only | (history.startswith("S") & ~history.contains("h") & ~history.contains("H"))
    failed = (t.action == "deny") | state.isin(FAILED_STATES)
    established = state.isin(ESTABLISHED_STATES) | history.contains("h") | history.contains("H")
    reply_direction = ~t.client_is_src & (t.orientation == "inferred")
    # Whoever the source saw open the flow is its client, whatever its port: a SYN from 3306 (IANA
    # assigns one port in six of 1024-32767) to an ephemeral port is still unsolicited. Only an
    # inferred client on a service port may be a reply.
    observed = t.orientation == "observed"
    udp_reply_port = t.sport.isin((53, 123, 443, 1900, 5353, 3478, 500, 4500))
    late_tcp = (t.proto == "tcp") & replyish & (t.s_class == "service") & t.d_class.isin(("ephemeral", "other"))
    late_udp = (t.proto == "udp") & udp_reply_port & t.d_class.isin(("ephemeral", "other"))
    late = (t.action == "deny") & reply_direction & (late_tcp | late_udp)
    group = t.group
    kind = ibis.cases(
        (group, "group"),
        (t.s_class == "none", "no_ports"),
        (late & (t.proto == "tcp"), "late_reply"),
        (late, "late_udp_reply"),
        (reply_direction & (t.action != "deny"), "return_traffic"),
        ((t.client_class == "ephemeral") & (t.server_class == "ephemeral"), "ephemeral_peer"),
        ((t.server_class == "ephemeral") & ((t.client_class != "service") | observed), "ephemeral_inbound"),
        (t.action == "deny", "denied"),
        else_="service",
    )
    return t.mutate(
        attempt=attempt,
        failed=failed,
        established=established,
        kind=kind,
    )

"""Why a firewall or flow log line was most likely written: a late reply after connection tracking
forgot the connection, a scan probe, a blocked client, a service's traffic. Worded from one line's
prepared facts (explain_line.py) with the timeouts and behaviours that make each reason likely,
each cited to its source.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from portscope.explain_line import LineSide

__all__ = ["reason_for"]

_LETTERS = {"S": "SYN", "A": "ACK", "F": "FIN", "R": "RST", "P": "PSH", "U": "URG", "E": "ECE", "W": "CWR"}
_LINUX_TCP = (
    "Linux conntrack (iptables, nftables, UFW) keeps an idle established TCP connection "
    "nf_conntrack_tcp_timeout_established = 432000 s (5 days), but once a FIN or RST is seen only "
    "fin_wait 120 s, close_wait 60 s, last_ack 30 s, time_wait 120 s (nf_conntrack-sysctl.rst)"
)
_PF_TCP = (
    "pf (pfSense, OPNsense) keeps an idle established TCP state tcp.established = 86400 s (24 h), but once "
    "closing only tcp.closing 900 s, tcp.finwait 45 s, tcp.closed 90 s (pf.conf(5))"
)
_LINUX_UDP = (
    "Linux conntrack forgets a UDP flow nf_conntrack_udp_timeout = 30 s after its last packet, or "
    "nf_conntrack_udp_timeout_stream = 120 s once packets went both ways (nf_conntrack-sysctl.rst)"
)
_PF_UDP = "pf forgets a UDP state udp.single = 30 s, udp.multiple = 60 s after its last packet (pf.conf(5))"
_UDP_ANSWERS = {
    53: "a DNS answer that came after the firewall stopped expecting it: a slow or retried query (resolvers "
    "retry after 1-5 s and keep going), or an answer to a query that was already answered",
    123: "an NTP answer that came after the UDP state expired, or an NTP server answering a client whose "
    "state the firewall flushed",
    443: "a QUIC (HTTP/3) packet from the server after the UDP state expired: QUIC connections stay open "
    "idle far longer than a firewall's UDP timeout",
    1900: "an SSDP answer to a multicast M-SEARCH: the search went to 239.255.255.250:1900 and the device "
    "answers by unicast from its own address, which connection tracking cannot match to the multicast query",
    5353: "an mDNS answer sent by unicast to a query's source port, which the firewall does not match to the "
    "multicast query",
    3478: "a STUN/TURN answer that came after the UDP state expired (WebRTC, VoIP)",
    500: "an IKE answer that came after the UDP state expired (IPsec VPN)",
    4500: "IPsec NAT-traversal traffic that came after the UDP state expired",
}


class _Reason(NamedTuple):
    code: str
    text: str
    facts: tuple[str, ...]


def _flag_set(flags: str | None) -> frozenset[str] | None:
    """TCP flags as names, whether the log wrote names (``ACK FIN``) or pf/Windows letters (``FA``)."""
    if flags is None:
        return None
    tokens = re.findall(r"[A-Za-z]+", flags.upper())
    if len(tokens) == 1 and not tokens[0].strip("SAFRPUEW"):
        return frozenset(_LETTERS[c] for c in tokens[0])
    return frozenset(tokens)


def _article(word: str) -> str:
    return "an" if word[:1].upper() in "AEFHILMNORSX" and not word[:1].isdigit() else "a"


def _name(side: LineSide, proto: str) -> str:
    """``443/tcp (https)``, or the protocol alone for a portless one."""
    if side.port is None:
        return proto
    return f"{side.port}/{proto}" + (f" ({side.services[0]})" if side.services else "")


def _client_port(side: LineSide, pool: tuple[int, int]) -> str:
    """What the client's port says about it."""
    if side.port_class == "ephemeral":
        where = f"; the default of {', '.join(side.ephemeral_in)}" if side.ephemeral_in else ""
        return (
            f"{side.port} is {side.address}'s ephemeral port: its OS picked it from the client pool "
            f"{pool[0]}-{pool[1]} for this one connection{where}"
        )
    if side.port_class == "other":
        where = f" (the default range of {', '.join(side.ephemeral_in)})" if side.ephemeral_in else ""
        return (
            f"{side.port} is {side.address}'s client port, outside the pool {pool[0]}-{pool[1]}: an OS with "
            f"another range{where}, a NAT's translated port, or a program that chose its own port"
        )
    return f"{side.port} is a service port used as the client's port: a program bound it on purpose"


def _scan(flags: frozenset[str] | None, proto: str, denied: bool, client: LineSide, server: LineSide) -> _Reason | None:
    """Flag combinations no TCP stack sends in a real connection (RFC 9293: after the SYN every segment
    carries ACK), and bare ACKs from a non-service port: nmap's -sN, -sF, -sX and -sA probes."""
    if proto != "tcp" or flags is None:
        return None
    target = _name(server, proto)
    facts = (
        "RFC 9293 section 3.10.7: a closed port answers these with RST and an open one stays silent, "
        "so the answer (or none) maps the port; a firewall that drops them logs a line like this one",
    )
    if not flags:
        return _Reason(
            "scan_null",
            f"a NULL scan probe of {target}: a TCP packet with no flag set at all, which "
            "no TCP stack sends; nmap -sN sends these to find ports a simple firewall lets through",
            facts,
        )
    if flags == {"FIN"}:
        return _Reason(
            "scan_fin",
            f"a FIN scan probe of {target}: a FIN without ACK, which no connection ever sends (nmap -sF)",
            facts,
        )
    if {"FIN", "PSH", "URG"} <= flags and "ACK" not in flags:
        return _Reason(
            "scan_xmas",
            f"an XMAS scan probe of {target}: FIN, PSH and URG lit like a Christmas tree, without ACK (nmap -sX)",
            facts,
        )
    if {"SYN", "FIN"} <= flags:
        return _Reason(
            "scan_synfin",
            f"a crafted probe of {target}: SYN and FIN together never occur in a real "
            "connection; scanners and OS fingerprinting send them to slip past filters",
            facts,
        )
    if flags == {"ACK"} and denied and client.port_class != "service":
        return _Reason(
            "scan_ack",
            f"most likely an ACK scan probe of {target} (nmap -sA maps which ports a firewall filters): a bare "
            f"ACK from {client.port}, which is no service port, so it answers no connection of this host's; "
            "rarely, the last ACK of a client's connection the firewall already forgot",
            (*facts, "an ACK opens no connection: a firewall that tracks state drops it as INVALID or NEW-not-SYN"),
        )
    return None


def reason_for(
    *,
    kind: str,
    fmt: str,
    proto: str,
    action: str,
    flags: str | None,
    state: str | None,
    history: str | None,
    direction: str,
    client: LineSide,
    server: LineSide,
    client_is_src: bool,
    pool: tuple[int, int],
) -> _Reason:
    """The most likely reason a line of ``kind`` was written, with the facts behind it."""
    names = _flag_set(flags)
    tcp_timeouts = _PF_TCP if fmt == "pfsense" else _LINUX_TCP
    udp_timeouts = _PF_UDP if fmt == "pfsense" else _LINUX_UDP
    target = _name(server, proto)
    if kind == "no_ports":
        return _Reason(
            "no_ports",
            f"{_article(proto.upper())} {proto.upper()} packet: this protocol has no ports, so there is no "
            "ephemeral side to explain",
            ("ICMP type and code are not ports; portscope never stores them as such",),
        )
    if kind == "group":
        what = "blocked by the firewall, which has no rule for it" if action == "deny" else "ordinary"
        return _Reason(
            "group",
            f"local discovery or announcement: sent to the multicast or broadcast address "
            f"{(server if client_is_src else client).address}, not to one host (SSDP 1900, mDNS 5353, LLMNR 5355, "
            f"NetBIOS 137/138, DHCP 67/68), repeated on a timer; {what} and not a connection to anyone",
            (_client_port(client, pool),) if client.port is not None else (),
        )
    if kind == "late_reply":
        return _late_tcp(names, client, server, proto, tcp_timeouts, pool)
    if kind == "late_udp_reply":
        text = _UDP_ANSWERS.get(server.port or 0, "a late UDP answer from a service")
        return _Reason(
            "late_udp_reply",
            f"a late reply: {text}. Harmless; the client had most likely given up already",
            (udp_timeouts, _client_port(client, pool)),
        )
    if kind == "return_traffic":
        return _Reason(
            "return_traffic",
            f"return traffic: the server {server.address}'s half of a connection to {target}, recorded as a "
            f"record of its own; its destination {client.port} is the client's port, not a service",
            (
                "flow logs (AWS VPC, NetFlow/IPFIX) record each direction of a connection as a separate "
                "record, so every connection also appears as a flow from the service port to the client",
                _client_port(client, pool),
            ),
        )
    denied = action == "deny"
    scan = _scan(names, proto, denied, client, server)
    if scan is not None:
        return scan
    lone_syn = names is not None and "SYN" in names and "ACK" not in names
    if kind == "ephemeral_peer":
        if denied:
            return _Reason(
                "blocked_high_port",
                f"a blocked packet between two ephemeral ports ({client.port} -> {server.port}): neither side "
                "is a service, so it answers nothing this firewall knows: a probe of a high port, "
                "peer-to-peer traffic the firewall does not allow, or a NAT mapping that expired",
                (_client_port(client, pool), udp_timeouts if proto == "udp" else tcp_timeouts),
            )
        return _Reason(
            "peer_to_peer",
            f"peer-to-peer traffic: both ports ({client.port} and {server.port}) are in the client pool, so "
            "neither is a well-known service: BitTorrent, WebRTC or VoIP media (ports agreed through "
            "STUN/SIP), games, or a service listening on a high port",
            (f"the client pool is {pool[0]}-{pool[1]}", "portscope analyze reports such pairs as ephemeral_peer"),
        )
    if kind == "ephemeral_inbound":
        if denied or lone_syn:
            return _Reason(
                "probe_high_port",
                f"an unsolicited connection attempt to {server.port}, a port in the client pool where no "
                f"service should listen: a scan of high ports{', blocked' if denied else ''}",
                (
                    f"{server.port} is inside the client pool {pool[0]}-{pool[1]}",
                    "a reply would come FROM a service port; this packet comes from a port that is none",
                ),
            )
        return _Reason(
            "ephemeral_listener",
            f"a connection to something listening on {server.port}, inside the client pool: passive FTP data, "
            "RPC dynamic ports, a peer-to-peer program, a NAT's mapping, or a backdoor; see which process "
            f"listens (portscope live --port {server.port})",
            (f"{server.port} is inside the client pool {pool[0]}-{pool[1]}",),
        )
    if kind == "denied":
        return _denied(names, lone_syn, proto, direction, client, server, tcp_timeouts, pool)
    return _service(state, history, action, lone_syn, proto, client, server, pool)


def _late_tcp(
    names: frozenset[str] | None, client: LineSide, server: LineSide, proto: str, timeouts: str, pool: tuple[int, int]
) -> _Reason:
    flags = names or frozenset()
    if "RST" in flags:
        what = "a reset from the server for a connection the firewall no longer tracks (sent after the close)"
    elif "FIN" in flags:
        what = (
            "the server's FIN (or its retransmission) arriving after the firewall had already dropped the "
            "connection's state: the close began, the short closing timer ran out, and this packet came late"
        )
    elif "SYN" in flags:
        what = (
            "a SYN-ACK answering a SYN the firewall no longer expects: a slow handshake, or backscatter of "
            "a SYN flood that spoofed this address"
        )
    else:
        what = (
            "data or an acknowledgement on a connection the firewall forgot: idle past its timeout, or its "
            "state flushed by a firewall reload, reboot or failover, or asymmetric routing"
        )
    facts = [timeouts, _client_port(client, pool)]
    if flags and "ACK" not in flags:
        facts.append(
            "but it carries no ACK, which a real stack sends with every segment after the SYN: many "
            "of these from one source are a scan that uses a service port as its source"
        )
    return _Reason(
        "late_reply",
        f"a late reply from {_name(server, proto)} to the client's port {client.port}: {what}. Harmless: "
        "not an attack and not a connection to that port",
        tuple(facts),
    )


def _denied(
    names: frozenset[str] | None,
    lone_syn: bool,
    proto: str,
    direction: str,
    client: LineSide,
    server: LineSide,
    timeouts: str,
    pool: tuple[int, int],
) -> _Reason:
    target = _name(server, proto)
    facts = [_client_port(client, pool)]
    if direction == "outbound":
        return _Reason(
            "blocked_client",
            f"a blocked client: {client.address} tried to reach {target} on {server.address} and the "
            "firewall's egress policy stopped it: the policy doing its job, or software calling home",
            tuple(facts),
        )
    if names is not None and names and not lone_syn:
        return _Reason(
            "stale_client_packet",
            f"a packet of a connection to {target} the firewall does not know ({' '.join(sorted(names))}, "
            "not a SYN): most likely the client's late packet after the firewall forgot the connection; "
            "many of them to many ports are a scan",
            (timeouts, *facts),
        )
    opener = "a lone SYN" if lone_syn else f"{_article(proto.upper())} {proto.upper()} packet"
    service_hint = {
        23: "telnet: Mirai-style botnets look for devices with default passwords",
        2323: "telnet's alternative port, a Mirai favourite",
        22: "ssh: password-guessing bots",
        3389: "RDP: password-guessing and exploit scans",
        445: "SMB: worms and exploit scans",
    }.get(server.port or -1)
    if service_hint:
        facts.append(f"{server.port} is {service_hint}")
    facts.append(
        "one such line is the background noise of Internet-wide scanning; many from one source to "
        "many ports or hosts is a port scan (portscope analyze reports those)"
    )
    return _Reason(
        "probe",
        f"a scan probe or unsolicited connection attempt: {opener} from {client.address} to {target}, which "
        "this firewall does not let in (nothing answers it here)",
        tuple(facts),
    )


def _service(
    state: str | None,
    history: str | None,
    action: str,
    lone_syn: bool,
    proto: str,
    client: LineSide,
    server: LineSide,
    pool: tuple[int, int],
) -> _Reason:
    target = _name(server, proto)
    facts = [_client_port(client, pool)]
    if state in ("S0", "REJ", "RSTOS0", "SH", "SHR", "RSTRH"):
        how = {"S0": "got no answer", "REJ": "was refused with a reset"}.get(state, "never completed its handshake")
        return _Reason(
            "failed_attempt",
            f"a failed connection attempt: {client.address} tried {target} on {server.address} and it {how} "
            f"(Zeek state {state}); one is a client that gave up, many are a scan",
            (*facts, f"Zeek history {history}" if history else "no history recorded"),
        )
    verb = "connected to" if action != "allow" else "was allowed to connect to"
    if lone_syn:
        verb = "opened a connection to" if action != "allow" else "was allowed to open a connection to"
    return _Reason(
        "client_of_service",
        f"{client.address} is a client of {target} and {verb} it on {server.address}: ordinary traffic to a service",
        tuple(facts),
    )

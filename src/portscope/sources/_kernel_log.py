"""One Linux kernel packet LOG message, parsed token by token: the reference the fast path must agree with.

The kernel writes these lines in net/netfilter/nf_log_syslog.c (nf_log_ip_packet, nf_log_ip6_packet;
before Linux 5.12 nf_log_ipv4.c and nf_log_ipv6.c), for iptables' and ip6tables' ``LOG`` target, for
nftables' ``log`` statement and so for UFW, firewalld and Shorewall, which use them:

    PREFIX IN=eth0 OUT= MAC=aa:..:08:00 SRC=192.0.2.7 DST=198.51.100.1 LEN=60 TOS=0x00 PREC=0x00 TTL=52
    ID=4242 DF PROTO=TCP SPT=56744 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0 OPT (0204...)

- The prefix is the rule's ``--log-prefix`` / ``log prefix``, written right before ``IN=`` (UFW's
  ``[UFW BLOCK] ``, Shorewall's ``Shorewall:net2fw:DROP:``); it becomes ``rule``, and its words
  BLOCK/DROP/REJECT/DENY or ALLOW/ACCEPT give ``action``.
- IPv6 has ``LEN TC HOPLIMIT FLOWLBL`` instead of ``LEN TOS PREC TTL ID``; its LEN is the payload length
  plus the 40-byte header (``ntohs(ih->payload_len) + sizeof(struct ipv6hdr)``), so both are IP bytes.
- TCP: ``SPT DPT [SEQ ACK] WINDOW RES <flags> URGP``, flags in the order CWR ECE URG ACK PSH RST SYN
  FIN; with ``--log-tcp-sequence`` a key ``ACK=`` appears, which is not the flag ``ACK``.
- UDP and UDPLITE: ``SPT DPT LEN`` (the second LEN is the UDP length: only the first is the packet's).
- ICMP: ``TYPE CODE``, then ``ID SEQ`` for echo, or the offending packet in brackets ``[SRC=... ]`` for
  errors: its SRC, DST and ports are another packet's, and are skipped.
- A fragment past the first (``FRAG:185``) or a cut header (``INCOMPLETE [12 bytes]``) has no ports:
  they stay null rather than make the record bad.
- ``--log-uid`` adds ``UID= GID=`` (to ``user``); ``MARK=0x..`` may end the line.
- ARP (nf_log_arp) logs ``ARP HTYPE=...``: a packet, but not an IP one; it is skipped, not bad.
"""

from __future__ import annotations

import ipaddress
from typing import Any, NamedTuple

from portscope.sources._ip_protocols import PROTOCOL_NAMES
from portscope.sources._records import BadRecord

__all__ = [
    "Packet",
    "action_of",
    "direction_of",
    "initiator_of",
    "looks_like_packet_log",
    "packet_values",
    "parse_packet",
    "protocol_of",
]

TCP_FLAGS = frozenset((b"CWR", b"ECE", b"URG", b"ACK", b"PSH", b"RST", b"SYN", b"FIN"))
# nf_log_syslog.c names these protocols; anything else is printed as its number.
PROTOCOLS = {
    b"TCP": ("tcp", 6),
    b"UDP": ("udp", 17),
    b"UDPLITE": ("udplite", 136),
    b"ICMP": ("icmp", 1),
    b"ICMPV6": ("icmpv6", 58),
    b"SCTP": ("sctp", 132),
    b"AH": ("ah", 51),
    b"ESP": ("esp", 50),
}
_NAMES_BY_NUMBER = PROTOCOL_NAMES  # the flow table's names, the same for every source
_PORTED = frozenset(("tcp", "udp", "udplite"))  # nf_log_syslog.c prints SCTP as PROTO=132, no ports
_DENY_WORDS = ("BLOCK", "DROP", "REJECT", "DENY")
_ALLOW_WORDS = ("ALLOW", "ACCEPT")


class Packet(NamedTuple):
    """The flow-table values one logged packet gives (action, direction and initiator are derived)."""

    protocol: str
    ip_proto: int | None
    src_addr: str
    src_port: int | None
    dst_addr: str
    dst_port: int | None
    icmp_type: int | None
    icmp_code: int | None
    length: int
    tcp_flags: str | None
    in_interface: str | None
    out_interface: str | None
    rule: str | None
    user: str | None


def looks_like_packet_log(message: bytes) -> bool:
    """Whether a message is (or was meant to be) a kernel packet log: ``IN=`` and then ``OUT=`` or ``SRC=``.

    A truncated ``... IN=eth0 OU`` still counts (it becomes a bad record); a line that merely contains
    ``IN=`` somewhere (``LOGIN=root``) does only if it also has the kernel's other keys.
    """
    at = message.find(b"IN=")
    if at < 0:
        return False
    rest = message[at:]
    return b" OUT=" in rest or b" SRC=" in rest or len(rest) < 24


def protocol_of(name: bytes) -> tuple[str, int | None]:
    """The protocol's name and number from a ``PROTO=`` value: a kernel name or a number 0-255."""
    known = PROTOCOLS.get(name.upper())
    if known is not None:
        return known
    if name.isdigit() and len(name) <= 3 and int(name) <= 255:
        number = int(name)
        return _NAMES_BY_NUMBER.get(number, str(number)), number
    raise BadRecord("invalid protocol", f"PROTO={_show(name)}")


def action_of(rule: str | None) -> str:
    """deny, allow or unknown from the log prefix's words (UFW's ``[UFW AUDIT]`` says neither)."""
    if rule:
        upper = rule.upper()
        if any(word in upper for word in _DENY_WORDS):
            return "deny"
        if any(word in upper for word in _ALLOW_WORDS):
            return "allow"
    return "unknown"


def direction_of(in_interface: str | None, out_interface: str | None) -> str | None:
    """IN only: inbound; OUT only: outbound (locally sent); both: forward (routed); neither: unknown."""
    if in_interface and out_interface:
        return "forward"
    if in_interface:
        return "inbound"
    if out_interface:
        return "outbound"
    return None


def initiator_of(packet: Packet) -> str | None:
    """observed only for a TCP SYN without ACK: the packet is src's attempt to open a connection."""
    if packet.protocol == "tcp" and packet.tcp_flags is not None:
        words = packet.tcp_flags.split()
        if "SYN" in words and "ACK" not in words:
            return "observed"
    return None


_PACKET_FIELDS = ("protocol", "ip_proto", "src_addr", "src_port", "dst_addr", "dst_port", "icmp_type", "icmp_code",
                  "tcp_flags", "in_interface", "out_interface", "rule", "user")  # fmt: skip


def packet_values(line: int, start: int | None, observer: str | None, packet: Packet) -> dict[str, Any]:
    """The flow-table values of one logged packet (the reference parser's row): ``start`` in µs."""
    values: dict[str, Any] = {name: getattr(packet, name) for name in _PACKET_FIELDS}
    values.update(
        start=start,
        observer=observer,
        source_format="iptables",
        evidence_line=line,
        packets_out=1,
        bytes_out=packet.length,
        action=action_of(packet.rule),
        direction=direction_of(packet.in_interface, packet.out_interface),
        initiator=initiator_of(packet),
    )
    return values


def _show(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= 60 else text[:57] + "..."


def _number(fields: dict[bytes, bytes], key: bytes, limit: int) -> int | None:
    raw = fields.get(key)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 10 or int(raw) > limit:
        raise BadRecord("invalid port" if key in (b"SPT", b"DPT") else "invalid number", f"{_show(key)}={_show(raw)}")
    return int(raw)


def _address(fields: dict[bytes, bytes], key: bytes) -> str:
    """The address as written (the kernel's %pI6 is uncompressed, and stays so), once checked to be one."""
    raw = fields.get(key)
    if raw is None:
        raise BadRecord("truncated record", f"no {key.decode()}=")
    try:
        text = raw.decode("ascii")
        ipaddress.ip_address(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRecord("invalid address", f"{key.decode()}={_show(raw)}") from exc
    return text


def parse_packet(message: bytes) -> Packet | None:
    """The packet a kernel LOG message describes; None for a non-IP one (ARP); BadRecord when malformed.

    Call it only on messages :func:`looks_like_packet_log` accepts.
    """
    at = message.find(b"IN=")
    prefix = message[:at].decode("utf-8", "replace").rstrip()
    tokens = message[at:].split()
    ip: dict[bytes, bytes] = {}
    l4: dict[bytes, bytes] = {}
    flags: list[bytes] = []
    fragment = in_flags = False
    depth = 0
    for token in tokens:
        if depth or (token.startswith(b"[") and b"PROTO" in ip):
            # ICMP errors quote the offending packet in brackets; INCOMPLETE says [N bytes]
            depth += token.count(b"[") - token.count(b"]")
            depth = max(depth, 0)
            continue
        key, equals, value = token.partition(b"=")
        if not equals:
            if token.startswith(b"FRAG:") or token == b"INCOMPLETE":
                fragment = True
            elif in_flags and token in TCP_FLAGS:
                flags.append(token)
            continue
        if key == b"PROTO" and b"PROTO" not in ip:
            ip[b"PROTO"] = value
            continue
        section = l4 if b"PROTO" in ip else ip
        if key == b"RES" and section is l4:
            in_flags = True
        elif key == b"URGP":
            in_flags = False
        section.setdefault(key, value)
    if b"OUT" not in ip:
        raise BadRecord("truncated record", "no OUT= after IN=")
    if b"SRC" not in ip and b"DST" not in ip and b"PROTO" not in ip and (b"HTYPE" in ip or b"ARP" in tokens):
        return None
    src = _address(ip, b"SRC")
    dst = _address(ip, b"DST")
    if (":" in src) != (":" in dst):
        raise BadRecord("invalid address", f"SRC={src} and DST={dst} are not of one IP version")
    length = _number(ip, b"LEN", 0xFFFFFFFF)
    if length is None:
        raise BadRecord("truncated record", "no LEN=")
    if b"PROTO" not in ip:
        raise BadRecord("truncated record", "no PROTO=")
    protocol, number = protocol_of(ip[b"PROTO"])
    sport = dport = icmp_type = icmp_code = None
    tcp_flags = None
    # only a protocol the kernel named had its header decoded: PROTO=58 in an IPv4 scan has no TYPE=
    decoded = not ip[b"PROTO"].isdigit()
    if decoded and protocol in _PORTED:
        sport, dport = _number(l4, b"SPT", 0xFFFF), _number(l4, b"DPT", 0xFFFF)
        if (sport is None or dport is None) and not fragment:
            raise BadRecord("truncated record", f"PROTO={protocol.upper()} without SPT= and DPT=")
        if protocol == "tcp":
            if b"URGP" in l4:
                tcp_flags = " ".join(flag.decode() for flag in flags)
            elif not fragment:
                raise BadRecord("truncated record", "TCP header without URGP= (its flags are cut off)")
    elif decoded and protocol in ("icmp", "icmpv6"):
        icmp_type, icmp_code = _number(l4, b"TYPE", 255), _number(l4, b"CODE", 255)
        if (icmp_type is None or icmp_code is None) and not fragment:
            raise BadRecord("truncated record", f"PROTO={protocol.upper()} without TYPE= and CODE=")
    uid = l4.get(b"UID")
    return Packet(
        protocol,
        number,
        src,
        sport,
        dst,
        dport,
        icmp_type,
        icmp_code,
        length,
        tcp_flags,
        ip[b"IN"].decode("utf-8", "replace") or None,
        ip[b"OUT"].decode("utf-8", "replace") or None,
        prefix or None,
        uid.decode() if uid is not None and uid.isdigit() else None,
    )

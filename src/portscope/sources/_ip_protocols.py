"""IP protocol numbers and the names the flow table gives them: one table for every source.

The ``protocol`` column names a protocol the same way whatever recorded it: a VRRP advertisement is
``vrrp`` in a capture, in pfSense's filterlog (which writes ``carp``, OpenBSD's name for the same
number 112) and in a VPC flow log (which writes ``112``). Names are the keywords of IANA's "Assigned
Internet Protocol Numbers" registry (www.iana.org/assignments/protocol-numbers), lowercased, for the
protocols people meet in logs and captures; two follow common use instead: 58 is ``icmpv6`` (IANA:
IPv6-ICMP) and 89 ``ospf`` (IANA: OSPFIGP). Any other protocol is its number as text.
"""

from __future__ import annotations

__all__ = ["PROTOCOL_NAMES", "PROTOCOL_NUMBERS", "protocol_name"]

PROTOCOL_NAMES: dict[int, str] = {
    1: "icmp", 2: "igmp", 4: "ipv4", 6: "tcp", 8: "egp", 17: "udp", 33: "dccp", 41: "ipv6", 43: "ipv6-route",
    44: "ipv6-frag", 46: "rsvp", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6", 59: "ipv6-nonxt", 60: "ipv6-opts",
    88: "eigrp", 89: "ospf", 97: "etherip", 103: "pim", 108: "ipcomp", 112: "vrrp", 115: "l2tp", 132: "sctp",
    136: "udplite", 137: "mpls-in-ip", 143: "ethernet",
}  # fmt: skip

# What logs write for a protocol, lowercased: the names above, IANA's own keywords where they differ,
# and other spellings met: /etc/protocols' ipencap, OpenBSD's carp, icmp6; ipip as Linux's tunnel of
# IPv4 in IPv4 (protocol 4) is named.
PROTOCOL_NUMBERS: dict[str, int] = {
    **{name: number for number, name in PROTOCOL_NAMES.items()},
    "ipv6-icmp": 58, "icmp6": 58, "ospfigp": 89, "ipip": 4, "ipencap": 4, "ip-encap": 4, "carp": 112,
    "udp-lite": 136,
}  # fmt: skip


def protocol_name(number: int) -> str:
    """The flow table's name for an IP protocol number: its name above, else the number as text."""
    return PROTOCOL_NAMES.get(number) or str(number)

"""Community ID v1: the flow hash Zeek, Suricata, Elastic and Arkime share, so a flow can be followed
across tools (github.com/corelight/community-id-spec).

The hash is SHA-1 over: the 16-bit seed, the two addresses and two ports of the flow in a canonical
order (the smaller endpoint first, so both directions hash alike), the IP protocol and a zero pad
byte. ICMP and ICMPv6 have no ports: the spec puts the type and the type of its counterpart (echo
request 8 and reply 0...) in their place, or type and code for a one-way type, which is never reordered.
Port-less protocols (RSVP, GRE...) hash the addresses and protocol alone. Checked against the spec's
baselines in tests/test_community_id.py.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import struct
from functools import lru_cache
from typing import Any

__all__ = ["add_community_id", "community_id"]

_PORTED = frozenset({6, 17, 132, 1, 58})  # tcp, udp, sctp, icmp, icmpv6
# Type -> counterpart type (request <-> reply), per the spec's reference implementation.
_ICMP4 = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 17: 18, 18: 17, 10: 9, 9: 10}
_ICMP6 = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130, 144: 145, 145: 144}
_PAIR = struct.Struct("!HH")


@lru_cache(maxsize=65536)
def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def community_id(
    src: str,
    dst: str,
    proto: int,
    sport: int | None = None,
    dport: int | None = None,
    *,
    seed: int = 0,
    base64_encoded: bool = True,
) -> str:
    """The ``1:...`` Community ID of one flow. For ICMP/ICMPv6 pass the type as ``sport`` and the code
    as ``dport``. Raises ValueError for an address that is not IPv4 or IPv6 text."""
    saddr, daddr = _packed(src), _packed(dst)
    one_way = False
    if proto in (1, 58) and sport is not None:
        mapping = _ICMP4 if proto == 1 else _ICMP6
        if sport in mapping:
            dport = mapping[sport]
        else:
            one_way = True
    ports = proto in _PORTED and sport is not None and dport is not None
    if not one_way and (saddr > daddr or (saddr == daddr and ports and sport > dport)):  # type: ignore[operator]
        saddr, daddr, sport, dport = daddr, saddr, dport, sport
    data = struct.pack("!H", seed) + saddr + daddr + bytes((proto, 0))
    if ports:
        data += _PAIR.pack(sport, dport)
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    return "1:" + (base64.b64encode(digest).decode() if base64_encoded else digest.hex())


def add_community_id(batch: Any) -> Any:
    """The flow-schema record batch with its ``community_id`` column filled where it was null.

    About a microsecond a flow (one SHA-1 each): sources leave the column null and convert/analyze
    fill it on demand. Rows without both addresses and a protocol number stay null.
    """
    import pyarrow as pa

    names = batch.schema.names
    columns = {
        n: batch.column(n).to_pylist()
        for n in ("src_addr", "dst_addr", "ip_proto", "src_port", "dst_port", "icmp_type", "icmp_code", "community_id")
    }
    out: list[str | None] = []
    for src, dst, proto, src_port, dst_port, itype, icode, existing in zip(*columns.values(), strict=True):
        if existing is not None or src is None or dst is None or proto is None:
            out.append(existing)
            continue
        icmp = proto in (1, 58)
        try:
            out.append(community_id(src, dst, proto, itype if icmp else src_port, icode if icmp else dst_port))
        except ValueError:
            out.append(None)
    index = names.index("community_id")
    return batch.set_column(index, batch.schema.field(index), pa.array(out, type=pa.string()))

"""From captured frames to IP packets: link layers, IPv4 and IPv6, fragments, transport headers.

Every step works on whole chunks with numpy. Header fields are read as strided views of the
packets' first bytes (one column per field) when a field sits at the same offset in every packet,
the common case (plain Ethernet, no IP options), and gathered per packet otherwise.

Link layers (tcpdump.org/linktypes.html): Ethernet (1) with 802.1Q/802.1ad/QinQ tags, PPPoE sessions,
MPLS and Cisco FabricPath (as Zeek decodes them); BSD loopback NULL (0, family in the capturing host's
byte order, either one) and LOOP (108, network order); raw IP (12, 14, 101; 228 IPv4, 229 IPv6);
Linux cooked SLL (113) and SLL2 (276). Frames that carry no IP (ARP, LLDP...) are skipped, not errors.

What Zeek drops, this drops and counts as bad (``reject``): an IP header cut by the snap length, an IP
total length beyond the wire length ("truncated_IP" in Zeek's IP analyzer), a transport header cut
short ("truncated_header"). IPv6 extension headers are walked to the transport header (RFC 8200 4).

Fragments (RFC 791 3.2, RFC 8200 4.5): Zeek reassembles a datagram and analyses it once, when its last
piece arrives; so here a fragmented datagram becomes one packet, at the place and time of the fragment
that completes it, with the transport header of its first fragment, the packet number of that first
fragment and the reassembled IP length. Fragments that never complete (or whose first fragment was not
captured) are counted as port-less packets of their addresses and protocol: Zeek would drop them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from portscope.sources._pcap_records import HEAD, RecordChunk

__all__ = ["PACKET_DTYPES", "Decoder", "Packets", "concat_packets"]

RejectMany = Callable[[np.ndarray, str, str], None]  # (packet numbers, kind, detail)

MAPPED_V4 = 0xFFFF_0000_0000  # IPv4 addresses are kept as ::ffff:a.b.c.d (RFC 4291 2.5.5.2)
_VLAN = (0x8100, 0x88A8, 0x9100, 0x9200)
_IPV6_EXTENSIONS = (0, 43, 44, 51, 60, 135, 139, 140, 253, 254)  # RFC 8200 4, RFC 7045
_AF_INET6 = (10, 23, 24, 28, 30)  # Linux, Windows, NetBSD/OpenBSD, FreeBSD, Darwin


def _counterparts(pairs: dict[int, int]) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int32)
    for a, b in pairs.items():
        table[a], table[b] = b, a
    return table


# Zeek's ICMP4_counterpart/ICMP6_counterpart (packet_analysis/protocol/icmp/ICMP.cc): request and reply
# types share a connection; any other type is one-way and keyed by its code.
ICMP4_PAIRS = _counterparts({8: 0, 13: 14, 15: 16, 10: 9, 17: 18})
ICMP6_PAIRS = _counterparts({128: 129, 133: 134, 135: 136, 130: 131, 139: 140, 144: 145})
# Transport header bytes Zeek needs before it will analyse a packet (CheckHeaderTrunc): TCP, UDP, ICMP, SCTP.
_NET = np.zeros(65536, dtype=np.int64)  # EtherType -> IP version
_NET[0x0800], _NET[0x86DD] = 4, 6
_DEEPER = np.zeros(65536, dtype=bool)  # EtherTypes with more link layer after them
_DEEPER[[*_VLAN, 0x8903, 0x8864, 0x8847, 0x8848]] = True
_NEED = np.zeros(256, dtype=np.int64)
_NEED[[6, 17, 1, 58, 132]] = [20, 8, 8, 8, 12]


class Packets(NamedTuple):
    """IP packets as parallel arrays. Addresses are 128 bits in two halves (IPv4 mapped into IPv6).

    ``sport``/``dport`` are the ports for TCP, UDP and SCTP; for ICMP they are Zeek's connection key:
    the type and its counterpart (or the code, for a one-way message, ``one_way`` set); 0 otherwise.
    ``flags`` is the TCP flags byte, or for SCTP the type of the first chunk (1 = INIT).
    """

    number: np.ndarray  # int64 packet number in the file
    ts: np.ndarray  # int64 microseconds
    version: np.ndarray  # uint8 4 or 6
    proto: np.ndarray  # uint8 IP protocol of the transport header
    src_hi: np.ndarray  # uint64
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    sport: np.ndarray  # int32
    dport: np.ndarray
    one_way: np.ndarray  # bool
    ip_len: np.ndarray  # int64 IP total length (Zeek's orig_ip_bytes counts these)
    flags: np.ndarray  # uint8
    seq: np.ndarray  # int64 (32-bit values)
    ack: np.ndarray
    win: np.ndarray  # int32
    paylen: np.ndarray  # int64 transport payload bytes
    icmp_type: np.ndarray  # int16, -1 when not ICMP
    icmp_code: np.ndarray


PACKET_DTYPES = tuple(
    np.dtype(t)
    for t in (
        "i8",
        "i8",
        "u1",
        "u1",
        "u8",
        "u8",
        "u8",
        "u8",
        "i4",
        "i4",
        "?",
        "i8",
        "u1",
        "i8",
        "i8",
        "i4",
        "i8",
        "i2",
        "i2",
    )
)


def concat_packets(parts: list[Packets]) -> Packets:
    return Packets(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def _empty(n: int) -> Packets:
    packets = Packets(*(np.zeros(n, dtype=dtype) for dtype in PACKET_DTYPES))
    packets.icmp_type[:] = packets.icmp_code[:] = -1
    return packets


class _Bytes:
    """Big-endian fields of a chunk's packets at per-packet (or common) offsets from each one's start."""

    def __init__(self, chunk: RecordChunk) -> None:
        self.rows = chunk.rows
        self.base = chunk.base
        self.stride = chunk.rows.strides[0] if chunk.rows.ndim == 2 else HEAD
        self.buf = chunk.buf
        self.start = chunk.start

    def get(self, idx: np.ndarray, off: np.ndarray | int, size: int) -> np.ndarray:
        """The ``size``-byte big-endian field at offset ``off`` of each packet in ``idx``, as int64."""
        dtype = np.dtype(">u" + str(size)) if size > 1 else np.dtype(np.uint8)
        if isinstance(off, np.ndarray) and off.size and (off == off[0]).all():
            off = int(off[0])
        if isinstance(off, int):
            if off + size <= HEAD:
                if not self.rows.shape[0]:
                    return np.zeros(0, dtype=np.uint64 if size == 8 else np.int64)
                column = np.ndarray(
                    shape=(self.rows.shape[0],),
                    dtype=dtype,
                    buffer=self.rows,
                    offset=self.base + off,
                    strides=(self.stride,),
                )
                values = column if idx.size == column.size else column[idx]
                whole: np.ndarray = values.astype(np.uint64 if size == 8 else np.int64)
                return whole
            off = np.full(idx.size, off, dtype=np.int64)
        if (off + size <= HEAD).all():
            flat = np.ndarray(shape=(self.rows.size - size + 1,), dtype=dtype, buffer=self.rows, strides=(1,))
            values = flat[idx * self.stride + self.base + off]
        else:
            flat = np.ndarray(shape=(self.buf.size - size + 1,), dtype=dtype, buffer=self.buf, strides=(1,))
            values = flat[self.start[idx] + off]
        gathered: np.ndarray = values.astype(np.uint64 if size == 8 else np.int64)
        return gathered

    def block(self, idx: np.ndarray, off: np.ndarray | int, width: int) -> _Block:
        """``width`` bytes at offset ``off`` of each packet in ``idx``: one gather (or none: a strided
        view, when all packets have the field at the same offset) for a whole header."""
        if isinstance(off, np.ndarray) and off.size and (off == off[0]).all():
            off = int(off[0])
        if isinstance(off, int) and off + width <= HEAD:
            if idx.size == self.rows.shape[0]:
                return _Block(self.rows, self.base + off, self.stride, idx.size)
            data = self.rows[idx, self.base + off : self.base + off + width]
            return _Block(np.ascontiguousarray(data), 0, width, idx.size)
        off = np.broadcast_to(np.asarray(off, dtype=np.int64), idx.shape)
        if (off + width <= HEAD).all():
            flat = np.ndarray(
                shape=(self.rows.size - width + 1,), dtype=np.dtype((np.void, width)), buffer=self.rows, strides=(1,)
            )
            data = flat[idx * self.stride + self.base + off]
        else:
            flat = np.ndarray(
                shape=(self.buf.size - width + 1,), dtype=np.dtype((np.void, width)), buffer=self.buf, strides=(1,)
            )
            data = flat[self.start[idx] + off]
        return _Block(data.view(np.uint8).reshape(idx.size, width), 0, width, idx.size)

    def get_safe(self, idx: np.ndarray, off: np.ndarray, size: int, ok: np.ndarray) -> np.ndarray:
        """:meth:`get` where ``ok`` (the bytes are known to be captured), 0 elsewhere."""
        out = np.zeros(idx.size, dtype=np.uint64 if size == 8 else np.int64)
        if ok.any():
            out[ok] = self.get(idx[ok], off[ok], size)
        return out


class _Block:
    """Fixed-offset big-endian fields of a header block: (a strided view of) one row per packet."""

    def __init__(self, data: np.ndarray, base: int, stride: int, count: int) -> None:
        self.data, self.base, self.stride, self.count = data, base, stride, count

    def u(self, offset: int, size: int) -> np.ndarray:
        if not self.count:
            return np.zeros(0, dtype=np.uint64 if size == 8 else np.int64)
        dtype = np.dtype(">u" + str(size)) if size > 1 else np.dtype(np.uint8)
        column = np.ndarray(
            shape=(self.count,), dtype=dtype, buffer=self.data, offset=self.base + offset, strides=(self.stride,)
        )
        field: np.ndarray = column.astype(np.uint64 if size == 8 else np.int64)
        return field


class Decoder:
    """Decodes chunks of records into :class:`Packets`, keeping incomplete fragmented datagrams between chunks."""

    def __init__(self, reject_many: RejectMany) -> None:
        self.reject = reject_many
        self.pending: dict[tuple[int, ...], list[tuple[int, Packets, int, int, bool]]] = {}
        self.inner = False  # decoding a tunnel's inner packets
        self.tunnelled: list[tuple[np.ndarray, np.ndarray]] = []
        self.not_ip = 0  # frames that carry no IP (ARP, LLDP, STP...): skipped, not bad

    def decode(self, chunk: RecordChunk) -> Packets:
        """The IP packets of a chunk: IPv4 ones, then IPv6 ones, then tunnelled ones (not in capture
        order: their packet numbers give it)."""
        n = chunk.caplen.size
        at = _Bytes(chunk)
        everyone = np.arange(n)
        l3, net = self._link(chunk, at, everyone)
        out: list[Packets] = []
        for version in (4, 6):
            idx = np.flatnonzero(net == version)
            if idx.size:
                out.append(self._ip(chunk, at, idx, l3[idx], version))
        if self.tunnelled:  # inner packets follow their outer one (Zeek analyses them right after)
            self.inner = True
            for idx, inner in self.tunnelled:
                out.append(self._ip(chunk, at, idx, inner, 6))
            self.inner = False
            self.tunnelled = []
        if not out:
            return _empty(0)
        return out[0] if len(out) == 1 else concat_packets(out)

    def _link(self, chunk: RecordChunk, at: _Bytes, everyone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Offset of the IP header in each packet, and its version (0: no IP)."""
        n = everyone.size
        l3 = np.zeros(n, dtype=np.int64)
        net = np.zeros(n, dtype=np.int64)
        links = np.unique(chunk.link) if n else np.zeros(0, dtype=np.int64)
        for link in links.tolist():
            idx = everyone if links.size == 1 else np.flatnonzero(chunk.link == link)
            cap = chunk.caplen[idx]
            if link == 1:  # Ethernet
                off, kind = self._ethernet(at, idx, cap)
            elif link == 113:  # Linux cooked v1: protocol at 14, header 16 bytes
                off, kind = np.full(idx.size, 16), np.where(cap >= 16, at.get(idx, 14, 2), 0)
            elif link == 276:  # Linux cooked v2: protocol first, header 20 bytes
                off, kind = np.full(idx.size, 20), np.where(cap >= 20, at.get(idx, 0, 2), 0)
            elif link in (12, 14, 101, 228, 229):  # raw IP
                off = np.zeros(idx.size, dtype=np.int64)
                first = np.where(cap >= 1, at.get(idx, 0, 1) >> 4, 0)
                kind = np.select([first == 4, first == 6], [0x0800, 0x86DD], 0)
            elif link in (0, 108):  # BSD loopback: a 4-byte address family
                family = np.where(cap >= 4, at.get(idx, 0, 4), 0)
                if link == 0:  # host byte order: little-endian hosts wrote it byte-swapped
                    swapped = family.astype(np.uint32).byteswap().astype(np.int64)
                    family = np.where(family > 0xFFFF, swapped, family)
                off = np.full(idx.size, 4)
                kind = np.select([family == 2, np.isin(family, _AF_INET6)], [0x0800, 0x86DD], 0)
            else:
                self.reject(chunk.number[idx], "unknown link type", f"link type {link} is not decoded")
                continue
            l3[idx] = off
            net[idx] = _NET[kind]
            self.not_ip += int(np.count_nonzero(net[idx] == 0))
        return l3, net

    def _ethernet(self, at: _Bytes, idx: np.ndarray, cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """EtherType and payload offset, through VLAN tags, FabricPath, PPPoE and MPLS."""
        off = np.full(idx.size, 14, dtype=np.int64)
        kind = np.where(cap >= 14, at.get(idx, 12, 2), 0)
        for _ in range(4):
            if not _DEEPER[kind].any():
                break
            vlan = np.isin(kind, _VLAN)
            fabric = kind == 0x8903  # Cisco FabricPath: 2 more bytes, then a whole Ethernet header
            pppoe = kind == 0x8864  # PPPoE session (RFC 2516): 6-byte header, 2-byte PPP protocol
            mpls = (kind == 0x8847) | (kind == 0x8848)
            deeper = vlan | fabric | pppoe | mpls
            if not deeper.any():
                break
            step = np.select([vlan, fabric, pppoe], [4, 16, 8], 4)
            field = np.select([vlan, fabric, pppoe], [off + 2, off + 14, off + 6], off)
            ok = deeper & (cap >= off + step + 2)
            sub = np.flatnonzero(ok)
            value = np.zeros(idx.size, dtype=np.int64)
            if sub.size:
                value[sub] = at.get(idx[sub], field[sub], 2)
                first = np.zeros(idx.size, dtype=np.int64)
                first[sub] = at.get(idx[sub], off[sub] + step[sub], 1) >> 4
            ppp = np.select([value == 0x0021, value == 0x0057], [0x0800, 0x86DD], 0)
            # MPLS: the label stack ends at the bottom-of-stack bit; IP follows (version nibble).
            bottom = np.zeros(idx.size, dtype=bool)
            if sub.size:
                bottom[sub] = (at.get(idx[sub], off[sub] + 2, 1) & 1) == 1
            after_mpls = np.where(bottom, np.select([first == 4, first == 6], [0x0800, 0x86DD], 0), kind)
            kind = np.select([~ok & deeper, vlan | fabric, pppoe, mpls], [0, value, ppp, after_mpls], kind)
            off = np.where(ok, off + step, off)
        return off, kind

    def _ip(self, chunk: RecordChunk, at: _Bytes, idx: np.ndarray, l3: np.ndarray, version: int) -> Packets:
        cap = chunk.caplen[idx] - l3
        wire = chunk.wirelen[idx] - l3
        head = 20 if version == 4 else 40
        ok = cap >= head
        if not ok.all():
            self._bad(chunk, idx, ~ok, "truncated packet", f"the IPv{version} header is cut short by the snap length")
            idx, l3, cap, wire = idx[ok], l3[ok], cap[ok], wire[ok]
        ip = at.block(idx, l3, head)
        first = ip.u(0, 1)
        if version == 4:
            hlen = (first & 15) * 4
            total = ip.u(2, 2)
            total = np.where(total == 0, cap, total)  # TCP segmentation offload zeroes it (Zeek does this)
            bad = ((first >> 4) != 4) | (hlen < 20) | (total < hlen)
        else:
            hlen = np.full(idx.size, 40, dtype=np.int64)
            total = ip.u(4, 2) + 40  # Zeek's TotalLen (a zero payload length stays 40)
            bad = (first >> 4) != 6
        short = ~bad & ((wire < total) | (cap < hlen))
        keep = ~bad & ~short
        if not keep.all():
            self._bad(chunk, idx, bad, "bad IP header", f"IPv{version} header with a wrong version or length")
            self._bad(chunk, idx, short, "truncated packet", "the IP total length runs past the packet")
            idx, l3, cap, hlen, total = idx[keep], l3[keep], cap[keep], hlen[keep], total[keep]
            ip = at.block(idx, l3, head)
        p = _empty(idx.size)
        p.number[:] = chunk.number[idx]
        p.ts[:] = chunk.ts_us[idx]
        p.version[:] = version
        p.ip_len[:] = total
        fragment_offset = np.zeros(idx.size, dtype=np.int64)
        more = np.zeros(idx.size, dtype=bool)
        ident = np.zeros(idx.size, dtype=np.int64)
        if version == 4:
            proto = ip.u(9, 1)
            frag = ip.u(6, 2)
            fragment_offset, more = (frag & 0x1FFF) * 8, (frag & 0x2000) != 0
            ident = ip.u(4, 2)
            p.src_lo[:] = ip.u(12, 4).astype(np.uint64) | np.uint64(MAPPED_V4)
            p.dst_lo[:] = ip.u(16, 4).astype(np.uint64) | np.uint64(MAPPED_V4)
            l4 = l3 + hlen
        else:
            proto = ip.u(6, 1)
            p.src_hi[:], p.src_lo[:] = ip.u(8, 8), ip.u(16, 8)
            p.dst_hi[:], p.dst_lo[:] = ip.u(24, 8), ip.u(32, 8)
            l4 = l3 + 40
            ext = np.flatnonzero(np.isin(proto, _IPV6_EXTENSIONS))
            if ext.size:
                l4, proto, fragment_offset, more, ident, lost = self._extensions(
                    at, idx, l3, cap, l4, proto, fragment_offset, more, ident, ext
                )
                self._bad(chunk, idx, lost, "truncated packet", "an IPv6 extension header is cut short")
                if lost.any():
                    keep = ~lost
                    p = Packets(*(column[keep] for column in p))
                    idx, l3, cap, total, l4, proto = idx[keep], l3[keep], cap[keep], total[keep], l4[keep], proto[keep]
                    fragment_offset, more, ident = fragment_offset[keep], more[keep], ident[keep]
        p.proto[:] = proto
        fragmented = more | (fragment_offset > 0)
        whole = ~(fragment_offset > 0)  # first fragments carry the transport header
        p, kept = self._transport(chunk, at, idx, p, l4 - l3, cap, total - (l4 - l3), l3, whole)
        if kept is not None:  # packets whose transport header is cut short are gone: so are their rows here
            fragmented, fragment_offset, more, ident = fragmented[kept], fragment_offset[kept], more[kept], ident[kept]
            total, l4, l3 = total[kept], l4[kept], l3[kept]
        if fragmented.any():
            p = self._fragments(p, fragmented, fragment_offset, more, ident, total - (l4 - l3), l4 - l3)
        return p

    def _extensions(
        self,
        at: _Bytes,
        idx: np.ndarray,
        l3: np.ndarray,
        cap: np.ndarray,
        l4: np.ndarray,
        proto: np.ndarray,
        fragment_offset: np.ndarray,
        more: np.ndarray,
        ident: np.ndarray,
        ext: np.ndarray,
    ) -> tuple[np.ndarray, ...]:
        """Walk IPv6 extension headers (RFC 8200 4) of the packets ``ext`` to their transport header."""
        l4, proto = l4.copy(), proto.copy()
        fragment_offset, more, ident = fragment_offset.copy(), more.copy(), ident.copy()
        lost = np.zeros(idx.size, dtype=bool)
        for _ in range(8):
            ext = ext[np.isin(proto[ext], _IPV6_EXTENSIONS) & ~lost[ext]]
            if not ext.size:
                break
            short = l4[ext] - l3[ext] + 8 > cap[ext]
            lost[ext[short]] = True
            ext = ext[~short]
            nxt = at.get(idx[ext], l4[ext], 1)
            size = at.get(idx[ext], l4[ext] + 1, 1)
            kind = proto[ext]
            frag = kind == 44
            if frag.any():
                f = ext[frag]
                word = at.get(idx[f], l4[f] + 2, 2)
                fragment_offset[f], more[f] = word & 0xFFF8, (word & 1) == 1
                ident[f] = at.get(idx[f], l4[f] + 4, 4)
            l4[ext] += np.select([frag, kind == 51], [8, (size + 2) * 4], (size + 1) * 8)
            proto[ext] = nxt
        return l4, proto, fragment_offset, more, ident, lost

    def _transport(
        self,
        chunk: RecordChunk,
        at: _Bytes,
        idx: np.ndarray,
        p: Packets,
        hl: np.ndarray,
        cap: np.ndarray,
        l4len: np.ndarray,
        l3: np.ndarray,
        whole: np.ndarray,
    ) -> tuple[Packets, np.ndarray | None]:
        """TCP, UDP, ICMP, ICMPv6 and SCTP header fields; other protocols stay port-less. With the
        packets, the mask of those kept when some had to go (a transport header cut short), else None."""
        avail = np.minimum(cap - hl, l4len)  # transport bytes captured
        l4 = l3 + hl
        proto = p.proto
        short = whole & (avail < _NEED[proto])
        if short.any():
            self._bad(chunk, idx, short, "truncated packet", "the transport header is cut short")
        keep = ~short
        usable = keep & whole
        tcp = np.flatnonzero(usable & (proto == 6))
        if tcp.size:
            t = at.block(idx[tcp], l4[tcp], 20)
            hdr = (t.u(12, 1) >> 4) * 4
            bad = (hdr < 20) | (hdr > avail[tcp])
            p.sport[tcp], p.dport[tcp] = t.u(0, 2), t.u(2, 2)
            p.seq[tcp], p.ack[tcp] = t.u(4, 4), t.u(8, 4)
            p.flags[tcp], p.win[tcp] = t.u(13, 1), t.u(14, 2)
            p.paylen[tcp] = l4len[tcp] - hdr
            if bad.any():
                self._bad(chunk, idx[tcp], bad, "truncated packet", "the TCP header (with options) is cut short")
                keep[tcp[bad]] = False
        udp = np.flatnonzero(usable & (proto == 17))
        if udp.size:
            u = at.block(idx[udp], l4[udp], 8)
            p.sport[udp], p.dport[udp] = u.u(0, 2), u.u(2, 2)
            p.paylen[udp] = l4len[udp] - 8
            if not self.inner:
                self._teredo(
                    chunk, at, idx[udp], l4[udp] + 8, np.minimum(l4len[udp], cap[udp] - hl[udp]) - 8, l4len[udp] - 8
                )
        sctp = np.flatnonzero(usable & (proto == 132))
        if sctp.size:
            rows, o = idx[sctp], l4[sctp]
            p.sport[sctp], p.dport[sctp] = at.get(rows, o, 2), at.get(rows, o + 2, 2)
            p.flags[sctp] = at.get_safe(rows, o + 12, 1, avail[sctp] >= 13)
        icmp = np.flatnonzero(usable & ((proto == 1) | (proto == 58)))
        if icmp.size:
            i = at.block(idx[icmp], l4[icmp], 2)
            kind, code = i.u(0, 1), i.u(1, 1)
            counterpart = np.where(proto[icmp] == 1, ICMP4_PAIRS[kind], ICMP6_PAIRS[kind])
            p.icmp_type[icmp], p.icmp_code[icmp] = kind, code
            p.one_way[icmp] = counterpart < 0
            p.sport[icmp], p.dport[icmp] = kind, np.where(counterpart < 0, code, counterpart)
        if not keep.all():
            return Packets(*(column[keep] for column in p)), keep
        return p, None

    def _teredo(
        self, chunk: RecordChunk, at: _Bytes, idx: np.ndarray, off: np.ndarray, avail: np.ndarray, size: np.ndarray
    ) -> None:
        """IPv6 in UDP (Teredo, RFC 4380 5.1.1), found on any port as Zeek's protocol detection does:
        optional authentication and origin-indication headers, then an IPv6 header whose payload
        length accounts for the rest of the datagram. Bubbles (no next header, no payload) carry
        nothing and are skipped, as in Zeek's Teredo analyzer."""
        ok = avail >= 40
        idx, off, avail, size = idx[ok], off[ok], avail[ok], size[ok]
        if not idx.size:
            return
        hdr = np.zeros(idx.size, dtype=np.int64)
        auth = at.get_safe(idx, off, 2, avail >= 4) == 1
        if auth.any():  # type, id and auth lengths, id, auth value, 8-byte nonce, confirmation byte
            lengths = at.get_safe(idx, off + 2, 1, auth) + at.get_safe(idx, off + 3, 1, auth)
            hdr = np.where(auth, 4 + lengths + 9, 0)
        origin = at.get_safe(idx, off + hdr, 2, avail >= hdr + 48) == 0  # origin indication: 8 bytes
        hdr = hdr + np.where(origin & (avail >= hdr + 48), 8, 0)
        fits = avail >= hdr + 40
        inner = off + hdr
        first = at.get_safe(idx, inner, 1, fits)
        plen = at.get_safe(idx, inner + 4, 2, fits)
        nxt = at.get_safe(idx, inner + 6, 1, fits)
        good = fits & ((first >> 4) == 6) & (plen + 40 == size - hdr) & ~((nxt == 59) & (plen == 0))
        if good.any():
            self.tunnelled.append((idx[good], inner[good]))

    def _bad(self, chunk: RecordChunk, idx: np.ndarray, mask: np.ndarray, kind: str, detail: str) -> None:
        if mask.any():
            self.reject(chunk.number[idx[mask]], kind, detail)

    def _fragments(
        self,
        p: Packets,
        fragmented: np.ndarray,
        offset: np.ndarray,
        more: np.ndarray,
        ident: np.ndarray,
        payload: np.ndarray,
        hdr: np.ndarray,
    ) -> Packets:
        """Fold fragmented datagrams into one packet each, at the fragment that completes them (Python:
        fragments are rare). A datagram not complete yet waits in ``self.pending`` for later chunks."""
        rows = np.flatnonzero(fragmented)
        keep = np.ones(p.number.size, dtype=bool)
        keep[rows] = False
        replaced = []
        for row in rows.tolist():
            key = (
                int(p.src_hi[row]),
                int(p.src_lo[row]),
                int(p.dst_hi[row]),
                int(p.dst_lo[row]),
                int(p.proto[row]),
                int(ident[row]),
            )
            piece = (
                int(offset[row]),
                Packets(*(column[row : row + 1].copy() for column in p)),
                int(payload[row]),
                int(hdr[row]),
                bool(more[row]),
            )
            pieces = self.pending.setdefault(key, [])
            pieces.append(piece)
            done = _reassembled(pieces)
            if done is not None:
                del self.pending[key]
                keep[row] = True
                replaced.append((row, done))
        for row, done in replaced:
            for name, column in zip(Packets._fields, p, strict=True):
                if name not in ("ts",):  # the datagram arrives when its last piece does
                    column[row] = getattr(done, name)[0]
        return Packets(*(column[keep] for column in p))

    def finish(self) -> Packets:
        """Datagrams never completed: their fragments as packets, port-less but the first (Zeek drops them)."""
        parts = []
        for pieces in self.pending.values():
            for offset, piece, payload, hdr, _ in pieces:
                packet = piece
                if offset:
                    packet = piece._replace(
                        sport=np.full(1, -1, np.int32),
                        dport=np.full(1, -1, np.int32),
                        flags=np.zeros(1, np.uint8),
                        seq=np.zeros(1, np.int64),
                        ack=np.zeros(1, np.int64),
                        paylen=np.array([payload]),
                        icmp_type=np.full(1, -1, np.int16),
                        icmp_code=np.full(1, -1, np.int16),
                        one_way=np.zeros(1, bool),
                    )
                packet.ip_len[:] = hdr + payload
                parts.append(packet)
        self.pending.clear()
        if not parts:
            return _empty(0)
        return concat_packets(parts)


def _reassembled(pieces: list[tuple[int, Packets, int, int, bool]]) -> Packets | None:
    """The whole datagram when ``pieces`` cover it from offset 0 to a last fragment, else None."""
    ordered = sorted(pieces, key=lambda piece: piece[0])
    if ordered[0][0] != 0 or ordered[-1][4]:
        return None
    reach = 0
    for offset, _, payload, _, _ in ordered:
        if offset > reach:
            return None
        reach = max(reach, offset + payload)
    first = ordered[0]
    packet = first[1]
    whole = packet._replace(ip_len=np.array([first[3] + reach]))
    if packet.proto[0] in (6, 17):
        whole = whole._replace(paylen=whole.paylen + (reach - first[2]))
    return whole

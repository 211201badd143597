"""Packets into Zeek-like connections, a batch of packets at a time, with numpy.

Each batch is grouped by 5-tuple in one sort: a 64-bit keyed hash of the canonical tuple (the two
endpoints in Zeek's order, ``addr_port_canon_lt``), with the packet's index in its low 20 bits so one
``np.sort`` both groups packets and keeps each group in capture order. (Two tuples share a hash with
probability ~2^-64 a pair; the key is drawn per run, so this cannot be aimed at.) Sums are
``reduceat`` over the groups; Zeek's TCP semantics come from :mod:`._zeek_tcp`.

Connections still open at the end of a batch stay in the *active table* (one row each, sorted by
hash), whose state the next batch continues; connections are written out as soon as Zeek would have
removed them (inactivity, close and attempt timers, a reused 5-tuple), so memory follows the number of
open connections, not the file.

Orientation follows Zeek: the originator sends the first packet, except that a connection which does
not open with a SYN (TCP) is flipped when its source port is a likely server port and its destination
port is not (``likely_server_ports``, below), and UDP likewise (TCP.cc and UDP.cc ``WantConnection``).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from typing import Any

import numpy as np

from portscope.sources import _zeek_tcp as tcp
from portscope.sources._pcap_layers import MAPPED_V4, Packets
from portscope.sources._tcp_flows import TcpPass

__all__ = ["FlowTable", "addresses", "rstos0"]

SECOND = 1_000_000
OTHER_TIMEOUT = 60 * SECOND  # udp_, icmp_ and unknown_ip_inactivity_timeout (init-bare.zeek)
# Zeek's DNS analyzer (on DNS::ports) removes a UDP session idle for dns_session_timeout, 10 s; its
# check runs on a timer (DNS.cc ExpireTimer, with 1 s of slack) whose phase depends on all traffic:
# taken here as 10 s of silence.
DNS_TIMEOUT = 10 * SECOND
_DNS_PORTS = (53, 137, 5353, 5355)
_LOW = np.uint64((1 << 20) - 1)

# likely_server_ports as Zeek's base scripts build it (each protocol's `redef likely_server_ports +=`):
# FTP, SSH, SMTP, DNS, finger, HTTP, Kerberos, POP3, DCE-RPC, SMB, IMAP, LDAP, SSL/TLS, Modbus, IPP,
# SOCKS, MySQL, MQTT, GridFTP, RDP, XMPP, PostgreSQL, VNC, Redis, IRC, DNP3...
_TCP_PORTS = """21 22 25 53 79 80 81 88 102 110 135 139 143 389 443 445 502 563 585 587 614 631 636 989 990
    992 993 995 1080 1433 1434 1883 2811 3128 3268 3306 3389 5222 5223 5269 5432 5900 5901 5902 5903 5904 5905
    5906 5907 5908 5909 5910 5911 5912 6379 6666 6667 6668 6669 8000 8080 8888 20000"""
LIKELY_TCP = tuple(int(port) for port in _TCP_PORTS.split())
# ... and for UDP: DNS, DHCP, Kerberos, NTP, NetBIOS, SNMP, DTLS/QUIC, syslog, DHCPv6, RADIUS, the
# tunnels (GTP, Teredo, VXLAN, AYIYA, Geneve), RDP, SIP, mDNS, LLMNR, DNP3.
_UDP_PORTS = """53 67 88 123 137 161 162 443 514 547 1812 2123 2152 3389 3544 4789 5060 5072 5353 5355 6081
    20000"""
LIKELY_UDP = tuple(int(port) for port in _UDP_PORTS.split())
_LIKELY = np.zeros((2, 65536), dtype=bool)
_LIKELY[0, list(LIKELY_TCP)] = True
_LIKELY[1, list(LIKELY_UDP)] = True
_ICMP_REQUESTS = {1: (8, 13, 15, 10, 17), 58: (128, 133, 135, 130, 139, 144)}
_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")

# Per-connection columns of the active table (besides the history strings): name:dtype.
_SPEC = """key:u8 proto:u1 version:u1 a_hi:u8 a_lo:u8 b_hi:u8 b_lo:u8 pa:i4 pb:i4 one_way:? start:i8 number:i8
last:i8 pk0:i8 pk1:i8 by0:i8 by1:i8 pay0:i8 pay1:i8 icmp_type:i2 icmp_code:i2 observed:? mask:i8 fin0:i8 fin1:i8
rst0:i8 rst1:i8 tc0:i8 tc1:i8 wc0:i8 wc1:i8 base0:i8 base1:i8 max0:i8 max1:i8 deadline:i8"""
_COLUMNS = {name: np.dtype(kind) for name, kind in (item.split(":") for item in _SPEC.split())}
_COLUMNS.update({name: array.dtype for name, array in zip(tcp.TcpState._fields, tcp.fresh_state(0), strict=True)})


def _empty_columns(n: int) -> dict[str, np.ndarray]:
    columns = {name: np.zeros(n, dtype=dtype) for name, dtype in _COLUMNS.items()}
    for name in ("fin0", "fin1", "rst0", "rst1", "base0", "base1", "seq0", "seq1"):
        columns[name][:] = -1
    for name in ("close_at", "attempt_at"):
        columns[name][:] = tcp.NEVER
    return columns


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit affects every output bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


class FlowTable:
    """Turns batches of :class:`Packets` (in capture order) into finished connections."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = np.uint64(int.from_bytes(os.urandom(8), "little") if seed is None else seed)
        self.active = _empty_columns(0)
        self.history: np.ndarray = np.zeros(0, dtype=object)
        self.now = 0

    def _hash(self, c: dict[str, np.ndarray]) -> np.ndarray:
        h = _mix(c["a_lo"] ^ self.seed)
        for name in ("a_hi", "b_lo", "b_hi"):
            h = _mix(h ^ c[name])
        tail = (c["pa"].astype(np.uint64) << np.uint64(32)) | (c["pb"].astype(np.uint64) << np.uint64(16))
        tail |= (c["proto"].astype(np.uint64) << np.uint64(8)) | (c["version"].astype(np.uint64) << np.uint64(1))
        return _mix(h ^ tail ^ c["one_way"].astype(np.uint64))

    def add(self, p: Packets) -> list[dict[str, Any]]:
        """Take a batch; return the connections that ended, as column dicts (one entry per connection)."""
        n = p.number.size
        if not n:
            return []
        self.now = max(self.now, int(p.ts.max()))
        # Canonical endpoints: side 1 when the packet is sent by the second endpoint (addr_port_canon_lt).
        src_lt = (p.src_hi < p.dst_hi) | (
            (p.src_hi == p.dst_hi) & ((p.src_lo < p.dst_lo) | ((p.src_lo == p.dst_lo) & (p.sport < p.dport)))
        )
        side = (~src_lt & ~p.one_way).astype(np.int8)
        s0 = side == 0
        key = {
            "a_hi": np.where(s0, p.src_hi, p.dst_hi),
            "a_lo": np.where(s0, p.src_lo, p.dst_lo),
            "b_hi": np.where(s0, p.dst_hi, p.src_hi),
            "b_lo": np.where(s0, p.dst_lo, p.src_lo),
            "pa": np.where(s0, p.sport, p.dport),
            "pb": np.where(s0, p.dport, p.sport),
            "proto": p.proto,
            "version": p.version,
            "one_way": p.one_way,
        }
        h = self._hash(key)
        perm, starts = _group(h, p.number)
        first = perm[starts]
        sizes = np.diff(np.append(starts, n))
        gid = np.repeat(np.arange(starts.size), sizes)
        pk = {name: getattr(p, name)[perm] for name in ("ts", "ip_len", "paylen", "flags")}
        pk["side"] = side[perm]

        def at(name: str, positions: np.ndarray) -> np.ndarray:
            """A packet column at some sorted positions (not worth gathering in full)."""
            column: np.ndarray = getattr(p, name)
            picked: np.ndarray = column[perm[positions]]
            return picked

        groups = {name: column[first] for name, column in key.items()}
        groups["key"] = h[first]
        groups["icmp_code"] = p.icmp_code[first]
        groups["dst_broadcast"] = (p.dst_hi[first] == 0) & (p.dst_lo[first] == np.uint64(MAPPED_V4 | 0xFFFFFFFF))

        # Join with the active table (sorted by key).
        act = self.active
        where = np.searchsorted(act["key"], groups["key"])
        found = where < act["key"].size
        found[found] &= act["key"][where[found]] == groups["key"][found]
        row = np.where(found, where, 0)
        prev_ts = np.empty(n, dtype=np.int64)
        prev_ts[1:] = pk["ts"][:-1]
        prev_ts[starts] = act["last"][row] if act["key"].size else -1
        prev_ts[starts[~found]] = -1
        seg_start = np.zeros(n, dtype=bool)
        seg_start[starts] = True
        is_tcp = (groups["proto"] == 6) & (groups["pa"] >= 0)
        # Connection boundaries for everything but TCP: inactivity.
        timeout = _other_timeout(groups["proto"], groups["pa"], groups["pb"])
        gap = ~is_tcp[gid] & (prev_ts >= 0) & (pk["ts"] - prev_ts >= timeout[gid])
        seg_start |= gap
        cont = found & ~gap[starts]  # the group's first connection continues an active one
        machine = None
        if is_tcp.any():
            machine = TcpPass(pk, at, gid, starts, prev_ts, is_tcp, found, row, act, _LIKELY[0])
            seg_start = np.where(is_tcp[gid], machine.seg_start, seg_start)
            cont = np.where(is_tcp, machine.cont, cont)
        return self._segments(pk, at, gid, starts, seg_start, cont, row, found, groups, machine)

    def _segments(
        self,
        pk: dict[str, np.ndarray],
        at: Callable[[str, np.ndarray], np.ndarray],
        gid: np.ndarray,
        starts: np.ndarray,
        seg_start: np.ndarray,
        cont: np.ndarray,
        row: np.ndarray,
        found: np.ndarray,
        groups: dict[str, np.ndarray],
        machine: TcpPass | None,
    ) -> list[dict[str, Any]]:
        """Aggregate each connection of the batch; keep the open ones, return the ended ones."""
        n = gid.size
        first = np.flatnonzero(seg_start)
        nseg = first.size
        seg = np.cumsum(seg_start) - 1
        last = np.append(first[1:], n) - 1
        g = gid[first]
        carried = np.zeros(nseg, dtype=bool)
        carried[seg[starts]] = cont
        arow = row[g]
        act = self.active
        c = _empty_columns(nseg)
        for name in ("key", "proto", "version", "a_hi", "a_lo", "b_hi", "b_lo", "pa", "pb", "one_way"):
            c[name][:] = groups[name][g]
        side0 = pk["side"] == 0
        c["pk0"] = np.add.reduceat(side0.astype(np.int64), first)
        c["pk1"] = np.diff(np.append(first, n)) - c["pk0"]
        c["by0"] = np.add.reduceat(np.where(side0, pk["ip_len"], 0), first)
        c["by1"] = np.add.reduceat(pk["ip_len"], first) - c["by0"]
        c["pay0"] = np.add.reduceat(np.where(side0, pk["paylen"], 0), first)
        c["pay1"] = np.add.reduceat(pk["paylen"], first) - c["pay0"]
        c["start"], c["number"], c["last"] = pk["ts"][first], at("number", first), pk["ts"][last]
        proto = c["proto"]
        icmp = (proto == 1) | (proto == 58)
        sport, dport, flags = at("sport", first), at("dport", first), pk["flags"][first]
        c["icmp_type"] = np.where(icmp, sport, -1).astype(np.int16)
        c["icmp_code"] = np.where(icmp, groups["icmp_code"][g], -1).astype(np.int16)
        first_side = pk["side"][first]
        # The originator sends the first packet; UDP flips to make a likely server port the responder.
        flip = (proto == 17) & _LIKELY[1, sport] & ~_LIKELY[1, dport] & ~groups["dst_broadcast"][g]
        c["orig"] = np.where(flip, 1 - first_side, first_side).astype(np.int8)
        request = np.isin(c["icmp_type"], _ICMP_REQUESTS[1]) & (proto == 1)
        request |= np.isin(c["icmp_type"], _ICMP_REQUESTS[58]) & (proto == 58)
        c["observed"] = np.select(
            [proto == 6, icmp, proto == 132], [(flags & 0x12) == 0x02, request | c["one_way"], flags == 1], False
        )
        if carried.any():  # what this batch adds to connections carried over from the last one
            r = arow[carried]
            for name in ("pk0", "pk1", "by0", "by1", "pay0", "pay1"):
                c[name][carried] += act[name][r]
            for name in (
                "start",
                "number",
                "icmp_type",
                "icmp_code",
                "observed",
                "orig",
                "mask",
                "fin0",
                "fin1",
                "rst0",
                "rst1",
                "tc0",
                "tc1",
                "wc0",
                "wc1",
                "base0",
                "base1",
                "max0",
                "max1",
            ):
                c[name][carried] = act[name][r]
        letters = tcp.HistoryLetters()
        flipped = flip & ~carried
        letters.add(np.flatnonzero(flipped), first[flipped], 0, ord("^"))
        if (proto == 17).any():
            _udp_letters(pk, seg, c, letters)
        if machine is not None:
            machine.finish(c, seg, last, carried, letters)
        history = letters.strings(nseg)
        if carried.any():
            history[carried] = self.history[arow[carried]] + history[carried]
        c["deadline"] = _deadline(c)
        # A connection ends where another follows in its group, or once its deadline has passed.
        followed = np.append(g[1:] == g[:-1], False)
        done = followed | (c["deadline"] <= self.now)
        untouched = np.ones(act["key"].size, dtype=bool)
        untouched[row[found]] = False
        old_done = untouched & (act["deadline"] <= self.now)
        old_keep = untouched & ~old_done
        ended = []
        if old_done.any():
            ended.append(_take(act, self.history, old_done))
        if done.any():
            ended.append(_take(c, history, done))
        keep = ~done
        merged = {name: np.concatenate((act[name][old_keep], c[name][keep])) for name in _COLUMNS}
        order = np.argsort(merged["key"], kind="stable")
        self.active = {name: column[order] for name, column in merged.items()}
        self.history = np.concatenate((self.history[old_keep], history[keep]))[order]
        return ended

    def finish(self) -> list[dict[str, Any]]:
        """Every connection still open: the capture ended."""
        if not self.active["key"].size:
            return []
        ended = [_take(self.active, self.history, np.ones(self.active["key"].size, dtype=bool))]
        self.active = _empty_columns(0)
        self.history = np.zeros(0, dtype=object)
        return ended


def _deadline(c: dict[str, np.ndarray]) -> np.ndarray:
    """When Zeek would remove each connection if no packet came (network time, us)."""
    timeout = np.where(c["established"], tcp.INACTIVITY_TIMEOUT, tcp.HANDSHAKE_TIMEOUT)
    st_orig = np.where(c["orig"] == 0, c["st0"], c["st1"])
    st_resp = np.where(c["orig"] == 0, c["st1"], c["st0"])
    attempt = ((st_orig == tcp.SYN_SENT) | (st_orig == tcp.SYN_ACK_SENT)) & (st_resp == tcp.INACTIVE)
    tcp_deadline = np.minimum(c["last_time"] + timeout, c["close_at"])
    tcp_deadline = np.minimum(tcp_deadline, np.where(attempt, c["attempt_at"], tcp.NEVER))
    other = c["last"] + _other_timeout(c["proto"], c["pa"], c["pb"])
    deadline: np.ndarray = np.where((c["proto"] == 6) & (c["pa"] >= 0), tcp_deadline, other)
    return deadline


def _other_timeout(proto: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    dns = (proto == 17) & (np.isin(pa, _DNS_PORTS) | np.isin(pb, _DNS_PORTS))
    return np.where(dns, DNS_TIMEOUT, OTHER_TIMEOUT)


def _group(h: np.ndarray, number: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A permutation grouping equal hashes, each group in capture order; and where groups start.

    Capture order is packet-number order (a tunnelled packet follows its carrier, which has the same
    number). One ``np.sort`` of the hash with the packet's rank in the batch in its low 20 bits; a
    stable argsort when the batch is larger or two hashes share their upper 44 bits.
    """
    n = h.size
    ordered = n and (number[1:] > number[:-1]).all()
    order = np.arange(n) if ordered else np.argsort(number, kind="stable")
    if n < 1 << 20:
        rank = np.empty(n, dtype=np.uint64)
        rank[order] = np.arange(n, dtype=np.uint64)
        packed = (h & ~_LOW) | rank
        packed.sort()
        perm = order[(packed & _LOW).astype(np.int64)]
        hs = h[perm]
        change = hs[1:] != hs[:-1]
        if (change == ((packed[1:] >> np.uint64(20)) != (packed[:-1] >> np.uint64(20)))).all():
            return perm, np.concatenate(([0], np.flatnonzero(change) + 1)).astype(np.int64)
    perm = order[np.argsort(h[order], kind="stable")]
    hs = h[perm]
    return perm, np.concatenate(([0], np.flatnonzero(hs[1:] != hs[:-1]) + 1)).astype(np.int64)


def _udp_letters(pk: dict[str, np.ndarray], seg: np.ndarray, c: dict[str, np.ndarray], letters: Any) -> None:
    """UDP history: D for the originator's first packet, d for the responder's (UDP.cc)."""
    udp = np.flatnonzero(c["proto"][seg] == 17)
    role = (pk["side"][udp] != c["orig"][seg[udp]]).astype(np.int64)
    big = np.iinfo(np.int64).max
    first_pos = np.full(c["proto"].size * 2, big)
    np.minimum.at(first_pos, seg[udp] * 2 + role, udp)
    for r, letter in ((0, "D"), (1, "d")):
        pos = first_pos[r::2]
        bit = 1 << (3 + 8 * r)  # the D bit of that role
        new = (pos < big) & ((c["mask"] & bit) == 0)
        letters.add(np.flatnonzero(new), pos[new], 1, ord(letter))
        c["mask"][new] |= bit


def _take(c: dict[str, np.ndarray], history: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {name: column[mask] for name, column in c.items()}
    out["history"] = history[mask]
    return out


def addresses(hi: np.ndarray, lo: np.ndarray, version: np.ndarray) -> Any:
    """Text of 128-bit addresses as an Arrow string array, in the flow table's canonical forms: dotted
    quads for IPv4 (joined by Arrow's compute kernels) and for IPv4-mapped IPv6; RFC 5952 text for
    IPv6 (``inet_ntop``, which follows it; Python's ``ipaddress`` for the rare ``::/96`` addresses, where
    ``inet_ntop`` writes the deprecated IPv4-compatible form)."""
    import ipaddress

    import pyarrow as pa
    import pyarrow.compute as pc

    value = (lo & np.uint64(0xFFFFFFFF)).astype(np.int64)
    octets = [pa.array((value >> shift) & 255).cast(pa.string()) for shift in (24, 16, 8, 0)]
    text = pc.binary_join_element_wise(*octets, ".")
    six = (version != 4) & ~((hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF)))
    where = np.flatnonzero(six)
    if not where.size:
        return text
    raw = np.stack((hi[where], lo[where]), axis=1).astype(">u8").tobytes()
    ntop, inet6 = socket.inet_ntop, socket.AF_INET6
    words = [
        ntop(inet6, raw[16 * k : 16 * k + 16]) if h else str(ipaddress.IPv6Address(raw[16 * k : 16 * k + 16]))
        for k, h in enumerate((hi[where] != 0).tolist())
    ]
    return pc.replace_with_mask(text, pa.array(six), pa.array(words, type=pa.string()))


def rstos0(history: str) -> bool:
    return _RSTOS0.fullmatch(history) is not None

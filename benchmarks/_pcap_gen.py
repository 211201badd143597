"""A synthetic capture for the pcap benchmark: complete TCP connections and UDP exchanges, written with numpy.

Every flow has a unique 5-tuple, so what a reader should find is known exactly: :func:`generate` returns
one expected row per flow (orig/resp, packets and IP bytes per direction, Zeek's conn_state and history).

TCP (10% over IPv6): SYN, SYN-ACK, ACK, a request (PSH|ACK), n full-size server segments with a client
ACK after every second one (delayed ACK, RFC 1122 4.2.3.2), then FIN-ACK from the server, FIN-ACK from
the client and the server's last ACK. Zeek logs that as SF with history ShADdFfa... (letters in the order
they first appear: S h A D d, the server's FIN f, the client's F, the server's pure ACK a).
UDP: a query and its answer, twice (DNS-like, ports 53 or 123): SF, history Dd.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import numpy as np

ETH = 14
MSS = 1448  # payload of a 1514-byte frame with the TCP timestamp option (32-byte TCP header)
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
BASE_TS = 1_700_000_000


class Expected(NamedTuple):
    """What a reader must report for the generated flows (parallel arrays, one entry per flow)."""

    proto: np.ndarray  # 6 or 17
    version: np.ndarray  # 4 or 6
    client: np.ndarray  # (n, 2) uint64: IPv6 or IPv4-mapped address as two big-endian halves
    server: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    orig_pkts: np.ndarray
    resp_pkts: np.ndarray
    orig_bytes: np.ndarray
    resp_bytes: np.ndarray


def _put(buf: np.ndarray, offsets: np.ndarray, values: Any, dtype: str) -> None:
    """Write ``values`` at byte ``offsets`` of ``buf`` through an unaligned strided view."""
    size = np.dtype(dtype).itemsize
    view = np.ndarray(shape=(buf.size - size + 1,), dtype=dtype, buffer=buf, strides=(1,))
    view[offsets] = values


def generate(path: str, packets: int = 1_000_000, tcp_flows: int = 40_000, seed: int = 7) -> Expected:
    """Write a little-endian microsecond pcap of exactly ``packets`` packets to ``path``."""
    rng = np.random.default_rng(seed)
    n_data = rng.integers(4, 21, tcp_flows)  # server segments per connection
    tcp_len = 7 + n_data + (n_data + 1) // 2
    while tcp_len.sum() > packets * 0.96:
        tcp_flows -= 250
        n_data, tcp_len = n_data[:tcp_flows], tcp_len[:tcp_flows]
    udp_pkts_total = packets - int(tcp_len.sum())
    udp_flows = udp_pkts_total // 4
    udp_len = np.full(udp_flows, 4, dtype=np.int64)
    udp_len[: udp_pkts_total - 4 * udp_flows] += 1  # a fifth packet (a retried query) for a few
    flows = tcp_flows + udp_flows
    proto = np.concatenate([np.full(tcp_flows, 6), np.full(udp_flows, 17)]).astype(np.uint8)
    count = np.concatenate([tcp_len, udp_len])

    version = np.where(rng.random(flows) < 0.1, 6, 4).astype(np.uint8)
    version[tcp_flows:] = 4
    client = np.zeros((flows, 2), dtype=np.uint64)
    server = np.zeros((flows, 2), dtype=np.uint64)
    v4 = version == 4
    client[v4, 1] = 0xFFFF00000000 | (0x0A000000 + rng.integers(1, 1 << 24, int(v4.sum()), dtype=np.uint64))
    server[v4, 1] = 0xFFFF00000000 | (0xC6336400 + rng.integers(1, 255, int(v4.sum()), dtype=np.uint64))
    n6 = int((~v4).sum())
    client[~v4, 0] = 0xFD00000000000000 | rng.integers(0, 1 << 32, n6, dtype=np.uint64)
    client[~v4, 1] = rng.integers(1, 1 << 62, n6, dtype=np.uint64)
    server[~v4, 0] = np.uint64(0x20010DB800000000)
    server[~v4, 1] = rng.integers(1, 255, n6, dtype=np.uint64)
    sport = rng.integers(32768, 61000, flows).astype(np.uint16)
    dport = np.where(
        proto == 6, rng.choice(np.array([443, 80, 22, 8080, 25]), flows), rng.choice(np.array([53, 123]), flows)
    ).astype(np.uint16)
    # Unique 5-tuples (resample the client port of duplicates).
    while True:
        key = np.stack([client[:, 0], client[:, 1], server[:, 1], sport.astype(np.uint64), proto.astype(np.uint64)], 1)
        _, first = np.unique(key, axis=0, return_index=True)
        dup = np.setdiff1d(np.arange(flows), first)
        if not dup.size:
            break
        sport[dup] = rng.integers(32768, 61000, dup.size).astype(np.uint16)

    # Per packet: flow, index within flow, direction (0 client->server), flags, payload, seq, ack.
    flow = np.repeat(np.arange(flows), count)
    k = np.arange(flow.size) - np.repeat(np.cumsum(count) - count, count)
    is_tcp = proto[flow] == 6
    nd = np.repeat(np.concatenate([n_data, np.zeros(udp_flows, dtype=n_data.dtype)]), count)
    req = np.repeat(rng.integers(200, 1400, flows), count)
    last = np.repeat(rng.integers(600, MSS + 1, flows), count)
    phase = nd + (nd + 1) // 2  # data segments and their ACKs
    q = k - 4
    g, r = q // 3, q % 3
    in_phase = is_tcp & (q >= 0) & (q < phase)
    odd_tail = (nd % 2 == 1) & (g == nd // 2)
    is_data = in_phase & np.where(odd_tail, r == 0, r < 2)
    data_no = np.where(is_data, 2 * g + r, 0)  # 0-based index of a server segment
    seg = np.where(data_no == nd - 1, last, MSS)
    tear = k - 4 - phase  # 0: server FIN, 1: client FIN, 2: server ACK
    direction = np.zeros(flow.size, dtype=np.uint8)
    direction[is_tcp & ((k == 1) | is_data | (tear == 0) | (tear == 2))] = 1
    direction[~is_tcp & (k % 2 == 1)] = 1
    flags = np.full(flow.size, ACK, dtype=np.uint8)
    flags[is_tcp & (k == 0)] = SYN
    flags[is_tcp & (k == 1)] = SYN | ACK
    flags[is_tcp & ((k == 3) | is_data)] = PSH | ACK
    flags[is_tcp & ((tear == 0) | (tear == 1))] = FIN | ACK
    payload = np.zeros(flow.size, dtype=np.int64)
    payload[is_tcp & (k == 3)] = req[is_tcp & (k == 3)]
    payload[is_data] = seg[is_data]
    udp_payload = np.repeat(rng.integers(30, 400, flows), count)
    payload[~is_tcp] = udp_payload[~is_tcp] + (k[~is_tcp] % 2) * 60
    isn_c = np.repeat(rng.integers(0, 1 << 32, flows, dtype=np.int64), count)
    isn_s = np.repeat(rng.integers(0, 1 << 32, flows, dtype=np.int64), count)
    total = (nd - 1) * MSS + last  # server payload bytes

    def sent(segments: np.ndarray) -> np.ndarray:
        """Server payload bytes in its first ``segments`` segments."""
        return np.where(segments >= nd, total, segments * MSS)

    acked_segments = np.where(in_phase & ~is_data, np.minimum(2 * g + 2, nd), 0)
    client_seq = np.where(k == 0, isn_c, isn_c + 1 + np.where(k > 3, req, 0))
    client_ack = isn_s + 1 + np.where(tear == 1, total + 1, sent(acked_segments))
    server_seq = np.where(k == 1, isn_s, isn_s + 1 + np.where(tear >= 0, total + (tear == 2), sent(data_no)))
    server_ack = isn_c + 1 + np.where(k > 1, req, 0) + (tear == 2)
    seq = np.where(direction == 0, client_seq, server_seq) & 0xFFFFFFFF
    ack = np.where(direction == 0, client_ack, server_ack) & 0xFFFFFFFF
    ack[flags == SYN] = 0

    # Times: flows start over ten minutes; packets of a flow 0.2-3 ms apart.
    start = np.repeat(rng.random(flows) * 600.0, count)
    gap = np.repeat(rng.uniform(0.0002, 0.003, flows), count)
    ts = start + k * gap
    order = np.argsort(ts, kind="stable")

    v = version[flow]
    l3 = np.where(v == 4, 20, 40)
    l4 = np.where(is_tcp, np.where(flags == SYN, 40, np.where(flags == SYN | ACK, 40, 32)), 8)
    ip_len = (l3 + l4 + payload).astype(np.int64)
    caplen = ETH + ip_len
    expected_bytes = np.bincount(flow * 2 + direction, weights=ip_len, minlength=2 * flows).reshape(flows, 2)
    expected_pkts = np.bincount(flow * 2 + direction, minlength=2 * flows).reshape(flows, 2)

    # Lay out the file in time order.
    flow, direction, flags, payload, seq, ack, ts = (
        flow[order],
        direction[order],
        flags[order],
        payload[order],
        seq[order],
        ack[order],
        ts[order],
    )
    v, l3, l4, ip_len, caplen, is_tcp = v[order], l3[order], l4[order], ip_len[order], caplen[order], is_tcp[order]
    rec = 16 + caplen
    off = 24 + np.concatenate([[0], np.cumsum(rec)[:-1]])
    buf = np.zeros(24 + int(rec.sum()), dtype=np.uint8)
    buf[:24] = np.frombuffer(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1), np.uint8)
    usec = np.round(ts * 1e6).astype(np.int64)
    _put(buf, off, BASE_TS + usec // 1_000_000, "<u4")
    _put(buf, off + 4, usec % 1_000_000, "<u4")
    _put(buf, off + 8, caplen, "<u4")
    _put(buf, off + 12, caplen, "<u4")
    eth = off + 16
    _put(buf, eth, 0x02000000, ">u4")
    _put(buf, eth + 6, 0x02000001, ">u4")
    _put(buf, eth + 12, np.where(v == 4, 0x0800, 0x86DD), ">u2")
    ip = eth + ETH
    src = np.where(direction[:, None] == 0, client[flow], server[flow])
    dst = np.where(direction[:, None] == 0, server[flow], client[flow])
    p = proto[flow]
    is4 = v == 4
    i4, i6 = ip[is4], ip[~is4]
    _put(buf, i4, 0x45, "u1")
    _put(buf, i4 + 2, ip_len[is4], ">u2")
    _put(buf, i4 + 4, np.arange(i4.size) & 0xFFFF, ">u2")
    _put(buf, i4 + 6, 0x4000, ">u2")
    _put(buf, i4 + 8, 64, "u1")
    _put(buf, i4 + 9, p[is4], "u1")
    _put(buf, i4 + 12, (src[is4, 1] & 0xFFFFFFFF).astype(np.uint32), ">u4")
    _put(buf, i4 + 16, (dst[is4, 1] & 0xFFFFFFFF).astype(np.uint32), ">u4")
    _put(buf, i6, 0x60000000, ">u4")
    _put(buf, i6 + 4, ip_len[~is4] - 40, ">u2")
    _put(buf, i6 + 6, p[~is4], "u1")
    _put(buf, i6 + 7, 64, "u1")
    _put(buf, i6 + 8, src[~is4, 0], ">u8")
    _put(buf, i6 + 16, src[~is4, 1], ">u8")
    _put(buf, i6 + 24, dst[~is4, 0], ">u8")
    _put(buf, i6 + 32, dst[~is4, 1], ">u8")
    t4 = ip + l3
    sp = np.where(direction == 0, sport[flow], dport[flow])
    dp = np.where(direction == 0, dport[flow], sport[flow])
    _put(buf, t4, sp, ">u2")
    _put(buf, t4 + 2, dp, ">u2")
    tt, ut = t4[is_tcp], t4[~is_tcp]
    _put(buf, tt + 4, seq[is_tcp].astype(np.uint32), ">u4")
    _put(buf, tt + 8, ack[is_tcp].astype(np.uint32), ">u4")
    _put(buf, tt + 12, (l4[is_tcp] // 4) << 4, "u1")
    _put(buf, tt + 13, flags[is_tcp], "u1")
    _put(buf, tt + 14, 0xFFFF, ">u2")
    ts_opt = tt[l4[is_tcp] == 32] + 20  # NOP NOP TS
    _put(buf, ts_opt, 0x0101080A, ">u4")
    syn_opt = tt[l4[is_tcp] == 40] + 20  # MSS SACK-permitted TS NOP WS
    _put(buf, syn_opt, 0x020405B4, ">u4")
    _put(buf, syn_opt + 4, 0x0402080A, ">u4")
    _put(buf, syn_opt + 16, 0x01030307, ">u4")
    _put(buf, ut + 4, 8 + payload[~is_tcp], ">u2")
    buf.tofile(path)
    return Expected(
        proto,
        version,
        client,
        server,
        sport,
        dport,
        expected_pkts[:, 0],
        expected_pkts[:, 1],
        expected_bytes[:, 0].astype(np.int64),
        expected_bytes[:, 1].astype(np.int64),
    )

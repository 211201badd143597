"""pcapng (draft-ietf-opsawg-pcapng): sections with their own byte order (SHB), interfaces with their
link type, ``if_tsresol`` and ``if_tsoffset`` (IDB), packets in Enhanced, Simple and the obsolete
Packet Blocks; other blocks are skipped. Blocks are walked like pcap records (see
:mod:`._pcap_records`), their trailing length checked against the leading one; when the two differ,
the one that leads to another block is believed (:meth:`Pcapng._recover`).
"""

from __future__ import annotations

import struct
from collections.abc import Generator
from typing import Any, NamedTuple

import numpy as np

from portscope.sources._pcap_records import (
    AGAIN,
    BLOCK_MAX,
    HEAD,
    MAX_CAPLEN,
    NEED,
    RecordChunk,
    Reject,
    lockstep_walk,
    u32_view,
    windows,
)

__all__ = ["Pcapng"]


class _Interface(NamedTuple):
    link: int
    snaplen: int
    units: int  # timestamp units per second (if_tsresol); negative: a power of two, -exponent
    offset_us: int  # if_tsoffset, in microseconds


class Pcapng:
    """pcapng: blocks of type, total length, body, total length; packets in EPB/SPB/PB blocks."""

    def __init__(self, reject: Reject) -> None:
        self.reject = reject
        self.number = 0
        self.order = "<"
        self.interfaces: list[_Interface] = []
        self.last_ts = 0
        self.broken = False
        self.recovering: tuple[int, int] | None = None  # (file offset, length) of a bad block being skipped
        self.data: Any = b""
        self.base = 0

    def start(self, data: Any, filled: int) -> int:
        return 0

    def walk_all(self, buf: np.ndarray, pos: int, end: int) -> Generator[RecordChunk, None, int]:
        """The packet blocks of ``buf[pos:end]`` in chunks; returns where the first incomplete block starts."""
        while True:
            chunk, pos, status = self._walk(buf, pos, end)
            if chunk is not None:
                yield chunk
            if status != AGAIN or self.broken:
                return pos

    def truncated(self, missing: int) -> None:
        if self.recovering is not None:  # the file ended while looking for the block after a bad one
            at, length = self.recovering
            self.reject(self.number + 1, "corrupt block", f"at byte {at}: block length {length}; no block after it")
            return
        self.reject(self.number + 1, "truncated record", f"the file ends {missing} bytes into a block")

    def _walk(self, buf: np.ndarray, pos: int, end: int) -> tuple[RecordChunk | None, int, int]:
        """The packet blocks from ``pos``, where the walk stopped, and why."""
        if end - pos > 1 << 20 and self.interfaces:
            found = self._lockstep(buf, pos, end)
            if found is not None:
                blocks, tail = found
                u32 = u32_view(buf, self.order)
                types = u32[blocks]
                length = u32[blocks + 4].astype(np.int64)
                packet = (types == 6) | (types == 3) | (types == 2)
                if packet.all() and (u32[blocks + length - 4] == length).all():
                    return self._packets(buf, blocks, types.astype(np.int64)), tail, NEED
        return self._sequential(buf, pos, end)

    def _lockstep(self, buf: np.ndarray, pos: int, end: int) -> tuple[np.ndarray, int] | None:
        """Probe points: an Enhanced Packet Block's type found with ``find``, 4-byte aligned with the
        walk's start, whose trailing length repeats its leading one, and so does the next block's
        (all checked at once with numpy); the walk then goes in lockstep from them."""
        data = self.data
        pattern = struct.pack(self.order + "I", 6)
        count = min(8192, int(2 * ((end - pos) / 800) ** 0.5))
        step = max(1, (end - pos) // (count + 1))
        points = list(range(pos + step, end - 32, step))[:count]
        u32 = u32_view(buf, self.order)
        found = np.zeros(0, dtype=np.int64)
        for _ in range(4):
            if not points:
                break
            find = data.find
            hits = np.array([find(pattern, point, end) for point in points], dtype=np.int64)
            at = np.where(hits >= 0, hits, pos)
            ok = (hits > pos) & ((at - pos) % 4 == 0) & (at + 12 <= end)
            length = np.where(ok, u32[np.where(ok, at + 4, 0)], 0).astype(np.int64)
            ok &= (length >= 32) & (length % 4 == 0) & (length <= BLOCK_MAX) & (at + length + 12 <= end)
            ok &= u32[np.where(ok, at + length - 4, 0)] == length
            nxt = np.where(ok, at + length, 0)
            after = u32[nxt + 4].astype(np.int64)
            ok &= (
                (after >= 12)
                & (after % 4 == 0)
                & ((nxt + after > end) | (u32[np.minimum(nxt + after - 4, end)] == after))
            )
            found = np.concatenate((found, at[ok]))
            points = (hits[~ok & (hits >= 0)] + 1).tolist()
        starts = np.concatenate(([pos], np.unique(found)))
        return lockstep_walk(buf, starts, end, self.order, 4, 0, BLOCK_MAX)

    def _plausible(self, at: int, end: int) -> bool:
        """A block at ``at`` whose trailing length repeats its leading one (twice in a row)."""
        data = self.data
        for _ in range(2):
            if at + 8 > end:
                return True
            length = struct.unpack_from(self.order + "I", data, at + 4)[0]
            if length < 12 or length % 4 or length > BLOCK_MAX:
                return False
            if at + length > end:
                return True
            if struct.unpack_from(self.order + "I", data, at + length - 4)[0] != length:
                return False
            at += length
        return True

    def _sequential(self, buf: np.ndarray, pos: int, end: int) -> tuple[RecordChunk | None, int, int]:
        data = self.data
        packets: list[int] = []
        types: list[int] = []
        status = NEED
        while pos + 12 <= end:
            kind = struct.unpack_from(self.order + "I", data, pos)[0]
            if kind == 0x0A0D0D0A:  # a section header: its byte order applies from here on
                if packets:  # the packets before it were read with the old byte order and interfaces
                    status = AGAIN
                    break
                magic = struct.unpack_from("<I", data, pos + 8)[0]
                if magic not in (0x1A2B3C4D, 0x4D3C2B1A):
                    self._broken(pos, "bad byte-order magic in a section header")
                    break
                self.order = "<" if magic == 0x1A2B3C4D else ">"
                self.interfaces = []
            length = struct.unpack_from(self.order + "I", data, pos + 4)[0]
            bad = length < 12 or length % 4 or length > BLOCK_MAX
            if not bad and pos + length <= end:
                bad = struct.unpack_from(self.order + "I", data, pos + length - 4)[0] != length
            if bad:
                if packets:  # what came before is read first: the bad block gets the next number
                    status = AGAIN
                    break
                after = self._recover(pos, length, end)
                if after == NEED:
                    break
                if after < 0:
                    self._broken(pos, f"block length {length}")
                    break
                pos = after
                continue
            if pos + length > end:
                break
            if kind in (6, 3, 2):
                packets.append(pos)
                types.append(kind)
            elif kind == 1:
                self._interface(pos, length)
            pos += length
        chunk = None
        if packets:
            chunk = self._packets(buf, np.array(packets, dtype=np.int64), np.array(types, dtype=np.int64))
        return chunk, pos, status

    def _recover(self, pos: int, length: int, end: int) -> int:
        """Where the block after a bad one at ``pos`` starts (the bad one reported), NEED for more
        data, or -1 when it cannot be found.

        A block's length is written at both ends, so one bad copy need not lose the rest of the
        file: the next block starts where the leading length says if a plausible block is there,
        or else at the first 4-byte step where the trailing length matches the distance walked
        (the leading length was the bad copy). Plausible: two blocks in a row whose lengths agree.
        """
        data = self.data
        candidates = []
        if 12 <= length <= BLOCK_MAX and length % 4 == 0:
            candidates.append(pos + length)
        limit = min(end, pos + BLOCK_MAX)
        u32 = u32_view(np.frombuffer(data, np.uint8), self.order)
        steps = np.arange(pos + 12, limit - 7, 4, dtype=np.int64)
        if steps.size:
            candidates.extend(steps[u32[steps - 4] == steps - pos].tolist())
        for after in candidates:
            if after + 8 <= end and _known_block(struct.unpack_from(self.order + "I", data, after)[0]):
                if not self._plausible(after, end):
                    continue
                self.recovering = None
                kind = struct.unpack_from(self.order + "I", data, pos)[0]
                self.reject(
                    self.number + 1 if kind in (6, 3, 2) else None,
                    "corrupt block",
                    f"at byte {self.base + pos}: block length {length}; reading goes on at byte {self.base + after}",
                )
                if kind in (6, 3, 2):
                    self.number += 1
                return after
        if end - pos < BLOCK_MAX:  # the next block may be in data not read yet
            self.recovering = (self.base + pos, length)
            return NEED
        return -1

    def _broken(self, pos: int, detail: str) -> None:
        """Neither copy of a block's length leads to another block: the rest of the file is lost."""
        self.reject(self.number + 1, "corrupt block", f"at byte {self.base + pos}: {detail}")
        self.broken = True

    def _interface(self, pos: int, length: int) -> None:
        data = self.data
        link, _, snaplen = struct.unpack_from(self.order + "HHI", data, pos + 8)
        units, offset = 1_000_000, 0
        at, stop = pos + 16, pos + length - 4
        while at + 4 <= stop:
            code, size = struct.unpack_from(self.order + "HH", data, at)
            if code == 0:
                break
            if code == 9 and size >= 1:  # if_tsresol: 10^-n, or 2^-n with the top bit set
                value = data[at + 4]
                units = -(value & 0x7F) if value & 0x80 else 10 ** min(value, 18)
            elif code == 14 and size >= 8:  # if_tsoffset, seconds
                offset = struct.unpack_from(self.order + "q", data, at + 4)[0] * 1_000_000
            at += 4 + (size + 3) // 4 * 4
        self.interfaces.append(_Interface(link, snaplen, units, offset))

    def _packets(self, buf: np.ndarray, blocks: np.ndarray, types: np.ndarray) -> RecordChunk:
        rows = np.ascontiguousarray(windows(buf, blocks, 28))
        words = rows.view(self.order + "u4").astype(np.int64)  # type, length, then the block's body
        length = words[:, 1]
        simple = types == 3
        iface = np.where(types == 6, words[:, 2], 0)
        if (types == 2).any():  # the obsolete Packet Block: a 16-bit interface id
            iface = np.where(types == 2, rows[:, 8:10].copy().view(self.order + "u2")[:, 0], iface)
        numbers = np.arange(self.number + 1, self.number + 1 + blocks.size, dtype=np.int64)
        self.number += blocks.size
        table = self.interfaces
        known = iface < len(table)
        which = np.minimum(iface, len(table))
        links = np.array([i.link for i in table] + [-1], dtype=np.int64)[which]
        snap = np.array([i.snaplen or MAX_CAPLEN for i in table] + [0], dtype=np.int64)[which]
        wire = np.where(simple, words[:, 2], words[:, 6])
        cap = np.where(simple, np.minimum(np.minimum(wire, snap), length - 16), words[:, 5])
        start = blocks + np.where(simple, 12, 28)
        bad = (cap < 0) | (start + cap > blocks + length - 4)
        ticks = (words[:, 3].astype(np.uint64) << np.uint64(32)) | words[:, 4].astype(np.uint64)
        ts = np.zeros(blocks.size, dtype=np.int64)
        for index, interface in enumerate(table):
            mine = (iface == index) & ~simple
            if mine.any():
                ts[mine] = _to_microseconds(ticks[mine], interface.units) + interface.offset_us
        # A Simple Packet Block has no timestamp: it gets the previous packet's.
        timed = np.where(simple | ~known, -1, np.arange(blocks.size))
        timed = np.maximum.accumulate(timed) if timed.size else timed
        ts = np.where(timed >= 0, ts[np.maximum(timed, 0)], self.last_ts)
        if ts.size:
            self.last_ts = int(ts[-1])
        for number, bad_iface in zip(numbers[~known].tolist(), iface[~known].tolist(), strict=True):
            self.reject(number, "unknown interface", f"interface {bad_iface} was not described (no IDB before it)")
        for number in numbers[bad & known].tolist():
            self.reject(number, "corrupt block", "captured length runs past the end of its block")
        late = known & ~bad & ((ts < 0) | (ts > LAST_MICROSECOND))
        for number in numbers[late].tolist():
            self.reject(number, "bad timestamp", "before 1970 or after 9999 (a corrupt if_tsresol or timestamp)")
        keep = known & ~bad & ~late
        if not keep.all():
            start, cap, wire, ts, links, numbers = (a[keep] for a in (start, cap, wire, ts, links, numbers))
        return RecordChunk(windows(buf, start, HEAD), 0, cap, wire, ts, links, numbers, buf, start)


def _known_block(kind: int) -> bool:
    """A block type the pcapng draft lists (section, interface, packets, names, statistics, journal,
    secrets, custom...): a resynchronisation point must start with one."""
    return kind < 0x100 or kind in (0x0A0D0D0A, 0x00000BAD, 0x40000BAD) or 0x80000000 <= kind < 0x80000100


LAST_MICROSECOND = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z, the last time Arrow and Python share


def _to_microseconds(ticks: np.ndarray, units: int) -> np.ndarray:
    """Timestamps counted in 1/units s (or 2^-(-units) s when negative) as int64 microseconds."""
    if units < 0:
        shift = np.uint64(-units)
        whole = (ticks >> shift).astype(np.int64) * 1_000_000
        fraction = ticks & ((np.uint64(1) << shift) - np.uint64(1))
        binary: np.ndarray = whole + ((fraction.astype(np.float64) * 1e6) / float(1 << -units)).astype(np.int64)
        return binary
    if units >= 1_000_000:
        finer: np.ndarray = (ticks // np.uint64(units // 1_000_000)).astype(np.int64)
        return finer
    return ticks.astype(np.int64) * (1_000_000 // units)

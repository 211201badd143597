"""The TCP part of a batch: which packets are state-machine events, where connections split, and the
per-packet history letters, all vectorised (see :mod:`._zeek_tcp` for the Zeek semantics).

Events are a flow's SYN, FIN and RST packets and its first packet from each side. After the machine
has run, every other packet is checked against the state it meets (that of the last event before it,
found by a forward fill over the batch): if its endpoint is still INACTIVE, or a timer of the
connection has run out by its time, it should have been an event too; it becomes one and the machine
runs again for those flows (rare: mid-stream splits, ACKs before a SYN-ACK).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from portscope.sources import _zeek_tcp as tcp

__all__ = ["TcpPass"]

_BIG = np.iinfo(np.int64).max
_FIELDS = tcp.TcpState._fields
_CODES = "SHADFRIQ"  # update_history's letters; the responder's are lower case
# State summary bits, per event: which side is INACTIVE, RESET, CLOSED; the originator; both closed.
_IN0, _IN1, _RS0, _RS1, _CL0, _CL1, _ORIG, _BOTH = (1 << k for k in range(8))


def _letter_table() -> tuple[np.ndarray, np.ndarray]:
    """update_history's letter (index into _CODES, -1 none) for each flags byte, with or without payload
    (bit 8); and whether exactly one of SYN, FIN, RST is set."""
    flags = np.arange(512) & 0xFF
    syn, fin, rst, ack = (flags & 2) > 0, (flags & 1) > 0, (flags & 4) > 0, (flags & 16) > 0
    data = np.arange(512) >= 256
    count = syn.astype(np.int64) + fin + rst
    letter = np.select(
        [(count > 1) & fin & rst, count > 1, syn & ack, syn, fin, rst, data, ack], [6, 7, 1, 0, 4, 5, 3, 2], -1
    )
    return letter, (count == 1)[:256]


_LETTER, _ONE_FLAG = _letter_table()


def _run_starts(x: np.ndarray) -> np.ndarray:
    """True where a run of equal values begins."""
    starts = np.ones(x.size, dtype=bool)
    starts[1:] = x[1:] != x[:-1]
    return starts


def _wrap32(x: np.ndarray) -> np.ndarray:
    """A 32-bit sequence-number difference as a signed value (Zeek's ``seq_delta``)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _summary(
    st0: np.ndarray, st1: np.ndarray, orig: np.ndarray, closed0: np.ndarray, closed1: np.ndarray
) -> np.ndarray:
    bits = np.where(st0 == tcp.INACTIVE, _IN0, 0) | np.where(st1 == tcp.INACTIVE, _IN1, 0)
    bits |= np.where(st0 == tcp.RESET, _RS0, 0) | np.where(st1 == tcp.RESET, _RS1, 0)
    bits |= np.where(st0 == tcp.CLOSED, _CL0, 0) | np.where(st1 == tcp.CLOSED, _CL1, 0)
    return bits | np.where(orig == 1, _ORIG, 0) | np.where(closed0 & closed1, _BOTH, 0)


def _deadline(
    st0: np.ndarray, st1: np.ndarray, orig: np.ndarray, close_at: np.ndarray, attempt_at: np.ndarray
) -> np.ndarray:
    """The earliest of the close and attempt timers (the attempt timer only while nobody answered)."""
    st_orig, st_resp = np.where(orig == 0, st0, st1), np.where(orig == 0, st1, st0)
    attempt = ((st_orig == tcp.SYN_SENT) | (st_orig == tcp.SYN_ACK_SENT)) & (st_resp == tcp.INACTIVE)
    earliest: np.ndarray = np.minimum(close_at, np.where(attempt, attempt_at, tcp.NEVER))
    return earliest


class TcpPass:
    """Runs the TCP machine over the TCP groups of one sorted batch."""

    def __init__(
        self,
        pk: dict[str, np.ndarray],
        at: Callable[[str, np.ndarray], np.ndarray],
        gid: np.ndarray,
        starts: np.ndarray,
        prev_ts: np.ndarray,
        is_tcp: np.ndarray,
        carried: np.ndarray,
        row: np.ndarray,
        act: dict[str, np.ndarray],
        likely: np.ndarray,
    ) -> None:
        self.pk, self.at, self.gid, self.prev_ts, self.starts = pk, at, gid, prev_ts, starts
        n = gid.size
        groups = np.flatnonzero(is_tcp)
        self.tix = np.full(starts.size, -1, dtype=np.int64)
        self.tix[groups] = np.arange(groups.size)
        self.init = tcp.fresh_state(groups.size)
        self.carried = carried[groups]
        if self.carried.any():
            rows = row[groups][self.carried]
            for name, column in zip(_FIELDS, self.init, strict=True):
                column[self.carried] = act[name][rows]
        i = self.init
        self.init_bits = _summary(i.st0, i.st1, i.orig, i.closed0, i.closed1)
        self.tp = np.flatnonzero(is_tcp[gid])
        flags, side = pk["flags"], pk["side"]
        event = np.zeros(n, dtype=bool)
        event[self.tp] = (flags[self.tp] & 0x07) != 0
        event[starts[groups]] = True
        for k in (0, 1):  # the first packet from each side of each group
            mine = self.tp[side[self.tp] == k]
            g = gid[mine]
            event[mine[_run_starts(g)]] = True
        self.likely = likely
        self.result: dict[str, np.ndarray] = {}
        self.bits = np.zeros(n, dtype=np.int64)
        self.deadline = np.zeros(n, dtype=np.int64)
        self.timeout = np.zeros(n, dtype=np.int64)
        affected = groups
        for _ in range(64):
            self._run(event, affected)
            self._index(event)
            late = self._violations(event)
            if not late.size:
                break
            event[late] = True
            affected = np.unique(gid[late])
        self.event = event
        self.seg_start = np.zeros(n, dtype=bool)
        self.seg_start[starts[groups]] = True
        self.seg_start |= event & self.result["new_conn"]
        cont = np.zeros(starts.size, dtype=bool)
        cont[groups] = self.carried & ~self.result["new_conn"][starts[groups]]
        self.cont = cont

    def _run(self, event: np.ndarray, affected: np.ndarray) -> None:
        """(Re)run the machine for the groups ``affected`` from their initial state."""
        pk, gid = self.pk, self.gid
        chosen = np.zeros(self.tix.size, dtype=bool)
        chosen[affected] = True
        e = np.flatnonzero(event & chosen[gid])
        g = gid[e]
        group_first = np.flatnonzero(_run_starts(g))
        rank = np.arange(e.size) - np.repeat(group_first, np.diff(np.append(group_first, e.size)))
        state = tcp.TcpState(*(column.copy() for column in self.init))
        flags, sport, dport = pk["flags"][e], self.at("sport", e), self.at("dport", e)
        # WantConnection (TCP.cc): a connection not opened by a bare SYN is flipped when its source port
        # is a likely server port and the destination's is not (both: unless SYN-ACK, the lower one).
        likely = self.likely
        flip_new = ((flags & 0x12) != 0x02) & likely[sport]
        flip_new &= ~likely[dport] | (((flags & 0x02) == 0) & (sport < dport))
        events = tcp.Events(
            self.tix[g],
            rank,
            pk["ts"][e],
            self.prev_ts[e],
            pk["side"][e],
            flags,
            self.at("seq", e),
            self.at("ack", e),
            pk["paylen"][e],
            flip_new,
        )
        out = tcp.run_machine(events, state)
        if not self.result:
            n = gid.size
            self.result = {name: np.zeros(n, dtype=column.dtype) for name, column in zip(out._fields, out, strict=True)}
            self.state = state
        for name, column in zip(out._fields, out, strict=True):
            self.result[name][e] = column
        self.bits[e] = _summary(out.st0, out.st1, out.orig_after, out.closed0, out.closed1)
        self.deadline[e] = _deadline(out.st0, out.st1, out.orig_after, out.close_at, out.attempt_at)
        self.timeout[e] = np.where(out.established, tcp.INACTIVITY_TIMEOUT, tcp.HANDSHAKE_TIMEOUT)
        touched = self.tix[affected]
        for mine, theirs in zip(self.state, state, strict=True):
            mine[touched] = theirs[touched]

    def _index(self, event: np.ndarray) -> None:
        """For every packet: where its connection began, and its last event before it (-1: none there)."""
        n = event.size
        pos = np.arange(n)
        opened = event & self.result["new_conn"]
        opened[self.starts] = True
        self.seg_first = np.maximum.accumulate(np.where(opened, pos, 0))
        upto = np.maximum.accumulate(np.where(event, pos, -1))
        before = np.empty(n, dtype=np.int64)
        before[0] = -1
        before[1:] = upto[:-1]
        self.upto = np.where(upto >= self.seg_first, upto, -1)
        self.before = np.where(before >= self.seg_first, before, -1)

    def _violations(self, event: np.ndarray) -> np.ndarray:
        """Non-event packets that meet an INACTIVE endpoint or an expired timer (each has an event
        before it in its connection: a connection starts with one)."""
        q: np.ndarray = self.tp[~event[self.tp]]
        if not q.size:
            return q
        b = self.before[q]
        bits = self.bits[b]
        side = self.pk["side"][q]
        inactive = np.where(side == 0, bits & _IN0, bits & _IN1) != 0
        ts = self.pk["ts"][q]
        late = inactive | (ts >= self.deadline[b]) | (ts - self.prev_ts[q] >= self.timeout[b])
        late_packets: np.ndarray = q[late]
        return late_packets

    def finish(
        self,
        c: dict[str, np.ndarray],
        seg: np.ndarray,
        last: np.ndarray,
        carried: np.ndarray,
        letters: tcp.HistoryLetters,
    ) -> None:
        """Fill the TCP columns of the connections ``c`` (one per segment) and their history letters."""
        tseg = np.flatnonzero((c["proto"] == 6) & (c["pa"] >= 0))
        if not tseg.size:
            return
        r = self.result
        # Final state: after each connection's last event, else the carried one.
        q = last[tseg]
        j = self.upto[q]
        has = j >= 0
        jj = np.maximum(j, 0)
        flow = self.tix[self.gid[q]]
        init = dict(zip(_FIELDS, self.init, strict=True))
        for name, src in (
            ("st0", "st0"),
            ("st1", "st1"),
            ("orig", "orig_after"),
            ("close_at", "close_at"),
            ("attempt_at", "attempt_at"),
            ("established", "established"),
            ("last_time", "last_time"),
            ("closed0", "closed0"),
            ("closed1", "closed1"),
        ):
            c[name][tseg] = np.where(has, r[src][jj], init[name][flow])
        for name in ("prev0", "prev1", "seq0", "seq1"):  # what the carried connection needs next batch
            c[name][tseg] = getattr(self.state, name)[flow]
        both = c["closed0"][tseg] & c["closed1"][tseg]
        c["last"][tseg] = np.where(both, c["last_time"][tseg], self.pk["ts"][q])
        c["last_time"][tseg] = c["last"][tseg]
        self._letters(c, seg, carried, letters)

    def _letters(
        self, c: dict[str, np.ndarray], seg: np.ndarray, carried: np.ndarray, letters: tcp.HistoryLetters
    ) -> None:
        pk, r = self.pk, self.result
        q = self.tp
        flags, side, paylen = pk["flags"][q], pk["side"][q].astype(np.int64), pk["paylen"][q]
        s = seg[q]
        # The state each packet meets: its last event before it, the carried state, or a fresh one.
        b = self.before[q]
        bits = self.bits[np.maximum(b, 0)]
        none = b < 0
        if none.any():
            flow = self.tix[self.gid[q[none]]]
            fresh = self.event[q[none]] & r["new_conn"][q[none]]
            bits[none] = np.where(fresh, _IN0 | _IN1, self.init_bits[flow])
        is_event = self.event[q]
        orig = np.where(is_event, r["orig_before"][q], (bits & _ORIG) != 0)
        role = (side != orig).astype(np.int64)
        own_reset = np.where(side == 0, bits & _RS0, bits & _RS1) != 0
        peer_closed = np.where(side == 0, bits & _CL1, bits & _CL0) != 0
        syn, fin, rst = (flags & 2) > 0, (flags & 1) > 0, (flags & 4) > 0
        code = _LETTER[flags.astype(np.int64) | np.where(paylen > 0, 256, 0)]
        only = _ONE_FLAG[flags]
        # Flips: at a connection's opening (before its first letter), and by a SYN/SYN-ACK reversal.
        opened = is_event & r["new_conn"][q] & r["created_flip"][q]
        letters.add(s[opened], q[opened], 0, ord("^"))
        flipped = is_event & r["flip_after"][q]
        letters.add(s[flipped], q[flipped], 4, ord("^"))
        # Letters recorded once per role: the first packet of each (connection, role, letter).
        has = code >= 0
        first_pos = np.full(c["proto"].size * 16, _BIG, dtype=np.int64)
        np.minimum.at(first_pos, s[has] * 16 + code[has] + 8 * role[has], q[has])
        firsts = first_pos.reshape(-1, 16)
        for k in range(16):
            pos = firsts[:, k]
            fresh_letter = (pos < _BIG) & ((c["mask"] & (1 << k)) == 0)
            if fresh_letter.any():
                char = ord(_CODES[k] if k < 8 else _CODES[k - 8].lower())
                letters.add(np.flatnonzero(fresh_letter), pos[fresh_letter], 1, char)
                c["mask"][fresh_letter] |= 1 << k
        seq = self.at("seq", q)
        self._repeats(c, q, s, side, role, fin & only, (seq + paylen) & 0xFFFFFFFF, "fin", "F", carried, letters)
        self._repeats(c, q, s, side, role, rst & only, seq, "rst", "R", carried, letters)
        # W: a zero window, unless with or after a RST or after the peer's FIN (update_window).
        zero = (self.at("win", q) == 0) & ~rst & ~peer_closed & ~own_reset
        self._scaled(c, q, s, side, role, zero, "wc", "W", 2, letters)
        # T: payload at or below the highest sequence number already seen (update_last_seq).
        self._retransmissions(c, q, s, side, role, seq, paylen, syn, fin, rst, own_reset, carried, letters)

    @staticmethod
    def _repeats(
        c: dict[str, np.ndarray],
        q: np.ndarray,
        s: np.ndarray,
        side: np.ndarray,
        role: np.ndarray,
        mask: np.ndarray,
        value: np.ndarray,
        name: str,
        letter: str,
        carried: np.ndarray,
        letters: tcp.HistoryLetters,
    ) -> None:
        """F and R come again when their sequence number differs from the side's previous one."""
        for k in (0, 1):
            sub = np.flatnonzero(mask & (side == k))
            if not sub.size:
                continue
            ss, vv = s[sub], value[sub]
            prev = np.empty(sub.size, dtype=np.int64)
            prev[1:] = vv[:-1]
            first_here = np.append(True, ss[1:] != ss[:-1])
            prev[first_here] = np.where(carried[ss[first_here]], c[f"{name}{k}"][ss[first_here]], -1)
            again = (prev >= 0) & (prev != vv)
            char = np.where(role[sub] == 0, ord(letter), ord(letter.lower()))
            letters.add(ss[again], q[sub][again], 1, char[again])
            last = np.flatnonzero(np.append(ss[1:] != ss[:-1], True))
            c[f"{name}{k}"][ss[last]] = vv[last]

    @staticmethod
    def _scaled(
        c: dict[str, np.ndarray],
        q: np.ndarray,
        s: np.ndarray,
        side: np.ndarray,
        role: np.ndarray,
        mask: np.ndarray,
        name: str,
        letter: str,
        sub_order: int,
        letters: tcp.HistoryLetters,
    ) -> None:
        """Letters logged at the 1st, 10th, 100th... occurrence per side (Connection::ScaledHistoryEntry)."""
        for k in (0, 1):
            sub = np.flatnonzero(mask & (side == k))
            if not sub.size:
                continue
            ss = s[sub]
            start = np.flatnonzero(np.append(True, ss[1:] != ss[:-1]))
            rank = np.arange(sub.size) - np.repeat(start, np.diff(np.append(start, sub.size)))
            count = c[f"{name}{k}"][ss] + rank + 1
            power = np.log10(count.astype(np.float64))
            hit = np.abs(power - np.round(power)) < 1e-9
            char = np.where(role[sub] == 0, ord(letter), ord(letter.lower()))
            letters.add(ss[hit], q[sub][hit], sub_order, char[hit])
            np.add.at(c[f"{name}{k}"], ss, 1)

    def _retransmissions(
        self,
        c: dict[str, np.ndarray],
        q: np.ndarray,
        s: np.ndarray,
        side: np.ndarray,
        role: np.ndarray,
        seq: np.ndarray,
        paylen: np.ndarray,
        syn: np.ndarray,
        fin: np.ndarray,
        rst: np.ndarray,
        own_reset: np.ndarray,
        carried: np.ndarray,
        letters: tcp.HistoryLetters,
    ) -> None:
        """Zeek's endpoint last_seq is the running maximum of each packet's end (sequence number plus
        what it occupies), ignoring RSTs and an endpoint that reset; data ending at or below it is a
        retransmission. Computed per side as a cumulative maximum, each connection offset far apart."""
        t_mask = np.zeros(q.size, dtype=bool)
        grow = np.where(rst, 0, paylen) + syn + fin
        for k in (0, 1):
            sub = np.flatnonzero(side == k)
            if not sub.size:
                continue
            ss = s[sub]
            start = np.append(True, ss[1:] != ss[:-1])
            starts = np.flatnonzero(start)
            run = np.diff(np.append(starts, sub.size))
            kept = carried[ss[starts]] & (c[f"base{k}"][ss[starts]] >= 0)
            base = np.repeat(np.where(kept, c[f"base{k}"][ss[starts]], seq[sub][starts]), run)
            rel = _wrap32(seq[sub] - base)
            end = rel + grow[sub]
            # Before a side's first packet: the carried maximum, or what init_endpoint sets (the
            # end of a SYN, else the first sequence number).
            first_init = np.where(syn[sub][starts], end[starts], rel[starts])
            init = np.repeat(np.where(kept, c[f"max{k}"][ss[starts]], first_init), run)
            offset = ss.astype(np.int64) << 34
            counted = ~rst[sub] & ~own_reset[sub]
            running = np.maximum.accumulate(np.where(counted, end, -(1 << 33)) + offset)
            before = np.empty(sub.size, dtype=np.int64)
            before[1:] = running[:-1]
            before[starts] = offset[starts] - (1 << 33)
            before = np.maximum(before - offset, init)
            huge = (syn[sub] | rst[sub]) & (np.abs(end - before) > 1 << 20)
            t_mask[sub] = (paylen[sub] > 0) & (end <= before) & ~own_reset[sub] & ~huge
            last = np.append(starts[1:], sub.size) - 1
            c[f"base{k}"][ss[last]] = base[last]
            c[f"max{k}"][ss[last]] = np.maximum(running[last] - offset[last], init[last])
        self._scaled(c, q, s, side, role, t_mask, "tc", "T", 3, letters)

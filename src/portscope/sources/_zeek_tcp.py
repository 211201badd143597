"""Zeek's TCP connection semantics, vectorised over flows: endpoint states, connection boundaries,
conn_state and the history letters.

This is a port of Zeek's TCP session analysis (src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc:
``init_endpoint``, ``update_history``, ``UpdateStateMachine`` and its ``Update*State`` helpers,
``ConnectionClosed``, ``IsReuse``; TCP.cc ``WantConnection``; TCP_Endpoint.cc ``SetState``; the timers
``AttemptTimer`` and ``ConnDeleteTimer``; scripts/base/protocols/conn/main.zeek ``conn_state``).

Endpoint states change only on *events*: a SYN, FIN or RST, or a packet from an endpoint still
INACTIVE. :func:`run_machine` steps through the events of all flows at once, one event per flow per
numpy step (a flow has a handful), and records the state after each; every other packet reads the
state it needs from the last event before it. Connections end (and a new one starts on the same
5-tuple) where Zeek would remove them: inactivity (1 min during the handshake, then
``tcp_inactivity_timeout`` 5 min), ``tcp_attempt_delay`` (5 s without an answer to a SYN),
``tcp_close_delay`` (5 s after both sides closed or one reset), and a reused 5-tuple (``IsReuse``: a
new SYN with another sequence number, or any SYN once the connection closed).

Left out, and why: checksums are not verified (Zeek's ``C``; computing them costs a pass over every
payload byte: portscope behaves like ``zeek -C``); content gaps (``G``) need Zeek's reassembler; the
repeated ``S``/``H`` of a SYN with a new sequence number (rare: such a SYN nearly always starts a new
connection); the reset timer after a RST that follows a FIN; ``ExpireTimer``'s 6-second rounds
(their phase depends on all traffic, not this connection).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "CONN_STATES",
    "ESTABLISHED",
    "INACTIVE",
    "Events",
    "HistoryLetters",
    "MachineResult",
    "TcpState",
    "conn_state",
    "fresh_state",
    "run_machine",
]

INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
SYN, RST, ACK, FIN = 0x02, 0x04, 0x10, 0x01
SECOND = 1_000_000
ATTEMPT_DELAY = 5 * SECOND  # tcp_attempt_delay
CLOSE_DELAY = 5 * SECOND  # tcp_close_delay
HANDSHAKE_TIMEOUT = 60 * SECOND  # TCP.cc MakeSessionAdapter: udp_inactivity_timeout until established
INACTIVITY_TIMEOUT = 300 * SECOND  # tcp_inactivity_timeout, from the first non-handshake state on
NEVER = np.iinfo(np.int64).max


class TcpState(NamedTuple):
    """Per-flow TCP state (one entry per flow; side 0 and side 1 are the canonical endpoints)."""

    st0: np.ndarray  # int8 endpoint state of side 0
    st1: np.ndarray
    prev0: np.ndarray  # int8 previous state (SetState keeps it)
    prev1: np.ndarray
    closed0: np.ndarray  # bool did_close
    closed1: np.ndarray
    seq0: np.ndarray  # int64 start_seq, -1 unset
    seq1: np.ndarray
    orig: np.ndarray  # int8 side that is the originator
    close_at: np.ndarray  # int64 us: removal time after a complete close (NEVER: none)
    attempt_at: np.ndarray  # int64 us: attempt timer (NEVER: none)
    established: np.ndarray  # bool: the 5-minute inactivity timeout applies
    last_time: np.ndarray  # int64 us: Zeek's LastTime (frozen once both sides closed)


def fresh_state(n: int) -> TcpState:
    z = np.zeros(n, dtype=np.int8)
    return TcpState(
        z.copy(),
        z.copy(),
        z.copy(),
        z.copy(),
        np.zeros(n, bool),
        np.zeros(n, bool),
        np.full(n, -1, np.int64),
        np.full(n, -1, np.int64),
        z.copy(),
        np.full(n, NEVER, np.int64),
        np.full(n, NEVER, np.int64),
        np.zeros(n, bool),
        np.zeros(n, np.int64),
    )


class Events(NamedTuple):
    """The events of many flows, flow by flow, each flow's in time order."""

    flow: np.ndarray  # int64 index into the flows' state
    rank: np.ndarray  # int64 0, 1, 2... within the flow
    ts: np.ndarray
    prev_ts: np.ndarray  # int64 time of the flow's previous packet (-1: none, a fresh flow)
    side: np.ndarray  # int8
    flags: np.ndarray  # uint8
    seq: np.ndarray  # int64
    ack: np.ndarray
    paylen: np.ndarray
    flip_new: np.ndarray  # bool: WantConnection would flip a connection this packet opens


class MachineResult(NamedTuple):
    """What each event did, and the state after it (arrays parallel to the events)."""

    new_conn: np.ndarray  # bool: a connection starts at this event
    orig_before: np.ndarray  # int8 originator side for this packet's own history letter
    flip_after: np.ndarray  # bool: roles flipped by this event (SYN/SYN-ACK reversal)
    st0: np.ndarray
    st1: np.ndarray
    orig_after: np.ndarray
    close_at: np.ndarray
    attempt_at: np.ndarray
    established: np.ndarray
    last_time: np.ndarray
    created_flip: np.ndarray  # bool: the connection opened here was flipped by WantConnection
    closed0: np.ndarray  # bool did_close after the event
    closed1: np.ndarray


def _pick(side: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(side == 0, a, b)


def run_machine(events: Events, state: TcpState) -> MachineResult:
    """Apply every event to ``state`` (updated in place), flow by flow in lockstep."""
    n = events.ts.size
    out = MachineResult(
        np.zeros(n, bool),
        np.zeros(n, np.int8),
        np.zeros(n, bool),
        np.zeros(n, np.int8),
        np.zeros(n, np.int8),
        np.zeros(n, np.int8),
        np.zeros(n, np.int64),
        np.zeros(n, np.int64),
        np.zeros(n, bool),
        np.zeros(n, np.int64),
        np.zeros(n, bool),
        np.zeros(n, bool),
        np.zeros(n, bool),
    )
    if not n:
        return out
    order = np.argsort(events.rank, kind="stable")
    bounds = np.searchsorted(events.rank[order], np.arange(int(events.rank.max()) + 2))
    for r in range(bounds.size - 1):
        _step(events, state, out, order[bounds[r] : bounds[r + 1]])
    return out


def _step(ev: Events, s: TcpState, out: MachineResult, e: np.ndarray) -> None:
    """One event of each flow in ``e`` (event indices, distinct flows)."""
    g = ev.flow[e]
    ts, side, flags = ev.ts[e], ev.side[e].astype(np.int8), ev.flags[e]
    seq, ack, paylen = ev.seq[e], ev.ack[e], ev.paylen[e]
    syn, fin, rst, has_ack = (flags & SYN) > 0, (flags & FIN) > 0, (flags & RST) > 0, (flags & ACK) > 0
    st = [s.st0[g].copy(), s.st1[g].copy()]
    prev = [s.prev0[g].copy(), s.prev1[g].copy()]
    closed = [s.closed0[g].copy(), s.closed1[g].copy()]
    start = [s.seq0[g].copy(), s.seq1[g].copy()]
    orig = s.orig[g].copy()
    close_at, attempt_at = s.close_at[g].copy(), s.attempt_at[g].copy()
    established, last_time = s.established[g].copy(), s.last_time[g].copy()

    # Does this packet end the connection so far (Zeek removes it first) or start the flow?
    both = closed[0] & closed[1]
    lt = np.where(both, last_time, ev.prev_ts[e])
    fresh = ev.prev_ts[e] < 0
    resp = 1 - orig
    st_orig, st_resp = _pick(orig, st[0], st[1]), _pick(resp, st[0], st[1])
    timeout = np.where(established, INACTIVITY_TIMEOUT, HANDSHAKE_TIMEOUT)
    expired = (ts - lt >= timeout) | (ts >= close_at)
    expired |= (ts >= attempt_at) & ((st_orig == SYN_SENT) | (st_orig == SYN_ACK_SENT)) & (st_resp == INACTIVE)
    # IsReuse: a SYN on a closed connection, or one whose sequence number is not the originator's.
    conn_orig = np.where(has_ack, resp, orig)
    reuse = syn & ~(has_ack & (st_orig != INACTIVE))
    same = seq == _pick(conn_orig, start[0], start[1])
    reversal = ~has_ack & (st_orig == SYN_ACK_SENT) & (st_resp == INACTIVE) & (seq == _pick(resp, start[0], start[1]))
    reuse &= (closed[0] | closed[1]) | ~(same | reversal)
    new = fresh | expired | reuse
    if new.any():
        for arrays, value in ((st, 0), (prev, 0), (closed, False), (start, -1)):
            arrays[0][new] = value
            arrays[1][new] = value
        orig[new] = np.where(ev.flip_new[e][new], 1 - side[new], side[new])
        close_at[new], attempt_at[new] = NEVER, NEVER
        established[new] = False
    out.new_conn[e] = new
    out.created_flip[e] = new & ev.flip_new[e]
    out.orig_before[e] = orig
    is_orig = side == orig
    d, p = side, 1 - side

    def get(arrays: list[np.ndarray], which: np.ndarray) -> np.ndarray:
        return np.where(which == 0, arrays[0], arrays[1])

    def put(arrays: list[np.ndarray], which: np.ndarray, mask: np.ndarray, value: np.ndarray | int) -> None:
        for k in (0, 1):
            m = mask & (which == k)
            arrays[k][m] = value[m] if isinstance(value, np.ndarray) else value

    def set_state(which: np.ndarray, mask: np.ndarray, new_state: int) -> None:
        """TCP_Endpoint::SetState: keep the previous state when the state changes."""
        for k in (0, 1):
            m = mask & (which == k) & (st[k] != new_state)
            prev[k][m] = st[k][m]
            st[k][m] = new_state

    # init_endpoint: where sequence numbers start (IsReuse compares with them).
    sd = get(st, d)
    put(start, d, (sd == INACTIVE), np.where(syn, seq, (seq - 1) & 0xFFFFFFFF))
    reinit = syn & (
        ((sd == SYN_SENT) | (sd == SYN_ACK_SENT) | (sd == ESTABLISHED) | (sd == PARTIAL))
        | ((sd == RESET) & (get(prev, d) == INACTIVE))
    )
    put(start, d, reinit, seq)
    put(start, p, has_ack & (get(st, p) == INACTIVE), (ack - 1) & 0xFFFFFFFF)  # init_peer
    last_time = np.where(closed[0] & closed[1], last_time, ts)

    do_close = np.zeros(e.size, bool)
    flip = np.zeros(e.size, bool)
    sp = get(st, p)
    # UpdateInactiveState
    inactive = sd == INACTIVE
    m = inactive & syn & is_orig
    set_state(d, m & has_ack, SYN_ACK_SENT)
    set_state(d, m & ~has_ack, SYN_SENT)
    attempt_at = np.where(m, ts + ATTEMPT_DELAY, attempt_at)
    m = inactive & syn & ~is_orig
    flip = m & ~has_ack & (sp == SYN_ACK_SENT)  # a SYN/SYN-ACK reversal: flip and establish
    orig = np.where(flip, 1 - orig, orig)
    set_state(p, flip, ESTABLISHED)
    set_state(p, m & (get(st, p) == SYN_SENT), ESTABLISHED)
    set_state(d, m, ESTABLISHED)
    m = inactive & fin
    set_state(d, m, CLOSED)
    do_close |= m
    m = inactive & rst
    set_state(d, m, RESET)
    do_close |= m
    still = inactive & (get(st, d) == INACTIVE)
    orig_state = get(st, orig)
    waiting = still & ~is_orig & (paylen == 0) & (orig_state == SYN_SENT)  # acks before the SYN-ACK
    set_state(d, still & ~waiting & has_ack & (get(st, p) == ESTABLISHED), ESTABLISHED)
    set_state(d, still & ~waiting & (get(st, d) == INACTIVE), PARTIAL)
    # UpdateSYN_SentState
    m = (sd == SYN_SENT) | (sd == SYN_ACK_SENT)
    set_state(d, m & fin, CLOSED)
    set_state(d, m & rst, RESET)
    do_close |= m & (fin | rst)
    # UpdateEstablishedState
    m = (sd == ESTABLISHED) | (sd == PARTIAL)
    set_state(d, m & syn & (sd == PARTIAL) & (sp == INACTIVE) & ~has_ack, SYN_SENT)
    mf = m & fin & ~rst
    set_state(d, mf, CLOSED)
    set_state(p, mf & (get(st, p) == RESET) & (get(prev, p) == CLOSED), CLOSED)  # FIN then RST was a close
    set_state(d, m & rst, RESET)
    do_close |= m & (fin | rst)
    # UpdateClosedState: a RST after our FIN, unless the peer closed too
    m = (sd == CLOSED) & rst & (sp != CLOSED)
    set_state(d, m, RESET)
    do_close |= m & ~get(closed, d)

    # ConnectionClosed: the first close of a side; complete when it reset, the peer closed or is silent.
    closing = do_close & ~get(closed, d)
    put(closed, d, closing, True)
    complete = closing & ((get(st, d) == RESET) | get(closed, p) | (get(st, p) == INACTIVE))
    close_at = np.where(complete & (close_at == NEVER), last_time + CLOSE_DELAY, close_at)
    attempt_at = np.where(complete, NEVER, attempt_at)
    handshake = np.array([True, True, True, False, False, False, False])
    established |= ~handshake[st[0]] | ~handshake[st[1]]

    s.st0[g], s.st1[g], s.prev0[g], s.prev1[g] = st[0], st[1], prev[0], prev[1]
    s.closed0[g], s.closed1[g], s.seq0[g], s.seq1[g] = closed[0], closed[1], start[0], start[1]
    s.orig[g], s.close_at[g], s.attempt_at[g] = orig, close_at, attempt_at
    s.established[g], s.last_time[g] = established, last_time
    out.flip_after[e] = flip
    out.st0[e], out.st1[e], out.orig_after[e] = st[0], st[1], orig
    out.close_at[e], out.attempt_at[e], out.established[e], out.last_time[e] = (
        close_at,
        attempt_at,
        established,
        last_time,
    )
    out.closed0[e], out.closed1[e] = closed[0], closed[1]


def conn_state(st_orig: np.ndarray, st_resp: np.ndarray, size_zero: np.ndarray, rstos0: np.ndarray) -> np.ndarray:
    """Zeek's ``conn_state`` (base/protocols/conn/main.zeek) for TCP, as small integers into CONN_STATES.

    ``size_zero``: both endpoints' sizes are 0 (approximated by their payload bytes); ``rstos0``: the
    history matches ``^?S[^HAFGIQ]*R.*``.
    """
    os_, rs = st_orig, st_resp
    o_inactive = (os_ == INACTIVE) | (os_ == PARTIAL)
    r_inactive = (rs == INACTIVE) | (rs == PARTIAL)
    return np.select(
        [
            (rs == RESET) & ((os_ == SYN_SENT) | (os_ == SYN_ACK_SENT) | ((os_ == RESET) & size_zero)),
            (rs == RESET) & o_inactive,
            rs == RESET,
            (os_ == RESET) & r_inactive & rstos0,
            (os_ == RESET) & r_inactive,
            os_ == RESET,
            (rs == CLOSED) & (os_ == CLOSED),
            (os_ == CLOSED) & r_inactive,
            os_ == CLOSED,
            (rs == CLOSED) & o_inactive,
            rs == CLOSED,
            (os_ == SYN_SENT) & (rs == INACTIVE),
            (os_ == ESTABLISHED) & (rs == ESTABLISHED),
        ],
        [
            CONN_STATES.index(name)
            for name in ("REJ", "RSTRH", "RSTR", "RSTOS0", "OTH", "RSTO", "SF", "SH", "S2", "SHR", "S3", "S0", "S1")
        ],
        CONN_STATES.index("OTH"),
    )


CONN_STATES = ("S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH")


class HistoryLetters:
    """History letters to be: (connection, packet position, order within the packet, character).

    Within a packet Zeek's order is: a role flip made when the connection opens (0), the flag letter
    from ``update_history`` (1), ``W`` from ``update_window`` (2), ``T`` from ``update_last_seq`` (3), a
    flip made by the state machine (4).
    """

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, seg: np.ndarray, pos: np.ndarray, sub: int, char: int | np.ndarray) -> None:
        if seg.size:
            self.parts.append(
                (seg, pos.astype(np.int64), np.full(seg.size, sub, np.int64), np.broadcast_to(char, seg.shape))
            )

    def strings(self, count: int) -> np.ndarray:
        """Each connection's letters in order, as text (an object array of str)."""
        out = np.full(count, "", dtype=object)
        if not self.parts:
            return out
        seg, pos, sub, char = (np.concatenate(column) for column in zip(*self.parts, strict=True))
        # One stable sort of (connection, packet, order within the packet) packed in an int64
        # (positions in a batch stay below 2^36, connections below 2^24): the parts come sorted by
        # connection already, which a merge sort turns to account.
        if count < 1 << 24:
            order = np.argsort((seg.astype(np.int64) << 39) | (pos << 3) | sub, kind="stable")
        else:
            order = np.lexsort((sub, pos, seg))
        text = char[order].astype(np.uint8).tobytes().decode("ascii")
        ends = np.cumsum(np.bincount(seg, minlength=count)).tolist()
        out[:] = [text[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
        return out

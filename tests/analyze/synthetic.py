"""Seeded synthetic traffic with embedded attacks, and the ground truth that says what must be found.

Two generators, both vectorised with numpy and pyarrow so that benchmark sizes take seconds:

- :func:`flow_table` (here): a day of Zeek-like conn.log flows of a small site, already in the flow schema
  (``portscope.flows.flow_schema()``): a few hundred RFC 1918 clients (Linux ephemeral ports
  32768-60999, Windows 49152-65535, RFC 6335 and the kernels' defaults), an internal resolver, a few
  servers reached from outside, internet background radiation (one to three probes per source), and
  embedded: vertical scans, horizontal sweeps, a slow scan, two beacons, an ephemeral-port exhaustion
  and an SSH brute force.
- :func:`tests.analyze.synthetic_logs.iptables_log`: kernel LOG lines of a
  busy gateway with UFW, with nmap-like scans, a sweep and a slow scan embedded; see that module.

Each returns a :class:`GroundTruth`: the findings that must be reported (kind, src and, where it
applies, dst and port) and the background sources that must not be flagged. Same seed, same data.

This module also holds what both share: the ground truth (:class:`Expected`, :class:`GroundTruth`,
:class:`Score`, ``DETECTION_KINDS``), address generation and the address vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from portscope.flows import flow_schema

__all__ = ["Expected", "GroundTruth", "Score", "flow_table"]

LINUX_EPHEMERAL = (32768, 60999)  # net.ipv4.ip_local_port_range default
WINDOWS_EPHEMERAL = (49152, 65535)  # RFC 6335 dynamic range, Windows since Vista
DETECTION_KINDS = frozenset({"vertical_scan", "horizontal_scan", "beaconing", "ephemeral_exhaustion", "brute_force"})


class Expected(NamedTuple):
    """One finding that must be reported; ``dst``/``port`` None where the kind has no single one."""

    kind: str
    src: str
    dst: str | None = None
    port: int | None = None


class Score(NamedTuple):
    found: tuple[Expected, ...]
    missed: tuple[Expected, ...]
    flagged_background: tuple[str, ...]  # background sources named as src of a detection finding


class GroundTruth(NamedTuple):
    expected: tuple[Expected, ...]
    background: frozenset[str]  # sources with background traffic only: none may be flagged
    rows: int  # flows or lines written

    @property
    def scanners(self) -> frozenset[str]:
        return frozenset(e.src for e in self.expected)

    def score(self, findings: Iterable[tuple[str, str | None, str | None, int | None]]) -> Score:
        """Match (kind, src, dst, port) findings: kind and src must agree, dst/port too where both are known."""
        found: set[Expected] = set()
        flagged: set[str] = set()
        for kind, src, dst, port in findings:
            if kind in DETECTION_KINDS and src in self.background:
                flagged.add(src)
            for e in self.expected:
                if e.kind != kind or e.src != src:
                    continue
                if e.dst is not None and dst is not None and e.dst != dst:
                    continue
                if e.port is not None and port is not None and e.port != port:
                    continue
                found.add(e)
        return Score(
            tuple(e for e in self.expected if e in found),
            tuple(e for e in self.expected if e not in found),
            tuple(sorted(flagged)),
        )


# --- addresses -------------------------------------------------------------------------------------------

_PUBLIC_FIRST_OCTETS = np.array(
    [
        3,
        13,
        20,
        23,
        31,
        34,
        35,
        37,
        40,
        45,
        51,
        52,
        54,
        62,
        77,
        79,
        81,
        85,
        87,
        91,
        93,
        94,
        103,
        104,
        109,
        142,
        151,
        157,
        162,
        176,
        178,
        185,
        188,
        193,
        195,
        199,
        212,
        216,
    ]
)


def _dotted(values: np.ndarray) -> list[str]:
    v = values.astype(np.uint32)
    return [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255, strict=True)]


def _public(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    """``count`` distinct public-looking IPv4 addresses (first octets from allocated space), none in ``taken``."""
    out: list[str] = []
    seen = set(taken)
    for _ in range(20):  # bounded: each round almost always suffices
        need = count - len(out)
        if need <= 0:
            break
        raw = _PUBLIC_FIRST_OCTETS[rng.integers(0, len(_PUBLIC_FIRST_OCTETS), need * 2)].astype(np.uint32) << 24
        raw |= rng.integers(0, 1 << 24, need * 2, dtype=np.uint32) & 0xFFFFFE  # even low octets skip .255 corner cases
        raw |= 1
        for a in _dotted(np.unique(raw)):
            if a not in seen and len(out) < count:
                seen.add(a)
                out.append(a)
    rng.shuffle(out)
    return out


def _private(rng: np.random.Generator, prefix: str, count: int, low: int = 2) -> list[str]:
    """``count`` distinct hosts of ``prefix`` (``10.20`` for a /16, ``192.168.10`` for a /24)."""
    if prefix.count(".") == 2:
        pool = [f"{prefix}.{d}" for d in range(low, 255)]
    else:
        pool = [f"{prefix}.{c}.{d}" for c in range(64) for d in range(low, 255)]
    picked = rng.choice(len(pool), count, replace=False)
    return [pool[i] for i in picked]


class _Vocab:
    """Addresses by index: flows carry int32 indices, turned into text once at the end."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.index: dict[str, int] = {}

    def add(self, addresses: Iterable[str]) -> np.ndarray:
        out = []
        for a in addresses:
            if a not in self.index:
                self.index[a] = len(self.words)
                self.words.append(a)
            out.append(self.index[a])
        return np.array(out, dtype=np.int32)

    def one(self, address: str) -> int:
        return int(self.add([address])[0])

    def text(self, indices: np.ndarray) -> pa.Array:
        return pc.take(pa.array(self.words, pa.string()), pa.array(indices))


def _owners(rng: np.random.Generator, n: int) -> np.ndarray:
    """For ``n`` probes, the index of the source sending each: sources 0, 1, ... send one to three each."""
    per = rng.integers(1, 4, n)
    return np.repeat(np.arange(n), per)[:n]


def _zipf(count: int, exponent: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return np.asarray(weights / weights.sum())


def _ephemeral(rng: np.random.Generator, windows: np.ndarray) -> np.ndarray:
    linux = rng.integers(LINUX_EPHEMERAL[0], LINUX_EPHEMERAL[1] + 1, len(windows))
    win = rng.integers(WINDOWS_EPHEMERAL[0], WINDOWS_EPHEMERAL[1] + 1, len(windows))
    return np.where(windows, win, linux).astype(np.int32)


# --- flows ----------------------------------------------------------------------------------------------

# (conn_state, history): Zeek's states (base/protocols/conn/main.zeek) with typical histories
OUTCOMES = [
    ("SF", "ShADadFf"),
    ("SF", "ShADadfF"),
    ("S0", "S"),
    ("REJ", "Sr"),
    ("RSTO", "ShADadR"),
    ("RSTR", "ShADadr"),
    ("S1", "ShADad"),
    ("RSTO", "ShR"),
    ("SF", "Dd"),
    ("S0", "D"),
    ("SF", "ShAdDaFf"),
]
SF, SF2, S0, REJ, RSTO, RSTR, S1, OPEN_PROBE, UDP_SF, UDP_S0, SSH_FAIL = range(len(OUTCOMES))
STATES = sorted({s for s, _ in OUTCOMES})
SERVICES = ["ssl", "http", "dns", "ntp", "ssh", "smtp", "quic", "smb", "krb", "ldap", "postgresql"]
_SVC = {name: i for i, name in enumerate(SERVICES)}
TCP, UDP = 0, 1
# outbound: (port, transport, service, weight, median bytes out, median bytes in, median seconds)
OUTBOUND = [
    (443, TCP, "ssl", 52, 2_400, 38_000, 12.0),
    (80, TCP, "http", 10, 900, 22_000, 3.0),
    (53, UDP, "dns", 8, 70, 160, 0.02),
    (443, UDP, "quic", 7, 3_000, 45_000, 15.0),
    (123, UDP, "ntp", 1, 76, 76, 0.03),
    (993, TCP, "ssl", 2, 3_000, 9_000, 60.0),
    (22, TCP, "ssh", 1, 6_000, 9_000, 120.0),
    (25, TCP, "smtp", 0.5, 12_000, 1_500, 2.0),
    (8443, TCP, "ssl", 1, 2_000, 8_000, 5.0),
]
INTERNAL = [
    ("10.0.0.2", 53, UDP, "dns", 40, 70, 150, 0.005),
    ("10.0.0.11", 443, TCP, "ssl", 15, 1_500, 20_000, 4.0),
    ("10.0.0.20", 445, TCP, "smb", 15, 4_000, 60_000, 30.0),
    ("10.0.0.21", 88, TCP, "krb", 10, 1_600, 1_500, 0.1),
    ("10.0.0.21", 389, TCP, "ldap", 10, 900, 2_500, 0.3),
    ("10.0.0.10", 22, TCP, "ssh", 0.2, 25_000, 400_000, 900.0),
    ("10.0.0.30", 5432, TCP, "postgresql", 8, 3_000, 30_000, 20.0),
]
INBOUND = [
    ("10.0.0.11", 443, "ssl", 85, 1_800, 30_000, 6.0),
    ("10.0.0.11", 80, "http", 14.9, 600, 1_200, 0.5),
    ("10.0.0.10", 22, "ssh", 0.06, 25_000, 400_000, 900.0),  # 40 admins, about 15 sessions a day each
    ("10.0.0.12", 3389, None, 0.015, 900_000, 9_000_000, 3600.0),
]
NOISE_PORTS = np.array([23, 445, 3389, 22, 8080, 1433, 5900, 2323, 80, 443, 3306, 6379, 5555, 21, 25])
DIURNAL = np.array([2, 1.5, 1, 1, 1, 1.5, 3, 6, 9, 10, 10, 10, 9, 10, 10, 10, 9, 8, 6, 5, 4, 3.5, 3, 2.5])
DAY_US = 86_400_000_000
T0_FLOWS = 1_763_942_400_000_000  # 2025-11-24 00:00:00 UTC, in microseconds


class _Part:
    """Columns of one kind of traffic, as numpy arrays; parts are concatenated and sorted by start."""

    TYPES: ClassVar[dict[str, Any]] = {
        "start": np.int64, "dur": np.float64, "src": np.int32, "dst": np.int32, "sport": np.uint16,
        "dport": np.uint16, "proto": np.int8, "outcome": np.int8, "service": np.int8, "pout": np.uint32,
        "pin": np.uint32, "bout": np.uint32, "bin": np.uint32,
    }  # fmt: skip

    def __init__(self, n: int) -> None:
        self.n = n
        self.cols: dict[str, np.ndarray] = {}

    def set(self, **values: Any) -> _Part:
        """Columns by name, each cast to its compact type (sorting 10,000,000 rows moves less memory)."""
        for key, value in values.items():
            array = np.asarray(value)
            if array.ndim == 0:
                array = np.full(self.n, array)
            self.cols[key] = array.astype(self.TYPES[key], copy=False)
        return self


def _sizes(rng: np.random.Generator, part: _Part, out_median: np.ndarray, in_median: np.ndarray) -> None:
    """Packets and IP bytes both ways from each flow's outcome: failed handshakes carry only their SYNs and RSTs."""
    n, outcome = part.n, part.cols["outcome"]
    bout = (out_median * rng.lognormal(0.0, 0.8, n)).astype(np.int64) + 120
    bin_ = (in_median * rng.lognormal(0.0, 0.9, n)).astype(np.int64) + 120
    pout = np.maximum(3, bout // 700)
    pin = np.maximum(2, bin_ // 1300)
    tries = rng.choice(3, n, p=[0.5, 0.3, 0.2]) + 1  # SYN retransmissions
    syn = np.isin(outcome, (S0,))
    udp_none = outcome == UDP_S0
    rej = outcome == REJ
    udp_ok = outcome == UDP_SF
    pout = np.where(syn, tries, np.where(rej, 1, np.where(udp_none | udp_ok, 1, pout)))
    bout = np.where(syn, tries * 60, np.where(rej, 60, np.where(udp_none | udp_ok, np.minimum(bout, 120), bout)))
    pin = np.where(syn | udp_none, 0, np.where(rej | udp_ok, 1, pin))
    bin_ = np.where(syn | udp_none, 0, np.where(rej, 40, np.where(udp_ok, np.minimum(bin_, 512), bin_)))
    part.set(pout=pout, pin=pin, bout=bout, bin=bin_)


def _duration(rng: np.random.Generator, part: _Part, median: np.ndarray) -> None:
    """Seconds; null for a lone SYN or datagram (Zeek leaves ``duration`` unset when it saw one packet)."""
    outcome = part.cols["outcome"]
    dur = median * rng.lognormal(0.0, 1.0, part.n)
    dur = np.where(outcome == S0, np.where(part.cols["pout"] > 1, 3.0 * (part.cols["pout"] - 1), np.nan), dur)
    dur = np.where(outcome == REJ, rng.uniform(0.0002, 0.05, part.n), dur)
    dur = np.where(outcome == UDP_S0, np.nan, dur)
    part.set(dur=dur)


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    hour = rng.choice(24, n, p=DIURNAL / DIURNAL.sum())
    return T0_FLOWS + hour.astype(np.int64) * 3_600_000_000 + rng.integers(0, 3_600_000_000, n)


def _tcp_outcome(rng: np.random.Generator, n: int, udp: np.ndarray) -> np.ndarray:
    tcp = rng.choice([SF, SF2, RSTO, RSTR, S1, S0, REJ], n, p=[0.62, 0.25, 0.05, 0.05, 0.027, 0.002, 0.001])
    return np.where(udp, rng.choice([UDP_SF, UDP_S0], n, p=[0.97, 0.03]), tcp).astype(np.int8)


def _table(vocab: _Vocab, parts: list[_Part], rng: np.random.Generator) -> pa.Table:
    cols = {k: np.concatenate([p.cols[k] for p in parts]) for k in _Part.TYPES}
    order = np.argsort(cols["start"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    n = len(order)
    internal = np.array([a.startswith(("10.", "192.168.", "172.16.")) for a in vocab.words])
    src_in, dst_in = internal[cols["src"]], internal[cols["dst"]]
    direction = np.where(src_in & ~dst_in, 0, np.where(~src_in & dst_in, 1, -1)).astype(np.int32)
    outcome = cols["outcome"].astype(np.int32)
    state_of = np.array([STATES.index(s) for s, _ in OUTCOMES], dtype=np.int32)
    service = np.where(np.isin(outcome, (S0, REJ, UDP_S0, OPEN_PROBE)), -1, cols["service"]).astype(np.int32)
    start = pa.array(cols["start"], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    dur = cols["dur"]
    has_dur = ~np.isnan(dur)
    end_us = cols["start"] + np.where(has_dur, np.nan_to_num(dur) * 1e6, 0).astype(np.int64)
    end = pa.array(end_us, pa.int64(), mask=~has_dur).cast(pa.timestamp("us", tz="UTC"))

    def coded(indices: np.ndarray, words: list[str]) -> pa.DictionaryArray:
        idx = pa.array(indices.astype(np.int32), pa.int32(), mask=indices < 0)
        return pa.DictionaryArray.from_arrays(idx, pa.array(words, pa.string()))

    alphabet = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
    uid = np.empty((n, 18), dtype=np.uint8)
    uid[:, 0] = ord("C")
    uid[:, 1:] = alphabet[np.frombuffer(rng.bytes(n * 17), dtype=np.uint8).reshape(n, 17) % 62]
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * 18).tobytes())
    flow_id = pa.Array.from_buffers(pa.string(), n, [None, offsets, pa.py_buffer(uid.tobytes())])
    zeros = np.zeros(n, dtype=np.int32)
    proto = cols["proto"].astype(np.int32)
    arrays = {
        "start": start,
        "end": end,
        "duration": pa.array(dur, pa.float64(), mask=~has_dur),
        "source_format": coded(zeros, ["zeek_conn"]),
        "protocol": coded(proto, ["tcp", "udp"]),
        "ip_proto": pa.array(np.where(proto == TCP, 6, 17).astype(np.uint8)),
        "src_addr": vocab.text(cols["src"]),
        "src_port": pa.array(cols["sport"].astype(np.uint16)),
        "dst_addr": vocab.text(cols["dst"]),
        "dst_port": pa.array(cols["dport"].astype(np.uint16)),
        "direction": coded(direction, ["outbound", "inbound"]),
        "initiator": coded(zeros, ["observed"]),
        "packets_out": pa.array(cols["pout"].astype(np.uint64)),
        "packets_in": pa.array(cols["pin"].astype(np.uint64)),
        "bytes_out": pa.array(cols["bout"].astype(np.uint64)),
        "bytes_in": pa.array(cols["bin"].astype(np.uint64)),
        "conn_state": coded(state_of[outcome], STATES),
        "history": pc.take(pa.array([h for _, h in OUTCOMES], pa.string()), pa.array(outcome)),
        "service": coded(service, SERVICES),
        "flow_id": flow_id,
        "evidence_file": coded(zeros, ["synthetic-conn.log"]),
        "evidence_line": pa.array(np.arange(1, n + 1, dtype=np.uint64)),
    }
    schema = flow_schema()
    nulls = {str(f.type): pa.nulls(n, f.type) for f in schema}
    return pa.Table.from_arrays([arrays.get(f.name, nulls[str(f.type)]) for f in schema], schema=schema)


def _probes(n: int, src: Any, dst: Any, dport: Any, start: Any, sport: Any, outcome: Any) -> _Part:
    """Scan probes: a lone SYN (S0), one answered by RST (REJ), or an open port the scanner resets."""
    part = _Part(n).set(start=start, src=src, dst=dst, sport=sport, dport=dport, proto=TCP, outcome=outcome, service=-1)
    return _scan_sizes(part)


def _scan_sizes(part: _Part) -> _Part:
    """A probe is one SYN; a REJ adds the RST; an open port answers SYN-ACK and the scanner resets."""
    outcome = part.cols["outcome"]
    rej, opened = outcome == REJ, outcome == OPEN_PROBE
    part.set(
        pout=np.where(opened, 2, 1),
        pin=np.where(rej | opened, 1, 0),
        bout=np.where(opened, 84, 44),
        bin=np.where(rej, 40, np.where(opened, 44, 0)),
        dur=np.where(rej, 0.0004, np.where(opened, 0.0009, np.nan)),
    )
    return part


def _scan_outcome(rng: np.random.Generator, n: int, closed: float) -> np.ndarray:
    outcome = np.where(rng.random(n) < closed, REJ, S0).astype(np.int8)
    outcome[rng.choice(n, min(n, 3), replace=False)] = OPEN_PROBE
    return outcome


def flow_table(n: int, seed: int = 7) -> tuple[pa.Table, GroundTruth]:
    """``n`` flows over one day in the flow schema, sorted by start, with embedded attacks; see the module doc."""
    rng = np.random.default_rng(seed)
    vocab = _Vocab()
    truth: list[Expected] = []
    parts: list[_Part] = []
    taken = {"8.8.8.8", "1.1.1.1", "9.9.9.9"}
    # attackers and their victims, fixed so the ground truth reads like an incident report
    attackers = _public(rng, 9, taken)
    taken.update(attackers)
    v_scan = [(attackers[0], "10.0.0.11", 1000), (attackers[1], "10.0.0.12", 2000), ("10.20.7.99", "10.0.0.20", 1500)]
    h_scan = [("10.20.3.66", 445, 700, "10.20"), (attackers[2], 23, 520, "10.0")]
    slow = (attackers[3], "10.0.0.10", 1000)
    beacons = [
        ("10.20.1.23", attackers[4], 443, 60, 12 * 3600, "ssl"),
        ("192.168.10.57", attackers[5], 8080, 300, 86_000, "http"),
    ]
    exhaust = ("10.20.9.14", "10.0.0.30", 5432, 28_000)
    brute = (attackers[6], "10.0.0.10", 22, 600)
    embedded = sum(c for _, _, c in v_scan) + sum(c for _, _, c, _ in h_scan) + slow[2] + exhaust[3] + brute[3]
    embedded += sum(d // p for _, _, _, p, d, _ in beacons)
    if n < embedded + 10_000:
        raise ValueError(
            f"n={n} is too small: the embedded attacks alone are {embedded} flows; use n >= {embedded + 10_000}"
        )
    background_n = n - embedded

    # background: clients, resolver, inbound users, internet radiation
    clients = (
        _private(rng, "10.20", 200, low=10) + _private(rng, "192.168.10", 60, 20) + _private(rng, "172.16.5", 40, 20)
    )
    clients = [c for c in clients if c not in {"10.20.7.99", "10.20.3.66", "10.20.9.14"}]
    for b in beacons:
        if b[0] not in clients:
            clients.append(b[0])
    client_idx = vocab.add(clients)
    windows = rng.random(len(clients)) < 0.6
    activity = rng.lognormal(0.0, 0.7, len(clients))
    activity /= activity.sum()
    services = _public(rng, 3000, taken)
    taken.update(services)
    service_idx = vocab.add(services)
    users = _public(rng, 6000, taken)
    taken.update(users)
    user_idx = vocab.add(users)
    n_noise = max(1000, background_n // 50)
    n_in = background_n // 10
    n_res = background_n // 25
    n_int = background_n // 8
    n_out = background_n - n_noise - n_in - n_res - n_int

    who = rng.choice(len(clients), n_out, p=activity)
    kind = rng.choice(len(OUTBOUND), n_out, p=_norm([r[3] for r in OUTBOUND]))
    table = np.array([(r[0], r[1], r[4], r[5], r[6]) for r in OUTBOUND], dtype=float)
    udp = table[kind, 1] == UDP
    dst = service_idx[rng.choice(len(services), n_out, p=_zipf(len(services)))]
    ntp = vocab.add(["162.159.200.1", "162.159.200.123", "193.1.31.66", "85.199.214.101"])
    dst = np.where(table[kind, 0] == 123, ntp[rng.integers(0, 4, n_out)], dst)
    public_dns = vocab.add(["8.8.8.8", "1.1.1.1"])
    dst = np.where(table[kind, 0] == 53, public_dns[rng.integers(0, 2, n_out)], dst)
    dead = service_idx[rng.choice(np.arange(1000, 3000), 30, replace=False)]  # servers that never answer
    outcome = _tcp_outcome(rng, n_out, udp)
    outcome = np.where(np.isin(dst, dead) & ~udp, S0, outcome).astype(np.int8)
    svc = np.array([_SVC[r[2]] for r in OUTBOUND], dtype=np.int32)[kind]
    out = _Part(n_out).set(
        start=_times(rng, n_out),
        src=client_idx[who],
        dst=dst,
        sport=_ephemeral(rng, windows[who]),
        dport=table[kind, 0].astype(np.int32),
        proto=table[kind, 1].astype(np.int8),
        outcome=outcome,
        service=svc,
    )
    _sizes(rng, out, table[kind, 2], table[kind, 3])
    _duration(rng, out, table[kind, 4])
    parts.append(out)

    who = rng.choice(len(clients), n_int, p=activity)
    kind = rng.choice(len(INTERNAL), n_int, p=_norm([r[4] for r in INTERNAL]))
    server = vocab.add([r[0] for r in INTERNAL])
    itable = np.array([(r[1], r[2], r[5], r[6], r[7]) for r in INTERNAL], dtype=float)
    udp = itable[kind, 1] == UDP
    part = _Part(n_int).set(
        start=_times(rng, n_int),
        src=client_idx[who],
        dst=server[kind],
        sport=_ephemeral(rng, windows[who]),
        dport=itable[kind, 0].astype(np.int32),
        proto=itable[kind, 1].astype(np.int8),
        outcome=_tcp_outcome(rng, n_int, udp),
        service=np.array([_SVC[r[3]] for r in INTERNAL], dtype=np.int32)[kind],
    )
    _sizes(rng, part, itable[kind, 2], itable[kind, 3])
    _duration(rng, part, itable[kind, 4])
    parts.append(part)

    resolvers = vocab.add(["8.8.8.8", "1.1.1.1", "9.9.9.9"])
    part = _Part(n_res).set(
        start=_times(rng, n_res),
        src=np.full(n_res, vocab.one("10.0.0.2"), np.int32),
        dst=resolvers[rng.integers(0, 3, n_res)],
        sport=rng.integers(1024, 65536, n_res),
        dport=np.full(n_res, 53),
        proto=np.full(n_res, UDP, np.int8),
        outcome=np.where(rng.random(n_res) < 0.99, UDP_SF, UDP_S0).astype(np.int8),
        service=np.full(n_res, _SVC["dns"], np.int32),
    )
    _sizes(rng, part, np.full(n_res, 75.0), np.full(n_res, 180.0))
    _duration(rng, part, np.full(n_res, 0.02))
    parts.append(part)

    kind = rng.choice(len(INBOUND), n_in, p=_norm([r[3] for r in INBOUND]))
    admin = np.isin(np.array([r[1] for r in INBOUND])[kind], (22, 3389))  # a few dozen admins, web users by Zipf
    who = np.where(admin, rng.integers(0, 40, n_in), (rng.zipf(1.3, n_in) - 1) % len(users))
    server = vocab.add([r[0] for r in INBOUND])
    svc = np.array([_SVC.get(r[2] or "", -1) for r in INBOUND], dtype=np.int32)[kind]
    itable = np.array([(r[1], r[4], r[5], r[6]) for r in INBOUND], dtype=float)
    part = _Part(n_in).set(
        start=_times(rng, n_in),
        src=user_idx[who],
        dst=server[kind],
        sport=_ephemeral(rng, rng.random(n_in) < 0.5),
        dport=itable[kind, 0].astype(np.int32),
        proto=np.zeros(n_in, np.int8),
        outcome=_tcp_outcome(rng, n_in, np.zeros(n_in, bool)),
        service=svc,
    )
    _sizes(rng, part, itable[kind, 1], itable[kind, 2])
    _duration(rng, part, itable[kind, 3])
    parts.append(part)

    # internet background radiation: many sources, each one host, 1-3 ports
    owner = _owners(rng, n_noise)
    sources = _public(rng, int(owner[-1]) + 1, taken)
    taken.update(sources)
    noise_idx = vocab.add(sources)
    first = rng.integers(0, len(NOISE_PORTS), len(sources))[owner]
    nth = np.arange(n_noise) - np.searchsorted(owner, owner)
    targets = vocab.add(["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.25", "10.0.0.26"])
    noise_dst = targets[rng.integers(0, len(targets), len(sources))][owner]
    t0 = _times(rng, len(sources))[owner] + nth * rng.integers(1_000_000, 60_000_000, n_noise)
    ports = NOISE_PORTS[(first + nth) % len(NOISE_PORTS)]
    sports = rng.integers(1024, 65536, len(sources))[owner]
    part = _probes(n_noise, noise_idx[owner], noise_dst, ports, t0, sports, _scan_outcome(rng, n_noise, 0.3))
    parts.append(part)

    # embedded: vertical scans, sweeps, slow scan, beacons, exhaustion, brute force
    for attacker, victim, count in v_scan:
        ports = rng.choice(np.arange(1, 10_001), count, replace=False) if count < 2000 else np.arange(1, count + 1)
        rng.shuffle(ports)
        t0 = T0_FLOWS + int(rng.integers(0, DAY_US - 3_600_000_000))
        outcome = _scan_outcome(rng, count, 0.4)
        nmap_port = int(rng.integers(40_000, 65_000))  # nmap's SYN scan keeps one source port
        part = _probes(
            count,
            vocab.one(attacker),
            vocab.one(victim),
            ports,
            t0 + np.cumsum(rng.integers(500, 30_000, count)),
            nmap_port,
            outcome,
        )
        parts.append(part)
        truth.append(Expected("vertical_scan", attacker, victim))
    for attacker, port, count, net in h_scan:
        t0 = T0_FLOWS + int(rng.integers(0, DAY_US - 3_600_000_000))
        starts = t0 + np.cumsum(rng.integers(2_000, 200_000, count))
        hosts = vocab.add(_private(rng, net, count, low=2))
        part = _probes(
            count,
            vocab.one(attacker),
            hosts,
            port,
            starts,
            rng.integers(40_000, 65_000, count),
            _scan_outcome(rng, count, 0.5),
        )
        parts.append(part)
        truth.append(Expected("horizontal_scan", attacker, None, port))
    attacker, victim, count = slow  # one probe a minute, each from a new source port
    starts = T0_FLOWS + 3_600_000_000 + np.cumsum(rng.integers(55_000_000, 65_000_000, count))
    ports = rng.choice(np.arange(1, 20_000), count, replace=False)
    part = _probes(
        count,
        vocab.one(attacker),
        vocab.one(victim),
        ports,
        starts,
        rng.integers(40_000, 65_000, count),
        _scan_outcome(rng, count, 0.0),
    )
    parts.append(part)
    truth.append(Expected("vertical_scan", attacker, victim))
    for host, c2, port, period, span, service in beacons:
        count = span // period
        first_us = T0_FLOWS + int(rng.integers(0, DAY_US - span * 1_000_000))
        starts = first_us + np.cumsum(rng.uniform(0.9 * period, 1.1 * period, count) * 1e6).astype(np.int64)
        win = bool(np.isin(vocab.index[host], client_idx[windows]))
        parts.append(
            _Part(count).set(
                start=starts,
                src=vocab.one(host),
                dst=vocab.one(c2),
                sport=_ephemeral(rng, np.full(count, win)),
                dport=port,
                proto=TCP,
                outcome=SF,
                service=_SVC[service],
                pout=rng.integers(7, 9, count),
                pin=rng.integers(6, 8, count),
                bout=rng.integers(1_150, 1_250, count),
                bin=rng.integers(4_400, 4_600, count),
                dur=rng.uniform(0.25, 0.4, count),
            )
        )
        truth.append(Expected("beaconing", host, c2, port))
    host, server_addr, port, count = exhaust  # every Linux ephemeral port but a few, open at once
    t0 = T0_FLOWS + int(rng.integers(0, DAY_US - 7_200_000_000))
    parts.append(
        _Part(count).set(
            start=t0 + np.sort(rng.integers(0, 90_000_000, count)),
            src=vocab.one(host),
            dst=vocab.one(server_addr),
            sport=rng.choice(np.arange(LINUX_EPHEMERAL[0], LINUX_EPHEMERAL[1] + 1), count, replace=False),
            dport=port,
            proto=TCP,
            outcome=rng.choice([S1, SF, RSTO], count, p=[0.7, 0.2, 0.1]),
            service=_SVC["postgresql"],
            pout=rng.integers(4, 12, count),
            pin=rng.integers(3, 10, count),
            bout=rng.integers(400, 1_500, count),
            bin=rng.integers(300, 2_000, count),
            dur=rng.uniform(300.0, 900.0, count),
        )
    )
    truth.append(Expected("ephemeral_exhaustion", host, server_addr, port))
    attacker, victim, port, count = brute  # each attempt a short SSH session: key exchange, failed auth, close
    t0 = T0_FLOWS + int(rng.integers(0, DAY_US - 7_200_000_000))
    parts.append(
        _Part(count).set(
            start=t0 + np.cumsum(rng.integers(1_500_000, 4_000_000, count)),
            src=vocab.one(attacker),
            dst=vocab.one(victim),
            sport=_ephemeral(rng, np.zeros(count, bool)),
            dport=port,
            proto=TCP,
            outcome=SSH_FAIL,
            service=_SVC["ssh"],
            pout=rng.integers(11, 15, count),
            pin=rng.integers(10, 13, count),
            bout=rng.integers(2_400, 3_200, count),
            bin=rng.integers(3_300, 4_100, count),
            dur=rng.uniform(0.8, 3.0, count),
        )
    )
    truth.append(Expected("brute_force", attacker, victim, port))

    table = _table(vocab, parts, rng)
    seen = set(pc.unique(table.column("src_addr")).to_pylist())
    return table, GroundTruth(tuple(truth), frozenset(seen - {e.src for e in truth}), table.num_rows)


def _norm(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.asarray(w / w.sum())

"""Seeded synthetic kernel LOG lines with embedded scans, for the iptables/UFW source and the psad benchmark.

:func:`iptables_log` writes kernel LOG lines (nf_log_syslog.c's layout, as in tests/data/iptables and
psad's own test captures) of a busy gateway with UFW: late replies, DNS and SSDP replies, one-to-three
port probes from many internet hosts, UFW ALLOW lines, with nmap-like SYN, FIN, NULL and XMAS scans,
a port-22 sweep over 300 hosts and a slow scan in them. UFW rate-limits logging (``limit 3/min burst
10`` per rule), so a real busy host logs a line every few seconds: the background is spread over
weeks rather than packed.

It returns a :class:`~tests.analyze.synthetic.GroundTruth` like :func:`~tests.analyze.synthetic.flow_table`,
whose module holds the shared pieces (ground truth, addresses, vocabulary). Same seed, same data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tests.analyze.synthetic import (
    DIURNAL,
    LINUX_EPHEMERAL,
    NOISE_PORTS,
    Expected,
    GroundTruth,
    _ephemeral,
    _owners,
    _public,
    _Vocab,
    _zipf,
)

__all__ = ["iptables_log"]

T0_LOG = 1_761_955_200  # 2025-11-01 00:00:00 UTC, seconds; the log spans weeks, never a new year
BOOT = T0_LOG - 3 * 86_400  # printk stamps count from here
GATEWAY = "203.0.113.1"
# chains as the LOG target writes them: interfaces, and the MAC header of packets that came in on Ethernet
CHAINS = [
    "IN=eth0 OUT= MAC=00:16:3e:5e:6c:00:00:1b:21:3a:4b:5c:08:00 ",
    "IN=eth0 OUT=eth1 MAC=00:16:3e:5e:6c:00:00:1b:21:3a:4b:5c:08:00 ",
    "IN= OUT=eth0 ",
    "IN=eth1 OUT= MAC=00:1b:21:3a:4b:5d:b8:27:eb:41:9c:02:08:00 ",
    "IN=eth1 OUT= MAC=01:00:5e:7f:ff:fa:b8:27:eb:41:9c:02:08:00 ",
]
C_INPUT, C_FORWARD, C_OUTPUT, C_LAN, C_MULTICAST = range(5)
PREFIXES = ["[UFW BLOCK] ", "[UFW ALLOW] ", "DROP ", "DROP INVALID ", "iptables-dropped: "]
FLAGS = ["SYN ", "ACK FIN ", "ACK RST ", "RST ", "ACK PSH ", "ACK ", "ACK PSH FIN ", "FIN ", "", "URG PSH FIN "]
F_SYN, F_ACK_FIN, F_ACK_RST, F_RST, F_ACK_PSH, F_ACK, F_ACK_PSH_FIN, F_FIN, F_NULL, F_XMAS = range(len(FLAGS))
P_TCP, P_UDP, P_ICMP = range(3)
SYN_OPTIONS = "OPT (020405B40402080A5F3E2A1B0000000001030307) "  # Linux: MSS, SACK, timestamps, window scale
NMAP_OPTIONS = "OPT (020405B4) "  # nmap's SYN probes carry MSS only
RESOLVERS = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "8.8.4.4", "208.67.222.222"]


class _Lines:
    """Per-line fields as numpy arrays, concatenated, sorted by time and printed at once."""

    KEYS = (
        "t",
        "prefix",
        "chain",
        "src",
        "dst",
        "proto",
        "sport",
        "dport",
        "length",
        "ttl",
        "df",
        "window",
        "flags",
        "opt",
    )

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, n: int, **values: Any) -> None:
        part = {}
        for key in self.KEYS:
            array = np.asarray(values.get(key, 0))
            part[key] = np.broadcast_to(array, (n,)) if array.ndim == 0 else array
        self.parts.append(part)

    def write(self, path: Path, vocab: _Vocab, rng: np.random.Generator) -> int:
        """Sort by time and print, 200,000 lines at a time (memory stays flat, offsets stay 32-bit)."""
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.KEYS}
        order = np.argsort(cols["t"], kind="stable")
        with path.open("wb") as out:
            for first in range(0, len(order), 200_000):
                rows = order[first : first + 200_000]
                lines = _format({k: v[rows] for k, v in cols.items()}, vocab, rng)
                offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
                    lines.offset : lines.offset + len(lines) + 1
                ]
                out.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])
        return len(order)


def _format(cols: dict[str, np.ndarray], vocab: _Vocab, rng: np.random.Generator) -> pa.Array:
    """The lines as nf_log_syslog.c prints them, behind an RFC 3164 header with a printk stamp."""
    n = len(cols["t"])

    def text(values: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(values), pa.string())

    def pick(words: list[str], index: np.ndarray) -> pa.Array:
        return pc.take(pa.array(words, pa.string()), pa.array(index.astype(np.int32)))

    def join(fields: list[Any]) -> pa.Array:
        return pc.binary_join_element_wise(*[pa.scalar(f) if isinstance(f, str) else f for f in fields], "")

    seconds = pa.array((T0_LOG + cols["t"]).astype(np.int64)).cast(pa.timestamp("s", tz="UTC"))
    uptime = cols["t"] + (T0_LOG - BOOT)
    micro = ((uptime - np.floor(uptime)) * 1e6).astype(np.int64)
    proto = cols["proto"]
    sport, dport = text(cols["sport"]), text(cols["dport"])
    flags = pick(FLAGS, cols["flags"])
    options = pick(["", SYN_OPTIONS, NMAP_OPTIONS], cols["opt"])
    tcp = join(
        [" SPT=", sport, " DPT=", dport, " WINDOW=", text(cols["window"]), " RES=0x00 ", flags, "URGP=0 ", options]
    )
    udp = join([" SPT=", sport, " DPT=", dport, " LEN=", text(cols["length"] - 20), " "])
    icmp = join([" TYPE=8 CODE=0 ID=", text(cols["window"]), " SEQ=", text(cols["sport"] % 100 + 1), " "])
    tail = pc.if_else(pa.array(proto == P_TCP), tcp, pc.if_else(pa.array(proto == P_UDP), udp, icmp))
    head = [
        pc.strftime(seconds, format="%b %e %H:%M:%S"), " fw1 kernel: [", pc.utf8_lpad(text(uptime.astype(np.int64)), 5),
        ".", pc.utf8_lpad(text(micro), 6, "0"), "] ", pick(PREFIXES, cols["prefix"]), pick(CHAINS, cols["chain"]),
        "SRC=", vocab.text(cols["src"]), " DST=", vocab.text(cols["dst"]), " LEN=", text(cols["length"]),
        " TOS=0x00 PREC=0x00 TTL=", text(cols["ttl"]), " ID=", text(rng.integers(0, 65536, n)), " ",
        pick(["", "DF "], cols["df"]), "PROTO=", pick(["TCP", "UDP", "ICMP"], proto), tail, "\n",
    ]  # fmt: skip
    return join(head)


def iptables_log(path: Path, lines: int, seed: int = 11) -> GroundTruth:
    """Write ``lines`` kernel LOG lines of a busy UFW gateway to ``path``; see the module doc."""
    rng = np.random.default_rng(seed)
    vocab = _Vocab()
    log = _Lines()
    truth: list[Expected] = []
    scans = [
        ("syn", GATEWAY, F_SYN),
        ("syn", "203.0.113.10", F_SYN),
        ("fin", "203.0.113.11", F_FIN),
        ("null", "203.0.113.11", F_NULL),
        ("xmas", "203.0.113.12", F_XMAS),
    ]
    embedded = 2 * 1100 + 3 * 1000 + 300 + 1000
    if lines < embedded + 10_000:
        raise ValueError(
            f"lines={lines} is too small: the scans alone are {embedded} lines; use >= {embedded + 10_000}"
        )
    span = max(4 * 86_400, lines * 2)  # about one line every 2 s, as UFW's rate limit allows a busy host
    taken = set(RESOLVERS)
    attackers = _public(rng, len(scans) + 2, taken)
    taken.update(attackers)
    ours = [GATEWAY] + [f"203.0.113.{d}" for d in range(2, 255)] + [f"198.51.100.{d}" for d in range(1, 255)]
    our_idx = vocab.add(ours)
    busy = our_idx[:21]  # the gateway and the servers that make outbound connections
    background = lines - embedded

    def chain_for(dst: np.ndarray) -> np.ndarray:
        return np.where(dst == our_idx[0], C_INPUT, C_FORWARD)

    def times(n: int) -> np.ndarray:
        day = rng.integers(0, span // 86_400, n) * 86_400.0
        hour = rng.choice(24, n, p=DIURNAL / DIURNAL.sum()) * 3_600.0
        return np.minimum(day + hour + rng.random(n) * 3_600.0, span - 1.0)

    weights = {"late": 0.40, "dns": 0.14, "ssdp": 0.08, "noise": 0.20, "allow": 0.12, "icmp": 0.03, "out": 0.03}
    counts = {k: int(background * w) for k, w in weights.items()}
    counts["late"] += background - sum(counts.values())

    n = counts["late"]  # replies that outlived conntrack: from service ports to our ephemeral ports
    servers = vocab.add(_public(rng, 3000, taken))
    dst = busy[rng.integers(0, len(busy), n)]
    flags = rng.choice(
        [F_ACK_FIN, F_ACK_RST, F_RST, F_ACK_PSH, F_ACK, F_ACK_PSH_FIN], n, p=[0.3, 0.15, 0.15, 0.15, 0.2, 0.05]
    )
    log.add(
        n,
        t=times(n),
        prefix=0,
        chain=chain_for(dst),
        src=servers[rng.choice(3000, n, p=_zipf(3000))],
        dst=dst,
        proto=P_TCP,
        sport=rng.choice([443, 80, 8443, 993], n, p=[0.7, 0.25, 0.03, 0.02]),
        dport=_ephemeral(rng, rng.random(n) < 0.3),
        length=np.where(flags == F_ACK_PSH, rng.integers(52, 1500, n), 52),
        ttl=rng.integers(44, 60, n),
        df=1,
        window=rng.integers(200, 65535, n),
        flags=flags,
    )
    n = counts["dns"]
    dst = busy[rng.integers(0, len(busy), n)]
    log.add(
        n,
        t=times(n),
        prefix=0,
        chain=chain_for(dst),
        src=vocab.add(RESOLVERS)[rng.integers(0, len(RESOLVERS), n)],
        dst=dst,
        proto=P_UDP,
        sport=53,
        dport=rng.integers(LINUX_EPHEMERAL[0], LINUX_EPHEMERAL[1] + 1, n),
        length=rng.integers(60, 512, n),
        ttl=rng.integers(50, 122, n),
    )
    n = counts["ssdp"]  # LAN devices: M-SEARCH replies from 1900 and NOTIFYs to the multicast group
    devices = vocab.add([f"192.168.1.{d}" for d in range(20, 60)])
    notify = rng.random(n) < 0.5
    log.add(
        n,
        t=times(n),
        prefix=0,
        chain=np.where(notify, C_MULTICAST, C_LAN),
        src=devices[rng.integers(0, 40, n)],
        dst=np.where(notify, vocab.one("239.255.255.250"), vocab.one("192.168.1.1")),
        proto=P_UDP,
        sport=1900,
        dport=np.where(notify, 1900, rng.integers(LINUX_EPHEMERAL[0], LINUX_EPHEMERAL[1] + 1, n)),
        length=rng.integers(300, 420, n),
        ttl=np.where(notify, 4, 64),
    )
    n = counts["noise"]  # internet background radiation: each source one host, one to three ports
    owner = _owners(rng, n)
    sources = vocab.add(_public(rng, int(owner[-1]) + 1, taken))
    nth = np.arange(n) - np.searchsorted(owner, owner)
    port = NOISE_PORTS[(rng.integers(0, len(NOISE_PORTS), len(sources))[owner] + nth) % len(NOISE_PORTS)]
    dst = our_idx[rng.integers(0, len(ours), len(sources))][owner]
    log.add(
        n,
        t=np.minimum(times(len(sources))[owner] + nth * 3.0, span - 1.0),
        prefix=0,
        chain=chain_for(dst),
        src=sources[owner],
        dst=dst,
        proto=P_TCP,
        sport=rng.integers(1024, 65536, len(sources))[owner],
        dport=port,
        length=np.where(owner % 3 == 0, 60, 40),
        ttl=rng.integers(40, 245, n),
        window=rng.choice([1024, 29200, 65535, 14600], n),
        flags=F_SYN,
        opt=np.where(owner % 3 == 0, 1, 0),
    )
    n = counts["allow"]
    users = vocab.add(_public(rng, 5000, taken))
    service = rng.choice(3, n, p=[0.7, 0.2, 0.1])
    dst = vocab.add(["203.0.113.10", "203.0.113.10", "203.0.113.12"])[service]
    log.add(
        n,
        t=times(n),
        prefix=1,
        chain=C_FORWARD,
        src=users[(rng.zipf(1.3, n) - 1) % 5000],
        dst=dst,
        proto=P_TCP,
        sport=_ephemeral(rng, rng.random(n) < 0.5),
        dport=np.array([443, 80, 22])[service],
        length=60,
        ttl=rng.integers(40, 120, n),
        df=1,
        window=rng.choice([64240, 65535, 29200], n),
        flags=F_SYN,
        opt=1,
    )
    n = counts["icmp"]
    pingers = vocab.add(_public(rng, n // 3 + 1, taken))
    dst = our_idx[rng.integers(0, len(ours), n)]
    log.add(
        n,
        t=times(n),
        prefix=0,
        chain=chain_for(dst),
        src=pingers[rng.integers(0, len(pingers), n)],
        dst=dst,
        proto=P_ICMP,
        sport=rng.integers(0, 1000, n),
        length=84,
        ttl=rng.integers(40, 120, n),
        window=rng.integers(0, 65536, n),
    )
    n = counts["out"]  # the gateway's own DNS-over-TLS attempts, blocked on the way out
    log.add(
        n,
        t=times(n),
        prefix=0,
        chain=C_OUTPUT,
        src=our_idx[0],
        dst=vocab.add(["8.8.8.8", "1.1.1.1"])[rng.integers(0, 2, n)],
        proto=P_TCP,
        sport=_ephemeral(rng, np.zeros(n, bool)),
        dport=853,
        length=60,
        ttl=64,
        df=1,
        window=64240,
        flags=F_SYN,
        opt=1,
    )

    for number, (style, target, flag) in enumerate(scans):  # nmap's default: the top 1000 ports, one source port
        count = 1000
        ports = rng.choice(np.arange(1, 10_001), count, replace=False)
        if style == "syn":
            ports = np.concatenate([ports, rng.choice(ports, 100, replace=False)])  # retransmissions
        t0 = float(rng.integers(86_400, span - 86_400))
        victim = vocab.one(target)
        log.add(
            len(ports),
            t=t0 + np.cumsum(rng.uniform(0.0005, 0.03, len(ports))),
            prefix=3 if style in {"fin", "null"} else (2 if number else 0),
            chain=C_INPUT if victim == our_idx[0] else C_FORWARD,
            src=vocab.one(attackers[number]),
            dst=victim,
            proto=P_TCP,
            sport=int(rng.integers(33_000, 65_000)),
            dport=ports,
            length=44 if style == "syn" else 40,
            ttl=rng.integers(37, 58, len(ports)),
            window=rng.choice([1024, 2048, 3072, 4096], len(ports)),
            flags=flag,
            opt=2 if style == "syn" else 0,
        )
        truth.append(Expected("vertical_scan", attackers[number], target))
    sweeper, slow = attackers[len(scans)], attackers[len(scans) + 1]
    hosts = rng.choice(our_idx[1:], 300, replace=False)
    t0 = float(rng.integers(86_400, span - 86_400))
    log.add(
        300,
        t=t0 + np.cumsum(rng.uniform(0.01, 1.0, 300)),
        prefix=0,
        chain=C_FORWARD,
        src=vocab.one(sweeper),
        dst=hosts,
        proto=P_TCP,
        sport=61000,
        dport=22,
        length=40,
        ttl=rng.integers(240, 256, 300),
        window=1024,
        flags=F_SYN,
    )
    truth.append(Expected("horizontal_scan", sweeper, None, 22))
    t0 = float(rng.integers(86_400, span - 2 * 86_400))
    log.add(
        1000,
        t=t0 + np.cumsum(rng.uniform(54.0, 66.0, 1000)),
        prefix=0,
        chain=C_FORWARD,
        src=vocab.one(slow),
        dst=vocab.one("203.0.113.20"),
        proto=P_TCP,
        sport=rng.integers(40_000, 65_000, 1000),
        dport=rng.choice(np.arange(1, 20_000), 1000, replace=False),
        length=44,
        ttl=rng.integers(45, 50, 1000),
        window=1024,
        flags=F_SYN,
        opt=2,
    )
    truth.append(Expected("vertical_scan", slow, "203.0.113.20"))

    written = log.write(path, vocab, rng)
    scanners = {e.src for e in truth}
    src_all = np.unique(np.concatenate([p["src"] for p in log.parts]))
    background_src = frozenset(vocab.words[i] for i in src_all) - scanners
    return GroundTruth(tuple(truth), background_src, written)

"""The pcap/pcapng source: connections as Zeek logs them, every link type, broken captures, speed's
shortcuts checked against the plain path.

Ground truth comes from Zeek itself (its btest traces and the conn.log baselines it wrote, copied to
tests/data/zeek with their SOURCE.txt) and from tshark on the same files where it is installed.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import struct
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import ParseStats, ReadContext, pcap

DATA = Path(__file__).resolve().parent.parent / "data" / "zeek"


def flows(source: Path | bytes, strict: bool = False, **options: Any) -> tuple[list[dict[str, Any]], ParseStats]:
    """Every flow of a capture (a file or its bytes), and the run's stats."""
    stats = ParseStats(strict=strict)
    data = source.read_bytes() if isinstance(source, Path) else source
    ctx = ReadContext("test.pcap", stats, batch_size=options.pop("batch_size", 1000), options=options)
    rows: list[dict[str, Any]] = []
    for batch in pcap.read(io.BytesIO(data), ctx):
        assert batch.schema.metadata[b"portscope.schema"] == b"flows/1"
        rows.extend(batch.to_pylist())
    assert stats.good == len(rows)
    return rows, stats


# --- Zeek's own conn.log for the same traces -------------------------------------------------------


def zeek_log(path: Path) -> list[dict[str, str]]:
    """Rows of a Zeek TSV log or of a zeek-cut/btest-diff-cut extract (header line of field names)."""
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line.startswith("#") or not line.strip():
            continue
        elif not fields:
            fields = line.split("\t")
        else:
            rows.append(dict(zip(fields, line.split("\t"), strict=True)))
    return rows


def same_connection(zeek: dict[str, str], ours: dict[str, Any]) -> bool:
    """Same originator, responder, protocol and ports as Zeek sees them.

    ICMP: Zeek's orig_p is the type (ours: icmp_type). Zeek has no SCTP analyzer: it logs SCTP, like
    any protocol it does not know, as ``unknown_transport`` with ports 0; portscope keeps SCTP's ports.
    """
    if (zeek["id.orig_h"], zeek["id.resp_h"]) != (ours["src_addr"], ours["dst_addr"]):
        return False
    proto = zeek.get("proto")
    if proto is None:  # a cut log: the ports it kept
        return all(
            zeek[f"id.{end}_p"] == str(ours[f"{side}_port"])
            for end, side in (("orig", "src"), ("resp", "dst"))
            if f"id.{end}_p" in zeek
        )
    if proto in ("tcp", "udp"):
        ports = (str(ours["src_port"]), str(ours["dst_port"]))
        return ours["protocol"] == proto and ports == (zeek["id.orig_p"], zeek["id.resp_p"])
    if proto == "icmp":
        return ours["protocol"] in ("icmp", "icmpv6") and str(ours["icmp_type"]) == zeek["id.orig_p"]
    return str(ours["ip_proto"]) == zeek.get("ip_proto", str(ours["ip_proto"]))


def compare(log: Path, pcap_file: Path, columns: tuple[str, ...]) -> tuple[int, list[str], list[dict[str, Any]]]:
    """Zeek's connections matched to ours: (how many agree on every column, the differences, ours unmatched)."""
    ours, stats = flows(pcap_file)
    assert stats.bad == 0, stats.examples
    left = list(ours)
    agree, differences = 0, []
    for z in zeek_log(log):
        candidates = [o for o in left if same_connection(z, o)] if "id.orig_h" in z else list(left)
        expected = {name: z[name] for name in columns}

        def got(o: dict[str, Any]) -> dict[str, str]:
            return {name: _as_zeek(name, o) for name in columns}

        best = next((o for o in candidates if got(o) == expected), candidates[0] if candidates else None)
        if best is None:
            differences.append(f"missing {z}")
            continue
        left.remove(best)
        if got(best) == expected:
            agree += 1
        else:
            differences.append(f"zeek {expected} ours {got(best)}")
    return agree, differences, left


def _as_zeek(name: str, row: dict[str, Any]) -> str:
    value = {
        "orig_pkts": row["packets_out"],
        "orig_ip_bytes": row["bytes_out"],
        "resp_pkts": row["packets_in"],
        "resp_ip_bytes": row["bytes_in"],
        "history": row["history"],
        "conn_state": row["conn_state"],
        "duration": None if not row["duration"] else f"{row['duration']:.6f}",
        "id.orig_h": row["src_addr"],
        "id.resp_h": row["dst_addr"],
        "id.orig_p": row["src_port"],
        "id.resp_p": row["dst_port"],
    }[name]
    return "-" if value is None else str(value)


FULL = ("conn_state", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "duration")
ZEEK_CASES = [
    ("wikipedia", "wikipedia.pcap", "wikipedia.conn.log", FULL),
    ("fabricpath-syn-only", "cisco-fabric-path.pcap", "cisco-fabric-path.conn.log", FULL),
    ("ftp-ipv4", "ftp-ipv4.pcap", "ftp-ipv4.conn.log", FULL),
    ("ftp-ipv6", "ftp-ipv6.pcap", "ftp-ipv6.conn.log", FULL),
    ("teredo", "teredo.pcap", "teredo.conn.log", FULL),
    ("sctp-unknown-transport", "sctp.pcap", "sctp.conn.log", FULL),
    ("http-on-22", "http-single-conn-22.pcap", "http-single-conn-22.conn.log", FULL),
    ("ssh-on-80", "ssh-on-port-80.pcap", "ssh-on-port-80.conn.log", FULL),
    ("modbus-502", "modbus-p502.pcap", "modbus-p502.conn.log", FULL),
    ("rdpeudp", "rdpeudp.pcap", "rdpeudp.conn.log", FULL),
    ("dhcp", "dhcp.pcap", "dhcp.conn.log", FULL),
    (
        "http-on-22-detect",
        "http-single-conn-22.pcap",
        "http-single-conn-22.detect.conn.cut",
        ("id.orig_h", "id.resp_h", "id.resp_p", "history"),
    ),
    (
        "mysql-on-5432",
        "mysql-on-5432.pcap",
        "mysql-on-5432.conn.cut",
        ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "history"),
    ),
    (
        "http-on-5432",
        "http-on-5432.pcap",
        "http-on-5432.conn.cut",
        ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "history"),
    ),
    ("quic-4433", "quic-4433.pcap", "quic-4433.conn.cut", ("history",)),
    ("http-query-4711", "http-query-4711.pcap", "http-query-4711.conn.cut", ("history",)),
]

# Known, explained differences from Zeek: (case, a substring of the difference) -> why. Empty today:
# every connection of every case agrees. The reasons portscope can differ from Zeek, none of them
# met by these traces, are in the module docstrings: checksums are not verified (zeek -C), content
# gaps (history G) are not tracked, analyzer-specific timers other than DNS's are not modelled.
ALLOWED: dict[tuple[str, str], str] = {}

# The DNS analyzer's 10-second session timer splits the Teredo trace's 192.168.2.16:1920 -> :53 in two
# connections; portscope models it (sources/_flow_table.py DNS_TIMEOUT), so it is not in ALLOWED.


@pytest.mark.parametrize(("name", "trace", "log", "columns"), ZEEK_CASES, ids=[c[0] for c in ZEEK_CASES])
def test_connections_agree_with_zeek(name: str, trace: str, log: str, columns: tuple[str, ...]) -> None:
    """Zeek's conn.log for its own trace: same connections (originator, responder, protocol, ports),
    conn_state, history, packets and IP bytes each way and duration, for at least 98% of them; every
    other one explained in ALLOWED."""
    agree, differences, extra = compare(DATA / log, DATA / trace, columns)
    total = agree + len(differences)
    unexplained = [d for d in differences if not any(c == name and s in d for (c, s) in ALLOWED)]
    assert not unexplained, "\n".join(unexplained)
    assert agree >= 0.98 * total
    if "id.orig_h" in zeek_log(DATA / log)[0] or columns == FULL:
        assert not extra, f"connections Zeek does not have: {extra}"


COMMUNITY_ID = ["icmp", "icmp6", "ipv6", "sctp", "tcp", "udp", "arp"]


@pytest.mark.parametrize("name", COMMUNITY_ID)
def test_connection_ids_agree_with_zeek(name: str) -> None:
    """Zeek's bifs.community_id test prints each connection's id (orig, resp, ports, protocol): the same
    connections, same direction. ICMP: Zeek's orig_p/resp_p are the type and its counterpart (request
    and reply share a connection) or the code for a one-way message."""
    lines = (DATA / f"communityid-{name}.out").read_text().splitlines()
    pattern = re.compile(r"\[orig_h=([^,]+), orig_p=(\d+)/\w+, resp_h=([^,]+), resp_p=(\d+)/\w+, proto=(\d+)")
    expected = Counter(pattern.match(line).groups() for line in lines if pattern.match(line))  # type: ignore[union-attr]
    pcap_name = "sctp.pcap" if name == "sctp" else f"communityid-{name}.pcap"
    rows, stats = flows(DATA / pcap_name)
    assert stats.bad == 0
    pairs = {8: 0, 0: 8, 13: 14, 14: 13, 128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135}
    got: Counter[tuple[str, ...]] = Counter()
    for r in rows:
        if r["icmp_type"] is not None:
            ports = (r["icmp_type"], pairs.get(r["icmp_type"], r["icmp_code"]))
        elif r["protocol"] == "sctp":
            ports = (0, 0)  # Zeek: unknown transport, no ports
        else:
            ports = (r["src_port"], r["dst_port"])
        got[(r["src_addr"], str(ports[0]), r["dst_addr"], str(ports[1]), str(r["ip_proto"]))] += 1
    assert got == expected


# --- tshark on the same files ---------------------------------------------------------------------

TSHARK = shutil.which("tshark")


def tshark_conversations(path: Path) -> dict[tuple[str, frozenset[tuple[str, int]]], int]:
    """Frames per TCP and UDP conversation, from ``tshark -q -z conv,tcp -z conv,udp``."""
    out = subprocess.run(
        [TSHARK or "tshark", "-n", "-q", "-z", "conv,tcp", "-z", "conv,udp", "-r", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    table = ""
    result: dict[tuple[str, frozenset[tuple[str, int]]], int] = {}
    for line in out.splitlines():
        if line.startswith(("TCP Conversations", "UDP Conversations")):
            table = line.split()[0].lower()
        match = re.match(r"^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+)\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(\d+)\s", line)
        if match and table:
            a, pa, b, pb, frames_ba, frames_ab, _ = match.groups()
            key = (table, frozenset({(a.strip("[]"), int(pa)), (b.strip("[]"), int(pb))}))
            result[key] = result.get(key, 0) + int(frames_ab) + int(frames_ba)
    return result


def tshark_ip_bytes(path: Path) -> dict[tuple[str, frozenset[tuple[str, int]]], int]:
    """IP bytes (total length; IPv6: payload length + 40) per TCP/UDP conversation, packet by packet."""
    fields = [
        "ip.src",
        "ipv6.src",
        "ip.dst",
        "ipv6.dst",
        "tcp.srcport",
        "tcp.dstport",
        "udp.srcport",
        "udp.dstport",
        "ip.len",
        "ipv6.plen",
    ]
    command = [TSHARK or "tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for name in fields:
        command += ["-e", name]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout
    result: dict[tuple[str, frozenset[tuple[str, int]]], int] = defaultdict(int)
    for line in out.splitlines():
        s4, s6, d4, d6, ts, td, us, ud, len4, plen6 = line.split("\t")
        proto, sp, dp = ("tcp", ts, td) if ts else ("udp", us, ud)
        if not sp:
            continue
        # the outermost headers (a Teredo packet's inner IPv6 is not TCP or UDP here)
        src, dst, size = (s4, d4, int(len4)) if s4 else (s6, d6, int(plen6) + 40)
        result[(proto, frozenset({(src, int(sp)), (dst, int(dp))}))] += size
    return dict(result)


def ours_by_conversation(rows: list[dict[str, Any]]) -> tuple[dict[Any, int], dict[Any, int]]:
    frames: dict[Any, int] = defaultdict(int)
    sizes: dict[Any, int] = defaultdict(int)
    for r in rows:
        if r["protocol"] in ("tcp", "udp"):
            key = (r["protocol"], frozenset({(r["src_addr"], r["src_port"]), (r["dst_addr"], r["dst_port"])}))
            frames[key] += r["packets_out"] + r["packets_in"]
            sizes[key] += r["bytes_out"] + r["bytes_in"]
    return dict(frames), dict(sizes)


# Not cisco-fabric-path.pcap: tshark 4's FabricPath dissector finds the frames it encapsulates
# malformed and leaves them out of its conversations, where Zeek (and portscope) count them.
TSHARK_FILES = [
    "wikipedia.pcap",
    "ftp-ipv4.pcap",
    "ftp-ipv6.pcap",
    "modbus-p502.pcap",
    "http-single-conn-22.pcap",
    "ssh-on-port-80.pcap",
    "dhcp.pcap",
    "rdpeudp.pcap",
    "mysql-on-5432.pcap",
    "quic-4433.pcap",
    "communityid-ipv6.pcap",
    "teredo.pcap",
]


# Conversations only one side sees, and why.
TSHARK_ALLOWED = {
    (
        "teredo.pcap",
        ("tcp", frozenset({("2001:0:4137:9e50:8000:f12a:b9c8:2815", 1286), ("2001:4860:0:2001::68", 80)})),
    ): "HTTP over IPv6 in Teredo on UDP port 32900: tshark decodes Teredo on its port 3544 only, Zeek's "
    "protocol detection (and portscope) on any port; Zeek's conn.log has this connection",
}


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (CI installs it)")
@pytest.mark.parametrize("trace", TSHARK_FILES)
def test_conversations_agree_with_tshark(trace: str) -> None:
    """tshark's TCP and UDP conversations: the same ones, the same frames, the same IP bytes (tshark's
    table counts frame bytes, link headers and padding included, so IP bytes come from its per-packet
    fields). tshark does not end conversations on timeouts: portscope's connections are summed per
    5-tuple first. Differences only as listed in TSHARK_ALLOWED."""
    rows, _ = flows(DATA / trace)
    frames, sizes = ours_by_conversation(rows)
    allowed = {key for (name, key) in TSHARK_ALLOWED if name == trace}
    for key in allowed:
        frames.pop(key, None)
        sizes.pop(key, None)
    assert frames == tshark_conversations(DATA / trace)
    assert sizes == tshark_ip_bytes(DATA / trace)


# --- captures built here: every link type and file variant ------------------------------------------


def records(path: Path) -> list[tuple[int, int, bytes]]:
    """(seconds, microseconds, frame) of every record of a little-endian microsecond pcap; a frame the
    snap length cut is completed with zeros (its length on the wire is what sizes are checked with)."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, cap, wire = struct.unpack_from("<IIII", data, pos)
        out.append((sec, usec, data[pos + 16 : pos + 16 + cap].ljust(wire, b"\0")))
        pos += 16 + cap
    return out


def pcap_file(
    frames: list[tuple[int, int, bytes]],
    link: int = 1,
    order: str = "<",
    nanos: bool = False,
    modified: bool = False,
    snaplen: int = 65535,
) -> bytes:
    magic = 0xA1B2CD34 if modified else (0xA1B23C4D if nanos else 0xA1B2C3D4)
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, link)]
    for sec, usec, frame in frames:
        cap = frame[:snaplen]
        out.append(struct.pack(order + "IIII", sec, usec * 1000 if nanos else usec, len(cap), len(frame)))
        if modified:
            out.append(struct.pack(order + "iHBB", 1, 0x0800, 0, 0))
        out.append(cap)
    return b"".join(out)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(order: str, kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(order + "II", kind, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def pcapng_file(
    packets: list[tuple[int, int, bytes]], interfaces: list[tuple[int, int]], order: str = "<", simple: bool = False
) -> bytes:
    """A pcapng section: one IDB per (link type, if_tsresol) and one EPB per (interface, time in that
    interface's units, frame); or, with ``simple``, SPBs (no interface, no time)."""
    out = [_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for link, resolution in interfaces:
        options = _option(order, 9, bytes([resolution])) + _option(order, 0, b"") if resolution != 6 else b""
        out.append(_block(order, 1, struct.pack(order + "HHI", link, 0, 0) + options))
    for iface, ticks, frame in packets:
        if simple:
            out.append(_block(order, 3, struct.pack(order + "I", len(frame)) + frame))
        else:
            body = struct.pack(order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
            out.append(_block(order, 6, body + frame))
    return b"".join(out)


def ethernet(ip: bytes, tags: tuple[int, ...] = ()) -> bytes:
    kind = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    head = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02"
    for tag in tags:
        head += struct.pack(">HH", tag, 7)
    return head + struct.pack(">H", kind) + ip


def ip_of(frame: bytes) -> bytes:
    assert frame[12:14] in (b"\x08\x00", b"\x86\xdd")
    return frame[14:]


def sll(ip: bytes) -> bytes:
    kind = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", kind) + ip


def sll2(ip: bytes) -> bytes:
    kind = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    return struct.pack(">HHIHBB8s", kind, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + ip


def summary(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    names = (
        "src_addr",
        "src_port",
        "dst_addr",
        "dst_port",
        "protocol",
        "icmp_type",
        "conn_state",
        "history",
        "packets_out",
        "packets_in",
        "bytes_out",
        "bytes_in",
        "initiator",
        "start",
        "duration",
        "evidence_line",
    )
    return sorted((tuple(r[n] for n in names) for r in rows), key=repr)


def expected(trace: str) -> list[tuple[Any, ...]]:
    return summary(flows(DATA / trace)[0])


def _family(ip: bytes, six: int) -> int:
    return six if ip[0] >> 4 == 6 else 2


LINK_CASES: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "ethernet-802.1q": (1, lambda ip: ethernet(ip, (0x8100,))),
    "ethernet-qinq": (1, lambda ip: ethernet(ip, (0x88A8, 0x8100))),
    "linux-sll": (113, sll),
    "linux-sll2": (276, sll2),
    "raw-101": (101, lambda ip: ip),
    "raw-12": (12, lambda ip: ip),
    "raw-14": (14, lambda ip: ip),
    "null-little-endian": (0, lambda ip: struct.pack("<I", _family(ip, 10)) + ip),
    "null-big-endian": (0, lambda ip: struct.pack(">I", _family(ip, 24)) + ip),
    "null-freebsd-ipv6": (0, lambda ip: struct.pack("<I", _family(ip, 28)) + ip),
    "null-darwin-ipv6": (0, lambda ip: struct.pack(">I", _family(ip, 30)) + ip),
    "loop": (108, lambda ip: struct.pack(">I", _family(ip, 24)) + ip),
}


@pytest.mark.parametrize(
    "trace", ["communityid-tcp.pcap", "communityid-ipv6.pcap", "communityid-icmp6.pcap", "ftp-ipv4.pcap"]
)
@pytest.mark.parametrize("case", sorted(LINK_CASES))
def test_link_types(case: str, trace: str) -> None:
    """The same IP packets under every link layer give the same connections as under Ethernet."""
    link, wrap = LINK_CASES[case]
    frames = [(s, u, wrap(ip_of(f))) for s, u, f in records(DATA / trace)]
    if link in (228, 229):
        frames = [(s, u, f) for s, u, f in frames if (f[0] >> 4 == 6) == (link == 229)]
    rows, stats = flows(pcap_file(frames, link))
    assert stats.bad == 0
    assert summary(rows) == expected(trace)


@pytest.mark.parametrize(("trace", "link"), [("communityid-tcp.pcap", 228), ("communityid-ipv6.pcap", 229)])
def test_ipv4_and_ipv6_link_types(trace: str, link: int) -> None:
    frames = [(s, u, ip_of(f)) for s, u, f in records(DATA / trace)]
    assert summary(flows(pcap_file(frames, link))[0]) == expected(trace)


@pytest.mark.parametrize(
    "variant", [{"order": ">"}, {"nanos": True}, {"order": ">", "nanos": True}, {"modified": True}, {"snaplen": 128}]
)
def test_pcap_variants(variant: dict[str, Any]) -> None:
    """Big-endian, nanosecond, Kuznetzov's modified pcap, and a snap length that keeps the headers:
    the flows of the original (sizes come from the IP header, not from what was captured)."""
    frames = records(DATA / "wikipedia.pcap")
    assert summary(flows(pcap_file(frames, 1, **variant))[0]) == expected("wikipedia.pcap")


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_two_interfaces(order: str) -> None:
    """pcapng with two interfaces: Ethernet in microseconds and raw IP in nanoseconds (if_tsresol 9),
    packets alternating between them: the same connections."""
    packets = []
    for k, (sec, usec, frame) in enumerate(records(DATA / "ftp-ipv4.pcap")):
        micros = sec * 1_000_000 + usec
        packets.append((0, micros, frame) if k % 2 else (1, micros * 1000, ip_of(frame)))
    data = pcapng_file(packets, [(1, 6), (101, 9)], order)
    rows, stats = flows(data)
    assert stats.bad == 0
    assert summary(rows) == expected("ftp-ipv4.pcap")


def test_pcapng_binary_resolution_and_simple_packets() -> None:
    """if_tsresol with the top bit set counts 2^-n seconds; Simple Packet Blocks have no time at all
    (they take the previous packet's) but count as packets."""
    frames = records(DATA / "communityid-tcp.pcap")
    ticks = [((s * 1_000_000 + u) << 20) // 1_000_000 for s, u, _ in frames]
    rows, _ = flows(pcapng_file([(0, t, f) for t, (_, _, f) in zip(ticks, frames, strict=True)], [(1, 0x80 | 20)]))
    assert [r["start"].timestamp() for r in rows] == pytest.approx(
        [f[0][0] + f[0][1] / 1e6 for f in [frames]], abs=2e-6
    )
    rows, stats = flows(pcapng_file([(0, 0, f) for _, _, f in frames], [(1, 6)], simple=True))
    assert stats.bad == 0
    assert sum(r["packets_out"] + r["packets_in"] for r in rows) == len(frames)


def test_pcapng_sections_offsets_and_old_packet_blocks() -> None:
    """Two sections of opposite byte orders back to back (as ``cat a.pcapng b.pcapng`` makes), an
    interface with if_tsoffset (seconds added to its timestamps) and obsolete Packet Blocks (type 2)."""
    frames = records(DATA / "communityid-tcp.pcap")
    first = pcapng_file([(0, s * 1_000_000 + u, f) for s, u, f in frames[:6]], [(1, 6)], "<")
    later = [(0, s * 1_000_000 + u, f) for s, u, f in frames[6:]]
    second = pcapng_file(later, [(1, 6)], ">")
    rows, stats = flows(first + second)
    assert stats.bad == 0
    assert summary(rows) == expected("communityid-tcp.pcap")
    order = "<"
    shb = _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = _block(order, 1, struct.pack(order + "HHI", 1, 0, 0) + _option(order, 14, struct.pack(order + "q", 3600)))
    blocks = b""
    for s, u, f in frames:  # Packet Block: 16-bit interface id, 16-bit drop count, then as an EPB
        ticks = (s - 3600) * 1_000_000 + u
        body = struct.pack(order + "HHIIII", 0, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(f), len(f)) + f
        blocks += _block(order, 2, body)
    rows, stats = flows(shb + idb + blocks)
    assert stats.bad == 0
    assert summary(rows) == expected("communityid-tcp.pcap")


@pytest.mark.parametrize("trace", ["wikipedia.pcap", "teredo.pcap", "ftp-ipv6.pcap", "modbus-p502.pcap"])
def test_small_chunks_and_batches_change_nothing(trace: str) -> None:
    """State carried between read blocks (records cut at a block's end) and between flow batches (the
    active-connection table) gives exactly what one pass gives."""
    one = summary(flows(DATA / trace)[0])
    for seed in (1, 2, 3, 2**64 - 1):  # the keyed hash decides the order groups are sorted in
        many = flows(DATA / trace, pcap_chunk_bytes=4096, pcap_flow_batch=7, batch_size=3, pcap_hash_seed=seed)[0]
        assert summary(many) == one


def test_grouping_survives_hash_prefix_collisions() -> None:
    """Groups are sorted on the upper 44 bits of their hash: two hashes sharing those fall back to a
    full sort, still in capture order within each group."""
    import numpy as np

    from portscope.sources._flow_table import _group

    h = np.array([5 << 20 | 1, 5 << 20 | 2, 5 << 20 | 1, 7 << 20, 5 << 20 | 2], dtype=np.uint64)
    perm, starts = _group(h, np.array([10, 11, 12, 13, 14]))
    assert perm.tolist() == [0, 2, 1, 4, 3]
    assert starts.tolist() == [0, 2, 4]


# --- broken captures ------------------------------------------------------------------------------


def test_truncated_capture_keeps_the_good_packets() -> None:
    """A capture cut in the middle of its last record: every whole packet counted, the cut one
    rejected as a truncated record, no exception (also under a tiny read block)."""
    data = (DATA / "wikipedia.pcap").read_bytes()
    whole = pcap_file(records(DATA / "wikipedia.pcap")[:-1])
    for chunk_bytes in (1 << 24, 4096):
        rows, stats = flows(data[:-10], pcap_chunk_bytes=chunk_bytes)
        assert summary(rows) == summary(flows(whole)[0])
        assert stats.kinds == Counter({"truncated record": 1})
    with pytest.raises(DataError, match="truncated record"):
        flows(data[:-10], strict=True)


def test_garbage_after_the_header() -> None:
    header = (DATA / "wikipedia.pcap").read_bytes()[:24]
    rows, stats = flows(header + bytes(range(256)) * 40)
    assert rows == []
    assert stats.bad >= 1
    with pytest.raises(DataError):
        flows(header + bytes(range(256)) * 40, strict=True)


def test_corrupt_record_header_resynchronises() -> None:
    """A record header with an impossible length: one bad record naming its byte offset, every record
    before it kept, then reading resumes at the next plausible header; the packets after it are all there."""
    frames = records(DATA / "ftp-ipv4.pcap")
    data = bytearray(pcap_file(frames))
    pos = 24
    for _, _, frame in frames[:40]:
        pos += 16 + len(frame)
    struct.pack_into("<I", data, pos + 8, 0x7FFFFFF0)
    rows, stats = flows(bytes(data))
    assert stats.kinds == Counter({"corrupt record header": 1})
    assert stats.examples == [
        f"test.pcap:41: corrupt record header: at byte {pos}: captured length 2147483632, wire length "
        f"{len(frames[40][2])}: the records after it are out of step"
    ]
    assert sum(r["packets_out"] + r["packets_in"] for r in rows) == len(frames) - 1


def test_resynchronisation_is_not_fooled_by_packet_bytes() -> None:
    """Every record of every Zeek trace given an impossible captured length in turn (1,019 cases): the
    resynchronisation finds the record after it, not bytes of the packet that look like a header (a real
    header read a byte early, a run of zeros): every other record is found, with its number and time,
    none is made up, and the file is never called truncated. Before: 4,102 records lost, 7,127 made
    up of packet bytes, 146 files reported truncated."""
    lost, made_up, truncated = 0, 0, 0
    for trace in sorted(DATA.glob("*.pcap")):
        original = trace.read_bytes()
        every, _ = record_times(original)
        for index, pos in enumerate(_record_starts(original)):
            data = bytearray(original)
            struct.pack_into("<I", data, pos + 8, 0x7FFFFFF0)
            found, stats = record_times(bytes(data))
            expected = set(every) - {every[index]}
            lost += len(expected - set(found))
            made_up += len(set(found) - expected)
            truncated += "truncated record" in stats.kinds
    assert (lost, made_up, truncated) == (0, 0, 0)


def _record_starts(data: bytes) -> list[int]:
    pos, starts = 24, []
    while pos + 16 <= len(data):
        starts.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return starts


DAMAGED = DATA.parent / "pcap_damaged"
# fixture -> (original in tests/data/zeek, byte offset of the change, original value, new value)
DAMAGE = {
    "usec-1000000.pcap": ("modbus-p502.pcap", 1453 + 4, 997_992, 1_000_000),
    "usec-1000000-first-record.pcap": ("http-single-conn-22.pcap", 24 + 4, 0, 1_000_000),
    "snaplen-64.pcap": ("ftp-ipv4.pcap", 16, 65535, 64),
}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_damaged_fixtures_are_their_originals_with_one_change(name: str) -> None:
    """What tests/data/pcap_damaged/SOURCE.txt says: the Zeek trace with one 32-bit field changed."""
    original, at, before, after = DAMAGE[name]
    data = bytearray((DATA / original).read_bytes())
    assert struct.unpack_from("<I", data, at)[0] == before
    struct.pack_into("<I", data, at, after)
    assert (DAMAGED / name).read_bytes() == bytes(data)


def tshark_times(path: Path) -> list[tuple[int, int]]:
    """(frame number, microseconds since the epoch) of every frame as tshark reads the file. tshark
    prints a fraction of 1,000,000 us as ``<sec>.1000000000``: that is one second on."""
    out = subprocess.run(
        [TSHARK or "tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    times = []
    for line in out.splitlines():
        number, epoch = line.split("\t")
        seconds, nanos = epoch.split(".")
        times.append((int(number), int(seconds) * 1_000_000 + int(nanos) // 1000))
    return times


def record_times(source: Path | bytes) -> tuple[list[tuple[int, int]], ParseStats]:
    """(packet number, microseconds) of every record portscope's record walk finds, and its bad records."""
    from portscope.sources._pcap_records import read_records

    stats = ParseStats()
    data = source.read_bytes() if isinstance(source, Path) else source
    found = []
    for chunk in read_records(io.BytesIO(data[64:]), data[:64], lambda n, k, d: stats.reject("t", n, k, d)):
        found.extend(zip(chunk.number.tolist(), chunk.ts_us.tolist(), strict=True))
    return found, stats


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (CI installs it)")
@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_damaged_captures_read_as_tshark_reads_them(name: str) -> None:
    """A record whose ts_usec is exactly 1,000,000 (a writer's rounding bug) is read as the next second,
    and a file whose snaplen is smaller than its records' captured lengths is read whole: every frame
    with tshark's number and time, no bad record, and the connections tshark sees. Before, the reader
    took the usec record for a corrupt header and lost step: 0 of 28 and 18 of 86 packets, and the
    file reported truncated."""
    path = DAMAGED / name
    times, stats = record_times(path)
    assert (stats.bad, times) == (0, tshark_times(path))
    rows, stats = flows(path)
    assert stats.bad == 0
    assert ours_by_conversation(rows)[0] == tshark_conversations(path)


def test_usec_of_a_whole_second_is_the_next_second() -> None:
    """The record's time carries into the seconds (microsecond and nanosecond files), and the lockstep
    walk of large chunks keeps the records of a chunk holding such a record (it used to fall back)."""
    frames = records(DATA / "ftp-ipv4.pcap")
    odd = [(sec, 1_000_000 if i == 30 else usec, frame) for i, (sec, usec, frame) in enumerate(frames)]
    for nanos in (False, True):
        data = pcap_file(odd * 200, nanos=nanos)
        path_times = []
        for chunk in _read_all(data):
            path_times.extend(chunk)
        assert len(path_times) == len(frames) * 200
        assert path_times[30] == (frames[30][0] + 1) * 1_000_000


def _read_all(data: bytes) -> list[list[int]]:
    from portscope.sources._pcap_records import read_records

    rejected: list[str] = []
    chunks = [
        chunk.ts_us.tolist()
        for chunk in read_records(io.BytesIO(data[64:]), data[:64], lambda n, k, d: rejected.append(k), 1 << 22)
    ]
    assert rejected == []
    return chunks


def test_records_longer_than_the_largest_snap_length_are_read_when_consistent() -> None:
    """A 300,000-byte record (above the 262,144 bytes any capture tool writes) followed by a plausible
    header is read, and so are the records after it; one whose wire length is smaller than its captured
    length is not (the length is corrupt): a bad record, and reading resumes after it."""
    frames = records(DATA / "communityid-tcp.pcap")
    big = [*frames[:5], (frames[5][0], frames[5][1], frames[5][2] + bytes(300_000)), *frames[6:]]
    data = bytearray(pcap_file(big, snaplen=1 << 20))
    struct.pack_into("<I", data, 16, 65535)  # the snap length the header claims
    rows, stats = flows(bytes(data))
    assert stats.bad == 0
    assert summary(rows) == summary(flows(pcap_file(frames))[0])
    at = 24 + sum(16 + len(f) for _, _, f in big[:5])
    struct.pack_into("<I", data, at + 12, 60)  # the wire length of the big record
    rows, stats = flows(bytes(data))
    assert stats.kinds == Counter({"corrupt record header": 1})
    assert sum(r["packets_out"] + r["packets_in"] for r in rows) == len(frames) - 1


def test_unknown_link_type_and_short_packets() -> None:
    """Packets of a link type portscope does not decode are each rejected; so is a packet whose TCP
    header the snap length cut (Zeek drops it: truncated_header); nothing raises."""
    frames = records(DATA / "communityid-tcp.pcap")
    rows, stats = flows(pcap_file(frames, link=147))
    assert rows == []
    assert stats.kinds == Counter({"unknown link type": len(frames)})
    rows, stats = flows(pcap_file(frames, snaplen=40))
    assert rows == []
    assert stats.kinds == Counter({"truncated packet": len(frames)})


def test_pcapng_bad_block_length() -> None:
    """A pcapng block's length is written at both ends: with one copy bad, reading finds the next block
    (at the trailing length's distance, or where the leading length says) and reports one corrupt
    block; with both bad, what came before is kept and the rest is lost."""
    frames = records(DATA / "communityid-tcp.pcap")
    packets = [(0, s * 1_000_000 + u, f) for s, u, f in frames]
    data = bytearray(pcapng_file(packets, [(1, 6)]))
    at = len(pcapng_file(packets[:9], [(1, 6)]))  # the 10th packet's block
    length = struct.unpack_from("<I", data, at + 4)[0]
    for where in (at + 4, at + length - 4):  # the leading copy, then the trailing one
        damaged = bytearray(data)
        struct.pack_into("<I", damaged, where, 5)
        rows, stats = flows(bytes(damaged))
        assert stats.kinds == Counter({"corrupt block": 1})
        assert stats.examples[0].startswith(f"test.pcap:10: corrupt block: at byte {at}: ")
        assert sum(r["packets_out"] + r["packets_in"] for r in rows) == len(frames) - 1
    struct.pack_into("<I", data, at + 4, 5)
    struct.pack_into("<I", data, at + length - 4, 7)
    rows, stats = flows(bytes(data))
    assert stats.kinds == Counter({"corrupt block": 1})
    assert sum(r["packets_out"] + r["packets_in"] for r in rows) == 9


def test_not_a_capture() -> None:
    assert pcap.sniff(b"#separator \\x09\n", "x") == 0
    assert pcap.sniff((DATA / "wikipedia.pcap").read_bytes()[:64], "x") == 100
    assert pcap.sniff(pcapng_file([], [(1, 6)]), "x") == 100
    rows, stats = flows(b"")
    assert rows == []
    assert stats.bad == 1


FUZZ_SEEDS = [(DATA / name).read_bytes() for name in ("communityid-tcp.pcap", "communityid-icmp6.pcap", "dhcp.pcap")]
FUZZ_SEEDS.append(pcapng_file([(0, s * 10**6 + u, f) for s, u, f in records(DATA / "communityid-udp.pcap")], [(1, 6)]))


def _survives(data: bytes) -> None:
    """Non-strict: no exception at all. Strict: nothing but DataError."""
    flows(data)
    flows(data, pcap_chunk_bytes=512, pcap_flow_batch=3)
    with contextlib.suppress(DataError):
        flows(data, strict=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=3000),
    st.sampled_from([0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D]),
    st.sampled_from([1, 0, 113, 276, 101]),
)
def test_fuzz_random_bytes_after_a_header(body: bytes, magic: int, link: int) -> None:
    _survives(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, link) + body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(FUZZ_SEEDS))),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=12),
    st.integers(0, 10**6),
)
# A fragment whose TCP header was cut short: its packet was dropped, its fragment fields were not (IndexError)
@example(seed=0, changes=[(1380, 0), (86212, 1)], cut=0)
def test_fuzz_mutated_captures(seed: int, changes: list[tuple[int, int]], cut: int) -> None:
    """Random bytes changed in real captures (pcap and pcapng), and random truncation."""
    data = bytearray(FUZZ_SEEDS[seed])
    for where, value in changes:
        data[where % len(data)] = value
    _survives(bytes(data[: max(24, len(data) - cut % len(data))]))


# --- connection boundaries, fragments, letters: small captures written here -------------------------

A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int = 1, frag: int = 0x4000) -> bytes:
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, src, dst) + payload


def tcp_packet(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    data: bytes = b"",
    window: int = 65535,
) -> bytes:
    return ipv4(src, dst, 6, struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, window, 0, 0) + data)


def udp_packet(src: bytes, dst: bytes, sport: int, dport: int, data: bytes) -> bytes:
    return ipv4(src, dst, 17, struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data)


def capture(timed: list[tuple[float, bytes]]) -> bytes:
    return pcap_file([(1_700_000_000 + int(t), round((t % 1) * 1e6), ethernet(ip)) for t, ip in timed])


def handshake(t: float, sport: int = 40000, seq: int = 1000) -> list[tuple[float, bytes]]:
    return [
        (t, tcp_packet(A, B, sport, 80, seq, 0, SYN)),
        (t + 0.01, tcp_packet(B, A, 80, sport, 5000, seq + 1, SYN | ACK)),
        (t + 0.02, tcp_packet(A, B, sport, 80, seq + 1, 5001, ACK)),
    ]


def close(t: float, sport: int = 40000, seq: int = 1001) -> list[tuple[float, bytes]]:
    return [
        (t, tcp_packet(A, B, sport, 80, seq, 5001, FIN | ACK)),
        (t + 0.01, tcp_packet(B, A, 80, sport, 5001, seq + 1, FIN | ACK)),
        (t + 0.02, tcp_packet(A, B, sport, 80, seq + 1, 5002, ACK)),
    ]


def shape(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["conn_state"], r["history"], r["packets_out"], r["packets_in"]) for r in rows]


def test_udp_inactivity_timeout() -> None:
    """udp_inactivity_timeout is a minute: 61 s of silence ends the flow, 59 s does not. On DNS's
    ports Zeek's DNS analyzer ends a session after 10 s."""

    def flow(gap: float, port: int) -> list[tuple[Any, ...]]:
        packets = [
            (0.0, udp_packet(A, B, 5000, port, b"q")),
            (0.5, udp_packet(B, A, port, 5000, b"r")),
            (gap, udp_packet(A, B, 5000, port, b"q")),
        ]
        return shape(flows(capture(packets))[0])

    assert flow(61, 4444) == [("SF", "Dd", 1, 1), ("S0", "D", 1, 0)]
    assert flow(59, 4444) == [("SF", "Dd", 2, 1)]
    assert flow(11, 53) == [("SF", "Dd", 1, 1), ("S0", "D", 1, 0)]
    assert flow(9, 53) == [("SF", "Dd", 2, 1)]


def test_tcp_timers() -> None:
    """An unanswered SYN is given up after tcp_attempt_delay (5 s): its retransmission 9 s later opens
    a new connection. A closed connection is removed tcp_close_delay (5 s) after: a late ACK after that
    is a connection of its own. An established one lasts 5 minutes of silence (tcp_inactivity_timeout)."""
    syns = [
        (0.0, tcp_packet(A, B, 40000, 80, 1000, 0, SYN)),
        (3.0, tcp_packet(A, B, 40000, 80, 1000, 0, SYN)),
        (9.0, tcp_packet(A, B, 40000, 80, 1000, 0, SYN)),
    ]
    assert shape(flows(capture(syns))[0]) == [("S0", "S", 2, 0), ("S0", "S", 1, 0)]
    late = [*handshake(0), *close(1), (8.0, tcp_packet(A, B, 40000, 80, 1002, 5002, ACK))]
    assert shape(flows(capture(late))[0]) == [("SF", "ShAFf", 4, 2), ("OTH", "A", 1, 0)]
    early = [*handshake(0), *close(1), (4.0, tcp_packet(A, B, 40000, 80, 1002, 5002, ACK))]
    assert shape(flows(capture(early))[0]) == [("SF", "ShAFf", 5, 2)]
    idle = [*handshake(0), (301.5, tcp_packet(A, B, 40000, 80, 1001, 5001, ACK | PSH, b"x"))]
    assert shape(flows(capture(idle))[0]) == [("S1", "ShA", 2, 1), ("OTH", "D", 1, 0)]
    busy = [*handshake(0), (299.5, tcp_packet(A, B, 40000, 80, 1001, 5001, ACK | PSH, b"x"))]
    assert shape(flows(capture(busy))[0]) == [("S1", "ShAD", 3, 1)]


def test_tcp_states() -> None:
    """conn_state from Zeek's endpoint states: REJ, RSTO, RSTOS0, SH, mid-stream OTH flipped to the
    likely server port, and a new SYN on a closed connection (a reused 5-tuple)."""
    rej = [(0.0, tcp_packet(A, B, 40000, 80, 1000, 0, SYN)), (0.1, tcp_packet(B, A, 80, 40000, 0, 1001, RST | ACK))]
    assert shape(flows(capture(rej))[0]) == [("REJ", "Sr", 1, 1)]
    rsto = [*handshake(0), (1.0, tcp_packet(A, B, 40000, 80, 1001, 5001, RST))]
    assert shape(flows(capture(rsto))[0]) == [("RSTO", "ShAR", 3, 1)]
    rstos0 = [(0.0, tcp_packet(A, B, 40000, 80, 1000, 0, SYN)), (0.1, tcp_packet(A, B, 40000, 80, 1001, 0, RST))]
    assert shape(flows(capture(rstos0))[0]) == [("RSTOS0", "SR", 2, 0)]
    sh = [(0.0, tcp_packet(A, B, 40000, 80, 1000, 0, SYN)), (0.1, tcp_packet(A, B, 40000, 80, 1001, 0, FIN))]
    assert shape(flows(capture(sh))[0]) == [("SH", "SF", 2, 0)]
    mid = [
        (0.0, tcp_packet(B, A, 80, 40000, 5000, 1000, ACK | PSH, b"hi")),
        (0.1, tcp_packet(A, B, 40000, 80, 1000, 5002, ACK)),
    ]
    rows = flows(capture(mid))[0]
    assert shape(rows) == [("OTH", "^dA", 1, 1)]
    assert (rows[0]["src_port"], rows[0]["dst_port"], rows[0]["initiator"]) == (40000, 80, "inferred")
    reuse = [*handshake(0), *close(1), *handshake(2, seq=9000)]
    assert shape(flows(capture(reuse))[0]) == [("SF", "ShAFf", 4, 2), ("S1", "ShA", 2, 1)]
    assert flows(capture(reuse))[0][0]["initiator"] == "observed"


def test_retransmission_and_zero_window_letters() -> None:
    """T: payload at or below what the side already sent (update_last_seq); W/w: a zero window."""
    packets = [
        *handshake(0),
        (1.0, tcp_packet(A, B, 40000, 80, 1001, 5001, ACK | PSH, b"abcd")),
        (1.1, tcp_packet(A, B, 40000, 80, 1001, 5001, ACK | PSH, b"abcd")),
        (1.2, tcp_packet(B, A, 80, 40000, 5001, 1005, ACK, window=0)),
    ]
    assert shape(flows(capture(packets))[0]) == [("S1", "ShADTaw", 4, 2)]


def test_fragments_count_as_one_packet() -> None:
    """A fragmented datagram is one packet of its flow, the size of the reassembled datagram (Zeek
    reassembles before analysing), whatever order its fragments come in; fragments without their
    first one (no ports) form a port-less flow."""
    data = struct.pack(">HHHH", 5000, 4444, 8 + 2992, 0) + bytes(2992)
    pieces = [(0, data[:1480], 0x2000), (1480, data[1480:2960], 0x2000 | 185), (2960, data[2960:], 370)]
    fragments = [ipv4(A, B, 17, body, ident=77, frag=frag) for _, body, frag in pieces]
    for order in ([0, 1, 2], [2, 0, 1]):
        rows, stats = flows(capture([(0.1 * k, fragments[i]) for k, i in enumerate(order)]))
        assert stats.bad == 0
        assert [(r["src_port"], r["dst_port"], r["packets_out"], r["bytes_out"]) for r in rows] == [
            (5000, 4444, 1, 3020)
        ]
    rows, _ = flows(capture([(0.0, fragments[1]), (0.1, fragments[2])]))
    assert [(r["protocol"], r["src_port"], r["packets_out"], r["bytes_out"]) for r in rows] == [
        ("udp", None, 2, 1500 + 60)
    ]


def test_icmp_echo_and_one_way() -> None:
    """ICMP: type and code in icmp_type/icmp_code, never ports; request and reply are one flow."""
    echo = [
        (0.0, ipv4(A, B, 1, bytes([8, 0, 0, 0, 0, 1, 0, 1]))),
        (0.1, ipv4(B, A, 1, bytes([0, 0, 0, 0, 0, 1, 0, 1]))),
        (0.2, ipv4(B, A, 1, bytes([3, 3, 0, 0, 0, 0, 0, 0]) + bytes(28))),
    ]
    rows = flows(capture(echo))[0]
    assert [
        (
            r["src_addr"],
            r["icmp_type"],
            r["icmp_code"],
            r["src_port"],
            r["packets_out"],
            r["packets_in"],
            r["initiator"],
        )
        for r in rows
    ] == [("10.0.0.1", 8, 0, None, 1, 1, "observed"), ("10.0.0.2", 3, 3, None, 1, 0, "observed")]


# --- a generated capture of many interleaved connections ---------------------------------------------


@pytest.mark.slow
def test_generated_capture(tmp_path: Path) -> None:
    """The benchmark's generator (benchmarks/_pcap_gen.py), 200,000 packets of ~10,000 interleaved
    connections: every one found with its packets and IP bytes each way, SF and Zeek's history; the
    lockstep record walk (blocks of 2 MiB) and a hash seed of all ones change nothing; and tshark's TCP
    conversations agree where it is installed."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from _pcap_gen import generate

    path = tmp_path / "generated.pcap"
    truth = generate(str(path), 200_000, tcp_flows=8_000)
    rows, stats = flows(path, batch_size=65536)
    assert stats.bad == 0
    assert len(rows) == truth.proto.size
    got = Counter((r["protocol"], r["conn_state"], r["history"], r["initiator"]) for r in rows)
    tcp = int((truth.proto == 6).sum())
    assert got == Counter(
        {("tcp", "SF", "ShADdfFa", "observed"): tcp, ("udp", "SF", "Dd", "inferred"): len(rows) - tcp}
    )
    assert sorted(r["packets_out"] for r in rows) == sorted(truth.orig_pkts.tolist())
    assert sorted(r["bytes_in"] for r in rows) == sorted(truth.resp_bytes.tolist())
    assert sum(r["packets_out"] + r["packets_in"] for r in rows) == 200_000
    again = flows(path, batch_size=65536, pcap_chunk_bytes=2 << 20, pcap_hash_seed=2**64 - 1)[0]
    assert summary(again) == summary(rows)
    from portscope.sources import read_flows  # the file itself, mapped rather than read

    mapped = [row for batch in read_flows([str(path)], format="pcap") for row in batch.to_pylist()]
    assert summary(mapped) == summary(rows)
    if TSHARK:
        frames, _ = ours_by_conversation(rows)
        assert {k: v for k, v in frames.items() if k[0] == "tcp"} == {
            k: v for k, v in tshark_conversations(path).items() if k[0] == "tcp"
        }


# --- the shared data these copies come from -------------------------------------------------------

COPIES = {
    "wikipedia.pcap": "wikipedia-mixed/pcaps/wikipedia.pcap",
    "wikipedia.conn.log": "wikipedia-mixed/baselines/opt.basic/conn.log",
    "teredo.pcap": "teredo-ipv6-in-udp/pcaps/tunnels/Teredo.pcap",
    "teredo.conn.log": "teredo-ipv6-in-udp/baselines/core.tunnels.teredo/conn.log",
    "cisco-fabric-path.conn.log": "syn-only-many-sources-fabricpath/baselines/core.cisco-fabric-path/conn.log",
    "modbus-p502.pcap": "service-on-nonstandard-port/pcaps/modbus/modbus-and-non-modbus-p502.pcap",
    "sctp.pcap": "communityid/pcaps/communityid/sctp.pcap",
}


def test_copies_are_the_shared_originals(shared_data: Path) -> None:
    """tests/data/zeek holds unchanged copies of ../shared/data/zeek (see its SOURCE.txt)."""
    for local, shared in COPIES.items():
        assert (DATA / local).read_bytes() == (shared_data / "zeek" / shared).read_bytes(), local


def test_quic_trace_from_shared_data(shared_data: Path) -> None:
    """A 434 KB QUIC trace (not copied): Zeek's history for its one connection, Dd."""
    case = shared_data / "zeek" / "udp-services"
    agree, differences, extra = compare(
        case / "baselines/scripts.base.protocols.quic.run-pcap/conn.log.cut",
        case / "pcaps/quic/quic_win11_firefox_google.pcap",
        ("history",),
    )
    assert (agree, differences, extra) == (1, [], [])

"""Packet captures (pcap, pcapng) into flows: one row per connection, as Zeek's conn.log would log it.

A row is a bidirectional connection keyed by its 5-tuple, with Zeek's semantics (checked against
Zeek's own conn.log baselines in tests/sources/test_pcap.py):

- ``src`` is the originator. With a handshake (the first packet a SYN without ACK) it is the SYN's
  sender and ``initiator`` is ``observed``. Otherwise (caught mid-stream, SYN-ACK first, UDP) the
  first packet's sender, flipped when its port is a likely server port and the other is not, as
  Zeek's ``WantConnection`` does; ``initiator`` is then ``inferred`` (history starts with ``^`` when
  flipped). ICMP: a request's (or one-way message's) sender is ``observed``; SCTP: an INIT's.
- ``conn_state`` and ``history`` follow Zeek (S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH,
  SHR, OTH; letters S H A D F R I Q T W ^, upper case for the originator).
- Packets and IP bytes per direction (``bytes_out`` is Zeek's orig_ip_bytes); ``start`` is the first
  packet, ``end`` Zeek's last time (packets after both sides closed do not move it), ``duration`` the
  difference.
- Connections end where Zeek would remove them: inactivity (TCP 5 min, 1 min until established; UDP,
  ICMP and other protocols 1 min; 10 s for DNS's session timer), 5 s after a close or reset, 5 s
  after an unanswered SYN, a reused 5-tuple. ``evidence_line`` is the packet number (1-based) of the
  connection's first packet; ``action`` is ``unknown`` (a capture does not say what a firewall did).
- A fragmented datagram counts once, reassembled, as in Zeek; fragments whose first piece is missing
  are port-less packets of their protocol (see :mod:`._pcap_layers`). IPv6 in UDP (Teredo) is
  decapsulated as Zeek does: the outer UDP flow and the inner connections are both reported.

Not done: checksums are not verified (as ``zeek -C``); other tunnels (GRE, VXLAN, IP in IP...) are
reported as their outer flows. Speed comes from numpy throughout; benchmarks/bench_pcap.py measures
a million packets (770 MB) against tshark, tcpdump and cat.

Layout: :mod:`._pcap_records` and :mod:`._pcapng` find the records, :mod:`._pcap_layers` decodes
them into packets, :mod:`._flow_table` groups packets into connections with :mod:`._tcp_flows` and
:mod:`._zeek_tcp` for TCP's states and history; this module reads and writes batches.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from portscope.sources._ip_protocols import protocol_name
from portscope.sources._pcap_records import PCAP_MAGICS, PCAPNG_MAGIC, read_records

if TYPE_CHECKING:
    from portscope.sources import ReadContext

__all__ = ["DESCRIPTION", "NAME", "read", "sniff"]

NAME = "pcap"
DESCRIPTION = "pcap and pcapng packet captures (Ethernet, VLAN, Linux SLL/SLL2, raw IP, BSD loopback)"

_FLOW_BATCH = 1 << 16  # packets grouped into connections at a time (memory: ~1 KB each)
_UDP_STATES = ("OTH", "S0", "SHR", "SF")  # by (originator active, responder active), conn/main.zeek


def sniff(head: bytes, label: str) -> int:
    """A pcap or pcapng magic number at the start: certain."""
    if head[:4] == PCAPNG_MAGIC and len(head) >= 12 and head[8:12] in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
        return 100
    if len(head) >= 4 and int.from_bytes(head[:4], "little") in PCAP_MAGICS:
        return 100
    return 0


class _Rejects:
    """Bad records go to the run's stats one by one, but only the first few as examples (a file with an
    unknown link type has one bad record per packet)."""

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx

    def one(self, number: int | None, kind: str, detail: str) -> None:
        self.ctx.stats.reject(self.ctx.label, number, kind, detail)

    def many(self, numbers: np.ndarray, kind: str, detail: str) -> None:
        listed = numbers.tolist()
        for number in listed[:5]:
            self.ctx.stats.reject(self.ctx.label, number, kind, detail)
        stats = self.ctx.stats
        stats.bad += len(listed) - len(listed[:5])
        stats.kinds[kind] += len(listed) - len(listed[:5])


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Flows of a pcap or pcapng capture as record batches of ``ctx.batch_size`` rows.

    All in this thread: reading ahead on a thread, or decoding in a forked process, were measured
    slower (the numpy calls are too small to run long without the GIL; the two vCPUs of the benchmark
    machine do not run two busy processes at full speed each).
    """
    rejects = _Rejects(ctx)
    head = stream.read(64)
    if not sniff(head, ctx.label):
        rejects.one(None, "not a capture", "no pcap or pcapng magic number at the start")
        return
    with _mapped_file(ctx.label, head) as fd:
        yield from _flows(stream, head, fd, ctx, rejects)


def _flows(stream: BinaryIO, head: bytes, fd: int | None, ctx: ReadContext, rejects: _Rejects) -> Iterator[Any]:
    from portscope.sources._flow_table import FlowTable
    from portscope.sources._pcap_layers import Decoder, Packets, concat_packets

    # Tuning knobs (tests use small ones to exercise the state kept between chunks and batches).
    chunk_bytes = int(ctx.options.get("pcap_chunk_bytes", 16 << 20))
    flow_batch = int(ctx.options.get("pcap_flow_batch", _FLOW_BATCH))
    seed = ctx.options.get("pcap_hash_seed")
    decoder = Decoder(rejects.many)
    table = FlowTable(None if seed is None else int(seed))
    out = _Output(ctx)
    pending: list[Packets] = []
    count = 0
    for chunk in read_records(stream, head, rejects.one, chunk_bytes, fd):
        packets = decoder.decode(chunk)
        pending.append(packets)
        count += packets.number.size
        if count >= flow_batch:
            yield from out.add(table.add(concat_packets(pending)))
            pending, count = [], 0
    pending.append(decoder.finish())
    ctx.stats.skipped += decoder.not_ip
    yield from out.add(table.add(concat_packets(pending)))
    yield from out.add(table.finish())
    yield from out.flush()


@contextlib.contextmanager
def _mapped_file(label: str, head: bytes) -> Iterator[int | None]:
    """An open descriptor of the file the input is, when it is a regular file holding exactly what the
    stream gives (not compressed, not standard input): mapping it saves copying it. Else None."""
    if label == "-" or not os.path.isfile(label) or os.path.getsize(label) < 1 << 20:
        yield None
        return
    try:
        fd = os.open(label, os.O_RDONLY)
    except OSError:
        yield None
        return
    try:
        same = os.pread(fd, len(head), 0) == head
        yield fd if same else None
    finally:
        os.close(fd)


class _Output:
    """Ended connections to flow-schema record batches of exactly ``batch_size`` rows (the last fewer).

    Each lot of ended connections becomes Arrow columns at once (a tenth of the memory of the numpy
    state it came from), in packet-number order of their first packet.
    """

    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.batches: list[Any] = []
        self.rows = 0

    def add(self, ended: list[dict[str, Any]]) -> Iterator[Any]:
        for part in ended:
            if part["key"].size:
                order = np.argsort(part["number"], kind="stable")
                self.batches.append(to_batch({name: column[order] for name, column in part.items()}, self.ctx.label))
                self.rows += part["key"].size
        while self.rows >= self.ctx.batch_size:
            yield self._batch(self.ctx.batch_size)

    def flush(self) -> Iterator[Any]:
        while self.rows:
            yield self._batch(min(self.rows, self.ctx.batch_size))

    def _batch(self, size: int) -> Any:
        import pyarrow as pa

        table = pa.Table.from_batches(self.batches)
        rest = table.slice(size)
        self.batches = rest.to_batches() if rest.num_rows else []
        self.rows -= size
        self.ctx.stats.good += size
        if len(table.to_batches()) == 1 and table.num_rows == size:
            return table.to_batches()[0]
        return table.slice(0, size).unify_dictionaries().combine_chunks().to_batches()[0]


def _dictionary(indices: np.ndarray, values: list[str]) -> Any:
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(values, type=pa.string()))


def to_batch(c: dict[str, Any], label: str) -> Any:
    """One record batch in the flow schema from ended connections' columns."""
    import pyarrow as pa

    from portscope.sources import _zeek_tcp as tcp
    from portscope.sources._flow_table import addresses, rstos0

    n = c["key"].size
    a_orig = c["orig"] == 0
    src_hi, src_lo = np.where(a_orig, c["a_hi"], c["b_hi"]), np.where(a_orig, c["a_lo"], c["b_lo"])
    dst_hi, dst_lo = np.where(a_orig, c["b_hi"], c["a_hi"]), np.where(a_orig, c["b_lo"], c["a_lo"])
    proto = c["proto"].astype(np.int64)
    has_ports = np.isin(proto, (6, 17, 132)) & (c["pa"] >= 0)
    icmp = np.isin(proto, (1, 58))
    pk_out, pk_in = np.where(a_orig, c["pk0"], c["pk1"]), np.where(a_orig, c["pk1"], c["pk0"])
    by_out, by_in = np.where(a_orig, c["by0"], c["by1"]), np.where(a_orig, c["by1"], c["by0"])
    history = c["history"]
    # conn_state: TCP from the endpoint states; UDP from which sides sent; anything else OTH.
    st_orig = np.where(a_orig, c["st0"], c["st1"])
    st_resp = np.where(a_orig, c["st1"], c["st0"])
    candidates = (proto == 6) & (st_orig == tcp.RESET) & ((st_resp == tcp.INACTIVE) | (st_resp == tcp.PARTIAL))
    match = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(candidates).tolist():
        match[i] = rstos0(history[i])
    states = tcp.conn_state(st_orig, st_resp, (c["pay0"] + c["pay1"]) == 0, match)
    udp_state = len(tcp.CONN_STATES) + (pk_out > 0) + 2 * (pk_in > 0)
    other = tcp.CONN_STATES.index("OTH")
    state = np.where((proto == 6) & (c["pa"] >= 0), states, np.where(proto == 17, udp_state, other))
    present = np.unique(proto).tolist()
    lookup = np.zeros(256, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    ts = pa.timestamp("us", tz="UTC")
    zeros = np.zeros(n, dtype=np.int32)
    columns = {
        # Through int64: pa.array(numpy, type=timestamp) imports pandas (0.3 s) to check for datetimes.
        "start": pa.array(c["start"], type=pa.int64()).cast(ts),
        "end": pa.array(c["last"], type=pa.int64()).cast(ts),
        "duration": pa.array((c["last"] - c["start"]) / 1e6, type=pa.float64()),
        "source_format": _dictionary(zeros, ["pcap"]),
        "protocol": _dictionary(lookup[proto], [protocol_name(p) for p in present]),
        "ip_proto": pa.array(proto.astype(np.uint8)),
        "src_addr": addresses(src_hi, src_lo, c["version"]),
        "src_port": pa.array(np.where(a_orig, c["pa"], c["pb"]).astype(np.uint16), mask=~has_ports),
        "dst_addr": addresses(dst_hi, dst_lo, c["version"]),
        "dst_port": pa.array(np.where(a_orig, c["pb"], c["pa"]).astype(np.uint16), mask=~has_ports),
        "icmp_type": pa.array(np.maximum(c["icmp_type"], 0).astype(np.uint8), mask=~icmp),
        "icmp_code": pa.array(np.maximum(c["icmp_code"], 0).astype(np.uint8), mask=~icmp),
        "action": _dictionary(zeros, ["unknown"]),
        "initiator": _dictionary(c["observed"].astype(np.int32), ["inferred", "observed"]),
        "packets_out": pa.array(pk_out.astype(np.uint64)),
        "packets_in": pa.array(pk_in.astype(np.uint64)),
        "bytes_out": pa.array(by_out.astype(np.uint64)),
        "bytes_in": pa.array(by_in.astype(np.uint64)),
        "conn_state": _dictionary(state, list(tcp.CONN_STATES + _UDP_STATES)),
        "history": pa.array(history, type=pa.string(), mask=c["history"] == ""),
        "evidence_file": _dictionary(zeros, [label]),
        "evidence_line": pa.array(c["number"].astype(np.uint64)),
    }
    return _record_batch(columns, n)


def _record_batch(columns: dict[str, Any], n: int) -> Any:
    """The batch in the flow schema, columns not given all null. Not ``flows.batch_from_columns``:
    these arrays already have the schema's types, and the addresses its canonical text (that helper
    would parse every distinct IPv6 address again, a third of the time of a run)."""
    import pyarrow as pa

    from portscope.flows import flow_schema

    schema = flow_schema()
    arrays = []
    for field in schema:
        array = columns.get(field.name)
        if array is None:
            array = pa.nulls(n, type=field.type)
        elif array.type != field.type:
            array = array.cast(field.type)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)

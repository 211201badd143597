"""Linux kernel packet LOG lines: iptables/ip6tables ``LOG``, UFW, nftables ``log``, firewalld, Shorewall.

Every one of them ends in the kernel's nf_log_syslog.c, so one parser reads them all (the format and
its quirks are in :mod:`portscope.sources._kernel_log`). What differs is the envelope:

- plain text: syslog files (RFC 3164 ``Mar 11 20:35:11 host kernel: ...``, rsyslog's RFC 3339 form,
  RFC 5424), journalctl's ``short``/``short-iso`` output, and ``dmesg`` (``[12345.678901] ...``:
  seconds since boot, so ``start`` stays null; ``dmesg -T`` times are read as local times, see
  :mod:`portscope.sources._syslog`). Read 8 MB at a time by :mod:`portscope.sources._kernel_fast`.
- ``journalctl -o json``: one object a line; ``MESSAGE`` (an array of byte values when it is not
  UTF-8), ``__REALTIME_TIMESTAMP`` (µs since the epoch, as text) and ``_HOSTNAME``.
- ``journalctl -o export`` (systemd.io/JOURNAL_EXPORT_FORMATS): ``KEY=value`` lines, entries apart by
  an empty line; a field that is not plain text is ``KEY``, a newline, its length as a little-endian
  64-bit integer, the bytes and a newline.

Each logged packet is one row: ``packets_out`` 1, ``bytes_out`` its IP length (LEN=). Lines that are
no packet log (sshd, cron, other kernel messages) are skipped without being bad records, and
counted as ``skipped`` on the run's stats; a line that is meant to be one and cannot be (a cut-off
``SRC=``, ``SPT=70000``, ``SRC=999.1.1.1``) is a bad record. Options: ``year`` and ``timezone``
for RFC 3164 times.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from portscope.flows import row_values
from portscope.sources import ParseStats, ReadContext
from portscope.sources._kernel_log import Packet, looks_like_packet_log, packet_values, parse_packet
from portscope.sources._records import BadRecord
from portscope.sources._syslog import TimeContext, parse_envelope, strip_printk_time

__all__ = ["DESCRIPTION", "NAME", "read", "sniff"]

READS_ROWS = True  # honours ReadContext.as_rows: the reference parser, line by line, no numpy or pyarrow
NAME = "iptables"
DESCRIPTION = "Linux kernel packet LOG lines (iptables, ip6tables, UFW, nftables) from syslog, journalctl or dmesg"

BLOCK = 8 << 20
_Row = tuple[int, int | None, str | None, Packet]


def sniff(head: bytes, label: str) -> int:
    """90 when packet log lines are there (as text, journal JSON or journal export), 0 otherwise."""
    lines = head.split(b"\n")[:200]
    if len(lines) > 1:
        lines = lines[:-1]  # the last may be cut
    hits = sum(1 for line in lines if b"IN=" in line and (b" SRC=" in line or b" OUT=" in line))
    if not hits:
        return 0
    if b"filterlog" in head and hits * 4 < len(lines):
        return 10
    return 90 if hits * 2 >= len(lines) or hits >= 3 else 60


def read(stream: BinaryIO, context: ReadContext) -> Iterator[Any]:
    """Flow batches of every packet log in ``stream``, whichever envelope it comes in."""
    times = TimeContext(context.options, context.stats.dating)
    if not hasattr(stream, "peek"):
        stream = cast(BinaryIO, io.BufferedReader(cast(Any, stream)))
    head = cast(Any, stream).peek(4096)[:4096]
    start = head.lstrip()[:64]
    if start.startswith(b"{"):
        yield from _read_journal_json(stream, context, times)
    elif start.startswith(b"__CURSOR=") or (
        b"=" in start.split(b"\n", 1)[0] and b"\nMESSAGE" in head and b"__REALTIME" in head
    ):
        yield from _read_journal_export(stream, context, times)
    elif context.as_rows:
        yield from _text_rows(stream, context, times)
    else:
        yield from _read_text(stream, context, times)


def _text_rows(stream: BinaryIO, context: ReadContext, times: TimeContext) -> Iterator[Any]:
    """Text lines as row dicts, by the reference parser alone (the fast path is for blocks of many)."""
    for number, line in enumerate(stream, 1):
        row = _parse_line(line.rstrip(b"\n"), number, context, times)
        if row is None:
            context.stats.count_skipped(1)
        elif isinstance(row, tuple):
            yield _one_row(row, context)


def _one_row(row: _Row, context: ReadContext) -> dict[str, Any]:
    """A reference-parser row as ``ReadContext.as_rows`` wants it (a flow dict), counted as good."""
    context.stats.good += 1
    return row_values({**packet_values(*row), "evidence_file": context.label})


def _blocks(stream: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """The input as (block of whole lines, number of its first line), about :data:`BLOCK` bytes each."""
    rest = b""
    line_base = 1
    while True:
        chunk = stream.read(BLOCK)
        data = rest + chunk if rest else chunk
        if not chunk:
            if data:
                yield data + b"\n", line_base
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < 4 * BLOCK:
            rest = data
            continue
        data, rest = (data[:cut], data[cut:]) if cut else (data + b"\n", b"")
        yield data, line_base
        line_base += data.count(b"\n")


class _Recorder(ParseStats):
    """Bad records of one block, kept to be counted by the run's stats in line order (blocks run in threads)."""

    def __init__(self) -> None:
        super().__init__()
        self.rejected: list[tuple[str, int | None, str, str]] = []

    def reject(self, label: str, line: int | None, kind: str, detail: str) -> None:
        self.rejected.append((label, line, kind, detail))


def _read_text(stream: BinaryIO, context: ReadContext, times: TimeContext) -> Iterator[Any]:
    """Text lines, 8 MB at a time: the fast path takes what it can, the reference parser the rest.

    Two blocks are parsed at once in threads: numpy and Arrow release the GIL in their loops, so the
    second core does real work (1.3-1.8x, measured); results are handed on in input order, and at
    most two blocks (and the one being read) are in memory.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    pending: list[Future[tuple[list[Any], _Recorder]]] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="portscope-iptables") as pool:
        for data, line_base in _blocks(stream):
            pending.append(pool.submit(_parse_text_block, data, line_base, context.label, times))
            if len(pending) >= 2:
                yield from _deliver(pending.pop(0).result(), context)
        while pending:
            yield from _deliver(pending.pop(0).result(), context)


def _deliver(result: tuple[list[Any], _Recorder], context: ReadContext) -> Iterator[Any]:
    batches, recorder = result
    for label, line, kind, detail in recorder.rejected:
        context.stats.reject(label, line, kind, detail)
    context.stats.count_skipped(recorder.skipped)
    yield from _in_line_order(batches, context)


def _parse_text_block(data: bytes, line_base: int, label: str, times: TimeContext) -> tuple[list[Any], _Recorder]:
    """One block of whole lines: (its batches, the bad records and skipped lines met)."""
    import numpy as np
    import pyarrow as pa

    from portscope.sources._kernel_batch import fast_batch, rows_batch
    from portscope.sources._kernel_fast import PAD, parse_block

    recorder = _Recorder()
    context = ReadContext(label, recorder)
    buffer = bytes(PAD) + data + bytes(PAD)
    ends = np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8, offset=PAD, count=len(data)) == 10) + PAD
    starts = np.empty_like(ends)
    starts[0] = PAD
    starts[1:] = ends[:-1] + 1
    lines = np.arange(line_base, line_base + len(ends), dtype=np.int64)
    taken, columns = parse_block(buffer, starts, ends, times)
    batches = []
    slow = ~taken
    if taken.any():
        batch, refused = fast_batch(columns, lines[taken], label)
        if refused.any():
            batch = batch.filter(pa.array(~refused))
            slow[np.flatnonzero(taken)[refused]] = True
        batches.append(batch)
    rows: list[_Row] = []
    skipped = 0
    for i in np.flatnonzero(slow).tolist():
        row = _parse_line(buffer[starts[i] : ends[i]], int(lines[i]), context, times)
        if row is None:
            skipped += 1
        elif isinstance(row, tuple):
            rows.append(row)
    context.stats.count_skipped(skipped)
    if rows:
        batches.append(rows_batch(rows, label))
    return batches, recorder


def _in_line_order(batches: list[Any], context: ReadContext) -> Iterator[Any]:
    import numpy as np
    import pyarrow as pa

    good = sum(batch.num_rows for batch in batches)
    context.stats.good += good
    if not good:
        return
    if len(batches) == 1:
        yield from _sized(batches[0], context.batch_size)
        return
    table = pa.Table.from_batches(batches)
    table = table.take(np.argsort(table.column("evidence_line").to_numpy(), kind="stable"))
    for batch in table.combine_chunks().to_batches():
        yield from _sized(batch, context.batch_size)


def _sized(batch: Any, size: int) -> Iterator[Any]:
    for offset in range(0, batch.num_rows, max(size, 1)):
        yield batch.slice(offset, size)


def _parse_line(line: bytes, number: int, context: ReadContext, times: TimeContext) -> _Row | bool | None:
    """One text line by the reference parser: a row, None (no packet log: skipped) or False (bad, counted)."""
    line = line.rstrip(b"\r")
    try:
        envelope = parse_envelope(line, times)
    except ValueError as exc:
        if looks_like_packet_log(line):
            context.stats.reject(context.label, number, "invalid timestamp", str(exc))
            return False
        return None
    return _packet_row(strip_printk_time(envelope.message), number, envelope.start, envelope.host, context)


def _packet_row(
    message: bytes, number: int, start: int | None, host: str | None, context: ReadContext
) -> _Row | bool | None:
    if not looks_like_packet_log(message):
        return None
    try:
        packet = parse_packet(message)
    except BadRecord as bad:
        context.stats.reject(context.label, number, bad.kind, bad.detail)
        return False
    if packet is None:
        return None
    return number, start, host, packet


def _journal_rows(
    records: Iterator[tuple[int, dict[str, Any]]], context: ReadContext, times: TimeContext
) -> Iterator[Any]:
    """Rows of journal entries: MESSAGE parsed as a kernel message, time and host from the entry's fields."""
    rows: list[_Row] = []
    skipped = 0
    for number, fields in records:
        message = fields.get("MESSAGE")
        if not isinstance(message, bytes):
            skipped += 1
            continue
        start = fields.get("__REALTIME_TIMESTAMP")
        micros = int(start) if isinstance(start, bytes) and start.isdigit() else None
        host = fields.get("_HOSTNAME")
        hostname = host.decode("utf-8", "replace") if isinstance(host, bytes) and host else None
        if micros is None and looks_like_packet_log(message):
            # syslog-formatted lines forwarded into the journal keep their own header
            try:
                envelope = parse_envelope(message, times)
            except ValueError as exc:
                context.stats.reject(context.label, number, "invalid timestamp", str(exc))
                continue
            micros, hostname, message = envelope.start, envelope.host or hostname, envelope.message
        row = _packet_row(strip_printk_time(message), number, micros, hostname, context)
        if row is None:
            skipped += 1
        elif isinstance(row, tuple) and context.as_rows:
            yield _one_row(row, context)
        elif isinstance(row, tuple):
            rows.append(row)
        if len(rows) >= context.batch_size:
            yield from _in_line_order([_rows_batch(rows, context.label)], context)
            rows = []
    context.stats.count_skipped(skipped)
    if rows:
        yield from _in_line_order([_rows_batch(rows, context.label)], context)


def _rows_batch(rows: list[_Row], label: str) -> Any:
    from portscope.sources._kernel_batch import rows_batch

    return rows_batch(rows, label)


def _read_journal_json(stream: BinaryIO, context: ReadContext, times: TimeContext) -> Iterator[Any]:
    yield from _journal_rows(_json_records(stream, context), context, times)


def _json_records(stream: BinaryIO, context: ReadContext) -> Iterator[tuple[int, dict[str, Any]]]:
    """``journalctl -o json`` lines as fields of bytes (systemd.io/JOURNAL_EXPORT_FORMATS, "Journal JSON Format").

    A field is a string, an array of byte values (not valid UTF-8, or binary), null (too large for
    journalctl to print), or for a field given more than once, an array of those: the first is used.
    """
    import orjson

    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            context.stats.reject(context.label, number, "invalid JSON", str(exc))
            continue
        if not isinstance(entry, dict):
            context.stats.reject(context.label, number, "invalid JSON", "a journal entry is a JSON object")
            continue
        fields = {}
        for key in ("MESSAGE", "__REALTIME_TIMESTAMP", "_HOSTNAME"):
            value = _json_field(entry.get(key))
            if value is not None:
                fields[key] = value
        yield number, fields


def _json_field(value: Any) -> bytes | None:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list) and value:
        if all(isinstance(item, int) and 0 <= item <= 255 for item in value):
            return bytes(value)
        return _json_field(value[0])
    return None


def _read_journal_export(stream: BinaryIO, context: ReadContext, times: TimeContext) -> Iterator[Any]:
    yield from _journal_rows(_export_records(stream, context), context, times)


def _export_records(stream: BinaryIO, context: ReadContext) -> Iterator[tuple[int, dict[str, Any]]]:
    """``journalctl -o export`` entries: (the line its first field is on, its fields as bytes)."""
    line_number = 0
    entry_line = 1
    fields: dict[str, Any] = {}
    while True:
        line = stream.readline()
        if not line:
            break
        line_number += 1
        body = line.rstrip(b"\n")
        if not body:
            if fields:
                yield entry_line, fields
            fields = {}
            entry_line = line_number + 1
            continue
        key, equals, value = body.partition(b"=")
        if not equals:
            # binary-safe field: KEY\n, le64 size, data, \n
            size_bytes = stream.read(8)
            if len(size_bytes) < 8:
                context.stats.reject(
                    context.label, line_number, "truncated record", f"binary field {key[:40]!r} cut off"
                )
                break
            size = int.from_bytes(size_bytes, "little")
            if size > 1 << 30:
                context.stats.reject(
                    context.label, line_number, "invalid field", f"binary field {key[:40]!r} of {size} bytes"
                )
                break
            value = stream.read(size)
            stream.read(1)
            if len(value) < size:
                context.stats.reject(
                    context.label, line_number, "truncated record", f"binary field {key[:40]!r} cut off"
                )
                break
            line_number += value.count(b"\n") + 1
        name = key.decode("ascii", "replace")
        fields.setdefault(name, value)
    if fields:
        yield entry_line, fields

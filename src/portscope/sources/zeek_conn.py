"""Zeek conn.log, as Zeek's ASCII writer writes it: TSV with ``#`` headers, or JSON lines.

TSV (Zeek manual, "Zeek Logs" / logging framework, ASCII writer): ``#separator \\x09`` (the one
header written with a space, its value escaped), then ``#set_separator``, ``#empty_field`` (``(empty)``),
``#unset_field`` (``-``), ``#path conn``, ``#open``, ``#fields``, ``#types`` lines, the records, and
``#close``. Rotated or ``cat``-ed logs repeat the headers, maybe with other fields: every ``#fields``
line starts a new layout. Columns are found by name, never by position, so older logs (Bro 2.x: no
``local_resp``, no ``ip_proto``) and ``zeek-cut -m`` output (one line of names, no ``#``) read alike.
A btest baseline (Zeek's own test outputs) starts with a ``### BTest`` comment and masks times as
``XXXXXXXXXX.XXXXXX`` (btest-diff's canonifier): those read as null times, not bad records. Text
values are kept as Zeek wrote them, its ``\\xHH`` escapes included.

JSON (``LogAscii::use_json=T``): one object per line, keys ``id.orig_h`` (or a nested ``id``
object, as some shippers write it), unset fields left out, ``ts`` as epoch seconds (``JSON::TS_EPOCH``),
an ISO 8601 string (``TS_ISO8601``) or integer milliseconds (``TS_MILLIS``).

Mapping (fields: base/protocols/conn/main.zeek): orig is the side Zeek judged the originator, so
``initiator`` is ``observed``; a ``^`` in ``history`` means Zeek flipped the endpoints on a heuristic
(it saw no SYN and guessed from ports), so ``inferred``. Bytes are ``orig_ip_bytes``/``resp_ip_bytes``
(IP headers included, as the flow table counts), ``local_orig``/``local_resp`` give ``direction``
when exactly one side is in Site::local_nets. ``unknown_transport`` rows carry Zeek's placeholder
port 0: their ports are null. ICMP: Zeek puts the type in ``id.orig_p`` and, in ``id.resp_p``, the
*counterpart type* for request/reply pairs (echo 8 <-> 0) or the code for one-way messages
(``ICMP4_counterpart``/``ICMP6_counterpart`` in src/packet_analysis/protocol/icmp/ICMP.cc); so
``icmp_code`` is ``id.resp_p`` only for one-way types, null for pairs (the log does not carry it).

Speed: each chunk of lines is parsed by pyarrow.csv with the types known from the field names and
mapped with pyarrow.compute; a chunk that fails (a bad line) is re-read line by line to say which
line is bad and keep the rest. Under ``ReadContext.as_rows`` (explain's pasted line) every line is
read that way, checked by :func:`_problem` and mapped by :func:`~portscope.sources._zeek_fields.to_flow_row`,
and yielded as a row dict, without importing pyarrow.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from portscope.sources import ReadContext
from portscope.sources._tabular import is_ip, line_chunks, line_numbers, slices, valid_ip
from portscope.sources._zeek_fields import (
    KINDS,
    MAX_SECONDS,
    arrow_types,
    json_value,
    text_value,
    to_flow_row,
    to_flows,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

NAME = "zeek_conn"
DESCRIPTION = "Zeek conn.log, TSV (with #fields/#types headers) or JSON lines"
READS_ROWS = True  # honours ReadContext.as_rows: line by line, no numpy or pyarrow


def sniff(head: bytes, label: str) -> int:
    """100 for a TSV conn.log (``#path conn``, or ``#fields`` naming id.orig_h and conn fields), 95 for JSON.

    Other Zeek logs (dns.log, http.log) also have id.orig_h; they are not flows and score 0.
    """
    lines = head.split(b"\n")[:50]
    if len(head) >= 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    for line in lines:
        if line.startswith(b"#path"):
            if line.split()[1:2] != [b"conn"]:
                return 0
        elif line.startswith((b"#fields", b"ts\t", b"uid\t")):
            names = set(line.rstrip(b"\r").split(b"\t"))
            if b"id.orig_h" in names and names & {b"conn_state", b"history", b"orig_pkts", b"proto"}:
                return 100 if line.startswith(b"#") else 90
            return 0
        elif line.startswith(b"{"):
            return 95 if _json_is_conn(line) else 0
        elif line.strip() and not line.startswith(b"#"):
            return 0
    return 0


def _json_is_conn(line: bytes) -> bool:
    import orjson

    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(record, dict):
        return False
    has_id = "id.orig_h" in record or (isinstance(record.get("id"), dict) and "orig_h" in record["id"])
    return has_id and any(k in record for k in ("conn_state", "orig_pkts", "orig_ip_bytes", "history"))


class _Layout:
    """One log's headers: separator, the unset and empty markers, its path and field names.

    Replaced, never changed, when a header line arrives: runs already queued keep theirs.
    """

    def __init__(self, separator: bytes = b"\t", fields: list[str] | None = None) -> None:
        self.separator = separator
        self.unset = "-"
        self.empty = "(empty)"
        self.path: str | None = None
        self.fields = fields

    def copy(self) -> _Layout:
        other = _Layout(self.separator, self.fields)
        other.unset, other.empty, other.path = self.unset, self.empty, self.path
        return other


class _Run(NamedTuple):
    """Lines under one layout, in file order; ``headers`` counts the header lines just before them."""

    kind: str  # tsv, json, overlong, reject
    headers: int
    data: bytes
    layout: _Layout
    why: tuple[str, str] = ("", "")


class _Done(NamedTuple):
    """A converted run: its flow batches (row dicts under ``as_rows``), its bad records (line, kind,
    detail) and how many rows were good."""

    batches: list[Any]
    rejected: list[tuple[int, str, str]]
    good: int


_AHEAD = 2  # runs converted ahead of the one handed out: their work overlaps the caller's


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Flows from a conn.log (TSV, JSON lines, or several concatenated), a chunk of lines at a time.

    This thread splits the input into header lines and runs of records; one worker thread converts
    the runs in order (pyarrow.csv and pyarrow.compute release the GIL), so converting the next
    chunks overlaps whatever the caller does with the current batch (writing Parquet). The worker
    only collects bad records: they reach ``ctx.stats`` here, in file order, so ``strict`` still
    stops at the first one. Under ``ctx.as_rows`` the runs are converted here, row by row.
    """
    reader = _Reader(ctx)
    if ctx.as_rows:
        for found in reader.runs(stream):
            yield from _deliver(reader.convert(found), ctx)
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portscope-zeek")
    waiting: deque[Future[_Done]] = deque()
    try:
        for found in reader.runs(stream):
            waiting.append(pool.submit(reader.convert, found))
            if len(waiting) > _AHEAD:
                yield from _deliver(waiting.popleft().result(), ctx)
        while waiting:
            yield from _deliver(waiting.popleft().result(), ctx)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _deliver(done: _Done, ctx: ReadContext) -> Iterator[Any]:
    for line, kind, detail in done.rejected:
        ctx.stats.reject(ctx.label, line, kind, detail)
    ctx.stats.good += done.good
    yield from done.batches


class _Reader:
    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.layout = _Layout()
        self.line = 1  # the next line convert() will meet (convert runs in one worker, in file order)
        self._rejected: list[tuple[int, str, str]] = []

    @cached_property
    def types(self) -> dict[str, Any]:
        return arrow_types()

    def _reject(self, line: int, kind: str, detail: str) -> None:
        self._rejected.append((line, kind, detail))

    def runs(self, stream: BinaryIO) -> Iterator[_Run]:
        """Split the input into header lines (read here) and runs of data lines (converted later)."""
        headers = 0
        for chunk in line_chunks(stream):
            if chunk is None:
                yield _Run("overlong", headers, b"", self.layout)
                headers = 0
                continue
            pos, size = 0, len(chunk)
            while pos < size:
                if chunk[pos] == 0x23:  # '#'
                    end = chunk.find(b"\n", pos)
                    end = size if end < 0 else end + 1
                    self._header(chunk[pos:end].rstrip(b"\r\n"))
                    pos, headers = end, headers + 1
                    continue
                stop = _next_header(chunk, pos)
                data = chunk[pos:stop] if pos or stop < size else chunk
                pos = stop
                if self.layout.fields is None and data[:1] != b"{":
                    newline = data.find(b"\n")
                    names = data[: newline if newline >= 0 else len(data)].rstrip(b"\r").decode("utf-8", "replace")
                    if "id.orig_h" in names.split("\t") or "uid" in names.split("\t"):  # zeek-cut -m names line
                        self.layout = _Layout(fields=names.split("\t"))
                        headers += 1
                        data = data[newline + 1 :] if newline >= 0 else b""
                        if not data:
                            continue
                yield self._classify(headers, data)
                headers = 0

    def _classify(self, headers: int, data: bytes) -> _Run:
        layout = self.layout
        if data.lstrip()[:1] == b"{":
            return _Run("json", headers, data, layout)
        if layout.path is not None and not layout.path.startswith("conn"):
            return _Run("reject", headers, data, layout, why=("not a conn log", f"#path is {layout.path!r}"))
        if layout.fields is None:
            return _Run("reject", headers, data, layout, why=("malformed line", "data before any #fields header"))
        return _Run("tsv", headers, data, layout)

    def _header(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        if text.startswith("#separator"):  # a new log begins
            value = text[len("#separator") :].strip()
            decoded = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), value)
            self.layout = _Layout(decoded.encode("latin-1", "replace") if decoded else b"\t")
            return
        separator = self.layout.separator.decode("latin-1")
        key, _, rest = text[1:].partition(separator)
        values = rest.split(separator) if rest else []
        if key in ("fields", "path", "unset_field", "empty_field"):
            self.layout = self.layout.copy()
        if key == "fields":
            self.layout.fields = values
        elif key == "path":
            self.layout.path = values[0] if values else None
        elif key == "unset_field" and values:
            self.layout.unset = values[0]
        elif key == "empty_field" and values:
            self.layout.empty = values[0]

    def convert(self, run: _Run) -> _Done:
        """Convert one run (called in file order, so line numbers add up); runs in the worker thread."""
        self._rejected = []
        self.line += run.headers
        first = self.line
        if run.kind == "overlong":
            self._reject(first, "malformed line", "longer than 16 MiB")
            self.line += 1
            return _Done([], self._rejected, 0)
        if run.kind == "reject":
            for offset, line in enumerate(run.data.split(b"\n")):
                if line.strip():
                    self._reject(first + offset, *run.why)
            self.line += _count_lines(run.data)
            return _Done([], self._rejected, 0)
        if self.ctx.as_rows:
            return self._rows(first, run)
        table = _parse_fast(run.data, run.layout, self.types) if run.kind == "tsv" else None
        if table is not None:
            raw = {name: table.column(name).combine_chunks() for name in table.column_names}
            lines = line_numbers(first, table.num_rows)
            self.line += table.num_rows
        else:
            convert = self._json_lines if run.kind == "json" else self._tsv_lines
            raw, lines = convert(first, run.data, run.layout)
            self.line += _count_lines(run.data)
        raw, lines = self._checked(raw, lines)
        self._rejected.sort(key=lambda r: r[0])
        if not len(lines):
            return _Done([], self._rejected, 0)
        batches = list(slices(to_flows(raw, lines, self.ctx.label), self.ctx.batch_size))
        return _Done(batches, self._rejected, len(lines))

    def _tsv_lines(self, first: int, run: bytes, layout: _Layout) -> tuple[dict[str, Any], Any]:
        """The slow path: each line split and converted in Python, bad lines rejected with their number.

        Only the fields the flow table uses are decoded and checked, as in the fast path.
        """
        import pyarrow as pa

        names = _wanted(layout)
        columns: dict[str, list[Any]] = {name: [] for name in names}
        lines: list[int] = []
        for number, row in self._tsv_records(first, run, layout):
            for name, value in zip(names, row, strict=True):
                columns[name].append(value)
            lines.append(number)
        raw_columns = {name: pa.array(values, self.types[name]) for name, values in columns.items()}
        return raw_columns, pa.array(lines, pa.uint64())

    def _tsv_records(self, first: int, run: bytes, layout: _Layout) -> Iterator[tuple[int, list[Any]]]:
        """(line, values of the :func:`_wanted` fields) for each line of a TSV run; bad lines rejected."""
        fields = layout.fields or []
        wanted = [i for i, name in enumerate(fields) if name in KINDS]
        for offset, line in enumerate(_lines(run)):
            number = first + offset
            values = line.rstrip(b"\r").split(layout.separator)
            if len(values) != len(fields):
                detail = f"{len(values)} fields where #fields names {len(fields)}"
                self._reject(number, "malformed line", detail)
                continue
            try:
                row = [text_value(fields[i], values[i].decode("utf-8"), layout.unset, layout.empty) for i in wanted]
            except UnicodeDecodeError as exc:
                self._reject(number, "invalid UTF-8", f"at byte {exc.start} of a field")
                continue
            except ValueError as exc:
                self._reject(number, "bad value", str(exc))
                continue
            yield number, row

    def _json_lines(self, first: int, run: bytes, layout: _Layout) -> tuple[dict[str, Any], Any]:
        """JSON lines: each object's conn fields, checked for type and range, bad lines rejected."""
        import pyarrow as pa

        columns: dict[str, list[Any]] = {name: [] for name in KINDS}
        lines: list[int] = []
        for number, row in self._json_records(first, run):
            for name, value in zip(KINDS, row, strict=True):
                columns[name].append(value)
            lines.append(number)
        present = {name: values for name, values in columns.items() if any(v is not None for v in values)}
        raw = {name: pa.array(values, self.types[name]) for name, values in present.items()}
        return raw, pa.array(lines, pa.uint64())

    def _json_records(self, first: int, run: bytes) -> Iterator[tuple[int, list[Any]]]:
        """(line, values of the :data:`KINDS` fields) for each JSON object line of a run; bad lines rejected."""
        import orjson

        for offset, line in enumerate(run.split(b"\n")):
            if not line.strip():
                continue
            number = first + offset
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                self._reject(number, "malformed JSON", str(exc))
                continue
            if not isinstance(record, dict):
                self._reject(number, "malformed JSON", "not an object")
                continue
            nested = record.get("id")
            if isinstance(nested, dict):
                record = {**record, **{f"id.{k}": v for k, v in nested.items()}}
            try:
                row = [json_value(name, record.get(name)) for name in KINDS]
            except ValueError as exc:
                self._reject(number, "bad value", str(exc))
                continue
            yield number, row

    def _rows(self, first: int, run: _Run) -> _Done:
        """A TSV or JSON run as flow row dicts, line by line, without pyarrow: what :meth:`convert` makes of it.

        A whole run at a time, as convert: to_flows reads a JSON log's ``ip_proto`` as absent
        when no record of the run holds one.
        """
        if run.kind == "json":
            names: list[str] = list(KINDS)
            records = list(self._json_records(first, run.data))
            at = names.index("ip_proto")
            has_ip_proto = any(row[at] is not None for _, row in records)
        else:
            names = _wanted(run.layout)
            records = list(self._tsv_records(first, run.data, run.layout))
            has_ip_proto = "ip_proto" in names
        self.line += _count_lines(run.data)
        rows = []
        for number, values in records:
            raw = {name: value for name, value in zip(names, values, strict=True) if value is not None}
            problem = _problem(raw)
            if problem is not None:
                kind, name = problem
                self._reject(number, kind, f"{name} {raw[name]!r}")
                continue
            rows.append(to_flow_row(raw, number, self.ctx.label, has_ip_proto))
        self._rejected.sort(key=lambda r: r[0])
        return _Done(rows, self._rejected, len(rows))

    def _checked(self, raw: dict[str, Any], lines: Any) -> tuple[dict[str, Any], Any]:
        """Rows whose values parse but make no sense (a non-address, a year-5000 time) are rejected here.

        Both paths end here, so the fast one and the line-by-line one accept exactly the same rows.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if not len(lines):
            return raw, lines
        checks: list[tuple[str, str, Any]] = []
        ts = raw.get("ts")
        if ts is not None:
            in_range = pc.and_(pc.greater_equal(ts, 0.0), pc.less(ts, MAX_SECONDS))  # false for NaN
            checks.append(("bad timestamp", "ts", in_range))
        duration = raw.get("duration")
        if duration is not None:
            checks.append(("bad value", "duration", pc.and_(pc.is_finite(duration), pc.greater_equal(duration, 0.0))))
        for name in ("id.orig_h", "id.resp_h"):
            if name in raw:
                checks.append(("bad address", name, is_ip(raw[name])))
        if "proto" in raw:
            icmp = pc.equal(raw["proto"], "icmp")
            for name in ("id.orig_p", "id.resp_p"):
                if name in raw:
                    checks.append(("bad value", name, pc.invert(pc.and_(icmp, pc.greater(raw[name], 255)))))
        failures = []
        for kind, name, fine in checks:
            if pc.all(fine).as_py() not in (True, None):
                failures.append((kind, name, pc.invert(pc.fill_null(fine, True)).to_numpy(zero_copy_only=False)))
        if not failures:
            return raw, lines
        bad = np.logical_or.reduce([failed for _, _, failed in failures])
        for index in np.flatnonzero(bad):
            kind, name = next((k, n) for k, n, failed in failures if failed[index])
            value = raw[name][int(index)].as_py()
            self._reject(int(lines[int(index)].as_py()), kind, f"{name} {value!r}")
        keep = pa.array(~bad)
        return {name: column.filter(keep) for name, column in raw.items()}, lines.filter(keep)


def _problem(raw: dict[str, Any]) -> tuple[str, str] | None:
    """The (kind, field) of the first of :meth:`_Reader._checked`'s checks one record fails, or None.

    The same checks in the same order, on one record's values by Zeek name (absent: unset).
    """
    ts, duration = raw.get("ts"), raw.get("duration")
    if ts is not None and not 0.0 <= ts < MAX_SECONDS:  # false for NaN
        return "bad timestamp", "ts"
    if duration is not None and not (math.isfinite(duration) and duration >= 0.0):
        return "bad value", "duration"
    for name in ("id.orig_h", "id.resp_h"):
        if name in raw and not valid_ip(raw[name]):
            return "bad address", name
    if raw.get("proto") == "icmp":
        for name in ("id.orig_p", "id.resp_p"):
            if raw.get(name, 0) > 255:
                return "bad value", name
    return None


def _wanted(layout: _Layout) -> list[str]:
    """The fields of a TSV layout the flow table uses, in the order of its columns."""
    return [name for name in layout.fields or [] if name in KINDS]


def _next_header(chunk: bytes, pos: int) -> int:
    """Where the next line starting with ``#`` begins, at or after ``pos`` (``len(chunk)`` if none).

    Looks for ``#`` alone (memchr-fast, and rare inside records) rather than for ``\n#``.
    """
    found = chunk.find(b"#", pos)
    while found > 0 and chunk[found - 1] != 0x0A:
        found = chunk.find(b"#", found + 1)
    return len(chunk) if found < 0 else found


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _count_lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def _parse_fast(run: bytes, layout: _Layout, types: dict[str, Any]) -> Any:
    """The run parsed by pyarrow.csv, or None when any line is not clean (then it is read line by line).

    Runs in the worker thread: it only reads its arguments. One table row per line holds because
    quoting is off, empty lines become rows (``ignore_empty_lines=False``) and a run with a carriage
    return (which pyarrow would also take as a line end) goes the slow way.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not layout.fields or len(layout.separator) != 1 or len(set(layout.fields)) != len(layout.fields) or b"\r" in run:
        return None
    wanted = [name for name in layout.fields if name in KINDS]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(run),
            read_options=pacsv.ReadOptions(column_names=layout.fields, block_size=1 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=layout.separator.decode("latin-1"),
                quote_char=False,
                escape_char=False,
                double_quote=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: types[name] for name in wanted},
                include_columns=wanted,
                null_values=[layout.unset, layout.empty],
                strings_can_be_null=True,
                true_values=["T"],
                false_values=["F"],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a short line, a bad number, invalid UTF-8
        return None
    return table

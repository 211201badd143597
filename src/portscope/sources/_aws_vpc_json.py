"""AWS VPC flow logs as JSON, as log pipelines write them: the JSON half of :mod:`portscope.sources.aws_vpc`.

The shapes (records keyed by the flow log fields, CloudWatch Logs subscription data and its Lambda
form, one text record under ``message``) are described in that module's docstring. Records are
gathered here (:class:`_JsonRows`) and handed to the text reader's own conversion
(``aws_vpc._flows``, or ``aws_vpc._flow_rows`` for rows), so JSON and text records are checked and
mapped by the same code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from portscope.sources import ReadContext
from portscope.sources._delimited import Deferred
from portscope.sources._tabular import MAX_LINE, Readable
from portscope.sources.aws_vpc import (
    _DEFAULT_SHAPE,
    _NO_FIELDS,
    DEFAULT_FIELDS,
    KNOWN_FIELDS,
    _field_name,
    _flow_rows,
    _flows,
)

__all__ = ["read_json"]

_JSON_ROWS = 65536  # JSON records gathered before they become columns

Shape = tuple[str | None, ...]  # the field each value of a record names (None: no field), in order


class _JsonRows:
    """Flow log records from JSON gathered as they were parsed, with the bad records met on the way
    (reported in line order with those of the conversion), until there are enough to convert at once.

    Records come in runs of one shape (the same keys in the same order, or the field list of text
    records): a run's values are kept as tuples and turned into columns by one ``zip``, a column of
    JSON numbers into text by one Arrow cast; :func:`_flows` then checks and converts the text as it
    does a text file's. Keying each value by name cost three times as much.
    """

    def __init__(self, ctx: ReadContext, fields: list[str] | None) -> None:
        self.ctx = ctx
        self.fields: Shape | None = None if fields is None else tuple(fields)
        self.runs: list[tuple[Shape, list[Any]]] = []
        self.lines: list[int] = []
        self.errors = Deferred()
        self.skipped = 0

    def add(self, shape: Shape, values: Any, line: int) -> Iterator[Any]:
        """One record: its values (a sequence) in the order of ``shape``, the fields they are."""
        runs = self.runs
        if not runs or runs[-1][0] is not shape:
            runs.append((shape, []))
        runs[-1][1].append(values)
        self.lines.append(line)
        if len(self.lines) >= _JSON_ROWS:
            yield from self.flush()

    def text(self, message: str, line: int) -> Iterator[Any]:
        """One text record (a CloudWatch Logs event's message), split by the field list or the default format."""
        fields = self.fields
        if fields is None:
            if not _DEFAULT_SHAPE.fullmatch(message.strip().encode("utf-8", "replace")):
                self.reject(line, "malformed line", _NO_FIELDS)
                return
            fields = _DEFAULT_TUPLE
        values = message.split()
        if len(values) != len(fields):
            self.reject(line, "malformed line", f"{len(values)} fields where the field list names {len(fields)}")
            return
        yield from self.add(fields, values, line)

    def reject(self, line: int, kind: str, detail: str) -> None:
        self.errors.reject(self.ctx.label, line, kind, detail)

    def flush(self) -> Iterator[Any]:
        """Convert what was gathered: its flows, and its bad records reported in line order."""
        errors, self.errors = self.errors, Deferred()
        if self.ctx.as_rows:
            yield from self._flush_rows(errors)
            return
        import pyarrow as pa

        if not self.lines:
            for line, kind, detail in sorted(errors.rejected, key=lambda r: r[0]):
                self.ctx.stats.reject(self.ctx.label, line, kind, detail)
            return
        columns: dict[str, list[Any]] = {}
        rows = 0
        for shape, records in self.runs:
            for name, values in zip(shape, zip(*records, strict=True), strict=True):
                if name is not None:
                    column = columns.get(name)
                    if column is None:
                        column = columns[name] = [None] * rows
                    column.extend(values)
            rows += len(records)
            for column in columns.values():
                column.extend([None] * (rows - len(column)))
        text = {name: _text_column(values) for name, values in columns.items()}
        lines = pa.array(self.lines, pa.uint64())
        self.runs, self.lines = [], []
        batches, skipped = _flows(text, lines, self.ctx, errors)
        self.skipped += skipped
        yield from batches

    def _flush_rows(self, errors: Deferred) -> Iterator[Any]:
        """What :meth:`flush` does, as one row dict per flow, without pyarrow."""
        lines = iter(self.lines)
        records = [
            (next(lines), {name: _as_text(v) for name, v in zip(shape, values, strict=True) if name is not None})
            for shape, run in self.runs
            for values in run
        ]
        self.runs, self.lines = [], []
        rows, skipped = _flow_rows(records, self.ctx, errors)
        self.skipped += skipped
        yield from rows


_DEFAULT_TUPLE: Shape = tuple(DEFAULT_FIELDS)


def _text_column(values: list[Any]) -> Any:
    """A column of JSON values as Arrow text, null where a record has none: numbers cast at once, and
    values of mixed types (or beyond 64 bits) one by one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        column = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([v if v is None or isinstance(v, str) else _json_text(v) for v in values], pa.string())
    if pa.types.is_string(column.type) or pa.types.is_integer(column.type):
        return pc.cast(column, pa.string())
    if pa.types.is_null(column.type):
        return pa.nulls(len(values), pa.string())
    return pa.array([None if v is None else _json_text(v) for v in values], pa.string())


def _as_text(value: Any) -> str | None:
    """One JSON value as :func:`_text_column` makes it text (None for null)."""
    return value if value is None or isinstance(value, str) else _json_text(value)


def read_json(stream: Readable, ctx: ReadContext, fields: list[str] | None) -> Iterator[Any]:
    rows = _JsonRows(ctx, fields)
    for line, value in _json_values(stream, rows):
        for record in value if isinstance(value, list) else [value]:
            yield from _json_record(record, line, rows)
    yield from rows.flush()
    ctx.stats.count_skipped(rows.skipped)


def _json_record(record: Any, line: int, rows: _JsonRows) -> Iterator[Any]:
    """The flows of one JSON record in any of the shapes the module docstring lists."""
    if not isinstance(record, dict):
        rows.reject(line, "malformed line", f"a JSON {type(record).__name__}, not an object")
        return
    if isinstance(record.get("awslogs"), dict):
        record = _unpacked(record["awslogs"].get("data"), line, rows)
        if not isinstance(record, dict):
            return
    events = record.get("logEvents")
    if isinstance(events, list):
        if record.get("messageType") == "CONTROL_MESSAGE":
            rows.skipped += 1
            return
        for event in events:
            message = event.get("message") if isinstance(event, dict) else None
            if isinstance(message, str):
                yield from rows.text(message, line)
            else:
                rows.reject(line, "malformed line", "a CloudWatch Logs event without a message")
        return
    shape = _shape(tuple(record))
    if "srcaddr" not in shape and "dstaddr" not in shape:
        message = record.get("message", record.get("@message"))
        if isinstance(message, str):
            yield from rows.text(message, line)
        else:
            rows.reject(line, "malformed line", "a JSON object without flow log fields")
        return
    yield from rows.add(shape, tuple(record.values()), line)


_SHAPES: dict[tuple[str, ...], Shape] = {}  # the keys of JSON records met -> their shape (bounded)


def _shape(keys: tuple[str, ...]) -> Shape:
    """The field each key names (``account_id``, ``account-id``...; None: no field, or one named before)."""
    shape = _SHAPES.get(keys)
    if shape is None:
        named: list[str | None] = []
        for key in keys:
            name = _field_name(key)
            named.append(name if name in KNOWN_FIELDS and name not in named else None)
        shape = tuple(named)
        if len(_SHAPES) < 1024:
            _SHAPES[keys] = shape
    return shape


def _json_text(value: Any) -> str:
    """A JSON value that is no text or whole number as text: the checks then reject it with its value."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _unpacked(data: Any, line: int, rows: _JsonRows) -> Any:
    """The CloudWatch Logs data of a Lambda event (base64 of gzip of JSON), or None (a bad record)."""
    import base64
    import binascii
    import gzip
    import zlib

    import orjson

    try:
        return orjson.loads(gzip.decompress(base64.b64decode(data or "", validate=True)))
    except (binascii.Error, OSError, EOFError, zlib.error, orjson.JSONDecodeError, TypeError, ValueError) as exc:
        rows.reject(line, "malformed JSON", f"awslogs data: {exc}")
        return None


# Where one JSON value may end and the next begin: a line end, or "}" before "{" (Firehose concatenates).
_CUT = re.compile(rb"\n|\}[ \t\r]*(?=\{)")


def _json_values(stream: Readable, rows: _JsonRows) -> Iterator[tuple[int, Any]]:
    """``(line, value)`` for each JSON value of the stream, with the line its text starts on.

    Values one per line, concatenated without a separator, or pretty-printed over many lines. The
    text is cut where a value may end (:data:`_CUT`); a piece that does not parse is joined to the
    next ones until they do (a cut inside a string, a value over several lines), tried when the
    joined text ends with a closing bracket. A piece that starts with ``{`` (not indented: no part of
    a pretty-printed value) and parses alone is a new value: what was pending before it is a bad
    record (a line cut short), as is what is still pending at the end or grows past 16 MiB.
    """
    import orjson

    pending: list[bytes] = []
    pending_line = size = 0
    line = 1
    tail = b""
    for block in iter(lambda: stream.read(1 << 20), b""):
        data = tail + block
        start = 0
        if not pending:  # one value per line, the common case, parsed line by line while that works
            for raw in data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]:
                if raw and not raw.isspace():
                    try:
                        value = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        break
                    yield line, value
                start += len(raw) + 1
                line += 1
        for match in _CUT.finditer(data, start):
            piece = data[start : match.end()]
            start = match.end()
            text = piece.strip()
            if pending and piece[:1] == b"{" and (value := _parsed(text)) is not _NOTHING:
                rows.reject(pending_line, "malformed JSON", "cut short, or not JSON")
                pending, size = [], 0
                yield line, value
            elif not pending and (not text or (value := _parsed(text)) is not _NOTHING):
                if text:
                    yield line, value
            else:
                if not pending:
                    pending_line = line
                pending.append(piece)
                size += len(piece)
                if text[-1:] in (b"}", b"]") and (value := _parsed(b"".join(pending))) is not _NOTHING:
                    pending, size = [], 0
                    yield pending_line, value
                elif size > MAX_LINE:
                    rows.reject(pending_line, "malformed JSON", "a value larger than 16 MiB")
                    pending, size = [], 0
            line += piece.count(b"\n")
        tail = data[start:]
        if len(tail) > MAX_LINE:  # no line end and no "}{" in 16 MiB
            rows.reject(line, "malformed JSON", "a value larger than 16 MiB")
            pending, size, tail = [], 0, b""
    text = (b"".join(pending) + tail).strip()
    if text:
        at = pending_line if pending else line
        value = _parsed(text)
        if value is _NOTHING:
            rows.reject(at, "malformed JSON", "cut short, or not JSON")
        else:
            yield at, value


_NOTHING = object()


def _parsed(text: bytes) -> Any:
    """The JSON value of ``text``, or :data:`_NOTHING` when it is none."""
    import orjson

    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _NOTHING

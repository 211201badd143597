"""Delimited text (CSV, TSV, space-separated flow logs) into checked Arrow columns, a chunk at a time.

:func:`read_strings` cuts a chunk of whole lines into string columns: pyarrow.csv when every line
is clean (then one row per line, so line numbers are exact), else line by line in Python, where a
line with the wrong number of fields or invalid UTF-8 is rejected by number. The converters
(:func:`as_port`, :func:`as_count`...) then turn strings into typed columns without a Python loop,
each returning the values and a mask of the rows whose text was not a valid value; :class:`Checker`
rejects those rows (naming line, field and value) and keeps the rest.

For one record without pyarrow (explain's pasted line), :func:`split_lines` is the line-by-line
splitting and :func:`int_value`, :func:`port_value`, :func:`count_value`, :func:`ip_value` and
:func:`is_missing` are the converters' twins for one value, accepting exactly the same text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from typing import Any

from portscope.sources._tabular import is_ip, line_numbers, valid_ip

__all__ = [
    "Checker",
    "Deferred",
    "as_count",
    "as_float",
    "as_int",
    "as_ip",
    "as_port",
    "count_value",
    "int_value",
    "ip_value",
    "is_missing",
    "missing",
    "port_value",
    "read_strings",
    "split_lines",
]

_MISSING = ("", "-")
_INT_PATTERN = r"^-?[0-9]{1,18}$"
_INT = re.compile(_INT_PATTERN)
_PORT_RANGE = (0, 65535)
_COUNT_RANGE = (0, 10**18)


def read_strings(
    run: bytes,
    first: int,
    names: Sequence[str],
    delimiter: str,
    *,
    quoted: bool,
    stats: Any,
    label: str,
) -> tuple[dict[str, Any], Any]:
    """String columns named ``names`` for the lines of ``run`` (first one numbered ``first``), and line numbers.

    Blank lines are skipped; a line with another number of fields, or invalid UTF-8, is a bad record.
    With ``quoted``, fields may be double-quoted as RFC 4180 says (a quoted field may not span lines).
    """
    table = _fast(run, names, delimiter, quoted)
    if table is not None:
        return {n: table.column(i).combine_chunks() for i, n in enumerate(names)}, line_numbers(first, table.num_rows)
    return _slow(run, first, names, delimiter, quoted, stats, label)


def _fast(run: bytes, names: Sequence[str], delimiter: str, quoted: bool) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    lines = run.count(b"\n") + (0 if run.endswith(b"\n") or not run else 1)
    if not lines or len(set(names)) != len(names):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(run),
            read_options=pacsv.ReadOptions(column_names=list(names), block_size=1 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"' if quoted else False,
                newlines_in_values=False,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a line with other fields, invalid UTF-8
        return None
    return table if table.num_rows == lines else None  # a blank line, or a CR pyarrow took for a line end


def _slow(
    run: bytes, first: int, names: Sequence[str], delimiter: str, quoted: bool, stats: Any, label: str
) -> tuple[dict[str, Any], Any]:
    import pyarrow as pa

    columns: list[list[str]] = [[] for _ in names]
    numbers: list[int] = []
    for number, fields in split_lines(run, first, names, delimiter, quoted=quoted, stats=stats, label=label):
        for column, value in zip(columns, fields, strict=True):
            column.append(value)
        numbers.append(number)
    return {n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)}, pa.array(numbers, pa.uint64())


def split_lines(
    run: bytes, first: int, names: Sequence[str], delimiter: str, *, quoted: bool, stats: Any, label: str
) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each line of ``run`` as :func:`read_strings` reads it, line by line.

    Blank lines are skipped; a line with another number of fields than ``names``, or invalid UTF-8,
    is a bad record (``stats.reject``).
    """
    lines = run.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for offset, line in enumerate(lines):
        number = first + offset
        raw = line.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            stats.reject(label, number, "invalid UTF-8", f"at byte {exc.start}")
            continue
        if quoted:
            try:
                fields = next(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
            except csv.Error as exc:
                stats.reject(label, number, "malformed line", str(exc))
                continue
        else:
            fields = text.split(delimiter)
        if len(fields) != len(names):
            stats.reject(label, number, "malformed line", f"{len(fields)} fields where the header names {len(names)}")
            continue
        yield number, fields


def missing(values: Any, tokens: Sequence[str] = _MISSING) -> Any:
    """True where the text is null or one of the ``tokens`` a format writes for "no value"."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.or_(pc.is_null(values), pc.is_in(values, pa.array(list(tokens), pa.string())))


def _typed(values: Any, pattern: str, target: Any, tokens: Sequence[str]) -> tuple[Any, Any, Any]:
    """(text with missing -> null, rows that are missing, rows whose text matches ``pattern``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    absent = missing(values, tokens)
    shaped = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    usable = pc.if_else(pc.and_(shaped, pc.invert(absent)), values, pa.scalar(None, pa.string()))
    return pc.cast(usable, target), absent, shaped


def as_int(values: Any, low: int, high: int, target: Any, tokens: Sequence[str] = _MISSING) -> tuple[Any, Any]:
    """(whole numbers low-high as ``target``, mask of rows whose text is neither missing nor such a number)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wide, absent, shaped = _typed(values, _INT_PATTERN, pa.int64(), tokens)
    inside = pc.fill_null(pc.and_(pc.greater_equal(wide, low), pc.less_equal(wide, high)), False)
    bad = pc.invert(pc.or_(absent, pc.and_(shaped, inside)))
    return pc.cast(pc.if_else(inside, wide, pa.scalar(None, pa.int64())), target), bad


def as_port(values: Any, tokens: Sequence[str] = _MISSING) -> tuple[Any, Any]:
    """(ports 0-65535 as uint16, mask of bad rows: 70000, -1, "http")."""
    import pyarrow as pa

    return as_int(values, *_PORT_RANGE, pa.uint16(), tokens)


def as_count(values: Any, tokens: Sequence[str] = _MISSING) -> tuple[Any, Any]:
    """(non-negative counts as uint64, mask of bad rows)."""
    import pyarrow as pa

    return as_int(values, *_COUNT_RANGE, pa.uint64(), tokens)


def as_float(values: Any, tokens: Sequence[str] = _MISSING) -> tuple[Any, Any]:
    """(decimal numbers as float64, mask of bad rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    number, absent, shaped = _typed(values, r"^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]{1,3})?$", pa.float64(), tokens)
    return number, pc.invert(pc.or_(absent, shaped))


def as_ip(values: Any, tokens: Sequence[str] = _MISSING) -> tuple[Any, Any]:
    """(addresses as text, null when missing; mask of rows whose text is no IPv4/IPv6 address)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    absent = missing(values, tokens)
    fine = pc.fill_null(is_ip(values), False)
    return pc.if_else(fine, values, pa.scalar(None, pa.string())), pc.invert(pc.or_(absent, fine))


def is_missing(text: str | None, tokens: Sequence[str] = _MISSING) -> bool:
    """One value of :func:`missing`: null or a token for "no value"."""
    return text is None or text in tokens


def int_value(text: str | None, low: int, high: int, tokens: Sequence[str] = _MISSING) -> tuple[int | None, bool]:
    """One value of :func:`as_int`: (the whole number low-high or None, whether the text is neither missing nor one)."""
    if is_missing(text, tokens):
        return None, False
    if text is None or not _INT.fullmatch(text):  # as RE2 reads the pattern: "$" not before a final newline
        return None, True
    number = int(text)
    return (number, False) if low <= number <= high else (None, True)


def port_value(text: str | None, tokens: Sequence[str] = _MISSING) -> tuple[int | None, bool]:
    """One value of :func:`as_port`."""
    return int_value(text, *_PORT_RANGE, tokens)


def count_value(text: str | None, tokens: Sequence[str] = _MISSING) -> tuple[int | None, bool]:
    """One value of :func:`as_count`."""
    return int_value(text, *_COUNT_RANGE, tokens)


def ip_value(text: str | None, tokens: Sequence[str] = _MISSING) -> tuple[str | None, bool]:
    """One value of :func:`as_ip`: (the address or None, whether the text is neither missing nor an address)."""
    if text is None or not valid_ip(text):
        return None, not is_missing(text, tokens)
    return text, False


class Deferred:
    """Stands in for ParseStats while a chunk is parsed: rejects wait, so all of a chunk's go out in line order.

    Under ``strict`` the first bad line of the file must be the one that raises, whether its fault
    showed while splitting the line or while converting a column.
    """

    def __init__(self) -> None:
        self.rejected: list[tuple[int, str, str]] = []

    def reject(self, label: str, line: int | None, kind: str, detail: str) -> None:
        self.rejected.append((line or 0, kind, detail))


class Checker:
    """Collects bad rows from vectorised conversions, rejects them by line, and says which rows to keep.

    ``earlier`` holds the rejects of the same chunk's splitting (a :class:`Deferred`), reported in line
    order together with these.
    """

    def __init__(self, lines: Any, stats: Any, label: str, earlier: Deferred | None = None) -> None:
        self.lines = lines
        self.stats = stats
        self.label = label
        self.earlier = earlier
        self._failures: list[tuple[str, str, Any, Any]] = []

    def check(self, kind: str, name: str, text: Any, bad: Any) -> None:
        """Rows where ``bad`` is true are bad records of ``kind``; ``text`` is what the message quotes."""
        import pyarrow.compute as pc

        if pc.any(bad).as_py():
            self._failures.append((kind, name, text, bad.to_numpy(zero_copy_only=False)))

    def keep(self) -> Any:
        """Reject every failing row (its first failure named) and return the boolean array of rows kept."""
        import numpy as np
        import pyarrow as pa

        rows = len(self.lines)
        bad = np.zeros(rows, dtype=bool)
        for _, _, _, failed in self._failures:
            bad |= failed
        rejected = list(self.earlier.rejected) if self.earlier is not None else []
        for index in np.flatnonzero(bad):
            kind, name, text, _ = next(f for f in self._failures if f[3][index])
            rejected.append((int(self.lines[int(index)].as_py()), kind, f"{name} {text[int(index)].as_py()!r}"))
        for line, kind, detail in sorted(rejected, key=lambda r: r[0]):
            self.stats.reject(self.label, line, kind, detail)
        return pa.array(~bad)

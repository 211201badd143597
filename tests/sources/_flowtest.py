"""Helpers for the source tests: run a source on bytes, look at the rows, fuzz it."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pyarrow as pa

from portscope.errors import DataError
from portscope.flows import flow_schema
from portscope.sources import ParseStats, ReadContext, source

DATA = Path(__file__).resolve().parent.parent / "data"


def read(
    name: str,
    data: bytes,
    *,
    label: str = "t.log",
    strict: bool = False,
    batch_size: int = 65536,
    options: dict[str, Any] | None = None,
) -> tuple[pa.Table, ParseStats]:
    """Every batch ``name`` yields for ``data`` as one table (checked against the flow schema), and the stats."""
    stats = ParseStats(strict=strict)
    context = ReadContext(label, stats, batch_size, options or {})
    batches = list(source(name).read(io.BytesIO(data), context))
    for batch in batches:
        assert batch.schema.equals(flow_schema(), check_metadata=False), batch.schema
        assert 0 < batch.num_rows <= batch_size
    table = pa.Table.from_batches(batches, schema=flow_schema())
    assert table.num_rows == stats.good
    assert table.column("source_format").to_pylist() == [name] * table.num_rows
    assert table.column("evidence_file").to_pylist() == [label] * table.num_rows
    return table, stats


def read_both_ways(
    name: str, data: bytes, *, label: str = "t.log", strict: bool = False, options: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], ParseStats]:
    """The rows and stats of ``data`` read as batches, after checking that row mode (``READS_ROWS``,
    explain's pasted line, no pyarrow) gives the same rows, counts and first bad records."""
    table, stats = read(name, data, label=label, strict=strict, options=options)
    row_stats = ParseStats(strict=strict)
    context = ReadContext(label, row_stats, options=options or {}, as_rows=True)
    got = list(source(name).read(io.BytesIO(data), context))
    assert got == table.to_pylist()
    assert (row_stats.good, row_stats.bad, row_stats.skipped, row_stats.kinds, row_stats.examples) == (
        stats.good, stats.bad, stats.skipped, stats.kinds, stats.examples,
    )  # fmt: skip
    return got, stats


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows as dicts, only the columns that hold a value somewhere (for readable asserts)."""
    keep = [c for c in table.column_names if table.column(c).null_count < table.num_rows]
    return table.select(keep).to_pylist()


def fixture(name: str, file: str) -> bytes:
    return (DATA / name / file).read_bytes()


def fuzz_once(name: str, data: bytes, options: dict[str, Any] | None = None) -> None:
    """Read ``data`` leniently (nothing may raise) and strictly (only DataError may raise).

    Lenient: every line is either a flow or a counted bad record, never an exception.
    """
    table, stats = read(name, data, options=options)
    assert table.num_rows == stats.good
    with contextlib.suppress(DataError):
        read(name, data, strict=True, options=options)


def mutations(line: bytes) -> list[bytes]:
    """Ways a line gets damaged in the wild: cut, doubled fields, invalid UTF-8, huge numbers."""
    return [
        line[: len(line) // 2],
        line.replace(b"\t", b"\t\t", 1),
        line + b"\xff\xfe",
        line.replace(b"1", b"99999999", 2),
        b"\x00" + line,
        line.replace(b".", b":", 1),
    ]

"""The row builder and the bad-record exception every source shares (sources/_records.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args

import pyarrow as pa
import pytest

from portscope.flows import flow_schema
from portscope.sources import ParseStats, ReadContext
from portscope.sources._records import BadRecord, Kind, Rows


def _collect(rows: Rows, values: list[dict[str, Any]]) -> list[Any]:
    batches = [batch for number, row in enumerate(values, 1) for batch in rows.add(row, number)]
    return batches + list(rows.flush())


def test_rows_stream_batches_with_nulls_for_missing_columns() -> None:
    """Columns a row does not name are null; an ICMP type never poses as a port."""
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    tcp = {"start": when, "protocol": "tcp", "ip_proto": 6, "src_addr": "192.0.2.1", "src_port": 56744}
    icmp = {"protocol": "icmp", "ip_proto": 1, "src_addr": "192.0.2.1", "icmp_type": 8, "icmp_code": 0}
    rows = Rows("test", ReadContext("in.log", ParseStats(), 2))
    (batch,) = [batch for number, row in enumerate((tcp, icmp), 7) for batch in rows.add(row, number)]
    assert batch.schema == flow_schema()
    first, second = batch.to_pylist()
    assert first["src_port"] == 56744 and first["start"] == when and first["action"] is None
    assert second["src_port"] is None and second["icmp_type"] == 8
    assert (first["source_format"], second["evidence_file"], second["evidence_line"]) == ("test", "in.log", 8)
    assert list(rows.flush()) == []


@pytest.mark.parametrize("size", [1, 3, 4096, 5000, 65536])
def test_rows_batches_are_full_but_never_larger_than_size(size: int) -> None:
    """A batch holds exactly ``size`` rows but the last, however ``size`` and the 4,096-row chunks fall;
    a column first named late is null in the rows before it."""
    values: list[dict[str, Any]] = [{"src_port": n} for n in range(1, 9001)]
    values[-1]["dst_port"] = 22
    batches = _collect(Rows("test", ReadContext("in.log", ParseStats(), size)), values)
    assert [b.num_rows for b in batches[:-1]] == [size] * (len(batches) - 1)
    assert 0 < batches[-1].num_rows <= size
    table = pa.Table.from_batches(batches)
    assert table.column("evidence_line").to_pylist() == table.column("src_port").to_pylist() == list(range(1, 9001))
    assert table.column("dst_port").to_pylist() == [None] * 8999 + [22]


def test_bad_record_carries_its_kind_to_the_counts() -> None:
    """ParseStats counts by the exception's kind; its message is the detail alone."""
    stats = ParseStats()
    try:
        raise BadRecord("bad port", "src_port '70000' is not 0-65535")
    except ValueError as exc:
        assert isinstance(exc, BadRecord) and str(exc) == exc.detail
        stats.reject("in.log", 3, exc.kind, exc.detail)
    assert stats.kinds == {"bad port": 1} and stats.examples == ["in.log:3: bad port: src_port '70000' is not 0-65535"]
    assert {"bad port", "invalid port", "truncated record", "malformed line"} <= set(get_args(Kind))


def test_skipped_lines_are_counted_apart_from_bad_records() -> None:
    stats = ParseStats()
    stats.count_skipped(2)
    stats.count_skipped(0)
    assert (stats.skipped, stats.bad) == (2, 0)

"""Writing flows as Parquet, CSV and JSON lines: round trips, empty inputs, formula-safe CSV."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from portscope.errors import UsageError
from portscope.flows import batch_from_columns, flow_schema
from portscope.render.flow_writers import FlowWriter, format_for

BATCH = batch_from_columns(
    {
        "protocol": ["tcp", "udp"],
        "src_addr": ["192.0.2.1", '=HYPERLINK("http://x")'],
        "src_port": [56744, None],
        "dst_port": [443, 53],
        "rule": ["-cmd", "[UFW BLOCK]"],
    },
    2,
)


def test_format_from_extension() -> None:
    assert [format_for(p) for p in ("a.parquet", "b.CSV", "c.jsonl", "d.json", "e.txt")] == [
        "parquet", "csv", "jsonl", "jsonl", None,
    ]  # fmt: skip


def test_parquet_round_trip() -> None:
    out = io.BytesIO()
    writer = FlowWriter(out, "parquet", flow_schema())
    writer.write(BATCH)
    writer.write(BATCH)
    writer.close()
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert table.num_rows == 4 and table.schema.equals(flow_schema(), check_metadata=False)
    assert table.column("src_port").to_pylist() == [56744, None, 56744, None]


def test_empty_parquet_is_still_a_valid_file() -> None:
    out = io.BytesIO()
    writer = FlowWriter(out, "parquet", flow_schema())
    writer.close()
    assert pq.read_table(io.BytesIO(out.getvalue())).num_rows == 0


def test_csv_neutralises_formulas() -> None:
    out = io.BytesIO()
    writer = FlowWriter(out, "csv", flow_schema())
    writer.write(BATCH)
    writer.close()
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert rows[1]["src_addr"].startswith("'=HYPERLINK")
    assert rows[0]["rule"] == "'-cmd" and rows[1]["rule"] == "[UFW BLOCK]"
    assert rows[0]["protocol"] == "tcp" and rows[1]["src_port"] == ""


def test_jsonl_one_object_per_flow() -> None:
    out = io.BytesIO()
    writer = FlowWriter(out, "jsonl", flow_schema())
    writer.write(BATCH)
    writer.close()
    lines = out.getvalue().decode().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert (first["protocol"], first["src_port"], first["start"]) == ("tcp", 56744, None)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(UsageError, match="valid ones are: parquet, csv, jsonl"):
        FlowWriter(io.BytesIO(), "xml", flow_schema())

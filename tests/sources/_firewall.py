"""Helpers for the firewall-log source tests: files to tables, golden files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from portscope.flows import flow_schema
from portscope.sources import ParseStats, read_flows
from tests.sources._flowtest import DATA

OPTIONS = {"year": 2025}  # RFC 3164 times have no year: the fixtures are of 2025


def table_of(path: Path | str, fmt: str, stats: ParseStats | None = None, **options: Any) -> pa.Table:
    """The flow table of one file read as ``fmt``."""
    batches = list(read_flows([str(path)], format=fmt, stats=stats, options={**OPTIONS, **options}))
    return pa.Table.from_batches(batches, schema=flow_schema())


def plain_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows with their non-null values only, times as ISO text: what the .expected.jsonl files hold."""
    return [
        {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in row.items()
            if v is not None and k != "evidence_file"
        }
        for row in table.to_pylist()
    ]


def golden(folder: str, name: str) -> tuple[Path, list[dict[str, Any]]]:
    """A fixture and its expected rows (``NAME.expected.jsonl`` beside it)."""
    path = DATA / folder / name
    expected = path.with_name(path.name.rsplit(".", 1)[0] + ".expected.jsonl")
    return path, [json.loads(line) for line in expected.read_text(encoding="utf-8").splitlines()]

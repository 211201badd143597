"""Zeek conn.logs and VPC flow logs read by the engine (analyze/tables.py) give exactly what
portscope's own readers give."""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow as pa
import pytest

from portscope.analyze.tables import is_zeek_tsv, vpc_header, vpc_table, zeek_fields, zeek_table
from portscope.flows import flow_schema
from portscope.sources import read_flows

DATA = Path(__file__).resolve().parents[1] / "data" / "zeek_conn"
LOGS = ["zat-bro2-conn.log", "teredo-conn.log", "dhcp-conn.log", "unknown-ip-protocol-conn.log", "wikipedia-conn.log"]


@pytest.mark.parametrize("name", LOGS)
def test_engine_read_matches_the_reader(name: str) -> None:
    path = str(DATA / name)
    assert is_zeek_tsv(path)
    con = ibis.duckdb.connect()
    _same(con.to_pyarrow(zeek_table(con, "duckdb", path, zeek_fields(path) or [])), path)


@pytest.mark.parametrize("name", ["default-v2.log", "custom-v3-tcp-flags.log"])
def test_engine_read_of_vpc_logs_matches_the_reader(name: str) -> None:
    path = str(DATA.parent / "aws_vpc" / name)
    header = vpc_header(path)
    assert header is not None
    con = ibis.duckdb.connect()
    _same(con.to_pyarrow(vpc_table(con, "duckdb", path, header)), path)


def _same(theirs: pa.Table, path: str) -> None:
    schema = flow_schema()
    ours = pa.Table.from_batches(list(read_flows([path])), schema=schema)
    assert theirs.num_rows == ours.num_rows > 0
    for field in schema:
        if field.name == "evidence_line":  # engines do not number lines
            assert theirs.column(field.name).null_count == theirs.num_rows
            continue
        kind = pa.string() if pa.types.is_dictionary(field.type) else field.type
        assert theirs.column(field.name).cast(kind).to_pylist() == ours.column(field.name).cast(kind).to_pylist(), (
            field.name
        )


def test_not_a_zeek_or_vpc_log() -> None:
    assert not is_zeek_tsv(str(DATA.parent / "iptables" / "dmesg.txt"))
    assert vpc_header(str(DATA.parent / "iptables" / "dmesg.txt")) is None
    assert vpc_header(str(DATA.parent / "aws_vpc" / "cloudwatch-no-header.log")) is None
    assert zeek_fields(str(DATA / "missing.log")) is None

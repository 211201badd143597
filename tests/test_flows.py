"""The flow schema: generated docs are current, types are as declared, columns convert cleanly."""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.flows import (
    FLOW_COLUMNS,
    batch_from_columns,
    canonical_addresses,
    flow_schema,
    schema_markdown,
)
from tests.conftest import REPO


def test_docs_schema_is_generated_from_the_code() -> None:
    """docs/schema.md must be regenerated (python -m portscope.flows > docs/schema.md) when columns change."""
    assert (REPO / "docs" / "schema.md").read_text(encoding="utf-8") == schema_markdown()


def test_schema_types_and_metadata() -> None:
    schema = flow_schema()
    assert schema.names == [c.name for c in FLOW_COLUMNS]
    assert schema.field("src_port").type == pa.uint16()
    assert schema.field("start").type == pa.timestamp("us", tz="UTC")
    assert pa.types.is_dictionary(schema.field("protocol").type)
    assert schema.field("bytes_out").metadata[b"unit"] == b"bytes (IP)"
    assert all(c.description for c in FLOW_COLUMNS)


def test_batch_from_columns_accepts_arrow_arrays() -> None:
    batch = batch_from_columns({"src_port": pa.array([1, None], type=pa.int64()), "protocol": ["udp", "udp"]}, 2)
    assert batch.column("src_port").type == pa.uint16()
    assert batch.column("protocol").to_pylist() == ["udp", "udp"]


def test_ipv6_text_is_canonical_so_flows_join_across_tools() -> None:
    """The kernel writes fe80:0000:...; Zeek writes fe80::...: both become the RFC 5952 form."""
    batch = batch_from_columns(
        {
            "src_addr": ["FE80:0000:0000:0000:0001:0002:0003:0004", "192.0.2.1", None],
            "dst_addr": ["::ffff:10.0.0.1", "x:y", "::1"],
        },
        3,
    )
    assert batch.column("src_addr").to_pylist() == ["fe80::1:2:3:4", "192.0.2.1", None]
    assert batch.column("dst_addr").to_pylist() == ["10.0.0.1", "x:y", "::1"]


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**128 - 1), st.sampled_from(["compressed", "exploded", "upper"]))
def test_canonical_form_matches_the_ipaddress_module(value: int, form: str) -> None:
    """The C-library fast path gives exactly what Python's ipaddress gives, for any written form."""
    address = ipaddress.IPv6Address(value)
    text = {"compressed": address.compressed, "exploded": address.exploded, "upper": address.exploded.upper()}[form]
    expected = str(address.ipv4_mapped) if address.ipv4_mapped is not None else address.compressed
    assert canonical_addresses(pa.array([text])).to_pylist() == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("::1.2.3.4", "::102:304"),
        ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),
        ("fe80::1%eth0", "fe80::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("not:an:address", "not:an:address"),
    ],
)
def test_canonical_edge_cases(text: str, expected: str) -> None:
    assert canonical_addresses(pa.array([text])).to_pylist() == [expected]

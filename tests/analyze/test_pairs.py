"""pairs.fold: the flows folded per pair and sender lose nothing the analyses read from them.

Checked against the prepared flows themselves, in Python, on 60,000 synthetic flows: every flow is
in exactly one pair, and each pair's counts, sums and times are its flows'."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import ibis

from portscope.analyze import pairs
from portscope.analyze.engine import connect
from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.prepare import STORED, prepare, with_sides
from tests.analyze.synthetic import flow_table

COUNTED = ("flows", "bytes", "denied", "failed", "answered", "first_t", "last_t")


def test_fold_keeps_every_flow_and_its_counts() -> None:
    table, _ = flow_table(60_000, seed=5)
    con = connect("duckdb")
    try:
        flows = with_sides(prepare(ibis.memtable(table), AnalyzeOptions()).select(*STORED))
        rows = con.to_pyarrow(flows).to_pylist()
        folded = con.to_pyarrow(pairs.fold(flows)).to_pylist()
    finally:
        con.disconnect()
    expected: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: dict.fromkeys(COUNTED[:5], 0) | {"first_t": None, "last_t": None}
    )
    for row in rows:
        key = (*(row[k] for k in pairs.PAIR_KEYS), row["client_is_src"], row["app"], row["kind"] == "group")
        pair = expected[key]
        pair["flows"] += 1
        pair["bytes"] += row["bytes"]
        pair["denied"] += row["action"] == "deny"
        pair["failed"] += row["failed"]
        pair["answered"] = max(pair["answered"], int(row["established"]))
        if row["t"] is not None:
            pair["first_t"] = row["t"] if pair["first_t"] is None else min(pair["first_t"], row["t"])
            pair["last_t"] = row["t"] if pair["last_t"] is None else max(pair["last_t"], row["t"])
    got = {
        (*(p[k] for k in pairs.PAIR_KEYS), p["client_is_src"], p["app"], p["group"]): {k: p[k] for k in COUNTED}
        for p in folded
    }
    assert sum(p["flows"] for p in got.values()) == len(rows) == 60_000
    assert len(got) < len(rows) / 2  # a fold, not a copy
    assert got == dict(expected)

"""prepare_row (one flow, plain Python, for explain) gives every column prepare() gives (Ibis, DuckDB):
on every row of the test data, on a synthetic day, and on rows made to hit each rule, under --os any,
--os windows and with --host-os ranges."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from portscope.analyze.engine import connect
from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.prepare import prepare
from portscope.analyze.prepare_row import prepare_row
from portscope.flows import flow_schema
from portscope.sources import ParseStats, read_flows
from tests.analyze.synthetic import flow_table
from tests.conftest import REPO


def _inputs() -> pa.Table:
    """Every flow portscope reads from tests/data (the goldens aside)."""
    files = [p for p in sorted((REPO / "tests" / "data").rglob("*")) if p.is_file() and "golden" not in p.parts]
    stats = ParseStats()
    batches = []
    for path in files:
        try:
            batches += list(read_flows([str(path)], stats=stats))
        except Exception:  # noqa: S112 - expected outputs and notes beside the inputs
            continue
    return pa.Table.from_batches(batches, schema=flow_schema())


def _cases() -> pa.Table:
    """Rows made to hit each rule: nulls where the schema allows them, flags in words and letters,
    equal ports, services on both sides, multicast, an application seen with and without an observed
    originator, a portless protocol, an empty action."""
    base = {"start": None, "src_addr": "203.0.113.7", "dst_addr": "10.0.0.5", "protocol": "tcp"}
    rows: list[dict[str, Any]] = []
    for sport, dport in ((51000, 443), (443, 51000), (8080, 3306), (3306, 8080), (17000, 17000), (7, 7),
                         (1023, 2049), (None, 22), (40000, 50000), (1500, 61000), (51820, 51820)):  # fmt: skip
        for flags in (None, "SYN", "S", "ACK FIN", "FA", "SA", "RST", ""):
            for action in ("deny", "allow", None, ""):
                for initiator in ("observed", "inferred", None):
                    rows.append({**base, "src_port": sport, "dst_port": dport, "tcp_flags": flags, "action": action,
                                 "initiator": initiator})  # fmt: skip
    for proto in ("udp", "UDP", None, "icmp", "47"):
        for sport, dport, dst in ((53, 40000, "10.0.0.5"), (5353, 5353, "224.0.0.251"), (40000, 443, "ff02::fb"),
                                  (123, 123, "192.168.1.255")):  # fmt: skip
            rows.append({**base, "protocol": proto, "ip_proto": 17, "src_port": sport, "dst_port": dport,
                         "dst_addr": dst, "action": "deny"})  # fmt: skip
    for service, initiator in (("ssh", "observed"), ("ssh", None), ("HTTP", "observed"), (None, "observed")):
        rows.append({**base, "src_port": 41000, "dst_port": 41644, "service": service, "initiator": initiator,
                     "conn_state": "SF", "history": "ShADadfF"})  # fmt: skip
    for state, history in (("S0", "S"), ("REJ", "Sr"), ("SF", "ShAdDaFf"), (None, "Sh"), ("OTH", None)):
        rows.append({**base, "src_port": 50000, "dst_port": 22, "conn_state": state, "history": history,
                     "direction": "inbound" if state == "SF" else None})  # fmt: skip
    rows.append({**base, "src_addr": None, "src_port": 1, "dst_port": 2})  # dropped by both
    return pa.Table.from_pylist(rows, schema=flow_schema())


def _compare(table: pa.Table, options: AnalyzeOptions) -> int:
    import ibis

    con = connect("duckdb")
    try:
        con.con.register("flows_in", table)
        engine_rows = con.to_pyarrow(prepare(con.table("flows_in"), options)).to_pylist()
    finally:
        con.disconnect()
    python_rows = [r for r in (prepare_row(flow, options) for flow in table.to_pylist()) if r is not None]
    assert len(engine_rows) == len(python_rows)
    del ibis
    # The engine does not keep the input's order: both sides sorted by every column they share.
    order = sorted(set(engine_rows[0]) & set(python_rows[0])) if engine_rows else []
    engine_rows.sort(key=lambda r: [repr(r[c]) for c in order])
    python_rows.sort(key=lambda r: [repr(r[c]) for c in order])
    mismatches = []
    for index, (engine, python) in enumerate(zip(engine_rows, python_rows, strict=True)):
        for column, value in engine.items():
            if column.endswith(("_low", "_high")):  # --host-os's join columns: the ranges are the row's own
                continue
            if python.get(column) != value and not (column == "start" and python.get(column) == value):
                mismatches.append(
                    (
                        index,
                        column,
                        value,
                        python.get(column),
                        {k: python[k] for k in ("proto", "sport", "dport", "flags")},
                    )
                )
    assert not mismatches, mismatches[:10]
    return len(python_rows)


@pytest.mark.parametrize(
    "options",
    [AnalyzeOptions(), AnalyzeOptions(os="windows", ephemeral=(49152, 65535)),
     AnalyzeOptions(host_ranges=(("10.0.0.5", 49152, 65535), ("203.0.113.7", 1024, 65535)))],
    ids=["any", "windows", "host-os"],
)  # fmt: skip
def test_one_row_is_judged_as_the_table_judges_it(options: AnalyzeOptions) -> None:
    assert _compare(_cases(), options) > 1000


def test_every_row_of_the_test_data_and_a_synthetic_day() -> None:
    assert _compare(_inputs(), AnalyzeOptions()) > 1000
    table, _ = flow_table(60_000, seed=3)
    assert _compare(table, AnalyzeOptions()) == 60_000


def test_the_module_never_imports_an_engine() -> None:
    """explain's speed depends on it: no Ibis, DuckDB or pandas behind prepare_row."""
    import subprocess
    import sys

    code = (
        "import sys, portscope.analyze.prepare_row\n"
        "print(sorted(m for m in ('ibis', 'duckdb', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

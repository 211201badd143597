"""engine.py: what the analyses keep on the engine is freed when they are done."""

from __future__ import annotations

from portscope.analyze.engine import Materialised, connect


def test_materialised_table_is_dropped_on_release() -> None:
    con = connect("duckdb")
    try:
        con.con.execute("CREATE TEMP TABLE ports AS SELECT * FROM (VALUES (22), (443), (56744)) AS v(port)")
        ports = con.table("ports")
        kept = Materialised(ports.mutate(twice=ports.port * 2))
        name = kept.table.op().name
        assert con.to_pyarrow(kept.table.twice.sum()).as_py() == 2 * (22 + 443 + 56744)
        present = "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?"
        assert con.con.execute(present, [name]).fetchone() == (1,)
        kept.release()
        assert con.con.execute(present, [name]).fetchone() == (0,)
        kept.release()  # twice is harmless
    finally:
        con.disconnect()

"""The socket column list is the one schema: the record, the table, Arrow, the JSON keys and the docs follow it."""

from __future__ import annotations

import dataclasses

from portscope.host.columns import SOCKET_COLUMNS, SOCKET_KEYS, socket_schema
from portscope.host.table import SocketTable
from portscope.records import Socket


def test_every_artefact_has_the_columns_in_order() -> None:
    record = tuple(c.name for c in SOCKET_COLUMNS if c.record)
    assert Socket._fields == record
    assert tuple(f.name for f in dataclasses.fields(SocketTable)) == tuple(c.name for c in SOCKET_COLUMNS)
    assert tuple(socket_schema().names) == record
    assert tuple(c.name for c in SOCKET_COLUMNS if c.json) == SOCKET_KEYS
    assert set(SOCKET_KEYS) <= set(record)
    assert all(c.description and c.description[0] != " " for c in SOCKET_COLUMNS)


def test_a_real_snapshot_converts_to_the_schema() -> None:
    """This host's sockets (the test's own listener among them) become an Arrow table of that schema."""
    import socket

    from portscope.host.sockets import snapshot

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        snap = snapshot(processes=False, all_namespaces=False)
        table = snap.to_arrow()
    assert table.schema.equals(socket_schema(), check_metadata=False)  # type: ignore[attr-defined]
    assert table.num_rows == len(snap) > 0  # type: ignore[attr-defined]

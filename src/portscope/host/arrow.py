"""The live socket table as an Arrow table, for the analysis layer (pyarrow is imported only here)."""

from __future__ import annotations

from typing import Any

from portscope.host.table import SocketTable

__all__ = ["SOCKET_SCHEMA", "table_to_arrow"]


def _schema() -> Any:
    import pyarrow as pa

    text, flag = pa.string(), pa.bool_()
    return pa.schema(
        [
            ("protocol", text),
            ("family", pa.uint8()),
            ("state", text),
            ("local_address", text),
            ("local_port", pa.uint16()),
            ("remote_address", text),
            ("remote_port", pa.uint16()),
            ("role", text),
            ("role_basis", text),
            ("role_reason", text),
            ("exposure", text),
            ("dual_stack", flag),
            ("local_service", text),
            ("remote_service", text),
            ("local_ephemeral", flag),
            ("remote_ephemeral", flag),
            ("pid", pa.int32()),
            ("pids", pa.list_(pa.int32())),
            ("process", text),
            ("exe", text),
            ("user", text),
            ("cmdline", text),
            ("owner_note", text),
            ("inode", pa.uint64()),
            ("uid", pa.uint32()),
            ("netns", pa.uint64()),
            ("namespace", text),
            ("receive_queue", pa.uint32()),
            ("send_queue", pa.uint32()),
            ("published", text),
        ]
    )


SOCKET_SCHEMA = _schema


def table_to_arrow(table: SocketTable) -> Any:
    """One Arrow column per Socket field, typed by :func:`SOCKET_SCHEMA`."""
    import pyarrow as pa

    schema = _schema()
    arrays = [pa.array(values, type=schema.field(name).type) for name, values in table.columns()]
    return pa.Table.from_arrays(arrays, schema=schema)

"""The live socket table as an Arrow table, for the analysis layer (pyarrow is imported only here)."""

from __future__ import annotations

from typing import Any

from portscope.host.columns import socket_schema
from portscope.host.table import SocketTable

__all__ = ["table_to_arrow"]


def table_to_arrow(table: SocketTable) -> Any:
    """One Arrow column per Socket field, typed by :func:`~portscope.host.columns.socket_schema`."""
    import pyarrow as pa

    schema = socket_schema()
    arrays = [pa.array(values, type=schema.field(name).type) for name, values in table.columns()]
    return pa.Table.from_arrays(arrays, schema=schema)

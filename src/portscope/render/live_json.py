"""``portscope live --json`` / ``--csv``: the snapshot for machines (shape in docs/live.md).

Built column-wise: one ``zip`` over the table's columns makes every socket's object, and the C JSON
encoder writes them; 100,000 sockets cost a fraction of a second.
"""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from portscope.host.sockets import Snapshot
from portscope.host.table import SocketTable
from portscope.records import EphemeralHealth, Finding, Socket
from portscope.render.sanitize import for_csv

__all__ = ["LIVE_SCHEMA", "write_csv", "write_json"]

LIVE_SCHEMA = "portscope.live/1"


def _record(value: Any) -> Any:
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: _record(v) for k, v in value._asdict().items()}
    if isinstance(value, (tuple, list)):
        return [_record(v) for v in value]
    return value


def _sockets(table: SocketTable) -> list[dict[str, Any]]:
    names = Socket._fields
    columns = [getattr(table, name) for name in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def write_json(
    out: TextIO, snap: Snapshot, table: SocketTable, health: list[EphemeralHealth], findings: list[Finding]
) -> None:
    document = {
        "schema": LIVE_SCHEMA,
        "taken_at": snap.taken_at,
        "backend": snap.backend,
        "namespaces": [
            {
                "label": v.label,
                "inode": v.inode,
                "names": list(v.names),
                "container": v.container,
                "sockets": v.sockets,
                "ephemeral_ranges": [_record(r) for r in v.ranges],
            }
            for v in snap.namespaces
        ],
        "attribution": snap.attribution.as_dict(),
        "notes": snap.notes,
        "health": [_record(h) for h in health],
        "findings": [_record(f) for f in findings],
        "count": len(table),
        "sockets": _sockets(table),
    }
    json.dump(document, out, ensure_ascii=False, separators=(",", ":"))
    out.write("\n")


def write_csv(out: TextIO, table: SocketTable) -> None:
    """One row per socket, header first; text cells neutralised against spreadsheet formulas."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(Socket._fields)
    columns = [getattr(table, name) for name in Socket._fields]
    for row in zip(*columns, strict=True):
        writer.writerow(
            [
                for_csv(v)
                if isinstance(v, str)
                else ("" if v is None else " ".join(map(str, v)) if isinstance(v, tuple) else v)
                for v in row
            ]
        )

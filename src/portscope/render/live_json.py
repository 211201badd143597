"""``portscope live --json`` / ``--csv``: the snapshot for machines (shape in docs/live.md).

Built column-wise: one ``zip`` over the table's columns makes every socket's array, and orjson
writes them (the standard library's encoder costs ~12 us a socket, over a second at 100,000).
"""

from __future__ import annotations

import csv
from functools import cache
from typing import Any, TextIO

import orjson

from portscope.findings import Finding
from portscope.host.columns import SOCKET_KEYS
from portscope.host.owners import OWNER_NOTES
from portscope.host.roles import REASONS
from portscope.host.sockets import Snapshot
from portscope.host.table import SocketTable
from portscope.records import EphemeralHealth, Socket
from portscope.render.findings import findings_json
from portscope.render.sanitize import for_csv

__all__ = ["LIVE_SCHEMA", "socket_objects", "socket_rows", "write_csv", "write_json"]

LIVE_SCHEMA = "portscope.live/2"


def _record(value: Any) -> Any:
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: _record(v) for k, v in value._asdict().items()}
    if isinstance(value, (tuple, list)):
        return [_record(v) for v in value]
    return value


def socket_rows(table: SocketTable) -> list[tuple[Any, ...]]:
    """One array per socket, its values in ``SOCKET_KEYS`` order: ``--json --columnar``'s form, a third
    of the size and of the work (``zip`` makes the arrays in C)."""
    return list(zip(*(getattr(table, name) for name in SOCKET_KEYS), strict=True))


def socket_objects(table: SocketTable) -> list[Any]:
    """One object per socket, keyed by ``SOCKET_KEYS``: what ``jq '.sockets[] | select(.local_port == 22)'``
    expects. A socket carries its own facts; who its process is (exe, command line) is said once per
    process in "processes", not once per socket: 8,000 sockets of one server need not repeat its
    command line.

    Each is an instance of a dataclass of those fields, which orjson writes as the same JSON object a
    dict would make, in field order, straight from the instance's ``__dict__`` (CPython keeps it as one
    array of values whose keys all instances share). At 100,000 sockets of 24 keys, building and writing
    them took 0.20-0.23 s as dicts (``dict(zip(keys, row))``), 0.18-0.21 s as slotted records (orjson
    then reads each field by name) and 0.11-0.12 s as these. A second process making half of them
    saved nothing: copying the pages whose reference counts it touched cost what it saved."""
    return list(map(_socket_record(), *(getattr(table, name) for name in SOCKET_KEYS)))


@cache
def _socket_record() -> Any:
    import dataclasses

    return dataclasses.make_dataclass("SocketObject", SOCKET_KEYS)


def _processes(table: SocketTable) -> dict[str, dict[str, Any]]:
    """pid -> who it is, once per process (the distinct owners are found by a C-level ``set``)."""
    owners = set(zip(table.pid, table.process, table.exe, table.cmdline, table.user, strict=True))
    return {
        str(pid): {"pid": pid, "name": name, "exe": exe, "cmdline": cmdline, "user": user}
        for pid, name, exe, cmdline, user in sorted(owners, key=lambda o: o[0] or 0)
        if pid is not None
    }


def write_json(
    out: TextIO,
    snap: Snapshot,
    table: SocketTable,
    health: list[EphemeralHealth],
    findings: list[Finding],
    *,
    columnar: bool = False,
) -> None:
    """The snapshot as one JSON document (docs/live.md); ``columnar``: each socket an array of its values
    in ``socket_fields`` order instead of an object."""
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
                "addresses": list(v.addresses),
                "conntrack": None if v.conntrack is None else {**_record(v.conntrack), "fill": v.conntrack.fill},
            }
            for v in snap.namespaces
        ],
        "attribution": snap.attribution.as_dict(),
        "notes": snap.notes,
        "health": [_record(h) for h in health],
        "findings": findings_json(findings),
        "reasons": REASONS,
        "owner_notes": OWNER_NOTES,
        "processes": _processes(table),
        "count": len(table),
        "columnar": columnar,
        "socket_fields": list(SOCKET_KEYS),
        "sockets": socket_rows(table) if columnar else socket_objects(table),
    }
    data = orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()
        buffer.write(data)
    else:
        out.write(data.decode())


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

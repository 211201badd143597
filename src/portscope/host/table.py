"""The live socket table: one column per field, row ``i`` of every list is one socket.

Columnar because a busy host holds sockets by the hundred thousand: parallel lists cost a fraction
of an object per socket, filter cheaply, and become Arrow columns without a pass over rows. A
:class:`~portscope.records.Socket` is built only for the rows someone reads.

The pipeline fills it in three steps, each owning its columns:
back-end (sockets.py: addresses, states, inodes) -> attribution (owners.py: pid, process) ->
classification (roles.py: role, exposure, per-side port classes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields

from portscope.records import Socket

__all__ = ["SocketTable"]


@dataclass
class SocketTable:
    """The columns of :class:`~portscope.records.Socket`, in the same order and with the same names, and
    the table's own (``v6only``): all from :data:`portscope.host.columns.SOCKET_COLUMNS`."""

    # BEGIN generated from portscope.host.columns: python scripts/generate.py
    protocol: list[str] = field(default_factory=list)
    family: list[int] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    local_address: list[str] = field(default_factory=list)
    local_port: list[int] = field(default_factory=list)
    remote_address: list[str | None] = field(default_factory=list)
    remote_port: list[int | None] = field(default_factory=list)
    role: list[str] = field(default_factory=list)
    role_basis: list[str] = field(default_factory=list)
    role_reason: list[str] = field(default_factory=list)
    exposure: list[str | None] = field(default_factory=list)
    dual_stack: list[bool | None] = field(default_factory=list)
    local_service: list[str | None] = field(default_factory=list)
    remote_service: list[str | None] = field(default_factory=list)
    local_ephemeral: list[bool] = field(default_factory=list)
    remote_ephemeral: list[bool | None] = field(default_factory=list)
    pid: list[int | None] = field(default_factory=list)
    pids: list[tuple[int, ...]] = field(default_factory=list)
    process: list[str | None] = field(default_factory=list)
    exe: list[str | None] = field(default_factory=list)
    user: list[str | None] = field(default_factory=list)
    cmdline: list[str | None] = field(default_factory=list)
    owner_note: list[str | None] = field(default_factory=list)
    inode: list[int | None] = field(default_factory=list)
    uid: list[int | None] = field(default_factory=list)
    netns: list[int | None] = field(default_factory=list)
    namespace: list[str] = field(default_factory=list)
    receive_queue: list[int | None] = field(default_factory=list)
    send_queue: list[int | None] = field(default_factory=list)
    published: list[str | None] = field(default_factory=list)
    v6only: list[bool | None] = field(default_factory=list)
    # END generated

    def __len__(self) -> int:
        return len(self.protocol)

    def columns(self) -> Iterator[tuple[str, list[object]]]:
        """(name, values) for every Socket field, in record order."""
        for name in Socket._fields:
            yield name, getattr(self, name)

    def row(self, index: int) -> Socket:
        return Socket._make(getattr(self, name)[index] for name in Socket._fields)

    def rows(self, indices: Iterable[int] | None = None) -> Iterator[Socket]:
        """Rows as records: all of them, or those at ``indices``."""
        cols = [getattr(self, name) for name in Socket._fields]
        chosen = range(len(self)) if indices is None else indices
        make = Socket._make
        return (make([c[i] for c in cols]) for i in chosen)

    def take(self, indices: list[int]) -> SocketTable:
        """A new table holding only the rows at ``indices`` (in that order)."""
        out = SocketTable()
        for f in fields(self):
            column = getattr(self, f.name)
            setattr(out, f.name, [column[i] for i in indices])
        return out

    def extend(self, other: SocketTable) -> None:
        for f in fields(self):
            getattr(self, f.name).extend(getattr(other, f.name))

    def check(self) -> None:
        """Every column as long as the table: a cheap guard against a back-end forgetting one."""
        size = len(self)
        short = [f.name for f in fields(self) if len(getattr(self, f.name)) != size]
        if short:
            raise AssertionError(f"socket table columns of the wrong length: {short}")

"""Which process owns each socket: the slow part of every tool in this field, done once per snapshot.

On Linux a socket's owner is whoever holds a file descriptor to its inode, so we walk
/proc/<pid>/fd once for the whole snapshot (not once per socket, the cost psutil #708 and osquery
PR #4225 describe), then read each owning process's name, exe, user and command line once, cached by
(pid, start time) so a reused pid is never confused with the process it replaced.

A socket without an owner always says why (``owner_note``): TIME_WAIT and SYN_RECV sockets belong
to the kernel alone; other sockets are hidden when we may not read every process's fd table
(not root), or the process exited while we looked.
"""

from __future__ import annotations

import os
import pwd
from functools import cache
from typing import cast

from portscope.host._procfs import SocketOwners, process_info
from portscope.host.table import SocketTable

__all__ = ["OWNER_NOTES", "OWNER_NOTES_SHORT", "AttributionStats", "attribute", "user_name"]

# States in which no process holds the socket: the kernel keeps it alone (tcp_time_wait(), request socks).
KERNEL_ONLY_STATES = frozenset({"TIME_WAIT", "SYN_RECV", "NEW_SYN_RECV"})

# Why a socket has no pid: a stable code in the table, a sentence for people.
OWNER_NOTES = {
    "kernel-only": "no process: TIME_WAIT, SYN_RECV and orphaned sockets are held by the kernel alone",
    "not-visible": "owner not visible: other users' processes' file descriptors cannot be read without root",
    "no-holder": "no process holds it (not yet accepted, or closed by its owner while portscope looked)",
    "outside": "held by a process this pid namespace cannot see: the host's when portscope runs in a container, "
    "or another container's",
    "exited": "the process exited while portscope looked",
    "skipped": "process lookup skipped (--no-process)",
    "unknown": "the operating system did not tell the owner (not root, or the process exited)",
}
# The same, in the few words a table cell has room for.
OWNER_NOTES_SHORT = {
    "kernel-only": "kernel only",
    "not-visible": "owner hidden without root",
    "no-holder": "no process holds it",
    "outside": "outside this pid namespace",
    "exited": "process exited",
    "skipped": "lookup skipped",
    "unknown": "owner unknown",
}
NOTE_KERNEL, NOTE_DENIED, NOTE_ORPHAN, NOTE_EXITED, NOTE_SKIPPED, NOTE_OUTSIDE = (
    "kernel-only", "not-visible", "no-holder", "exited", "skipped", "outside"
)  # fmt: skip
# States a socket stays in while its owner lives: unowned in one, after a full walk, its owner is elsewhere.
_HELD_STATES = frozenset({"LISTEN", "UNCONN"})


class AttributionStats:
    """How complete the attribution is, to say plainly what could not be seen and why."""

    def __init__(self, scanned: int = 0, denied: int = 0, vanished: int = 0, skipped: bool = False) -> None:
        self.scanned = scanned
        self.denied = denied
        self.vanished = vanished
        self.skipped = skipped
        self.attributed = 0
        self.ownerless = 0
        self.kernel_only = 0

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "processes_scanned": self.scanned,
            "processes_denied": self.denied,
            "processes_vanished": self.vanished,
            "sockets_attributed": self.attributed,
            "sockets_kernel_only": self.kernel_only,
            "sockets_without_owner": self.ownerless,
            "skipped": self.skipped,
        }


@cache
def user_name(uid: int) -> str:
    """The login name for ``uid``, or the number as text where the passwd database has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _fill_skipped(table: SocketTable, note: str) -> None:
    n = len(table)
    table.pid = [None] * n
    table.pids = [()] * n
    table.process = [None] * n
    table.exe = [None] * n
    table.cmdline = [None] * n
    table.user = [user_name(u) if u is not None else None for u in table.uid]
    table.owner_note = [note] * n


# pid, pids, process name, exe, cmdline, user, owner_note: the process columns of one socket.
_OwnerRow = tuple[int | None, tuple[int, ...], str | None, str | None, str | None, str | None, str | None]


def _user(uid: int | None) -> str | None:
    return user_name(uid) if uid is not None else None


def attribute(table: SocketTable, owners: SocketOwners | None) -> AttributionStats:
    """Fill the process columns of ``table`` (pid, pids, process, exe, user, cmdline, owner_note).

    ``owners`` is the /proc walk's map (None: the lookup was skipped). Each owning process is read
    once; its columns' values are shared tuples, so 100,000 sockets cost one dict look-up each.
    """
    if owners is None:
        _fill_skipped(table, NOTE_SKIPPED)
        return AttributionStats(skipped=True)
    stats = AttributionStats(owners.scanned, owners.denied, owners.vanished)
    unowned_note = NOTE_DENIED if owners.denied else NOTE_ORPHAN
    first, shared = owners.first, owners.shared
    # pid, pids, process name, exe, cmdline, user, owner_note: built once per owner, then every
    # socket takes its owner's row through a C-level map; only the exceptions are walked in Python.
    inodes = table.inode
    by_inode = cast("dict[int | None, int]", first)  # .get(None) is None: no inode, no owner
    holders = list(map(by_inode.get, inodes))
    per_owner: dict[int | None, _OwnerRow | None] = {None: None}
    for holder in {h for h in holders if h is not None}:
        info = process_info(holder)
        if info is None:
            per_owner[holder] = (holder, (holder,), None, None, None, None, NOTE_EXITED)
        else:
            per_owner[holder] = (holder, (holder,), info.name, info.exe, info.cmdline, _user(info.uid), None)
    found = list(map(per_owner.__getitem__, holders))
    kernel_only = 0
    for i in [i for i, row in enumerate(found) if row is None]:
        state = table.state[i]
        kernel = state in KERNEL_ONLY_STATES or not inodes[i]
        kernel_only += kernel
        note = NOTE_KERNEL if kernel else unowned_note
        if note == NOTE_ORPHAN and state in _HELD_STATES:  # a listener is no connection waiting for accept()
            note = NOTE_OUTSIDE
        found[i] = (None, (), None, None, None, _user(table.uid[i]), note)
    rows = cast("list[_OwnerRow]", found)  # every None was replaced just above
    if shared:  # sockets several processes hold (after fork): list them all
        for i, inode in enumerate(inodes):
            if inode is not None and inode in shared:
                pids = tuple(sorted(set(shared[inode])))
                rows[i] = (pids[0], pids, *rows[i][2:])
    attributed = len(rows) - sum(1 for row in rows if row[0] is None)
    stats.attributed, stats.kernel_only = attributed, kernel_only
    stats.ownerless = len(rows) - attributed - kernel_only
    if rows:
        columns = list(zip(*rows, strict=True))
        table.pid, table.pids, table.process, table.exe, table.cmdline, table.user, table.owner_note = (
            list(c) for c in columns
        )
    else:
        _fill_skipped(table, NOTE_SKIPPED)
    return stats


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0

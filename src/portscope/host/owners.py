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

from portscope.host._procfs import ProcessInfo, process_info, socket_owners
from portscope.host.table import SocketTable

__all__ = ["AttributionStats", "attribute", "user_name"]

# States in which no process holds the socket: the kernel keeps it alone (tcp_time_wait(), request socks).
KERNEL_ONLY_STATES = frozenset({"TIME_WAIT", "SYN_RECV", "NEW_SYN_RECV"})
NOTE_KERNEL = "no process: {state} sockets are held by the kernel alone, after (or before) any process had them"
NOTE_DENIED = "owner not visible: {denied} processes' file descriptors cannot be read without root"
NOTE_ORPHAN = "no process holds it (closed by its owner, or it exited while portscope looked)"
NOTE_SKIPPED = "process lookup skipped (--no-process)"


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


def attribute(table: SocketTable, *, processes: bool = True) -> AttributionStats:
    """Fill the process columns of ``table`` (pid, pids, process, exe, user, cmdline, owner_note)."""
    if not processes:
        _fill_skipped(table, NOTE_SKIPPED)
        return AttributionStats(skipped=True)
    wanted = {i for i in table.inode if i}
    owners = socket_owners(wanted)
    stats = AttributionStats(owners.scanned, owners.denied, owners.vanished)
    infos: dict[int, ProcessInfo | None] = {}
    denied_note = NOTE_DENIED.format(denied=owners.denied) if owners.denied else NOTE_ORPHAN
    pid_col: list[int | None] = []
    pids_col: list[tuple[int, ...]] = []
    name_col: list[str | None] = []
    exe_col: list[str | None] = []
    cmd_col: list[str | None] = []
    user_col: list[str | None] = []
    note_col: list[str | None] = []
    by_inode = owners.owners
    for inode, state, uid in zip(table.inode, table.state, table.uid, strict=True):
        holders = by_inode.get(inode) if inode else None
        if holders:
            pid = min(holders)
            info = infos.get(pid)
            if pid not in infos:
                info = infos[pid] = process_info(pid)
            stats.attributed += 1
            pid_col.append(pid)
            pids_col.append(tuple(sorted(set(holders))))
            if info is not None:
                name_col.append(info.name)
                exe_col.append(info.exe)
                cmd_col.append(info.cmdline)
                owner_uid = info.uid if info.uid is not None else uid
                user_col.append(user_name(owner_uid) if owner_uid is not None else None)
                note_col.append(None)
            else:
                name_col.append(None)
                exe_col.append(None)
                cmd_col.append(None)
                user_col.append(user_name(uid) if uid is not None else None)
                note_col.append("the process exited while portscope looked")
            continue
        pid_col.append(None)
        pids_col.append(())
        name_col.append(None)
        exe_col.append(None)
        cmd_col.append(None)
        user_col.append(user_name(uid) if uid is not None else None)
        if state in KERNEL_ONLY_STATES or not inode:
            stats.kernel_only += 1
            note_col.append(NOTE_KERNEL.format(state=state))
        else:
            stats.ownerless += 1
            note_col.append(denied_note)
    table.pid, table.pids, table.process, table.exe = pid_col, pids_col, name_col, exe_col
    table.cmdline, table.user, table.owner_note = cmd_col, user_col, note_col
    return stats


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0

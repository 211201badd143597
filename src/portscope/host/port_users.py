"""Who uses one port on this host right now: the live part of ``portscope explain``.

Cheaper than a full snapshot, because explain must start in milliseconds: one sock_diag dump (no
classification), and a /proc walk only when some socket matches, stopping as soon as every matching
socket has an owner. Elsewhere than Linux, psutil.
"""

from __future__ import annotations

import sys

from portscope.records import PortUse

TYPE_CHECKING = False  # typing costs explain's start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable

    from portscope.host._netlink import RawSockets

__all__ = ["PortUsers", "port_users"]


class PortUsers:
    """The sockets using a port, and whether some owners could not be seen (not root)."""

    def __init__(self, uses: list[PortUse], hidden_owners: int) -> None:
        self.uses = uses
        self.hidden_owners = hidden_owners


def _linux(port: int, protocols: tuple[str, ...], dump: Callable[[], RawSockets] | None) -> PortUsers:
    from portscope.host._netlink import TCP_STATE_NAMES, dump_inet_sockets
    from portscope.host._procfs import process_info, socket_owners

    raw = dump() if dump is not None else dump_inet_sockets([p for p in ("tcp", "udp") if p in protocols])
    matches = [
        i
        for i in range(len(raw))
        if (raw.local_port[i] == port or raw.remote_port[i] == port) and raw.protocol[i] in protocols
    ]
    inodes = {inode for i in matches if (inode := raw.inode[i])}
    owners = socket_owners(inodes, stop_early=True) if inodes else None
    first = owners.first if owners is not None else {}
    uses = []
    hidden = 0
    for i in matches:
        proto, state_number = raw.protocol[i], raw.state[i]
        state = (
            ("UNCONN" if state_number == 7 else "ESTABLISHED")
            if proto == "udp"
            else TCP_STATE_NAMES.get(state_number, str(state_number))
        )
        inode = raw.inode[i]
        pid = first.get(inode) if inode else None
        info = process_info(pid) if pid is not None else None
        uid = info.uid if info is not None and info.uid is not None else raw.uid[i]
        if pid is None and inode and owners is not None and owners.denied:
            hidden += 1
        uses.append(
            PortUse(
                protocol=proto,
                state=state,
                side="local" if raw.local_port[i] == port else "remote",
                local_address=raw.local_address[i],
                local_port=raw.local_port[i],
                remote_address=raw.remote_address[i],
                remote_port=raw.remote_port[i],
                pid=pid,
                process=info.name if info is not None else None,
                user=_user(uid),
            )
        )
    return PortUsers(uses, hidden)


def _user(uid: int | None) -> str | None:
    if uid is None:
        return None
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _psutil(port: int, protocols: tuple[str, ...]) -> PortUsers:
    import socket

    import psutil

    uses = []
    for c in psutil.net_connections(kind="inet"):
        proto = "tcp" if c.type == socket.SOCK_STREAM else "udp"
        if proto not in protocols or not c.laddr:
            continue
        remote_port = c.raddr.port if c.raddr else None
        if port not in (c.laddr.port, remote_port):
            continue
        try:
            name = psutil.Process(c.pid).name() if c.pid else None
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            name = None
        state = c.status if proto == "tcp" else ("ESTABLISHED" if c.raddr else "UNCONN")
        uses.append(
            PortUse(proto, state, "local" if c.laddr.port == port else "remote", c.laddr.ip, c.laddr.port,
                    c.raddr.ip if c.raddr else None, remote_port, c.pid, name, None)
        )  # fmt: skip
    return PortUsers(uses, 0)


def port_users(
    port: int,
    protocols: tuple[str, ...],
    platform: str = sys.platform,
    *,
    dump: Callable[[], RawSockets] | None = None,
) -> PortUsers:
    """Every socket of this host (this network namespace) with ``port`` on either side, with its process.

    ``dump`` (Linux): a sock_diag dump already under way (:func:`portscope.host._netlink.start_dump`),
    used instead of a new one. Raises PlatformError where the OS does not let us list sockets.
    """
    if platform.startswith("linux"):
        return _linux(port, protocols, dump)
    return _psutil(port, protocols)

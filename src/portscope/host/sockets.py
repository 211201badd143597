"""A snapshot of this host's TCP and UDP sockets, with owners and roles: what ``portscope live`` shows.

One public function, :func:`snapshot`, picks the back-end once (psutil's model):
- Linux: netlink sock_diag (:mod:`portscope.host._netlink`) for the sockets and one /proc walk for
  their owners (:mod:`portscope.host.owners`); as root, every network namespace in turn.
- elsewhere, or Linux without netlink (``backend="psutil"`` forces it; the tests do): psutil.
Then :func:`portscope.host.roles.classify` gives each socket its role.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from portscope._words import count
from portscope.errors import PlatformError, UsageError
from portscope.host.ephemeral import client_range_of, host_port_ranges
from portscope.host.owners import KERNEL_ONLY_STATES, AttributionStats, attribute
from portscope.host.roles import DEFAULT_RANGE, classify
from portscope.host.table import SocketTable
from portscope.records import ClientRange, ConntrackUsage, DnatRule, HostPortRange, NetNamespace

if TYPE_CHECKING:
    from portscope.host._procfs import SharedOwnerWalk

__all__ = ["BACKENDS", "NamespaceView", "Snapshot", "client_range_of_view", "snapshot"]

BACKENDS = ("netlink", "psutil")
_T = TypeVar("_T")
UDP_STATES = {7: "UNCONN", 1: "ESTABLISHED"}
_FAMILY_NUMBER: dict[int, int] = {socket.AF_INET: 4, socket.AF_INET6: 6}


@dataclass(frozen=True)
class NamespaceView:
    """One network namespace as the snapshot saw it: its label, inode, its own ephemeral range, its
    addresses, and how full its connection-tracking table is (None where conntrack is not loaded)."""

    label: str
    inode: int | None
    ranges: tuple[HostPortRange, ...]
    names: tuple[str, ...] = ()
    container: str | None = None
    sockets: int = 0
    addresses: tuple[str, ...] = ()
    conntrack: ConntrackUsage | None = None


@dataclass
class Snapshot:
    """This host's sockets at ``taken_at`` (Unix time), classified; the library's answer to ``live``.

    ``notes`` are plain sentences about what could not be seen and why (not root, a namespace that
    could not be entered); ``attribution`` counts how many sockets have an owner.
    """

    table: SocketTable
    taken_at: float
    backend: str
    namespaces: list[NamespaceView]
    attribution: AttributionStats
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.table)

    def to_arrow(self) -> object:
        """The sockets as a ``pyarrow.Table`` (pyarrow is imported here, never at start-up)."""
        from portscope.host.arrow import table_to_arrow

        return table_to_arrow(self.table)


def _current_netns() -> int | None:
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return None


def _host_netns() -> int | None:
    try:
        return os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return None


def _netlink_table(netns: int | None, label: str, read_ahead: bool = True) -> SocketTable:
    from portscope.host._netlink import TCP_STATE_NAMES, dump_inet_sockets

    raw = dump_inet_sockets(read_ahead=read_ahead)
    n = len(raw)
    table = SocketTable()
    table.protocol = raw.protocol
    table.family = list(map(_FAMILY_NUMBER.__getitem__, raw.family))
    # (protocol, kernel state) -> name, for every pair the dump holds; then one C-level map per row.
    names = {
        (p, st): (UDP_STATES if p == "udp" else {}).get(st) or TCP_STATE_NAMES.get(st, str(st))
        for p, st in set(zip(raw.protocol, raw.state, strict=True))
    }
    table.state = list(map(names.__getitem__, zip(raw.protocol, raw.state, strict=True)))
    table.local_address = raw.local_address
    table.local_port = raw.local_port
    table.remote_address = raw.remote_address
    table.remote_port = raw.remote_port
    table.inode = raw.inode
    table.uid = raw.uid
    table.v6only = raw.v6only
    table.receive_queue = list(raw.receive_queue)
    table.send_queue = list(raw.send_queue)
    table.netns = [netns] * n
    table.namespace = [label] * n
    return table


def client_range_of_view(view: NamespaceView) -> ClientRange:
    """The client range a namespace's sockets are judged by: its own, else the Linux default."""
    return client_range_of(view.ranges, "tcp", view.label) or DEFAULT_RANGE


def namespace_label(ns: NetNamespace) -> str:
    """``host``, the ``ip netns`` name, ``docker:0123456789ab``, or ``netns:[INODE]``."""
    if ns.is_host:
        return "host"
    if ns.names:
        return ns.names[0]
    if ns.container is not None:
        return f"{ns.container.runtime}:{ns.container.id[:12]}"
    return f"netns:[{ns.inode}]"


def _view(label: str, inode: int | None, ns: NetNamespace | None, sockets: int) -> NamespaceView:
    """What we read about the namespace the calling thread is in now."""
    from portscope.host.addresses import namespace_addresses
    from portscope.host.nat import conntrack_usage

    container = None if ns is None or ns.container is None else f"{ns.container.runtime}:{ns.container.id}"
    return NamespaceView(
        label,
        inode,
        host_port_ranges(),
        names=ns.names if ns is not None else (),
        container=container,
        sockets=sockets,
        addresses=namespace_addresses(),
        conntrack=conntrack_usage(),
    )


def _other_namespaces(current: int | None, notes: list[str]) -> list[tuple[NamespaceView, SocketTable]]:
    """Enter every other network namespace (root only) and dump its sockets there."""
    from portscope.errors import PortscopeError
    from portscope.host.namespaces import enter, list_namespaces

    found = list_namespaces()
    others = [ns for ns in found if ns.inode != current]
    if not others:
        return []
    if os.geteuid() != 0:
        notes.append(
            f"{len(others)} other network namespaces (containers, ip netns) hold sockets not shown here; "
            "run as root to see them"
        )
        return []
    out = []
    for ns in others:
        label = namespace_label(ns)
        try:
            with enter(ns):
                table = _netlink_table(ns.inode, label)
                view = _view(label, ns.inode, ns, len(table))
        except PortscopeError as exc:  # it vanished, or the kernel refused: say so and go on
            notes.append(f"network namespace {label} could not be read: {exc}")
            continue
        out.append((view, table))
    return out


def _published(table: SocketTable, views: list[NamespaceView], notes: list[str]) -> list[DnatRule]:
    """Mark the listeners that DNAT rules publish; rules are read in our own (the host's) namespace."""
    from portscope.host.nat import dnat_rules
    from portscope.host.published import mark_published

    rules = dnat_rules(timeout=5.0) if os.geteuid() == 0 else []
    mark_published(table, rules, {v.inode: v.addresses for v in views})
    if rules and hasattr(rules, "reasons"):
        notes.extend(f"NAT rules: {reason}" for reason in rules.reasons)
    return list(rules)


def _linux_snapshot(processes: bool, all_namespaces: bool, walk: SharedOwnerWalk | None = None) -> Snapshot:
    from portscope.host._procfs import SharedOwnerWalk

    # The owner walk is the slow, kernel-bound step: start it first, on the other core, and join it last
    # (or the caller started it earlier still). Socket inodes are unique host-wide: one walk serves
    # every namespace.
    if walk is None and processes:
        walk = SharedOwnerWalk()
    notes: list[str] = []
    current, host = _current_netns(), _host_netns()
    # pid 1's namespace is the host's; where we may not read it (a sandbox), assume ours is the host's.
    label = "host" if host is None or current == host else f"netns:[{current}]"
    table = _netlink_table(current, label, read_ahead=walk is None)  # the walk has the other core
    views = [_view(label, current, None, len(table))]
    if all_namespaces:
        for view, other in _other_namespaces(current, notes):
            views.append(view)
            table.extend(other)
    classify(table, {v.inode: client_range_of_view(v) for v in views})
    _published(table, views, notes)
    stats = attribute(table, walk.finish() if walk is not None else None)
    snap = Snapshot(table, time.time(), "netlink", views, stats, notes)
    if stats.denied:
        snap.notes.append(
            f"the file descriptors of {count(stats.denied, 'process')} could not be read without root, so "
            f"{count(stats.ownerless, 'socket')} show no owner; run as root to attribute every socket"
        )
    return snap


def _psutil_snapshot(processes: bool) -> Snapshot:
    try:
        import psutil
    except ImportError as exc:
        raise PlatformError("the psutil back-end needs psutil: pip install psutil") from exc
    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied as exc:
        raise PlatformError("psutil may not list this host's sockets without more privilege (run as root)") from exc
    table = SocketTable()
    info: dict[int, tuple[str | None, str | None, str | None, str | None]] = {}
    denied = 0
    for c in conns:
        proto = "tcp" if c.type == socket.SOCK_STREAM else "udp"
        laddr, raddr = c.laddr, c.raddr  # psutil gives () for "no address"
        if not laddr:
            continue
        local = _unmap(laddr.ip)
        table.protocol.append(proto)
        table.family.append(4 if c.family == socket.AF_INET else 6)
        if proto == "udp":
            table.state.append("ESTABLISHED" if raddr else "UNCONN")
        else:
            table.state.append("SYN_RECV" if c.status == "SYN_RECV" else c.status)
        table.local_address.append(local)
        table.local_port.append(laddr.port)
        table.remote_address.append(_unmap(raddr.ip) if raddr else None)
        table.remote_port.append(raddr.port if raddr else None)
        table.inode.append(None)
        table.uid.append(None)
        table.v6only.append(None)
        table.receive_queue.append(None)
        table.send_queue.append(None)
        pid = c.pid if processes else None
        if pid is not None and pid not in info:
            try:
                p = psutil.Process(pid)
                with p.oneshot():
                    argv = _try(p.cmdline)
                    info[pid] = (p.name(), _try(p.exe), _try(p.username), " ".join(argv) if argv else None)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                info[pid] = (None, None, None, None)
            except psutil.AccessDenied:
                denied += 1
                info[pid] = (None, None, None, None)
        name, exe, user, cmdline = info.get(pid, (None, None, None, None)) if pid is not None else (None,) * 4
        table.pid.append(pid)
        table.pids.append((pid,) if pid is not None else ())
        table.process.append(name)
        table.exe.append(exe)
        table.user.append(user)
        table.cmdline.append(cmdline)
        if pid is not None:
            table.owner_note.append(None)
        elif not processes:
            table.owner_note.append("skipped")
        elif table.state[-1] in KERNEL_ONLY_STATES:
            table.owner_note.append("kernel-only")
        else:
            table.owner_note.append("unknown")
    n = len(table)
    table.netns = [None] * n
    table.namespace = ["this host"] * n
    table.published = [None] * n
    stats = AttributionStats(scanned=len(info), denied=denied, skipped=not processes)
    stats.attributed = sum(1 for p in table.pid if p is not None)
    stats.ownerless = n - stats.attributed
    view = NamespaceView("this host", None, host_port_ranges(), sockets=n)
    classify(table, {None: client_range_of_view(view)})
    return Snapshot(table, time.time(), "psutil", [view], stats)


def _try(method: Callable[[], _T]) -> _T | None:
    """Call a psutil accessor, None where the OS denies it (exe, username, cmdline of others' processes)."""
    import psutil

    try:
        return method()
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def _unmap(address: str) -> str:
    """``::ffff:a.b.c.d`` is the IPv4 address it carries."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address


def _choose(backend: str | None) -> str:
    if backend is not None:
        if backend not in BACKENDS:
            raise UsageError(f"unknown socket back-end {backend!r}; valid ones are: {', '.join(BACKENDS)}")
        return backend
    return "netlink" if sys.platform.startswith("linux") else "psutil"


def snapshot(
    *,
    processes: bool = True,
    backend: str | None = None,
    all_namespaces: bool = True,
    owner_walk: SharedOwnerWalk | None = None,
) -> Snapshot:
    """Every TCP and UDP socket of this host (IPv4 and IPv6, every state), with owners and roles.

    ``processes=False`` skips the owner lookup (the slow part). ``backend`` forces ``netlink`` or
    ``psutil``. On Linux, a netlink failure falls back to psutil and says so in ``notes``.
    ``all_namespaces`` (Linux, root): also every other network namespace (containers, ip netns),
    each socket labelled with its namespace and judged by that namespace's own ephemeral range.
    ``owner_walk``: the /proc walk for owners, already started (``SharedOwnerWalk()``: ``portscope
    live`` starts it before it has even built its parser, so that the slowest step has finished when
    the sockets are classified), used instead of starting one; it is joined whatever happens.
    """
    chosen = _choose(backend)
    if owner_walk is not None and (chosen != "netlink" or not processes):
        owner_walk.cancel()
    if chosen == "netlink":
        try:
            return _linux_snapshot(processes, all_namespaces, owner_walk if processes else None)
        except PlatformError as exc:
            if owner_walk is not None:
                owner_walk.cancel()
            if backend == "netlink":
                raise
            fallback = _psutil_snapshot(processes)
            fallback.notes.append(f"netlink sock_diag unavailable ({exc}); used psutil instead")
            return fallback
    return _psutil_snapshot(processes)

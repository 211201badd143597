"""Network namespaces of this host, the containers they belong to, and stepping into one (Linux only).

Why: sock_diag (``host/_netlink.py``) dumps the sockets of one namespace only, the one the calling
*thread* is in when the netlink socket is made. Listing every socket of a host with containers means
finding every namespace and dumping each from inside it.

Finding them (namespaces(7)): ``readlink /proc/PID/ns/net`` reads ``net:[INODE]`` and the inode names
the namespace. Bind mounts keep namespaces alive with no process in them: ``/run/netns/NAME``
(ip-netns(8)) and Docker's ``/run/docker/netns/SANDBOX``; a file there that is not on nsfs is a stale
leftover and is skipped. Another user's ``/proc/PID/ns/net`` needs ptrace access (proc(5),
PTRACE_MODE_READ_FSCREDS), so without root we see our own processes only: the pids refused are
counted, not hidden. Not found: a thread that setns()'d away from its process, and a namespace kept
alive only by an open file descriptor (finding those means walking every task and fd).

Containers: a member's /proc/PID/cgroup names its runtime's scope (cgroups(7)); see
:func:`parse_cgroup`. The host namespace gets none, as ``--network host`` containers live in it.

Entering (setns(2)) moves the calling thread only, so:

- /proc/sys/net/* follows the thread that *opens* the file: net/sysctl_net.c's
  ``net_ctl_header_lookup()`` picks ``current->nsproxy->net_ns``. Inside :func:`enter`, reading
  ip_local_port_range (:func:`portscope.host.ephemeral.host_port_ranges`) gives that namespace's
  range, on the main thread or any other (tests/host/test_namespaces.py checks both).
- /proc/net is a link to /proc/self/net, and /proc/self is the thread-group *leader*: in a worker
  thread it still shows the leader's namespace (fs/proc/proc_net.c). Read /proc/thread-self/net.
- Threads started and subprocesses run inside the block start in the entered namespace (clone(2)
  copies the caller's namespaces), which is how ``nft`` and ``conntrack`` see it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Iterator

from portscope.errors import PlatformError
from portscope.records import ContainerRef, NetNamespace

__all__ = [
    "CLONE_NEWNET",
    "NamespaceList",
    "enter",
    "list_namespaces",
    "parse_cgroup",
    "thread_namespace_inode",
]

CLONE_NEWNET = 0x40000000  # <linux/sched.h>
_NS_LINK = re.compile(r"net:\[(\d+)\]")
_IP_NETNS_DIRS = ("/run/netns", "/var/run/netns")
_DOCKER_NETNS_DIRS = ("/run/docker/netns", "/var/run/docker/netns")
_CGROUP_READS = 16  # members whose cgroup we read per namespace before giving up on naming a container

# A runtime's scope or directory, innermost match wins (docker-in-docker nests them). conmon and
# lxc.monitor are the runtimes' supervisors, in the host namespace: not matched on purpose.
_CONTAINER_PATTERNS = (
    (re.compile(r"(?:^|/)docker-([0-9a-f]{64})\.scope(?=/|$)"), "docker"),
    (re.compile(r"(?:^|/)docker/([0-9a-f]{64})(?=/|$)"), "docker"),
    (re.compile(r"(?:^|/)cri-containerd-([0-9a-f]{64})\.scope(?=/|$)"), "containerd"),
    (re.compile(r"(?:^|/)nerdctl-([0-9a-f]{64})\.scope(?=/|$)"), "containerd"),
    (re.compile(r"(?:^|/)crio-([0-9a-f]{64})(?:\.scope)?(?=/|$)"), "cri-o"),
    (re.compile(r"(?:^|/)libpod-([0-9a-f]{64})(?:\.scope)?(?=/|$)"), "podman"),
    (re.compile(r"(?:^|/)lxc\.payload\.([^/]+)"), "lxc"),
    (re.compile(r"^/lxc/([^/]+)"), "lxc"),
    (re.compile(r"(?:^|/)kubepods\b.*/pod[0-9a-f_-]+/([0-9a-f]{64})(?=/|$)"), "kubernetes"),
)
# systemd slices spell the pod uid with '_' for '-'; static pods' uids are 32 hex digits (a hash).
_POD_UID = re.compile(r"[-/]pod([0-9a-f]{8}(?:[-_][0-9a-f]{4}){3}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice|/|$)")


class NamespaceList(list[NetNamespace]):
    """:func:`list_namespaces`' answer: the namespaces, and how complete the picture is.

    ``denied`` counts processes whose namespace we were not allowed to read (another user's, without
    root), ``vanished`` those that exited during the walk.
    """

    def __init__(self, namespaces: Iterable[NetNamespace] = (), *, denied: int = 0, vanished: int = 0) -> None:
        super().__init__(namespaces)
        self.denied = denied
        self.vanished = vanished


def parse_cgroup(text: str) -> ContainerRef | None:
    """The container named by a /proc/PID/cgroup text (``ID:CONTROLLERS:PATH`` lines), or None.

    Paths seen in the wild, cgroup v2 (one ``0::`` line) and v1 (one line per hierarchy):
    Docker ``/system.slice/docker-ID.scope`` or ``/docker/ID``; Kubernetes
    ``/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podUID.slice/cri-containerd-ID.scope``
    (``crio-ID.scope`` for CRI-O, ``/kubepods/besteffort/podUID/ID`` with the cgroupfs driver, where
    the runtime is not named); podman ``libpod-ID.scope``; LXC ``/lxc.payload.NAME`` or ``/lxc/NAME``.
    The v2 line is tried first: on hybrid hosts it is often just ``/``, so the v1 lines follow.
    """
    lines = [line.split(":", 2) for line in text.splitlines() if line.count(":") >= 2]
    lines.sort(key=lambda fields: fields[:2] != ["0", ""])  # stable: the v2 line first, v1 in order
    for _, _, path in lines:
        best: tuple[int, str, str] | None = None
        for pattern, runtime in _CONTAINER_PATTERNS:
            for match in pattern.finditer(path):
                if best is None or match.start(1) > best[0]:
                    best = (match.start(1), runtime, match.group(1))
        if best is not None:
            pod = _POD_UID.search(path)
            return ContainerRef(best[1], best[2], pod.group(1).replace("_", "-") if pod else None)
    return None


def _link_inode(link: str) -> int:
    match = _NS_LINK.fullmatch(link)
    if match is None:
        raise PlatformError(f"unexpected network namespace link {link!r}; expected 'net:[INODE]'")
    return int(match.group(1))


def _self_link() -> str:
    """This thread's namespace file: /proc/thread-self appeared in Linux 3.17; before, the process's."""
    return "/proc/thread-self/ns/net" if os.path.exists("/proc/thread-self") else "/proc/self/ns/net"


def thread_namespace_inode() -> int:
    """The inode of the network namespace the calling thread is in."""
    return _link_inode(os.readlink(_self_link()))


def _bind_mounts(nsfs_dev: int) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """inode -> ``ip netns`` names, and inode -> bind-mounted paths (ip netns first, then Docker's)."""
    names: dict[int, list[str]] = {}
    paths: dict[int, list[str]] = {}
    seen: set[str] = set()
    for directory in (*_IP_NETNS_DIRS, *_DOCKER_NETNS_DIRS):
        real = os.path.realpath(directory)
        if real in seen:  # /var/run is a link to /run on current distributions
            continue
        seen.add(real)
        try:
            entries = sorted(os.listdir(real))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            path = os.path.join(directory, entry)
            try:
                info = os.stat(path)
            except (FileNotFoundError, PermissionError):
                continue
            if info.st_dev != nsfs_dev:  # not mounted: a leftover of a failed `ip netns add`
                continue
            paths.setdefault(info.st_ino, []).append(path)
            if directory in _IP_NETNS_DIRS:
                names.setdefault(info.st_ino, []).append(entry)
    return names, paths


def _container_of(pids: Iterable[int]) -> ContainerRef | None:
    for count, pid in enumerate(pids):
        if count >= _CGROUP_READS:
            break
        try:
            with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as handle:
                ref = parse_cgroup(handle.read())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if ref is not None:
            return ref
    return None


def _host_inode() -> int | None:
    """pid 1's namespace; where pid 1 may not be inspected, kthreadd's (pid 2, when it is kthreadd).

    Kernel threads always run in the initial namespaces (kernel/nsproxy.c ``init_nsproxy``), and a
    container's own pid namespace shows no kernel threads, so the fallback cannot pick a container's.
    """
    for pid, comm in ((1, None), (2, "kthreadd")):
        try:
            if comm is not None:
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
                    if handle.read().strip() != comm:
                        continue
            return _link_inode(os.readlink(f"/proc/{pid}/ns/net"))
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
    return None


def list_namespaces() -> NamespaceList:
    """Every network namespace this process can see, the host's first, then by inode.

    A namespace held by several containers (a Kubernetes pod) is named after its lowest-pid member
    with a container cgroup, usually the pod's sandbox ("pause") process.
    """
    members: dict[int, list[int]] = {}
    denied = vanished = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            inode = _link_inode(os.readlink(f"/proc/{entry}/ns/net"))
        except PermissionError:
            denied += 1
            continue
        except (FileNotFoundError, ProcessLookupError):  # exited, or a zombie whose namespaces are gone
            vanished += 1
            continue
        members.setdefault(inode, []).append(int(entry))

    current_link = _self_link()
    current = _link_inode(os.readlink(current_link))
    host = _host_inode()
    names, paths = _bind_mounts(os.stat(current_link).st_dev)

    found: list[NetNamespace] = []
    for inode in {*members, *paths}:
        pids = tuple(sorted(members.get(inode, ())))
        path = paths[inode][0] if inode in paths else f"/proc/{pids[0]}/ns/net"
        is_host = None if host is None else inode == host
        container = None if is_host else _container_of(pids)
        found.append(NetNamespace(inode, path, tuple(names.get(inode, ())), pids, inode == current, is_host, container))
    found.sort(key=lambda ns: (not ns.is_host, ns.inode))
    return NamespaceList(found, denied=denied, vanished=vanished)


def _setns(fd: int) -> None:
    if sys.version_info >= (3, 12):
        os.setns(fd, os.CLONE_NEWNET)
        return
    import ctypes  # Python 3.10 and 3.11 have no os.setns

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))  # OSError picks the subclass: EPERM -> PermissionError


def _switch(fd: int, what: str) -> None:
    try:
        _setns(fd)
    except PermissionError as exc:
        raise PlatformError(f"entering network namespaces needs root (CAP_SYS_ADMIN): setns({what}) refused") from exc
    except OSError as exc:
        raise PlatformError(f"setns({what}) failed: {exc.strerror}") from exc


def _open_namespace(path: str, inode: int | None) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise PlatformError(f"network namespace {path} is gone") from exc
    except PermissionError as exc:
        raise PlatformError(f"opening {path} refused: entering network namespaces needs root (CAP_SYS_ADMIN)") from exc
    if inode is not None and os.fstat(fd).st_ino != inode:
        os.close(fd)  # /proc/PID/ns/net of a pid that exited and was reused by another process
        raise PlatformError(f"{path} is no longer namespace net:[{inode}]: its process exited; list them again")
    return fd


@contextlib.contextmanager
def enter(namespace: NetNamespace | str) -> Iterator[None]:
    """Run the ``with`` block's code with the calling thread inside ``namespace``, then come back.

    ``namespace`` is a :class:`NetNamespace`, a path to a namespace file, or an ``ip netns`` name.
    The way back is opened first, so the thread returns even when the block raises. Raises
    :class:`PlatformError` when the namespace is gone or the kernel refuses (no CAP_SYS_ADMIN).
    """
    if isinstance(namespace, NetNamespace):
        path, inode = namespace.path, namespace.inode
    else:
        path, inode = (namespace if "/" in namespace else f"/run/netns/{namespace}"), None
    origin = os.open(_self_link(), os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = _open_namespace(path, inode)
        try:
            _switch(target, path)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _switch(origin, "back to the original namespace")
    finally:
        os.close(origin)

"""Which processes hold which sockets, and who those processes are, read from /proc (Linux only).

sock_diag gives a socket's inode but not its process; the only link is the fd table: every
/proc/<pid>/fd/<n> is a symlink whose target reads ``socket:[<inode>]`` for a socket (proc(5)). So, like
``ss -p``, ``lsof`` and psutil, we walk every process's fd directory.

Choices, and why:

- Only the /proc/<pid> entries, not /proc/<pid>/task/<tid>: threads share their process's fd table
  (CLONE_FILES), and /proc lists thread-group leaders only. A thread that called unshare(CLONE_FILES)
  would be missed, as it is by ``ss -p``.
- A socket can have several owners: after fork() parent and child hold the same socket (a pre-fork
  server's listener), so the map is inode -> list of pids.
- The walk is a snapshot of a moving target. Processes that exit mid-walk are counted as vanished,
  those whose fd directory we may not read (another user's, without CAP_SYS_PTRACE or root; see
  ``ptrace_may_access`` in proc(5)) as denied, so the caller can say "N processes could not be
  inspected without root" instead of silently showing fewer owners.
- /proc mounted with ``hidepid=invisible`` hides other users' processes entirely: nothing to count.
- The fd directory is opened once and each link read relative to it (readlinkat), in bytes, which
  skips a path walk and two text conversions per fd. The kernel's side of a readlink on /proc/<pid>/fd
  (lookup, ptrace_may_access, d_path) is ~3 us and dominates; threads do not help (measured: the GIL
  hand-offs eat the gain), so the walk stays sequential. Measured on a 2-vCPU VM: 100,000 socket fds
  in ~0.5 s, ~0.75 s the first time (getdents on /proc/<pid>/fd then also creates a dentry per fd).
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from collections.abc import Iterable
from itertools import chain, repeat

from portscope.errors import PlatformError

TYPE_CHECKING = False  # see portscope._namedtuple: typing is too slow to import at start-up
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from portscope._namedtuple import NamedTuple

__all__ = [
    "ProcessInfo",
    "SharedOwnerWalk",
    "SocketOwners",
    "parse_start_time",
    "process_info",
    "socket_owners",
]

_PROC = "/proc"
_SOCKET_PREFIX = b"socket:["
_SOCKET_INODE = re.compile(rb"(?:\A|\0)socket:\[(\d+)\](?=\0|\Z)")  # a link target that is a socket's
_CACHE_LIMIT = 4096


class SocketOwners:
    """Socket inode -> pids holding an fd to it, with the counts that say how complete the map is.

    - ``first``: inode -> the first pid found holding it; ``shared``: inode -> every pid, only for the
      sockets several processes hold (after fork()). Two maps because 100,000 one-element lists cost
      more than the rest of the merge.
    - ``owners``: inode -> pids, in /proc order, built from those two on first use.
    - ``scanned``: processes whose fd table we read to the end.
    - ``denied``: processes whose fd table we were not allowed to read (PermissionError).
    - ``vanished``: processes that exited between listing /proc and reading their fds.
    - ``fds``: file descriptors seen; ``sockets``: of those, sockets (any family).
    - ``stopped_early``: True when ``stop_early`` ended the walk before the last process, every asked
      inode having an owner by then; a shared socket may then list only its first owner.
    - ``denied_pids``: the processes counted in ``denied``, for a caller that wants to name them.

    A plain class, not a dataclass: ``portscope explain`` must not pay for importing dataclasses.
    """

    def __init__(
        self,
        first: dict[int, int],
        shared: dict[int, list[int]],
        scanned: int,
        denied: int,
        vanished: int,
        fds: int,
        sockets: int,
        stopped_early: bool = False,
        denied_pids: tuple[int, ...] = (),
    ) -> None:
        self.first = first
        self.shared = shared
        self.scanned = scanned
        self.denied = denied
        self.vanished = vanished
        self.fds = fds
        self.sockets = sockets
        self.stopped_early = stopped_early
        self.denied_pids = denied_pids
        self._owners: dict[int, list[int]] | None = None

    @property
    def owners(self) -> dict[int, list[int]]:
        if self._owners is None:
            shared = self.shared
            self._owners = {inode: shared.get(inode) or [pid] for inode, pid in self.first.items()}
        return self._owners


class ProcessInfo(NamedTuple):
    """Who a process is, from /proc/<pid>; ``None`` where the kernel would not tell us.

    - ``name``: /proc/<pid>/comm, the kernel's 15-character task name.
    - ``exe``: the executable's path (readlink /proc/<pid>/exe); None when denied or for kernel
      threads; ends in `` (deleted)`` if the file was replaced since the process started.
    - ``uid``: effective uid (the second ``Uid:`` field of /proc/<pid>/status), as ps(1) shows USER.
    - ``cmdline``: arguments joined by spaces; None when empty (kernel threads, zombies).
    - ``start_time``: field 22 of /proc/<pid>/stat, clock ticks since boot; with ``pid`` it names one
      process for good, as pids are reused.
    """

    pid: int
    name: str
    exe: str | None
    uid: int | None
    cmdline: str | None
    start_time: int


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir(_PROC) if name.isdigit()]
    except OSError as exc:
        raise PlatformError(f"cannot list {_PROC}: {exc.strerror or exc} (is procfs mounted?)") from exc


class _Walk:
    """The state of one walk over /proc/<pid>/fd directories: what it found and what it could not read."""

    def __init__(self, wanted: set[int] | None, remaining: set[int] | None) -> None:
        self.wanted = wanted
        self.remaining = remaining
        self.pairs: list[tuple[int, int]] = []  # (inode, pid), in walk order
        self.scanned = self.vanished = self.fds = self.sockets = 0
        self.denied: list[int] = []
        self.stopped = False

    def visit(self, pid: int) -> None:
        """Read one process's fd table and record its sockets."""
        path = b"/proc/%d/fd" % pid
        try:
            dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, ProcessLookupError):
            self.vanished += 1
            return
        except PermissionError:
            self.denied.append(pid)
            return
        try:
            try:
                names = os.listdir(path)  # by path, for bytes names: readlink then returns bytes
            except (FileNotFoundError, ProcessLookupError):
                self.vanished += 1
                return
            except PermissionError:
                self.denied.append(pid)
                return
            self.fds += len(names)
            prefix, readlink, wanted, remaining = _SOCKET_PREFIX, os.readlink, self.wanted, self.remaining
            if wanted is None and remaining is None:
                self._every_socket(names, dir_fd, pid)
                self.scanned += 1
                return
            append = self.pairs.append
            for name in names:
                try:
                    target = readlink(name, dir_fd=dir_fd)
                except OSError:
                    continue  # the fd was closed since listdir, or the process exited
                if target[:8] != prefix:
                    continue
                self.sockets += 1
                inode = int(target[8:-1])
                if wanted is not None and inode not in wanted:
                    continue
                append((inode, pid))
                if remaining is not None:
                    remaining.discard(inode)
            self.scanned += 1
        finally:
            os.close(dir_fd)

    def _every_socket(self, names: list[bytes], dir_fd: int, pid: int) -> None:
        """Every socket among one process's fds (no inode wanted in particular, as a snapshot walks): the
        loop only reads the links; picking the sockets and parsing their inodes is one regular expression
        over them all, in C (a server's 8,000 fds: half the time of testing and slicing each in Python)."""
        readlink = os.readlink
        targets: list[bytes] = []
        keep = targets.append
        for name in names:
            try:
                keep(readlink(name, dir_fd=dir_fd))
            except OSError:
                continue  # the fd was closed since listdir, or the process exited
        inodes = list(map(int, _SOCKET_INODE.findall(b"\0".join(targets))))
        self.sockets += len(inodes)
        self.pairs += zip(inodes, repeat(pid))

    def result(self, extra: _Walk | None = None) -> SocketOwners:
        walks = [self] if extra is None else [self, extra]
        pairs = [pair for w in walks for pair in w.pairs] if extra is not None else self.pairs
        first: dict[int, int] = {}
        setdefault = first.setdefault
        shared: dict[int, list[int]] = {}
        for inode, pid in pairs:
            holder = setdefault(inode, pid)
            if holder != pid:  # a second process holds it; a pid seen twice (dup, both walkers) is not one
                pids = shared.setdefault(inode, [holder])
                if pid not in pids:
                    pids.append(pid)
        denied = sorted({pid for w in walks for pid in w.denied})
        return SocketOwners(
            first=first,
            shared=shared,
            scanned=sum(w.scanned for w in walks),
            denied=len(denied),
            vanished=sum(w.vanished for w in walks),
            fds=sum(w.fds for w in walks),
            sockets=sum(w.sockets for w in walks),
            stopped_early=self.stopped,
            denied_pids=tuple(denied),
        )


def socket_owners(inodes: Iterable[int] | None = None, *, stop_early: bool = False) -> SocketOwners:
    """Map socket inodes to the pids holding them, walking /proc/<pid>/fd of every process.

    With ``inodes``, only those are recorded; with ``stop_early`` too, the walk ends once each has one
    owner (cheaper, at the price of missing the second owner of a shared socket).
    """
    wanted = None if inodes is None else set(inodes)
    walk = _Walk(wanted, set(wanted) if (wanted is not None and stop_early) else None)
    for pid in _pids():
        if walk.remaining is not None and not walk.remaining:
            walk.stopped = True
            break
        walk.visit(pid)
    return walk.result()


_SLOT = struct.Struct("=q")  # one position in the shared map; aligned 8-byte stores are atomic on our targets


class SharedOwnerWalk:
    """The /proc walk, shared between this process and one forked helper; started now, joined later.

    The walk is kernel-bound (readlink on /proc/<pid>/fd is ~3 us a fd), so on a busy host it is the
    slowest step of a snapshot. Forking a helper lets it run on the other core while this process
    dumps and classifies the sockets; when this process is ready it walks from the other end of the
    pid list until the two meet (each publishes its position in a shared 16-byte map; a pid taken by
    both is harmless, its pairs merge). The helper sends its (inode, pid) pairs through a pipe as one
    array of unsigned 64-bit numbers and exits with ``os._exit``, running no cleanup of ours.

    Falls back to a plain walk in :meth:`finish` where fork is unavailable.
    """

    _POSITIONS = struct.Struct("=qq")  # helper's next index (ascending), our next index (descending)

    def __init__(self, inodes: Iterable[int] | None = None) -> None:
        self.wanted = None if inodes is None else set(inodes)
        self.pids = _pids()
        self.child = 0
        self.read_end = -1
        if not hasattr(os, "fork") or len(self.pids) < 2:
            return
        self.shared = mmap.mmap(-1, self._POSITIONS.size)
        self._POSITIONS.pack_into(self.shared, 0, 0, len(self.pids) - 1)
        read_end, write_end = os.pipe()
        try:
            child = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            return
        if child == 0:  # pragma: no cover - runs in the helper process; its output is checked by the parent
            code = 1  # unless the walk ends well; whatever happens, the helper leaves by os._exit
            try:
                os.close(read_end)
                self._helper(write_end)
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        self.child, self.read_end = child, read_end

    def _helper(self, write_end: int) -> None:
        import array  # here, not at the top: explain's look-up of one port never walks in two processes

        walk = _Walk(self.wanted, None)
        index = 0
        positions, shared, pids = self._POSITIONS, self.shared, self.pids
        while True:
            _, theirs = positions.unpack_from(shared, 0)
            if index > theirs:
                break
            _SLOT.pack_into(shared, 0, index + 1)
            walk.visit(pids[index])
            index += 1
        flat = array.array("Q", chain.from_iterable(walk.pairs))
        header = array.array("Q", [walk.scanned, walk.vanished, walk.fds, walk.sockets, len(walk.denied), len(flat)])
        header.extend(walk.denied)
        payload = header.tobytes() + flat.tobytes()
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view) :]
        os.close(write_end)

    def cancel(self) -> None:
        """Stop the helper and let go of it, when its result is not wanted after all (a snapshot that
        fell back to psutil); nothing once :meth:`finish` has joined it."""
        if not self.child:
            return
        import signal

        os.kill(self.child, signal.SIGKILL)  # our unreaped child: it exists until waited for
        os.waitpid(self.child, 0)
        os.close(self.read_end)
        self.shared.close()
        self.child = 0

    def finish(self) -> SocketOwners:
        """Walk our share, collect the helper's, and return the merged map."""
        import array

        if not self.child:
            return socket_owners(self.wanted)
        walk = _Walk(self.wanted, None)
        positions, shared, pids = self._POSITIONS, self.shared, self.pids
        index = len(pids) - 1
        while index >= 0:
            theirs, _ = positions.unpack_from(shared, 0)
            if index < theirs:
                break
            _SLOT.pack_into(shared, 8, index - 1)
            walk.visit(pids[index])
            index -= 1
        with os.fdopen(self.read_end, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(self.child, 0)
        self.child = 0
        helper = _Walk(self.wanted, None)
        if len(payload) >= 48:
            header = array.array("Q")
            header.frombytes(payload[:48])
            helper.scanned, helper.vanished, helper.fds, helper.sockets, denied, flat_len = header
            denied_bytes = 8 * denied
            denied_list = array.array("Q")
            denied_list.frombytes(payload[48 : 48 + denied_bytes])
            helper.denied = list(denied_list)
            flat = array.array("Q")
            flat.frombytes(payload[48 + denied_bytes : 48 + denied_bytes + 8 * flat_len])
            helper.pairs = list(zip(flat[0::2], flat[1::2], strict=True))
        else:  # the helper died: walk what it may have skipped ourselves
            for pid in pids[: index + 1]:
                walk.visit(pid)
        self.shared.close()
        return helper.result(walk)


_cache: dict[tuple[int, int], ProcessInfo] = {}


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def parse_start_time(stat: bytes) -> int:
    """Field 22 (starttime) of a /proc/<pid>/stat line.

    Field 2 is the name in parentheses, and a process may name itself ``a) (b c``: split after the
    last ``)``, as proc(5) advises; field 3 (state) is then the first word.
    """
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


def process_info(pid: int) -> ProcessInfo | None:
    """Who process ``pid`` is, or None when no such process exists (any more).

    Cached by (pid, start time), so a pid reused by a new process is read afresh. Raises
    :class:`~portscope.errors.PlatformError` when /proc/<pid> exists but may not be read (hidepid=1).
    """
    base = f"{_PROC}/{pid}"
    try:
        start = parse_start_time(_read(f"{base}/stat"))
        key = (pid, start)
        cached = _cache.get(key)
        if cached is not None:
            return cached
        name = _read(f"{base}/comm").rstrip(b"\n").decode("utf-8", "backslashreplace")
        raw_cmdline = _read(f"{base}/cmdline")
        status = _read(f"{base}/status")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError as exc:
        raise PlatformError(f"cannot read {base}: {exc.strerror} (procfs mounted with hidepid?)") from exc

    exe: str | None
    try:
        exe = os.readlink(f"{base}/exe")
    except OSError:  # EACCES for another user's process, ENOENT for kernel threads and zombies
        exe = None
    uid: int | None = None
    for line in status.splitlines():
        if line.startswith(b"Uid:"):
            uid = int(line.split()[2])
            break
    cmdline = raw_cmdline.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "backslashreplace") or None

    info = ProcessInfo(pid=pid, name=name, exe=exe, uid=uid, cmdline=cmdline, start_time=start)
    if len(_cache) >= _CACHE_LIMIT:
        del _cache[next(iter(_cache))]
    _cache[key] = info
    return info

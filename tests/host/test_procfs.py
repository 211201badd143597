"""Socket inode -> process attribution through /proc/<pid>/fd, and process identity from /proc/<pid>."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from portscope.host._netlink import dump_inet_sockets
from portscope.host._procfs import SharedOwnerWalk, parse_start_time, process_info, socket_owners
from tests.conftest import run_as_nobody

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and Path("/proc/self/fd").is_dir()), reason="needs Linux /proc"
)

# The children wait for their stdin to close, and give up by themselves after a minute.
LISTENER = textwrap.dedent(
    """\
    import select, socket, sys
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        print(listener.getsockname()[1], flush=True)
        select.select([sys.stdin], [], [], 60)
    """
)
WAITER = "import select, sys; print('ready', flush=True); select.select([sys.stdin], [], [], 60)"


@contextlib.contextmanager
def _child(code: str, pass_fds: tuple[int, ...] = ()) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -c code``; yield it with the first line it prints; end it however the test ends."""
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, pass_fds=pass_fds
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "the child printed nothing in 30 s"
            yield proc, proc.stdout.readline().strip()
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def test_own_socket_is_ours_and_counters_add_up() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        result = socket_owners()
        assert result.owners[_inode(sock)] == [os.getpid()]
    assert result.scanned >= 1
    assert result.fds >= result.sockets >= 1
    assert result.vanished >= 0
    assert result.denied == len(result.denied_pids)
    assert result.stopped_early is False


def test_child_listener_is_attributed_to_the_child() -> None:
    """Protects the whole path: a socket in another process, found by sock_diag, owned through /proc."""
    with _child(LISTENER) as (child, port_text):
        port = int(port_text)
        dump = dump_inet_sockets(("tcp",), (socket.AF_INET,), states=1 << 10)
        (index,) = (i for i, p in enumerate(dump.local_port) if p == port and dump.local_address[i] == "127.0.0.1")
        inode = dump.inode[index]
        assert inode is not None
        assert socket_owners().owners[inode] == [child.pid]
        only = socket_owners({inode})
        assert only.owners == {inode: [child.pid]}


def test_socket_shared_after_fork_lists_both_processes() -> None:
    """Protects the inode -> several pids case (a pre-fork server's listener)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with _child(WAITER, pass_fds=(sock.fileno(),)) as (child, _):
            owners = socket_owners({_inode(sock)}).owners[_inode(sock)]
            assert sorted(owners) == sorted([os.getpid(), child.pid])


def test_dup_of_a_socket_lists_the_process_once() -> None:
    with socket.socket() as sock:
        duplicate = os.dup(sock.fileno())
        try:
            assert socket_owners({_inode(sock)}).owners[_inode(sock)] == [os.getpid()]
        finally:
            os.close(duplicate)


def test_stop_early_ends_the_walk_once_every_inode_has_an_owner() -> None:
    """Protects the documented trade-off: stop_early may miss the second owner of a shared socket."""
    with socket.socket() as sock:
        inode = _inode(sock)
        with _child(WAITER, pass_fds=(sock.fileno(),)) as (child, _):
            if child.pid < os.getpid():
                pytest.skip("pids wrapped around: the child comes first in /proc")
            early = socket_owners({inode}, stop_early=True)
            full = socket_owners({inode})
        assert (early.owners, early.stopped_early) == ({inode: [os.getpid()]}, True)
        assert (full.owners, full.stopped_early) == ({inode: [os.getpid(), child.pid]}, False)


def test_unknown_inode_has_no_owner() -> None:
    assert socket_owners({1}).owners == {}


def test_unprivileged_walk_counts_denied_processes() -> None:
    """Protects the 'N processes could not be inspected without root' count: nobody may not read root's fds."""
    code = (
        "from portscope.host._procfs import socket_owners\n"
        "r = socket_owners(); print(r.denied, r.scanned, 1 in r.denied_pids, flush=True)\n"
    )
    done = run_as_nobody(code)
    assert done.returncode == 0, done.stderr
    denied, scanned, pid1_denied = done.stdout.split()
    assert int(denied) >= 1
    assert int(scanned) >= 1  # its own fd table at least
    assert pid1_denied == "True"


def test_process_info_of_self() -> None:
    info = process_info(os.getpid())
    assert info is not None
    assert info.pid == os.getpid()
    assert info.name == Path("/proc/self/comm").read_text().rstrip("\n")
    assert info.exe == os.path.realpath(sys.executable)
    assert info.uid == os.geteuid()
    assert info.cmdline == " ".join(sys.orig_argv)
    assert info.start_time > 0
    assert process_info(os.getpid()) is info  # cached by (pid, start time)


def test_process_info_odd_name_and_gone_process() -> None:
    """Protects the stat parse against a name with ') (' and spaces, and None for an exited process."""
    code = "open('/proc/self/comm', 'w').write('a) (b c'); " + WAITER
    with _child(code) as (child, _):
        info = process_info(child.pid)
        assert info is not None
        assert info.name == "a) (b c"
        assert info.cmdline is not None
        assert info.cmdline.endswith(code)
    assert process_info(child.pid) is None


def test_process_info_kernel_thread() -> None:
    if Path("/proc/2/comm").read_text().strip() != "kthreadd":
        pytest.skip("pid 2 is not kthreadd here (a container's pid namespace)")
    info = process_info(2)
    assert info is not None
    assert (info.name, info.exe, info.cmdline) == ("kthreadd", None, None)


def test_parse_start_time_takes_field_22_after_the_last_parenthesis() -> None:
    fields = " ".join(str(n) for n in range(3, 53))  # fields 3..52; field 22 is "22"
    assert parse_start_time(f"1234 (a) (b c) {fields}".encode()) == 22
    assert parse_start_time(f"7 (x) {fields}\n".encode()) == 22


def test_a_walk_not_wanted_after_all_is_cancelled() -> None:
    """``live`` starts the owner walk before it knows its back-end; one that falls back to psutil lets the
    forked helper go: killed, reaped, its pipe closed; a second cancel does nothing."""
    walk = SharedOwnerWalk()
    child = walk.child
    walk.cancel()
    walk.cancel()
    assert walk.child == 0
    if child:
        with pytest.raises(ChildProcessError):
            os.waitpid(child, os.WNOHANG)

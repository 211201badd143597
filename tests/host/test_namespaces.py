"""Network namespaces: the cgroup parser on real lines, and real namespaces made with ``ip netns`` (root)."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from portscope.errors import PlatformError
from portscope.host.ephemeral import host_port_ranges
from portscope.host.namespaces import enter, list_namespaces, parse_cgroup, thread_namespace_inode
from portscope.records import ContainerRef, NetNamespace
from tests.conftest import run_as_nobody

ID = "3f1c9a0b5d7e2f4a6c8b0d1e3f5a7c9b1d3e5f7a9c0b2d4e6f8a1c3e5b7d9f0a"
INNER = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
POD = "2f9f2b52-6a3e-4d2b-9c43-0f6b1a7e8d11"
POD_ = POD.replace("-", "_")  # systemd slice names spell the pod uid this way
BURSTABLE = "/kubepods.slice/kubepods-burstable.slice"

DOCKER_V1 = textwrap.dedent(
    f"""\
    12:pids:/docker/{ID}
    11:hugetlb:/docker/{ID}
    10:net_cls,net_prio:/docker/{ID}
    9:memory:/docker/{ID}
    8:cpu,cpuacct:/docker/{ID}
    7:blkio:/docker/{ID}
    6:freezer:/docker/{ID}
    5:devices:/docker/{ID}
    4:perf_event:/docker/{ID}
    3:cpuset:/docker/{ID}
    2:rdma:/
    1:name=systemd:/docker/{ID}
    0::/system.slice/containerd.service
    """
)

CGROUPS = {
    "docker, cgroup v2, systemd driver": (f"0::/system.slice/docker-{ID}.scope\n", ContainerRef("docker", ID)),
    "docker, cgroup v1, cgroupfs driver": (DOCKER_V1, ContainerRef("docker", ID)),
    "docker in docker: the inner one": (f"0::/docker/{ID}/docker/{INNER}\n", ContainerRef("docker", INNER)),
    "containerd, kubepods, v2 systemd": (
        f"0::{BURSTABLE}/kubepods-burstable-pod{POD_}.slice/cri-containerd-{ID}.scope\n",
        ContainerRef("containerd", ID, POD),
    ),
    "kubepods, v1 cgroupfs: runtime not named": (
        f"11:memory:/kubepods/besteffort/pod{POD}/{ID}\n10:cpu,cpuacct:/kubepods/besteffort/pod{POD}/{ID}\n",
        ContainerRef("kubernetes", ID, POD),
    ),
    "cri-o, guaranteed pod, v2": (
        f"0::/kubepods.slice/kubepods-pod{POD_}.slice/crio-{ID}.scope\n",
        ContainerRef("cri-o", ID, POD),
    ),
    "cri-o, v1 systemd": (
        f"9:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_}.slice/crio-{ID}.scope\n"
        "1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/"
        f"kubepods-besteffort-pod{POD_}.slice/crio-{ID}.scope\n",
        ContainerRef("cri-o", ID, POD),
    ),
    "static pod: uid is a 32-digit hash": (
        f"0::{BURSTABLE}/kubepods-burstable-pod{'e' * 32}.slice/cri-containerd-{ID}.scope\n",
        ContainerRef("containerd", ID, "e" * 32),
    ),
    "podman rootless, v2": (
        f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container\n",
        ContainerRef("podman", ID),
    ),
    "podman, v1 cgroupfs": (f"4:memory:/libpod_parent/libpod-{ID}\n", ContainerRef("podman", ID)),
    "lxc, v2": ("0::/lxc.payload.web-01/system.slice/nginx.service\n", ContainerRef("lxc", "web-01")),
    "lxc, old v1": ("4:memory:/lxc/web-01\n", ContainerRef("lxc", "web-01")),
    "conmon is not the container": (f"0::/machine.slice/libpod-conmon-{ID}.scope\n", None),
    "crio-conmon is not the container": (
        f"0::/kubepods.slice/kubepods-pod{POD_}.slice/crio-conmon-{ID}.scope\n",
        None,
    ),
    "lxc monitor is not the container": ("0::/lxc.monitor.web-01\n", None),
    "a login session": ("0::/user.slice/user-1000.slice/session-2.scope\n", None),
    "hybrid host, nothing": ("12:pids:/\n1:name=systemd:/init.scope\n0::/init.scope\n", None),
    "empty": ("", None),
}


@pytest.mark.parametrize("case", list(CGROUPS), ids=list(CGROUPS))
def test_parse_cgroup(case: str) -> None:
    """Each runtime's real cgroup path names the container; supervisors (conmon, lxc.monitor) do not."""
    text, expected = CGROUPS[case]
    assert parse_cgroup(text) == expected


# ---- real namespaces (root) --------------------------------------------------------------------

LISTENER = (
    "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
    "print(s.getsockname()[1], flush=True); time.sleep(30)"
)


def _needs_root() -> None:
    if not sys.platform.startswith("linux") or shutil.which("ip") is None:
        pytest.skip("needs Linux and iproute2 (ip netns)")
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces and setns(2) need root")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=10, capture_output=True)


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"no line from {proc.args!r} within {timeout} s")
    return proc.stdout.readline()


class Netns:
    """A namespace made for a test: its name, the range set in it, and a listener inside (maybe)."""

    def __init__(self, name: str, low: int, high: int) -> None:
        self.name, self.low, self.high = name, low, high
        self.listener: subprocess.Popen[str] | None = None
        self.port: int | None = None


@pytest.fixture
def two_netns() -> Iterator[tuple[Netns, Netns]]:
    """Two fresh namespaces with their own port ranges; a listener in the first. All removed after."""
    _needs_root()
    tag = uuid.uuid4().hex[:8]
    spaces = (Netns(f"pstest-a-{tag}", 40100, 40199), Netns(f"pstest-b-{tag}", 50200, 50299))
    made: list[Netns] = []
    try:
        for ns in spaces:
            _ip("netns", "add", ns.name)
            made.append(ns)
            _ip("-n", ns.name, "link", "set", "lo", "up")
            _ip("netns", "exec", ns.name, "sysctl", "-q", "-w", f"net.ipv4.ip_local_port_range={ns.low} {ns.high}")
        first = spaces[0]
        first.listener = subprocess.Popen(
            ["ip", "netns", "exec", first.name, sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True
        )
        first.port = int(_readline(first.listener, 15))
        yield spaces
    finally:
        for ns in made:
            if ns.listener is not None:
                ns.listener.kill()
                ns.listener.wait(timeout=10)
                assert ns.listener.stdout is not None
                ns.listener.stdout.close()
            subprocess.run(["ip", "netns", "delete", ns.name], check=False, timeout=10)


def _by_name(namespaces: list[NetNamespace], name: str) -> NetNamespace:
    found = [ns for ns in namespaces if name in ns.names]
    assert len(found) == 1, f"{name} not listed once in {namespaces}"
    return found[0]


@pytest.mark.root
def test_list_namespaces_finds_ours(two_netns: tuple[Netns, Netns]) -> None:
    """Both namespaces are found by name and inode, with the listener's pid; ours is marked current."""
    a, b = two_netns
    namespaces = list_namespaces()
    ns_a, ns_b = _by_name(namespaces, a.name), _by_name(namespaces, b.name)
    assert ns_a.inode == os.stat(f"/run/netns/{a.name}").st_ino
    assert ns_a.path == f"/run/netns/{a.name}"
    assert ns_b.inode == os.stat(f"/run/netns/{b.name}").st_ino != ns_a.inode
    assert a.listener is not None and a.listener.pid in ns_a.pids  # ip netns exec execs: same pid
    assert ns_b.pids == ()
    assert not ns_a.is_current and not ns_b.is_current and ns_a.container is None
    current = [ns for ns in namespaces if ns.is_current]
    assert [ns.inode for ns in current] == [thread_namespace_inode()]
    assert os.getpid() in current[0].pids
    assert ns_a.is_host is False and ns_b.is_host is False
    assert len({ns.inode for ns in namespaces}) == len(namespaces)


@pytest.mark.root
def test_enter_reads_each_namespaces_own_range(two_netns: tuple[Netns, Netns]) -> None:
    """/proc/sys/net read inside enter() is the entered namespace's: each gives its own range."""
    home = os.readlink("/proc/thread-self/ns/net")
    home_range = host_port_ranges()[0][2:4]
    namespaces = list_namespaces()
    for ns in two_netns:
        with enter(_by_name(namespaces, ns.name)):
            assert os.readlink("/proc/thread-self/ns/net") != home
            assert {(r.low, r.high) for r in host_port_ranges()} == {(ns.low, ns.high)}
        assert os.readlink("/proc/thread-self/ns/net") == home
    with enter(two_netns[1].name):  # by ip netns name
        assert host_port_ranges()[0][2:4] == (two_netns[1].low, two_netns[1].high)
    assert host_port_ranges()[0][2:4] == home_range
    a = two_netns[0]
    assert a.port is not None and a.low <= a.port <= a.high  # bind(port 0) drew from its namespace's range


@pytest.mark.root
def test_enter_comes_back_after_an_exception(two_netns: tuple[Netns, Netns]) -> None:
    """The thread returns to its namespace even when the with-block raises."""
    home = os.readlink("/proc/thread-self/ns/net")
    with pytest.raises(KeyError), enter(two_netns[0].name):
        raise KeyError("boom")
    assert os.readlink("/proc/thread-self/ns/net") == home


@pytest.mark.root
def test_enter_in_a_worker_thread(two_netns: tuple[Netns, Netns]) -> None:
    """setns moves one thread: /proc/sys/net and /proc/thread-self/net follow it, /proc/self/net does not.

    This is why nat.py reads /proc/thread-self/net/nf_conntrack rather than /proc/net/nf_conntrack.
    """
    ns = two_netns[1]
    results: dict[str, object] = {}

    def interfaces(path: str) -> list[str]:
        return [line.split(":")[0].strip() for line in Path(path).read_text().splitlines()[2:]]

    def worker() -> None:
        with enter(ns.name):
            results["range"] = host_port_ranges()[0][2:4]
            results["thread_net"] = interfaces("/proc/thread-self/net/dev")
            results["self_net"] = interfaces("/proc/self/net/dev")
            results["main_inode"] = os.readlink(f"/proc/self/task/{main_tid}/ns/net")
        results["back"] = os.readlink("/proc/thread-self/ns/net")

    main_tid = threading.get_native_id()
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    home = os.readlink("/proc/thread-self/ns/net")
    assert results["range"] == (ns.low, ns.high)
    assert results["thread_net"] == ["lo"]  # a fresh namespace has only loopback
    assert results["self_net"] == interfaces("/proc/self/net/dev")  # the leader's namespace, not the thread's
    assert results["main_inode"] == home == results["back"]


@pytest.mark.root
def test_enter_refuses_a_namespace_that_is_gone(two_netns: tuple[Netns, Netns]) -> None:
    """A stale NetNamespace (pid reused, mount gone) is refused, not entered by mistake."""
    a, b = two_netns
    ns_a = _by_name(list_namespaces(), a.name)
    with pytest.raises(PlatformError, match="no longer"), enter(ns_a._replace(path=f"/run/netns/{b.name}")):
        pytest.fail("entered the wrong namespace")
    with pytest.raises(PlatformError, match="is gone"), enter("pstest-no-such-namespace"):
        pytest.fail("entered a namespace that does not exist")


@pytest.mark.root
def test_without_root(two_netns: tuple[Netns, Netns]) -> None:
    """As nobody: other users' processes are counted as denied, and enter() says it needs root."""
    code = textwrap.dedent(
        f"""\
        from portscope.host.namespaces import enter, list_namespaces
        found = list_namespaces()
        print(found.denied, sorted(n for ns in found for n in ns.names))
        try:
            with enter({two_netns[0].name!r}):
                print("entered")
        except Exception as exc:
            print(type(exc).__name__, exc)
        """
    )
    done = run_as_nobody(code)
    assert done.returncode == 0, done.stderr
    denied, _, rest = done.stdout.partition(" ")
    assert int(denied) > 0  # at least the listener, a root process
    names, _, error = rest.partition("\n")
    assert two_netns[0].name in names and two_netns[1].name in names  # /run/netns is readable by all
    assert error.strip() == (
        "PlatformError entering network namespaces needs root (CAP_SYS_ADMIN): "
        f"setns(/run/netns/{two_netns[0].name}) refused"
    )

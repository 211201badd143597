"""This host's ephemeral range: the parsers for each OS's tools, and the real Linux kernel values."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from portscope.host.ephemeral import (
    host_port_ranges,
    parse_linux_port_list,
    parse_netsh_dynamicport,
    parse_netsh_excluded,
)

NETSH_DYNAMIC = textwrap.dedent(
    """\

    Protocol tcp Dynamic Port Range
    ---------------------------------
    Start Port      : 49152
    Number of Ports : 16384

    """
)

NETSH_EXCLUDED = textwrap.dedent(
    """\

    Protocol tcp Port Exclusion Ranges

    Start Port    End Port
    ----------    --------
          5357        5357
         50000       50059     *
         63422       63521

    * - Administered port exclusions.

    """
)


def test_netsh_parsers() -> None:
    assert parse_netsh_dynamicport(NETSH_DYNAMIC) == (49152, 65535)
    assert parse_netsh_excluded(NETSH_EXCLUDED) == ((5357, 5357), (50000, 50059), (63422, 63521))
    assert parse_netsh_excluded("") == ()
    with pytest.raises(ValueError, match="no 'Start Port'"):
        parse_netsh_dynamicport("Der Befehl wurde nicht gefunden")


def test_linux_reserved_port_list() -> None:
    assert parse_linux_port_list("\n") == ()
    assert parse_linux_port_list("8080,50000-50010, 55000\n") == ((8080, 8080), (50000, 50010), (55000, 55000))


def test_unknown_platform_says_nothing() -> None:
    assert host_port_ranges("plan9") == ()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_linux_values_are_the_kernels() -> None:
    low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ranges = host_port_ranges()
    assert {r.protocol for r in ranges} == {"tcp", "udp"}
    for r in ranges:
        assert (r.low, r.high) == (low, high)
        assert r.unprivileged_port_start == int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace of our own (root only), removed afterwards."""
    if not sys.platform.startswith("linux") or shutil.which("ip") is None:
        pytest.skip("needs Linux and iproute2")
    import os

    if os.geteuid() != 0:
        pytest.skip("creating a network namespace needs root")
    name = f"pstest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, timeout=10)


def test_range_is_read_in_our_own_namespace(netns: str) -> None:
    """Each network namespace has its own range: explain reports the one it runs in, reserved ports too."""
    sysctl = ["ip", "netns", "exec", netns, "sysctl", "-q", "-w"]
    subprocess.run([*sysctl, "net.ipv4.ip_local_port_range=40000 40999"], check=True, timeout=10)
    subprocess.run([*sysctl, "net.ipv4.ip_local_reserved_ports=40500-40510"], check=True, timeout=10)
    code = (
        "from portscope.host.ephemeral import host_port_ranges as h; "
        "r = h()[0]; print(r.low, r.high, r.reserved, r.reserved_range_of(40505))"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.split(" ", 2)[:2] == ["40000", "40999"]
    assert "((40500, 40510),) (40500, 40510)" in done.stdout

"""Live view across network namespaces: a 'container' listener, its own ephemeral range, a published port.

Two namespaces of the test's own stand in for a host with Docker: NODE holds a DNAT rule
(tcp 18080 -> 10.213.7.2:18081) and runs portscope; BOX holds the listener on 0.0.0.0:18081 behind
it, reached over a veth pair. Root only; everything is removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import socket_objects

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux network namespaces"),
    pytest.mark.skipif(os.geteuid() != 0, reason="entering network namespaces needs root"),
    pytest.mark.skipif(shutil.which("ip") is None or shutil.which("nft") is None, reason="needs iproute2 and nft"),
]

LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 18081))
s.listen()
print("ready", flush=True)
sys.stdin.read()
"""


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, timeout=20, capture_output=True)


@pytest.fixture
def node_and_box() -> Iterator[tuple[str, str, int]]:
    tag = uuid.uuid4().hex[:6]
    node, box = f"psnode{tag}", f"psbox{tag}"
    listener = None
    try:
        _sh("ip", "netns", "add", node)
        _sh("ip", "netns", "add", box)
        _sh("ip", "link", "add", f"vn{tag}", "netns", node, "type", "veth", "peer", "name", f"vb{tag}", "netns", box)
        for ns, dev, addr in ((node, f"vn{tag}", "10.213.7.1/30"), (box, f"vb{tag}", "10.213.7.2/30")):
            _sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            _sh("ip", "-n", ns, "link", "set", dev, "up")
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh("ip", "netns", "exec", box, "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40999")
        nft = ["ip", "netns", "exec", node, "nft"]
        _sh(*nft, "add", "table", "ip", "nat")
        _sh(*nft, "add chain ip nat prerouting { type nat hook prerouting priority -100 ; }")
        _sh(*nft, "add", "rule", "ip", "nat", "prerouting", "tcp", "dport", "18080", "dnat", "to", "10.213.7.2:18081")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", box, sys.executable, "-c", LISTENER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        yield node, box, listener.pid
    finally:
        if listener is not None:
            listener.communicate(timeout=10)
        for ns in (node, box):
            subprocess.run(["ip", "netns", "delete", ns], check=False, timeout=20, capture_output=True)


def _portscope_in(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "portscope", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )


def test_container_listener_is_labelled_ranged_and_published(node_and_box: tuple[str, str, int]) -> None:
    node, box, _ = node_and_box
    done = _portscope_in(node, "live", "--json", "--port", "18081", "--listen")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    (sock,) = socket_objects(doc)
    assert sock["namespace"] == box  # labelled with the namespace's ip-netns name, not as the host's 0.0.0.0
    assert (sock["local_address"], sock["exposure"], sock["role"]) == ("0.0.0.0", "all", "listen")
    assert sock["process"] is not None and sock["process"].startswith("python")
    views = {v["label"]: v for v in doc["namespaces"]}
    assert box in views and "10.213.7.2" in views[box]["addresses"]
    assert [(r["low"], r["high"]) for r in views[box]["ephemeral_ranges"]] == [(40000, 40999), (40000, 40999)]
    health = {h["namespace"]: h for h in doc["health"]}
    assert (health[box]["low"], health[box]["high"]) == (40000, 40999)

    assert sock["published"] == "tcp 18080 -> 10.213.7.2:18081 (nft prerouting)"

    summary = _portscope_in(node)
    assert summary.returncode == 0, summary.stderr
    line = next(line for line in summary.stdout.splitlines() if "18081" in line)
    assert f"of {box}" in line
    assert "published: tcp 18080 -> 10.213.7.2:18081" in line


def test_this_namespace_only(node_and_box: tuple[str, str, int]) -> None:
    node, box, _ = node_and_box
    doc = json.loads(_portscope_in(node, "live", "--json", "--this-namespace").stdout)
    assert [v["label"] for v in doc["namespaces"]] != [] and box not in {v["label"] for v in doc["namespaces"]}
    assert all(s["namespace"] != box for s in socket_objects(doc))

"""Ephemeral-port health on a real, deliberately tiny pool: exhaustion risk and listener collisions.

A network namespace of the test's own gets a 40-port ephemeral range (40000-40039); 30 connections
to one listener then hold 75% of the pool for that destination, and a listener bound inside the
range collides with it. Root only (creating the namespace); everything is removed afterwards.
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

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux network namespaces"),
    pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]

# Runs inside the namespace: 30 connections to 127.0.0.1:5000, a listener on 40010, then portscope.
SCENARIO = """
import socket, subprocess, sys
server = socket.socket(); server.bind(("127.0.0.1", 5000)); server.listen(64)
squatter = socket.socket(); squatter.bind(("127.0.0.1", 40010)); squatter.listen()
clients = [socket.create_connection(("127.0.0.1", 5000)) for _ in range(30)]
done = subprocess.run([sys.executable, "-m", "portscope", *sys.argv[1:]], capture_output=True, text=True, timeout=60)
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
sys.exit(done.returncode)
"""


@pytest.fixture
def tiny_pool() -> Iterator[str]:
    name = f"pspool{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=20)
    try:
        for command in (
            ["ip", "link", "set", "lo", "up"],
            ["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40039"],
        ):
            subprocess.run(["ip", "netns", "exec", name, *command], check=True, timeout=20)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, timeout=20)


def _run(ns: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", SCENARIO, "live", "--json", "--this-namespace", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_exhaustion_risk_and_collision_are_found(tiny_pool: str) -> None:
    doc = _run(tiny_pool)
    (health,) = doc["health"]  # type: ignore[misc]
    assert (health["low"], health["high"], health["size"]) == (40000, 40039, 40)
    worst = health["worst"]
    assert (worst["remote_address"], worst["remote_port"], worst["ports"]) == ("127.0.0.1", 5000, 30)
    assert worst["fraction"] == pytest.approx(0.75)
    findings = {f["code"]: f for f in doc["findings"]}  # type: ignore[attr-defined]
    assert findings["ephemeral-exhaustion-risk"]["severity"] == "medium"
    collision = findings["listener-in-ephemeral-range"]
    assert "40010" in collision["title"]
    # Case 14 of issue 11: reserving is worded for a service that binds its port every time.
    assert collision["fix"].startswith("only for a service that binds the same port every time")
    assert "sysctl -w net.ipv4.ip_local_reserved_ports=40010" in collision["fix"]
    assert "port 0" in collision["fix"] and "bind(" in collision["detail"]


def test_thresholds_are_settable(tiny_pool: str) -> None:
    high = {f["code"]: f for f in _run(tiny_pool, "--critical-destination", "0.7")["findings"]}  # type: ignore[attr-defined]
    assert high["ephemeral-exhaustion-risk"]["severity"] == "high"
    quiet = {f["code"] for f in _run(tiny_pool, "--warn-destination", "0.9")["findings"]}  # type: ignore[attr-defined]
    assert "ephemeral-exhaustion-risk" not in quiet

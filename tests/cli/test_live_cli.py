"""``portscope`` and ``portscope live`` as a user runs them: summary, table, filters, JSON, CSV, hostile names."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from portscope.host.columns import SOCKET_KEYS
from tests.conftest import run_portscope, socket_objects

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sockets")

# A child that renames itself (the kernel's comm, what ps and ss show) and listens until stdin closes.
NAMED_CHILD = """
import socket, sys
with open("/proc/self/comm", "w") as comm:
    comm.write(sys.argv[1])
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""


@pytest.fixture
def named_listener(request: pytest.FixtureRequest) -> Iterator[tuple[int, int]]:
    """(pid, port) of a child process whose name is the test's parameter."""
    child = subprocess.Popen(
        [sys.executable, "-c", NAMED_CHILD, request.param], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        yield child.pid, int(child.stdout.readline())
    finally:
        child.communicate(timeout=10)


def test_summary_runs_and_groups() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
        try:
            done = run_portscope()
        finally:
            for c in clients:
                c.close()
    assert done.returncode == 0, done.stderr
    for heading in ("Listening", "Outbound", "Inbound", "Ephemeral ports", "Findings"):
        assert heading in done.stdout
    assert f"tcp {port} loopback 127.0.0.1" in done.stdout
    assert re.search(rf"->\s+{port}/tcp\s+x 3\s+1 server\b", done.stdout), done.stdout


def test_live_filters_and_json_shape() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        done = run_portscope("live", "--json", "--port", str(port), "--tcp", "--listen")
        columnar = json.loads(run_portscope("live", "--json", "--columnar", "--port", str(port), "--listen").stdout)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "portscope.live/2"
    assert {
        "taken_at",
        "backend",
        "namespaces",
        "attribution",
        "notes",
        "health",
        "findings",
        "count",
        "sockets",
    } <= set(doc)
    assert doc["count"] == len(doc["sockets"]) == 1
    assert doc["socket_fields"] == list(SOCKET_KEYS)
    (sock,) = doc["sockets"]  # an object, as jq '.sockets[] | select(.local_port == N)' expects
    assert list(sock) == list(SOCKET_KEYS) and sock == socket_objects(doc)[0]
    assert (sock["local_port"], sock["role"], sock["exposure"]) == (port, "listen", "loopback")
    assert doc["reasons"][sock["role_reason"]] == "TCP socket in LISTEN state"
    process = doc["processes"][str(sock["pid"])]
    assert process["name"] == sock["process"] and process["cmdline"]
    assert doc["health"][0]["low"] <= doc["health"][0]["high"]
    assert columnar["sockets"] == [[sock[key] for key in SOCKET_KEYS]]  # --columnar: arrays under socket_fields


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--state", "BOGUS"], "--state: unknown value BOGUS; valid ones are:"),
        (["--role", "server"], "--role: unknown value server; valid ones are: listen, inbound"),
        (["--port", "70000"], "--port: '70000': port 70000 is out of range"),
    ],
)
def test_bad_filters_exit_2_with_one_line(args: list[str], message: str) -> None:
    done = run_portscope("live", *args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_port_takes_service_names_and_ranges() -> None:
    """Issue 11, case 13: --port ssh, as explain and ss take it; a name nobody registered is one line, exit 2."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        by_range = json.loads(run_portscope("live", "--json", "--port", f"{port - 1}-{port + 1}", "--listen").stdout)
    assert [s["local_port"] for s in by_range["sockets"]] == [port]
    by_name = run_portscope("live", "--port", "ssh", "--port", "https")
    assert by_name.returncode == 0, by_name.stderr
    done = run_portscope("live", "--port", "no-such-service")
    assert done.returncode == 2 and "unknown service name 'no-such-service'" in done.stderr


@pytest.mark.parametrize("named_listener", ["\x1b[31mevil\x1b]0;x\x07"], indirect=True)
def test_hostile_process_name_is_neutralised(named_listener: tuple[int, int]) -> None:
    """A process named with terminal escapes shows as inert text in the table and the summary."""
    pid, port = named_listener
    table = run_portscope("live", "--pid", str(pid))
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
    assert f"127.0.0.1:{port}" in table.stdout
    assert "evil" in table.stdout
    summary = run_portscope()
    assert "\x1b" not in summary.stdout
    doc = json.loads(run_portscope("live", "--json", "--pid", str(pid)).stdout)
    assert socket_objects(doc)[0]["process"].startswith("\x1b[31mevil")  # JSON keeps the truth, escaped by JSON


@pytest.mark.parametrize("named_listener", ["=cmd|calc"], indirect=True)
def test_csv_cells_cannot_become_formulas(named_listener: tuple[int, int]) -> None:
    pid, _ = named_listener
    done = run_portscope("live", "--csv", "--pid", str(pid))
    assert done.returncode == 0
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows and rows[0]["process"] == "'=cmd|calc"
    assert rows[0]["pid"] == str(pid)


def test_psutil_backend_from_the_command_line() -> None:
    done = run_portscope("live", "--backend", "psutil", "--json", "--listen")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backend"] == "psutil"

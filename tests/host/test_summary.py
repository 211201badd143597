"""The one-screen summary (issue 11, case 13): two processes of one name are two listener rows."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from portscope.host.sockets import snapshot
from portscope.host.summary import summarize

LISTENER = """
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""


@pytest.fixture
def two_listeners() -> Iterator[list[tuple[int, int]]]:
    """Two python processes, each listening on a port of its own: (pid, port) each."""
    children = [
        subprocess.Popen([sys.executable, "-c", LISTENER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        yield [(child.pid, int(child.stdout.readline())) for child in children]  # type: ignore[union-attr]
    finally:
        for child in children:
            child.communicate(timeout=10)


def test_processes_sharing_a_name_get_a_row_each(two_listeners: list[tuple[int, int]]) -> None:
    rows = {group.pids: group for group in summarize(snapshot(all_namespaces=False)).listeners if group.pids}
    for pid, port in two_listeners:
        (group,) = [g for pids, g in rows.items() if pid in pids]
        assert group.pids == (pid,) and any(f" {port} " in endpoint for endpoint in group.endpoints)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="a new pid namespace needs root")
def test_a_listener_held_outside_the_pid_namespace_says_so() -> None:
    """portscope in a child pid namespace (as in a container) cannot see the host's processes: their
    listeners are 'outside', not 'not yet accepted', in the JSON, the table and the summary."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        inside = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "portscope"]
        done = subprocess.run(
            [*inside, "live", "--json", "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
        summary = subprocess.run(
            inside, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "NO_COLOR": "1"}
        )
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)["sockets"]
    assert (row["pid"], row["owner_note"]) == (None, "outside")
    (line,) = [line for line in summary.stdout.splitlines() if f"tcp {port} loopback" in line]
    assert "? (outside this pid namespace)" in line

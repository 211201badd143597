"""One whole process under GNU time: its wall seconds and peak resident memory, as every benchmark
here measures tools (portscope and the reference alike), side by side in the same run."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

__all__ = ["Timed", "portscope_at", "run_timed"]


class Timed(NamedTuple):
    seconds: float
    peak_mb: float
    stdout: str


def run_timed(name: str, command: list[str], ok: tuple[int, ...] = (0,), shown: int = 1500) -> Timed | None:
    """``command`` under ``/usr/bin/time -f %M``; None, printing the end of its stderr, unless it exits in ``ok``."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as peak:
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-o", peak.name, "-f", "%M", *command], capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        kilobytes = peak.read().strip().splitlines()[-1]
    if done.returncode not in ok:
        print(f"{name}: exit {done.returncode}: {done.stderr.strip()[-shown:]}", file=sys.stderr)
        return None
    return Timed(seconds, int(kilobytes) / 1024, done.stdout)


def portscope_at(source: str | None) -> list[str]:
    """The command that runs portscope: this checkout's, or (``source``: another checkout's ``src``
    folder, such as a ``git worktree`` of the commit before a change) that one's, in this interpreter,
    so that a benchmark can time before and after side by side in the same run."""
    if source is None:
        return [sys.executable, "-m", "portscope"]
    return ["env", f"PYTHONPATH={source}", sys.executable, "-m", "portscope"]

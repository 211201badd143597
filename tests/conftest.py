"""Shared fixtures: where ../shared/data is, and a runner for the real ``portscope`` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the clone (CI has it); tests that need it skip with a reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not here: the shared test data sits beside the clone in CI")
    return SHARED_DATA


def run_portscope(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m portscope ARGS`` as a user would, in a fresh interpreter, output captured."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "portscope", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


def socket_objects(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """``live --json``'s sockets as objects: as they come, or (``--columnar``) each array keyed by its
    ``socket_fields``, as docs/live.md's jq line does."""
    fields = doc["socket_fields"]
    return [row if isinstance(row, dict) else dict(zip(fields, row, strict=True)) for row in doc["sockets"]]


def run_as_nobody(code: str) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` as user nobody (65534) with this package importable; skip where impossible.

    Needs root to switch users. Our interpreter may sit where nobody cannot reach it (pyenv under
    /root): then the system's python3 runs the package from its source tree, if it has what the code
    imports.
    """
    import pytest

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root to run a child as nobody")
    source = str(REPO / "src")
    prelude = f"import sys; sys.path.insert(0, {source!r})\n"
    reasons = []
    for python in (sys.executable, "/usr/bin/python3"):
        try:
            done = subprocess.run(
                [python, "-c", prelude + code],
                user=65534,
                group=65534,
                extra_groups=[],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                cwd="/",
            )
        except (PermissionError, FileNotFoundError) as exc:
            reasons.append(f"{python}: {exc}")
            continue
        if done.returncode != 0 and ("Permission denied" in done.stderr or "No module named" in done.stderr):
            reasons.append(f"{python}: {done.stderr.strip()[-200:]}")
            continue
        return done
    pytest.skip("user nobody can run no interpreter that reaches the package: " + "; ".join(reasons))

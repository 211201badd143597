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
    """``live --json``'s socket arrays as objects, keyed by its ``socket_fields`` (as docs/live.md's jq line does)."""
    fields = doc["socket_fields"]
    return [dict(zip(fields, row, strict=True)) for row in doc["sockets"]]

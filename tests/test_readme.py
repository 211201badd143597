"""README.md's two commands are what CI runs and what a new user types: keep them true."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _command(marker: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", text, flags=re.DOTALL)
    assert match, f"README.md has no ```sh block after <!-- {marker} -->"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert _command("test-command") in ci.splitlines()


def test_commands_make_their_own_virtual_environment() -> None:
    """PEP 668: a fresh Debian/Ubuntu refuses a system-wide pip install."""
    for marker in ("main-command", "test-command"):
        command = _command(marker)
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install ")
        assert "pip install" not in command.replace(".venv/bin/pip install", "")

"""README.md's two commands are what CI runs and what a new user types: keep them true."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO, run_portscope


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


def _without_now(text: str) -> str:
    """The output without its ``Now`` block: who uses the port right now is this host's business."""
    lines, skipping = [], False
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            skipping = line.split()[0] == "Now"
        if not skipping:
            lines.append(line)
    return "\n".join(lines)


def test_the_explain_example_is_what_explain_prints() -> None:
    """Issue 11, case 18: the README showed a ``Who now`` block the tool had stopped printing."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example: (portscope [^>]+) -->\s*```text\n\$ \1\n(.+?)```", text, flags=re.DOTALL)
    assert match, "README.md has no marked explain example"
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as handle:
        if handle.read().split() != ["32768", "60999"]:
            pytest.skip("this host's ephemeral range is not Linux's default, which the example shows")
    done = run_portscope(*match.group(1).split()[1:], env={"COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    assert _without_now(done.stdout) == _without_now(match.group(2)), "README's example drifted from the output"
    assert "\n  Now " in match.group(2) and "Who now" not in text

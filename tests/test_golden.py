"""The goldens (tests/golden.py): portscope's answers on real inputs stay what they were, or the change
is deliberate and its golden files are written again in the same commit."""

from __future__ import annotations

import pytest

from tests import golden


def _check(which: str) -> None:
    lines: list[str] = []
    differing = golden.check(which, lines.append)
    assert not differing, (
        f"{differing} golden files of {which} differ; if intended, run python -m tests.golden write {which} "
        "and say why in the commit:\n" + "\n".join(lines[:200])
    )


def test_live_roles_and_findings_of_the_recorded_snapshot() -> None:
    """The recorded sockets of three namespaces get the same roles, port classes and health findings."""
    _check("live")


def test_explain_of_ports_under_each_os() -> None:
    """Every explained port keeps its role, reasons and range memberships."""
    _check("explain")


@pytest.mark.slow
def test_analyze_of_every_input(shared_data: object) -> None:
    """``analyze --json`` of each input file in tests/data and ../shared/data: the same report."""
    _check("analyze")


@pytest.mark.slow
def test_explain_of_pasted_log_lines(shared_data: object) -> None:
    """Lines of every log format, pasted: the same sides, classes, kind and reason."""
    _check("lines")

"""Helpers for the analysis tests: run an analysis, look at its findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.report import analyze
from portscope.render.analyze_json import report_json

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared(*parts: str) -> Path:
    """A file of ../shared/data, or skip: a user's clone does not have it."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is missing (../shared/data sits beside the clone in CI)")
    return path


def run(paths: list[Path | str], **options: Any) -> dict[str, Any]:
    """The report as its JSON document (docs/analyze-json.md), findings as objects a script reads."""
    return report_json(analyze([str(p) for p in paths], AnalyzeOptions(**options)))


def kinds(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(f["kind"], f["src"]) for f in report["findings"]]


SCAN_KINDS = {"vertical_scan", "horizontal_scan", "protocol_scan"}

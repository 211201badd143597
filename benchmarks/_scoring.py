"""How a portscope report scores against a generator's ground truth (tests/analyze/synthetic*.py),
printed the same way by every benchmark that embeds attacks in its data."""

from __future__ import annotations

import json
from typing import Any

from tests.analyze.synthetic import GroundTruth

__all__ = ["Finding", "portscope_findings", "print_score"]

Finding = tuple[str, str | None, str | None, int | None]  # kind, src, dst, port


def portscope_findings(stdout: str) -> list[Finding]:
    """The findings of a ``portscope analyze --json`` report."""
    report: dict[str, Any] = json.loads(stdout)
    return [(f["kind"], f.get("src"), f.get("dst"), f.get("port")) for f in report["findings"]]


def print_score(label: str, findings: list[Finding], truth: GroundTruth) -> tuple[str, str]:
    """Print the findings by kind, the embedded attacks missed and the background sources flagged;
    return (found/total, background flagged/total) for the benchmark's table."""
    score = truth.score(findings)
    kinds: dict[str, int] = {}
    for kind, *_ in findings:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"{label} findings by kind: {dict(sorted(kinds.items()))}")
    for missed in score.missed:
        print(f"  {label} missed: {missed}")
    for addr in score.flagged_background[:10]:
        print(f"  {label} flagged background source {addr}: {[f for f in findings if f[1] == addr][:3]}")
    return f"{len(score.found)}/{len(truth.expected)}", f"{len(score.flagged_background)}/{len(truth.background)}"

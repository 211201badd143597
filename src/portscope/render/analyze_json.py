"""``portscope analyze --json``: the report as the document docs/analyze-json.md describes.

The report holds :class:`~portscope.findings.Finding` objects; here they take their one JSON shape
(:func:`~portscope.render.findings.findings_json`). Written by orjson: a 10-million-flow report is
about 30 MB of JSON, which the standard library's encoder took seconds over.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from portscope.render.findings import findings_json

__all__ = ["report_json", "write_json"]


def report_json(report: dict[str, Any]) -> dict[str, Any]:
    """The report with its findings as JSON objects; everything else is JSON already."""
    return {**report, "findings": findings_json(report.get("findings") or ())}


def write_json(out: BinaryIO, report: dict[str, Any]) -> None:
    import orjson

    out.write(orjson.dumps(report_json(report), option=orjson.OPT_INDENT_2) + b"\n")

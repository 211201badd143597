"""JSON documents with a named, versioned shape (``schema``), so scripts can rely on them.

Records are NamedTuples; their fields are the documented keys (docs/explain-json.md), and
computed properties that people filter on (``assigned``) are added explicitly.
"""

from __future__ import annotations

import json
from typing import Any

from portscope.records import IanaEntry, PortExplanation, RangeExplanation

__all__ = ["dumps", "explanation_to_json"]

EXPLAIN_SCHEMA = "portscope.explain/1"


def _plain(value: Any) -> Any:
    if isinstance(value, IanaEntry):
        return {**{k: _plain(v) for k, v in value._asdict().items()}, "assigned": value.assigned}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a record (NamedTuple)
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def explanation_to_json(query: str, exp: PortExplanation | RangeExplanation) -> dict[str, Any]:
    """One explanation as a JSON object: ``kind`` (port or range), the ``query`` as typed, then its fields."""
    kind = "port" if isinstance(exp, PortExplanation) else "range"
    return {"kind": kind, "query": query, **_plain(exp)}


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)

"""Report values as HTML text, for :mod:`~portscope.render.analyze_html` and :mod:`~portscope.render.analyze_plots`.

Every report value is shown through one of these, never interpolated raw: :func:`_e` drops escape sequences,
shows control characters as ``\\xNN`` (:func:`~portscope.render.sanitize.for_terminal`) and escapes the rest
with ``html.escape(quote=True)``. One module so the page and its plots format a value the same way.
"""

from __future__ import annotations

import html
import math
import re
from datetime import datetime, timezone
from typing import Any

from portscope.render.sanitize import for_terminal

_TIME_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?\Z")


def _e(value: object) -> str:
    """A report value as HTML text: missing is a dash, numbers as typed, text sanitised and escaped."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _float(value)
    return html.escape(for_terminal(str(value)), quote=True)


def _int(value: object) -> int | None:
    """A count or port, or None when the report has none (or something that is not a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _n(value: object) -> str:
    """A count with thousands separators."""
    number = _int(value)
    return "\u2013" if number is None else f"{number:,}"


def _float(value: float) -> str:
    if not math.isfinite(value):
        return html.escape(str(value))
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _epoch(value: object) -> float | None:
    """Seconds since 1970 of an ISO 8601 time; our own parser because Python 3.10 rejects the ``Z``."""
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if not 1900 <= int(year) <= 9000:  # a forged year would overflow datetime once an offset is applied
        return None
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc)
    except ValueError:
        return None
    seconds = moment.timestamp() + (float("0." + fraction) if fraction else 0.0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


def _utc(seconds: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime(fmt)


def _duration(seconds: float) -> str:
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            parts.append(f"{int(seconds // size)} {unit}")
            seconds %= size
    if not parts or (len(parts) == 1 and seconds >= 1):
        parts.append(f"{seconds:.0f} s")
    return " ".join(parts[:2])


def _port(row: dict[str, Any]) -> str:
    return f"{_e(_int(row.get('port')))}/{_e(row.get('protocol'))}"

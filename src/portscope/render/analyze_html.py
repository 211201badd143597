"""``portscope analyze --html``: the report of docs/analyze-json.md as one self-contained web page.

Why it is built this way:

- One file, nothing fetched: inline CSS and plots drawn here as inline SVG (no JavaScript, no CDN, no
  font), so a report can be mailed, attached to a ticket, archived and opened offline years later.
- Every value in the report came from logs or packets, so whoever sent them chose it. Each value passes
  through :func:`_e` (escape sequences dropped and control characters shown as ``\\xNN`` by
  :func:`~portscope.render.sanitize.for_terminal`, then ``html.escape(quote=True)``). No URL, CSS or
  attribute is ever built from report text: colours and classes come from our own tables, keyed by the
  value, and anchors are numbered by us. A Content-Security-Policy meta tag forbids scripts, fetches and
  forms, so a missed escape still cannot run code (OWASP XSS Prevention Cheat Sheet, defence in depth).
- Tables stop at ``MAX_ROWS`` rows with an "N more" line and the port map at ``MAX_POINTS`` points, so a
  report with 100,000 ports stays a page a browser opens at once; the JSON keeps everything.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from portscope.render.sanitize import for_terminal

__all__ = ["render_html"]

MAX_ROWS = 300
MAX_FINDINGS = 200
MAX_EVIDENCE = 20
MAX_POINTS = 3000
TOP_SERVICES = 15
_MAX_SLOTS = 600  # the spec promises at most 500 timeline buckets; coarser ones are merged past this

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
SEVERITIES = ("critical", "high", "medium", "low", "info")
_SEVERITY_COLOUR = {
    "critical": "#7d1128",
    "high": "#c92a2a",
    "medium": "#e67700",
    "low": "#1971c2",
    "info": "#868e96",
}
_AS_COLOUR = {"service": "#1971c2", "both": "#7048e8", "client": "#adb5bd", "unexplained": "#e8590c"}
_CLASS_COLOUR = {
    "service": "#1971c2",
    "late_reply": "#adb5bd",
    "explained": "#adb5bd",
    "scan": "#c92a2a",
    "denied": "#c92a2a",
    "unexplained": "#e8590c",
}
_PALETTE = ("#2f9e44", "#7048e8", "#0c8599", "#d6336c", "#5c940d", "#495057")
_ACTION_COLOUR = {"allowed": "#2f9e44", "denied": "#c92a2a", "other": "#adb5bd"}
_RANGES = (("system", 0, 1023, "#e7f5ff"), ("user", 1024, 49151, "#f8f9fa"), ("dynamic", 49152, 65535, "#fff4e6"))
_TIME_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)?\Z")
_DOT = " \u00b7 "
_TICK_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 259200, 604800, 2592000)

# ---------------------------------------------------------------------------------------------------------------
# Values: every report value is shown through one of these, never interpolated raw.


def _e(value: object) -> str:
    """A report value as HTML text: missing is a dash, numbers as typed, text sanitised and escaped."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _float(value)
    return html.escape(for_terminal(str(value)), quote=True)


def _cut(value: object, width: int) -> str:
    """Escaped text cut to ``width`` characters before escaping, so an entity is never cut in half."""
    text = for_terminal("" if value is None else str(value))
    return html.escape(text if len(text) <= width else text[: width - 1] + "\u2026", quote=True)


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


def _metric(value: object) -> str:
    """A finding's metric: counts with separators, rates and seconds with three significant digits."""
    return _n(value) if isinstance(value, int) and not isinstance(value, bool) else _e(value)


def _bytes(value: object) -> str:
    number = _int(value)
    if number is None:
        return "\u2013"
    size = float(number)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{number} B"  # pragma: no cover - the loop always returns


def _short(value: float) -> str:
    """An axis tick: 950, 1.5k, 2M."""
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{unit}"
    return f"{value:.3g}"


def _top_counts(counts: dict[str, Any], shown: int = 8) -> str:
    """``tcp 900 \u00b7 udp 100``, the largest first; an IP protocol scan's 250 protocols become a tail count."""
    ranked = sorted(counts.items(), key=lambda kv: -(_int(kv[1]) or 0))
    text = " \u00b7 ".join(f"{_e(k)} {_n(v)}" for k, v in ranked[:shown])
    rest = ranked[shown:]
    if rest:
        text += f" \u00b7 {len(rest):,} more ({sum(_int(v) or 0 for _, v in rest):,})"
    return text


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


def _time(value: object) -> str:
    """A report time as ``2026-11-23 04:36:54 UTC``; an unparseable one shown as it came, escaped."""
    seconds = _epoch(value)
    return _e(value) if seconds is None else _utc(seconds) + " UTC"


def _span(first: object, last: object) -> str:
    """``2026-11-23 04:00:00 \u2013 05:29:59 UTC``: the second date only when the day changes."""
    start, end = _epoch(first), _epoch(last)
    if start is None or end is None:
        return f"{_time(first)} \u2013 {_time(last)}"
    same_day = _utc(start, "%Y-%m-%d") == _utc(end, "%Y-%m-%d")
    return f"{_utc(start)} \u2013 {_utc(end, '%H:%M:%S' if same_day else '%Y-%m-%d %H:%M:%S')} UTC"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _duration(seconds: float) -> str:
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            parts.append(f"{int(seconds // size)} {unit}")
            seconds %= size
    if not parts or (len(parts) == 1 and seconds >= 1):
        parts.append(f"{seconds:.0f} s")
    return " ".join(parts[:2])


def _endpoint(addr: object, port: object) -> str:
    """``10.0.0.1:443``, ``[2001:db8::1]:443``, or the address alone."""
    text = _e(addr)
    if _int(port) is None:
        return text
    return f"[{text}]:{_int(port)}" if isinstance(addr, str) and ":" in addr else f"{text}:{_int(port)}"


def _port(row: dict[str, Any]) -> str:
    return f"{_e(_int(row.get('port')))}/{_e(row.get('protocol'))}"


def _badge(severity: object) -> str:
    """A coloured severity label; the class comes from our list, the text shown is the (escaped) value."""
    known = severity if isinstance(severity, str) and severity in SEVERITIES else "unknown"
    return f'<span class="badge sev-{known}">{_e(severity)}</span>'


# ---------------------------------------------------------------------------------------------------------------
# HTML building blocks. Cells are already-escaped HTML.


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    total: int,
    numeric: Sequence[int] = (),
    *,
    nowrap: Sequence[int] = (),
) -> str:
    """A table of at most ``MAX_ROWS`` rows, then a line saying how many more the JSON has."""
    kinds = [" class=num" if i in numeric else " class=nw" if i in nowrap else "" for i in range(len(headers))]
    head = "".join(f"<th{kind}>{h}</th>" for kind, h in zip(kinds, headers, strict=True))
    body = []
    for count, row in enumerate(rows):
        if count == MAX_ROWS:
            break
        cells = "".join(f"<td{kind}>{c}</td>" for kind, c in zip(kinds, row, strict=True))
        body.append(f"<tr>{cells}</tr>")
    more = total - len(body)
    note = f'<p class="more">{more:,} more not shown (see <code>--json</code>)</p>' if more > 0 else ""
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>{note}'
    )


def _evidence(evidence: object, is_open: bool) -> str:
    """The sample flows behind a finding or an explained group, with the file and line they came from."""
    ev = _dict(evidence)
    sample = _dicts(ev.get("sample"))
    flows = _int(ev.get("flows"))
    if not sample:
        return f'<p class="muted">Evidence: {_n(flows)} flows, no sample.</p>' if flows is not None else ""
    rows = []
    for s in sample[:MAX_EVIDENCE]:
        where = _e(s.get("file")) + (f":{_e(_int(s.get('line')))}" if _int(s.get("line")) is not None else "")
        rows.append(
            [
                _time(s.get("start")),
                _endpoint(s.get("src"), s.get("src_port")),
                _endpoint(s.get("dst"), s.get("dst_port")),
                _e(s.get("protocol")),
                _e(s.get("action")),
                _e(s.get("tcp_flags")),
                f"<code>{where}</code>",
            ]
        )
    shown = min(len(sample), MAX_EVIDENCE)
    summary = f"Evidence: {shown:,} of {_n(flows if flows is not None else len(sample))} flows"
    table = _table(
        ("Start", "Source", "Destination", "Proto", "Action", "Flags", "File:line"), rows, shown, nowrap=(0,)
    )
    return f"<details{' open' if is_open else ''}><summary>{summary}</summary>{table}</details>"


def _svg(name: str, width: int, height: int, title: str, desc: str, body: Iterable[str]) -> str:
    """One accessible plot: <title> and <desc> first, named by aria-labelledby (WAI-ARIA graphics roles)."""
    return (
        f'<figure class="plot"><svg id="plot-{name}" role="img" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" aria-labelledby="plot-{name}-title plot-{name}-desc">'
        f'<title id="plot-{name}-title">{title}</title><desc id="plot-{name}-desc">{desc}</desc>'
        f'<text class="ptitle" x="{width / 2:.0f}" y="18" text-anchor="middle">{title}</text>'
        f"{''.join(body)}</svg></figure>"
    )


def _legend(x: float, y: float, items: Sequence[tuple[str, str]]) -> str:
    """A row of colour swatches with their (escaped) labels; widths estimated from the label length."""
    parts = ['<g class="legend">']
    for colour, label in items:
        parts.append(f'<rect class="swatch" x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{y:.1f}">{label}</text>')
        x += 24 + 6.5 * len(html.unescape(label))
    return "".join(parts) + "</g>"


def _axis_label(x: float, y: float, text: str, *, vertical: bool = False) -> str:
    turn = f' transform="rotate(-90 {x:.0f} {y:.0f})"' if vertical else ""
    return f'<text class="axis" x="{x:.0f}" y="{y:.0f}" text-anchor="middle"{turn}>{text}</text>'


def _nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = max(1.0, next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


# ---------------------------------------------------------------------------------------------------------------
# Plots


def _severity_counts(report: dict[str, Any]) -> dict[str, int]:
    counted = _dict(_dict(report.get("summary")).get("findings"))
    if counted:
        return {s: _int(counted.get(s)) or 0 for s in SEVERITIES}
    findings = _dicts(report.get("findings"))
    return {s: sum(1 for f in findings if f.get("severity") == s) for s in SEVERITIES}


def _severity_svg(counts: dict[str, int]) -> str:
    width, height, left, right, top = 520, 200, 80, 50, 34
    plot_w, row = width - left - right, 26
    ticks = _nice_ticks(max(counts.values(), default=0) or 1, 4)
    body = []
    for tick in ticks:
        x = left + tick / ticks[-1] * plot_w
        body.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + 5 * row}"/>')
        body.append(f'<text x="{x:.1f}" y="{top + 5 * row + 14}" text-anchor="middle">{_short(tick)}</text>')
    for i, severity in enumerate(SEVERITIES):
        y, value = top + i * row, counts[severity]
        bar_w = value / ticks[-1] * plot_w
        body.append(f'<text x="{left - 6}" y="{y + 17}" text-anchor="end">{severity}</text>')
        body.append(
            f'<rect class="bar" x="{left}" y="{y + 4}" width="{bar_w:.1f}" height="{row - 8}"'
            f' fill="{_SEVERITY_COLOUR[severity]}"><title>{severity}: {value:,} findings</title></rect>'
        )
        body.append(f'<text x="{left + bar_w + 5:.1f}" y="{y + 17}">{value:,}</text>')
    body.append(_axis_label(left + plot_w / 2, height - 10, "findings"))
    body.append(_axis_label(14, top + 2.5 * row, "severity", vertical=True))
    desc = "Findings by severity: " + ", ".join(f"{s} {counts[s]:,}" for s in SEVERITIES) + "."
    return _svg("severity", width, height, "Findings by severity", desc, body)


def _time_ticks(start: float, end: float) -> list[float]:
    """At most about eight ticks on UTC-aligned round times (minutes, hours, days) between start and end."""
    span = max(end - start, 60.0)
    step = next((s for s in _TICK_STEPS if span / s <= 8), math.ceil(span / 8))
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)]


def _timeline_svg(timeline: dict[str, Any]) -> str | None:
    """Stacked bars of flows per class per bucket, on a real time axis (empty buckets leave gaps)."""
    bucket = _int(timeline.get("bucket_seconds")) or 60
    bucket = max(bucket, 1)
    classes = [str(c) for c in timeline.get("classes") or [] if isinstance(c, str)]
    sums: dict[tuple[float, str], int] = {}
    for row in _dicts(timeline.get("rows")):
        start, flows, cls = _epoch(row.get("t")), _int(row.get("flows")), row.get("class")
        if start is None or flows is None or flows <= 0 or not isinstance(cls, str):
            continue
        if cls not in classes:
            classes.append(cls)
        sums[start, cls] = sums.get((start, cls), 0) + flows
    if not sums:
        return None
    t0 = min(t for t, _ in sums)
    slots = int((max(t for t, _ in sums) - t0) // bucket) + 1
    if slots > _MAX_SLOTS:  # more buckets than the spec allows: merge neighbours so bars stay visible
        factor = math.ceil(slots / 500)
        bucket, slots = bucket * factor, math.ceil(slots / factor)
    stacked: dict[int, dict[str, int]] = {}
    for (start, cls), flows in sums.items():
        slot = stacked.setdefault(int((start - t0) // bucket), {})
        slot[cls] = slot.get(cls, 0) + flows
    colours = {c: _CLASS_COLOUR.get(c, _PALETTE[i % len(_PALETTE)]) for i, c in enumerate(classes)}
    width, height, left, right, top, bottom = 1000, 340, 64, 16, 52, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _nice_ticks(max(sum(s.values()) for s in stacked.values()))
    slot_w = plot_w / slots
    gap = slot_w * 0.15 if slot_w > 4 else 0.0
    body = []
    for tick in ticks:
        y = top + plot_h - tick / ticks[-1] * plot_h
        body.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_short(tick)}</text>')
    for index in sorted(stacked):
        base, x = 0, left + index * slot_w + gap / 2
        label = _utc(t0 + index * bucket, "%Y-%m-%d %H:%M")
        for cls in classes:
            flows = stacked[index].get(cls, 0)
            if not flows:
                continue
            y0 = top + plot_h - (base + flows) / ticks[-1] * plot_h
            bar_h = flows / ticks[-1] * plot_h
            body.append(
                f'<rect class="bar" x="{x:.2f}" y="{y0:.2f}" width="{max(slot_w - gap, 0.5):.2f}" height="{bar_h:.2f}"'
                f' fill="{colours[cls]}"><title>{label} UTC: {_e(cls)} {flows:,} flows</title></rect>'
            )
            base += flows
    end = t0 + slots * bucket
    ticks_t = _time_ticks(t0, end)
    previous_day = ""
    for t in ticks_t:
        x = left + (t - t0) / (end - t0) * plot_w
        day, clock = _utc(t, "%Y-%m-%d"), _utc(t, "%H:%M")
        text = day if clock == "00:00" and len(ticks_t) > 1 and ticks_t[1] - ticks_t[0] >= 86400 else clock
        body.append(f'<line class="tick" x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 5}"/>')
        body.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">{text}</text>')
        if day not in (previous_day, text):
            body.append(f'<text class="muted" x="{x:.1f}" y="{top + plot_h + 31}" text-anchor="middle">{day}</text>')
        previous_day = day
    body.append(f'<line class="axisline" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>')
    axis = f"time (UTC), {_utc(t0, '%Y-%m-%d %H:%M')} to {_utc(end, '%Y-%m-%d %H:%M')}; one bar per {_duration(bucket)}"
    body.append(_axis_label(left + plot_w / 2, height - 6, axis))
    body.append(_axis_label(14, top + plot_h / 2, "flows", vertical=True))
    totals = {c: sum(s.get(c, 0) for s in stacked.values()) for c in classes}
    body.append(_legend(left, 38, [(colours[c], f"{_e(c)} ({totals[c]:,})") for c in classes]))
    desc = f"Flows per {_duration(bucket)} from {_utc(t0)} to {_utc(end)} UTC, by class: " + ", ".join(
        f"{_e(c)} {totals[c]:,}" for c in classes
    )
    return _svg("timeline", width, height, "Flows over time", desc + ".", body)


def _services_svg(services: list[dict[str, Any]]) -> str | None:
    """The busiest services as horizontal bars split by firewall action (allowed, denied, not said)."""
    rows = sorted((s for s in services if (_int(s.get("flows")) or 0) > 0), key=lambda s: -(_int(s.get("flows")) or 0))
    rows = rows[:TOP_SERVICES]
    if not rows:
        return None
    width, left, right, top, row = 1000, 260, 70, 50, 24
    height = top + row * len(rows) + 46
    plot_w = width - left - right
    ticks = _nice_ticks(max(_int(s.get("flows")) or 0 for s in rows))
    body = []
    for tick in ticks:
        x = left + tick / ticks[-1] * plot_w
        body.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + row * len(rows)}"/>')
        body.append(f'<text x="{x:.1f}" y="{top + row * len(rows) + 14}" text-anchor="middle">{_short(tick)}</text>')
    for i, s in enumerate(rows):
        y, flows = top + i * row, _int(s.get("flows")) or 0
        allowed, denied = max(_int(s.get("allowed")) or 0, 0), max(_int(s.get("denied")) or 0, 0)
        shown_allowed = min(allowed, flows)
        shown_denied = min(denied, flows - shown_allowed)
        parts = (("allowed", shown_allowed), ("denied", shown_denied), ("other", flows - shown_allowed - shown_denied))
        name = f"{_int(s.get('port'))}/{s.get('protocol')} {s.get('service') or ''} {s.get('direction') or ''}"
        body.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{_cut(" ".join(name.split()), 36)}</text>')
        tip = f"{_e(name)}: {flows:,} flows, {allowed:,} allowed, {denied:,} denied"
        segments, x = [], float(left)
        for action, value in parts:
            if value:
                seg_w = value / ticks[-1] * plot_w
                colour = _ACTION_COLOUR[action]
                segments.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{seg_w:.1f}" height="{row - 8}" fill="{colour}"/>'
                )
                x += seg_w
        body.append(f'<g class="bar"><title>{tip}</title>{"".join(segments)}</g>')
        body.append(f'<text x="{x + 5:.1f}" y="{y + 16}">{flows:,}</text>')
    body.append(_axis_label(left + plot_w / 2, height - 8, "flows"))
    body.append(_axis_label(14, top + row * len(rows) / 2, "service", vertical=True))
    body.append(_legend(left, 38, [(_ACTION_COLOUR[a], a) for a in ("allowed", "denied", "other")]))
    desc = f"The {len(rows)} services with most flows: " + "; ".join(
        f"{_e(s.get('port'))}/{_e(s.get('protocol'))} {_n(s.get('flows'))}" for s in rows
    )
    return _svg("services", width, height, f"Top {len(rows)} services by flows", desc + ".", body)


def _port_map_svg(ports: list[dict[str, Any]]) -> str | None:
    """Every port at its number (IANA ranges shaded, RFC 6335 section 6) and its flows on a log scale."""
    usable = [p for p in ports if (_int(p.get("flows")) or 0) >= 1 and _int(p.get("port")) in range(65536)]
    if not usable:
        return None
    # Unexplained ports first, then by flows, so a cap keeps what matters; drawn in reverse to put them on top.
    usable.sort(key=lambda p: (p.get("as") != "unexplained", -(_int(p.get("flows")) or 0)))
    shown = usable[:MAX_POINTS]
    width, height, left, right, top, bottom = 1000, 360, 64, 16, 52, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    decades = max(1, math.ceil(math.log10(max(_int(p.get("flows")) or 1 for p in shown)) + 1e-9))
    body = []
    for _, low, high, colour in _RANGES:
        x1, x2 = left + low / 65535 * plot_w, left + (high + 1) / 65535 * plot_w
        body.append(
            f'<rect class="band" x="{x1:.1f}" y="{top}" width="{x2 - x1:.1f}" height="{plot_h}" fill="{colour}"/>'
        )
    for name, low, high, _ in _RANGES:  # labels after every band, so the narrow system band's is not covered
        x1, x2 = left + low / 65535 * plot_w, left + (high + 1) / 65535 * plot_w
        label = f"{name} {low}\u2013{high}"
        anchor, x = ("start", x1 + 3) if name == "system" else ("middle", (x1 + x2) / 2)
        body.append(f'<text class="muted" x="{x:.1f}" y="{top + 13}" text-anchor="{anchor}">{label}</text>')
    for power in range(decades + 1):
        y = top + plot_h - power / decades * plot_h
        body.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_short(10**power)}</text>')
    for port, anchor in (
        (0, "end"),
        (1024, "start"),
        (16384, "middle"),
        (32768, "middle"),
        (49152, "middle"),
        (65535, "end"),
    ):
        x = left + port / 65535 * plot_w
        body.append(f'<line class="tick" x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 5}"/>')
        body.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="{anchor}">{port}</text>')
    for p in reversed(shown):
        number, flows, role = _int(p.get("port")) or 0, _int(p.get("flows")) or 1, p.get("as")
        colour = _AS_COLOUR.get(role, "#495057") if isinstance(role, str) else "#495057"
        x = left + number / 65535 * plot_w
        y = top + plot_h - math.log10(flows) / decades * plot_h
        service = f" {_e(p.get('service'))}" if p.get("service") else ""
        body.append(
            f'<circle class="pt" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
            f"<title>{_port(p)}{service}: {_e(role)}, {flows:,} flows</title></circle>"
        )
    axis = "port number" + (f" ({len(shown):,} of {len(usable):,} ports drawn)" if len(shown) < len(usable) else "")
    body.append(_axis_label(left + plot_w / 2, height - 8, axis))
    body.append(_axis_label(14, top + plot_h / 2, "flows (log scale)", vertical=True))
    counts = {role: sum(1 for p in usable if p.get("as") == role) for role in _AS_COLOUR}
    body.append(_legend(left, 38, [(_AS_COLOUR[r], f"{r} ({counts[r]:,})") for r in _AS_COLOUR]))
    desc = f"{len(usable):,} ports by number and flows (log scale): " + ", ".join(
        f"{r} {counts[r]:,}" for r in _AS_COLOUR
    )
    return _svg("portmap", width, height, "Port map", desc + ".", body)


# ---------------------------------------------------------------------------------------------------------------
# Sections


def _header(report: dict[str, Any]) -> str:
    summary = _dict(report.get("summary"))
    first, last = _epoch(summary.get("first_seen")), _epoch(summary.get("last_seen"))
    span = _span(summary.get("first_seen"), summary.get("last_seen"))
    if first is not None and last is not None:
        span += f"<br><small>{_duration(max(last - first, 0))}</small>"
    counts = _severity_counts(report)
    found = " ".join(f"{_badge(s)} {counts[s]:,}" for s in SEVERITIES if counts[s])
    cards = [
        ("Flows", _n(summary.get("flows"))),
        ("Time span", span),
        ("Addresses", _n(summary.get("addresses"))),
        ("Findings", found or "none"),
        ("Engine", f"{_e(report.get('engine'))}<br><small>OS ranges: {_e(report.get('os'))}</small>"),
    ]
    parts = ['<header><h1>portscope analyze</h1><p class="muted">']
    parts.append(f"Generated {_time(report.get('generated'))} \u00b7 schema {_e(report.get('schema'))}</p>")
    parts.append('<div class="cards">' + "".join(f"<div><h4>{k}</h4><p>{v}</p></div>" for k, v in cards) + "</div>")
    mix = []
    for key in ("protocols", "actions", "orientation"):
        values = _dict(summary.get(key))
        if values:
            mix.append(f"<b>{key}</b> " + _top_counts(values))
    if mix:
        parts.append('<p class="mix">' + "<br>".join(mix) + "</p>")
    if summary.get("empty_reason"):
        parts.append(f'<p class="notice">Empty report: {_e(summary.get("empty_reason"))}</p>')
    failed, fail_on = report.get("failed"), _e(report.get("fail_on"))
    if failed is True:
        parts.append(
            f'<p class="verdict fail">Fails <code>--fail-on {fail_on}</code>: findings at or above {fail_on}.</p>'
        )
    elif failed is False:
        parts.append(f'<p class="verdict pass">Passes <code>--fail-on {fail_on}</code>: no finding at or above it.</p>')
    inputs = _dicts(report.get("inputs"))
    if inputs:
        rows = (
            [
                f"<code>{_e(i.get('path'))}</code>",
                _e(i.get("format")),
                _n(i.get("flows")),
                (
                    f'<span class="warn">{_n(i.get("bad_records"))}</span>'
                    if (_int(i.get("bad_records")) or 0) > 0
                    else _n(i.get("bad_records"))
                ),
                _n(i.get("skipped_lines")),
            ]
            for i in inputs
        )
        parts.append(
            "<h3>Inputs</h3>"
            + _table(("File", "Format", "Flows", "Bad records", "Skipped lines"), rows, len(inputs), (2, 3, 4))
        )
    if any(counts.values()):
        parts.append(_severity_svg(counts))
    return "".join(parts) + "</header>"


def _findings(findings: list[dict[str, Any]]) -> str:
    parts = [f'<section id="findings"><h2>Findings <small>({len(findings):,})</small></h2>']
    if not findings:
        parts.append('<p class="muted">No findings.</p>')
    for number, f in enumerate(findings[:MAX_FINDINGS], start=1):
        sev = f.get("severity")
        known = sev if isinstance(sev, str) and sev in SEVERITIES else "unknown"
        meta = [f"<code>{_e(f.get('kind'))}</code>"]
        mitre = _dict(f.get("mitre"))
        if mitre:
            meta.append(f"MITRE ATT&amp;CK <b>{_e(mitre.get('id'))}</b> {_e(mitre.get('name'))}")
        if f.get("src") is not None or f.get("dst") is not None:
            target = _e(f.get("dst")) + (f" port {_port(f)}" if _int(f.get("port")) is not None else "")
            meta.append(f"{_e(f.get('src'))} \u2192 {target}")
        elif _int(f.get("port")) is not None:
            meta.append(f"port {_port(f)}")
        meta.append(_span(f.get("first_seen"), f.get("last_seen")))
        metrics = _dict(f.get("metrics"))
        chips = "".join(f"<div><dt>{_e(k)}</dt><dd>{_metric(v)}</dd></div>" for k, v in metrics.items())
        parts.append(
            f'<article class="finding sev-{known}" id="finding-{number}"><h3>{_badge(sev)} <span class="fid">'
            f"{_e(f.get('id'))}</span> {_e(f.get('title'))}</h3>"
            f'<p class="meta">{_DOT.join(meta)}</p>'
            + (f'<dl class="metrics">{chips}</dl>' if chips else "")
            + _evidence(f.get("evidence"), number <= 10)
            + "</article>"
        )
    if len(findings) > MAX_FINDINGS:
        parts.append(
            f'<p class="more">{len(findings) - MAX_FINDINGS:,} more findings not shown (see <code>--json</code>)</p>'
        )
    return "".join(parts) + "</section>"


def _ports(report: dict[str, Any]) -> str:
    services, ports = _dicts(report.get("services")), _dicts(report.get("ports"))
    parts = ['<section id="ports"><h2>Ports explained</h2>']
    if ports:
        roles = {r: sum(1 for p in ports if p.get("as") == r) for r in _AS_COLOUR}
        parts.append(
            f"<p>{len(ports):,} distinct ports: {roles['service']:,} served, {roles['both']:,} both served and used"
            f" as client ports, {roles['client']:,} ephemeral client ports folded into the services below,"
            f" <b>{roles['unexplained']:,} unexplained</b>.</p>"
        )
    chart = _services_svg(services)
    parts.append(chart or "")
    parts.append(f"<h3>Services <small>({len(services):,})</small></h3>")
    services = sorted(services, key=lambda s: -(_int(s.get("flows")) or 0))
    rows = (
        [
            f"<b>{_port(s)}</b>",
            _e(s.get("service")),
            _e(s.get("direction")),
            _n(s.get("flows")),
            _n(s.get("packets")),
            _bytes(s.get("bytes")),
            _n(s.get("clients")),
            _n(s.get("servers")),
            _client_ports(s),
            _n(s.get("allowed")),
            _n(s.get("denied")),
            _span(s.get("first_seen"), s.get("last_seen")),
        ]
        for s in services
    )
    headers = (
        "Port",
        "Service",
        "Direction",
        "Flows",
        "Packets",
        "Bytes",
        "Clients",
        "Servers",
        "Client ports",
        "Allowed",
        "Denied",
        "Seen",
    )
    parts.append(
        _table(headers, rows, len(services), (3, 4, 5, 6, 7, 8, 9, 10))
        if services
        else '<p class="muted">No services.</p>'
    )
    chart = _port_map_svg(ports)
    parts.append(chart or "")
    odd = sorted((p for p in ports if p.get("as") == "unexplained"), key=lambda p: -(_int(p.get("flows")) or 0))
    parts.append(f"<h3>Unexplained ports <small>({len(odd):,})</small></h3>")
    rows = (
        [f"<b>{_port(p)}</b>", _e(p.get("service")), _n(p.get("flows")), _e(p.get("range")), _e(p.get("ephemeral"))]
        for p in odd
    )
    parts.append(
        _table(("Port", "Service", "Flows", "Range", "Ephemeral"), rows, len(odd), (2,))
        if odd
        else '<p class="muted">None: every port is a service or a client of one.</p>'
    )
    return "".join(parts) + "</section>"


def _explained(groups: list[dict[str, Any]]) -> str:
    parts = [
        f'<section id="explained"><h2>Explained <small>({_plural(len(groups), "group")}, never findings)</small></h2>'
    ]
    if not groups:
        parts.append('<p class="muted">Nothing that looked odd needed explaining.</p>')
    for g in groups[:MAX_ROWS]:
        parts.append(
            f'<article class="explained"><h3><code>{_e(g.get("kind"))}</code> '
            f"<small>{_n(g.get('flows'))} flows</small></h3><p>{_e(g.get('text'))}</p>"
            + _evidence(g.get("evidence"), False)
            + "</article>"
        )
    if len(groups) > MAX_ROWS:
        parts.append(f'<p class="more">{len(groups) - MAX_ROWS:,} more groups not shown (see <code>--json</code>)</p>')
    return "".join(parts) + "</section>"


def _client_ports(service: dict[str, Any]) -> str:
    """How many ephemeral ports were folded into a service row, and their range."""
    low, high = _int(service.get("client_port_low")), _int(service.get("client_port_high"))
    where = f" <small>({low}\u2013{high})</small>" if low is not None and high is not None else ""
    return _n(service.get("client_ports")) + where


def _meter(value: int, most: int) -> str:
    """A small bar in a table cell; its width is a number we computed, never report text."""
    return f'<span class="meter" style="width:{max(value, 0) / most * 60:.1f}px"></span>'


def _talkers(talkers: list[dict[str, Any]]) -> str:
    parts = [f'<section id="talkers"><h2>Top talkers <small>({len(talkers):,})</small></h2>']
    if not talkers:
        return "".join(parts) + '<p class="muted">No talkers.</p></section>'
    most = max((_int(t.get("flows")) or 0 for t in talkers), default=0) or 1
    rows = (
        [
            f"<code>{_e(t.get('addr'))}</code>",
            _meter(_int(t.get("flows")) or 0, most) + _n(t.get("flows")),
            _bytes(t.get("bytes")),
            _n(t.get("peers")),
            _n(t.get("ports")),
            _n(t.get("as_client")),
            _n(t.get("as_server")),
            _n(t.get("denied")),
        ]
        for t in talkers
    )
    headers = ("Address", "Flows", "Bytes", "Peers", "Ports", "As client", "As server", "Denied")
    return "".join(parts) + _table(headers, rows, len(talkers), (1, 2, 3, 4, 5, 6, 7)) + "</section>"


def _thresholds(report: dict[str, Any]) -> str:
    values = _dict(report.get("thresholds"))
    if not values:
        return ""
    rows = ([f"<code>{_e(k)}</code>", _e(v)] for k, v in values.items())
    return f"<details><summary>Thresholds</summary>{_table(('Name', 'Value'), rows, len(values))}</details>"


_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#212529;background:#f1f3f5;margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 20px 40px;background:#fff}
nav{position:sticky;top:0;background:#212529;padding:6px 20px;z-index:1}
nav a{color:#f8f9fa;margin-right:16px;text-decoration:none}
h1{margin:4px 0}h2{border-bottom:2px solid #dee2e6;padding-bottom:4px;margin-top:32px}
small,.muted{color:#868e96}code{font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px}
.cards div{background:#f8f9fa;border-radius:6px;padding:8px 12px}
.cards h4{margin:0;font-size:12px;color:#868e96;text-transform:uppercase}.cards p{margin:4px 0 0;font-size:16px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:12px;font-weight:600}
.badge{background:#495057}.badge.sev-critical{background:#7d1128}.badge.sev-high{background:#c92a2a}
.badge.sev-medium{background:#e67700}.badge.sev-low{background:#1971c2}.badge.sev-info{background:#868e96}
.finding{border-left:5px solid #adb5bd;padding:4px 14px;margin:14px 0;background:#fcfcfd}
.finding.sev-critical{border-color:#7d1128}.finding.sev-high{border-color:#c92a2a}
.finding.sev-medium{border-color:#e67700}.finding.sev-low{border-color:#1971c2}
.finding h3{margin:8px 0 2px}.fid{color:#868e96;font-weight:400}.meta{margin:2px 0;color:#495057}
.metrics{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0}
.metrics div{background:#e9ecef;border-radius:4px;padding:2px 8px}
.metrics dt{display:inline;color:#495057}.metrics dd{display:inline;margin:0 0 0 5px;font-weight:600}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{padding:3px 8px;text-align:left;border-bottom:1px solid #e9ecef;vertical-align:top}
th{background:#f8f9fa;position:sticky;top:0}.num,.nw{white-space:nowrap}.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafbfc}.more{color:#868e96;font-style:italic}
.notice,.verdict{padding:8px 12px;border-radius:6px}.notice{background:#fff3bf}.verdict{font-weight:600}
.fail{background:#ffe3e3;color:#c92a2a}.pass{background:#d3f9d8;color:#2b8a3e}
.warn{color:#c92a2a;font-weight:700}.mix{color:#495057}
.meter{display:inline-block;height:8px;background:#74c0fc;margin-right:6px;border-radius:2px;vertical-align:middle}
.explained{border-left:5px solid #adb5bd;padding:2px 14px;margin:10px 0}
.plot{margin:16px 0}.plot svg{max-width:100%;height:auto;display:block}summary{cursor:pointer;color:#1971c2}
svg text{font:12px system-ui,sans-serif;fill:#343a40}svg .ptitle{font-size:15px;font-weight:600}
svg .axis{font-size:12px;fill:#495057}svg .muted{fill:#868e96;font-size:11px}svg .grid{stroke:#e9ecef}
svg .tick,svg .axisline{stroke:#868e96}svg .pt{fill-opacity:.75}
"""


def render_html(report: dict[str, Any]) -> str:
    """The whole page for one ``portscope.analyze/1`` document; missing keys show as absent, never fail."""
    summary = _dict(report.get("summary"))
    findings = _dicts(report.get("findings"))
    timeline = _timeline_svg(_dict(report.get("timeline")))
    title = f"portscope analyze: {_n(summary.get('flows'))} flows, {len(findings):,} findings"
    nav = "".join(
        f'<a href="#{anchor}">{label}</a>'
        for anchor, label in (
            ("findings", "Findings"),
            ("timeline", "Timeline"),
            ("ports", "Ports"),
            ("explained", "Explained"),
            ("talkers", "Top talkers"),
        )
    )
    body = [
        _header(report),
        _findings(findings),
        '<section id="timeline"><h2>Timeline</h2>' + (timeline or '<p class="muted">No timeline.</p>') + "</section>",
        _ports(report),
        _explained(_dicts(report.get("explained"))),
        _talkers(_dicts(report.get("talkers"))),
        _thresholds(report),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_CSS}</style></head>"
        f"<body><nav>{nav}</nav><main>{''.join(body)}</main></body></html>\n"
    )

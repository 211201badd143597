"""The plots of the ``portscope analyze --html`` report, drawn as inline SVG by our own code.

Why a module of its own, and why by hand: the page must open offline and run nothing, so there is no
JavaScript plotting library, no CDN and no external URL; each plot is a few lines of SVG text built here, with
a <title> and <desc> for screen readers. Text from the report goes through :func:`_e` or :func:`_cut`; every
coordinate, colour and class comes from our own numbers and tables. The port map stops at ``MAX_POINTS``
points and the services chart at ``TOP_SERVICES`` bars, so a huge report still draws at once.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

from portscope.findings import SEVERITIES
from portscope.render._html_text import _dict, _dicts, _duration, _e, _epoch, _int, _n, _port, _utc
from portscope.render.findings import SEVERITY_COLOUR
from portscope.render.sanitize import for_terminal

MAX_POINTS = 3000
TOP_SERVICES = 15
_MAX_SLOTS = 600  # the spec promises at most 500 timeline buckets; coarser ones are merged past this

# Severities as the plot lists them: the most severe first.
_DESCENDING = tuple(reversed(SEVERITIES))
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
_TICK_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 259200, 604800, 2592000)

# ---------------------------------------------------------------------------------------------------------------
# Building blocks


def _cut(value: object, width: int) -> str:
    """Escaped text cut to ``width`` characters before escaping, so an entity is never cut in half."""
    text = for_terminal("" if value is None else str(value))
    return html.escape(text if len(text) <= width else text[: width - 1] + "\u2026", quote=True)


def _short(value: float) -> str:
    """An axis tick: 950, 1.5k, 2M."""
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{unit}"
    return f"{value:.3g}"


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
        return {s: _int(counted.get(s)) or 0 for s in _DESCENDING}
    findings = _dicts(report.get("findings"))
    return {s: sum(1 for f in findings if f.get("severity") == s) for s in _DESCENDING}


def _value_axis(ticks: list[float], left: float, plot_w: float, top: float, bottom: float) -> list[str]:
    """Vertical grid lines and their labels for a horizontal bar chart's value axis, top to bottom."""
    body = []
    for tick in ticks:
        x = left + tick / ticks[-1] * plot_w
        body.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>')
        body.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{_short(tick)}</text>')
    return body


def _severity_svg(counts: dict[str, int]) -> str:
    width, height, left, right, top = 520, 200, 80, 50, 34
    plot_w, row = width - left - right, 26
    ticks = _nice_ticks(max(counts.values(), default=0) or 1, 4)
    body = _value_axis(ticks, left, plot_w, top, top + 5 * row)
    for i, severity in enumerate(_DESCENDING):
        y, value = top + i * row, counts[severity]
        bar_w = value / ticks[-1] * plot_w
        body.append(f'<text x="{left - 6}" y="{y + 17}" text-anchor="end">{severity}</text>')
        body.append(
            f'<rect class="bar" x="{left}" y="{y + 4}" width="{bar_w:.1f}" height="{row - 8}"'
            f' fill="{SEVERITY_COLOUR[severity]}"><title>{severity}: {value:,} findings</title></rect>'
        )
        body.append(f'<text x="{left + bar_w + 5:.1f}" y="{y + 17}">{value:,}</text>')
    body.append(_axis_label(left + plot_w / 2, height - 10, "findings"))
    body.append(_axis_label(14, top + 2.5 * row, "severity", vertical=True))
    desc = "Findings by severity: " + ", ".join(f"{s} {counts[s]:,}" for s in _DESCENDING) + "."
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
    body = _value_axis(ticks, left, plot_w, top, top + row * len(rows))
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

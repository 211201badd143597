"""``portscope analyze --html``: the report of docs/analyze-json.md as one self-contained web page.

Why it is built this way:

- One file, nothing fetched: inline CSS and plots drawn as inline SVG by :mod:`~portscope.render.analyze_plots`
  (no JavaScript, no CDN, no font), so a report can be mailed, attached to a ticket, archived and opened
  offline years later.
- Every value in the report came from logs or packets, so whoever sent them chose it. Each value passes
  through :func:`~portscope.render._html_text._e` (escape sequences dropped and control characters shown as ``\\xNN`` by
  :func:`~portscope.render.sanitize.for_terminal`, then ``html.escape(quote=True)``). No URL, CSS or
  attribute is ever built from report text: colours and classes come from our own tables, keyed by the
  value, and anchors are numbered by us. A Content-Security-Policy meta tag forbids scripts, fetches and
  forms, so a missed escape still cannot run code (OWASP XSS Prevention Cheat Sheet, defence in depth).
- Tables stop at ``MAX_ROWS`` rows with an "N more" line and the port map at ``MAX_POINTS`` points, so a
  report with 100,000 ports stays a page a browser opens at once; the JSON keeps everything.
"""

from __future__ import annotations

from typing import Any

from portscope.findings import SEVERITIES, Finding
from portscope.render._html_blocks import (
    MAX_ROWS,
    evidence_html,
    plural,
    span_html,
    table_html,
    time_html,
)
from portscope.render._html_text import _dict, _dicts, _duration, _e, _epoch, _int, _n, _port
from portscope.render.analyze_plots import (
    _AS_COLOUR,
    MAX_POINTS,
    TOP_SERVICES,
    _port_map_svg,
    _services_svg,
    _severity_counts,
    _severity_svg,
    _timeline_svg,
)
from portscope.render.findings import badge_html, findings_html, severity_css
from portscope.sources._syslog import dating_sentence

# The limits are importable from here, though the plots and blocks modules define them.
__all__ = ["MAX_POINTS", "MAX_ROWS", "TOP_SERVICES", "render_html"]


CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

# ---------------------------------------------------------------------------------------------------------------
# Values: every report value is shown through one of these, never interpolated raw.


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


def _top_counts(counts: dict[str, Any], shown: int = 8) -> str:
    """``tcp 900 \u00b7 udp 100``, the largest first; an IP protocol scan's 250 protocols become a tail count."""
    ranked = sorted(counts.items(), key=lambda kv: -(_int(kv[1]) or 0))
    text = " \u00b7 ".join(f"{_e(k)} {_n(v)}" for k, v in ranked[:shown])
    rest = ranked[shown:]
    if rest:
        text += f" \u00b7 {len(rest):,} more ({sum(_int(v) or 0 for _, v in rest):,})"
    return text


# ---------------------------------------------------------------------------------------------------------------
# HTML building blocks. Cells are already-escaped HTML.


# ---------------------------------------------------------------------------------------------------------------
# Sections


def _header(report: dict[str, Any]) -> str:
    summary = _dict(report.get("summary"))
    first, last = _epoch(summary.get("first_seen")), _epoch(summary.get("last_seen"))
    span = span_html(summary.get("first_seen"), summary.get("last_seen"))
    if first is not None and last is not None:
        span += f"<br><small>{_duration(max(last - first, 0))}</small>"
    counts = _severity_counts(report)
    found = " ".join(f"{badge_html(s)} {counts[s]:,}" for s in reversed(SEVERITIES) if counts[s])
    cards = [
        ("Flows", _n(summary.get("flows"))),
        ("Time span", span),
        ("Addresses", _n(summary.get("addresses"))),
        ("Findings", found or "none"),
        ("Engine", f"{_e(report.get('engine'))}<br><small>OS ranges: {_ranges(report)}</small>"),
    ]
    parts = ['<header><h1>portscope analyze</h1><p class="muted">']
    parts.append(f"Generated {time_html(report.get('generated'))} \u00b7 schema {_e(report.get('schema'))}</p>")
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
    dated = dating_sentence(_dict(report.get("dating")))
    if dated:
        parts.append(f'<p class="notice">Dated: {_e(dated)}</p>')
    for skipped in _dicts(report.get("inputs_skipped")):
        parts.append(
            f'<p class="notice">Skipped <code>{_e(skipped.get("input"))}</code>: {_e(skipped.get("reason"))}</p>'
        )
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
            + table_html(("File", "Format", "Flows", "Bad records", "Skipped lines"), rows, len(inputs), (2, 3, 4))
        )
    if any(counts.values()):
        parts.append(_severity_svg(counts))
    return "".join(parts) + "</header>"


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
            span_html(s.get("first_seen"), s.get("last_seen")),
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
        table_html(headers, rows, len(services), (3, 4, 5, 6, 7, 8, 9, 10))
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
        table_html(("Port", "Service", "Flows", "Range", "Ephemeral"), rows, len(odd), (2,))
        if odd
        else '<p class="muted">None: every port is a service or a client of one.</p>'
    )
    return "".join(parts) + "</section>"


def _explained(groups: list[dict[str, Any]]) -> str:
    parts = [
        f'<section id="explained"><h2>Explained <small>({plural(len(groups), "group")}, never findings)</small></h2>'
    ]
    if not groups:
        parts.append('<p class="muted">Nothing that looked odd needed explaining.</p>')
    for g in groups[:MAX_ROWS]:
        parts.append(
            f'<article class="explained"><h3><code>{_e(g.get("kind"))}</code> '
            f"<small>{_n(g.get('flows'))} flows</small></h3><p>{_e(g.get('text'))}</p>"
            + evidence_html(g.get("evidence"), False)
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
    return "".join(parts) + table_html(headers, rows, len(talkers), (1, 2, 3, 4, 5, 6, 7)) + "</section>"


def _thresholds(report: dict[str, Any]) -> str:
    values = _dict(report.get("thresholds"))
    if not values:
        return ""
    rows = ([f"<code>{_e(k)}</code>", _e(v)] for k, v in values.items())
    return f"<details><summary>Thresholds</summary>{table_html(('Name', 'Value'), rows, len(values))}</details>"


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
.badge{background:#495057}
.finding{border-left:5px solid #adb5bd;padding:4px 14px;margin:14px 0;background:#fcfcfd}
.detail{margin:4px 0}.fix{margin:4px 0 8px}
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
""" + severity_css()


def render_html(report: dict[str, Any]) -> str:
    """The whole page for one ``portscope.analyze/1`` document; missing keys show as absent, never fail."""
    summary = _dict(report.get("summary"))
    raw = report.get("findings")
    findings = [f for f in raw if isinstance(f, (dict, Finding))] if isinstance(raw, list) else []
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
        findings_html(findings),
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


def _ranges(report: dict[str, Any]) -> str:
    """The client port ranges the report judged by: --os's, and how many hosts had their own."""
    ranges = report.get("ephemeral")
    text = _e(report.get("os"))
    if isinstance(ranges, list) and len(ranges) == 2:
        text += f" ({_e(ranges[0])}-{_e(ranges[1])})"
    hosts = report.get("hosts")
    if isinstance(hosts, list) and hosts:
        text += f", {len(hosts):,} host{'s' if len(hosts) > 1 else ''} with their own (--host-os)"
    return text

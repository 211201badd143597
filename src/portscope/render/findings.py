"""Every :class:`~portscope.findings.Finding`, whoever produced it, as JSON, text and HTML: one module.

JSON is the shape documented in docs/analyze-json.md and docs/live.md (the same keys from ``live``
and ``analyze``); text and HTML render that shape, so a report read back from a file renders like
one just made. Titles, details and evidence hold attacker-chosen text (addresses, process names,
log fields): text goes through :func:`~portscope.render.sanitize.for_terminal`, HTML through
:mod:`._html_text`. The severity colours are here, once, for the terminal, the page and its plots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from portscope.findings import MITRE_TECHNIQUES, SEVERITIES, Finding, FlowEvidence
from portscope.render.sanitize import for_terminal
from portscope.render.style import Style, wrap

__all__ = [
    "MAX_FINDINGS",
    "SEVERITY_COLOUR",
    "SEVERITY_STYLE",
    "badge_html",
    "finding_json",
    "findings_html",
    "findings_json",
    "findings_text",
]

MAX_FINDINGS = 200  # cards on a page; the JSON keeps every finding

# One colour per severity: terminal styles (render.style names) and the page's and plots' colour.
SEVERITY_STYLE: dict[str, tuple[str, ...]] = {
    "critical": ("bold", "red"),
    "high": ("red",),
    "medium": ("yellow",),
    "low": ("cyan",),
    "info": ("dim",),
}
SEVERITY_COLOUR = {"critical": "#7d1128", "high": "#c92a2a", "medium": "#e67700", "low": "#1971c2", "info": "#868e96"}

# ---------------------------------------------------------------------------------------------------------------
# JSON


def _evidence_json(item: FlowEvidence | str) -> Any:
    return item._asdict() if isinstance(item, FlowEvidence) else item


def finding_json(finding: Finding, number: int) -> dict[str, Any]:
    """One finding as JSON: ``id`` is its place in this report (``F1``), ``identifier`` its stable name.

    ``kind`` repeats ``code`` (analyze's first name for it) and ``flows`` repeats ``count`` for
    findings about flows (null otherwise), so scripts written against either keep working.
    """
    s = finding.subject
    about_flows = bool(finding.evidence) and all(isinstance(e, FlowEvidence) for e in finding.evidence)
    flows = finding.count if about_flows else None
    mitre = None if finding.mitre is None else {"id": finding.mitre, "name": MITRE_TECHNIQUES[finding.mitre]}
    return {
        "id": f"F{number}",
        "identifier": finding.identifier,
        "code": finding.code,
        "kind": finding.code,
        "severity": finding.severity.label,
        "title": finding.title,
        "detail": finding.detail,
        "mitre": mitre,
        "src": s.src,
        "dst": s.dst,
        "port": s.port,
        "protocol": s.protocol,
        "namespace": s.namespace,
        "first_seen": finding.first_seen,
        "last_seen": finding.last_seen,
        "count": finding.count,
        "flows": flows,
        "metrics": dict(finding.metrics),
        "evidence": {"flows": flows, "sample": [_evidence_json(e) for e in finding.evidence]},
        "fix": finding.fix,
    }


def findings_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """A report's findings as JSON, numbered in order."""
    return [finding_json(f, number) for number, f in enumerate(findings, 1)]


# ---------------------------------------------------------------------------------------------------------------
# Text


def _dict(value: object) -> dict[str, Any]:
    """A JSON object, or an empty one where a report read back from a file has something else."""
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _evidence_line(item: object) -> str:
    if isinstance(item, Mapping):
        where = f"{item.get('file')}:{item.get('line')}"
        flow = (
            f"{item.get('src')}:{item.get('src_port')} -> {item.get('dst')}:{item.get('dst_port')} "
            f"{item.get('protocol')} {item.get('action')}"
        )
        return f"{for_terminal(where)}  {item.get('start')}  {for_terminal(flow)}"
    return for_terminal(str(item))


def _documents(findings: Iterable[object]) -> list[dict[str, Any]]:
    """Findings as JSON for the renderers, which also take a report read back from a file: objects
    pass as they are, anything else in the list is left out."""
    out = []
    for number, f in enumerate(findings, 1):
        if isinstance(f, Finding):
            out.append(finding_json(f, number))
        elif isinstance(f, Mapping):
            out.append(dict(f))
    return out


def findings_text(findings: Iterable[object], style: Style, *, shown: int = 3) -> list[str]:
    """The findings section for a terminal: a line per finding (id, severity, title, ATT&CK id), its
    detail, the first ``shown`` pieces of evidence and the fix."""
    documents = _documents(findings)
    if not documents:
        return [style("Findings: none", "bold", "green")]
    out = [style(f"Findings ({len(documents)})", "bold")]
    indent = " " * 9
    for f in documents:
        severity = str(f.get("severity"))
        mitre = _dict(f.get("mitre"))
        technique = f" [{for_terminal(str(mitre.get('id')))}]" if mitre else ""
        tag = style(severity.upper().ljust(8), *SEVERITY_STYLE.get(severity, ("bold",)))
        out.append(f"  {for_terminal(str(f.get('id'))):<4} {tag} {for_terminal(str(f.get('title')))}{technique}")
        if f.get("detail"):
            out += [indent + line for line in wrap(for_terminal(str(f["detail"])), max(40, style.width - 9))]
        evidence = _dict(f.get("evidence"))
        given = evidence.get("sample")
        sample: list[Any] = given if isinstance(given, list) else []
        for item in sample[:shown]:
            out.append(style(indent + _evidence_line(item), "dim"))
        total = _count(evidence.get("flows"))
        if total is not None and total > len(sample[:shown]):
            out.append(style(f"{indent}... {total - len(sample[:shown])} more flows (--json for {len(sample)})", "dim"))
        elif len(sample) > shown:
            out.append(style(f"{indent}... {len(sample) - shown} more (--json)", "dim"))
        if f.get("fix"):
            out += [
                indent + ("fix: " if n == 0 else "     ") + line
                for n, line in enumerate(wrap(for_terminal(str(f["fix"])), max(40, style.width - 14)))
            ]
    return out


# ---------------------------------------------------------------------------------------------------------------
# HTML


def badge_html(severity: object) -> str:
    """A coloured severity label; the class comes from our list, the text shown is the (escaped) value."""
    from portscope.render._html_text import _e

    known = severity if isinstance(severity, str) and severity in SEVERITIES else "unknown"
    return f'<span class="badge sev-{known}">{_e(severity)}</span>'


def severity_css() -> str:
    """The page's severity classes, from :data:`SEVERITY_COLOUR`."""
    return "".join(
        f".badge.sev-{s}{{background:{c}}}.finding.sev-{s}{{border-color:{c}}}" for s, c in SEVERITY_COLOUR.items()
    )


def findings_html(findings: Iterable[object]) -> str:
    """The findings section of a page: a card per finding (at most :data:`MAX_FINDINGS`)."""
    # The page's helpers come with html and datetime, which live's text and JSON never need.
    from portscope.render._html_blocks import DOT, evidence_html, metric_html, span_html
    from portscope.render._html_text import _e, _int, _port

    documents = _documents(findings)
    parts = [f'<section id="findings"><h2>Findings <small>({len(documents):,})</small></h2>']
    if not documents:
        parts.append('<p class="muted">No findings.</p>')
    for number, f in enumerate(documents[:MAX_FINDINGS], start=1):
        sev = f.get("severity")
        known = sev if isinstance(sev, str) and sev in SEVERITIES else "unknown"
        meta = [f"<code>{_e(f.get('code', f.get('kind')))}</code>"]
        mitre = _dict(f.get("mitre"))
        if mitre:
            meta.append(f"MITRE ATT&amp;CK <b>{_e(mitre.get('id'))}</b> {_e(mitre.get('name'))}")
        if f.get("src") is not None or f.get("dst") is not None:
            target = _e(f.get("dst")) + (f" port {_port(f)}" if _int(f.get("port")) is not None else "")
            meta.append(f"{_e(f.get('src'))} \u2192 {target}")
        elif _int(f.get("port")) is not None:
            meta.append(f"port {_port(f)}")
        if f.get("namespace") is not None:
            meta.append(f"namespace {_e(f.get('namespace'))}")
        meta.append(span_html(f.get("first_seen"), f.get("last_seen")))
        metrics = _dict(f.get("metrics"))
        chips = "".join(f"<div><dt>{_e(k)}</dt><dd>{metric_html(v)}</dd></div>" for k, v in metrics.items())
        detail = f'<p class="detail">{_e(f.get("detail"))}</p>' if f.get("detail") else ""
        fix = f'<p class="fix"><b>Fix:</b> <code>{_e(f.get("fix"))}</code></p>' if f.get("fix") else ""
        parts.append(
            f'<article class="finding sev-{known}" id="finding-{number}"><h3>{badge_html(sev)} <span class="fid">'
            f"{_e(f.get('id'))}</span> {_e(f.get('title'))}</h3>"
            f'<p class="meta">{DOT.join(meta)}</p>'
            + detail
            + (f'<dl class="metrics">{chips}</dl>' if chips else "")
            + evidence_html(f.get("evidence"), number <= 10)
            + fix
            + "</article>"
        )
    if len(documents) > MAX_FINDINGS:
        parts.append(
            f'<p class="more">{len(documents) - MAX_FINDINGS:,} more findings not shown (see <code>--json</code>)</p>'
        )
    return "".join(parts) + "</section>"

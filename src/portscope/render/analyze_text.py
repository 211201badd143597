"""The analyze report for people at a terminal: findings first, then what the traffic is.

Every string from the input (addresses, titles built from them, file names) passes through
``for_terminal`` (render_table does it for cells) before it is printed.
"""

from __future__ import annotations

from typing import Any

from portscope._words import count
from portscope.render.findings import findings_text
from portscope.render.sanitize import for_terminal
from portscope.render.style import Style
from portscope.render.table import render_table
from portscope.sources._syslog import dating_sentence

__all__ = ["render_text"]


def render_text(report: dict[str, Any], style: Style, *, top: int = 20) -> str:
    out: list[str] = []
    summary = report["summary"]
    inputs = ", ".join(f"{i['path']} ({i['format']}, {count(i['flows'], 'flow')})" for i in report["inputs"])
    out.append(style(f"portscope analyze: {count(summary['flows'], 'flow')}", "bold") + f" from {for_terminal(inputs)}")
    for skipped in report.get("inputs_skipped") or ():
        out.append(f"  skipped {for_terminal(skipped['input'])}: {for_terminal(skipped['reason'])}")
    dated = dating_sentence(report.get("dating"))
    if dated:
        out.append(f"  dated: {dated}")
    if summary.get("empty_reason"):
        out.append(f"  nothing to report: {for_terminal(summary['empty_reason'])}")
        return "\n".join(out) + "\n"
    out.append(f"  {summary['first_seen']} .. {summary['last_seen']}, {summary['addresses']} addresses")
    orientation = summary["orientation"]
    out.append(
        "  client side: "
        + ", ".join(f"{orientation.get(k, 0)} {k}" for k in ("observed", "inferred", "unknown"))
        + "   actions: "
        + ", ".join(f"{v} {k}" for k, v in summary["actions"].items())
    )
    low, high = report.get("ephemeral") or ("?", "?")
    hosts = len(report.get("hosts") or ())
    own = f"; {hosts} host{'s' if hosts != 1 else ''} with their own (--host-os)" if hosts else ""
    out.append(f"  client port range: {for_terminal(str(report.get('os')))} {low}-{high}{own}")
    out += ["", *findings_text(report["findings"], style)]
    out += ["", *_services(report["services"], style, top)]
    out += ["", *_explained(report["explained"], style)]
    out += ["", *_ports(report["ports"], style)]
    out += ["", *_talkers(report["talkers"], style, top)]
    return "\n".join(out) + "\n"


def _services(services: list[dict[str, Any]], style: Style, top: int) -> list[str]:
    out = [style(f"Services: the ephemeral noise collapsed ({len(services)} rows, top {top})", "bold")]
    rows = [
        (
            f"{s['port']}/{s['protocol']}",
            s["service"] or "",
            s["direction"],
            s["flows"],
            s["clients"],
            s["servers"],
            s["client_ports"],
            f"{s['client_port_low']}-{s['client_port_high']}" if s["client_ports"] else "",
            s["denied"],
        )
        for s in services[:top]
    ]
    headers = ("port", "service", "direction", "flows", "clients", "servers", "client ports", "range", "denied")
    return out + ["  " + line for line in render_table(headers, rows, style, right=(3, 4, 5, 6, 8), shrinkable=(1,))]


def _explained(groups: list[dict[str, Any]], style: Style) -> list[str]:
    if not groups:
        return [style("Explained: nothing odd-looking and harmless", "bold")]
    out = [style("Explained (harmless, not findings)", "bold")]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for g in groups:
        by_kind.setdefault(g["kind"], []).append(g)
    for kind, rows in by_kind.items():
        flows = sum(r["flows"] for r in rows)
        ports = ", ".join(f"{r['port']}/{r['protocol']}" for r in rows[:6])
        out.append(f"  {kind}: {count(flows, 'flow')} from {ports}{' ...' if len(rows) > 6 else ''}")
        out.append(style(f"    {rows[0]['text']}", "dim"))
    return out


def _ports(ports: list[dict[str, Any]], style: Style) -> list[str]:
    counts: dict[str, int] = {}
    for p in ports:
        counts[p["as"]] = counts.get(p["as"], 0) + 1
    out = [
        style(f"Ports explained ({len(ports)} distinct)", "bold")
        + ": "
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("service", "client", "both", "unexplained"))
    ]
    odd = [p for p in ports if p["as"] == "unexplained"]
    if odd:
        shown = ", ".join(f"{p['port']}/{p['protocol']} ({p['flows']})" for p in odd[:15])
        out.append(f"  unexplained: {shown}{' ...' if len(odd) > 15 else ''}")
    return out


def _talkers(talkers: list[dict[str, Any]], style: Style, top: int) -> list[str]:
    rows = [
        (t["addr"], t["flows"], t["bytes"], t["peers"], t["ports"], t["as_client"], t["as_server"], t["denied"])
        for t in talkers[:top]
    ]
    headers = ("address", "flows", "bytes", "peers", "ports", "as client", "as server", "denied")
    return [style("Top talkers", "bold")] + [
        "  " + line for line in render_table(headers, rows, style, right=(1, 2, 3, 4, 5, 6, 7), shrinkable=(0,))
    ]

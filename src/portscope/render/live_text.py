"""``portscope`` and ``portscope live`` for people: the one-screen summary and the full socket table."""

from __future__ import annotations

import time

from portscope._words import count
from portscope.findings import Finding
from portscope.host.owners import OWNER_NOTES, OWNER_NOTES_SHORT
from portscope.host.roles import REASONS
from portscope.host.sockets import Snapshot
from portscope.host.summary import ConnectionGroup, Summary
from portscope.host.table import SocketTable
from portscope.records import EphemeralHealth
from portscope.render.findings import findings_text
from portscope.render.sanitize import for_terminal
from portscope.render.style import Style
from portscope.render.table import render_table

__all__ = ["render_socket_table", "render_summary"]


def _who(process: str | None, pids: tuple[int, ...], note: str | None = None) -> str:
    name = process or "?"
    if not pids:
        return f"{name} ({OWNER_NOTES_SHORT.get(note or 'unknown', 'owner unknown')})" if process is None else name
    shown = ",".join(str(p) for p in pids[:3]) + ("…" if len(pids) > 3 else "")
    return f"{name} [{shown}]"


def _service(group: ConnectionGroup) -> str:
    return f"{group.port}/{group.protocol}" + (f" {group.service}" if group.service else "")


def _health_lines(health: list[EphemeralHealth], style: Style) -> list[str]:
    lines = []
    for h in health:
        use = ", ".join(f"{proto} {count}" for proto, count in h.in_use) or "none"
        lines.append(
            f"  {h.namespace}: range {h.low}-{h.high} ({h.size} usable ports, from {h.source}); "
            f"in use: {use}; TIME_WAIT {h.time_wait}"
        )
        if h.worst is not None:
            w = h.worst
            lines.append(
                f"    busiest destination {w.remote_address}:{w.remote_port}/{w.protocol}: {count(w.ports, 'port')} "
                f"({w.fraction:.1%} of the pool), {w.time_wait} in TIME_WAIT"
            )
    return lines


def render_summary(
    snap: Snapshot,
    summary: Summary,
    health: list[EphemeralHealth],
    findings: list[Finding],
    style: Style,
    *,
    limit: int = 15,
) -> str:
    """The one-screen view: listeners, outbound and inbound grouped, ephemeral health, findings, notes."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snap.taken_at))
    totals = ", ".join(f"{role} {count}" for role, count in summary.totals)
    out = [style(f"portscope - {count(len(snap), 'socket')} at {when} ({snap.backend})", "bold") + f": {totals}", ""]

    out.append(style(f"Listening ({sum(len(g.endpoints) for g in summary.listeners)})", "bold"))
    listener_rows = [
        (
            _who(g.process, g.pids, g.owner_note),
            g.user or "",
            "; ".join(g.endpoints),
            g.namespace if g.namespace != "host" else "",
        )
        for g in summary.listeners[: limit * 2]
    ]
    out += [
        "  " + line
        for line in render_table(("PROCESS", "USER", "LISTENS ON", "NAMESPACE"), listener_rows, style, shrinkable=(2,))
    ]
    if len(summary.listeners) > limit * 2:
        out.append(f"  ... {len(summary.listeners) - limit * 2} more processes (portscope live --listen)")

    for title, groups, arrow in (("Outbound", summary.outbound, "->"), ("Inbound", summary.inbound, "<-")):
        out.append("")
        out.append(style(f"{title} ({count(sum(g.connections for g in groups), 'connection')})", "bold"))
        peer_word = "server" if arrow == "->" else "client"
        rows: list[tuple[str, ...]] = [
            (
                _who(g.process, g.pids),
                arrow,
                _service(g),
                f"x {g.connections}",
                count(g.peers, peer_word),
                ", ".join(f"{s} {n}" for s, n in g.states[:3]),
            )
            for g in groups[:limit]
        ]
        if rows:
            out += [
                "  " + line
                for line in render_table(
                    ("PROCESS", "", "SERVICE", "COUNT", "PEERS", "STATES"), rows, style, right=(3,)
                )
            ]
        else:
            out.append("  none")
        if len(groups) > limit:
            out.append(f"  ... {len(groups) - limit} more groups (portscope live --role {title.lower()})")

    if summary.clients:
        clients = ", ".join(f"{for_terminal(name)} {n}" for name, n in summary.clients[:8])
        out += [
            "",
            style("UDP client sockets", "bold")
            + f" (bound to ephemeral ports; inferred clients, not listeners): {clients}",
        ]
    if summary.other:
        out += ["", "Other: " + ", ".join(f"{role} {n}" for role, n in summary.other)]

    out += ["", style("Ephemeral ports", "bold")]
    out += _health_lines(health, style)
    out += ["", *findings_text(findings, style)]
    if snap.notes:
        out += ["", style("Notes", "bold")]
        out += [f"  {for_terminal(n)}" for n in snap.notes]
    return "\n".join(out)


def _endpoint(address: str | None, port: int | None) -> str:
    if address is None or port is None:
        return "*"
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def render_socket_table(table: SocketTable, style: Style, *, wide: bool = False) -> str:
    """The full table, one socket a line, as ``ss -tuanp`` but with roles."""
    headers = ["PROTO", "STATE", "LOCAL", "REMOTE", "ROLE", "PROCESS", "USER"]
    if wide:
        headers += ["NAMESPACE", "WHY"]
    rows = []
    for i in range(len(table)):
        role = table.role[i] + ("?" if table.role_basis[i] == "inferred" else "")
        if table.exposure[i]:
            role += f" ({table.exposure[i]}{'+v4' if table.dual_stack[i] else ''})"
        pid = table.pid[i]
        who = f"{table.process[i] or '?'}[{pid}]" if pid is not None else "-"
        row = [
            f"{table.protocol[i]}{table.family[i]}",
            table.state[i],
            _endpoint(table.local_address[i], table.local_port[i]),
            _endpoint(table.remote_address[i], table.remote_port[i]),
            role,
            who,
            table.user[i] or "",
        ]
        if wide:
            why = REASONS.get(table.role_reason[i], table.role_reason[i])
            note = table.owner_note[i]
            row += [table.namespace[i], why if note is None else f"{why}; {OWNER_NOTES.get(note, note)}"]
        rows.append(row)
    # Never the endpoints: an address without its port answers nothing. Process, role and user give way.
    lines = render_table(headers, rows, style, shrinkable=(5, 4, 6, 8, 7) if wide else (5, 4, 6), narrowest=4)
    lines.append(
        f"{count(len(table), 'socket')}; '?' marks a role inferred from port numbers, not from the kernel's state"
    )
    return "\n".join(lines)

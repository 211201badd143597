"""HTML pieces the analyze page and the findings' cards share: tables, times, endpoints, evidence.

Cells and values are already-escaped HTML: every report value goes through :mod:`._html_text` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from portscope.render._html_text import _dict, _dicts, _e, _epoch, _int, _n, _utc

MAX_ROWS = 300
MAX_EVIDENCE = 20
DOT = " \u00b7 "


def metric_html(value: object) -> str:
    """A finding's metric: counts with separators, rates and seconds with three significant digits."""
    return _n(value) if isinstance(value, int) and not isinstance(value, bool) else _e(value)


def time_html(value: object) -> str:
    """A report time as ``2026-11-23 04:36:54 UTC``; an unparseable one shown as it came, escaped."""
    seconds = _epoch(value)
    return _e(value) if seconds is None else _utc(seconds) + " UTC"


def span_html(first: object, last: object) -> str:
    """``2026-11-23 04:00:00 \u2013 05:29:59 UTC``: the second date only when the day changes."""
    start, end = _epoch(first), _epoch(last)
    if start is None or end is None:
        return f"{time_html(first)} \u2013 {time_html(last)}"
    same_day = _utc(start, "%Y-%m-%d") == _utc(end, "%Y-%m-%d")
    return f"{_utc(start)} \u2013 {_utc(end, '%H:%M:%S' if same_day else '%Y-%m-%d %H:%M:%S')} UTC"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def endpoint_html(addr: object, port: object) -> str:
    """``10.0.0.1:443``, ``[2001:db8::1]:443``, or the address alone."""
    text = _e(addr)
    if _int(port) is None:
        return text
    return f"[{text}]:{_int(port)}" if isinstance(addr, str) and ":" in addr else f"{text}:{_int(port)}"


def table_html(
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


def evidence_html(evidence: object, is_open: bool) -> str:
    """The sample flows behind a finding or an explained group, with the file and line they came from."""
    ev = _dict(evidence)
    said = [s for s in ev.get("sample") or () if isinstance(s, str)] if isinstance(ev.get("sample"), list) else []
    if said:  # sockets or events said in words, not flows
        items = "".join(f"<li><code>{_e(s)}</code></li>" for s in said[:MAX_EVIDENCE])
        return f"<details{' open' if is_open else ''}><summary>Evidence</summary><ul>{items}</ul></details>"
    sample = _dicts(ev.get("sample"))
    flows = _int(ev.get("flows"))
    if not sample:
        return f'<p class="muted">Evidence: {_n(flows)} flows, no sample.</p>' if flows is not None else ""
    rows = []
    for s in sample[:MAX_EVIDENCE]:
        where = _e(s.get("file")) + (f":{_e(_int(s.get('line')))}" if _int(s.get("line")) is not None else "")
        rows.append(
            [
                time_html(s.get("start")),
                endpoint_html(s.get("src"), s.get("src_port")),
                endpoint_html(s.get("dst"), s.get("dst_port")),
                _e(s.get("protocol")),
                _e(s.get("action")),
                _e(s.get("tcp_flags")),
                f"<code>{where}</code>",
            ]
        )
    shown = min(len(sample), MAX_EVIDENCE)
    summary = f"Evidence: {shown:,} of {_n(flows if flows is not None else len(sample))} flows"
    table = table_html(
        ("Start", "Source", "Destination", "Proto", "Action", "Flags", "File:line"), rows, shown, nowrap=(0,)
    )
    return f"<details{' open' if is_open else ''}><summary>{summary}</summary>{table}</details>"

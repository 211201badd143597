"""``analyze --html``: one self-contained, script-free page whose every report value is escaped.

The reports are built here as docs/analyze-json.md describes them, with hostile strings in every field
an attacker can reach (addresses, rule and file names, titles, kinds, classes).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from portscope.render.analyze_html import MAX_POINTS, MAX_ROWS, SEVERITIES, TOP_SERVICES, render_html
from tests.conftest import run_portscope

HOSTILE = (
    '<script>alert(1)</script>"onmouseover="alert(2)\' javascript:alert(3) '
    "\x1b]0;pwned\x07\x1b[2J<img src=x onerror=alert(4)> http://evil.example/x.js \u202e"
)
_VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source", "track", "embed"}


def _sample(n: int, src: str = "203.0.113.9", file: str = "fw.log") -> dict[str, Any]:
    return {
        "start": f"2026-11-23T04:{n % 60:02d}:00.123456Z",
        "src": src,
        "src_port": 40000 + n,
        "dst": "192.0.2.10",
        "dst_port": 20 + n,
        "protocol": "tcp",
        "action": "deny",
        "tcp_flags": "S",
        "file": file,
        "line": 100 + n,
    }


def _finding(number: int, kind: str, severity: str, title: str, **extra: Any) -> dict[str, Any]:
    finding: dict[str, Any] = {
        "id": f"F{number}",
        "kind": kind,
        "severity": severity,
        "title": title,
        "mitre": None,
        "src": "203.0.113.9",
        "dst": "192.0.2.10",
        "port": None,
        "protocol": None,
        "first_seen": "2026-11-23T04:00:00Z",
        "last_seen": "2026-11-23T05:30:00Z",
        "metrics": {"flows": 120},
        "evidence": {"flows": 120, "sample": [_sample(i) for i in range(3)]},
    }
    finding.update(extra)
    return finding


def _report(ports: int = 40, services: int = 6, bad: str | None = None) -> dict[str, Any]:
    """A representative report; ``bad`` is put into every string field an attacker reaches."""

    def text(value: str) -> str:
        return value if bad is None else bad

    timeline_rows = []
    for minute in range(0, 90, 5):
        t = f"2026-11-23T04:{minute:02d}:00Z" if minute < 60 else f"2026-11-23T05:{minute - 60:02d}:00Z"
        timeline_rows.append({"t": t, "class": "service", "flows": 10 + minute})
        if minute % 15 == 0:
            timeline_rows.append({"t": t, "class": "scan", "flows": 40})
        if minute == 30:
            timeline_rows.append({"t": t, "class": text("late_reply"), "flows": 5})
    roles = ("service", "client", "client", "both", "unexplained")
    return {
        "schema": "portscope.analyze/1",
        "generated": "2026-12-03T08:00:00Z",
        "engine": "duckdb",
        "os": "linux",
        "ephemeral": [32768, 60999],
        "hosts": [{"addr": "10.0.0.5", "ephemeral": [49152, 65535]}],
        "inputs": [
            {"path": text("fw.log"), "format": "iptables", "flows": 900, "bad_records": 3, "skipped_lines": 2},
            {"path": "conn.log", "format": text("zeek"), "flows": 100, "bad_records": 0, "skipped_lines": 0},
        ],
        "summary": {
            "flows": 1000,
            "first_seen": "2026-11-23T04:00:00.5Z",
            "last_seen": "2026-11-23T05:29:59Z",
            "addresses": 42,
            "protocols": {"tcp": 900, "udp": 100},
            "actions": {"allow": 800, "deny": 200},
            "orientation": {"observed": 600, "inferred": 350, "unknown": 50},
            "findings": {"critical": 1, "high": 1, "medium": 1, "low": 0, "info": 1},
            "empty_reason": None,
        },
        "services": [
            {
                "port": [443, 22, 53, 80, 3389, 8080][i % 6] + i // 6,
                "protocol": "udp" if i % 6 == 2 else "tcp",
                "service": text(["https", "ssh", "domain", "http", "ms-wbt-server", "http-alt"][i % 6]),
                "direction": "inbound",
                "flows": 500 // (i + 1),
                "packets": None,
                "bytes": 123456 * (i + 1),
                "clients": 5,
                "servers": 1,
                "client_ports": 300,
                "client_port_low": 32768,
                "client_port_high": 60999,
                "allowed": 400 // (i + 1),
                "denied": 100 // (i + 1),
                "first_seen": "2026-11-23T04:00:00Z",
                "last_seen": "2026-11-23T05:00:00Z",
            }
            for i in range(services)
        ],
        "ports": [
            {
                "port": (i * 7919) % 65536,
                "protocol": "tcp",
                "as": roles[i % 5],
                "service": text("svc") if i % 5 == 0 else None,
                "flows": 1 + (i * 37) % 5000,
                "serves": ["443/tcp"] if roles[i % 5] == "client" else [],
                "range": "dynamic" if (i * 7919) % 65536 >= 49152 else "user",
                "ephemeral": (i * 7919) % 65536 >= 32768,
            }
            for i in range(ports)
        ],
        "explained": [
            {
                "kind": "late_reply",
                "flows": 57,
                "text": text("57 blocked ACKs from 443/tcp to ephemeral ports: conntrack had forgotten them."),
                "evidence": {"flows": 57, "sample": [_sample(1, src=text("192.0.2.10"))]},
            }
        ],
        "talkers": [
            {
                "addr": text("203.0.113.9"),
                "flows": 300,
                "bytes": 99999,
                "peers": 40,
                "ports": 1000,
                "as_client": 300,
                "as_server": 0,
                "denied": 280,
            },
            {
                "addr": "2001:db8::1",
                "flows": 50,
                "bytes": None,
                "peers": 2,
                "ports": 1,
                "as_client": 0,
                "as_server": 50,
                "denied": 0,
            },
        ],
        "timeline": {
            "bucket_seconds": 300,
            "classes": ["service", "late_reply", "scan", "unexplained"],
            "rows": timeline_rows,
        },
        "findings": [
            _finding(
                1,
                "vertical_scan",
                "critical",
                text("203.0.113.9 scanned 1,024 ports on 192.0.2.10"),
                mitre={"id": "T1046", "name": text("Network Service Discovery")},
                metrics={"ports": 1024, "hosts": 1, "flows": 2048, "rate_per_s": 34.13},
                evidence={"flows": 2048, "sample": [_sample(i, file=text("fw.log")) for i in range(20)]},
            ),
            _finding(
                2,
                "brute_force",
                "high",
                "SSH brute force from 203.0.113.9",
                port=22,
                protocol="tcp",
                mitre={"id": "T1110", "name": "Brute Force"},
                evidence={"flows": 3, "sample": [_sample(i, src="2001:db8::66") for i in range(3)]},
            ),
            _finding(
                3,
                "beaconing",
                text("medium"),
                "Beaconing every 60 s to 198.51.100.7:8443",
                src=text("10.0.0.5"),
                metrics={"interval_s": 60.0, "jitter": 0.021, "flows": 90},
            ),
            _finding(4, text("new_port"), "info", "New port 4444/tcp", src=None, dst=None, port=4444, protocol="tcp"),
        ],
        "thresholds": {"vertical_scan.ports": 100, text("beaconing.jitter"): 0.1},
        "fail_on": "high",
        "failed": True,
    }


class _Page(HTMLParser):
    """Every element with its attributes and the plot it sits in; fails on an unbalanced tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.elements: list[tuple[str, dict[str, str], str | None]] = []
        self.svg_children: dict[str, list[str]] = {}
        self.errors: list[str] = []
        self.text: list[str] = []

    def _svg(self) -> str | None:
        return self.current_svg if "svg" in self.stack else None

    current_svg: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "svg":
            self.current_svg = values.get("id", "?")
            self.svg_children[self.current_svg] = []
        elif self._svg() is not None and self.stack[-1] == "svg":
            self.svg_children[self.current_svg or "?"].append(tag)
        self.elements.append((tag, values, self._svg() if tag != "svg" else self.current_svg))
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._svg() is not None and self.stack[-1] == "svg":
            self.svg_children[self.current_svg or "?"].append(tag)
        self.elements.append((tag, {k: v or "" for k, v in attrs}, self._svg()))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, svg: str, tag: str, cls: str) -> int:
        return sum(1 for t, a, s in self.elements if s == svg and t == tag and cls in a.get("class", "").split())


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def test_a_representative_report_shows_every_section() -> None:
    """Findings come first, then the timeline, ports, explained groups and talkers, each with its data."""
    page = render_html(_report())
    order = [page.index(f'id="{s}"') for s in ("findings", "timeline", "ports", "explained", "talkers")]
    assert order == sorted(order)
    assert page.index("Findings by severity") < page.index('id="findings"')
    for text in (
        "203.0.113.9 scanned 1,024 ports on 192.0.2.10",
        "SSH brute force",
        "T1046",
        "Network Service Discovery",
        "<dd>2,048</dd>",  # metrics: counts with separators
        "<dd>0.021</dd>",
        "fw.log:119",  # evidence: file and line
        "Evidence: 20 of 2,048 flows",
        "[2001:db8::66]:40001",  # IPv6 endpoints bracketed
        "<code>2001:db8::1</code>",
        "conntrack had forgotten them",
        "late_reply",
        "2026-11-23 04:00:00 \u2013 05:29:59 UTC",
        "1 h 29 min",
        '<span class="warn">3</span>',  # bad records stand out
        "Fails <code>--fail-on high</code>",
        "https",
        "32768\u201360999",
        "OS ranges: linux (32768-60999), 1 host with their own (--host-os)",
    ):
        assert text in page, text
    for severity in ("critical", "high", "medium", "info"):
        assert f'<span class="badge sev-{severity}">{severity}</span>' in page


def test_every_value_an_attacker_controls_is_escaped() -> None:
    """No tag, attribute, URL or terminal escape from the data survives; it shows as text."""
    page = render_html(_report(bad=HOSTILE))
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "\x1b" not in page
    assert "\u202e" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;onmouseover=&quot;alert(2)&#x27;" in page
    parsed = _parse(page)
    assert {t for t, _, _ in parsed.elements} <= {
        "html", "head", "meta", "title", "style", "body", "nav", "a", "main", "header", "h1", "h2", "h3", "h4",
        "p", "small", "b", "br", "code", "div", "span", "section", "article", "dl", "dt", "dd", "details",
        "summary", "table", "thead", "tbody", "tr", "th", "td", "figure", "svg", "desc", "text", "rect",
        "line", "circle", "g",
    }  # fmt: skip
    for tag, attrs, _ in parsed.elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert "javascript" not in value.lower(), (tag, name, value)
            assert "alert" not in value, (tag, name, value)
    assert HOSTILE.replace("\x1b]0;pwned\x07\x1b[2J", "").replace("\u202e", "\\x202e") in "".join(parsed.text)


def test_the_page_is_self_contained_and_forbids_scripts() -> None:
    """Nothing is fetched (no src, no external href), and a CSP stops scripts even if an escape were missed."""
    page = render_html(_report(bad="http://evil.example/x.js"))
    parsed = _parse(page)
    for tag, attrs, _ in parsed.elements:
        assert "src" not in attrs, tag
        if "href" in attrs:
            assert attrs["href"].startswith("#"), attrs["href"]
        for value in attrs.values():
            assert not re.search(r"(https?:|^//|url\()", value), (tag, value)
    assert re.findall(r"https?:|//\w", page) == ["http:", "//e"] * page.count("http://evil.example/x.js")
    csp = [
        a["content"] for t, a, _ in parsed.elements if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]
    assert "style-src 'unsafe-inline'" in csp[0] and "img-src data:" in csp[0]


def test_every_plot_is_accessible_and_draws_one_mark_per_datum() -> None:
    """Each SVG starts with <title> and <desc>; bars and points match the report's rows."""
    report = _report(ports=40, services=20)
    parsed = _parse(render_html(report))
    assert set(parsed.svg_children) == {"plot-severity", "plot-timeline", "plot-services", "plot-portmap"}
    for svg, children in parsed.svg_children.items():
        assert children[:2] == ["title", "desc"], svg
        assert parsed.count(svg, "g", "legend") == 1 or svg == "plot-severity"
        assert parsed.count(svg, "text", "axis") >= 2, svg  # both axes labelled
    assert parsed.count("plot-severity", "rect", "bar") == len(SEVERITIES)
    assert parsed.count("plot-timeline", "rect", "bar") == len(report["timeline"]["rows"])
    assert parsed.count("plot-services", "g", "bar") == TOP_SERVICES
    assert parsed.count("plot-portmap", "circle", "pt") == 40
    assert parsed.count("plot-portmap", "rect", "band") == 3
    text = "".join(parsed.text)
    assert "time (UTC), 2026-11-23 04:00 to 2026-11-23 05:30; one bar per 5 min" in text
    assert re.search(r"04:15.*04:30.*04:45.*05:00.*05:15", text, re.DOTALL)  # readable UTC tick labels
    assert "flows (log scale)" in text and "dynamic 49152\u201365535" in text


def test_an_empty_report_says_why() -> None:
    """A report with no flows shows its empty_reason and no plots; a bare {} still renders."""
    report = {
        "schema": "portscope.analyze/1",
        "summary": {"flows": 0, "first_seen": None, "last_seen": None, "empty_reason": "every record was bad"},
        "inputs": [{"path": "junk.log", "format": "iptables", "flows": 0, "bad_records": 12, "skipped_lines": 0}],
        "findings": [],
        "timeline": {"bucket_seconds": 60, "classes": [], "rows": []},
        "failed": False,
        "fail_on": "high",
    }
    page = render_html(report)
    parsed = _parse(page)
    assert "Empty report: every record was bad" in page
    assert "No findings." in page and "No timeline." in page
    assert "Passes <code>--fail-on high</code>" in page
    assert parsed.svg_children == {}
    bare = _parse(render_html({}))
    assert bare.svg_children == {}


def test_malformed_values_are_shown_not_trusted() -> None:
    """Wrong types, unknown severities and bad or forged times (year 1 and 8999) render as text, never fail."""
    report = _report()
    report["summary"]["flows"] = "many"
    report["findings"][0]["severity"] = "apocalyptic"
    report["findings"][0]["first_seen"] = "yesterday<b>"
    report["ports"].append({"port": "x", "flows": "y", "as": "<b>"})
    report["timeline"]["rows"].append({"t": "never", "class": "scan", "flows": 3})
    report["timeline"]["rows"].append({"t": "1970-01-01T00:00:00Z", "class": "scan", "flows": 3})
    report["timeline"]["rows"].append({"t": "8999-12-31T23:59:59-23:59", "class": "scan", "flows": 3})
    report["findings"][1]["last_seen"] = "0001-01-01T00:00:00+23:59"
    page = render_html(report)
    parsed = _parse(page)
    assert '<span class="badge sev-unknown">apocalyptic</span>' in page
    assert "0001-01-01T00:00:00+23:59" in page
    assert 0 < parsed.count("plot-timeline", "rect", "bar") <= 500
    assert len(page) < 200_000  # seven thousand years on the axis, still a handful of ticks
    assert "yesterday&lt;b&gt;" in page


def test_a_timeline_longer_than_the_spec_allows_is_merged_into_fewer_bars() -> None:
    """2,000 one-minute buckets (the spec promises at most 500) become at most 500 bars, all flows kept."""
    rows = [
        {"t": f"2026-11-{23 + m // 1440:02d}T{m // 60 % 24:02d}:{m % 60:02d}:00Z", "class": "service", "flows": 1}
        for m in range(2000)
    ]
    report = {"timeline": {"bucket_seconds": 60, "classes": ["service"], "rows": rows}}
    parsed = _parse(render_html(report))
    bars = parsed.count("plot-timeline", "rect", "bar")
    assert 0 < bars <= 500
    assert "service (2,000)" in "".join(parsed.text)
    assert "one bar per 4 min" in "".join(parsed.text)


def test_a_big_report_is_capped() -> None:
    """5,000 ports and 1,000 services: tables stop at MAX_ROWS, the port map at MAX_POINTS, fast and small."""
    report = _report(ports=5000, services=1000)
    report["summary"]["protocols"] = {"tcp": 900, **{str(n): 2 for n in range(250)}}  # an IP protocol scan
    started = time.perf_counter()
    page = render_html(report)
    elapsed = time.perf_counter() - started
    parsed = _parse(page)
    assert parsed.count("plot-portmap", "circle", "pt") == min(5000, MAX_POINTS)
    assert f"{min(5000, MAX_POINTS):,} of 5,000 ports drawn" in page
    unexplained = sum(1 for p in report["ports"] if p["as"] == "unexplained")
    assert f"{1000 - MAX_ROWS:,} more not shown" in page
    assert f"{unexplained - MAX_ROWS:,} more not shown" in page
    assert sum(1 for t, _, _ in parsed.elements if t == "tr") < 3 * (MAX_ROWS + 1) + 40
    assert "<b>protocols</b> tcp 900 \u00b7 0 2 \u00b7" in page and "\u00b7 243 more (486)" in page
    assert len(page) < 2_000_000
    assert elapsed < 2.0


@pytest.mark.slow
def test_the_command_writes_a_page_for_real_scans(tmp_path: Path, shared_data: Path) -> None:
    """``analyze --html`` on psad's captured SYN and IP protocol scans: the findings and plots are in the page."""
    scans = shared_data / "psad" / "scans"
    out = tmp_path / "report.html"
    done = run_portscope(
        "analyze", str(scans / "syn_scan_1000_1500"), str(scans / "proto_scan"), "--format", "iptables",
        "--html", str(out), timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    parsed = _parse(out.read_text(encoding="utf-8"))
    text = "".join(parsed.text)
    assert "vertical_scan" in text and "protocol_scan" in text
    assert {"plot-severity", "plot-timeline", "plot-services", "plot-portmap"} <= set(parsed.svg_children)
    assert parsed.count("plot-portmap", "circle", "pt") > 400  # ports 1000-1500 of the SYN scan


# --- a real browser -------------------------------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")


def _run_browser(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    argv += [f"--user-data-dir={profile}", "--no-first-run", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _png_colours(data: bytes) -> tuple[int, int, int]:
    """Width, height and number of distinct colours of an 8-bit RGB(A) PNG, decoded with zlib alone (RFC 2083)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, []
    width = height = channels = 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + length
    raw, stride = zlib.decompress(b"".join(idat)), width * channels
    previous, colours = bytearray(stride), set()
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the filter (PNG spec section 9.2)
            a = row[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + a) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + b) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + ((a + b) >> 1)) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        colours.update(bytes(row[x : x + 3]) for x in range(0, stride, channels * 4))  # every 4th pixel
        previous = row
    return width, height, len(colours)


@pytest.mark.slow
def test_chromium_renders_the_plots_and_findings(tmp_path: Path) -> None:
    """Headless Chromium loads the page under its CSP: the DOM has plots and findings; the screenshot is not blank."""
    browser = _chromium()
    page = tmp_path / "report.html"
    page.write_text(render_html(_report(bad=None)), encoding="utf-8")
    dumped = _run_browser(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert dom.count("<svg") == 4
    for plot in ("plot-severity", "plot-timeline", "plot-services", "plot-portmap"):
        assert f'id="{plot}"' in dom
    assert dom.count('class="pt"') == 40
    assert "203.0.113.9 scanned 1,024 ports on 192.0.2.10" in dom and "Beaconing every 60 s" in dom
    shot = tmp_path / "shot.png"
    done = _run_browser(browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    width, height, colours = _png_colours(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    assert colours > 50, f"only {colours} distinct colours: the page looks blank"


def test_a_hostile_report_runs_no_script_in_chromium(tmp_path: Path) -> None:
    """Even in a real browser the hostile strings stay text: no <script> or <img> element appears in the DOM."""
    browser = _chromium()
    page = tmp_path / "hostile.html"
    page.write_text(render_html(_report(bad=HOSTILE)), encoding="utf-8")
    dumped = _run_browser(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert "<script" not in dumped.stdout and "<img" not in dumped.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dumped.stdout

"""The one Finding: ordered severities, the stable identifier's recipe, and one JSON shape for every producer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from portscope.errors import UsageError
from portscope.findings import SEVERITIES, Finding, FlowEvidence, Severity, Subject, finding_identifier
from portscope.render.findings import finding_json, findings_html, findings_text
from portscope.render.style import Style


def test_severities_are_ordered_and_spelt_lower_case() -> None:
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert SEVERITIES == ("info", "low", "medium", "high", "critical")
    assert Severity.parse(" High ") is Severity.HIGH and str(Severity.MEDIUM) == "medium"
    with pytest.raises(UsageError, match="valid ones are: info, low, medium, high, critical"):
        Severity.parse("urgent")


def test_identifier_is_the_documented_hash() -> None:
    """sha256 of code|protocol|src|dst|port|namespace, 16 hex digits (docs and findings.py say so)."""
    subject = Subject("203.0.113.7", "10.0.0.5", 22, "tcp")
    expected = hashlib.sha256(b"brute_force|tcp|203.0.113.7|10.0.0.5|22|").hexdigest()[:16]
    assert finding_identifier("brute_force", subject) == expected
    finding = Finding(Severity.HIGH, "brute_force", "one title", subject=subject)
    assert finding.identifier == expected


def test_identifier_ignores_what_changes_as_a_finding_grows() -> None:
    """Title, detail, times, counts, evidence and severity never change the identifier."""
    subject = Subject("203.0.113.7", "10.0.0.5", None, "tcp")
    one = Finding(Severity.MEDIUM, "vertical_scan", "12 ports", subject=subject, count=12, first_seen="a")
    two = Finding(Severity.HIGH, "vertical_scan", "1500 ports", "more", subject, "b", "c", 1500, ("x",))
    assert one.identifier == two.identifier
    assert one.identifier != Finding(Severity.MEDIUM, "horizontal_scan", "t", subject=subject).identifier
    assert (
        one.identifier
        != Finding(Severity.MEDIUM, "vertical_scan", "t", subject=subject._replace(dst="10.0.0.6")).identifier
    )


def test_ephemeral_ports_are_bucketed_and_namespaces_kept_apart() -> None:
    """A probe of 61000 and one of 61003 are one finding; the same finding in two namespaces is two."""
    a = Subject("198.51.100.9", "10.0.0.5", 61000, "tcp", ephemeral=True)
    b = a._replace(port=61003)
    assert finding_identifier("unsolicited_inbound_ephemeral", a) == finding_identifier(
        "unsolicited_inbound_ephemeral", b
    )
    assert finding_identifier("x", a._replace(ephemeral=False)) != finding_identifier("x", b._replace(ephemeral=False))
    host, box = Subject(namespace="host"), Subject(namespace="docker:0123456789ab")
    assert finding_identifier("listener-in-ephemeral-range", host) != finding_identifier(
        "listener-in-ephemeral-range", box
    )


def test_a_finding_refuses_what_it_cannot_render() -> None:
    with pytest.raises(TypeError, match="Severity"):
        Finding("high", "x", "t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown MITRE technique"):
        Finding(Severity.LOW, "x", "t", mitre="T9999")


FLOW = FlowEvidence(
    "2026-01-01T00:00:00.000000Z", "203.0.113.7", 40000, "10.0.0.5", 22, "tcp", "deny", "SYN", "fw.log", 7
)


def test_both_producers_share_one_json_shape() -> None:
    """A finding about flows and one about sockets carry the same keys; ``kind`` repeats ``code``."""
    flows = Finding(Severity.HIGH, "brute_force", "t", subject=Subject("a", "b", 22, "tcp"), count=40, evidence=(FLOW,),
                    mitre="T1110")  # fmt: skip
    sockets = Finding(Severity.LOW, "listener-in-ephemeral-range", "t", "d", Subject(namespace="host"), count=1,
                      evidence=("tcp 0.0.0.0:45000 sshd (pid 1)",), fix="sysctl ...")  # fmt: skip
    one, two = finding_json(flows, 1), finding_json(sockets, 2)
    assert one.keys() == two.keys()
    assert one["kind"] == one["code"] == "brute_force" and one["id"] == "F1" and two["id"] == "F2"
    assert one["flows"] == one["count"] == 40 and one["evidence"] == {"flows": 40, "sample": [FLOW._asdict()]}
    assert two["flows"] is None and two["evidence"] == {"flows": None, "sample": ["tcp 0.0.0.0:45000 sshd (pid 1)"]}
    assert one["mitre"] == {"id": "T1110", "name": "Brute Force"} and two["mitre"] is None
    json.dumps([one, two])


def test_live_and_analyze_reports_carry_the_same_finding_keys() -> None:
    """The goldens' findings: the recorded snapshot's health findings and an analyze report's findings."""
    golden = Path(__file__).resolve().parent / "data" / "golden"
    live = json.loads((golden / "live" / "findings.json").read_text(encoding="utf-8"))["findings"]
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((golden / "analyze").glob("*.json"))]
    analyzed = [f for r in reports for f in r.get("findings", [])]
    assert live and analyzed
    assert {frozenset(f) for f in live} == {frozenset(f) for f in analyzed}


def test_text_and_html_render_the_same_finding_from_the_object_or_its_json() -> None:
    """Hostile text (escape sequences, markup) is neutralised in both."""
    hostile = "\x1b]0;owned\x07<script>alert(1)</script>"
    finding = Finding(Severity.MEDIUM, "ephemeral_listener", f"listener {hostile}", f"detail {hostile}",
                      Subject("a", "b", 45000, "tcp"), count=1, evidence=(FLOW,), fix=f"fix {hostile}")  # fmt: skip
    style = Style(False, 100)
    from_object = findings_text([finding], style)
    assert from_object == findings_text([finding_json(finding, 1)], style)
    text = "\n".join(from_object)
    assert "\x1b" not in text and "\x07" not in text
    assert "MEDIUM" in text and "fw.log:7" in text and "fix: fix" in text
    page = findings_html([finding])
    assert page == findings_html([finding_json(finding, 1)])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert findings_text([], style) == ["Findings: none"]

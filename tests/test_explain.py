"""explain's verdicts for the ports the issue names, and for each kind of role."""

from __future__ import annotations

import pytest

from portscope import explain, explain_port, explain_range
from portscope.host.ephemeral import host_port_ranges
from portscope.records import PortExplanation, RangeExplanation

LINUX_DEFAULT = any((r.low, r.high) == (32768, 60999) for r in host_port_ranges())


def test_56744_is_a_client_port_in_plain_words() -> None:
    """The seed question: 'what is port 56744 TCP and why is it in my logs?'"""
    exp = explain_port(56744, ("tcp",), os_name="linux")
    assert exp.iana_range == "dynamic"
    assert exp.role == "ephemeral-client"
    assert "client side of an outgoing connection" in exp.role_text
    assert "picked for that one connection" in exp.role_text
    assert "late reply" in exp.in_logs
    assert not [e for e in exp.iana if e.assigned]
    assert any(m.os == "linux" and m.inside for m in exp.os_ranges)
    assert any(m.os == "windows-xp" and not m.inside for m in exp.os_ranges)
    assert any("56744" in cmd for cmd in exp.who_uses_it)


def test_port_zero_is_special() -> None:
    exp = explain_port(0)
    assert (exp.role, exp.iana_range) == ("special", "system")
    assert [e.description for e in exp.iana] == ["Reserved", "Reserved"]
    assert any("Port 0 is never a real endpoint" in n for n in exp.notes)


def test_65535_depends_on_the_os() -> None:
    assert explain_port(65535, os_name="windows").role == "ephemeral-client"
    assert explain_port(65535, os_name="linux").role == "ephemeral-elsewhere"


def test_443_udp_is_https_and_quic() -> None:
    exp = explain_port(443, ("udp",))
    assert exp.role == "service"
    assert {e.name for e in exp.iana if e.assigned} == {"https"}
    assert any("QUIC" in n for n in exp.notes)
    assert all(e.protocol in ("udp", None) for e in exp.iana)


def test_5353_udp_is_mdns() -> None:
    exp = explain_port(5353, ("udp",))
    assert exp.role == "service"
    assert exp.iana_range == "user"
    assert {e.name for e in exp.iana if e.assigned} == {"mdns"}
    assert any("Multicast DNS" in n for n in exp.notes)


def test_assigned_port_inside_an_ephemeral_range_is_ambiguous() -> None:
    # 49151 is reserved, but 33434/udp (traceroute) is assigned and inside Linux's 32768-60999
    exp = explain_port(33434, ("udp",), os_name="linux")
    assert exp.role == "ambiguous"
    assert any("traceroute" in n for n in exp.notes)


def test_unassigned_user_port_outside_ranges_is_unknown() -> None:
    # 1022 is reserved (RFC 4727 experiments) and not an ephemeral port anywhere: pick an unassigned user port
    unassigned = next(p for p in range(5000, 10000) if not [e for e in explain_port(p).iana if e.assigned])
    assert explain_port(unassigned, os_name="linux").role == "unknown"


@pytest.mark.skipif(not LINUX_DEFAULT, reason="needs this host at the Linux default range 32768-60999")
def test_this_hosts_range_decides_when_no_os_is_given() -> None:
    assert explain_port(56744).role == "ephemeral-client"
    assert explain_port(62000).role == "ephemeral-elsewhere"
    assert all(m.inside for m in explain_port(56744).host_ranges)


def test_explain_names_and_ranges() -> None:
    (ssh,) = explain("ssh")
    assert isinstance(ssh, PortExplanation) and ssh.port == 22 and ssh.role == "service"
    (rng,) = explain("49152-49160")
    assert isinstance(rng, RangeExplanation)
    assert rng.iana_ranges == ("dynamic",) and rng.unassigned_count == 9 and rng.assigned == ()
    windows = next(o for o in rng.os_overlaps if o.os == "windows")
    assert windows.ports == 9


def test_range_counts_assignments() -> None:
    rng = explain_range(20, 25, ("tcp",))
    assert {e.name for e in rng.assigned} >= {"ftp", "ssh", "telnet", "smtp"}
    assert rng.unassigned_count == 0
    assert rng.iana_ranges == ("system",)


def test_unknown_os_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown OS"):
        explain_port(22, os_name="beos")

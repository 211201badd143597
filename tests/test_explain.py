"""explain's verdicts for the ports the issue names, and for each kind of role."""

from __future__ import annotations

import pytest

from portscope import explain, explain_port, explain_range
from portscope.errors import UsageError
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


def test_assigned_port_inside_the_client_range_is_ephemeral_with_its_iana_name_noted() -> None:
    """Precedence step 3: 33434/udp (traceroute) is assigned but inside Linux's 32768-60999, so Linux hands
    it to clients like any other; the IANA name is still said."""
    exp = explain_port(33434, ("udp",), os_name="linux")
    assert exp.role == "ephemeral-client"
    assert any("traceroute" in n for n in exp.notes)
    assert any("IANA assigns it to traceroute, but inside the client range" in r for r in exp.reasons)


def test_curated_service_inside_the_client_range_is_a_service() -> None:
    """Precedence step 2: WireGuard's 51820/udp (no IANA entry) and BACnet's 47808/udp (IANA-named) lie in
    Linux's range yet are services, and the reason names the curated entry's source."""
    for port, name in ((51820, "wireguard"), (47808, "bacnet")):
        exp = explain_port(port, ("udp",), os_name="linux")
        assert exp.role == "service", exp
        assert any(name in r and "a service even inside a client range" in r for r in exp.reasons)


def test_a_service_on_one_protocol_and_a_client_port_on_the_other_is_ambiguous() -> None:
    """The kubelet's 10250 is a curated TCP service; inside FreeBSD's 10000-65535 its UDP twin is a client port."""
    exp = explain_port(10250, ("tcp", "udp"), os_name="freebsd")
    assert exp.role == "ambiguous"
    assert "kubelet on tcp" in exp.role_text and "on udp" in exp.role_text


def test_os_windows_judges_by_the_current_windows_range() -> None:
    """--os windows is Vista and later (49152-65535), as analyze takes it: 3389 is not an XP client port."""
    assert explain_port(3389, ("tcp",), os_name="windows").role == "service"


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
    with pytest.raises(UsageError, match="unknown OS"):
        explain_port(22, os_name="beos")

"""Parsing what people type for a port: numbers, PORT/PROTO, ranges, names, and every bad form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portscope.errors import PortSpecError
from portscope.ports.spec import parse_port_spec


@pytest.mark.parametrize(
    ("text", "low", "high", "protocols", "given"),
    [
        ("443", 443, 443, ("tcp", "udp"), False),
        ("443/udp", 443, 443, ("udp",), True),
        ("443/UDP", 443, 443, ("udp",), True),
        ("0", 0, 0, ("tcp", "udp"), False),
        ("65535", 65535, 65535, ("tcp", "udp"), False),
        ("49152-49160", 49152, 49160, ("tcp", "udp"), False),
        ("49152 - 49160/tcp", 49152, 49160, ("tcp",), True),
        ("22/sctp", 22, 22, ("sctp",), True),
    ],
)
def test_numbers_and_ranges(text: str, low: int, high: int, protocols: tuple[str, ...], given: bool) -> None:
    (query,) = parse_port_spec(text)
    assert (query.low, query.high, query.protocols, query.protocol_given) == (low, high, protocols, given)
    assert query.label == text


def test_service_names() -> None:
    (ssh,) = parse_port_spec("ssh")
    assert (ssh.low, ssh.protocols, ssh.service_name) == (22, ("tcp", "udp", "sctp"), "ssh")
    (https_udp,) = parse_port_spec("HTTPS/udp")
    assert (https_udp.low, https_udp.protocols) == (443, ("udp",))
    (x11,) = parse_port_spec("x11")
    assert (x11.low, x11.high) == (6000, 6063)
    (digit_first,) = parse_port_spec("3com-tsmux")  # RFC 6335 names may start with a digit
    assert digit_first.low == 106


def test_etc_services_alias(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Names IANA lacks but /etc/services has as an alias (``www``) still resolve, when the file is there."""
    from portscope.ports.services_db import etc_services

    services = etc_services()
    if services is None or not services.by_name("www"):
        pytest.skip("this host's /etc/services has no 'www' alias")
    assert parse_port_spec("www")[0].low == 80


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("70000", "port 70000 is out of range; ports are 0-65535"),
        ("-1", "port -1 is out of range; ports are 0-65535"),
        ("abc/xyz", "unknown protocol 'xyz'; valid ones are: tcp, udp, sctp, dccp"),
        ("22/sctpx", "unknown protocol 'sctpx'; valid ones are: tcp, udp, sctp, dccp"),
        ("sshh", "unknown service name 'sshh' (did you mean ssh?)"),
        ("no-such-thing", "unknown service name 'no-such-thing'"),
        ("", "empty port"),
        ("/tcp", "no port before '/'"),
        ("5-3", "range 5-3 runs backwards"),
        ("1-70000", "port 70000 is out of range"),
    ],
)
def test_bad_input_says_what_and_what_is_accepted(text: str, message: str) -> None:
    with pytest.raises(PortSpecError) as caught:
        parse_port_spec(text)
    assert message in str(caught.value)
    assert caught.value.argument == text
    assert "\n" not in str(caught.value)


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_port_spec_error(text: str) -> None:
    """Fuzz: no input makes the parser raise anything but PortSpecError, or return an out-of-range port."""
    try:
        queries = parse_port_spec(text)
    except PortSpecError as exc:
        assert exc.argument == text
        return
    for query in queries:
        assert 0 <= query.low <= query.high <= 65535
        assert query.protocols

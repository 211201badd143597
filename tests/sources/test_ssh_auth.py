"""ssh_auth: real OpenSSH 9.2p1 lines logged by rsyslog, and the messages the test run did not produce."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import ssh_auth
from tests.sources._flowtest import fixture, fuzz_once, read

YEAR = {"year": 2026}


def test_real_sshd_session() -> None:
    """Every sshd line about a connection is a row: peer as src, the VERBOSE line's local port as dst."""
    table, stats = read("ssh_auth", fixture("ssh_auth", "auth.log"), options=YEAR)
    assert (stats.good, stats.bad, stats.skipped) == (24, 0, 13)  # type: ignore[attr-defined]
    rows_ = table.to_pylist()
    accepted = next(r for r in rows_ if r["rule"] == "accepted publickey")
    assert (accepted["src_addr"], accepted["src_port"], accepted["user"], accepted["action"]) == (
        "10.98.0.1",
        54572,
        "root",
        "allow",
    )
    assert (accepted["dst_addr"], accepted["dst_port"], accepted["process_pid"]) == ("10.98.0.2", 22, 908)
    assert (accepted["initiator"], accepted["direction"], accepted["protocol"], accepted["service"]) == (
        "observed",
        "inbound",
        "tcp",
        "ssh",
    )
    assert accepted["start"] == datetime(2026, 11, 23, 19, 18, 24, tzinfo=timezone.utc)
    assert (accepted["observer"], accepted["evidence_line"]) == ("vm", 7)
    actions = Counter((r["rule"], r["action"]) for r in rows_)
    assert actions[("failed password", "deny")] == 2 and actions[("invalid user", "deny")] == 2
    assert {r["dst_port"] for r in rows_ if r["src_port"] == 55054} == {2222}  # the port-2222 connection


def test_iso_timestamps() -> None:
    """RSYSLOG_FileFormat (RFC 3339 with microseconds and offset): same rows, precise times."""
    table, _ = read("ssh_auth", fixture("ssh_auth", "auth-rsyslog-iso.log"))
    assert table.num_rows == 24
    assert table.column("start").to_pylist()[0] == datetime(2026, 11, 23, 19, 18, 24, 489535, tzinfo=timezone.utc)


def test_variants_and_unknown_server_port() -> None:
    """Without a VERBOSE Connection-from line the server port stays null (22 would be a guess)."""
    table, stats = read("ssh_auth", fixture("ssh_auth", "variants.log"), options={"year": 2024})
    assert (stats.good, stats.bad) == (13, 0)
    rows_ = table.to_pylist()
    assert {r["dst_port"] for r in rows_ if r["process_pid"] != 5410} == {None}
    too_many = next(r for r in rows_ if r["rule"] == "too many attempts")
    assert (too_many["src_addr"], too_many["user"], too_many["action"]) == ("2001:db8:7::15", "oracle", "deny")
    by_name = next(r for r in rows_ if r["rule"] == "accepted password")
    assert (by_name["src_addr"], by_name["src_port"], by_name["user"]) == (None, 60102, "deploy")  # UseDNS name
    session = [r for r in rows_ if r["process_pid"] == 5410]
    assert [(r["dst_addr"], r["dst_port"]) for r in session] == [("192.0.2.10", 2222)] * 2  # sshd-session (9.8)


def test_bad_lines_counted() -> None:
    """A port of 70000, a garbage peer, an impossible date: each a bad record with its line."""
    lines = [
        b"Mar  3 06:26:12 bastion sshd[5120]: Invalid user x from 192.0.2.5 port 70000",
        b"Mar  3 06:26:12 bastion sshd[5120]: Invalid user x from @@@ port 22",
        b"Feb 30 06:26:12 bastion sshd[5120]: Invalid user x from 192.0.2.5 port 2",
        b"Mar  3 06:26:12 bastion sshd[5120]: Invalid user x from 192.0.2.5 port 2",
    ]
    table, stats = read("ssh_auth", b"\n".join(lines), label="auth", options={"year": 2024})
    assert table.num_rows == 1 and stats.kinds == {"bad port": 1, "bad address": 1, "bad timestamp": 1}
    with pytest.raises(DataError, match=r"auth:1: bad port"):
        read("ssh_auth", b"\n".join(lines), label="auth", strict=True, options={"year": 2024})


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 3000), st.binary(max_size=120))
def test_fuzz(cut: int, noise: bytes) -> None:
    """Real lines cut anywhere and noise after an sshd tag never raise anything but DataError under strict."""
    data = fixture("ssh_auth", "auth.log")
    fuzz_once("ssh_auth", data[:cut] + b"Mar  3 06:26:12 h sshd[1]: " + noise, options=YEAR)


def test_sniff() -> None:
    """sshd lines with a peer port 85; iptables lines and others 0."""
    assert ssh_auth.sniff(fixture("ssh_auth", "auth.log"), "x") == 85
    assert ssh_auth.sniff(fixture("ssh_auth", "variants.log"), "x") == 85
    assert ssh_auth.sniff(b"Mar 3 06:25:01 h kernel: IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8\n", "x") == 0

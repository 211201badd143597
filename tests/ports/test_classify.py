"""The one port classifier: its precedence, and its engine twin agreeing with it on every port."""

from __future__ import annotations

import pytest

from portscope.errors import UsageError
from portscope.ports.classify import (
    CLASSES,
    REASONS,
    class_expression,
    class_name,
    class_table,
    classify,
    curated_service,
    iana_assignments,
)
from portscope.ports.curated import CURATED_SERVICES
from portscope.ports.ranges import ANY_OS, client_range
from portscope.records import ClientRange

LINUX = client_range("linux")
WINDOWS = client_range("windows")
CUSTOM = ClientRange(10000, 20000, "custom", "a test", reserved=((10500, 10500), (15000, 15009)))
RANGES = {"linux": LINUX, "windows": WINDOWS, "custom": CUSTOM, "any": ANY_OS}


def test_precedence_names_the_step_that_decided() -> None:
    """Observed beats curated beats the client range beats IANA; the rest is other."""
    assert classify(45000, "tcp", LINUX, observed="listener")[2:4] == ("service", "observed")
    assert classify(51820, "udp", LINUX)[2:4] == ("service", "curated")  # WireGuard: no IANA entry, inside
    assert classify(47808, "udp", LINUX)[2:4] == ("service", "curated")  # BACnet: IANA-named, inside
    inside = classify(33434, "udp", LINUX)  # traceroute: IANA-named, inside Linux's range
    assert inside[2:4] == ("ephemeral", "client-range") and inside.note is not None and "traceroute" in inside.note
    assert classify(33434, "udp", WINDOWS)[2:4] == ("service", "iana")  # outside Windows' range
    assert classify(61000, "tcp", LINUX)[2:4] == ("other", "unassigned")
    assert classify(443, "tcp")[2:4] == ("service", "iana") and "IANA" in classify(443, "tcp").source
    assert classify(443, "tcp").service == "https"


def test_reserved_ports_inside_the_range_are_not_ephemeral() -> None:
    """Linux never hands out ip_local_reserved_ports: 10500 falls through to IANA or other."""
    assert classify(10499, "tcp", CUSTOM).port_class == "ephemeral"
    assert classify(10500, "tcp", CUSTOM).port_class != "ephemeral"
    assert classify(15005, "udp", CUSTOM).port_class != "ephemeral"
    assert CUSTOM.size == 20000 - 10000 + 1 - 11


def test_default_range_is_iana_dynamic() -> None:
    assert classify(50000, "tcp").port_class == "ephemeral"
    assert classify(40000, "tcp").port_class != "ephemeral"


def test_bad_port_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="outside 0-65535"):
        classify(65536, "tcp")


def test_curated_entries_are_sound_and_sourced() -> None:
    """Every curated entry has a port range, a known transport and a source; none covers a whole client range."""
    for entry in CURATED_SERVICES:
        assert 0 < entry.low <= entry.high <= 65535 and entry.high - entry.low < 16, entry
        assert set(entry.protocols) <= {"tcp", "udp"} and entry.protocols, entry
        assert len(entry.source) > 20 and entry.name and entry.description, entry
    assert curated_service(51820, "UDP") is not None and curated_service(51820, "tcp") is None
    assert set(REASONS) == {"observed", "curated", "client-range", "iana", "unassigned"}


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_table_and_classify_agree_on_every_port(protocol: str) -> None:
    """The byte table live uses is classify() itself, port by port (under the custom range: reserved
    ports, curated ports and IANA assignments on both sides of it). classify() looks one port up in the
    index; the table is built from the whole registry at once."""
    table = class_table(protocol, CUSTOM)
    assert len(table) == 65536
    for port in range(65536):
        assert class_name(table[port]) == classify(port, protocol, CUSTOM).port_class, (port, protocol)


@pytest.mark.parametrize("protocol", ["tcp", "udp", "sctp", "dccp"])
@pytest.mark.parametrize("name", sorted(RANGES))
def test_tables_follow_the_precedence_under_every_range(protocol: str, name: str) -> None:
    """Each range's table: curated ports are services, the range's unreserved ports otherwise ephemeral,
    IANA's assignments outside it services, the rest other."""
    rng = RANGES[name]
    table = class_table(protocol, rng)
    assigned = iana_assignments(protocol)
    for port in range(65536):
        if curated_service(port, protocol) is not None:
            expected = "service"
        elif rng.contains(port):
            expected = "ephemeral"
        else:
            expected = "service" if port in assigned else "other"
        assert class_name(table[port]) == expected, (port, protocol, name)


def test_engine_twin_agrees_with_classify_on_every_port() -> None:
    """Every port 0-65535, tcp and udp, under Linux, Windows, a custom range with reserved ports and
    --os any, through DuckDB: the engine expression gives classify()'s class; a null port stays null, and
    an observed fact makes any port a service."""
    import ibis
    import pyarrow as pa

    ports = list(range(65536))
    con = ibis.duckdb.connect()
    try:
        for name, rng in RANGES.items():
            for protocol in ("tcp", "udp"):
                data = ibis.memtable(
                    pa.table(
                        {
                            "port": pa.array([*ports, None], pa.uint16()),
                            "proto": pa.array([protocol] * 65537),
                            "seen": pa.array([p % 9973 == 0 for p in ports] + [False]),
                        }
                    )
                )
                expr = data.mutate(
                    klass=class_expression(data.port, data.proto, rng.low, rng.high, reserved=rng.reserved),
                    fact=class_expression(
                        data.port, data.proto, rng.low, rng.high, reserved=rng.reserved, observed=data.seen
                    ),
                )
                got = con.to_pyarrow(expr.order_by(expr.port.isnull(), "port")).to_pydict()
                table = class_table(protocol, rng)
                expected = [class_name(table[p]) for p in ports]
                assert got["klass"][:-1] == expected, (name, protocol)
                assert got["klass"][-1] is None and got["fact"][-1] is None
                facts = ["service" if p % 9973 == 0 else expected[p] for p in ports]
                assert got["fact"][:-1] == facts, (name, protocol)
                assert set(got["klass"][:-1]) <= set(CLASSES)
    finally:
        con.disconnect()


def test_engine_twin_with_a_literal_protocol_and_an_unknown_one() -> None:
    """A protocol given as text works like a column; a protocol IANA assigns nothing for has no services."""
    import ibis
    import pyarrow as pa

    data = ibis.memtable(pa.table({"port": pa.array([22, 51820, 40000], pa.int32())}))
    con = ibis.duckdb.connect()
    try:
        tcp = con.to_pyarrow(data.mutate(k=class_expression(data.port, "tcp", 32768, 60999))).column("k").to_pylist()
        gre = con.to_pyarrow(data.mutate(k=class_expression(data.port, "gre", 32768, 60999))).column("k").to_pylist()
    finally:
        con.disconnect()
    assert tcp == ["service", "ephemeral", "ephemeral"]
    assert gre == ["other", "ephemeral", "ephemeral"]

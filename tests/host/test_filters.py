"""live's filters, as a library: the vocabulary of roles and states, and which rows they keep."""

from __future__ import annotations

import pytest

from portscope.errors import UsageError
from portscope.host.filters import ROLES, STATES, SocketFilter
from portscope.host.roles import classify
from portscope.host.sockets import client_range_of_view
from tests import golden


def _table():  # type: ignore[no-untyped-def]
    snap = golden.load_snapshot()
    classify(snap.table, {v.inode: client_range_of_view(v) for v in snap.namespaces})
    return snap.table


def test_an_empty_filter_keeps_every_row() -> None:
    table = _table()
    assert not SocketFilter.parse() and SocketFilter.parse().select(table) == list(range(len(table)))


def test_each_condition_keeps_only_its_rows() -> None:
    """On the recorded snapshot of three namespaces: listeners, a port on either side, states, UDP, v6."""
    table = _table()
    listen = SocketFilter.parse(listen=True).select(table)
    assert listen and all(table.role[i] == "listen" for i in listen)
    port = SocketFilter.parse(ports=[3000]).select(table)
    assert port and all(3000 in (table.local_port[i], table.remote_port[i]) for i in port)
    waiting = SocketFilter.parse(states="time-wait,estab", tcp=True).select(table)
    assert {table.state[i] for i in waiting} == {"TIME_WAIT", "ESTABLISHED"}
    assert all(table.protocol[i] == "tcp" for i in waiting)
    six = SocketFilter.parse(ipv6=True, udp=True).select(table)
    assert six and all(table.family[i] == 6 and table.protocol[i] == "udp" for i in six)
    assert SocketFilter.parse(process="PYTHON").select(table) == [i for i in range(len(table)) if table.process[i]]


@pytest.mark.parametrize(
    ("options", "says"),
    [({"states": "bogus"}, "--state: unknown value BOGUS"), ({"roles": "server"}, "--role: unknown value server"),
     ({"ports": ["70000"]}, "port 70000 is out of range"), ({"roles": ","}, "--role: unknown value ','")],
)  # fmt: skip
def test_values_outside_the_vocabulary_are_usage_errors(options: dict[str, object], says: str) -> None:
    with pytest.raises(UsageError, match=says):
        SocketFilter.parse(**options)  # type: ignore[arg-type]


def test_the_vocabulary_is_the_tables() -> None:
    assert set(ROLES) == {"listen", "inbound", "outbound", "client", "peer", "unknown"}
    assert "UNCONN" in STATES and "LISTEN" in STATES
    assert set(_table().role) <= set(ROLES)

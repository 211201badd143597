"""Roles one socket at a time: the listener index and classify_socket, and the whole table built on them."""

from __future__ import annotations

from portscope.host.roles import DEFAULT_RANGE, ListenerIndex, NamespaceRanges, classify, classify_socket
from portscope.records import ClientRange
from tests import golden

LINUX = ClientRange(32768, 60999, "Linux")


def test_the_index_counts_listeners_so_one_of_two_can_go() -> None:
    """Two listeners on one port (SO_REUSEPORT, a restart's overlap): removing one keeps the port held."""
    index = ListenerIndex()
    for _ in range(2):
        index.add("tcp", "LISTEN", "0.0.0.0", 8080, None, None)
    index.remove("tcp", "LISTEN", "0.0.0.0", 8080, None, None)
    assert index.tcp_listens(None, "10.0.0.1", 8080)
    index.remove("tcp", "LISTEN", "0.0.0.0", 8080, None, None)
    assert not index.tcp_listens(None, "10.0.0.1", 8080)
    assert not index.tcp and not index.tcp_wildcard and not index.addresses  # nothing left behind


def test_a_connection_is_judged_by_the_listeners_of_the_moment() -> None:
    """Accepted from a listener while it listens (a fact); once the listener is gone, the ports decide."""
    index, ranges = ListenerIndex(), NamespaceRanges({None: LINUX})
    index.add("tcp", "LISTEN", "127.0.0.1", 45000, None, None)
    index.add("tcp", "ESTABLISHED", "127.0.0.1", 45000, 51234, None)
    accepted = ("tcp", "ESTABLISHED", "127.0.0.1", 45000, "127.0.0.1", 51234, None)
    assert classify_socket(index, ranges, *accepted)[:3] == ("inbound", "fact", "listener-port")
    index.remove("tcp", "LISTEN", "127.0.0.1", 45000, None, None)
    assert classify_socket(index, ranges, *accepted)[:3] == ("peer", "inferred", "both-ephemeral")


def test_udp_on_a_curated_port_inside_the_range_is_a_listener() -> None:
    """WireGuard's 51820 lies inside Linux's range: a service by the curated list, not a client's socket;
    a resolver's socket on 51819 is a client's."""
    index, ranges = ListenerIndex(), NamespaceRanges({None: LINUX})
    wireguard = classify_socket(index, ranges, "udp", "UNCONN", "0.0.0.0", 51820, None, None, None)
    resolver = classify_socket(index, ranges, "udp", "UNCONN", "0.0.0.0", 51819, None, None, None)
    assert (wireguard.role, wireguard.local_service, wireguard.local_ephemeral) == ("listen", "wireguard", False)
    assert (resolver.role, resolver.local_ephemeral) == ("client", True)


def test_each_namespace_is_judged_by_its_own_range() -> None:
    ranges = NamespaceRanges({1: LINUX, 2: ClientRange(10000, 20000, "custom", "test", ((15000, 15000),))})
    index = ListenerIndex()
    assert classify_socket(index, ranges, "udp", "UNCONN", "::", 15001, None, None, 2, False).role == "client"
    assert classify_socket(index, ranges, "udp", "UNCONN", "::", 15000, None, None, 2, False).role == "listen"
    assert classify_socket(index, ranges, "udp", "UNCONN", "::", 15001, None, None, 1, False).role == "listen"
    assert NamespaceRanges({}).default == DEFAULT_RANGE


def test_one_at_a_time_gives_the_whole_tables_answer() -> None:
    """The recorded snapshot (tests/data/golden/live): index every socket, then judge each alone, as a
    watcher would after its first dump; the same columns as classify() of the table."""
    snap = golden.load_snapshot()
    from portscope.host.sockets import client_range_of_view

    ranges = {v.inode: client_range_of_view(v) for v in snap.namespaces}
    table = snap.table
    classify(table, ranges)
    index, book = ListenerIndex(), NamespaceRanges(ranges)
    rows = list(
        zip(table.protocol, table.state, table.local_address, table.local_port, table.remote_address,
            table.remote_port, table.netns, table.v6only, strict=True)
    )  # fmt: skip
    for protocol, state, laddr, lport, _, rport, netns, _ in rows:
        index.add(protocol, state, laddr, lport, rport, netns)
    for i, row in enumerate(rows):
        judged = classify_socket(index, book, *row)
        assert judged == tuple(getattr(table, name)[i] for name in judged._fields), (i, row)


def test_a_namespace_that_goes_takes_its_tables_with_it() -> None:
    ranges = NamespaceRanges({1: LINUX, 2: ClientRange(10000, 20000, "custom")})
    ranges.table(2, "udp")
    ranges.forget(2)
    assert 2 not in ranges.ranges and all(key[0] != 2 for key in ranges._tables)
    assert ranges.table(2, "udp") == ranges.table(1, "udp")  # judged by the default range from now on

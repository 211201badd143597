"""zeek_conn: Zeek's own conn.logs (TSV of Bro 2.x and Zeek 7, btest baselines, zeek-cut, JSON) into flows."""

from __future__ import annotations

import textwrap
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import ParseStats, _tabular, zeek_conn
from tests.sources._flowtest import fixture, fuzz_once, mutations, read, read_both_ways, rows

HEADER = textwrap.dedent(
    """\
    #separator \\x09
    #set_separator\t,
    #empty_field\t(empty)
    #unset_field\t-
    #path\tconn
    #open\t2024-05-01-10-00-00
    #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
    #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
    """
).encode()
GOOD = (
    b"1714557600.123456\tCabc\t10.0.0.5\t56744\t203.0.113.7\t443\ttcp\tssl\t1.5\t100\t200\tSF\tT\tF\t0\t"
    b"ShADadFf\t5\t400\t6\t600\t(empty)\n"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_bro2_tsv_all_rows_and_protocols() -> None:
    """A real Bro 2.x conn.log: every one of its 360 records comes out, with its protocol as Zeek wrote it."""
    table, stats = read("zeek_conn", fixture("zeek_conn", "zat-bro2-conn.log"))
    assert stats.bad == 0
    assert Counter(table.column("protocol").to_pylist()) == {"udp": 225, "tcp": 115, "icmp": 20}
    first = rows(table)[0]
    assert first["start"] == utc(2013, 9, 15, 23, 44, 27, 706265)
    assert first["end"] == utc(2013, 9, 15, 23, 44, 28, 153725)  # ts + duration 0.447460
    assert (first["src_addr"], first["src_port"], first["dst_addr"], first["dst_port"]) == (
        "192.168.33.10", 1032, "54.245.228.191", 80,
    )  # fmt: skip
    assert (first["packets_out"], first["bytes_out"], first["packets_in"], first["bytes_in"]) == (22, 1489, 31, 39641)
    assert (first["flow_id"], first["service"], first["conn_state"], first["history"]) == (
        "CoyZrY2g74UvMMgp4a", "http", "RSTO", "ShADadR",
    )  # fmt: skip
    assert first["initiator"] == "observed"
    assert first["evidence_line"] == 9  # after the eight header lines


def test_icmp_type_and_code_never_ports() -> None:
    """ICMP unreachable (type 3, code 3) in Zeek's id.orig_p/id.resp_p becomes icmp_type/icmp_code, ports null."""
    table, _ = read("zeek_conn", fixture("zeek_conn", "zat-bro2-conn.log"))
    icmp = [r for r in table.to_pylist() if r["protocol"] == "icmp"]
    assert len(icmp) == 20
    assert all(r["src_port"] is None and r["dst_port"] is None for r in icmp)
    assert all(r["ip_proto"] == 1 for r in icmp)
    unreachable = next(r for r in icmp if r["src_addr"] == "31.171.135.249")
    assert (unreachable["icmp_type"], unreachable["icmp_code"]) == (3, 3)


def test_icmpv6_paired_types_have_no_code() -> None:
    """Zeek logs the counterpart type, not the code, for echo/ND pairs: icmp_code stays null (ICMP6_counterpart)."""
    table, stats = read("zeek_conn", fixture("zeek_conn", "teredo-conn.log"))
    assert stats.good == 21 and stats.bad == 0
    icmp = [r for r in table.to_pylist() if r["protocol"] == "icmpv6"]
    assert [(r["icmp_type"], r["icmp_code"], r["ip_proto"]) for r in icmp] == [
        (128, None, 58),
        (134, None, 58),
        (133, None, 58),
    ]
    assert all(r["src_port"] is None for r in icmp)


def test_flipped_history_is_inferred() -> None:
    """A ^ in history means Zeek swapped the endpoints on a guess: initiator inferred, the others observed."""
    table, _ = read("zeek_conn", fixture("zeek_conn", "teredo-conn.log"))
    by_history = {(r["history"], r["initiator"]) for r in table.to_pylist()}
    assert ("^fA", "inferred") in by_history and ("^r", "inferred") in by_history
    assert ("ShADadFf", "observed") in by_history
    assert not any(h and "^" in h and i == "observed" for h, i in by_history)


def test_btest_masked_times_are_null_not_bad() -> None:
    """btest baselines mask ts as XXXXXXXXXX.XXXXXX: start is null, the record is kept, nothing counted bad."""
    table, stats = read("zeek_conn", fixture("zeek_conn", "dhcp-conn.log"))
    assert stats.good == 4 and stats.bad == 0
    assert table.column("start").null_count == 4
    assert table.column("evidence_line").to_pylist() == [10, 11, 12, 13]
    assert [r["initiator"] for r in table.to_pylist()] == ["observed", "inferred", "inferred", "observed"]


def test_unknown_transport_has_no_ports() -> None:
    """unknown_transport rows carry Zeek's placeholder port 0: ports null, the protocol from ip_proto (132 sctp)."""
    (row,) = read("zeek_conn", fixture("zeek_conn", "unknown-ip-protocol-conn.log"))[0].to_pylist()
    assert (row["protocol"], row["ip_proto"], row["src_port"], row["dst_port"]) == ("sctp", 132, None, None)
    assert (row["packets_out"], row["bytes_out"]) == (37, 33256)


def test_zeek_cut_names_line() -> None:
    """zeek-cut -m output (a line of names, no # headers) reads by name; absent fields are null."""
    (row,) = rows(read("zeek_conn", fixture("zeek_conn", "http-on-5432-conn.cut"))[0])
    assert row["dst_port"] == 5432 and row["src_port"] == 59856 and row["history"] == "ShADadFf"
    assert "protocol" not in row and "start" not in row


def test_json_lines() -> None:
    """Zeek JSON (epoch float ts): the same mapping as TSV."""
    table, stats = read("zeek_conn", fixture("zeek_conn", "zat-json-conn.log"), batch_size=7)
    assert stats.good == 50 and stats.bad == 0
    first = table.to_pylist()[0]
    assert first["start"] == utc(2019, 12, 3, 22, 44, 56, 52279)
    assert (first["dst_port"], first["service"], first["bytes_in"], first["evidence_line"]) == (88, "krb_tcp", 455, 1)


def test_json_iso_and_millisecond_times_and_nested_id() -> None:
    """JSON::TS_ISO8601 and TS_MILLIS times, and a shipper's nested "id" object, all read."""
    data = (
        b'{"ts":"2024-05-01T10:00:00.250000Z","uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":5353,'
        b'"id.resp_h":"224.0.0.251","id.resp_p":5353,"proto":"udp","conn_state":"S0","community_id":"1:abc="}\n'
        b'{"ts":1714557600250,"uid":"C2","id":{"orig_h":"10.0.0.2","orig_p":1,"resp_h":"10.0.0.3","resp_p":2},'
        b'"proto":"tcp","conn_state":"S0"}\n'
    )
    table, stats = read("zeek_conn", data)
    assert stats.bad == 0
    first, second = table.to_pylist()
    assert first["start"] == second["start"] == utc(2024, 5, 1, 10, 0, 0, 250000)
    assert first["community_id"] == "1:abc=" and second["src_addr"] == "10.0.0.2"


def test_dash_is_null_never_port_zero() -> None:
    """Zeek's unset '-' and '(empty)' are null: ports, counts and service never turn into 0 (zat's dash_mapper bug)."""
    line = b"1714557600.5\tC1\t10.0.0.5\t-\t203.0.113.7\t-\ttcp\t(empty)\t-\t-\t-\tOTH\t-\t-\t0\t-\t-\t-\t-\t-\t-\n"
    (row,) = read("zeek_conn", HEADER + line)[0].to_pylist()
    assert row["src_port"] is None and row["dst_port"] is None
    assert row["packets_out"] is None and row["bytes_in"] is None and row["service"] is None
    assert row["duration"] is None and row["end"] is None and row["direction"] is None


def test_direction_from_local_nets() -> None:
    """local_orig T and local_resp F: outbound (Site::local_nets); the other way round inbound."""
    inbound = GOOD.replace(b"\tT\tF\t", b"\tF\tT\t")
    table, _ = read("zeek_conn", HEADER + GOOD + inbound)
    assert table.column("direction").to_pylist() == ["outbound", "inbound"]


def test_concatenated_logs_with_other_fields() -> None:
    """Two logs cat-ed together, the second with other columns (community_id) and #close lines between."""
    second = HEADER.replace(b"\ttunnel_parents\n", b"\ttunnel_parents\tcommunity_id\n").replace(
        b"\tset[string]\n", b"\tset[string]\tstring\n"
    )
    data = (
        HEADER + GOOD + b"#close\t2024-05-01-11-00-00\n" + second + GOOD.replace(b"\n", b"\t1:xyz=\n") + b"#close\tx\n"
    )
    table, stats = read("zeek_conn", data)
    assert stats.bad == 0
    assert table.column("community_id").to_pylist() == [None, "1:xyz="]
    assert table.column("evidence_line").to_pylist() == [9, 19]


def test_bad_lines_counted_good_kept() -> None:
    """Port 70000, a short line, invalid UTF-8, a non-address, ICMP type 300: each rejected with its line."""
    bad = [
        GOOD.replace(b"\t443\t", b"\t70000\t"),
        b"1714557600.1\tCshort\t10.0.0.1\n",
        GOOD.replace(b"Cabc", b"C\xff\xfe"),
        GOOD.replace(b"203.0.113.7", b"203.0.113.700"),
        GOOD.replace(b"\t56744\t", b"\t300\t").replace(b"\ttcp\t", b"\ticmp\t"),
    ]
    data = HEADER + GOOD + b"".join(bad) + GOOD
    table, stats = read("zeek_conn", data)
    assert table.column("evidence_line").to_pylist() == [9, 15]
    assert stats.bad == 5
    assert stats.kinds == {"bad value": 2, "malformed line": 1, "invalid UTF-8": 1, "bad address": 1}
    assert stats.examples[0].startswith("t.log:10: bad value: id.resp_p '70000'")
    with pytest.raises(DataError, match=r"t\.log:10: "):
        read("zeek_conn", data, strict=True)


def test_not_a_conn_log() -> None:
    """A dns.log given as zeek_conn: its records are rejected as 'not a conn log', not read as flows."""
    data = HEADER.replace(b"#path\tconn", b"#path\tdns") + GOOD
    table, stats = read("zeek_conn", data)
    assert table.num_rows == 0 and stats.kinds == {"not a conn log": 1}


def test_chunk_boundaries_keep_line_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """With tiny chunks (a header or a record split across reads) every record and line number is the same."""
    data = fixture("zeek_conn", "wikipedia-conn.log") + fixture("zeek_conn", "teredo-conn.log")
    whole, _ = read("zeek_conn", data)
    monkeypatch.setattr(_tabular, "CHUNK_SIZE", 97)
    pieces, _ = read("zeek_conn", data, batch_size=5)
    assert pieces.to_pylist() == whole.to_pylist()
    assert whole.num_rows == 55


def test_fast_and_line_by_line_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pyarrow.csv path and the per-line path give identical flows and line numbers for real logs."""
    for name in ("zat-bro2-conn.log", "wikipedia-conn.log", "teredo-conn.log"):
        data = fixture("zeek_conn", name)
        fast, _ = read("zeek_conn", data)
        with monkeypatch.context() as patch:
            patch.setattr(zeek_conn, "_parse_fast", lambda *args: None)
            slow, _ = read("zeek_conn", data)
        assert fast.to_pylist() == slow.to_pylist(), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(range(6)), min_size=1, max_size=6), st.integers(0, 5))
def test_fuzz_mutated_lines_paths_agree(picks: list[int], where: int) -> None:
    """Damaged records: only DataError under strict, and both paths keep and reject the same lines."""
    lines = [GOOD] * 6
    for pick in picks:
        lines[where] = mutations(lines[where])[pick]
    data = HEADER + b"".join(lines)
    fuzz_once("zeek_conn", data)
    fast, fast_stats = read("zeek_conn", data)
    original = zeek_conn._parse_fast
    zeek_conn._parse_fast = lambda *args: None  # type: ignore[assignment]
    try:
        slow, slow_stats = read("zeek_conn", data)
    finally:
        zeek_conn._parse_fast = original
    assert fast.column("evidence_line").to_pylist() == slow.column("evidence_line").to_pylist()
    assert fast_stats.bad == slow_stats.bad


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(noise: bytes) -> None:
    """Arbitrary bytes after a header, or as JSON lines, never raise anything but DataError (strict)."""
    fuzz_once("zeek_conn", HEADER + noise)
    fuzz_once("zeek_conn", b'{"id.orig_h":"10.0.0.1"}\n' + noise)


def _both_ways(data: bytes, strict: bool = False) -> tuple[list[dict[str, Any]], ParseStats]:
    return read_both_ways("zeek_conn", data, strict=strict)


def test_rows_are_the_batches_rows_for_odd_records() -> None:
    """Row mode (explain's pasted line, no pyarrow) keeps and rejects what the batches do, value for value:
    bad address, port, time and duration, unset fields, ICMP and ICMPv6 (paired and one-way), IPv6
    written long, a flipped history, unknown_transport, with and without ip_proto, TSV and JSON."""
    odd = [
        GOOD.replace(b"203.0.113.7", b"203.0.113.700"),  # bad address
        GOOD.replace(b"\t443\t", b"\t70000\t"),  # bad port
        GOOD.replace(b"1714557600.123456", b"100000000000.5"),  # past MAX_SECONDS (year 5138)
        GOOD.replace(b"\t1.5\t", b"\t-1.5\t"),  # negative duration
        GOOD.replace(b"\t56744\t", b"\t300\t").replace(b"\ttcp\t", b"\ticmp\t"),  # ICMP type 300
        b"1714557600.5\tC1\t10.0.0.5\t-\t203.0.113.7\t-\ttcp\t(empty)\t-\t-\t-\tOTH\t-\t-\t0\t-\t-\t-\t-\t-\t-\n",
        GOOD.replace(b"\t56744\t", b"\t3\t").replace(b"\t443\t", b"\t3\t").replace(b"\ttcp\t", b"\ticmp\t"),
        GOOD.replace(b"10.0.0.5\t56744", b"2001:DB8:0:0:0:0:0:1\t128")
        .replace(b"203.0.113.7\t443", b"FE80::1\t129")
        .replace(b"\ttcp\t", b"\ticmp\t"),  # ICMPv6 echo: Zeek logs the counterpart type, no code
        GOOD.replace(b"10.0.0.5", b"2001:db8::0:5").replace(b"ShADadFf", b"^dA").replace(b"\tT\tF\t", b"\tF\tT\t"),
        GOOD.replace(b"\ttcp\t", b"\tunknown_transport\t"),
        b"1714557600.1\tCshort\t10.0.0.1\n",
        GOOD.replace(b"Cabc", b"C\xff\xfe"),
        b"\n",
    ]
    rows, stats = _both_ways(HEADER + GOOD + b"".join(odd) + GOOD)
    assert stats.good == 7 and stats.kinds == {
        "bad address": 1, "bad value": 3, "bad timestamp": 1, "malformed line": 2, "invalid UTF-8": 1,
    }  # fmt: skip
    assert [r["protocol"] for r in rows] == ["tcp", "tcp", "icmp", "icmpv6", "tcp", None, "tcp"]
    assert [(r["icmp_type"], r["icmp_code"]) for r in rows[2:4]] == [(3, 3), (128, None)]
    assert (rows[3]["src_addr"], rows[3]["dst_addr"]) == ("2001:db8::1", "fe80::1")
    assert (rows[4]["src_addr"], rows[4]["initiator"], rows[4]["direction"]) == ("2001:db8::5", "inferred", "inbound")
    # With ip_proto: the protocol comes from it; unset, from proto, but never unknown_transport (the batches
    # named it so when a tcp row without ip_proto shared its chunk, null otherwise).
    with_proto = HEADER.replace(b"\ttunnel_parents\n", b"\ttunnel_parents\tip_proto\n").replace(
        b"\tset[string]\n", b"\tset[string]\tcount\n"
    )
    lines = [GOOD.replace(b"\n", b"\t-\n"), odd[7].replace(b"\n", b"\t58\n"), odd[9].replace(b"\n", b"\t-\n")]
    rows, stats = _both_ways(with_proto + b"".join(lines))
    assert [(r["protocol"], r["ip_proto"]) for r in rows] == [("tcp", None), ("icmpv6", 58), (None, None)]
    json_lines = (
        b'{"ts":1714557600.25,"uid":"C1","id":{"orig_h":"10.0.0.1","orig_p":8,"resp_h":"10.0.0.2","resp_p":0},'
        b'"proto":"icmp","history":"^"}\n'
        b'{"ts":"2024-05-01T10:00:00Z","id.orig_h":"2001:DB8::1","id.orig_p":1,"id.resp_h":"::1","id.resp_p":2,'
        b'"proto":"tcp","ip_proto":6,"service":["http","ssl"],"local_orig":true,"local_resp":false}\n'
        b'{"ts":1714557600250,"id.orig_h":"10.0.0.1","id.orig_p":99999,"id.resp_h":"10.0.0.2","proto":"udp"}\n'
        b'{"ts":1,"id.orig_h":"not an address","proto":"udp"}\n[1]\n{"cut": \n'
    )
    rows, stats = _both_ways(json_lines)
    assert [(r["protocol"], r["ip_proto"], r["icmp_type"]) for r in rows] == [("icmp", None, 8), ("tcp", 6, None)]
    assert stats.bad == 4
    with pytest.raises(DataError, match=r"t\.log:10: bad address: id\.resp_h '203\.0\.113\.700'"):
        _both_ways(HEADER + GOOD + odd[0], strict=True)


def test_sniff() -> None:
    """TSV conn logs 100, zeek-cut names 90, JSON conn 95; other Zeek logs and other text 0."""
    assert zeek_conn.sniff(fixture("zeek_conn", "zat-bro2-conn.log"), "x") == 100
    assert zeek_conn.sniff(fixture("zeek_conn", "dhcp-conn.log"), "x") == 100
    assert zeek_conn.sniff(fixture("zeek_conn", "http-on-5432-conn.cut"), "x") == 90
    assert zeek_conn.sniff(fixture("zeek_conn", "zat-json-conn.log"), "x") == 95
    assert zeek_conn.sniff(HEADER.replace(b"#path\tconn", b"#path\tdns"), "x") == 0
    assert zeek_conn.sniff(b'{"ts":1,"id.orig_h":"1.2.3.4","query":"a.example"}\n', "x") == 0
    assert zeek_conn.sniff(b"hello\n", "x") == 0

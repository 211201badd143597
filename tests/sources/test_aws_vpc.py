"""aws_vpc: VPC flow log records, default and custom formats, NODATA/SKIPDATA, TCP flags and directions."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from portscope.errors import DataError, UsageError
from portscope.sources import _tabular, aws_vpc, detect
from tests.sources._flowtest import fixture, fuzz_once, mutations, read, read_both_ways


def test_default_format_with_header() -> None:
    """The documentation's records: accept, reject, IPv6; NODATA and SKIPDATA skipped and counted, not bad."""
    table, stats = read("aws_vpc", fixture("aws_vpc", "default-v2.log"))
    assert (stats.good, stats.bad, stats.skipped) == (5, 0, 2)  # type: ignore[attr-defined]
    first = table.to_pylist()[0]
    assert (first["src_addr"], first["src_port"], first["dst_addr"], first["dst_port"]) == (
        "172.31.16.139",
        20641,
        "172.31.16.21",
        22,
    )
    assert (first["protocol"], first["packets_out"], first["bytes_out"], first["packets_in"]) == ("tcp", 20, 4249, None)
    assert first["start"] == datetime(2014, 12, 14, 4, 6, 50, tzinfo=timezone.utc) and first["duration"] == 60
    assert (first["observer"], first["action"], first["initiator"]) == ("eni-1235b8ca123456789", "allow", None)
    assert table.column("action").to_pylist() == ["allow", "deny", "allow", "deny", "allow"]
    assert table.column("evidence_line").to_pylist() == [2, 3, 6, 7, 8]


def test_icmp_has_no_ports() -> None:
    """AWS writes 0 in the port fields of ICMP records: null ports, and no type/code (AWS logs none)."""
    table, _ = read("aws_vpc", fixture("aws_vpc", "default-v2.log"))
    icmp = [r for r in table.to_pylist() if r["protocol"] == "icmp"]
    assert len(icmp) == 2
    assert all(r["src_port"] is None and r["dst_port"] is None and r["icmp_type"] is None for r in icmp)


def test_no_header_default_shape() -> None:
    """CloudWatch Logs lines (no header) in the default format read as such."""
    table, stats = read("aws_vpc", fixture("aws_vpc", "cloudwatch-no-header.log"))
    assert (stats.good, stats.skipped, table.column("evidence_line").to_pylist()) == (2, 1, [1, 2])  # type: ignore[attr-defined]


def test_tcp_flags_and_initiator() -> None:
    """The docs' flag sequence: client SYN (2) is the initiator, SYN-ACK (18), 0 and FIN (1) not; SYN+FIN (3) is."""
    table, _ = read("aws_vpc", fixture("aws_vpc", "custom-v3-tcp-flags.log"))
    got = [(r["tcp_flags"], r["initiator"], r["src_port"]) for r in table.to_pylist()]
    assert got == [
        ("SYN", "observed", 43416), ("ACK SYN", None, 5001), (None, None, 43416), ("FIN", None, 5001),
        ("SYN FIN", "observed", 60112),
    ]  # fmt: skip


def test_custom_v5_direction_and_header_switch() -> None:
    """flow-direction ingress/egress -> inbound/outbound; a second header mid-file switches the layout."""
    table, stats = read("aws_vpc", fixture("aws_vpc", "custom-v5-direction.log"))
    assert stats.bad == 0
    assert table.column("direction").to_pylist() == ["outbound", "inbound", "inbound", None]
    assert table.column("evidence_line").to_pylist() == [2, 3, 4, 6]
    last = table.to_pylist()[-1]
    assert (last["protocol"], last["dst_port"], last["bytes_out"]) == ("udp", 53, 73)


def test_bad_records_counted() -> None:
    """Port 70000, a bad address, a bad action, a short line, invalid UTF-8: rejected by line; the rest kept."""
    header, good = fixture("aws_vpc", "default-v2.log").splitlines()[:2]
    data = b"\n".join(
        [
            header,
            good,
            good.replace(b" 22 6 ", b" 70000 6 "),
            good.replace(b"172.31.16.21", b"172.31.16"),
            good.replace(b"ACCEPT", b"MAYBE"),
            good.rsplit(b" ", 3)[0],
            good.replace(b"eni-", b"eni-\xff"),
            good,
        ]
    )
    table, stats = read("aws_vpc", data, label="vpc.log")
    assert table.column("evidence_line").to_pylist() == [2, 8]
    assert stats.kinds == {"bad port": 1, "bad address": 1, "bad value": 1, "malformed line": 1, "invalid UTF-8": 1}
    with pytest.raises(DataError, match=r"vpc\.log:3: bad port: dstport '70000'"):
        read("aws_vpc", data, label="vpc.log", strict=True)


def test_no_header_and_other_shape_is_bad() -> None:
    """Lines without a header that are not the default format cannot be read: each is a bad record."""
    table, stats = read("aws_vpc", b"5 eni-1 10.0.0.1 10.0.0.2 1 2 6\n5 eni-1 10.0.0.1 10.0.0.2 1 2 6\n")
    assert table.num_rows == 0 and stats.kinds == {"malformed line": 2}


def test_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers and records cut across reads give the same rows and line numbers."""
    data = fixture("aws_vpc", "custom-v5-direction.log") + fixture("aws_vpc", "default-v2.log")
    whole, _ = read("aws_vpc", data)
    monkeypatch.setattr(_tabular, "CHUNK_SIZE", 53)
    assert read("aws_vpc", data, batch_size=2)[0].to_pylist() == whole.to_pylist()
    assert whole.num_rows == 9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), max_size=4), st.binary(max_size=200))
def test_fuzz(picks: list[int], noise: bytes) -> None:
    """Damaged records and noise never raise anything but DataError under strict."""
    lines = fixture("aws_vpc", "custom-v3-tcp-flags.log").splitlines()
    for n, pick in enumerate(picks):
        lines[1 + n % 5] = mutations(lines[1 + n % 5])[pick]
    fuzz_once("aws_vpc", b"\n".join(lines) + b"\n" + noise)
    fuzz_once("aws_vpc", noise)


def test_sniff() -> None:
    """A header of field names 100, default-shaped lines 90, anything else 0."""
    assert aws_vpc.sniff(fixture("aws_vpc", "default-v2.log"), "x") == 100
    assert aws_vpc.sniff(fixture("aws_vpc", "custom-v5-direction.log"), "x") == 100
    assert aws_vpc.sniff(fixture("aws_vpc", "cloudwatch-no-header.log"), "x") == 90
    assert aws_vpc.sniff(b"2 hello world\n", "x") == 0
    assert aws_vpc.sniff(fixture("zeek_conn", "zat-bro2-conn.log"), "x") == 0


V3 = fixture("aws_vpc", "custom-v3-tcp-flags.log")
V3_FIELDS = V3.split(b"\n", 1)[0].decode()


def _same_rows(table: Any, reference: Any) -> None:
    """The same flows as the reference, whatever the evidence lines."""
    drop = ("evidence_line",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in table.to_pylist()] == [
        {k: v for k, v in r.items() if k not in drop} for r in reference.to_pylist()
    ]


@pytest.mark.parametrize(
    "fields",
    [
        V3_FIELDS,  # the header as a string
        V3_FIELDS.split(),  # a list
        V3_FIELDS.replace("-", "_").replace(" ", ","),  # Athena's names, comma-separated
        " ".join("${" + name + "}" for name in V3_FIELDS.split()),  # the format string of the flow log itself
    ],
)
def test_custom_format_without_header_needs_and_takes_the_field_list(fields: Any) -> None:
    """A custom (v3) format as CloudWatch Logs holds it, no header line: with the read option ``fields`` (a
    string or a list, hyphens or underscores, bare or ${...}) its 5 records read as with the header. Before:
    0 of 5 read, each a bad record, option or not."""
    data = fixture("aws_vpc", "cloudwatch-custom-v3-no-header.log")
    table, stats = read("aws_vpc", data, options={"fields": fields})
    assert (stats.good, stats.bad) == (5, 0)
    _same_rows(table, read("aws_vpc", V3)[0])
    assert table.column("evidence_line").to_pylist() == [1, 2, 3, 4, 5]


def test_custom_format_without_field_list_says_so() -> None:
    """Without the field list the records are bad ones whose message says what is missing; the file is
    still recognised as a VPC flow log (it was not), so that the user reads that message."""
    data = fixture("aws_vpc", "cloudwatch-custom-v3-no-header.log")
    assert aws_vpc.sniff(data, "x") == 70
    table, stats = read("aws_vpc", data)
    assert (table.num_rows, stats.kinds) == (0, {"malformed line": 5})
    assert "--vpc-fields, the read option 'fields'" in stats.examples[0]


def test_field_list_checked() -> None:
    """A name AWS does not define, a field named twice or a value of another type: UsageError listing the valid ones."""
    with pytest.raises(UsageError, match=r"invalid VPC flow log field 'srcip'; valid ones are: account-id, action"):
        aws_vpc.field_list("version srcip dstaddr")
    with pytest.raises(UsageError, match="twice"):
        aws_vpc.field_list(["srcaddr", "srcaddr"])
    with pytest.raises(UsageError, match="a list of names or a string"):
        aws_vpc.field_list(14)
    assert aws_vpc.field_list("account_id, ${log-status}") == ["account-id", "log-status"]


def test_field_list_then_a_header() -> None:
    """The field list is the layout until a header line in the file names another."""
    data = fixture("aws_vpc", "cloudwatch-custom-v3-no-header.log") + fixture("aws_vpc", "default-v2.log")
    table, stats = read("aws_vpc", data, options={"fields": V3_FIELDS})
    assert table.column("evidence_line").to_pylist()[5:] == [7, 8, 11, 12, 13]  # the header is line 6
    assert (stats.good, stats.bad, stats.skipped) == (10, 0, 2)


def test_cloudwatch_logs_subscription_data_from_firehose() -> None:
    """CloudWatch Logs subscription data as Firehose stores it (objects concatenated without a separator):
    detected, the CONTROL_MESSAGE skipped, every event's record read as the text file reads it. Before:
    not detected; with --format aws_vpc one bad line."""
    data = fixture("aws_vpc", "firehose-cloudwatch-subscription.json")
    assert detect(data, "x") == "aws_vpc"
    table, stats = read("aws_vpc", data)
    assert (stats.good, stats.bad, stats.skipped) == (5, 0, 3)  # the control message, NODATA, SKIPDATA
    _same_rows(table, read("aws_vpc", fixture("aws_vpc", "default-v2.log"))[0])
    assert set(table.column("evidence_line").to_pylist()) == {1}


def test_cloudwatch_logs_forms() -> None:
    """The same data pretty-printed, one object per line, in a JSON array, and as the Lambda event
    (base64 of gzip): the same flows; a custom format's messages take the field list."""
    objects = [json.loads(part) for part in _objects(fixture("aws_vpc", "firehose-cloudwatch-subscription.json"))]
    reference = read("aws_vpc", fixture("aws_vpc", "default-v2.log"))[0]
    lambda_events = [
        {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(o).encode())).decode()}} for o in objects
    ]
    for text in (
        "\n".join(json.dumps(o, indent=2) for o in objects),
        "\n".join(json.dumps(o) for o in objects),
        json.dumps(objects, indent=1),
        "\n".join(json.dumps(e) for e in lambda_events),
    ):
        table, stats = read("aws_vpc", text.encode())
        assert (stats.good, stats.bad) == (5, 0), text[:200]
        _same_rows(table, reference)
    v3 = {"messageType": "DATA_MESSAGE", "logEvents": [{"message": line} for line in V3.decode().splitlines()[1:]]}
    table, stats = read("aws_vpc", json.dumps(v3).encode(), options={"fields": V3_FIELDS})
    assert stats.good == 5
    _same_rows(table, read("aws_vpc", V3)[0])


def _objects(data: bytes) -> list[str]:
    """The JSON objects of concatenated JSON text."""
    decoder, text, out, pos = json.JSONDecoder(), data.decode(), [], 0
    while pos < len(text):
        _, end = decoder.raw_decode(text, pos)
        out.append(text[pos:end])
        pos = end
    return out


def test_json_records_keyed_by_field() -> None:
    """Records whose keys are the fields (underscores or hyphens, JSON numbers, null for "-"): detected and
    read as the text records they came from. Before: not detected; with --format aws_vpc 3 bad lines."""
    data = fixture("aws_vpc", "json-records-v5.jsonl")
    assert detect(data, "x") == "aws_vpc"
    table, stats = read("aws_vpc", data)
    assert (stats.good, stats.bad) == (3, 0)
    text = b"\n".join(fixture("aws_vpc", "custom-v5-direction.log").splitlines()[:4])
    _same_rows(table, read("aws_vpc", text)[0])
    assert table.column("evidence_line").to_pylist() == [1, 2, 3]


def test_json_bad_records_keep_the_rest() -> None:
    """A line cut short, a value that is no port, an object of something else: each a bad record by
    line; the records after them are read; under strict the first one raises."""
    good = fixture("aws_vpc", "json-records-v5.jsonl").splitlines()
    data = b"\n".join(
        [good[0], good[1][:80], good[2].replace(b'"srcport":0', b'"srcport":"http"'), b'{"hello": 1}', good[0]]
    )
    table, stats = read("aws_vpc", data, label="vpc.json")
    assert table.num_rows == 2
    assert stats.examples == [
        "vpc.json:2: malformed JSON: cut short, or not JSON",
        "vpc.json:3: bad port: srcport 'http'",
        "vpc.json:4: malformed line: a JSON object without flow log fields",
    ]
    with pytest.raises(DataError, match=r"vpc\.json:2: malformed JSON"):
        read("aws_vpc", data, label="vpc.json", strict=True)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3000), st.binary(max_size=50))
@example(cut=1042, noise=b"0")  # a time past 2255 (1.44e10 s): its duration in microseconds was no float64
def test_fuzz_json(cut: int, noise: bytes) -> None:
    """Cut and damaged JSON forms never raise anything but DataError under strict."""
    for name in ("firehose-cloudwatch-subscription.json", "json-records-v5.jsonl"):
        data = fixture("aws_vpc", name)
        fuzz_once("aws_vpc", data[: cut % len(data)] + noise + data[cut % len(data) :])


def _both_ways(data: bytes, options: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], Any]:
    return read_both_ways("aws_vpc", data, options=options)


def test_rows_are_the_batches_rows_for_odd_records() -> None:
    """Row mode (explain's pasted line, no pyarrow) keeps, skips and rejects what the batches do, value for
    value: bad address, port, protocol, time, action and status, unset fields, ICMP, IPv6 written long, NODATA;
    text with and without a header, a field list, and JSON records."""
    header, good = fixture("aws_vpc", "default-v2.log").splitlines()[:2]
    odd = [
        good.replace(b"172.31.16.21", b"172.31.16"),
        good.replace(b" 22 6 ", b" 70000 6 "),
        good.replace(b" 22 6 ", b" 22 256 "),
        good.replace(b"1418530070", b"100000000001"),
        good.replace(b"ACCEPT", b"MAYBE"),
        good.replace(b" OK", b" FINE"),
        b"2 123456789010 eni-1 - - - - - - - - - - OK",
        good.replace(b" 20641 22 6 ", b" 0 0 1 "),
        good.replace(b"172.31.16.139 172.31.16.21", b"2001:DB8:0:0:0:0:0:1 ::FFFF:10.0.0.1"),
        b"2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA",
        good.rsplit(b" ", 3)[0],
        good.replace(b"eni-", b"eni-\xff"),
        b"  ",
        good,
    ]
    rows, stats = _both_ways(b"\n".join([header, good, *odd]))
    assert (stats.good, stats.skipped, stats.bad) == (5, 1, 8)
    assert [(r["protocol"], r["src_port"]) for r in rows[1:4]] == [(None, None), ("icmp", None), ("tcp", 20641)]
    assert (rows[3]["src_addr"], rows[3]["dst_addr"]) == ("2001:db8::1", "10.0.0.1")
    assert rows[1]["start"] is None and rows[1]["observer"] == "eni-1"
    _both_ways(b"\n".join([good, *odd]))  # no header: the default format
    _both_ways(b"\n".join(odd), options={"fields": V3_FIELDS})  # a field list these lines do not fit
    _both_ways(V3 + b"\n".join(odd[:3]))
    json_records = [
        {"version": 2, "srcaddr": "10.0.0.1", "dstaddr": "10.0.0.2", "srcport": 1, "dstport": 2, "protocol": 6},
        {"srcaddr": "10.0.0.1", "dstaddr": "10.0.0.2", "srcport": "http", "protocol": 6},
        {"srcaddr": "10.0.0.1", "dstaddr": "10.0.0.2", "srcport": True, "protocol": 6.0, "tcp_flags": 2},
        {"srcaddr": "2001:DB8::1", "dst-addr": "x", "dstaddr": None, "log-status": "NODATA"},
        {"message": good.decode()},
        {"message": "2 3 4"},
        {"messageType": "DATA_MESSAGE", "logEvents": [{"message": odd[0].decode()}, {"message": "2 3 4"}, {"id": 1}]},
    ]
    data = b"".join(json.dumps(record).encode() + b"\n" for record in json_records) + b'{"cut": \n'
    rows, stats = _both_ways(data)
    assert (stats.good, stats.skipped, stats.bad) == (2, 1, 7)
    _, stats = _both_ways(json.dumps(json_records[-1]).encode())  # one line: its split faults come first
    assert [e.split(": ")[1] for e in stats.examples] == ["malformed line", "malformed line", "bad address"]

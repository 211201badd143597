"""The kernel packet LOG source: golden files, psad's real scan logs, bad input, and fast == reference."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.flows import flow_schema
from portscope.sources import ParseStats, ReadContext, iptables
from portscope.sources._kernel_batch import rows_batch
from portscope.sources._syslog import TimeContext
from tests.sources._firewall import OPTIONS, golden, plain_rows, table_of
from tests.sources._flowtest import fuzz_once, mutations, read

FIXTURES = ["ufw_syslog.log", "nftables_iso.log", "journal_json.json", "journal_export.export", "dmesg.txt"]


@pytest.mark.parametrize("name", FIXTURES)
def test_golden(name: str) -> None:
    """Each envelope (syslog RFC 3164/3339, journal JSON and export, dmesg) gives exactly the expected rows."""
    path, expected = golden("iptables", name)
    stats = ParseStats()
    assert plain_rows(table_of(path, "iptables", stats)) == expected
    assert stats.bad == 0


def test_golden_details_by_hand() -> None:
    """A few values checked against the lines themselves, not against the parser's own output."""
    path, _ = golden("iptables", "ufw_syslog.log")
    stats = ParseStats()
    rows = plain_rows(table_of(path, "iptables", stats))
    assert stats.skipped == 3  # sshd, CRON and the e1000e link message
    first = rows[0]
    assert (first["src_addr"], first["src_port"], first["dst_port"], first["bytes_out"]) == (
        "203.0.113.7",
        45678,
        22,
        60,
    )
    assert (first["action"], first["direction"], first["initiator"], first["tcp_flags"]) == (
        "deny",
        "inbound",
        "observed",
        "SYN",
    )
    assert (
        first["start"] == "2025-01-15T10:23:45+00:00"
        and first["observer"] == "web01"
        and first["rule"] == "[UFW BLOCK]"
    )
    by_rule = {row["rule"]: row for row in rows}
    assert by_rule["[UFW ALLOW]"]["action"] == "allow" and "initiator" not in by_rule["[UFW ALLOW]"]
    assert by_rule["[UFW AUDIT]"]["action"] == "unknown" and by_rule["[UFW AUDIT]"]["direction"] == "outbound"
    assert by_rule["[UFW LIMIT BLOCK]"]["action"] == "deny"
    icmp = next(row for row in rows if row["protocol"] == "icmp")
    assert (icmp["icmp_type"], icmp["icmp_code"]) == (8, 0) and "src_port" not in icmp and "dst_port" not in icmp
    forward = rows[-1]
    assert forward["direction"] == "forward" and forward["tcp_flags"] == "ACK RST"


def test_dmesg_times_stay_null_unless_absolute() -> None:
    """dmesg's [seconds] are since boot: no start; dmesg -T's dates are times."""
    path, _ = golden("iptables", "dmesg.txt")
    starts = table_of(path, "iptables").column("start").to_pylist()
    assert starts[:2] == [None, None] and starts[2] is not None


def test_icmp_error_quotes_another_packet() -> None:
    """An ICMP error's bracketed packet does not overwrite the outer addresses, and its ports stay null."""
    path, _ = golden("iptables", "nftables_iso.log")
    rows = plain_rows(table_of(path, "iptables"))
    unreachable = next(row for row in rows if row.get("icmp_type") == 3)
    assert unreachable["src_addr"] == "192.0.2.77" and "src_port" not in unreachable


# psad's regression-test logs: EXPECTED.tsv says what psad reports for each
PSAD_PORTS = {
    "syn_scan_1000_1500": (1000, 1500, "SYN"),
    "fin_scan_1000_1150": (1000, 1150, "FIN"),
    "xmas_scan_1000_1150": (1000, 1150, "URG PSH FIN"),
    "null_scan_1000_1150": (1000, 1150, ""),
    "ack_scan_1000_1150": (1000, 1150, "ACK"),
}


def _psad(shared: Path) -> Path:
    folder = shared / "psad" / "scans"
    if not folder.is_dir():
        pytest.skip("psad's scans are not in the shared data")
    return folder


def test_every_psad_file_parses(shared_data: Path) -> None:
    """Every real iptables log of psad's test suite parses with no bad record and no line skipped."""
    folder = _psad(shared_data)
    with (shared_data / "psad" / "EXPECTED.tsv").open(encoding="utf-8") as tsv:
        expected_files = {row["file"] for row in csv.DictReader(tsv, delimiter="\t")}
    for path in sorted(folder.iterdir()):
        stats = ParseStats()
        table = table_of(path, "iptables", stats, year=2015)
        lines = len(path.read_bytes().splitlines())
        assert (stats.bad, stats.skipped, table.num_rows) == (0, 0, lines), (path.name, stats.examples)
        assert path.name in expected_files


@pytest.mark.parametrize("name", sorted(PSAD_PORTS))
def test_psad_scans_ports_and_source(shared_data: Path, name: str) -> None:
    """EXPECTED.tsv: e.g. syn_scan_1000_1500 -> ports 1000-1500 scanned from 192.168.10.55."""
    low, high, flags = PSAD_PORTS[name]
    table = table_of(_psad(shared_data) / name, "iptables", year=2015)
    scan = table.filter(pc.equal(table.column("src_addr"), "192.168.10.55"))
    assert scan.num_rows >= table.num_rows - 1  # the null scan log holds one reply from the target
    ports = scan.column("dst_port")
    assert (pc.min(ports).as_py(), pc.max(ports).as_py()) == (low, high)
    assert set(scan.column("tcp_flags").to_pylist()) == {flags}
    initiators = set(scan.column("initiator").to_pylist())
    assert initiators == ({"observed"} if flags == "SYN" else {None})
    assert set(scan.column("action").to_pylist()) == {"deny"}


def test_psad_other_cases(shared_data: Path) -> None:
    """Protocol scan, fwknop's UDP/62201, ICMP type/code, IGMP, Mirai's 23/2323 and the ISO syslog time."""
    folder = _psad(shared_data)
    proto = table_of(folder / "proto_scan", "iptables", year=2015)
    assert len(set(proto.column("ip_proto").to_pylist())) > 200
    fwknop = plain_rows(table_of(folder / "fwknop_spa_pkt", "iptables", year=2015))[0]
    assert (fwknop["protocol"], fwknop["dst_port"], fwknop["bytes_out"]) == ("udp", 62201, 189)
    icmp = table_of(folder / "invalid_icmp_type_code", "iptables", year=2015)
    assert set(zip(icmp.column("icmp_type").to_pylist(), icmp.column("icmp_code").to_pylist(), strict=True)) == {(8, 2)}
    assert icmp.column("src_port").null_count == icmp.num_rows
    igmp = table_of(folder / "ipv4_igmp", "iptables", year=2015)
    assert (
        set(igmp.column("protocol").to_pylist()) == {"igmp"}
        and igmp.column("rule").to_pylist()[0] == "Shorewall:wlan0_mac:DROP:"
    )
    mirai = table_of(folder / "mirai_default_credentials_scan", "iptables", year=2015)
    assert set(mirai.column("dst_port").to_pylist()) == {23, 2323}
    iso = plain_rows(table_of(folder / "syslog_time_fmt1.log", "iptables"))
    assert iso[0]["observer"] == "servername" and iso[0]["start"] == "2015-03-07T03:09:30.045015+00:00"


K = b"Jan 15 10:23:45 h kernel: DROP IN=eth0 OUT= SRC="
BAD_LINES = [
    (
        K + b"999.1.1.1 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=1 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=1 RES=0x00 SYN"
        b" URGP=0",
        "invalid address",
    ),
    (
        K + b"192.0.2.9 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=1 ID=1 PROTO=UDP SPT=70000 DPT=53 LEN=20",
        "invalid port",
    ),
    (K + b"192.0.2.9 DST=", "invalid address"),
    (
        K + b"192.0.2.9 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=1 ID=1 PROTO=TCP SPT=1",
        "truncated record",
    ),
    (b"Jan 15 10:23:45 h kernel: DROP IN=eth0 OU", "truncated record"),
    (
        K + b"192.0.2.9 DST=192.0.2.1 LEN=x PROTO=UDP SPT=1 DPT=2 LEN=8",
        "invalid number",
    ),
    (K + b"192.0.2.9 DST=192.0.2.1 LEN=40 PROTO=BOGUS", "invalid protocol"),
    (b"Feb 30 10:23:45 h kernel: DROP IN=eth0 OUT= SRC=192.0.2.9 DST=192.0.2.1 LEN=40 PROTO=2", "invalid timestamp"),
    (K + b"192.0.2.9 DST=2001:db8::1 LEN=40 PROTO=2", "invalid address"),
]


@pytest.mark.parametrize(("line", "kind"), BAD_LINES)
def test_bad_records_are_counted_by_kind(line: bytes, kind: str) -> None:
    """A line meant as a packet log that cannot be one is a bad record of the right kind, not a crash."""
    table, stats = read("iptables", line + b"\n")
    assert (table.num_rows, stats.bad, dict(stats.kinds)) == (0, 1, {kind: 1})
    assert stats.examples[0].startswith("t.log:1: ")
    with pytest.raises(DataError, match=r"t\.log:1: "):
        read("iptables", line + b"\n", strict=True)


def test_non_log_lines_are_skipped_not_bad() -> None:
    """Other programs' lines, blank lines and other kernel messages are skipped and counted as such."""
    data = b"Jan 15 10:23:45 h sshd[1]: Accepted publickey for root\n\nJan 15 10:23:46 h kernel: usb 1-1: new device\n"
    table, stats = read("iptables", data)
    assert (table.num_rows, stats.bad, stats.skipped) == (0, 0, 3)


def test_crlf_invalid_utf8_and_binary() -> None:
    """CRLF endings read like LF; a non-UTF-8 prefix is replaced, not fatal; NUL-laden garbage is skipped."""
    path, expected = golden("iptables", "ufw_syslog.log")
    crlf = path.read_bytes().replace(b"\n", b"\r\n")
    table, stats = read("iptables", crlf, options=OPTIONS)
    assert plain_rows(table) == expected
    line = path.read_bytes().splitlines()[0].replace(b"[UFW BLOCK]", b"[UFW \xff BLOCK]")
    table, stats = read("iptables", line + b"\n\x00\x01\x02\xff\xfe garbage\n", options=OPTIONS)
    assert table.column("rule").to_pylist() == ["[UFW \ufffd BLOCK]"] and stats.bad == 0 and stats.skipped == 1


def test_year_and_timezone_options() -> None:
    """RFC 3164 has no year or zone: the year is the latest not in the future, the zone UTC unless given."""
    line = K + b"192.0.2.9 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=1 ID=1 PROTO=2 \n"
    table, _ = read("iptables", line, options={"year": 2020, "timezone": "Europe/Paris"})
    assert table.column("start")[0].as_py().isoformat() == "2020-01-15T09:23:45+00:00"
    table, _ = read("iptables", line)
    start = table.column("start")[0].as_py()
    now = datetime.now(timezone.utc)
    assert now - timedelta(days=366) <= start <= now + timedelta(days=1)


def test_sniff() -> None:
    path, _ = golden("iptables", "ufw_syslog.log")
    assert iptables.sniff(path.read_bytes(), "x") == 90
    assert iptables.sniff(b"Jan 15 10:23:45 h sshd[1]: hello\n", "x") == 0


# ---- the fast path and the reference parser must agree on anything


def _reference(data: bytes) -> tuple[list[dict[str, Any]], ParseStats]:
    """Every line through the token-by-token reference parser only."""
    stats = ParseStats()
    context = ReadContext("t.log", stats, options=OPTIONS)
    times = TimeContext(OPTIONS)
    rows = []
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        row = iptables._parse_line(line, number, context, times)
        if row is None:
            stats.count_skipped(1)
        elif row is not False:
            rows.append(row)
    table = (
        pa.Table.from_batches([rows_batch(rows, "t.log")], schema=flow_schema())
        if rows
        else pa.Table.from_batches([], schema=flow_schema())
    )
    return table.to_pylist(), stats


def _agree(lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    table, stats = read("iptables", data, options=OPTIONS)
    expected, reference = _reference(data)
    assert table.to_pylist() == expected
    assert (stats.bad, dict(stats.kinds), stats.skipped) == (reference.bad, dict(reference.kinds), reference.skipped)


def _sample_lines() -> list[bytes]:
    from tests.sources._flowtest import DATA

    lines = []
    for name in ("ufw_syslog.log", "nftables_iso.log", "dmesg.txt"):
        lines += (DATA / "iptables" / name).read_bytes().splitlines()
    return lines


SAMPLES = _sample_lines()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(range(len(SAMPLES))), st.integers(-1, 5), st.integers(0, 300)),
        min_size=1,
        max_size=12,
    )
)
def test_fast_path_agrees_with_reference(picks: list[tuple[int, int, int]]) -> None:
    """Real-format lines, whole or damaged (cut, doubled tabs, bad bytes, huge numbers), read the same both ways."""
    lines = []
    for index, how, cut in picks:
        line = SAMPLES[index]
        if how >= 0:
            line = mutations(line)[how]
        elif cut:
            line = line[: cut % (len(line) + 1)]
        lines.append(line)
    _agree(lines)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(range(len(SAMPLES))), min_size=1, max_size=5), st.data())
def test_fast_path_agrees_on_byte_edits(picks: list[int], data: st.DataObject) -> None:
    """Single-byte edits anywhere in a line (a digit, a space, '=', ':', a letter) never make the paths differ."""
    lines = []
    for index in picks:
        line = bytearray(SAMPLES[index])
        at = data.draw(st.integers(0, len(line) - 1))
        line[at] = data.draw(st.sampled_from(b"09 =:.[]-Aa\t\xff"))
        lines.append(bytes(line))
    _agree(lines)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(blob: bytes) -> None:
    """Random bytes: lenient never raises, strict raises only DataError."""
    fuzz_once("iptables", blob, options=OPTIONS)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(len(SAMPLES))), st.integers(0, 5))
def test_fuzz_mutated_real_lines(index: int, how: int) -> None:
    fuzz_once("iptables", mutations(SAMPLES[index])[how] + b"\n", options=OPTIONS)


def test_journal_export_binary_and_truncated() -> None:
    """A cut binary field in journal export format is one bad record; the entries before it still count."""
    path, _ = golden("iptables", "journal_export.export")
    data = path.read_bytes()
    cut = data[: data.index(b"MESSAGE\n") + 12]
    table, stats = read("iptables", cut, options=OPTIONS)
    assert table.num_rows == 1 and stats.kinds["truncated record"] == 1


def test_large_block_in_order() -> None:
    """Many lines mixing fast and reference rows come out in line order, one row per packet line."""
    lines = SAMPLES * 400
    data = b"".join(line + b"\n" for line in lines)
    table, _ = read("iptables", data, options=OPTIONS, batch_size=1000)
    numbers = table.column("evidence_line").to_pylist()
    assert numbers == sorted(numbers) and len(numbers) == len(set(numbers))


INSERTS = [
    b"[x",
    b"]",
    b"PROTO=1",
    b"UID=5",
    b"RES=0x00",
    b"SPT=9",
    b"URGP=0",
    b"SYN",
    b"ACK",
    b"ID=1",
    b"FRAG:8",
    b"IN=x",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(range(len(SAMPLES))), min_size=1, max_size=4), st.data())
def test_fast_path_agrees_on_inserted_and_dropped_tokens(picks: list[int], data: st.DataObject) -> None:
    """A token added or dropped anywhere (a stray bracket, a second PROTO=, UID=, RES=) never splits the paths.

    The fast path reads values by position; the reference by key, first occurrence, skipping bracketed
    packets after PROTO: this is where they could disagree.
    """
    lines = []
    for index in picks:
        tokens = SAMPLES[index].split(b" ")
        at = data.draw(st.integers(0, len(tokens)))
        if data.draw(st.booleans()) and at < len(tokens):
            del tokens[at]
        else:
            tokens.insert(at, data.draw(st.sampled_from(INSERTS)))
        lines.append(b" ".join(tokens))
    _agree(lines)

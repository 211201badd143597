"""The synthetic generators the analyze tests and benchmarks rely on: same seed same data, schema-true,
and every attack the ground truth names is really in the data (a benchmark that scores a detector
against a scan that is not there measures nothing)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from portscope.flows import flow_schema
from tests.analyze.synthetic import Expected, GroundTruth, flow_table
from tests.analyze.synthetic_logs import iptables_log

N_FLOWS = 60_000
N_LINES = 20_000


@pytest.fixture(scope="module")
def flows() -> tuple[pa.Table, GroundTruth]:
    return flow_table(N_FLOWS, seed=3)


def _rows(table: pa.Table, src: str) -> pa.Table:
    return table.filter(pc.equal(table.column("src_addr"), src))


def test_flow_table_is_deterministic_and_schema_true(flows: tuple[pa.Table, GroundTruth]) -> None:
    table, truth = flows
    again, truth_again = flow_table(N_FLOWS, seed=3)
    assert table.schema.equals(flow_schema(), check_metadata=False)
    assert table.num_rows == N_FLOWS == truth.rows
    assert table.equals(again)
    assert truth == truth_again
    assert not table.equals(flow_table(N_FLOWS, seed=4)[0])
    starts = table.column("start")
    assert pc.all(pc.less_equal(starts.slice(0, N_FLOWS - 1), starts.slice(1))).as_py()  # sorted like a log
    assert table.column("evidence_line").to_pylist()[:3] == [1, 2, 3]
    assert set(table.column("initiator").to_pylist()) == {"observed"}


def test_flow_ground_truth_is_in_the_data(flows: tuple[pa.Table, GroundTruth]) -> None:
    table, truth = flows
    kinds = {e.kind for e in truth.expected}
    assert kinds == {"vertical_scan", "horizontal_scan", "beaconing", "ephemeral_exhaustion", "brute_force"}
    for e in truth.expected:
        rows = _rows(table, e.src)
        if e.dst is not None:
            rows = rows.filter(pc.equal(rows.column("dst_addr"), e.dst))
        if e.port is not None:
            rows = rows.filter(pc.equal(rows.column("dst_port"), e.port))
        ports = len(pc.unique(rows.column("dst_port")))
        hosts = len(pc.unique(rows.column("dst_addr")))
        if e.kind == "vertical_scan":
            assert ports >= 1000, e
        elif e.kind == "horizontal_scan":
            assert hosts >= 500, e
        elif e.kind == "beaconing":
            starts = pc.cast(rows.column("start").combine_chunks(), pa.int64()).to_numpy()
            gaps = np.diff(starts) / 1e6
            assert len(gaps) >= 200 and abs(gaps.mean() - round(gaps.mean(), -1)) < 5, e  # 60 s or 300 s
            assert gaps.min() >= 0.85 * gaps.mean() and gaps.max() <= 1.15 * gaps.mean(), e  # +-10% jitter
        elif e.kind == "ephemeral_exhaustion":
            assert len(pc.unique(rows.column("src_port"))) >= 20_000, e
        else:
            assert rows.num_rows >= 300 and e.port == 22, e
    scanners = {e.src for e in truth.expected}
    assert not scanners & truth.background
    assert len(truth.background) > 300


def test_slow_scan_is_slow(flows: tuple[pa.Table, GroundTruth]) -> None:
    """One vertical scan probes a port a minute for hours: no burst to catch it by."""
    table, truth = flows
    spans = []
    for e in truth.expected:
        if e.kind == "vertical_scan":
            starts = _rows(table, e.src).column("start")
            spans.append((pc.max(starts).as_py() - pc.min(starts).as_py()).total_seconds())
    assert max(spans) > 10 * 3600
    assert min(spans) < 3600


def test_score_matches_kind_source_and_target() -> None:
    _, truth = flow_table(N_FLOWS, seed=3)
    first: Expected = truth.expected[0]
    background = sorted(truth.background)[0]
    score = truth.score([(first.kind, first.src, first.dst, None), ("vertical_scan", background, "10.0.0.1", None)])
    assert score.found == (first,)
    assert score.flagged_background == (background,)
    assert truth.score([(first.kind, first.src, "192.0.2.99", None)]).found == ()


FLAGS = re.compile(r" RES=0x00 ([A-Z ]*?) ?URGP=")
HEADER = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d fw1 kernel: \[\s*\d+\.\d{6}\] ")


def test_iptables_log_is_deterministic_and_holds_its_scans(tmp_path: Path) -> None:
    one, two = tmp_path / "one.log", tmp_path / "two.log"
    truth = iptables_log(one, N_LINES, seed=5)
    assert iptables_log(two, N_LINES, seed=5) == truth
    assert one.read_bytes() == two.read_bytes()
    lines = one.read_text(encoding="ascii").splitlines()
    assert len(lines) == N_LINES == truth.rows
    ports: dict[tuple[str, str], set[int]] = defaultdict(set)  # SYN, FIN, NULL, XMAS probes: not replies
    hosts: dict[tuple[str, int], set[str]] = defaultdict(set)
    flags: dict[str, set[str]] = defaultdict(set)
    sources = set()
    for line in lines:
        assert HEADER.match(line), line
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        sources.add(fields["SRC"])
        match = FLAGS.search(line)
        if fields["PROTO"] == "TCP" and match is not None:
            flags[fields["SRC"]].add(match.group(1))
            if "ACK" not in match.group(1) and "RST" not in match.group(1):
                ports[fields["SRC"], fields["DST"]].add(int(fields["DPT"]))
                hosts[fields["SRC"], int(fields["DPT"])].add(fields["DST"])
    assert sources == truth.background | truth.scanners
    assert not truth.background & truth.scanners
    for e in truth.expected:
        if e.kind == "vertical_scan":
            assert e.dst is not None and len(ports[e.src, e.dst]) >= 1000, e
        else:
            assert e.kind == "horizontal_scan" and e.port is not None and len(hosts[e.src, e.port]) >= 300, e
    assert set().union(*(flags[e.src] for e in truth.expected)) == {"SYN", "FIN", "", "URG PSH FIN"}
    # background: no source probes more than three ports of one host, or one port on more than two hosts
    assert max(len(seen) for (src, _), seen in ports.items() if src in truth.background) <= 3
    assert max(len(seen) for (src, _), seen in hosts.items() if src in truth.background and src != "203.0.113.1") <= 2

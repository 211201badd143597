"""The contract every declared detection keeps (psutil's test_contracts.py is the model): it reads the
columns it declares and no others, its findings carry the finding columns and its keys, its members
carry its keys, and it gives only the severities it declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from portscope.analyze.detections import DETECTIONS
from portscope.analyze.engine import Materialised, connect
from portscope.analyze.findings import FINDING_COLUMNS, DetectionInput, DetectionRule, collect_findings
from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.pairs import fold
from portscope.analyze.prepare import STORED, prepare, with_sides
from portscope.findings import Severity
from tests.analyze.synthetic import flow_table

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def inputs() -> Iterator[tuple[Any, Any, Any, AnalyzeOptions]]:
    """A connection, the prepared flows (a day of synthetic traffic with every attack embedded), their fold."""
    table, _ = flow_table(60_000)
    options = AnalyzeOptions()
    con = connect("duckdb")
    con.con.register("synthetic_flows", table)
    flows = Materialised(prepare(con.table("synthetic_flows"), options).select(*STORED))
    f = with_sides(flows.table)
    pairs = Materialised(fold(f))
    try:
        yield con, f, pairs.table, options
    finally:
        pairs.release()
        flows.release()
        con.disconnect()


def _data(f: Any, pairs: Any, options: AnalyzeOptions) -> DetectionInput:
    return DetectionInput(f, pairs, options, f)  # the flows as their own baseline: every rule runs


def test_the_list_is_ordered_and_its_codes_unique() -> None:
    codes = [rule.code for rule in DETECTIONS]
    assert len(set(codes)) == len(codes)
    assert codes[:3] == ["vertical_scan", "horizontal_scan", "protocol_scan"]  # scans first, as reports read
    assert [r.code for r in DETECTIONS if r.needs_baseline] == ["new_port"]


@pytest.mark.parametrize("rule", DETECTIONS, ids=lambda r: r.code)
def test_it_builds_from_its_declared_columns_alone_and_needs_each_of_them(
    rule: DetectionRule, inputs: tuple[Any, Any, Any, AnalyzeOptions]
) -> None:
    """Given only the columns it declares, the detection builds; without any one of them, it cannot."""
    _, f, pairs, options = inputs
    reads = set(rule.reads)
    assert reads <= set(f.columns) | set(pairs.columns), sorted(reads - set(f.columns) - set(pairs.columns))

    def narrowed(without: str | None = None) -> DetectionInput:
        keep_f = [c for c in f.columns if c in reads and c != without]
        keep_p = [c for c in pairs.columns if c in reads and c != without]
        flows, folded = f.select(*keep_f), pairs.select(*keep_p) if keep_p else pairs.select(pairs.flows)
        return DetectionInput(flows, folded, options, flows)

    rule.detect(narrowed())
    unneeded = []
    for column in rule.reads:
        try:
            rule.detect(narrowed(without=column))
        except Exception:  # noqa: S112 - Ibis says a column is missing in several ways
            continue
        unneeded.append(column)
    assert not unneeded, f"{rule.code} declares columns it builds without: {unneeded}"


@pytest.mark.parametrize("rule", DETECTIONS, ids=lambda r: r.code)
def test_findings_and_members_carry_the_keys(rule: DetectionRule, inputs: tuple[Any, Any, Any, AnalyzeOptions]) -> None:
    _, f, pairs, options = inputs
    found = rule.detect(_data(f, pairs, options))
    assert set(FINDING_COLUMNS) | set(rule.keys) <= set(found.findings.columns), rule.code
    assert set(rule.keys) <= set(found.members.columns), rule.code
    assert {"client_is_src", "client", "server", "t", "file", "line"} <= set(found.members.columns)
    assert rule.severities and all(isinstance(s, Severity) for s in rule.severities)


def test_every_finding_on_attack_traffic_has_a_declared_severity(inputs: tuple[Any, Any, Any, AnalyzeOptions]) -> None:
    """Run them all on the synthetic day: each finding's severity is one its rule declares, and the
    detections that the day embeds (scans, beacons, exhaustion, brute force) all find something."""
    con, f, pairs, options = inputs
    data = _data(f, pairs, options)
    found = collect_findings(con, [(rule, rule.detect(data)) for rule in DETECTIONS], 3)
    by_code = {rule.code: rule for rule in DETECTIONS}
    for finding in found:
        assert finding.severity in by_code[finding.code].severities, (finding.code, finding.severity)
        assert finding.evidence and finding.count is not None and finding.count >= 1
    assert {"vertical_scan", "horizontal_scan", "beaconing", "ephemeral_exhaustion", "brute_force"} <= {
        finding.code for finding in found
    }

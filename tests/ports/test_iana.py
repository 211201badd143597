"""The IANA registry index: current with the shipped CSV, complete, and exact in its look-ups."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest

from portscope.errors import DataError
from portscope.ports.iana import DATA_DIR as DATA_DIR_TEXT
from portscope.ports.iana import INDEX_NAME, registry
from portscope.ports.iana_build import CSV_NAME, build_index

DATA_DIR = Path(DATA_DIR_TEXT)


def _csv_rows() -> list[dict[str, str]]:
    text = (DATA_DIR / CSV_NAME).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_shipped_index_is_built_from_shipped_csv() -> None:
    """Protects against editing the CSV (or the builder) and forgetting scripts/refresh_iana.py."""
    assert (DATA_DIR / INDEX_NAME).read_text(encoding="utf-8") == build_index((DATA_DIR / CSV_NAME).read_bytes())


def test_shipped_csv_matches_shared_copy(shared_data) -> None:  # type: ignore[no-untyped-def]
    """The package's copy is the registry snapshot in ../shared/data/iana (until refreshed on purpose)."""
    shared = (shared_data / "iana" / "service-names-port-numbers.csv").read_bytes()
    assert hashlib.sha256(shared).hexdigest() == registry().csv_sha256


def test_every_csv_row_with_a_port_is_found() -> None:
    """Every registry row is reachable by port (single ports and ranges alike), with its fields intact."""
    reg = registry()
    rows = _csv_rows()
    assert reg.rows == len(rows) == 14499
    checked = 0
    for row in rows:
        port_field = row["Port Number"].strip()
        if not port_field:
            continue
        low = int(port_field.split("-")[0])
        proto = row["Transport Protocol"].strip().lower() or None
        found = reg.lookup(low)
        descriptions = {" ".join(row["Description"].split())}
        assert any(e.protocol == proto and e.description in descriptions for e in found), row
        checked += 1
    assert checked == 13444


@pytest.mark.parametrize(
    ("port", "proto", "names"),
    [
        (22, "tcp", {"ssh"}),
        (443, "udp", {"https"}),
        (5353, "udp", {"mdns"}),
        (6010, "tcp", {"x11"}),  # inside the 6000-6063 range row
        (0, "tcp", set()),
        (56744, "tcp", set()),
        (65535, "udp", set()),
    ],
)
def test_lookup_by_port(port: int, proto: str, names: set[str]) -> None:
    found = registry().lookup(port, proto)
    assert {e.name for e in found if e.assigned} == names
    assert all(e.protocol in (proto, None) for e in found)


def test_port_zero_is_reserved_and_dynamic_range_is_absent() -> None:
    assert [e.description for e in registry().lookup(0, "tcp")] == ["Reserved"]
    assert registry().lookup(49152) == ()


def test_lookup_by_name_is_case_insensitive() -> None:
    reg = registry()
    assert {(e.low, e.protocol) for e in reg.by_name("SSH")} == {(22, "tcp"), (22, "udp"), (22, "sctp")}
    assert {(e.low, e.high) for e in reg.by_name("x11")} == {(6000, 6063)}
    assert reg.by_name("no-such-service-xyz") == ()
    assert reg.by_name("") == ()


def test_in_range_matches_a_linear_scan() -> None:
    """The bisection in in_range finds exactly what a walk of the CSV finds."""
    rows = _csv_rows()
    for low, high in [(440, 445), (0, 5), (49000, 49200), (1, 1), (60000, 65535), (6001, 6002)]:
        expected = set()
        for row in rows:
            field = row["Port Number"].strip()
            if not field:
                continue
            lo, _, hi = field.partition("-")
            if int(lo) <= high and int(hi or lo) >= low:
                expected.add(
                    (int(lo), int(hi or lo), row["Transport Protocol"].lower() or None, row["Service Name"] or None)
                )
        got = {(e.low, e.high, e.protocol, e.name) for e in registry().in_range(low, high)}
        assert got == expected, (low, high)


def test_corrupt_index_is_a_data_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.idx"
    bad.write_text("not an index\n")
    with pytest.raises(DataError, match="not a portscope IANA index"):
        registry(str(bad))
    with pytest.raises(DataError, match="cannot read"):
        registry(str(tmp_path / "missing.idx"))


def test_builder_names_the_bad_line() -> None:
    header = (
        "Service Name,Port Number,Transport Protocol,Description,Reference,Unauthorized Use Reported,Assignment Notes\n"
    )
    with pytest.raises(DataError, match=r"x\.csv:3: Port Number 'eighty'"):
        build_index((header + "http,80,tcp,Web,,,\nbad,eighty,tcp,Oops,,,\n").encode(), source_name="x.csv")
    with pytest.raises(DataError, match="missing columns"):
        build_index(b"a,b\n1,2\n", source_name="x.csv")
    with pytest.raises(DataError, match="out of 0-65535"):
        build_index((header + "big,70000,tcp,Too big,,,\n").encode(), source_name="x.csv")

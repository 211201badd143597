"""Community ID v1 against the specification's own baselines (tests/data/community-id, BSD-3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portscope.community_id import community_id

DATA = Path(__file__).parent / "data" / "community-id"


@pytest.mark.parametrize(
    ("name", "seed", "b64"),
    [("baseline_deflt.json", 0, True), ("baseline_seed1.json", 1, True), ("baseline_nob64.json", 0, False)],
)
def test_spec_baselines(name: str, seed: int, b64: bool) -> None:
    cases = json.loads((DATA / name).read_text())
    assert len(cases) == 23
    for case in cases:
        got = community_id(
            case["saddr"],
            case["daddr"],
            case["proto"],
            case.get("sport"),
            case.get("dport"),
            seed=seed,
            base64_encoded=b64,
        )
        assert got == case["communityid"], case


@pytest.mark.parametrize(
    ("src", "dst", "proto", "sport", "dport", "expected"),
    [
        ("1.2.3.4", "5.6.7.8", 6, 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
        ("5.6.7.8", "1.2.3.4", 6, 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
        ("1.2.3.4", "5.6.7.8", 17, 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
        ("1.2.3.4", "5.6.7.8", 132, 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="),
        ("1.2.3.4", "5.6.7.8", 1, 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),  # echo request
        ("5.6.7.8", "1.2.3.4", 1, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),  # ... and its reply
        ("1.2.3.4", "5.6.7.8", 1, 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="),  # one-way: time exceeded
        ("fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 58, 128, 0,
         "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="),
        ("fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 58, 146, 0,
         "1:fYC8+pz24E+EhANP1EZhpX0Dw10="),
        ("1.2.3.4", "5.6.7.8", 46, None, None, "1:ikv3kmf89luf73WPz1jOs49S768="),  # RSVP: no ports
        ("5.6.7.8", "1.2.3.4", 46, None, None, "1:ikv3kmf89luf73WPz1jOs49S768="),
    ],
)  # fmt: skip
def test_spec_readme_tables(
    src: str, dst: str, proto: int, sport: int | None, dport: int | None, expected: str
) -> None:
    """The hand-checked table of the spec's baseline README, default settings."""
    assert community_id(src, dst, proto, sport, dport) == expected


def test_bad_address_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        community_id("999.1.1.1", "1.2.3.4", 6, 1, 2)

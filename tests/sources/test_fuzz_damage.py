"""Every registered source over damaged copies of its fixtures: never a traceback, never a lost record.

Issue 11's "done when": each source reads its fixtures cut short and with bytes flipped, and their
gzip, bzip2, xz and zstd forms cut short, followed by garbage and with a byte flipped, and

- nothing raises but DataError, and that only under strict (lenient reading counts bad records and
  passes over inputs it cannot read);
- no record a decompressor recovers is lost: the damaged compressed file gives the records of the
  plain bytes the streaming decompressor itself produced before the damage (those bytes read as a
  plain file), and its damage is one more bad record;
- for captures, the packets read are the frames tshark reads from those bytes (when tshark is here).

The fixtures are the contract test's (tests/sources/test_sniffers.FIXTURES). By default one fixture per
source; the ``slow`` variants take them all, and many more random damages.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portscope.errors import DataError
from portscope.sources import SOURCE_NAMES
from portscope.sources._inputs import InputFile, open_input
from tests.sources._damage import COMPRESS, damages, how_to_read, packets_seen, read_file, row_set, tshark_frames
from tests.sources._flowtest import DATA
from tests.sources.test_sniffers import FIXTURES

ONE_PER_SOURCE = [next(f for f in FIXTURES if f[0] == name) for name in SOURCE_NAMES]
_ID = {path: f"{owner}:{path.name}" for owner, path in FIXTURES}


def plain_damages(data: bytes) -> dict[str, bytes]:
    """A fixture cut at a third, at two thirds, one byte short, and with a byte flipped at a quarter
    and in the middle."""
    damaged = {
        "cut at 1/3": data[: len(data) // 3],
        "cut at 2/3": data[: 2 * len(data) // 3],
        "one byte short": data[:-1],
    }
    for name, at in (("flip at 1/4", len(data) // 4), ("flip at 1/2", len(data) // 2)):
        flipped = bytearray(data)
        flipped[at] ^= 0xFF
        damaged[name] = bytes(flipped)
    return damaged


def check_plain(owner: str, fixture: Path, data: bytes, folder: Path) -> None:
    """Lenient reading raises nothing and counts every record good or bad; strict raises only DataError."""
    path = folder / fixture.name
    path.write_bytes(data)
    fmt, options = how_to_read(owner, fixture)
    table, stats = read_file(path, format=fmt, options=options)
    assert table.num_rows == stats.good
    try:
        read_file(path, format=fmt, options=options, strict=True)
    except DataError as error:
        assert str(error).startswith(str(path)), error


def recovered(path: Path) -> tuple[bytes, list[str]]:
    """The plain bytes the streaming decompressor gives for ``path``, and the damage it reported."""
    damage: list[str] = []
    try:
        stream, _ = open_input(InputFile(str(path), str(path)), lambda kind, detail: damage.append(kind))
    except DataError:
        return b"", damage
    with stream:
        return stream.read(), damage


def check_compressed(owner: str, fixture: Path, data: bytes, folder: Path) -> None:
    """The damaged compressed file reads as the bytes its decompressor recovered, less nothing."""
    fmt, options = how_to_read(owner, fixture)
    damaged = folder / (fixture.name + ".z")
    damaged.write_bytes(data)
    table, stats = read_file(damaged, format=fmt, options=options)
    plain_bytes, damage = recovered(damaged)
    plain = folder / fixture.name
    plain.write_bytes(plain_bytes)
    expected, expected_stats = read_file(plain, format=fmt, options=options)
    assert row_set(table) == row_set(expected)
    assert stats.good == expected_stats.good == table.num_rows
    if not stats.skipped_inputs and not expected_stats.skipped_inputs:
        assert stats.kinds - expected_stats.kinds == dict.fromkeys(damage, 1), (stats.kinds, damage)
    try:
        read_file(damaged, format=fmt, options=options, strict=True)
    except DataError as error:
        assert str(error).startswith(str(damaged)), error
    read_whole = not stats.skipped_inputs and expected_stats.bad == expected_stats.kinds["truncated record"]
    if owner == "pcap" and read_whole and agrees_with_tshark(fixture):
        frames = tshark_frames(plain)
        if frames is not None:
            assert packets_seen(table, stats) == frames


@cache
def agrees_with_tshark(fixture: Path) -> bool:
    """Whether the packets read from the whole capture are tshark's frames (not so for tunnels, whose
    inner packets are counted too)."""
    table, stats = read_file(fixture)
    return tshark_frames(fixture) in (None, packets_seen(table, stats))


def _matrix(fixtures: list[tuple[str, Path]]) -> list[tuple[str, Path, str | None]]:
    return [(owner, path, codec) for owner, path in fixtures for codec in (None, *COMPRESS)]


def _run(owner: str, fixture: Path, codec: str | None, folder: Path) -> None:
    raw = fixture.read_bytes()
    if codec is None:
        for data in plain_damages(raw).values():
            check_plain(owner, fixture, data, folder)
    else:
        for data in damages(COMPRESS[codec](raw)).values():
            check_compressed(owner, fixture, data, folder)


@pytest.mark.parametrize(
    ("owner", "fixture", "codec"),
    _matrix(ONE_PER_SOURCE),
    ids=[f"{_ID[p]}:{c or 'plain'}" for _, p, c in _matrix(ONE_PER_SOURCE)],
)
def test_damaged_fixture(tmp_path: Path, owner: str, fixture: Path, codec: str | None) -> None:
    """One fixture per source, plain and in each compression, damaged each way."""
    _run(owner, fixture, codec, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("owner", "fixture", "codec"),
    _matrix(FIXTURES),
    ids=[f"{_ID[p]}:{c or 'plain'}" for _, p, c in _matrix(FIXTURES)],
)
def test_damaged_fixture_all(tmp_path: Path, owner: str, fixture: Path, codec: str | None) -> None:
    """Every fixture of every source, plain and in each compression, damaged each way."""
    _run(owner, fixture, codec, tmp_path)


@st.composite
def random_damage(draw: st.DrawFn, fixtures: list[tuple[str, Path]]) -> tuple[str, Path, str | None, bytes]:
    """A fixture, maybe compressed, cut or flipped at a random byte, or followed by random garbage."""
    owner, fixture = draw(st.sampled_from(fixtures))
    codec = draw(st.sampled_from([None, *COMPRESS]))
    data = fixture.read_bytes()
    data = data if codec is None else COMPRESS[codec](data)
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    how = draw(st.sampled_from(["cut", "flip", "garbage"]))
    if how == "cut":
        data = data[:at]
    elif how == "flip":
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    else:
        data += draw(st.binary(min_size=1, max_size=64))
    return owner, fixture, codec, data


def _check_random(case: tuple[str, Path, str | None, bytes]) -> None:
    owner, fixture, codec, data = case
    with tempfile.TemporaryDirectory() as folder:
        if codec is None:
            check_plain(owner, fixture, data, Path(folder))
        else:
            check_compressed(owner, fixture, data, Path(folder))


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_damage(ONE_PER_SOURCE))
def test_random_damage(case: tuple[str, Path, str | None, bytes]) -> None:
    _check_random(case)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(random_damage(FIXTURES))
def test_random_damage_all(case: tuple[str, Path, str | None, bytes]) -> None:
    _check_random(case)


def test_windows_events_bad_time_is_a_bad_record(tmp_path: Path) -> None:
    """A seconds digit of TimeCreated damaged to a letter: one bad record, not a traceback."""
    data = (DATA / "windows_events" / "security-wevtutil.xml").read_bytes()
    at = data.index(b"SystemTime='") + len(b"SystemTime='2015-09-22T05:24:")
    check_plain(
        "windows_events", DATA / "windows_events" / "security-wevtutil.xml", data[:at] + b"M" + data[at + 1 :], tmp_path
    )


def test_csv_header_with_a_bare_cr_is_no_traceback(tmp_path: Path) -> None:
    """A carriage return inside the header line: the file refused (DataError) or read, not a traceback."""
    fixture = DATA / "csv_mapped" / "semicolons.csv"
    check_plain("csv_mapped", fixture, fixture.read_bytes().replace(b";", b";\r", 1), tmp_path)

"""Damaged compressed inputs give every record their decompressor recovers, and say where the damage is.

Issue 11: a gzip missing its last 0.1 % kept 0 of the lines ``zcat`` recovers; bzip2, xz and compressed
captures and Zeek logs likewise; a gzip followed by garbage kept 0 of 100; a CRC error kept 0; a cut
zstd file reported nothing. The files under tests/data/damaged were cut from real ones (SOURCE.txt).
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import Any, cast

import pytest
import zstandard

from portscope.errors import DataError
from portscope.sources import ParseStats, SkippedInput, _decompress, read_flows
from portscope.sources._decompress import compression, decompressing
from portscope.sources._inputs import InputFile, open_input
from tests.sources._damage import (
    COMPRESS,
    DAMAGED,
    byte_at_a_time,
    packets_seen,
    read_file,
    row_set,
    tshark_frames,
    whole_lines,
)
from tests.sources._flowtest import DATA

# (damaged file, its compression, its format, the damage's kind, records it holds, bytes where it is)
CASES = [
    ("zat-bro2-conn.log.gz.cut", "gzip", "zeek_conn", "truncated compression", 360, "14,209"),
    ("pfirewall.slice.log.gz.garbage", "gzip", "windows_firewall", "damaged compression", 139, "1,142"),
    ("auth.log.gz.badcrc", "gzip", "ssh_auth", "damaged compression", 24, "741"),
    ("pfirewall-2500.log.bz2.cut", "bzip2", "windows_firewall", "truncated compression", 2500, "10,012"),
    ("pfirewall-2500.log.xz.cut", "xz", "windows_firewall", "truncated compression", 2500, "8,532"),
    ("pfirewall-2500.log.zst.cut", "zstd", "windows_firewall", "truncated compression", 1370, "8,171"),
    ("wikipedia.pcap.gz.cut", "gzip", "pcap", "truncated compression", 26, "3,088"),
]


@pytest.mark.parametrize(("name", "codec", "fmt", "kind", "records", "offset"), CASES, ids=[c[0] for c in CASES])
def test_damaged_file_keeps_what_its_decompressor_recovers(
    tmp_path: Path, name: str, codec: str, fmt: str, kind: str, records: int, offset: str
) -> None:
    """All records of the bytes the library's decompressor gives (fed a byte at a time, up to the damage)
    are kept, less a text line the damage cuts; the damage is one bad record naming file and byte."""
    path = DAMAGED / name
    recovered = byte_at_a_time(codec, path.read_bytes())
    plain = tmp_path / "plain"
    plain.write_bytes(recovered if fmt == "pcap" else whole_lines(recovered))
    expected, _ = read_file(plain)
    table, stats = read_file(path)
    assert table.num_rows == expected.num_rows == records
    assert row_set(table) == row_set(expected)
    assert set(table.column("source_format").to_pylist()) == {fmt}
    assert stats.kinds[kind] == 1
    assert f"{path}: {kind}: " in stats.examples[0] and f"byte {offset} of the compressed file" in stats.examples[0]
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: {kind}: .*byte {offset} "):
        read_file(path, strict=True)


def test_compressed_capture_cut_short_matches_tshark(tmp_path: Path) -> None:
    """The packets of a cut gzip capture are those tshark reads from the bytes zcat recovers."""
    path = DAMAGED / "wikipedia.pcap.gz.cut"
    plain = tmp_path / "recovered.pcap"
    plain.write_bytes(byte_at_a_time("gzip", path.read_bytes()))
    frames = tshark_frames(plain)
    if frames is None:
        pytest.skip("tshark is not installed")
    table, stats = read_file(path)
    assert packets_seen(table, stats) == frames == 58


def test_strict_names_the_damage_before_the_cut_line() -> None:
    """Under --strict the first error is the damage, not the record the cut left half-written."""
    with pytest.raises(DataError, match=r"zst\.cut: truncated compression: the zstd data stops at byte 8,171"):
        read_file(DAMAGED / "pfirewall-2500.log.zst.cut", strict=True)


def test_multi_member_gzip_and_zero_padding(tmp_path: Path) -> None:
    """Concatenated gzip members (``cat a.gz b.gz``) are all read; zero padding after them is no damage."""
    first = (DATA / "ssh_auth" / "auth.log").read_bytes()
    second = (DATA / "ssh_auth" / "auth-rsyslog-iso.log").read_bytes()
    path = tmp_path / "both.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second) + b"\0" * 1000)
    table, stats = read_file(path)
    plain = tmp_path / "plain.log"
    plain.write_bytes(first + second)
    alone, _ = read_file(plain)
    assert table.num_rows == alone.num_rows > 0
    assert stats.bad == 0, stats.examples


@pytest.mark.parametrize("keep", [True, False], ids=["member kept", "member too big to keep"])
@pytest.mark.parametrize("codec", list(COMPRESS))
def test_corrupt_member_recovers_what_a_byte_fed_decoder_does(
    monkeypatch: pytest.MonkeyPatch, codec: str, keep: bool
) -> None:
    """A byte flipped: the stream gives what the library's decoder gives fed a byte at a time. bz2, xz
    and zstd decoders cannot be copied: the member is decoded again from the input kept (up to 8 MiB)
    or, when too big to keep, from a file that can seek; on a pipe, the failing call's output is lost."""
    if not keep:
        monkeypatch.setattr(_decompress, "_KEEP", 0)
    text = b"".join((DATA / "windows-firewall" / "pfirewall.slice.log").read_bytes() for _ in range(400))
    for where in (0.3, 0.6, 0.99):
        data = bytearray(COMPRESS[codec](text))
        data[int(len(data) * where)] ^= 0x10
        reference = whole_lines(byte_at_a_time(codec, bytes(data)))
        damage: list[str] = []
        got = {seekable: _decompress_all(bytes(data), seekable, damage) for seekable in (True, False)}
        assert got[True] == reference, (where, len(got[True]), len(reference))
        if keep or codec == "gzip":  # zlib's decoder copies: a pipe loses nothing either
            assert got[False] == reference
        else:
            assert reference.startswith(got[False])
        assert len(damage) == 2 or (not damage and got[True] == text), damage  # a flip may hit a bit none reads
        assert all(re.match(r"(damaged|truncated) compression: the \w+ data ", d) for d in damage), damage


def _decompress_all(data: bytes, seekable: bool, damage: list[str]) -> bytes:
    """All the stream gives for ``data`` read from a file (``seekable``) or a pipe; damage into ``damage``."""
    raw: Any = io.BufferedReader(_Pipe(data, seekable))
    head = raw.read(8)
    stream = decompressing(_codec(head), raw, head, "x", lambda kind, detail: damage.append(f"{kind}: {detail}"))
    return io.BufferedReader(cast(Any, stream)).read()


class _Pipe(io.RawIOBase):
    """Bytes as a file that can seek, or as a pipe that cannot."""

    def __init__(self, data: bytes, seekable: bool) -> None:
        self._data = io.BytesIO(data)
        self._seekable = seekable

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        return self._data.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        return self._data.seek(offset, whence)

    def tell(self) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("tell")
        return self._data.tell()


def test_without_a_damage_handler_damage_is_a_data_error(tmp_path: Path) -> None:
    path = DAMAGED / "zat-bro2-conn.log.gz.cut"
    with pytest.raises(DataError, match=r"gz\.cut: truncated compression: .* byte 14,209 "):
        stream, _ = open_input(InputFile(str(path), str(path)))
        with stream:
            stream.read()


def test_nothing_decodable_is_a_skipped_input_and_a_bad_record(tmp_path: Path) -> None:
    """A gzip whose header is damaged gives nothing: the input is passed over, saying why."""
    data = bytearray(gzip.compress(b"hello\n" * 100))
    data[3] = 0xFF  # reserved flag bits set: zlib refuses the header
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(data))
    stats = ParseStats()
    assert list(read_flows([str(path)], stats=stats)) == []
    assert stats.kinds["damaged compression"] == 1
    [skipped] = stats.skipped_inputs
    assert isinstance(skipped, SkippedInput) and skipped.label == str(path)
    assert skipped.reason.startswith("nothing could be decompressed (damaged compression: the gzip data is corrupt")


def test_zstd_output_per_call_is_bounded_whatever_the_ratio() -> None:
    """zstd's decoder takes no output limit: it is fed two blocks at a time, so zero runs (30,000 to 1)
    give at most 256 KiB a call, and frames, skippable frames and checksums are followed through."""
    text = (DATA / "ssh_auth" / "auth.log").read_bytes()
    skippable = b"\x50\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"skip!"
    frames = [
        zstandard.ZstdCompressor(write_checksum=True).compress(b"\0" * (40 << 20)),
        skippable,
        zstandard.ZstdCompressor(write_content_size=False).compress(text * 50),
    ]
    data = b"".join(frames)
    for frame in frames:
        decoder, blocks, at = zstandard.ZstdDecompressor().decompressobj(), _decompress._ZstdBlocks(), 0
        while at < len(frame):
            size = blocks.cut(frame[at:]) or len(frame) - at
            assert len(decoder.decompress(frame[at : at + size])) <= 2 << 17
            at += size
        assert decoder.eof and blocks.state == "end"
    stream = decompressing(_codec(data), io.BufferedReader(io.BytesIO(data[8:])), data[:8], "x", None)
    assert io.BufferedReader(cast(Any, stream)).read() == b"\0" * (40 << 20) + text * 50


def _codec(head: bytes) -> _decompress._Codec:
    codec = compression(head, "x")
    assert codec is not None
    return codec

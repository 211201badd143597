"""Helpers for the damaged-input tests: compress, damage, read through read_flows, and the references to
compare with (a decompressor fed a byte at a time, tshark)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from portscope.flows import flow_schema
from portscope.sources import ParseStats, read_flows

DAMAGED = Path(__file__).resolve().parent.parent / "data" / "damaged"

COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, mtime=0),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: zstandard.ZstdCompressor(write_checksum=True).compress(data),
}

# csv_mapped reads nothing without a mapping (as in test_contract): each fixture's own.
MAPS = {
    "firewall-export.csv": {"src_addr": "SourceIP", "dst_addr": "DestinationIP", "dst_port": "DPort"},
    "semicolons.csv": {"src_addr": "src", "dst_addr": "dst", "dst_port": "dport"},
    "tabs.tsv": {"src_addr": "src", "dst_addr": "dst", "dst_port": "dport"},
}


def how_to_read(owner: str, path: Path) -> tuple[str | None, dict[str, Any]]:
    """(the --format to give, the options): csv_mapped is chosen by name only and needs its mapping."""
    if owner == "csv_mapped":
        return owner, {"map": MAPS[path.name]}
    return None, {}


def read_file(
    path: Path, *, format: str | None = None, options: dict[str, Any] | None = None, strict: bool = False
) -> tuple[pa.Table, ParseStats]:
    """Everything read_flows gives for one file, as one table, and the stats."""
    stats = ParseStats(strict=strict)
    batches = list(read_flows([str(path)], format=format, stats=stats, options=options))
    return pa.Table.from_batches(batches, schema=flow_schema()), stats


def row_set(table: pa.Table) -> list[str]:
    """The rows, less the file they came from, in an order that does not depend on the reader's."""
    return sorted(map(repr, table.drop_columns(["evidence_file"]).to_pylist()))


def byte_at_a_time(codec: str, data: bytes) -> bytes:
    """What the library's own decompressor gives fed one byte at a time, up to the first member's end
    or the first error: the most any streaming reader of one member can recover."""
    decoders: dict[str, Callable[[], Any]] = {
        "gzip": lambda: zlib.decompressobj(31),
        "bzip2": bz2.BZ2Decompressor,
        "xz": lzma.LZMADecompressor,
        "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
    }
    decoder = decoders[codec]()
    out = []
    for index in range(len(data)):
        try:
            piece = decoder.decompress(data[index : index + 1])
            while piece:  # bz2 stops a call when its input is used up, with output still due
                out.append(piece)
                piece = b"" if decoder.eof else decoder.decompress(b"")
        except (zlib.error, OSError, lzma.LZMAError, zstandard.ZstdError):
            break
        if decoder.eof:
            break
    return b"".join(out)


def whole_lines(data: bytes) -> bytes:
    """``data`` up to its last newline: what is left of text once the line cut at damage is dropped."""
    return data[: data.rfind(b"\n") + 1]


def damages(data: bytes) -> dict[str, bytes]:
    """A compressed file damaged as files are in the wild: cut at a third, at two thirds and one byte
    short, followed by garbage, a byte flipped in the middle."""
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x55
    return {
        "cut at 1/3": data[: len(data) // 3],
        "cut at 2/3": data[: 2 * len(data) // 3],
        "one byte short": data[:-1],
        "trailing garbage": data + b"this is no compressed data\n" * 2,
        "byte flipped": bytes(flipped),
    }


def tshark_frames(path: Path) -> int | None:
    """How many frames tshark reads from a capture (None when tshark is not installed). Frames with no
    captured byte are left out: where a capture is cut inside a record, tshark lists such frames (of
    length 0, or of a length read from the cut bytes) after the last whole one."""
    if shutil.which("tshark") is None:
        return None
    done = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "frame.cap_len"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return sum(1 for line in done.stdout.splitlines() if line.split("\t")[-1] not in ("", "0"))


def packets_seen(table: pa.Table, stats: ParseStats) -> int:
    """Packets a capture's flows account for, and the frames skipped as no IP (what tshark counts as frames)."""
    total = sum(pc.sum(table[name]).as_py() or 0 for name in ("packets_out", "packets_in"))
    return int(total) + stats.skipped

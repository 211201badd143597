"""Opening what people give us: files, globs, directories, standard input; compressed or not.

Compression is recognised from the first bytes (gzip, bzip2, xz, zstd), never from the file name,
and undone as a stream: a 10 GB ``.zst`` log is read a buffer at a time.
"""

from __future__ import annotations

import glob
import io
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

from portscope.errors import DataError

__all__ = ["InputFile", "expand_inputs", "open_input"]

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
HEAD_SIZE = 65536


class InputFile(NamedTuple):
    """One input: ``label`` is what messages and ``evidence_file`` call it; ``path`` None is stdin."""

    label: str
    path: str | None


def expand_inputs(arguments: list[str]) -> Iterator[InputFile]:
    """Files as given, globs expanded, directories walked (sorted, hidden files skipped), ``-`` for stdin.

    Raises DataError for an argument that names nothing.
    """
    for argument in arguments:
        if argument == "-":
            yield InputFile("-", None)
            continue
        if os.path.isdir(argument):
            found = False
            for root, dirs, files in os.walk(argument):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        found = True
                        path = os.path.join(root, name)
                        yield InputFile(path, path)
            if not found:
                raise DataError(f"{argument}: the directory holds no files")
            continue
        if os.path.exists(argument):
            yield InputFile(argument, argument)
            continue
        matches = sorted(glob.glob(argument, recursive=True))
        files = [m for m in matches if os.path.isfile(m)]
        if not files:
            raise DataError(f"{argument}: no such file (and no file matches it as a pattern)")
        for path in files:
            yield InputFile(path, path)


class _Prefixed(io.RawIOBase):
    """A stream that first returns ``head`` (bytes already read to sniff it), then the rest of ``inner``."""

    def __init__(self, head: bytes, inner: BinaryIO) -> None:
        self._head = memoryview(head)
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = 0
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            if n == len(buffer):
                return n
        # Fill the rest from the stream in the same call, so one buffered read sees a full head.
        with memoryview(buffer)[n:] as rest:
            more = self._inner.readinto(rest)  # type: ignore[attr-defined]
        return n + (more or 0)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _decompressor(kind: str, raw: BinaryIO, label: str) -> BinaryIO:
    if kind == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(raw, mode="rb")  # type: ignore[return-value]
    try:
        import zstandard
    except ImportError as exc:
        raise DataError(f"{label}: zstd-compressed; reading it needs zstandard (pip install zstandard)") from exc
    reader: BinaryIO = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return reader


def open_input(source: InputFile) -> tuple[BinaryIO, bytes]:
    """Open an input for reading, decompressing it if its first bytes say so.

    Returns the (buffered, decompressed) stream positioned at its start, and up to 64 KiB of its
    head for format detection. Raises DataError naming the file when it cannot be read.
    """
    try:
        raw: BinaryIO = sys.stdin.buffer if source.path is None else open(source.path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise DataError(f"{source.label}: cannot open: {exc.strerror or exc}") from exc
    try:
        magic = raw.read(8)
        stream: Any = io.BufferedReader(_Prefixed(magic, raw), buffer_size=1 << 20)
        for prefix, kind in _MAGIC:
            if magic.startswith(prefix):
                stream = io.BufferedReader(_decompressor(kind, stream, source.label), buffer_size=1 << 20)
                break
        # What one buffered read gives (a pipe or a decompressor may give less than 64 KiB): sniffers
        # need only the first lines or records.
        head = stream.peek(HEAD_SIZE)[:HEAD_SIZE]
    except OSError as exc:
        raw.close()
        raise DataError(f"{source.label}: cannot read: {exc.strerror or exc}") from exc
    except EOFError as exc:
        raw.close()
        raise DataError(f"{source.label}: the compressed data ends early (truncated file)") from exc
    return stream, bytes(head)

"""Opening what people give us: files, globs, directories, standard input; compressed or not.

Compression is recognised from the first bytes (gzip, bzip2, xz, zstd), never from the file name,
and undone as a stream (:mod:`portscope.sources._decompress`): a 10 GB ``.zst`` log is read a buffer
at a time, and a damaged one gives all its decoder recovers.

Nothing here stops a run at one bad input (issue 11): an argument that names nothing, or a
directory that cannot be listed, goes to the caller's ``skip`` and the other arguments are still
expanded. The format is judged on the head of the input; where its first line is too long to judge
by (a 100 KB first line hid 100 valid lines), :func:`judged_lines` gives the first lines short
enough to judge instead.
"""

from __future__ import annotations

import glob
import io
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

from portscope.errors import DataError
from portscope.sources._decompress import OnDamage, compression, decompressing

__all__ = ["HEAD_SIZE", "InputFile", "Skip", "expand_inputs", "has_long_line", "judged_lines", "open_input"]

HEAD_SIZE = 65536
LONG_LINE = 16384  # a line longer than this is too long to judge a format by
SAMPLE_LIMIT = 16 << 20  # how far to look for lines short enough to judge by

Skip = Callable[[str, str], None]  # (label, reason): an input that yields nothing


class InputFile(NamedTuple):
    """One input: ``label`` is what messages and ``evidence_file`` call it; ``path`` None is stdin."""

    label: str
    path: str | None


def expand_inputs(arguments: list[str], skip: Skip | None = None) -> Iterator[InputFile]:
    """Files as given, globs expanded, directories walked (sorted, hidden files skipped), ``-`` for stdin.

    An argument that names nothing (no such path, a pattern no file matches, a directory with no
    files), a directory that cannot be listed, and what a walk finds that is no regular file (a
    pipe, a link to nothing) go to ``skip(label, reason)``, and the rest are still expanded; without
    ``skip`` they raise DataError.
    """

    def skipped(label: str, reason: str) -> None:
        if skip is None:
            raise DataError(f"{label}: {reason}")
        skip(label, reason)

    for argument in arguments:
        if argument == "-":
            yield InputFile("-", None)
            continue
        if os.path.isdir(argument):
            found = False
            unlisted: list[OSError] = []  # folders the walk could not list, said as it goes on
            for root, dirs, files in os.walk(argument, onerror=unlisted.append):
                found = _say_unlisted(unlisted, skipped) or found
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    found = True
                    path = os.path.join(root, name)
                    if os.path.isfile(path):
                        yield InputFile(path, path)
                    else:  # opening a pipe would wait for a writer
                        skipped(path, "not a regular file (a pipe, a device or a link to nothing)")
            if not (_say_unlisted(unlisted, skipped) or found):
                skipped(argument, "the directory holds no files")
            continue
        if os.path.exists(argument):
            yield InputFile(argument, argument)
            continue
        matches = sorted(glob.glob(argument, recursive=True))
        files = [m for m in matches if os.path.isfile(m)]
        if not files:
            skipped(argument, "no such file (and no file matches it as a pattern)")
        for path in files:
            yield InputFile(path, path)


def _say_unlisted(errors: list[OSError], skipped: Skip) -> bool:
    """Pass each folder that could not be listed to ``skipped``; whether there was one."""
    had = bool(errors)
    for error in errors:
        skipped(str(error.filename), f"cannot open: {error.strerror or error}")
    errors.clear()
    return had


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


def open_input(source: InputFile, on_damage: OnDamage | None = None) -> tuple[BinaryIO, bytes]:
    """Open an input for reading, decompressing it if its first bytes say so.

    Returns the (buffered, decompressed) stream positioned at its start, and up to 64 KiB of its
    head for format detection. Raises DataError naming the file when it cannot be read. Damaged
    compressed data goes to ``on_damage(kind, detail)`` and the stream ends there (see
    :mod:`portscope.sources._decompress`); without ``on_damage`` it raises DataError.
    """
    try:
        raw: BinaryIO = sys.stdin.buffer if source.path is None else open(source.path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise DataError(f"{source.label}: cannot open: {exc.strerror or exc}") from exc
    try:
        magic = raw.read(8)
        codec = compression(magic, source.label)
        if codec is None:
            inner: Any = _Prefixed(magic, raw)
        else:
            inner = decompressing(codec, raw, magic, source.label, on_damage)
        stream: Any = io.BufferedReader(inner, buffer_size=1 << 20)
        # What one buffered read gives (a pipe may give less than 64 KiB): sniffers need only the
        # first lines or records.
        head = stream.peek(HEAD_SIZE)[:HEAD_SIZE]
    except OSError as exc:
        raw.close()
        raise DataError(f"{source.label}: cannot read: {exc.strerror or exc}") from exc
    except BaseException:
        raw.close()
        raise
    return stream, bytes(head)


def has_long_line(head: bytes) -> bool:
    """Whether a line of ``head`` (its unfinished last one too) is longer than :data:`LONG_LINE`."""
    start = 0
    while True:
        end = head.find(b"\n", start)
        if end < 0:
            return len(head) - start > LONG_LINE
        if end - start > LONG_LINE:
            return True
        start = end + 1


def judged_lines(stream: BinaryIO) -> tuple[BinaryIO, bytes]:
    """The first lines of ``stream`` short enough to judge its format by (up to :data:`HEAD_SIZE` bytes of
    them, looked for in its first :data:`SAMPLE_LIMIT` bytes; longer lines left out), and a stream that
    reads as ``stream`` did (what was read to look is given back first)."""
    taken: list[bytes] = []
    sample: list[bytes] = []
    size = seen = 0
    pending = b""  # the start of a line not ended yet
    skipping = False  # inside a line too long to judge by
    while size < HEAD_SIZE and seen < SAMPLE_LIMIT:
        block = stream.read(1 << 20)
        if not block:
            if pending:
                sample.append(pending)
            break
        taken.append(block)
        seen += len(block)
        start = 0
        while size < HEAD_SIZE:
            end = block.find(b"\n", start)
            if end < 0:
                if not skipping:
                    pending += block[start:]
                    skipping = len(pending) > LONG_LINE
                    pending = b"" if skipping else pending
                break
            if not skipping and len(pending) + end - start <= LONG_LINE:
                line = pending + block[start : end + 1]
                sample.append(line)
                size += len(line)
            pending, skipping, start = b"", False, end + 1
    replay = io.BufferedReader(_Prefixed(b"".join(taken), stream), buffer_size=1 << 20)
    return replay, b"".join(sample)[:HEAD_SIZE]

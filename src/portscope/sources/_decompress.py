"""Undoing gzip, bzip2, xz and zstd as a stream that keeps all it can decode of a damaged file, and says
where the damage is.

The standard library's files (GzipFile, BZ2File, LZMAFile) raise at damage, and what they had decoded
in that call goes with the exception; zstandard's stream reader says nothing when a frame is cut short.
A gzip missing its last 0.1 % gave no record at all (issue 11). Here the decompressor objects are fed
by hand, a piece of input at a time, their output taken in bounded pieces, so memory stays flat
whatever the size of the file (a 2 GB stream of 20 gzip members: 16 MB resident):

- A file cut short raises nothing: everything decoded is kept and the cut is reported.
- Corrupt data (a flipped byte, a wrong CRC) raises in the one call that reaches it, and what that
  call had decoded would go with it. It is recovered from the decoder's state before the call: zlib's
  decompressor is copied before each call (``copy()``); bz2, lzma and zstd ones cannot be copied, so
  the member is decoded again up to the last piece fed (once, and only at damage), from its input
  kept in memory (up to :data:`_KEEP` bytes) or else from a file that can seek. From there that input
  is fed a byte at a time: the output is what the library's decompressor gives fed a byte at a time,
  the most a streaming reader recovers. Only a bz2, xz or zstd member larger than :data:`_KEEP` read
  from a pipe loses the output of the failing call.
- Members follow each other (``cat a.gz b.gz``, pbzip2, concatenated xz streams, zstd frames and
  skippable frames). Zero bytes between or after them are padding, ignored as ``gzip -d`` does;
  other bytes after a member are trailing garbage: reported and not read (``gzip -d``: "decompression
  OK, trailing garbage ignored").

Damage goes to ``on_damage(kind, detail)``, kind ``truncated compression`` or ``damaged compression``,
the detail naming the byte offset in the compressed file; ParseStats.reject counts it as a bad
record, and --strict makes it an error. Without ``on_damage`` it raises DataError. The stream then
ends as a file would end there, but for a text line the damage cuts (see :meth:`_Reader._advance`).
"""

from __future__ import annotations

import io
from array import array
from collections.abc import Callable
from typing import Any, BinaryIO, NamedTuple

from portscope.errors import DataError

__all__ = ["OnDamage", "compression", "decompressing"]

OnDamage = Callable[[str, str], None]

_PIECE = 1 << 16  # compressed bytes fed to a decoder at a time
_OUT = 1 << 18  # decompressed bytes one call may return
_KEEP = 8 << 20  # compressed bytes of a member kept to decode it again at damage (a pipe cannot seek)


class _Decoder:
    """One member's decoder behind one interface: bz2.BZ2Decompressor and lzma.LZMADecompressor as they are."""

    def __init__(self, decompressor: Any) -> None:
        self.d = decompressor

    @property
    def eof(self) -> bool:
        return bool(self.d.eof)

    def decode(self, data: bytes, limit: int) -> bytes:
        """Feed ``data`` (b"" to go on with input fed before); at most ``limit`` bytes come out (0: all)."""
        out: bytes = self.d.decompress(data, limit or -1)
        return out

    def owed(self) -> bool:
        """Whether input fed before can give more output without new input."""
        return not self.d.needs_input and not self.d.eof

    def unused(self) -> bytes:
        """Bytes fed after the member's end (the next member, or padding, or garbage)."""
        return bytes(self.d.unused_data)

    def copy(self) -> _Decoder | None:
        """A copy of this decoder's state, where the library can make one."""
        return None


class _Zlib(_Decoder):
    """zlib keeps what a limited call did not take in ``unconsumed_tail``, to be fed again."""

    def __init__(self, decompressor: Any) -> None:
        super().__init__(decompressor)
        self.tail = b""

    def decode(self, data: bytes, limit: int) -> bytes:
        out: bytes = self.d.decompress(self.tail + data if self.tail else data, limit)
        self.tail = self.d.unconsumed_tail
        return out

    def owed(self) -> bool:
        return bool(self.tail)

    def copy(self) -> _Decoder | None:
        twin = _Zlib(self.d.copy())
        twin.tail = self.tail
        return twin


class _Zstd(_Decoder):
    """zstandard's decompressobj takes no output limit: what it is fed comes out whole (see _ZstdBlocks)."""

    def decode(self, data: bytes, limit: int) -> bytes:
        out: bytes = self.d.decompress(data) if data else b""
        return out

    def owed(self) -> bool:
        return False


class _ZstdBlocks:
    """Where the blocks of one zstd frame end (RFC 8878 section 3.1.1), so that a call is fed at most
    two of them. zstandard's decompressobj takes no output limit, and a block gives at most 128 KiB,
    so a call's output stays under 256 KiB whatever the ratio (zero bytes compress 15,000 to 1: fed
    16 KiB pieces, a 2 GB run of them took 1.9 GB of memory; cut at blocks, 20 MB)."""

    def __init__(self) -> None:
        self.state = "frame"  # frame header next, block header next, or "end" (all fed, or not zstd)
        self.left = 0  # bytes of the current block body, checksum or skippable frame still to feed
        self.block = False  # whether those bytes end a block
        self.checksum = False  # whether the frame ends with a content checksum
        self.last = False  # whether the block being fed is the frame's last

    def cut(self, data: bytes) -> int:
        """How many bytes of ``data`` to feed next: up to the end of the second block ending in it, or all
        of it; 0 when the next header is not all there yet (read more first)."""
        at, ends = 0, 0
        while at < len(data) and ends < 2:
            if self.left:
                step = min(self.left, len(data) - at)
                at, self.left = at + step, self.left - step
                if not self.left:
                    ends += self.block
                    self._after_body()
                continue
            if self.state == "end":
                return len(data)
            if self.state == "frame":
                size = self._frame_header(data, at)
                if not size:
                    return at
                at += size
                continue
            size = self._block_header(data, at)
            if not size:
                return at
            at += size
            if not self.left:  # an empty block: it ends here
                ends += 1
                self._after_body()
        return at

    def _after_body(self) -> None:
        if self.block and self.last and self.checksum:
            self.left, self.block, self.checksum = 4, False, False
        elif not self.block or self.last:
            self.state = "end"

    def _frame_header(self, data: bytes, at: int) -> int:
        """The frame header's length (its blocks or skippable bytes next); 0 when not all there."""
        if len(data) - at < 8:
            return 0
        if _zstd_frame(data[at : at + 4]) and data[at] != 0x28:  # skippable: size, then that many bytes
            self.left, self.block = int.from_bytes(data[at + 4 : at + 8], "little"), False
            self.state = "end" if not self.left else self.state
            return 8
        if data[at : at + 4] != b"\x28\xb5\x2f\xfd":
            self.state = "end"  # not zstd: fed as it is, the decoder says what is wrong
            return len(data) - at
        descriptor = data[at + 4]
        single = descriptor >> 5 & 1
        self.checksum = bool(descriptor >> 2 & 1)
        size = 5 + (0 if single else 1) + (0, 1, 2, 4)[descriptor & 3] + (single, 2, 4, 8)[descriptor >> 6]
        if len(data) - at < size:
            return 0
        self.state = "block"
        return size

    def _block_header(self, data: bytes, at: int) -> int:
        """3 for a block header (its body next); 0 when not all there."""
        if len(data) - at < 3:
            return 0
        header = int.from_bytes(data[at : at + 3], "little")
        kind = header >> 1 & 3
        if kind == 3:  # reserved: fed as it is, the decoder says what is wrong
            self.state = "end"
            return len(data) - at
        self.last, self.block = bool(header & 1), True
        self.left = 1 if kind == 1 else header >> 3  # an RLE block's body is one byte
        return 3


class _Codec(NamedTuple):
    name: str
    starts: Callable[[bytes], bool]  # whether bytes begin a member (given at least 6 of them)
    new: Callable[[], _Decoder]
    errors: tuple[type[Exception], ...]
    copies: bool = False  # whether its decoder's state can be copied
    blocks: Callable[[], _ZstdBlocks] | None = None  # where to cut the input fed to one call


def _zstd_frame(data: bytes) -> bool:
    """A zstd frame, or a skippable frame (magic 0x184D2A50-0x184D2A5F, RFC 8878 section 3.1.2)."""
    return data[:4] == b"\x28\xb5\x2f\xfd" or (data[1:4] == b"\x2a\x4d\x18" and data[0] & 0xF0 == 0x50)


def compression(head: bytes, label: str) -> _Codec | None:
    """The compression the first bytes of an input say it is in (never the file name), else None."""
    if head[:2] == b"\x1f\x8b":
        import zlib

        return _Codec(
            "gzip", lambda d: d[:2] == b"\x1f\x8b", lambda: _Zlib(zlib.decompressobj(31)), (zlib.error,), copies=True
        )
    if head[:3] == b"BZh":
        import bz2

        # bz2 reports corrupt data as OSError ("Invalid data stream").
        return _Codec("bzip2", lambda d: d[:3] == b"BZh", lambda: _Decoder(bz2.BZ2Decompressor()), (OSError,))
    if head[:6] == b"\xfd7zXZ\x00":
        import lzma

        return _Codec(
            "xz", lambda d: d[:6] == b"\xfd7zXZ\x00", lambda: _Decoder(lzma.LZMADecompressor()), (lzma.LZMAError,)
        )
    if head[:4] == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard
        except ImportError as exc:
            raise DataError(f"{label}: zstd-compressed; reading it needs zstandard (pip install zstandard)") from exc

        def zstd() -> _Decoder:
            return _Zstd(zstandard.ZstdDecompressor().decompressobj())

        return _Codec("zstd", _zstd_frame, zstd, (zstandard.ZstdError,), blocks=_ZstdBlocks)
    return None


def decompressing(codec: _Codec, raw: BinaryIO, head: bytes, label: str, on_damage: OnDamage | None) -> BinaryIO:
    """The decompressed stream of ``raw``, whose first bytes ``head`` were already read from it."""
    return _Reader(codec, raw, head, label, on_damage)  # type: ignore[return-value]


class _Reader(io.RawIOBase):
    """Decompressed bytes of ``raw``, member after member, ending at the data's end or at damage.

    Offsets count from the first compressed byte. ``_input`` holds bytes read and not yet fed, from
    offset ``_at``; all bytes read before it have been fed (``_fed`` is the offset after them).
    """

    def __init__(self, codec: _Codec, raw: BinaryIO, head: bytes, label: str, on_damage: OnDamage | None) -> None:
        self._codec, self._raw, self._label, self._on_damage = codec, raw, label, on_damage
        self._base: int | None = None
        try:
            if raw.seekable():
                self._base = raw.tell() - len(head)
        except OSError:
            self._base = None
        self._input, self._at, self._fed = head, 0, 0
        self._raw_done = False
        self._dec: _Decoder | None = None
        # To decode a member again at damage: where it began, the input each call was fed (0: none), the
        # last input fed (and its call), and the member's input so far where small enough to keep.
        self._member_at = 0
        self._sizes = array("I")
        self._blocks: _ZstdBlocks | None = None
        self._last: tuple[int, bytes] = (0, b"")
        self._since = 0  # output of the calls since the last input was fed
        self._kept: list[bytes] | None = None
        self._kept_size = 0
        self._out = memoryview(b"")
        self._held = b""  # the last piece of output, handed out once the next one (or the end) is known
        self._text: bool | None = None  # whether the output is text, judged on its first piece
        self._done = False
        self._damaged: tuple[str, str, bool] | None = None  # (kind, detail, whether the data is cut there)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled, size = 0, len(view)
        while filled < size:
            if not self._out:
                self._out = memoryview(self._advance())
                if not self._out:
                    break
            n = min(size - filled, len(self._out))
            view[filled : filled + n] = self._out[:n]
            self._out = self._out[n:]
            filled += n
        return filled

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()

    def _advance(self) -> bytes:
        """The next output to hand out (b"" at the end). Each piece waits for the next, so that where the
        data is cut the line cut short can be left out: in text (no NUL byte in its first 4 KiB) it would
        reach the format's reader as a whole, shorter, line and may pass for a record (a Windows
        Firewall line cut in its last field did). Binary data (a capture) is given whole: its reader
        checks record lengths."""
        while not self._done:
            piece = self._next()
            if piece:
                if self._text is None:
                    self._text = b"\0" not in piece[:4096]
                held, self._held = self._held, piece
                if held:
                    return held
        held, self._held = self._held, b""
        if self._damaged is not None:
            kind, detail, cut = self._damaged
            self._damaged = None
            end = held.rfind(b"\n") + 1 if cut and self._text else len(held)
            if 0 < end < len(held):
                detail += f", but for the line cut there ({len(held) - end:,} bytes)"
                held = held[:end]
            if self._on_damage is None:
                raise DataError(f"{self._label}: {kind}: {detail}")
            self._on_damage(kind, detail)
        return held

    def _read(self) -> bytes:
        if self._raw_done:
            return b""
        data = self._raw.read(_PIECE)
        if not data:
            self._raw_done = True
        return data

    def _damage(self, kind: str, detail: str, cut: bool = True) -> None:
        """End here, with damage to report once the output before it is out (``cut``: in the middle of the data)."""
        self._done = True
        self._damaged = (kind, detail, cut)

    def _next(self) -> bytes:
        """The next piece of output; b"" (and done) once the data ends, cleanly or at damage."""
        name = self._codec.name
        while True:
            dec = self._dec
            if dec is None:
                if not self._begin_member():
                    self._done = True
                    return b""
                continue
            if dec.eof:
                unused = dec.unused()
                self._input, self._at, self._dec = unused + self._input, self._fed - len(unused), None
                continue
            ended = False
            if dec.owed():
                data = b""
            else:
                data = self._take()
                ended = not data
                self._at = self._fed = self._fed + len(data)
            out = self._call(dec, data)
            if out or self._done:
                return out
            if ended and not dec.eof:  # the input ended inside a member, and nothing more comes out
                self._damage(
                    "truncated compression",
                    f"the {name} data stops at byte {self._fed:,} of the compressed file, before its end "
                    "(a file cut short); all before it was read",
                )
                return b""

    def _take(self) -> bytes:
        """The input to feed next: what is read and not fed (zstd: up to the end of its second block)."""
        if not self._input:
            self._input = self._read()
        size = len(self._input)
        if self._blocks is not None:
            size = self._blocks.cut(self._input)
            while not size and not self._raw_done:
                self._input += self._read()
                size = self._blocks.cut(self._input)
            size = size or len(self._input)
        data, self._input = self._input[:size], self._input[size:]
        return data

    def _begin_member(self) -> bool:
        """Start the next member, skipping zero padding; False at the end (or trailing garbage, reported)."""
        while True:
            if len(self._input) < 6 and not self._raw_done:
                self._input += self._read()
                continue
            if not self._input:
                return False
            if self._codec.starts(self._input):
                self._dec = self._codec.new()
                self._member_at, self._sizes = self._at, array("I")
                self._blocks = None if self._codec.blocks is None else self._codec.blocks()
                self._kept, self._kept_size = (None, 0) if self._codec.copies else ([], 0)
                return True
            rest = self._input.lstrip(b"\0")
            self._at += len(self._input) - len(rest)
            self._input = rest
            if not rest:
                continue
            name = self._codec.name
            self._damage(
                "damaged compression",
                f"the bytes from byte {self._at:,} of the compressed file are no {name} data "
                f"(trailing garbage after the end of the {name} data; not read)",
                cut=False,
            )
            return False

    def _call(self, dec: _Decoder, data: bytes) -> bytes:
        """One call of the decoder; at damage, what it had decoded before (then done, damage reported)."""
        saved = dec.copy()
        if not self._codec.copies:
            self._sizes.append(len(data))
        if data:
            self._last, self._since = (len(self._sizes), data), 0
            if self._kept is not None:
                self._kept.append(data)
                self._kept_size += len(data)
                self._kept = self._kept if self._kept_size <= _KEEP else None
        try:
            out = dec.decode(data, _OUT)
        except self._codec.errors as exc:
            error = exc
        else:
            self._since += len(out)
            return out
        given = 0  # of what the recovery decodes, the output already handed out
        if isinstance(saved, _Zlib):  # from the state before this call, its input: what zlib had left, or data
            data, saved.tail = saved.tail + data, b""
        else:  # from the state before the last input was fed, that input (bz2 and lzma keep what they buffer)
            (call, data), given = self._last, self._since
            saved = self._decode_again(call)
        start = self._fed - len(data)
        reason = str(error).strip() or type(error).__name__
        if saved is None:
            out, where = b"", f"between bytes {start:,} and {self._fed:,}"
        else:
            out, offset = self._trickle(saved, data, start)
            out, where = out[given:], f"at byte {offset:,}"
        self._damage(
            "damaged compression",
            f"the {self._codec.name} data is corrupt {where} of the compressed file ({reason}); all before it was read",
        )
        return out

    def _decode_again(self, call: int) -> _Decoder | None:
        """The decoder's state before call number ``call`` of this member, by decoding the member again
        with the same calls: from the input kept, or from a file that can seek; None where neither can."""
        try:
            if self._kept is not None:
                source: Any = io.BytesIO(b"".join(self._kept))
            elif self._base is not None:
                source = self._raw
                source.seek(self._base + self._member_at)
            else:
                return None
            dec = self._codec.new()
            for size in self._sizes[: call - 1]:
                dec.decode(source.read(size) if size else b"", _OUT)
        except OSError:  # cannot seek after all
            return None
        except self._codec.errors:  # the file changed under us
            return None
        return dec

    def _trickle(self, dec: _Decoder, data: bytes, start: int) -> tuple[bytes, int]:
        """Feed ``data`` a byte at a time, as the library's decoder would be at its most careful: all the
        output before the failing byte, and that byte's offset."""
        out: list[bytes] = []
        index = 0
        try:
            for index in range(len(data)):
                if dec.eof:
                    break
                piece = dec.decode(data[index : index + 1], 0)
                while piece:  # bz2 ends a call when its input is used up, with output still due
                    out.append(piece)
                    piece = b"" if dec.eof else dec.decode(b"", 0)
            else:
                index = len(data)
        except self._codec.errors:
            pass
        return b"".join(out), start + index

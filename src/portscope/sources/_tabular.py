"""What the structured-format sources share: whole-line chunks, exact-size batches, vectorised checks.

Large logs (a day of Zeek conn.log is millions of lines) are read a chunk of whole lines at a time
(:func:`line_chunks`), each chunk converted by Arrow's C++ code (pyarrow.csv, pyarrow.compute), and
the result cut into ``ctx.batch_size`` rows (:func:`slices`): memory follows the chunk and batch
sizes, never the file's. The per-row Python code is kept for the rare chunk that needs it (a bad
line), so a bad record costs a slow chunk, not a slow file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from portscope.sources._ip_protocols import PROTOCOL_NAMES
from portscope.sources._ip_protocols import PROTOCOL_NUMBERS as _NUMBERS
from portscope.sources._records import BadRecord

__all__ = [
    "CHUNK_SIZE",
    "IP_PATTERN",
    "MAX_LINE",
    "PORT_PROTOCOLS",
    "PROTOCOL_NAMES",
    "Readable",
    "Replayed",
    "address",
    "count",
    "first_byte",
    "is_ip",
    "iso_micros",
    "json_array_items",
    "json_lines",
    "line_chunks",
    "line_numbers",
    "parse_port",
    "port",
    "protocol",
    "slices",
    "tcp_flag_names",
    "valid_ip",
]


class Readable(Protocol):
    """What the readers here need of a stream: ``read`` (a file, a BytesIO, :class:`Replayed`)."""

    def read(self, size: int = -1, /) -> bytes: ...


CHUNK_SIZE = 4 << 20
MAX_LINE = 16 << 20

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_H = "[0-9A-Fa-f]{1,4}"
_V6 = "|".join(
    part.replace("H", _H).replace("V", _V4)
    for part in (
        "(?:H:){7}H",
        "(?:H:){1,7}:",
        "(?:H:){1,6}:H",
        "(?:H:){1,5}(?::H){1,2}",
        "(?:H:){1,4}(?::H){1,3}",
        "(?:H:){1,3}(?::H){1,4}",
        "(?:H:){1,2}(?::H){1,5}",
        "H:(?::H){1,6}",
        ":(?:(?::H){1,7}|:)",
        "(?:H:){6}V",
        "::(?:ffff(?::0{1,4})?:)?V",
        "(?:H:){1,5}:V",
        "(?:H:){1,4}(?::H)?:V",
        "::(?:H:){0,5}V",
    )
)
# IPv4 dotted quad (no leading zeros, as inet_ntop writes) or IPv6 text (RFC 4291 section 2.2), no
# zone index. One pattern for RE2 (pyarrow.compute) and Python's re, so the vectorised path and the
# per-line path accept exactly the same addresses.
IP_PATTERN = rf"^(?:{_V4}|{_V6})$"
_IP = re.compile(IP_PATTERN)


def valid_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address as :data:`IP_PATTERN` defines it."""
    return _IP.fullmatch(text) is not None  # as RE2 reads IP_PATTERN: "$" not before a final newline


def is_ip(values: Any) -> Any:
    """A boolean array: true where the string array holds an address, null where it is null."""
    import pyarrow.compute as pc

    return pc.match_substring_regex(values, IP_PATTERN)


def parse_port(text: str) -> int:
    """A TCP/UDP port from decimal text; ValueError naming the value unless it is 0-65535."""
    if not text.isdigit() or not text.isascii() or len(text) > 5 or int(text) > 65535:
        raise ValueError(f"port {text!r} is not 0-65535")
    return int(text)


def line_chunks(stream: Readable, size: int | None = None) -> Iterator[bytes | None]:
    """Successive runs of whole lines of ``stream``, about ``size`` (default :data:`CHUNK_SIZE`) bytes each.

    Each chunk ends with a newline except the last one of a file without a final newline. A line
    longer than :data:`MAX_LINE` is dropped rather than held in memory whole: ``None`` stands in its
    place, so the caller can count it as one (bad) line.
    """
    size = size or CHUNK_SIZE
    pending = b""  # the start of a line whose end has not been read yet
    skipping = False  # inside an overlong line, dropping bytes up to its end
    while True:
        block = stream.read(size)
        if not block:
            break
        if skipping:
            end = block.find(b"\n")
            if end < 0:
                continue
            block, skipping = block[end + 1 :], False
            yield None
            if not block:
                continue
        data = pending + block if pending else block
        cut = data.rfind(b"\n") + 1
        if not cut:
            if len(data) > MAX_LINE:
                skipping, pending = True, b""
            else:
                pending = data
            continue
        yield data[:cut] if cut < len(data) else data
        pending = data[cut:]
    if skipping:
        yield None
    elif pending:
        yield pending


def line_numbers(first: int, count: int) -> Any:
    """``evidence_line`` for ``count`` consecutive lines from ``first``, as a uint64 array."""
    import numpy as np
    import pyarrow as pa

    return pa.array(np.arange(first, first + count, dtype=np.uint64))


def slices(batch: Any, size: int) -> Iterator[Any]:
    """``batch`` in slices of at most ``size`` rows (zero-copy); nothing for an empty batch.

    Smaller batches pass as they are: gluing them into exactly ``size`` rows would copy every row
    once for nothing, since memory is bounded either way.
    """
    size = max(1, size)
    if batch.num_rows <= size:
        if batch.num_rows:
            yield batch
        return
    for offset in range(0, batch.num_rows, size):
        yield batch.slice(offset, size)


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|z|[+-]\d\d(?::?\d\d)?)?")


def iso_micros(text: str) -> int:
    """Microseconds since the epoch of an ISO 8601 / RFC 3339 time; ValueError naming the text otherwise.

    Takes what Zeek (``JSON::TS_ISO8601``: ``2019-12-03T22:44:56.052279Z``), Suricata
    (``2016-12-30T20:08:09.153226+0000``, strftime's ``%z``) and Windows (``2024-05-01T10:00:00.1234567Z``,
    seven digits) write. A time without a zone is read as UTC: the formats that omit it mean UTC.
    """
    from datetime import datetime, timedelta, timezone

    match = _ISO.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 time")
    zone = match[8]
    offset = 0
    if zone and zone not in "Zz":
        digits = zone[1:].replace(":", "").ljust(4, "0")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60 * (-1 if zone[0] == "-" else 1)
    try:
        value = datetime(
            int(match[1]), int(match[2]), int(match[3]), int(match[4]), int(match[5]), int(match[6]),
            int((match[7] or "0").ljust(6, "0")[:6]), tzinfo=timezone(timedelta(seconds=offset)),
        )  # fmt: skip
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date and time") from exc
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def json_lines(stream: Readable, stats: Any, label: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each JSON object line; blank lines skipped, bad ones rejected.

    A line that is not JSON (cut off, invalid UTF-8, which orjson refuses) or not an object is a
    bad record of kind ``malformed JSON``, named by its line.
    """
    import orjson

    line = 1
    for chunk in line_chunks(stream):
        if chunk is None:
            stats.reject(label, line, "malformed JSON", "a line longer than 16 MiB")
            line += 1
            continue
        lines = chunk.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        for offset, raw in enumerate(lines):
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                stats.reject(label, line + offset, "malformed JSON", str(exc))
                continue
            if isinstance(record, dict):
                yield line + offset, record
            else:
                stats.reject(label, line + offset, "malformed JSON", f"a {type(record).__name__}, not an object")
        line += len(lines)


_JSON_SPECIAL = re.compile(rb'[\[\]{}"]')
_JSON_STRING_END = re.compile(rb'["\\]')


def json_array_items(
    stream: Readable, stats: Any, label: str, ignore: re.Pattern[bytes] | None = None
) -> Iterator[tuple[int, Any]]:
    """``(record number, element)`` for each object or array in a top-level JSON array, streamed.

    The array is never held whole: elements are cut out by tracking brackets and strings, and each
    is parsed alone. Commas are not checked, so masscan's trailing ``,`` before ``]`` and a missing
    ``]`` after the last element are tolerated; an element that does not parse is a bad record
    (numbered from 1, as ``evidence_line`` numbers them), and a file cut inside one ends with one.
    An element whose text fullmatches ``ignore`` is passed over (it keeps its number).
    """
    import orjson

    buffer = b""
    depth = 0  # 0 between elements, 1 inside an element's outer brackets, ...
    start = 0  # where the current element begins in buffer
    pos = 0
    number = 0
    in_string = opened = False
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        buffer += chunk
        while True:
            if in_string:
                found = _JSON_STRING_END.search(buffer, pos)
                if found is None or (found[0] == b"\\" and found.end() >= len(buffer)):
                    pos = len(buffer) if found is None else found.start()
                    break
                in_string, pos = found[0] == b"\\", found.end() + (1 if found[0] == b"\\" else 0)
                continue
            found = _JSON_SPECIAL.search(buffer, pos)
            if found is None:
                pos = len(buffer)
                break
            char, pos = found[0], found.end()
            if char == b'"':
                in_string = True
            elif not opened:
                opened = char == b"["
            elif char in b"[{":
                if depth == 0:
                    start = found.start()
                depth += 1
            elif depth == 0:  # the array's own closing bracket
                return
            else:
                depth -= 1
                if depth == 0:
                    number += 1
                    element = buffer[start:pos]
                    try:
                        yield number, orjson.loads(element)
                    except orjson.JSONDecodeError as exc:
                        if ignore is None or not ignore.fullmatch(element):
                            stats.reject(label, number, "malformed JSON", str(exc))
                    buffer, pos = buffer[pos:], 0
        if depth == 0 and not in_string:
            buffer, pos = buffer[pos:], 0
        elif len(buffer) > 4 * MAX_LINE:
            stats.reject(label, number + 1, "malformed JSON", "an element larger than 64 MiB")
            return
    if depth or in_string:
        stats.reject(label, number + 1, "truncated input", "the JSON array ends inside an element")


# Transports whose headers have ports (TCP, UDP, DCCP, SCTP, UDP-Lite); for the others a log's 0 is no port.
PORT_PROTOCOLS = (6, 17, 33, 132, 136)
_FLAG_BITS: tuple[tuple[int, str], ...] = ((0x80, "CWR"), (0x40, "ECE"), (0x20, "URG"), (0x10, "ACK"))
_FLAG_BITS += ((0x08, "PSH"), (0x04, "RST"), (0x02, "SYN"), (0x01, "FIN"))


def protocol(value: str | int | None) -> tuple[str | None, int | None]:
    """``(protocol, ip_proto)`` from a protocol number or name as logs write it (``TCP``, ``IPv6-ICMP``, ``6``).

    ValueError for a number outside 0-255; an unknown name is kept, lowercased, with no number.
    """
    if value is None or value == "":
        return None, None
    if isinstance(value, int) or (value.isascii() and value.isdigit()):
        number = int(value)
        if not 0 <= number <= 255:
            raise ValueError(f"protocol {value!r} is not 0-255")
        return PROTOCOL_NAMES.get(number, str(number)), number
    known = _NUMBERS.get(value.lower())
    if known is None:
        return value.lower(), None
    return PROTOCOL_NAMES.get(known, str(known)), known


def tcp_flag_names(bits: int) -> str:
    """TCP flags as the kernel's LOG target names them, in its order (``ACK PSH SYN FIN``) for a bit mask."""
    return " ".join(name for bit, name in _FLAG_BITS if bits & bit)


def port(value: Any, name: str) -> int | None:
    """A port from JSON or text (None when absent); BadRecord naming the field unless it is 0-65535."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRecord("bad port", f"{name} {value!r} is not a port")
    try:
        return parse_port(str(value))
    except ValueError as exc:
        raise BadRecord("bad port", f"{name}: {exc}") from exc


def address(value: Any, name: str) -> str | None:
    """An IPv4/IPv6 address (None when absent); BadRecord naming the field otherwise."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not valid_ip(value):
        raise BadRecord("bad address", f"{name} {value!r} is not an IP address")
    return value


def count(value: Any, name: str) -> int | None:
    """A non-negative whole number (packets, bytes) from JSON or text; BadRecord otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise BadRecord("bad value", f"{name} {value!r} is not a count")
    return value


class Replayed:
    """A readable stream that gives back ``head`` (bytes already read to look at) before the rest of ``stream``."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._stream.read(size)


def first_byte(stream: Readable) -> tuple[bytes, Replayed]:
    """(the first byte that is not white space, or b"" for an empty input; a stream replaying what was read)."""
    taken = b""
    while True:
        block = stream.read(1 << 16)
        taken += block
        stripped = taken.lstrip()
        if stripped or not block:
            return stripped[:1], Replayed(taken, stream)

"""The IANA port registry, indexed so that one look-up costs well under a millisecond.

Why an index: the registry's CSV export is 1.1 MB and 14,499 rows, and parsing it with :mod:`csv`
on every ``portscope explain`` would cost more than Python's own start-up.
:func:`portscope.ports.iana_build.build_index` turns the CSV into ``iana-ports.idx``, a sorted text
file in three sections, and :class:`IanaRegistry` finds a port or a service name in it with
``bytes.find`` over the sorted lines, decoding only the
rows it returns. ``scripts/refresh_iana.py`` rebuilds the index from a newer CSV; a test checks the
shipped index is exactly what the shipped CSV gives.

Index layout (UTF-8, tab-separated, no field holds a tab or newline)::

    #portscope-iana-index 1 <sha256 of the csv> <rows> <newest date>
    [ranges]                 entries covering more than one port, sorted by (low, high, protocol)
    low high proto name description reference unauthorized notes
    [ports]                  single-port entries, sorted the same way
    low high proto name description reference unauthorized notes
    [names]                  lower-cased service name -> port, sorted by name
    name low high proto

Rows without a port number (service names registered for DNS-SD only) are left out: they say
nothing about a port. RFC 6335 section 5.1 makes service names case-insensitive, hence [names].
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import cache

from portscope.errors import DataError
from portscope.records import IanaEntry

__all__ = ["INDEX_NAME", "MAGIC", "IanaRegistry", "registry"]

INDEX_NAME = "iana-ports.idx"
MAGIC = "#portscope-iana-index 1"
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _entry(line: bytes) -> IanaEntry:
    low, high, proto, name, description, reference, unauthorized, notes = line.decode("utf-8").split("\t")
    return IanaEntry(
        low=int(low),
        high=int(high),
        protocol=proto or None,
        name=name or None,
        description=description,
        reference=reference or None,
        unauthorized_use=unauthorized or None,
        notes=notes or None,
    )


# low, high, protocol, name of a row with a name and a real assignment (not Unassigned/Reserved);
# compiled on first use (re caches it), never at import: explain's start-up does not need it.
_ASSIGNED_ROW = rb"(?m)^(\d+)\t(\d+)\t([a-z]+)\t([^\t\n]+)\t(?!Unassigned\t|Reserved\t)"


class IanaRegistry:
    """Look-ups over the index text: by port (and protocol) and by service name."""

    def __init__(self, index: bytes, *, origin: str = INDEX_NAME) -> None:
        if not index.startswith(MAGIC.encode()):
            raise DataError(f"{origin}: not a portscope IANA index (first line should start {MAGIC!r})")
        header_end = index.index(b"\n")
        parts = index[:header_end].decode().split()
        self.csv_sha256, self.rows, self.as_of = parts[2], int(parts[3]), parts[4]
        try:
            ranges_at = index.index(b"\n[ranges]\n")
            ports_at = index.index(b"\n[ports]\n")
            names_at = index.index(b"\n[names]\n")
        except ValueError as exc:
            raise DataError(f"{origin}: a section header is missing; rebuild it with scripts/refresh_iana.py") from exc
        self._data = index
        self._ports = (ports_at + len(b"\n[ports]"), names_at + 1)
        self._names = (names_at + len(b"\n[names]"), len(index))
        self._range_block = index[ranges_at + len(b"\n[ranges]\n") : ports_at]
        self._range_bounds: list[tuple[int, int, bytes]] | None = None

    def _ranges_over(self, low: int, high: int) -> list[IanaEntry]:
        """Range rows overlapping ``low``..``high``; only those rows are decoded into entries."""
        if self._range_bounds is None:
            bounds = []
            for line in self._range_block.split(b"\n"):
                if line:
                    first, second, _ = line.split(b"\t", 2)
                    bounds.append((int(first), int(second), line))
            self._range_bounds = bounds
        return [_entry(line) for lo, hi, line in self._range_bounds if lo <= high and hi >= low]

    def _lines_with_prefix(self, prefix: bytes, span: tuple[int, int]) -> Iterable[bytes]:
        """Yield the consecutive lines of a sorted section that start with ``prefix`` (which holds its tab)."""
        start, end = span
        needle = b"\n" + prefix
        at = self._data.find(needle, start, end)
        while at != -1:
            line_end = self._data.index(b"\n", at + 1)
            yield self._data[at + 1 : line_end]
            at = line_end if self._data.startswith(prefix, line_end + 1) else -1

    def lookup(self, port: int, protocol: str | None = None) -> tuple[IanaEntry, ...]:
        """Every registry row covering ``port`` (for ``protocol``, or any), single-port rows first."""
        found = [_entry(line) for line in self._lines_with_prefix(b"%d\t%d\t" % (port, port), self._ports)]
        found += self._ranges_over(port, port)
        if protocol is not None:
            found = [e for e in found if e.protocol in (protocol, None)]
        return tuple(found)

    def by_name(self, name: str) -> tuple[IanaEntry, ...]:
        """Every row registered under service ``name`` (case-insensitive, RFC 6335 section 5.1)."""
        wanted = name.strip().lower()
        if not wanted or "\t" in wanted or "\n" in wanted:
            return ()
        out: list[IanaEntry] = []
        for line in self._lines_with_prefix(wanted.encode() + b"\t", self._names):
            _, low, high, proto = line.decode().split("\t")
            candidates = self.lookup(int(low)) if low == high else self.in_range(int(low), int(high))
            out += [
                e
                for e in candidates
                if e.name and e.name.lower() == wanted and (e.protocol or "") == proto and e.high == int(high)
            ]
        return tuple(dict.fromkeys(out))

    def in_range(self, low: int, high: int, protocol: str | None = None) -> tuple[IanaEntry, ...]:
        """Every row that overlaps ``low``..``high``: a walk of the sorted [ports] section, then [ranges]."""
        out: list[IanaEntry] = []
        end = self._ports[1]
        at = self._first_line_from(low)
        while at < end - 1:
            line_end = self._data.index(b"\n", at + 1)
            line = self._data[at + 1 : line_end]
            port = int(line[: line.index(b"\t")])
            if port > high:
                break
            out.append(_entry(line))
            at = line_end
        out += self._ranges_over(low, high)
        if protocol is not None:
            out = [e for e in out if e.protocol in (protocol, None)]
        return tuple(out)

    def _first_line_from(self, port: int) -> int:
        """Offset of the newline before the first [ports] line whose port is >= ``port`` (a bisection)."""
        start, end = self._ports
        low, high = start, end - 1  # invariant: the answer's newline lies in [low, high]
        while low < high:
            mid = self._data.index(b"\n", (low + high) // 2, end)
            if mid >= high:
                break
            line_port = int(self._data[mid + 1 : self._data.index(b"\t", mid + 1)])
            if line_port < port:
                low = self._data.index(b"\n", mid + 1)
            else:
                high = mid
        # ``low`` is a newline; walk forward over the few lines still below ``port``.
        at = low
        while at < end - 1 and int(self._data[at + 1 : self._data.index(b"\t", at + 1)]) < port:
            at = self._data.index(b"\n", at + 1)
        return at

    def service_names(self) -> dict[tuple[int, str], str]:
        """(port, protocol) -> the first assigned service name, for classifying many sockets at once.

        One regular-expression pass over the index (a few ms), for callers that name ports by the
        thousand; a single port is cheaper through :meth:`lookup`.
        """
        names: dict[tuple[int, str], str] = {}
        start, end = self._ports
        for block in (self._data[start:end], self._range_block):
            for low, high, proto, name in re.findall(_ASSIGNED_ROW, block):
                text, transport = name.decode(), proto.decode()
                for port in range(int(low), int(high) + 1):
                    names.setdefault((port, transport), text)
        return names

    def names(self) -> list[str]:
        """All registered service names, lower-cased (for 'did you mean' suggestions)."""
        start, end = self._names
        block = self._data[start:end].decode()
        return sorted({line.split("\t", 1)[0] for line in block.split("\n") if line})


@cache
def registry(path: str | None = None) -> IanaRegistry:
    """The shipped registry (or one built at ``path``), loaded once per process."""
    file = os.path.join(DATA_DIR, INDEX_NAME) if path is None else path
    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read IANA index: {exc.strerror}") from exc
    return IanaRegistry(data, origin=file)

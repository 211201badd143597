"""The IANA port registry, indexed so that one look-up costs well under a millisecond.

Why an index: the registry's CSV export is 1.1 MB and 14,499 rows, and parsing it with :mod:`csv`
on every ``portscope explain`` would cost more than Python's own start-up.
:func:`portscope.ports.iana_build.build_index` turns the CSV into ``iana-ports.idx``, a sorted text
file in three sections, and :class:`IanaRegistry` finds a port or a service name in it with
``bytes.find`` over the sorted lines, decoding only the
rows it returns. ``scripts/refresh_iana.py`` rebuilds the index from a newer CSV; a test checks the
shipped index is exactly what the shipped CSV gives.

Index layout (UTF-8, tab-separated, no field holds a tab or newline)::

    #portscope-iana-index 2 <sha256 of the csv> <rows> <newest date> <offsets of the 3 sections>
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

import mmap
import os
import re
from functools import cache

from portscope.errors import DataError
from portscope.ports._sorted_lines import bisect_lines, lines_from
from portscope.records import IanaEntry

__all__ = ["INDEX_NAME", "MAGIC", "IanaRegistry", "registry"]

INDEX_NAME = "iana-ports.idx"
MAGIC = "#portscope-iana-index 2"
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _port_key(line: bytes) -> int:
    return int(line[: line.find(b"\t")])


def _name_key(line: bytes) -> bytes:
    return line[: line.find(b"\t")]


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


# low, high, protocol, name (empty for some: "any private mail system") and description of a row with a
# real assignment (not Unassigned/Reserved); compiled on first use (re caches it), never at import:
# explain's start-up does not need it.
_ANY_ASSIGNED_ROW = rb"(?m)^(\d+)\t(\d+)\t([a-z]+)\t([^\t\n]*)\t(?!(?i:unassigned|reserved)\t)([^\t\n]*)"


class IanaRegistry:
    """Look-ups over the index: by port (and protocol) and by service name.

    ``index`` is any bytes-like buffer, usually a read-only memory map of the file: every look-up is
    a bisection over sorted lines, so one ``explain`` touches a handful of pages, not the 900 kB.
    """

    def __init__(self, index: bytes | mmap.mmap, *, origin: str = INDEX_NAME) -> None:
        head_end = index.find(b"\n", 0, 512)
        head = bytes(index[: max(head_end, 0)]).decode("ascii", "replace")
        if not head.startswith(MAGIC):
            raise DataError(f"{origin}: not a portscope IANA index (first line should start {MAGIC!r})")
        parts = head.split()
        try:
            self.csv_sha256, self.rows, self.as_of = parts[2], int(parts[3]), parts[4]
            ranges_at, ports_at, names_at = (int(v) for v in parts[5:8])
        except (IndexError, ValueError) as exc:
            raise DataError(f"{origin}: its header is damaged; rebuild it with scripts/refresh_iana.py") from exc
        markers = ((ranges_at, b"[ranges]\n"), (ports_at, b"[ports]\n"), (names_at, b"[names]\n"))
        if any(index[at : at + len(marker)] != marker for at, marker in markers):
            raise DataError(
                f"{origin}: a section is not where its header says; rebuild it with scripts/refresh_iana.py"
            )
        self._data = index
        # Each span runs from the newline ending a section's header line to the section's last newline.
        self._ports = (ports_at + len(b"[ports]"), names_at - 1)
        self._names = (names_at + len(b"[names]"), len(index) - 1)
        self._range_block = bytes(index[ranges_at + len(b"[ranges]\n") : ports_at])
        self._range_bounds: list[tuple[int, int, bytes]] | None = None
        self._assigned_maps: tuple[dict[tuple[int, str], str], dict[tuple[int, str], str]] | None = None

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

    def lookup(self, port: int, protocol: str | None = None) -> tuple[IanaEntry, ...]:
        """Every registry row covering ``port`` (for ``protocol``, or any), single-port rows first."""
        found = []
        for line in lines_from(self._data, bisect_lines(self._data, *self._ports, _port_key, port), self._ports[1]):
            if _port_key(line) != port:
                break
            found.append(_entry(line))
        found += self._ranges_over(port, port)
        if protocol is not None:
            found = [e for e in found if e.protocol in (protocol, None)]
        return tuple(found)

    def by_name(self, name: str) -> tuple[IanaEntry, ...]:
        """Every row registered under service ``name`` (case-insensitive, RFC 6335 section 5.1)."""
        wanted = name.strip().lower()
        if not wanted or not wanted.isascii() or "\t" in wanted or "\n" in wanted:
            return ()
        key = wanted.encode()
        out: list[IanaEntry] = []
        for line in lines_from(self._data, bisect_lines(self._data, *self._names, _name_key, key), self._names[1]):
            if _name_key(line) != key:
                break
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
        for line in lines_from(self._data, bisect_lines(self._data, *self._ports, _port_key, low), self._ports[1]):
            if _port_key(line) > high:
                break
            out.append(_entry(line))
        out += self._ranges_over(low, high)
        if protocol is not None:
            out = [e for e in out if e.protocol in (protocol, None)]
        return tuple(out)

    def service_names(self) -> dict[tuple[int, str], str]:
        """(port, protocol) -> the first assigned service name, for classifying many sockets at once.

        One regular-expression pass over the index (a few ms, shared with :meth:`assignments`), for
        callers that name ports by the thousand; a single port is cheaper through :meth:`lookup`.
        """
        return self._assigned()[0]

    def assignments(self) -> dict[tuple[int, str], str]:
        """(port, protocol) -> what IANA assigns it to (the first row's service name, else its description),
        for every real assignment (not the Unassigned and Reserved rows): the service set of
        :mod:`portscope.ports.classify`."""
        return self._assigned()[1]

    def _assigned(self) -> tuple[dict[tuple[int, str], str], dict[tuple[int, str], str]]:
        """Both maps above from one pass over the index, made once per registry."""
        if self._assigned_maps is None:
            names: dict[tuple[int, str], str] = {}
            assigned: dict[tuple[int, str], str] = {}
            start, end = self._ports
            for block in (bytes(self._data[start:end]), self._range_block):
                for low, high, proto, name, description in re.findall(_ANY_ASSIGNED_ROW, block):
                    transport = proto.decode()
                    text = name.decode() if name else None
                    what = text or description.decode()
                    for port in range(int(low), int(high) + 1):
                        key = (port, transport)
                        assigned.setdefault(key, what)
                        if text is not None:
                            names.setdefault(key, text)
            self._assigned_maps = (names, assigned)
        return self._assigned_maps

    def names(self) -> list[str]:
        """All registered service names, lower-cased (for 'did you mean' suggestions)."""
        start, end = self._names
        block = bytes(self._data[start:end]).decode()
        return sorted({line.split("\t", 1)[0] for line in block.split("\n") if line})


@cache
def registry(path: str | None = None) -> IanaRegistry:
    """The shipped registry (or one built at ``path``), loaded once per process."""
    file = os.path.join(DATA_DIR, INDEX_NAME) if path is None else path
    try:
        with open(file, "rb") as handle:
            data: bytes | mmap.mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except ValueError:  # an empty file cannot be mapped
        data = b""
    except OSError as exc:
        raise DataError(f"{path}: cannot read IANA index: {exc.strerror}") from exc
    return IanaRegistry(data, origin=file)

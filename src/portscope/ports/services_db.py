"""The system's own port databases: /etc/services and, where nmap is installed, nmap-services.

They add what IANA does not say: the names this host's tools print (``netstat`` without ``-n`` reads
/etc/services) and nmap's open-frequency, the share of hosts nmap's authors found with that port open
on the Internet, which is the best cheap hint of how common a listener on that port is.

Neither file is parsed whole: /etc/services is small and searched with ``bytes.find``; nmap-services
(1 MB, sorted by port) is memory-mapped and bisected.
"""

from __future__ import annotations

import mmap
import os
import re
import sys
from functools import cache

from portscope.ports._sorted_lines import bisect_lines, lines_from
from portscope.records import ServiceDbEntry

__all__ = ["ServicesFile", "etc_services", "nmap_services", "system_services"]

_NMAP_CANDIDATES = (
    "/usr/share/nmap/nmap-services",
    "/usr/local/share/nmap/nmap-services",
    "/opt/homebrew/share/nmap/nmap-services",
    "/opt/local/share/nmap/nmap-services",
    r"C:\Program Files (x86)\Nmap\nmap-services",
    r"C:\Program Files\Nmap\nmap-services",
)


class ServicesFile:
    """One services(5)-style file: ``name port/proto [aliases | frequency] [# comment]`` per line.

    ``kind`` is ``services`` for /etc/services (third field onwards are aliases) or ``nmap`` for
    nmap-services (third field is the open-frequency).
    """

    def __init__(self, path: str, data: bytes | mmap.mmap, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._data = data

    def _line_at(self, at: int) -> bytes:
        start = self._data.rfind(b"\n", 0, at) + 1
        end = self._data.find(b"\n", at)
        return self._data[start : end if end != -1 else len(self._data)]

    def _parse(self, line: bytes) -> ServiceDbEntry | None:
        text = line.decode("utf-8", "replace")
        body, _, comment = text.partition("#")
        fields = body.split()
        if len(fields) < 2 or "/" not in fields[1]:
            return None
        port_text, _, proto = fields[1].partition("/")
        if not port_text.isdigit():
            return None
        frequency: float | None = None
        aliases: tuple[str, ...] = ()
        if self.kind == "nmap" and len(fields) > 2:
            try:
                frequency = float(fields[2])
            except ValueError:
                frequency = None
        else:
            aliases = tuple(fields[2:])
        return ServiceDbEntry(
            source=self.path,
            name=fields[0],
            port=int(port_text),
            protocol=proto.lower(),
            aliases=aliases,
            comment=comment.strip() or None,
            open_frequency=frequency,
        )

    def lookup(self, port: int, protocol: str | None = None) -> tuple[ServiceDbEntry, ...]:
        """Entries for ``port`` (and ``protocol``), in file order."""
        if self.kind == "nmap":  # sorted by port: bisect, touching a few pages of the 1 MB file
            found = []
            start = bisect_lines(self._data, -1, len(self._data), _nmap_port, port)
            for line in lines_from(self._data, start, len(self._data)):
                if _nmap_port(line) != port:
                    break
                entry = self._parse(line)
                if entry is not None and (protocol is None or entry.protocol == protocol):
                    found.append(entry)
            return tuple(found)
        needle = b"%d/" % port
        out: list[ServiceDbEntry] = []
        at = self._data.find(needle)
        while at != -1:
            before = self._data[at - 1 : at] if at else b"\n"
            if before in (b" ", b"\t"):
                entry = self._parse(self._line_at(at))
                if entry and entry.port == port and (protocol is None or entry.protocol == protocol):
                    out.append(entry)
            at = self._data.find(needle, at + 1)
        return tuple(dict.fromkeys(out))

    def by_name(self, name: str) -> tuple[ServiceDbEntry, ...]:
        """Entries whose name or alias is ``name`` (case-insensitive)."""
        wanted = name.lower()
        if not re.fullmatch(r"[a-z0-9][a-z0-9._+-]*", wanted):
            return ()
        pattern = re.compile(rb"^[^#\n]*(?<![^\s])" + re.escape(wanted.encode()) + rb"(?![^\s])", re.M | re.I)
        out = []
        for match in pattern.finditer(self._data):
            entry = self._parse(self._line_at(match.start()))
            if entry and wanted in {entry.name.lower(), *(a.lower() for a in entry.aliases)}:
                out.append(entry)
        return tuple(dict.fromkeys(out))


def _nmap_port(line: bytes) -> int:
    """The port of an nmap-services line (``name<TAB>port/proto<TAB>frequency``); -1 for comments."""
    first_tab = line.find(b"\t")
    slash = line.find(b"/", first_tab)
    try:
        return int(line[first_tab + 1 : slash])
    except ValueError:
        return -1


def _load(path: str, kind: str) -> ServicesFile | None:
    try:
        with open(path, "rb") as handle:
            if kind == "nmap":
                return ServicesFile(path, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ), kind)
            return ServicesFile(path, handle.read(), kind)
    except (OSError, ValueError):  # unreadable, or empty (an empty file cannot be mapped)
        return None


@cache
def etc_services() -> ServicesFile | None:
    """/etc/services (on Windows, %SystemRoot%\\System32\\drivers\\etc\\services), or None if absent."""
    if sys.platform == "win32":
        root = os.environ.get("SYSTEMROOT", r"C:\Windows")
        return _load(os.path.join(root, "System32", "drivers", "etc", "services"), "services")
    return _load("/etc/services", "services")


@cache
def nmap_services() -> ServicesFile | None:
    """nmap's nmap-services, from $NMAPDIR or the usual install places, or None if nmap is absent."""
    candidates = list(_NMAP_CANDIDATES)
    if os.environ.get("NMAPDIR"):
        candidates.insert(0, os.path.join(os.environ["NMAPDIR"], "nmap-services"))
    for candidate in candidates:
        loaded = _load(candidate, "nmap")
        if loaded is not None:
            return loaded
    return None


def system_services(port: int, protocol: str | None = None) -> tuple[ServiceDbEntry, ...]:
    """What /etc/services and nmap-services say of ``port``, each entry marked by its file."""
    out: list[ServiceDbEntry] = []
    for db in (etc_services(), nmap_services()):
        if db is not None:
            out += db.lookup(port, protocol)
    return tuple(out)

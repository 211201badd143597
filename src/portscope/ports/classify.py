"""The one definition of a port's class: ``service``, ``ephemeral`` or ``other``, and which step decided.

Every part of portscope that asks "is this port a service or a client's?" asks here: ``explain``
(:mod:`portscope.explain`), the roles of live sockets (:mod:`portscope.host.roles`), the analysis of
flows (:mod:`portscope.analyze.prepare`, through :func:`class_expression`, the engine twin built from
the same data) and the report's port list. Precedence, highest first; the reason names the step:

1. ``observed``: a fact decides. A listener holds the port, or an application protocol was seen on
   it (Zeek's ``service``, a banner): it is a service, whatever its number.
2. ``curated``: a well-known service port (:data:`portscope.ports.curated.CURATED_SERVICES`:
   WireGuard 51820, the kubelet 10250, BACnet 47808...) is a service even inside the client range.
   (A policy's declared ports will join this step.)
3. ``client-range``: a port inside the client range in force (the host's or network namespace's
   range, else ``--os``, else IANA's 49152-65535), and not reserved there, is ``ephemeral``, even when
   IANA names it; the IANA name is kept as a note. Linux hands out 33434 as readily as 33433.
4. ``iana``: outside that range, an IANA assignment makes it a service.
5. ``unassigned``: the rest are ``other``: a private or unregistered service, or a client port of
   an OS whose range is not the one in force.

The service set is one documented table: the IANA registry's assignments for the protocol (named or
not: "any private mail system" is an assignment) and the curated list. Both :func:`class_table` (a
65,536-byte map, for classifying sockets by the hundred thousand) and :func:`class_expression` (Ibis,
for DuckDB and Spark) are built from it; a test runs every port through both and compares.
"""

from __future__ import annotations

import functools

from portscope.errors import UsageError
from portscope.ports.curated import CURATED_SERVICES
from portscope.ports.ranges import IANA_DYNAMIC
from portscope.records import ClientRange, CuratedService, PortClass

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CLASSES",
    "CODE_EPHEMERAL",
    "CODE_OTHER",
    "CODE_SERVICE",
    "EPHEMERAL",
    "OTHER",
    "REASONS",
    "SERVICE",
    "class_expression",
    "class_name",
    "class_table",
    "classify",
    "curated_service",
    "iana_assignment",
    "iana_assignments",
]

SERVICE, EPHEMERAL, OTHER = "service", "ephemeral", "other"
CLASSES = (SERVICE, EPHEMERAL, OTHER)
# A class as one byte, in the tables that classify many ports at once.
CODE_OTHER, CODE_EPHEMERAL, CODE_SERVICE = 0, 1, 2
_BY_CODE = (OTHER, EPHEMERAL, SERVICE)

# Each step of the precedence: its code (PortClass.reason) and what it means.
REASONS = {
    "observed": "a fact decided: a listener holds it, or an application protocol was seen on it",
    "curated": "a well-known service port (portscope's curated list), a service even inside a client range",
    "client-range": "inside the client range in force, where the OS hands ports to outgoing connections",
    "iana": "outside the client range, and assigned by IANA",
    "unassigned": "outside the client range, and not assigned by IANA",
}

_IANA_SOURCE = "IANA Service Name and Transport Protocol Port Number Registry"
# Each transport's place in the keys of class_expression: port + offset, so one key table serves all.
_PROTOCOL_OFFSET = {"tcp": 0, "udp": 65536, "sctp": 131072, "dccp": 196608}


@functools.cache
def iana_assignments(protocol: str) -> dict[int, str]:
    """Port -> what IANA assigns it to, for one transport (tcp, udp, sctp, dccp; others have none)."""
    from portscope.ports.iana import registry

    return {port: name for (port, proto), name in registry().assignments().items() if proto == protocol}


@functools.cache
def _curated(protocol: str) -> dict[int, CuratedService]:
    return {
        port: entry
        for entry in CURATED_SERVICES
        if protocol in entry.protocols
        for port in range(entry.low, entry.high + 1)
    }


def iana_assignment(port: int, protocol: str) -> str | None:
    """What IANA assigns one port to: a look-up in the index (a bisection), not the whole registry's
    map that :func:`iana_assignments` builds for tables, so ``explain`` stays instant."""
    from portscope.ports.iana import registry

    for entry in registry().lookup(port, protocol):
        if entry.protocol == protocol and entry.assigned:
            return entry.name or entry.description
    return None


def curated_service(port: int, protocol: str) -> CuratedService | None:
    """The curated entry covering ``port`` over ``protocol``, if any."""
    return _curated(protocol.lower()).get(port)


def _range_source(client_range: ClientRange) -> str:
    held = ", ".join(f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in client_range.reserved)
    reserved = f", less reserved {held}" if held else ""
    return f"{client_range.label} {client_range.low}-{client_range.high}{reserved} ({client_range.source})"


def classify(
    port: int, protocol: str, client_range: ClientRange = IANA_DYNAMIC, *, observed: str | None = None
) -> PortClass:
    """The class of ``port`` over ``protocol`` when clients pick ports from ``client_range``.

    ``observed`` is a fact that makes it a service (``listener``, ``zeek service ssh``...), step 1.
    Raises UsageError for a port outside 0-65535.
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"port {port} is outside 0-65535")
    proto = protocol.lower()
    iana = iana_assignment(port, proto)
    curated = _curated(proto).get(port)
    if observed is not None:
        return PortClass(port, proto, SERVICE, "observed", observed, curated.name if curated else iana)
    if curated is not None:
        return PortClass(port, proto, SERVICE, "curated", curated.source, curated.name)
    if client_range.contains(port):
        note = None
        if iana is not None:
            note = f"IANA assigns it to {iana}, but inside the client range the OS hands it to outgoing connections"
        return PortClass(port, proto, EPHEMERAL, "client-range", _range_source(client_range), None, note)
    if iana is not None:
        return PortClass(port, proto, SERVICE, "iana", _IANA_SOURCE, iana)
    return PortClass(port, proto, OTHER, "unassigned", "neither IANA nor portscope's curated list names it")


@functools.lru_cache(maxsize=64)  # a watcher meets a few ranges, each table is 64 kB: bounded
def class_table(protocol: str, client_range: ClientRange = IANA_DYNAMIC) -> bytes:
    """Every port's class over ``protocol`` as one byte (:data:`CODE_SERVICE`...), index = port.

    The same steps as :func:`classify`, without facts (a caller that knows a listener holds a port
    says so itself), written in reverse order so that the higher step overwrites the lower.
    """
    table = bytearray(65536)
    proto = protocol.lower()
    for port in iana_assignments(proto):
        table[port] = CODE_SERVICE
    low, high = client_range.low, client_range.high
    table[low : high + 1] = bytes([CODE_EPHEMERAL]) * (high - low + 1)
    for reserved_low, reserved_high in client_range.reserved:
        for port in range(max(reserved_low, low), min(reserved_high, high) + 1):
            table[port] = CODE_SERVICE if port in iana_assignments(proto) else CODE_OTHER
    for port in _curated(proto):
        table[port] = CODE_SERVICE
    return bytes(table)


def class_name(code: int) -> str:
    """``service``, ``ephemeral`` or ``other`` for a byte of :func:`class_table`."""
    return _BY_CODE[code]


def _keys(ports: dict[str, Any]) -> list[int]:
    return sorted(port + _PROTOCOL_OFFSET[proto] for proto, found in ports.items() for port in found)


@functools.cache
def _key_tables() -> tuple[Any, Any]:
    """The curated and the IANA service sets as one-column in-memory tables of port + protocol offset.

    Tables, not IN lists of literals: 12,000 literals cost Ibis a second to compile and DuckDB 20 s
    to run over 10 million ports, where ``IN (SELECT key ...)`` is a hash look-up (0.26 s; Spark runs
    it as an existence join). Made once per process, so every expression shares them.
    """
    import ibis
    import pyarrow as pa

    curated = _keys({proto: _curated(proto) for proto in _PROTOCOL_OFFSET})
    iana = _keys({proto: iana_assignments(proto) for proto in _PROTOCOL_OFFSET})
    return (
        ibis.memtable(pa.table({"key": pa.array(curated, pa.int32())})),
        ibis.memtable(pa.table({"key": pa.array(iana, pa.int32())})),
    )


def class_expression(
    port: Any,
    protocol: Any,
    low: Any,
    high: Any,
    *,
    reserved: tuple[tuple[int, int], ...] = (),
    observed: Any = None,
) -> Any:
    """The engine twin of :func:`classify`: an Ibis string expression, ``service``, ``ephemeral`` or
    ``other`` (null where ``port`` is null), for DuckDB and Spark alike.

    ``port`` is an integer column, ``protocol`` a string column (or a Python string), ``low`` and
    ``high`` numbers or columns (a host's own range per row). ``observed`` is a boolean column that
    makes the port a service where true (step 1). The service set is the same data as the Python
    side's: a table of port + protocol offset keys per step (:func:`_key_tables`).
    """
    import ibis

    curated_keys, iana_keys = _key_tables()
    if isinstance(protocol, str):
        offset: Any = ibis.literal(_PROTOCOL_OFFSET.get(protocol.lower(), -(2**20)), "int32")
    else:
        offset = ibis.cases(
            *((protocol == name, ibis.literal(value, "int32")) for name, value in _PROTOCOL_OFFSET.items()),
            else_=ibis.literal(-(2**20), "int32"),
        )
    port = port.cast("int32")
    key = port + offset
    in_range = port.between(low, high)
    for reserved_low, reserved_high in reserved:
        in_range = in_range & ~port.between(reserved_low, reserved_high)
    cases: list[tuple[Any, Any]] = [(port.isnull(), ibis.null("string"))]
    if observed is not None:
        cases.append((observed.fill_null(False), ibis.literal(SERVICE)))
    cases += [
        (key.isin(curated_keys.key), ibis.literal(SERVICE)),
        (in_range, ibis.literal(EPHEMERAL)),
        (key.isin(iana_keys.key), ibis.literal(SERVICE)),
    ]
    return ibis.cases(*cases, else_=ibis.literal(OTHER))

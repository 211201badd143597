"""Parse what people type for a port: ``443``, ``443/udp``, ``49152-49160``, ``ssh``, ``https/udp``.

Every failure is a :class:`~portscope.errors.PortSpecError` that says what was wrong and what is
accepted, so a command given several arguments can report the bad one and answer the others.
"""

from __future__ import annotations

from portscope.errors import PortSpecError
from portscope.ports.iana import registry
from portscope.ports.services_db import etc_services
from portscope.records import PortQuery

__all__ = ["PROTOCOLS", "parse_port_spec"]

# The transports the IANA registry assigns ports for (RFC 6335 section 5).
PROTOCOLS = ("tcp", "udp", "sctp", "dccp")
DEFAULT_PROTOCOLS = ("tcp", "udp")
MAX_PORT = 65535
_ACCEPTED = "a port 0-65535, PORT/PROTO (tcp, udp, sctp, dccp), a range LOW-HIGH, or a service name (ssh, https)"


def _protocol(argument: str, text: str) -> str:
    proto = text.strip().lower()
    if proto not in PROTOCOLS:
        raise PortSpecError(argument, f"unknown protocol {text!r}; valid ones are: {', '.join(PROTOCOLS)}")
    return proto


def _port(argument: str, text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_PORT:
        raise PortSpecError(argument, f"port {value} is out of range; ports are 0-{MAX_PORT}")
    return value


def _is_number(text: str) -> bool:
    """A decimal integer, optionally signed (so ``-1`` is reported as out of range, not as a name)."""
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isascii() and digits.isdigit()


def _split_range(text: str) -> tuple[str, str] | None:
    """``LOW-HIGH`` (spaces allowed around the dash) as its two numbers' text, else None.

    Anything else is a service name: RFC 6335 names may start with a digit (``3com-tsmux``).
    """
    at = text.find("-", 1)
    if at == -1:
        return None
    low, high = text[:at].strip(), text[at + 1 :].strip()
    return (low, high) if _is_number(low) and _is_number(high) else None


def _by_name(argument: str, name: str, protocol: str | None) -> list[PortQuery]:
    """Resolve a service name through IANA, then /etc/services (which knows aliases such as ``www``)."""
    found: dict[tuple[int, int], set[str]] = {}
    for entry in registry().by_name(name):
        if entry.protocol and (protocol is None or entry.protocol == protocol):
            found.setdefault((entry.low, entry.high), set()).add(entry.protocol)
    services = etc_services()
    if not found and services is not None:
        for db_entry in services.by_name(name):
            if protocol is None or db_entry.protocol == protocol:
                found.setdefault((db_entry.port, db_entry.port), set()).add(db_entry.protocol)
    if not found:
        import difflib  # only on this error path: it costs start-up time

        known = registry().names()
        close = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.75)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        on = f" over {protocol}" if protocol else ""
        raise PortSpecError(argument, f"unknown service name {name!r}{on}{hint}; give {_ACCEPTED}")
    return [
        PortQuery(
            low=low,
            high=high,
            protocols=tuple(p for p in PROTOCOLS if p in protos),
            protocol_given=protocol is not None,
            label=argument,
            service_name=name.lower(),
        )
        for (low, high), protos in sorted(found.items())
    ]


def parse_port_spec(argument: str) -> list[PortQuery]:
    """Turn one argument into the port queries it means (a service name may mean several ports).

    Raises PortSpecError naming the argument, what was wrong and what is accepted.
    """
    text = argument.strip()
    if not text:
        raise PortSpecError(argument, f"empty port; give {_ACCEPTED}")
    body, slash, proto_text = text.partition("/")
    protocol = _protocol(argument, proto_text) if slash else None
    if not body:
        raise PortSpecError(argument, f"no port before '/'; give {_ACCEPTED}")
    protocols = (protocol,) if protocol else DEFAULT_PROTOCOLS
    body = body.strip()
    if _is_number(body):
        low = high = _port(argument, body)
    elif bounds := _split_range(body):
        low, high = _port(argument, bounds[0]), _port(argument, bounds[1])
        if high < low:
            raise PortSpecError(argument, f"range {low}-{high} runs backwards; write LOW-HIGH")
    else:
        return _by_name(argument, body, protocol)
    return [PortQuery(low, high, protocols, protocol is not None, argument)]

"""Hosts whose client port range is known: ``ADDR=OS`` or ``ADDR=LOW-HIGH``, given one by one or in a file.

The format ``analyze --host-os`` takes, and the policy loader will: one host a line, ``ADDR=OS`` or
``ADDR OS`` (``10.0.0.5=windows``, ``192.0.2.1 1024-65535`` for a NAT's pool), ``#`` comments and
blank lines ignored. A later line for the same address wins. Errors name the option or the file and
line, and what is accepted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from portscope.errors import UsageError
from portscope.ports.ranges import parse_client_range

__all__ = ["parse_host_ranges", "read_host_ranges"]

_SHAPE = "write ADDR=OS (an address, then an OS or LOW-HIGH)"


def read_host_ranges(path: str) -> list[tuple[str, str]]:
    """The (where, ``ADDR=OS``) lines of a hosts file, ``where`` being ``FILE:LINE:``."""
    lines: list[tuple[str, str]] = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                text = line.split("#", 1)[0].strip()
                if text:
                    lines.append((f"{path}:{number}:", text if "=" in text else "=".join(text.split(None, 1))))
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UsageError(f"{path}: cannot read: {reason}") from error
    return lines


def parse_host_ranges(specs: Iterable[str], option: str = "--host-os") -> tuple[tuple[str, int, int], ...]:
    """(canonical address, low, high) per host, from ``ADDR=OS`` specs and ``@FILE`` references."""
    lines: list[tuple[str, str]] = []
    for spec in specs:
        if spec.startswith("@"):
            try:
                lines += read_host_ranges(spec[1:])
            except UsageError as error:
                raise UsageError(f"{option} {error}") from error
        else:
            lines.append((option, spec))
    ranges: dict[str, tuple[int, int]] = {}
    for where, text in lines:
        address, sep, os_name = (part.strip() for part in text.partition("="))
        try:
            canonical = str(ipaddress.ip_address(address))
        except ValueError as error:
            raise UsageError(f"{where} {text!r}: {_SHAPE}") from error
        if not sep or not os_name:
            raise UsageError(f"{where} {text!r}: {_SHAPE}")
        chosen = parse_client_range(os_name, where)
        ranges[canonical] = (chosen.low, chosen.high)
    return tuple((address, low, high) for address, (low, high) in ranges.items())

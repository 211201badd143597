"""The addresses of the network namespace the calling thread is in: which IPs a wildcard listener answers on.

IPv4 from the SIOCGIFADDR ioctl per interface (netdevice(7)); IPv6 from /proc/thread-self/net/if_inet6
(not /proc/net, which follows the main thread's namespace, not the caller's: see host/namespaces.py).
Used to match a DNAT rule's target address to the namespace, and so the listener, behind it.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

__all__ = ["namespace_addresses"]

_SIOCGIFADDR = 0x8915  # linux/sockios.h


def _ipv4() -> list[str]:
    out: list[str] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return out
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in interfaces:
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address on this interface
                continue
            out.append(socket.inet_ntoa(answer[20:24]))
    return out


def _ipv6() -> list[str]:
    out: list[str] = []
    try:
        with open("/proc/thread-self/net/if_inet6", encoding="ascii") as handle:
            for line in handle:
                raw = line.split(maxsplit=1)[0]
                out.append(str(ipaddress.IPv6Address(int(raw, 16))))
    except (OSError, ValueError):
        pass
    return out


def namespace_addresses() -> tuple[str, ...]:
    """Every IPv4 and IPv6 address configured in the caller's network namespace."""
    return tuple(_ipv4() + _ipv6())

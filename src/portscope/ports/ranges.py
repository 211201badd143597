"""Port ranges that give a port its meaning: RFC 6335's three IANA ranges and each OS's ephemeral range.

The ephemeral (dynamic, 'anonymous') range is where an operating system picks the local port of an
outgoing connection when the program did not bind one. A port inside it, seen on the client side of
a flow, is almost always such a one-connection port; the same number on a listener is a collision
risk (the OS may hand it to an outgoing connection first). Each default below cites where it is said.
"""

from __future__ import annotations

from portscope.errors import UsageError
from portscope.records import ClientRange, EphemeralRange

__all__ = [
    "ANY_OS",
    "DEFAULT_POOL_SIZE",
    "DYNAMIC_LOW",
    "EPHEMERAL_RANGES",
    "IANA_DYNAMIC",
    "OS_ALIASES",
    "OTHER_POOLS",
    "SYSTEM_HIGH",
    "client_range",
    "iana_range",
    "os_names",
    "parse_client_range",
    "ranges_for_os",
]

SYSTEM_HIGH = 1023
DYNAMIC_LOW = 49152

# RFC 6335 section 6: System Ports 0-1023, User Ports 1024-49151, Dynamic and/or Private Ports 49152-65535.
_IANA_RANGES = (
    (
        "system",
        0,
        1023,
        "System Ports (0-1023, 'well-known'): assigned by IANA through IETF review; on most systems only "
        "a privileged process may listen on them (RFC 6335 section 6).",
    ),
    (
        "user",
        1024,
        49151,
        "User Ports (1024-49151, 'registered'): assigned by IANA to services on request; any process may "
        "bind them, and many OSes also pick client ports here (RFC 6335 section 6).",
    ),
    (
        "dynamic",
        49152,
        65535,
        "Dynamic and/or Private Ports (49152-65535, 'ephemeral'): never assigned by IANA; meant for "
        "ports an OS picks for one connection, and for private use (RFC 6335 section 6).",
    ),
)


def iana_range(port: int) -> tuple[str, str]:
    """The RFC 6335 range of ``port``: its short name (system/user/dynamic) and a sentence saying what it is."""
    for name, low, high, text in _IANA_RANGES:
        if low <= port <= high:
            return name, text
    raise UsageError(f"port {port} is outside 0-65535")


_LINUX_DOC = "Linux Documentation/networking/ip-sysctl.rst, ip_local_port_range (default 32768 60999)"

# One entry per OS family and era. ``os`` is the --os value; aliases below map common spellings to it.
EPHEMERAL_RANGES: tuple[EphemeralRange, ...] = (
    EphemeralRange("linux", "Linux", 32768, 60999, _LINUX_DOC),
    EphemeralRange(
        "linux-old",
        "Linux 2.6",
        32768,
        61000,
        "Linux 2.6 net/ipv4/inet_connection_sock.c: sysctl_local_ports default 32768-61000",
    ),
    EphemeralRange("android", "Android", 32768, 60999, "Android uses the Linux kernel default; " + _LINUX_DOC),
    EphemeralRange(
        "windows",
        "Windows Vista+",
        49152,
        65535,
        "Microsoft KB 929851: 'The default dynamic port range for TCP/IP has changed since Windows Vista "
        "and in Windows Server 2008' (netsh int ipv4 show dynamicport)",
    ),
    EphemeralRange(
        "windows-xp",
        "Windows XP/2003",
        1025,
        5000,
        "Microsoft KB 929851: earlier versions used 1025 through 5000 (MaxUserPort registry value)",
    ),
    EphemeralRange(
        "macos",
        "macOS",
        49152,
        65535,
        "macOS sysctl net.inet.ip.portrange.first=49152, net.inet.ip.portrange.last=65535 "
        "(xnu bsd/netinet/in.h IPPORT_HIFIRSTAUTO/IPPORT_HILASTAUTO)",
    ),
    EphemeralRange(
        "freebsd",
        "FreeBSD",
        10000,
        65535,
        "FreeBSD ip(4): net.inet.ip.portrange.first=10000, last=65535 (sys/netinet/in.h IPPORT_EPHEMERALFIRST)",
    ),
    EphemeralRange(
        "openbsd",
        "OpenBSD",
        1024,
        49151,
        "OpenBSD sysctl(2) net.inet.ip.portfirst=1024, portlast=49151 (porthifirst/porthilast 49152-65535 "
        "only for sockets asking IP_PORTRANGE_HIGH)",
    ),
    EphemeralRange(
        "netbsd",
        "NetBSD",
        49152,
        65535,
        "NetBSD sysctl(7) net.inet.ip.anonportmin=49152, anonportmax=65535",
    ),
    EphemeralRange(
        "solaris",
        "Solaris",
        32768,
        65535,
        "illumos ipadm(8): tcp/udp smallest_anon_port=32768, largest_anon_port=65535",
    ),
    EphemeralRange(
        "aix",
        "AIX",
        32768,
        65535,
        "IBM AIX no(1) network options tcp_ephemeral_low=32768, tcp_ephemeral_high=65535",
    ),
    EphemeralRange(
        "hpux",
        "HP-UX",
        49152,
        65535,
        "HP-UX ndd(1M) tcp_smallest_anon_port=49152, tcp_largest_anon_port=65535",
    ),
    EphemeralRange(
        "iana",
        "IANA dynamic",
        49152,
        65535,
        "RFC 6335 section 6 and RFC 6056 section 3.2: the Dynamic Ports range 49152-65535",
    ),
)

OS_ALIASES = {
    "mac": "macos",
    "darwin": "macos",
    "osx": "macos",
    "win": "windows",
    "win32": "windows",
    "windows-vista": "windows",
    "windows10": "windows",
    "windows11": "windows",
    "xp": "windows-xp",
    "windows-2003": "windows-xp",
    "bsd": "freebsd",
    "illumos": "solaris",
    "sunos": "solaris",
}

# Port pools that are not an OS's ephemeral range but decide what a port means in logs.
OTHER_POOLS: tuple[EphemeralRange, ...] = (
    EphemeralRange(
        "kubernetes-nodeport",
        "Kubernetes NodePort",
        30000,
        32767,
        "Kubernetes docs, Service type NodePort: --service-node-port-range default 30000-32767",
    ),
    EphemeralRange(
        "linux-nat",
        "Linux SNAT",
        1024,
        65535,
        "netfilter nf_nat_core.c: without --to-ports, NAT keeps the port or picks one in 1024-65535",
    ),
    EphemeralRange(
        "traceroute",
        "traceroute",
        33434,
        33534,
        "traceroute(8): UDP probes start at port 33434 and rise by one per hop (default 30 hops)",
        protocols=("udp",),
    ),
)


def os_names() -> tuple[str, ...]:
    """The names ``--os`` takes, for help and errors: the OSes most logs come from first, then the
    others in :data:`EPHEMERAL_RANGES`' order (aliases such as ``mac`` or ``xp`` are accepted too)."""
    first = ("linux", "windows", "macos")
    rest = (r.os for r in EPHEMERAL_RANGES if r.os not in first and r.os != "iana")
    return first + tuple(dict.fromkeys(rest))


def ranges_for_os(os_name: str | None) -> tuple[EphemeralRange, ...]:
    """The ephemeral ranges to report: all OS defaults (None, ``any``), or those of ``os_name`` (aliases accepted).

    Raises UsageError listing the valid names when ``os_name`` is unknown.
    """
    key = "any" if os_name is None else os_name.strip().lower()
    if key == "any":
        return EPHEMERAL_RANGES
    key = OS_ALIASES.get(key, key)
    picked = tuple(r for r in EPHEMERAL_RANGES if r.os == key or r.os.startswith(key + "-"))
    if not picked:
        valid = ", ".join((*os_names(), "any"))
        raise UsageError(f"unknown OS {os_name!r}; valid ones are: {valid} (or an alias: {', '.join(OS_ALIASES)})")
    return picked


# The client range when nothing better is known (RFC 6335, RFC 6056 section 3.2).
IANA_DYNAMIC = ClientRange(49152, 65535)
# ``--os any``: a client port of Linux (32768-60999) or of Windows, macOS and the BSDs (49152-65535).
ANY_OS = ClientRange(32768, 65535, "any OS", "Linux 32768-60999 and Windows, macOS, NetBSD 49152-65535 together")
# The pool one destination has on a Linux host with the kernel's default range: 28,232 ports.
DEFAULT_POOL_SIZE = EPHEMERAL_RANGES[0].size


def client_range(os_name: str | None) -> ClientRange:
    """The client range an ``--os`` value puts in force: the first range listed for that OS (Windows is
    Vista's 49152-65535, not XP's), ``any`` for 32768-65535, and IANA's 49152-65535 for None.

    Raises UsageError listing the valid names when ``os_name`` is unknown.
    """
    if os_name is None:
        return IANA_DYNAMIC
    if os_name.strip().lower() == "any":
        return ANY_OS
    first = ranges_for_os(os_name)[0]
    return ClientRange(first.low, first.high, first.label, first.source)


def parse_client_range(text: str, where: str) -> ClientRange:
    """An OS name (``windows``, ``any``) or a range written out (``1024-65535``: a NAT's pool).

    ``where`` names the option or file line in the error (UsageError) when ``text`` is neither.
    """
    first, dash, last = text.partition("-")
    if dash and first.strip().isdigit() and last.strip().isdigit():
        low, high = int(first), int(last)
        if not 0 < low <= high <= 65535:
            raise UsageError(f"{where} {text!r}: a range is LOW-HIGH within 1-65535")
        return ClientRange(low, high, f"{low}-{high}", f"{where} {text}")
    try:
        return client_range(text)
    except UsageError as error:
        raise UsageError(f"{where} {text!r}: {error}") from error

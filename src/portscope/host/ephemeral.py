"""This host's real ephemeral port range, read from the kernel, and the ports it holds back.

One public function, :func:`host_port_ranges`, picks the back-end for the running OS once:
- Linux: /proc/sys/net/ipv4/ip_local_port_range (it governs IPv6 too), ip_local_reserved_ports and
  ip_unprivileged_port_start. These are per network namespace: we read the namespace we run in.
- macOS, FreeBSD, OpenBSD, NetBSD: sysctl(8), each under its own names.
- Windows: ``netsh int ipv4 show dynamicport`` per protocol, and ``netsh int ipv4 show
  excludedportrange``: the ranges Hyper-V, WSL and WinNAT reserve. They block bind() yet never show in
  netstat, the usual answer to "why can't my service listen on port 50000?".
The parsers are plain functions over the tools' text so that every platform is tested on every platform.
"""

from __future__ import annotations

import re
import sys

from portscope.records import ClientRange, HostPortRange

__all__ = [
    "client_range_of",
    "host_port_ranges",
    "parse_linux_port_list",
    "parse_netsh_dynamicport",
    "parse_netsh_excluded",
]

_PROC = "/proc/sys/net/ipv4/"
_SYSCTL_NAMES = {
    # platform prefix: (first, last) sysctl names of the range used by connect() without a bind
    "darwin": ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last"),
    "freebsd": ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last"),
    "openbsd": ("net.inet.ip.portfirst", "net.inet.ip.portlast"),
    "netbsd": ("net.inet.ip.anonportmin", "net.inet.ip.anonportmax"),
}


def parse_linux_port_list(text: str) -> tuple[tuple[int, int], ...]:
    """Parse ip_local_reserved_ports: comma-separated ports and ``lo-hi`` ranges (empty means none)."""
    out: list[tuple[int, int]] = []
    for raw in text.replace("\n", ",").split(","):
        part = raw.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        out.append((int(low), int(high or low)))
    return tuple(out)


def parse_netsh_dynamicport(text: str) -> tuple[int, int]:
    """Parse ``netsh int ipv4 show dynamicport tcp``: 'Start Port : 49152' and 'Number of Ports : 16384'.

    Localised Windows prints other words, so we take the first two numbers after colons.
    """
    numbers = [int(n) for n in re.findall(r":\s*(\d+)", text)]
    if len(numbers) < 2:
        raise ValueError("netsh dynamicport output has no 'Start Port' / 'Number of Ports' values")
    start, count = numbers[0], numbers[1]
    return start, start + count - 1


def parse_netsh_excluded(text: str) -> tuple[tuple[int, int], ...]:
    """Parse ``netsh int ipv4 show excludedportrange protocol=tcp``: rows of 'start end' (maybe '*')."""
    return tuple(
        (int(m.group(1)), int(m.group(2)))
        for m in re.finditer(r"^\s*(\d+)\s+(\d+)\s*\*?\s*$", text, flags=re.MULTILINE)
    )


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:  # utf-8: its codec is loaded already, ascii's is not
        return handle.read()


def _linux() -> tuple[HostPortRange, ...]:
    try:
        low_text, high_text = _read(_PROC + "ip_local_port_range").split()
        reserved_text = _read(_PROC + "ip_local_reserved_ports")
    except (OSError, ValueError):
        return ()
    unprivileged: int | None
    try:
        unprivileged = int(_read(_PROC + "ip_unprivileged_port_start"))
    except (OSError, ValueError):
        unprivileged = None
    source = "/proc/sys/net/ipv4/ip_local_port_range"
    return tuple(
        HostPortRange(
            platform="linux",
            protocol=proto,
            low=int(low_text),
            high=int(high_text),
            source=source,
            reserved=parse_linux_port_list(reserved_text),
            reserved_source="/proc/sys/net/ipv4/ip_local_reserved_ports",
            unprivileged_port_start=unprivileged,
        )
        for proto in ("tcp", "udp")
    )


def _run(argv: list[str]) -> str | None:
    import subprocess  # only on BSD and Windows: Linux reads /proc

    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _bsd(platform: str) -> tuple[HostPortRange, ...]:
    names = next((v for k, v in _SYSCTL_NAMES.items() if platform.startswith(k)), None)
    if names is None:
        return ()
    out = _run(["sysctl", "-n", *names])
    if out is None:
        return ()
    try:
        low, high = (int(v) for v in out.split()[:2])
    except ValueError:
        return ()
    source = f"sysctl {names[0]} {names[1]}"
    return tuple(HostPortRange(platform, proto, low, high, source) for proto in ("tcp", "udp"))


def _windows() -> tuple[HostPortRange, ...]:
    ranges: list[HostPortRange] = []
    for proto in ("tcp", "udp"):
        dynamic = _run(["netsh", "int", "ipv4", "show", "dynamicport", proto])
        if dynamic is None:
            continue
        try:
            low, high = parse_netsh_dynamicport(dynamic)
        except ValueError:
            continue
        excluded = _run(["netsh", "int", "ipv4", "show", "excludedportrange", f"protocol={proto}"])
        ranges.append(
            HostPortRange(
                "windows",
                proto,
                low,
                high,
                f"netsh int ipv4 show dynamicport {proto}",
                reserved=parse_netsh_excluded(excluded or ""),
                reserved_source=f"netsh int ipv4 show excludedportrange protocol={proto}",
            )
        )
    return tuple(ranges)


def client_range_of(ranges: tuple[HostPortRange, ...], protocol: str, label: str = "this host") -> ClientRange | None:
    """The client range in force for ``protocol`` among a host's (or namespace's) ranges: its own, else
    the TCP one (Linux and the BSDs have one range for every transport; Windows one per protocol);
    None when the OS told us nothing."""
    own = next((r for r in ranges if r.protocol == protocol), None) or next(
        (r for r in ranges if r.protocol == "tcp"), None
    )
    return None if own is None else own.client_range(label)


def host_port_ranges(platform: str = sys.platform) -> tuple[HostPortRange, ...]:
    """This host's ephemeral ranges, one per protocol; empty when the OS does not tell us."""
    if platform.startswith("linux"):
        return _linux()
    if platform == "win32":
        return _windows()
    return _bsd(platform)

"""What people meet these ports as, beyond their IANA names: short notes, each with its source.

The registry says who a number is assigned to; these notes say why it shows up in logs and netstat,
which is the question people actually bring (a QUIC flow on 443/udp, an mDNS answer on 5353, a
Windows RPC server on a dynamic port). Kept short and cited; not a threat feed.
"""

from __future__ import annotations

TYPE_CHECKING = False  # see portscope._namedtuple: typing is too slow to import at start-up
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from portscope._namedtuple import NamedTuple

__all__ = ["PortNote", "notes_for"]


class PortNote(NamedTuple):
    low: int
    high: int
    protocols: tuple[str, ...]  # empty: any transport
    text: str
    source: str


_NOTES: tuple[PortNote, ...] = (
    PortNote(
        0,
        0,
        (),
        "Port 0 is never a real endpoint: a program that binds port 0 asks the OS to pick an ephemeral port. "
        "Seen in a log it usually means a packet without a transport header (a non-first IP fragment, "
        "ICMP written with ports 0), or a crafted probe: scanners and OS fingerprinting send to port 0.",
        "RFC 6335 section 6 (reserved); bind(2) and ip(7): port 0 means 'any free port'",
    ),
    PortNote(
        53,
        53,
        ("udp",),
        "DNS answers come from port 53 to the resolver's ephemeral port; a blocked one in a firewall log is "
        "usually a late reply after connection tracking timed the query out (default 30 s for UDP on Linux).",
        "RFC 1035; Linux nf_conntrack_udp_timeout (30 s)",
    ),
    PortNote(
        123,
        123,
        ("udp",),
        "NTP. Clients often use source port 123 too (ntpd), or an ephemeral one (chrony, systemd-timesyncd).",
        "RFC 5905",
    ),
    PortNote(
        135,
        135,
        ("tcp",),
        "Microsoft RPC endpoint mapper: it tells clients which dynamic port (49152-65535) each RPC service "
        "(Active Directory, WMI, DCOM) listens on, so Windows servers have many legitimate listeners there.",
        "Microsoft KB 832017 (Service overview and network port requirements for Windows)",
    ),
    PortNote(
        443,
        443,
        ("udp",),
        "QUIC: HTTP/3 runs over UDP port 443; browsers open many such flows from ephemeral UDP ports.",
        "RFC 9000 (QUIC), RFC 9114 (HTTP/3)",
    ),
    PortNote(
        1900,
        1900,
        ("udp",),
        "SSDP (UPnP discovery): devices answer an M-SEARCH from port 1900 to the asker's ephemeral port, so "
        "the answers look like unsolicited inbound traffic to a high port; they are replies.",
        "UPnP Device Architecture 2.0, section 1 (SSDP)",
    ),
    PortNote(
        2049,
        2049,
        (),
        "NFS. Its helpers (rpc.statd, rpc.mountd, lockd) bind ports picked at start-up unless pinned, often "
        "inside the ephemeral range; rpcbind on 111 maps them.",
        "nfs(5), rpc.statd(8)",
    ),
    PortNote(
        3389,
        3389,
        (),
        "RDP: among the ports most scanned and brute-forced on the Internet when exposed.",
        "Microsoft Remote Desktop Protocol docs; CISA advisories on exposed RDP",
    ),
    PortNote(
        4444,
        4444,
        ("tcp",),
        "Metasploit's default handler port, and used by several worms (Blaster): a listener here deserves a look.",
        "Metasploit Framework docs (LPORT default 4444); CERT advisory CA-2003-20 (Blaster)",
    ),
    PortNote(
        5353,
        5353,
        ("udp",),
        "mDNS / Bonjour / Avahi: hosts send and answer on 224.0.0.251 or ff02::fb port 5353 on the local "
        "link, so every Mac, printer and Linux desktop has a UDP socket bound here.",
        "RFC 6762 (Multicast DNS)",
    ),
    PortNote(
        5355,
        5355,
        ("udp",),
        "LLMNR (Windows name resolution on the local link): spoofing it is a classic credential-capture attack.",
        "RFC 4795; MITRE ATT&CK T1557.001",
    ),
    PortNote(
        31337,
        31337,
        (),
        "'eleet': Back Orifice's default port and a hacker cliché; rarely legitimate.",
        "CERT vulnerability note on Back Orifice; nmap-services",
    ),
    PortNote(
        33434,
        33534,
        ("udp",),
        "traceroute's UDP probes go to 33434 and up, one port per hop: a burst of these is a traceroute.",
        "traceroute(8)",
    ),
    PortNote(
        49152,
        65535,
        ("tcp",),
        "On Windows, RPC services (Active Directory, DFS-R, WMI, DCOM) listen on dynamic ports in this range, "
        "handed out by the endpoint mapper on 135: a Windows listener here is often legitimate.",
        "Microsoft KB 832017; KB 929851",
    ),
)


def notes_for(port: int, protocols: tuple[str, ...]) -> tuple[PortNote, ...]:
    """The notes that apply to ``port`` over any of ``protocols``."""
    return tuple(
        n for n in _NOTES if n.low <= port <= n.high and (not n.protocols or any(p in n.protocols for p in protocols))
    )

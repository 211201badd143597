"""Well-known service ports that the IANA registry does not make services where people meet them.

Two kinds, one table:
- **unregistered** services that everyone runs on a fixed port (WireGuard 51820, the kubelet 10250,
  Tailscale 41641...): IANA has no entry, so without this list they would be ``other`` or, inside a
  client range, ``ephemeral``;
- **services inside client ranges**: IANA assigns them, but they sit inside an operating system's
  ephemeral range (BACnet 47808 and EtherNet/IP 44818 inside Linux's 32768-60999, Mumble 64738 inside
  Windows' 49152-65535, MongoDB 27017 inside FreeBSD's 10000-65535), where a port number alone would
  be a client's.

Both make a port a service even inside the client range (:mod:`portscope.ports.classify`, step 2).
Each entry names where its port is documented. The list is short on purpose: a port belongs here
when it is the documented default of widely deployed software or of an industrial protocol standard,
not because it was once seen in a log. docs/ports.md shows it (generated, checked by a test).
"""

from __future__ import annotations

from portscope.records import CuratedService

__all__ = ["CURATED_SERVICES", "curated_markdown"]

_K8S = "Kubernetes documentation, Reference > Networking > Ports and Protocols"
_TCP, _UDP, _BOTH = ("tcp",), ("udp",), ("tcp", "udp")

CURATED_SERVICES: tuple[CuratedService, ...] = (
    CuratedService(2379, 2380, _TCP, "etcd", "etcd client and peer API (Kubernetes control plane)", _K8S),
    CuratedService(5938, 5938, _BOTH, "teamviewer", "TeamViewer remote access",
                   "TeamViewer knowledge base: Which ports are used by TeamViewer? (TCP/UDP 5938)"),
    CuratedService(6443, 6443, _TCP, "kube-apiserver", "Kubernetes API server", _K8S),
    CuratedService(6881, 6889, _BOTH, "bittorrent", "BitTorrent peer listening ports",
                   "BitTorrent BEP 3: a peer tries to listen on 6881, then each port up to 6889"),
    CuratedService(9042, 9042, _TCP, "cassandra-cql", "Apache Cassandra CQL native protocol",
                   "Apache Cassandra cassandra.yaml: native_transport_port 9042"),
    CuratedService(9993, 9993, _UDP, "zerotier", "ZeroTier peer-to-peer VPN",
                   "ZeroTier documentation, Router configuration: UDP port 9993"),
    CuratedService(10250, 10250, _TCP, "kubelet", "Kubernetes kubelet API", _K8S),
    CuratedService(10257, 10257, _TCP, "kube-controller-manager", "Kubernetes controller manager", _K8S),
    CuratedService(10259, 10259, _TCP, "kube-scheduler", "Kubernetes scheduler", _K8S),
    CuratedService(11211, 11211, _BOTH, "memcache", "memcached (inside FreeBSD's and OpenBSD's client ranges)",
                   "IANA memcache; memcached(1): -p, --port default 11211"),
    CuratedService(15672, 15672, _TCP, "rabbitmq-management", "RabbitMQ management UI and HTTP API",
                   "RabbitMQ documentation, Networking and RabbitMQ: port 15672 (management plugin)"),
    CuratedService(19302, 19302, _UDP, "google-stun", "Google's public STUN servers (WebRTC)",
                   "stun.l.google.com:19302, the STUN server WebRTC samples and libraries configure"),
    CuratedService(20000, 20000, _BOTH, "dnp", "DNP3 (inside FreeBSD's client range)",
                   "IANA dnp; IEEE 1815 (DNP3) over TCP/UDP port 20000"),
    CuratedService(25565, 25565, _TCP, "minecraft", "Minecraft Java Edition server",
                   "Minecraft server.properties: server-port default 25565"),
    CuratedService(27017, 27017, _TCP, "mongodb", "MongoDB (inside FreeBSD's client range)",
                   "IANA mongodb; MongoDB documentation, Default MongoDB Port: 27017"),
    CuratedService(32400, 32400, _TCP, "plex", "Plex Media Server (inside FreeBSD's client range)",
                   "IANA plex; Plex support: Plex Media Server listens on TCP 32400"),
    CuratedService(34962, 34964, _BOTH, "profinet", "PROFINET RT, RTM and CM (inside Linux's client range)",
                   "IANA profinet-rt, profinet-rtm, profinet-cm (IEC 61158 / IEC 61784 PROFINET)"),
    CuratedService(34980, 34980, _UDP, "ethercat", "EtherCAT over UDP (inside Linux's client range)",
                   "IANA ethercat; IEC 61158 EtherCAT, UDP port 0x88A4"),
    CuratedService(41641, 41641, _UDP, "tailscale", "Tailscale WireGuard peer-to-peer traffic",
                   "Tailscale documentation, What firewall ports should I open to use Tailscale? (UDP 41641)"),
    CuratedService(44818, 44818, _BOTH, "ethernet-ip", "EtherNet/IP explicit messaging (inside Linux's client range)",
                   "IANA EtherNet-IP-2; ODVA EtherNet/IP specification, TCP/UDP port 44818"),
    CuratedService(47808, 47808, _UDP, "bacnet", "BACnet/IP building automation (inside Linux's client range)",
                   "IANA bacnet; ANSI/ASHRAE 135 Annex J: BACnet/IP on UDP 47808 (0xBAC0)"),
    CuratedService(51820, 51820, _UDP, "wireguard", "WireGuard VPN (inside Linux's client range)",
                   "WireGuard quick start and wg-quick(8): ListenPort = 51820"),
    CuratedService(64738, 64738, _BOTH, "mumble", "Mumble voice chat server (inside Windows' client range)",
                   "Mumble documentation, Running a Murmur server: default port 64738 TCP and UDP"),
)  # fmt: skip


def curated_markdown() -> str:
    """docs/ports.md's table of the curated ports, between its markers (scripts/generate.py)."""
    lines = [
        "<!-- BEGIN generated from portscope.ports.curated: python scripts/generate.py -->",
        "| port | transport | name | what | where it is documented |",
        "|---|---|---|---|---|",
    ]
    for entry in CURATED_SERVICES:
        port = str(entry.low) if entry.low == entry.high else f"{entry.low}-{entry.high}"
        transports = "/".join(entry.protocols)
        lines.append(f"| {port} | {transports} | `{entry.name}` | {entry.description} | {entry.source} |")
    lines.append("<!-- END generated -->")
    return "\n".join(lines)

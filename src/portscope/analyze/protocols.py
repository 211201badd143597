"""A known protocol on a port that is not its own, where the source names the protocol.

Zeek (``service``) and Suricata (``app_proto``) recognise protocols from the bytes, not the port:
SSH on 443, HTTP on 5432, TLS on 4444. A protocol away from its ports is how tunnels, C2 channels
and shadow services hide (MITRE T1571). The ports each protocol may use are listed here: the IANA
ones and the alternatives that are common practice (HTTP on 8080, TLS on 8443...).
"""

from __future__ import annotations

from typing import Any

from portscope._words import count
from portscope.analyze.findings import Detection, DetectionInput, DetectionRule, named_by_sides
from portscope.findings import Severity

__all__ = ["PROTOCOL_ON_NONSTANDARD_PORT", "STANDARD_PORTS", "protocol_on_nonstandard_port"]

_HTTP = (80, 591, 3128, 8000, 8008, 8080, 8081, 8088, 8888, 9000)
_TLS = (443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 5061, 5223, 6443, 8443, 9443, 4443, 5986)

# Zeek service / Suricata app_proto names -> the ports they belong on.
STANDARD_PORTS: dict[str, tuple[int, ...]] = {
    "http": _HTTP,
    "http2": (*_HTTP, *_TLS),
    "ssl": _TLS,
    "tls": _TLS,
    "quic": (443, 80, 8443),
    "dns": (53, 137, 5353, 5355),  # Zeek parses NetBIOS name service (137) with its DNS analyzer
    "ssh": (22,),
    "ftp": (21,),
    "ftp-data": (20,),
    "smtp": (25, 465, 587, 2525),
    "pop3": (110, 995),
    "imap": (143, 993),
    "irc": (6660, 6661, 6662, 6663, 6664, 6665, 6666, 6667, 6668, 6669, 6697, 7000),
    "dhcp": (67, 68, 546, 547),
    "ntp": (123,),
    "snmp": (161, 162),
    "sip": (5060, 5061),
    "rdp": (3389,),
    "rfb": (5900, 5901, 5902, 5903),
    "vnc": (5900, 5901, 5902, 5903),
    "mysql": (3306,),
    "postgresql": (5432,),
    "krb": (88,),
    "krb_tcp": (88,),
    "krb5": (88,),
    "smb": (139, 445),
    "dce_rpc": (135,),
    "dcerpc": (135,),
    "ldap": (389, 636, 3268, 3269),
    "radius": (1812, 1813, 1645, 1646),
    "socks": (1080,),
    "syslog": (514, 6514),
    "mqtt": (1883, 8883),
    "modbus": (502,),
    "dnp3": (20000,),
    "tftp": (69,),
    "nfs": (2049,),
    "ike": (500, 4500),
    "teredo": (3544,),
    "ayiya": (5072,),
    "gtpv1": (2123, 2152),
    "vxlan": (4789,),
    "geneve": (6081,),
    "xmpp": (5222, 5223, 5269),
    "bittorrent": tuple(range(6881, 6890)),
    "mdns": (5353,),
    "netbios-ns": (137,),
    "netbios-ssn": (139,),
}


def protocol_on_nonstandard_port(data: DetectionInput) -> Detection:
    import ibis

    f, pairs = data.flows, data.pairs
    named = pairs.filter(pairs.app.notnull() & pairs.server_port.notnull())
    # Judged once per distinct (protocol named, port), a few hundred, not once per flow.
    seen = named.select(named.app, named.server_port).distinct()
    # Zeek lists several ("ssl,http"); the first is the outer one. "-name": the analyzer gave up.
    seen = seen.mutate(outer=seen.app.re_extract(r"^([^,]+)", 1))
    seen = seen.filter((seen.outer != "") & ~seen.outer.startswith("-") & seen.outer.isin(list(STANDARD_PORTS)))
    standard = ibis.memtable(
        {
            "app": [name for name, ports in STANDARD_PORTS.items() for _ in ports],
            "server_port": [port for ports in STANDARD_PORTS.values() for port in ports],
        },
        schema={"app": "string", "server_port": "int32"},
    )
    unusual = seen.anti_join(standard, [seen.outer == standard.app, seen.server_port == standard.server_port])
    unusual = unusual.select("app", "server_port", "outer")
    # Counted from the fold; the member flows (for the evidence) are the flows of those pairs.
    odd = named.inner_join(unusual, ["app", "server_port"])
    odd = named_by_sides(odd.mutate(app=odd.outer).drop("outer"))
    found = odd.group_by("dst", "port", "protocol", "app").agg(
        src=odd.client.min(),
        clients=odd.client.nunique(),
        flows=odd.flows.sum(),
        bytes=odd.bytes.sum(),
        first_seen=odd.first_seen.min(),
        last_seen=odd.last_seen.max(),
    )
    flows = f.filter(f.app.notnull() & f.server_port.notnull()).inner_join(unusual, ["app", "server_port"])
    members = named_by_sides(flows.mutate(app=flows.outer).drop("outer"))
    return Detection(found, members, _describe)


def _describe(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    app = row["app"]
    usual = ", ".join(str(p) for p in STANDARD_PORTS.get(app, ())[:4])
    severity = Severity.MEDIUM if app in ("ssh", "rdp", "vnc", "rfb", "socks", "irc", "ssl", "tls") else Severity.LOW
    title = (
        f"{app} on {row['dst']} port {row['port']}/{row['protocol']} (usually {usual}): "
        f"{count(row['flows'], 'flow')} from {count(row['clients'], 'client')}"
    )
    return severity, title, "T1571"


PROTOCOL_ON_NONSTANDARD_PORT = DetectionRule(
    "protocol_on_nonstandard_port",
    protocol_on_nonstandard_port,
    ("dst", "port", "protocol", "app"),
    ("app", "server_port", "client", "server", "proto", "flows", "bytes", "first_seen", "last_seen"),
    (Severity.LOW, Severity.MEDIUM),
)

"""Direction first: on flow logs that record both halves of every connection, the return halves
(a server's replies to clients' ephemeral ports) are explained, never findings.

The log is AWS VPC flow log version 2, as S3 delivery writes it: an internal web server taking
connections from the internet, instances calling out to HTTPS and DNS, each connection logged once
per direction as AWS does; plus one real scanner probing the web server's ports, rejected.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.analyze._report import kinds, run

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol "
    "packets bytes start end action log-status\n"
)
ENI = "2 123456789010 eni-0a1b2c3d4e5f60718"


def _vpc_log(path: Path, seed: int = 5) -> int:
    """Both halves of 3,000 connections and a 40-port scan; returns how many return halves go to ports >= 49152."""
    r = random.Random(seed)  # noqa: S311 - test data, not secrets
    lines = [HEADER]
    high = 0
    t = 1_700_000_000
    for i in range(3000):
        t += r.randint(0, 20)
        if i % 3 == 0:  # the internet to our web server
            client, cport, server, sport, proto = (
                f"198.51.100.{r.randint(1, 254)}",
                r.randint(32768, 65535),
                "10.0.1.25",
                443,
                6,
            )
        elif i % 3 == 1:  # our instances to HTTPS on the internet (Linux ephemeral range)
            client, cport, server, sport, proto = (
                f"10.0.1.{r.randint(30, 60)}",
                r.randint(32768, 60999),
                f"203.0.113.{r.randint(1, 254)}",
                443,
                6,
            )
        else:  # DNS to the VPC resolver
            client, cport, server, sport, proto = (
                f"10.0.1.{r.randint(30, 60)}",
                r.randint(32768, 60999),
                "10.0.0.2",
                53,
                17,
            )
        lines.append(f"{ENI} {client} {server} {cport} {sport} {proto} 10 1200 {t} {t + 60} ACCEPT OK\n")
        lines.append(f"{ENI} {server} {client} {sport} {cport} {proto} 9 5400 {t} {t + 60} ACCEPT OK\n")
        high += cport >= 49152
    for port in range(8000, 8040):
        lines.append(f"{ENI} 192.0.2.66 10.0.1.25 61000 {port} 6 1 44 {t} {t + 60} REJECT OK\n")
    path.write_text("".join(lines))
    return high


def test_return_traffic_is_never_a_finding(tmp_path: Path) -> None:
    log = tmp_path / "vpc.log"
    naive_hits = _vpc_log(log)
    report = run([log])
    # What a naive rule ("accepted traffic to a port above 49000") would flag: hundreds of rows.
    assert naive_hits > 500
    assert kinds(report) == [("vertical_scan", "192.0.2.66")]
    returned = [e for e in report["explained"] if e["kind"] == "return_traffic"]
    assert sum(e["flows"] for e in returned) == 3000
    assert {e["port"] for e in returned} == {443, 53}
    assert report["summary"]["orientation"] == {"inferred": 6040}
    # Every ephemeral port in the data is a client port of a named service, none unexplained.
    ephemeral = [p for p in report["ports"] if p["ephemeral"]]
    assert ephemeral and all(p["as"] == "client" and p["serves"] for p in ephemeral)
    services = {(s["port"], s["protocol"], s["direction"]) for s in report["services"] if s["flows"] >= 1000}
    assert services == {(443, "tcp", "inbound"), (443, "tcp", "outbound"), (53, "udp", "internal")}

"""NAT: the nft JSON, iptables-save and conntrack parsers on real tool output, and real DNAT in a namespace (root)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator

import pytest

from portscope.host import nat
from portscope.host._natrules import nft_document_rules, xtables_tables
from portscope.host.namespaces import enter
from portscope.host.nat import (
    conntrack_usage,
    dnat_rules,
    nat_mappings,
    parse_conntrack_line,
    parse_iptables_save,
    parse_nft_ruleset,
)
from portscope.records import ConntrackUsage, DnatRule, NatMapping
from tests.conftest import run_as_nobody

# `nft -j list ruleset` (nft 1.0.6) of a namespace holding iptables-nft rules (Docker-style, table ip nat)
# and native ones; one JSON object per line as nft prints them, long lines wrapped.
NFT_JSON = """\
{"nftables": [
 {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
 {"table": {"family": "ip", "name": "nat", "handle": 1}},
 {"chain": {"family": "ip", "table": "nat", "name": "DOCKER", "handle": 1}},
 {"chain": {"family": "ip", "table": "nat", "name": "PREROUTING",
  "handle": 2, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
 {"rule": {"family": "ip", "table": "nat", "chain": "DOCKER", "handle": 4, "expr": [
  {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "docker0"}},
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
  {"counter": {"packets": 0, "bytes": 0}},
  {"xt": {"type": "target", "name": "DNAT"}}
 ]}},
 {"rule": {"family": "ip", "table": "nat", "chain": "DOCKER", "handle": 5, "expr": [
  {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
  {"xt": {"type": "match", "name": "multiport"}},
  {"xt": {"type": "match", "name": "comment"}},
  {"counter": {"packets": 0, "bytes": 0}},
  {"xt": {"type": "target", "name": "DNAT"}}
 ]}},
 {"rule": {"family": "ip", "table": "nat", "chain": "PREROUTING", "handle": 3, "expr": [
  {"xt": {"type": "match", "name": "addrtype"}},
  {"counter": {"packets": 0, "bytes": 0}},
  {"jump": {"target": "DOCKER"}}
 ]}},
 {"table": {"family": "inet", "name": "t", "handle": 2}},
 {"set": {"family": "inet", "name": "ports", "table": "t", "type": "inet_service",
  "handle": 4, "elem": [7000, 7001]}},
 {"chain": {"family": "inet", "table": "t", "name": "pre",
  "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
 {"chain": {"family": "inet", "table": "t", "name": "sub", "handle": 2}},
 {"chain": {"family": "inet", "table": "t", "name": "out",
  "handle": 3, "type": "nat", "hook": "output", "prio": -100, "policy": "accept"}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 5, "expr": [
  {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}},
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
  {"dnat": {"family": "ip", "addr": "10.0.0.2", "port": 80}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 8, "expr": [
  {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "docker0"}},
  {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["tcp", "udp"]}}},
  {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}},
   "right": {"set": [53, {"range": [5353, 5360]}]}}},
  {"dnat": {"family": "ip", "addr": "10.0.0.3"}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 9, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
   "right": {"prefix": {"addr": "192.168.1.0", "len": 24}}}},
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
   "right": {"range": [9000, 9010]}}},
  {"dnat": {"family": "ip", "addr": "10.0.0.4", "port": {"range": [9000, 9010]}}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 10, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": "::1"}},
  {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 500}},
  {"dnat": {"family": "ip6", "addr": "fd00::5", "port": 4500}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 11, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": "@ports"}},
  {"dnat": {"family": "ip", "addr": "10.0.0.9"}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 12, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 81}},
  {"redirect": {"port": 8081}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 13, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": "tcp"}},
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 82}},
  {"counter": {"packets": 0, "bytes": 0}},
  {"jump": {"target": "sub"}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 14, "expr": [
  {"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}},
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 83}},
  {"dnat": {"family": "ip", "addr": "10.0.0.8"}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "sub", "handle": 15, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "1.2.3.4"}},
  {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
  {"dnat": {"family": "ip", "addr": "10.0.0.7", "port": 8282}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 17, "expr": [
  {"match": {"op": "!=", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
  {"dnat": {"family": "ip", "addr": "10.0.0.10"}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 18, "expr": [
  {"dnat": {"family": "ip", "addr": {"map": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
   "data": {"set": [[1000, "10.0.0.11"]]}}}}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "pre", "handle": 19, "expr": [
  {"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
   "data": {"set": [[9999, {"jump": {"target": "sub"}}]]}}}
 ]}},
 {"rule": {"family": "inet", "table": "t", "chain": "out", "handle": 16, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 18080}},
  {"dnat": {"family": "ip", "addr": "127.0.0.1", "port": 19090}}
 ]}},
 {"table": {"family": "ip6", "name": "n6", "handle": 3}},
 {"chain": {"family": "ip6", "table": "n6", "name": "pre",
  "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
 {"rule": {"family": "ip6", "table": "n6", "chain": "pre", "handle": 2, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 443}},
  {"dnat": {"addr": "2001:db8::1", "port": 8443}}
 ]}}
]}
"""

# iptables-save v1.8.9 of kube-proxy (iptables mode): a ClusterIP DNS service, a NodePort web service.
KUBE_PROXY = """\
# Generated by iptables-save v1.8.9 (nf_tables) on Mon Nov 23 18:13:49 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-EXT-7EJNTS7AENER2WX5 - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-IT2ZTR26TO4XFPTO - [0:0]
:KUBE-SEP-N4G2XR5TDX7PQE7P - [0:0]
:KUBE-SEP-YIL6JZP7A3QYXJU2 - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-7EJNTS7AENER2WX5 - [0:0]
:KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-EXT-7EJNTS7AENER2WX5 -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-7EJNTS7AENER2WX5 -j KUBE-SVC-7EJNTS7AENER2WX5
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j KUBE-EXT-7EJNTS7AENER2WX5
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SEP-IT2ZTR26TO4XFPTO -s 10.244.1.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-IT2ZTR26TO4XFPTO -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-N4G2XR5TDX7PQE7P -s 10.244.2.7/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-N4G2XR5TDX7PQE7P -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.7:8080
-A KUBE-SEP-YIL6JZP7A3QYXJU2 -s 10.244.0.3/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ
-A KUBE-SEP-YIL6JZP7A3QYXJU2 -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.0.3:53
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
-A KUBE-SERVICES -d 10.96.120.15/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-7EJNTS7AENER2WX5
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-SVC-7EJNTS7AENER2WX5 ! -s 10.244.0.0/16 -d 10.96.120.15/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-7EJNTS7AENER2WX5 -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-IT2ZTR26TO4XFPTO
-A KUBE-SVC-7EJNTS7AENER2WX5 -m comment --comment "default/web:http -> 10.244.2.7:8080" -j KUBE-SEP-N4G2XR5TDX7PQE7P
-A KUBE-SVC-TCOU7JCQXEZGVUNU ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ
-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.0.3:53" -j KUBE-SEP-YIL6JZP7A3QYXJU2
COMMIT
# Completed on Mon Nov 23 18:13:49 2026
"""  # noqa: E501

# iptables-save / ip6tables-save v1.8.9 of Docker with published ports (-p 8080:80, -p 127.0.0.1:15353:5353/udp).
DOCKER = """\
# Generated by iptables-save v1.8.9 (nf_tables) on Mon Nov 23 18:13:49 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.18.0.0/16 ! -o br-5c8e1f1b2a3d -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A POSTROUTING -s 172.18.0.2/32 -d 172.18.0.2/32 -p udp -m udp --dport 5353 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER -i br-5c8e1f1b2a3d -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
-A DOCKER -d 127.0.0.1/32 ! -i br-5c8e1f1b2a3d -p udp -m udp --dport 15353 -j DNAT --to-destination 172.18.0.2:5353
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 9000:9010 -j DNAT --to-destination 172.17.0.3:9000-9010
COMMIT
# Completed on Mon Nov 23 18:13:49 2026
"""

DOCKER6 = """\
# Generated by ip6tables-save v1.8.9 (nf_tables) on Mon Nov 23 18:13:49 2026
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s fd00:dead:beef::/48 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:dead:beef::2]:80
-A DOCKER -p tcp -m tcp ! --dport 22 -j DNAT --to-destination fd00:dead:beef::3
COMMIT
# Completed on Mon Nov 23 18:13:49 2026
"""

KUBE_WEB = "default/web:http"


def _rule(**fields: object) -> DnatRule:
    base: dict[str, object] = {"family": "ipv4", "protocol": "tcp", "address": None, "interface": None, "handle": None}
    return DnatRule(**{**base, **fields})  # type: ignore[arg-type]


def test_docker_published_ports() -> None:
    """Docker's DOCKER chain, reached from PREROUTING and OUTPUT, gives each published port once."""
    rules = parse_iptables_save(DOCKER)
    assert rules.reasons == []
    evidence = [line for line in DOCKER.splitlines() if "-j DNAT" in line]
    assert rules == [
        _rule(ports=(8080, 8080), interface="!docker0", to_address="172.17.0.2", to_ports=(80, 80),
              source="iptables", chain="PREROUTING > DOCKER", evidence=evidence[0]),
        _rule(protocol="udp", ports=(15353, 15353), address="127.0.0.1", interface="!br-5c8e1f1b2a3d",
              to_address="172.18.0.2", to_ports=(5353, 5353), source="iptables", chain="PREROUTING > DOCKER",
              evidence=evidence[1]),
        _rule(ports=(9000, 9010), interface="!docker0", to_address="172.17.0.3", to_ports=(9000, 9010),
              source="iptables", chain="PREROUTING > DOCKER", evidence=evidence[2]),
    ]  # fmt: skip


def test_docker_ipv6_and_a_rule_that_is_not_simple() -> None:
    """IPv6 targets in brackets or bare; a negated port is reported in reasons, not guessed."""
    rules = parse_iptables_save(DOCKER6, "ipv6")
    assert [(r.family, r.ports, r.to_address, r.to_ports) for r in rules] == [
        ("ipv6", (8080, 8080), "fd00:dead:beef::2", (80, 80))
    ]
    assert len(rules.reasons) == 1
    assert "1 nat rule not simple" in rules.reasons[0] and "! --dport 22" in rules.reasons[0]


def test_kube_proxy_nodeport_and_cluster_ip_reach_the_endpoints() -> None:
    """kube-proxy's jump chains are followed: NodePort and ClusterIP each map to every endpoint."""
    rules = parse_iptables_save(KUBE_PROXY)
    assert rules.reasons == []
    got = {(r.protocol, r.address, r.ports, r.to_address, r.to_ports, r.chain) for r in rules}
    sep_a, sep_b, sep_dns = "KUBE-SEP-IT2ZTR26TO4XFPTO", "KUBE-SEP-N4G2XR5TDX7PQE7P", "KUBE-SEP-YIL6JZP7A3QYXJU2"
    svc = "PREROUTING > KUBE-SERVICES > KUBE-SVC-7EJNTS7AENER2WX5"
    nodeport = "PREROUTING > KUBE-SERVICES > KUBE-NODEPORTS > KUBE-EXT-7EJNTS7AENER2WX5 > KUBE-SVC-7EJNTS7AENER2WX5"
    assert got == {
        ("udp", "10.96.0.10", (53, 53), "10.244.0.3", (53, 53),
         f"PREROUTING > KUBE-SERVICES > KUBE-SVC-TCOU7JCQXEZGVUNU > {sep_dns}"),
        ("tcp", "10.96.120.15", (80, 80), "10.244.1.5", (8080, 8080), f"{svc} > {sep_a}"),
        ("tcp", "10.96.120.15", (80, 80), "10.244.2.7", (8080, 8080), f"{svc} > {sep_b}"),
        ("tcp", None, (30080, 30080), "10.244.1.5", (8080, 8080), f"{nodeport} > {sep_a}"),
        ("tcp", None, (30080, 30080), "10.244.2.7", (8080, 8080), f"{nodeport} > {sep_b}"),
    }  # fmt: skip
    assert len(rules) == 5  # OUTPUT reaches the same rules: not listed twice
    assert all(r.evidence.startswith("-A KUBE-SEP-") and "-j DNAT" in r.evidence for r in rules)


def test_other_tables_and_redirect() -> None:
    """Only the nat table counts; REDIRECT is a DNAT to this host (no address); cycles end."""
    text = textwrap.dedent(
        """\
        *filter
        :INPUT ACCEPT [0:0]
        -A INPUT -p tcp -m tcp --dport 1 -j DNAT --to-destination 10.0.0.1:2
        COMMIT
        *nat
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :ISTIO_REDIRECT - [0:0]
        :LOOP - [0:0]
        -A PREROUTING -p tcp -j ISTIO_REDIRECT
        -A PREROUTING -j LOOP
        -A LOOP -j LOOP
        -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
        -A ISTIO_REDIRECT -p udp -j REDIRECT --to-ports 15053
        -A OUTPUT -p tcp -m multiport --dports 80,443,8000:8100 -j DNAT --to-destination :8443
        COMMIT
        """
    )
    rules = parse_iptables_save(text)
    assert [(r.protocol, r.ports, r.to_address, r.to_ports, r.chain) for r in rules] == [
        ("tcp", None, None, (15001, 15001), "PREROUTING > ISTIO_REDIRECT"),
        ("tcp", (80, 80), None, (8443, 8443), "OUTPUT"),
        ("tcp", (443, 443), None, (8443, 8443), "OUTPUT"),
        ("tcp", (8000, 8100), None, (8443, 8443), "OUTPUT"),
    ]  # the udp REDIRECT is unreachable after "-p tcp"


def test_nft_native_rules() -> None:
    """Native nft rules: sets, ranges, prefixes, named sets, redirect, jumps, ip/ip6/inet families."""
    rules = parse_nft_ruleset(NFT_JSON)
    native = [(r.family, r.protocol, r.ports, r.address, r.interface, r.to_address, r.to_ports, r.chain, r.handle)
              for r in rules]  # fmt: skip
    assert native == [
        ("ipv4", "tcp", (8080, 8080), None, "eth0", "10.0.0.2", (80, 80), "pre", 5),
        ("ipv4", "tcp", (53, 53), None, "!docker0", "10.0.0.3", None, "pre", 8),
        ("ipv4", "tcp", (5353, 5360), None, "!docker0", "10.0.0.3", None, "pre", 8),
        ("ipv4", "udp", (53, 53), None, "!docker0", "10.0.0.3", None, "pre", 8),
        ("ipv4", "udp", (5353, 5360), None, "!docker0", "10.0.0.3", None, "pre", 8),
        ("ipv4", "tcp", (9000, 9010), "192.168.1.0/24", None, "10.0.0.4", (9000, 9010), "pre", 9),
        ("ipv6", "udp", (500, 500), "::1", None, "fd00::5", (4500, 4500), "pre", 10),
        ("ipv4", "tcp", (7000, 7000), None, None, "10.0.0.9", None, "pre", 11),
        ("ipv4", "tcp", (7001, 7001), None, None, "10.0.0.9", None, "pre", 11),
        ("ipv4", "tcp", (81, 81), None, None, None, (8081, 8081), "pre", 12),
        ("ipv6", "tcp", (81, 81), None, None, None, (8081, 8081), "pre", 12),
        ("ipv4", "tcp", (82, 82), "1.2.3.4", None, "10.0.0.7", (8282, 8282), "pre > sub", 15),
        ("ipv4", "tcp", (83, 83), None, None, "10.0.0.8", None, "pre", 14),
        ("ipv4", "tcp", (18080, 18080), None, None, "127.0.0.1", (19090, 19090), "out", 16),
        ("ipv6", "tcp", (443, 443), None, None, "2001:db8::1", (8443, 8443), "pre", 2),
    ]
    assert {r.source for r in rules} == {"nft"}
    assert rules[0].evidence == "table inet t chain pre handle 5"
    # iptables-nft's two DNAT targets (opaque "xt") and the negated port, map and verdict map rules
    assert len(rules.reasons) == 1 and rules.reasons[0].startswith("5 nat rules not simple enough")


def test_nft_leaves_iptables_nft_tables_to_iptables_save() -> None:
    """Tables with opaque xt targets are found, and skipping them leaves only the native rules' reasons."""
    doc = json.loads(NFT_JSON)
    assert xtables_tables(doc) == {("ip", "nat")}
    rules = nft_document_rules(doc, {("ip", "nat")})
    assert len(rules) == 15 and rules.reasons[0].startswith("3 nat rules not simple enough")


def test_malformed_or_unusual_input_gives_reasons() -> None:
    """Odd JSON (a named priority, a prefix without fields) and open iptables port ranges do not raise."""
    doc = {"nftables": [
        {"chain": {"family": "ip", "table": "x", "name": "c", "type": "nat", "hook": "prerouting", "prio": "dstnat"}},
        {"rule": {"family": "ip", "table": "x", "chain": "c", "handle": 3, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {}}}},
            {"dnat": {"addr": "10.0.0.1"}}]}},
    ]}  # fmt: skip
    rules = parse_nft_ruleset(json.dumps(doc))
    assert list(rules) == [] and "malformed (KeyError: 'addr') in table ip x chain c handle 3" in rules.reasons[0]
    text = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -m udp --dport 1024: -j DNAT --to-destination 10.0.0.2\n"
    )
    assert [r.ports for r in parse_iptables_save(text)] == [(1024, 65535)]


CONNTRACK = {
    # /proc/net/nf_conntrack, captured here: OUTPUT DNAT 127.0.0.1:18080 -> 127.0.0.1:19090 (port only)
    "proc, dnat port": (
        "ipv4     2 tcp      6 432000 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=48752 dport=18080 "
        "src=127.0.0.1 dst=127.0.0.1 sport=19090 dport=48752 [ASSURED] mark=0 zone=0 use=2",
        NatMapping("ipv4", "tcp", "127.0.0.1", 48752, "127.0.0.1", 18080, "127.0.0.1", 19090, None, None,
                   "ESTABLISHED"),
    ),
    "proc, docker published port": (
        "ipv4     2 tcp      6 86398 ESTABLISHED src=203.0.113.7 dst=192.168.1.10 sport=51000 dport=8080 "
        "src=172.17.0.2 dst=203.0.113.7 sport=80 dport=51000 [ASSURED] mark=0 zone=0 use=2",
        NatMapping("ipv4", "tcp", "203.0.113.7", 51000, "192.168.1.10", 8080, "172.17.0.2", 80, None, None,
                   "ESTABLISHED"),
    ),
    "proc, masquerade, port rewritten, with accounting": (
        "ipv4     2 udp      17 170 src=172.17.0.2 dst=1.1.1.1 sport=41234 dport=53 packets=1 bytes=71 "
        "src=1.1.1.1 dst=192.168.1.10 sport=53 dport=61000 packets=1 bytes=87 [ASSURED] mark=0 zone=0 use=2",
        NatMapping("ipv4", "udp", "172.17.0.2", 41234, "1.1.1.1", 53, None, None, "192.168.1.10", 61000),
    ),
    "proc, ipv6 dnat, full-length addresses": (
        "ipv6     10 tcp      6 431999 ESTABLISHED src=2001:0db8:0000:0000:0000:0000:0000:0007 "
        "dst=2001:0db8:0000:0000:0000:0000:0000:0001 sport=51000 dport=8080 "
        "src=fd00:dead:beef:0000:0000:0000:0000:0002 dst=2001:0db8:0000:0000:0000:0000:0000:0007 sport=80 "
        "dport=51000 [ASSURED] mark=0 zone=0 use=2",
        NatMapping("ipv6", "tcp", "2001:db8::7", 51000, "2001:db8::1", 8080, "fd00:dead:beef::2", 80, None, None,
                   "ESTABLISHED"),
    ),
    "proc, tcp without nat": (
        "ipv4     2 tcp      6 117 TIME_WAIT src=10.0.0.5 dst=10.0.0.6 sport=40000 dport=22 "
        "src=10.0.0.6 dst=10.0.0.5 sport=22 dport=40000 [ASSURED] mark=0 zone=0 use=2",
        None,
    ),
    "proc, udp unreplied, captured here": (
        "ipv4     2 udp      17 30 src=127.0.0.1 dst=127.0.0.1 sport=37640 dport=5000 [UNREPLIED] "
        "src=127.0.0.1 dst=127.0.0.1 sport=5000 dport=37640 mark=0 zone=0 use=2",
        None,
    ),
    "proc, ipv6 udp without nat, captured here": (
        "ipv6     10 udp      17 30 src=0000:0000:0000:0000:0000:0000:0000:0001 "
        "dst=0000:0000:0000:0000:0000:0000:0000:0001 sport=57694 dport=500 [UNREPLIED] "
        "src=0000:0000:0000:0000:0000:0000:0000:0001 dst=0000:0000:0000:0000:0000:0000:0000:0001 sport=500 "
        "dport=57694 mark=0 zone=0 use=2",
        None,
    ),
    "proc, icmp has no ports": (
        "ipv4     2 icmp     1 29 src=10.0.0.5 dst=10.0.0.6 type=8 code=0 id=4321 "
        "src=10.0.0.6 dst=10.0.0.5 type=0 code=0 id=4321 mark=0 zone=0 use=2",
        None,
    ),
    "conntrack -L -o extended, captured here": (
        "ipv4     2 tcp      6 431999 ESTABLISHED src=127.0.0.1 dst=127.0.0.1 sport=48752 dport=18080 "
        "src=127.0.0.1 dst=127.0.0.1 sport=19090 dport=48752 [ASSURED] mark=0 use=1",
        NatMapping("ipv4", "tcp", "127.0.0.1", 48752, "127.0.0.1", 18080, "127.0.0.1", 19090, None, None,
                   "ESTABLISHED"),
    ),
    "conntrack -L, no family columns, dnat and snat": (
        "udp      17 29 src=10.0.0.5 dst=192.0.2.1 sport=5000 dport=53 src=10.1.0.9 dst=192.0.2.254 "
        "sport=53 dport=5000 mark=0 use=1",
        NatMapping("ipv4", "udp", "10.0.0.5", 5000, "192.0.2.1", 53, "10.1.0.9", 53, "192.0.2.254", 5000),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CONNTRACK), ids=list(CONNTRACK))
def test_parse_conntrack_line(case: str) -> None:
    """Original vs reply tuple tell DNAT (reply source) and SNAT (reply destination) apart."""
    line, expected = CONNTRACK[case]
    assert parse_conntrack_line(line) == expected


@pytest.mark.parametrize("line", ["", "garbage", "ipv4 2 tcp 6 300 ESTABLISHED src=10.0.0.1 dst=10.0.0.2"])
def test_parse_conntrack_line_rejects_what_is_not_an_entry(line: str) -> None:
    with pytest.raises(ValueError, match="conntrack"):
        parse_conntrack_line(line)


def test_conntrack_fill() -> None:
    assert ConntrackUsage(65536, 262144, "x").fill == 0.25
    assert ConntrackUsage(5, None, "x").fill is None  # nf_conntrack_max = 0: no limit, not "0 % full"


def test_missing_tools_give_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no nft and no iptables-save the answer is empty with one reason, not a traceback."""
    monkeypatch.setattr(nat, "_which", lambda name: None)
    monkeypatch.setattr(nat, "_legacy_nat_in_use", lambda family: False)
    rules = dnat_rules()
    assert list(rules) == [] and rules.reasons == ["nft is not installed"]


# ---- real NAT in a namespace (root) ------------------------------------------------------------

NFT_RULES = """\
table inet portscope_test {
    chain output {
        type nat hook output priority -100; policy accept;
        tcp dport 18080 dnat ip to 127.0.0.1:19090
    }
}
"""


@pytest.fixture
def nat_netns() -> Iterator[tuple[str, bool]]:
    """A fresh namespace with DNAT 18080 -> 19090 (nft), 18081 -> 19091 (iptables-nft) and, when
    iptables-legacy is installed, 18082 -> 19092 (legacy). Yields (name, legacy rule added)."""
    if not sys.platform.startswith("linux") or shutil.which("ip") is None or shutil.which("nft") is None:
        pytest.skip("needs Linux, iproute2 and nft")
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace and NAT rules need root")
    name = f"pstest-nat-{uuid.uuid4().hex[:8]}"
    run = ["ip", "netns", "exec", name]
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
        subprocess.run([*run, "nft", "-f", "-"], input=NFT_RULES, text=True, check=True, timeout=10)
        ipt = ["-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "18081", "-j", "DNAT"]
        subprocess.run([*run, "iptables", *ipt, "--to-destination", "127.0.0.1:19091"], check=True, timeout=10)
        legacy = shutil.which("iptables-legacy") is not None
        if legacy:
            legacy_rule = ["-t", "nat", "-A", "OUTPUT", "-p", "udp", "--dport", "18082", "-j", "DNAT"]
            cmd = [*run, "iptables-legacy", *legacy_rule, "--to-destination", "127.0.0.1:19092"]
            subprocess.run(cmd, check=True, timeout=10)
        yield name, legacy
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, timeout=10)


@pytest.mark.root
def test_dnat_rule_and_live_mapping_in_a_namespace(nat_netns: tuple[str, bool]) -> None:
    """Inside enter(): the nft, iptables-nft and legacy rules are all found once, and a live
    connection to 127.0.0.1:18080 shows in conntrack as mapped to 19090."""
    name, legacy = nat_netns
    sockets: list[socket.socket] = []
    try:
        with enter(name):
            listener = socket.socket()
            sockets.append(listener)
            listener.bind(("127.0.0.1", 19090))
            listener.listen()
            clients = [socket.create_connection(("127.0.0.1", 18080), timeout=5) for _ in range(2)]
            sockets.extend(clients)
            sockets.extend(listener.accept()[0] for _ in clients)
            ports = sorted(c.getsockname()[1] for c in clients)
            rules = dnat_rules()
            mappings = nat_mappings()
            cut = nat_mappings(limit=1)
            usage = conntrack_usage()
            streamed = nat.NatMappingList()
            tool = nat._which("conntrack")
            reason = nat._stream_conntrack(tool, 100, 10, streamed) if tool else "conntrack(8) is not installed"
    finally:
        for sock in sockets:
            sock.close()

    assert rules.reasons == []
    found = {(r.source, r.protocol, r.ports, r.to_address, r.to_ports, r.chain) for r in rules}
    expected = {
        ("nft", "tcp", (18080, 18080), "127.0.0.1", (19090, 19090), "output"),
        ("iptables", "tcp", (18081, 18081), "127.0.0.1", (19091, 19091), "OUTPUT"),
    }
    if legacy:
        expected.add(("iptables", "udp", (18082, 18082), "127.0.0.1", (19092, 19092), "OUTPUT"))
    assert found == expected and len(rules) == len(expected)  # table ip nat read once, by iptables-save

    ours = sorted((m for m in mappings if m.dport == 18080), key=lambda m: m.sport)
    assert [m.sport for m in ours] == ports
    assert all(
        (m.protocol, m.dst, m.dnat_dst, m.dnat_dport, m.snat_src, m.state)
        == ("tcp", "127.0.0.1", "127.0.0.1", 19090, None, "ESTABLISHED")
        for m in ours
    )
    assert mappings.source == "/proc/thread-self/net/nf_conntrack" and not mappings.truncated
    assert cut.truncated and cut.scanned == 1 and "stopped after 1 of about" in cut.reasons[-1]
    assert usage is not None and usage.entries >= 2
    if tool:
        assert reason is None and streamed.source == "conntrack -L -o extended"
        assert {m.sport for m in streamed if m.dport == 18080} == set(ports)


@pytest.mark.root
def test_nat_mappings_in_a_worker_thread(nat_netns: tuple[str, bool]) -> None:
    """A thread inside enter() reads its own namespace's conntrack table (/proc/thread-self/net)."""
    name, _ = nat_netns
    result: list[nat.NatMappingList] = []

    def worker() -> None:
        with enter(name):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 19090))
            listener.listen()
            with listener, socket.create_connection(("127.0.0.1", 18080), timeout=5) as client:
                listener.accept()[0].close()
                result.append(nat_mappings())
                assert client.getpeername() == ("127.0.0.1", 18080)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and len(result) == 1
    assert any(m.dport == 18080 and m.dnat_dport == 19090 for m in result[0])


@pytest.mark.root
def test_without_root_reasons_not_tracebacks() -> None:
    """As nobody, rules and mappings come back empty with reasons that say root is needed."""
    code = (
        "from portscope.host.nat import dnat_rules, nat_mappings; r = dnat_rules(); m = nat_mappings(); "
        "print(len(r), len(m)); print(*r.reasons, *m.reasons, sep='\\n')"
    )
    done = run_as_nobody(code)
    assert done.returncode == 0, done.stderr
    counts, *reasons = done.stdout.splitlines()
    assert counts == "0 0"
    assert any(r.startswith("nft -j list ruleset needs root (CAP_NET_ADMIN)") for r in reasons), reasons
    assert any("nf_conntrack needs root" in r for r in reasons), reasons

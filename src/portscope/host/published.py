"""Published ports: DNAT rules that expose a listener beyond its own namespace.

Docker's ``-p 8080:80`` and Kubernetes' NodePorts are netfilter DNAT rules, not sockets: nothing
listens on the host's port 8080, yet it is open to the world. We match each rule's target
(address, port) to the listener behind it, in whichever namespace holds that address, and mark that
listener ``published``, so the summary says "nginx, inside docker:1a2b3c4d5e6f, published on 8080".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from portscope.host.table import SocketTable
from portscope.records import DnatRule

__all__ = ["mark_published", "rule_text"]

_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 - names wildcard binds, binds nothing


def rule_text(rule: DnatRule) -> str:
    """``tcp 8080 -> 172.17.0.2:80 (iptables PREROUTING > DOCKER)``, for people."""
    if rule.ports is None:
        ports = "any port"
    else:
        ports = str(rule.ports[0]) if rule.ports[0] == rule.ports[1] else f"{rule.ports[0]}-{rule.ports[1]}"
    on = f" on {rule.address}" if rule.address else ""
    via = f" from {rule.interface}" if rule.interface else ""
    target_port = "" if rule.to_ports is None else f":{rule.to_ports[0]}"
    target = f"{rule.to_address or 'this host'}{target_port}"
    return f"{rule.protocol or 'any'} {ports}{on}{via} -> {target} ({rule.source} {rule.chain})"


def _target_ports(rule: DnatRule) -> tuple[int, int] | None:
    return rule.to_ports if rule.to_ports is not None else rule.ports


def mark_published(
    table: SocketTable, rules: Iterable[DnatRule], addresses: Mapping[int | None, tuple[str, ...]]
) -> int:
    """Fill ``table.published`` for listeners a DNAT rule leads to; returns how many were marked.

    ``addresses`` maps a namespace inode to its addresses. A rule with no target address (REDIRECT)
    leads to this host's own namespace, the first in ``addresses``.
    """
    table.published = [None] * len(table)
    host_ns = next(iter(addresses), None)
    owner_of: dict[str, int | None] = {a: ns for ns, addrs in addresses.items() for a in addrs}
    listeners = [i for i, role in enumerate(table.role) if role == "listen"]
    marked = 0
    for rule in rules:
        ports = _target_ports(rule)
        if ports is None:
            continue
        target_ns = host_ns if rule.to_address is None else owner_of.get(rule.to_address)
        for i in listeners:
            if rule.protocol is not None and table.protocol[i] != rule.protocol:
                continue
            if not ports[0] <= table.local_port[i] <= ports[1]:
                continue
            address = table.local_address[i]
            if rule.to_address is not None and address == rule.to_address:
                pass  # bound to the very target address
            elif address in _WILDCARDS and table.netns[i] == target_ns and target_ns is not None:
                pass  # a wildcard listener in the namespace that owns the target address
            elif rule.to_address is None and table.netns[i] == host_ns and address.startswith("127."):
                pass  # REDIRECT to a loopback listener of the host
            else:
                continue
            text = rule_text(rule)
            current = table.published[i]
            table.published[i] = text if current is None else f"{current}; {text}"
            marked += 1
    return marked

"""The flows folded once per (client, server, service port, protocol): what most analyses start from.

Scans count a source's distinct ports and hosts, beaconing and exhaustion first look for pairs with
enough connections, and the top talkers sum each address's flows, peers and ports. Each of them
used to group the millions of flows by the same address strings again; folded here once (a tenth
as many rows on a day of flows) and kept on the engine, each reads the fold instead. Only analyses
that need single flows (the times between a beacon's calls, the ports of one window) go back to them.

A pair is also told apart by ``client_is_src`` (who sent the rows: probes and calls are the
client's, replies the server's), ``group`` (sent to a multicast or broadcast address) and ``app``
(the protocol the source recognised, where it names one: a pair almost always speaks one).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PAIR_KEYS", "calls", "fold"]

PAIR_KEYS = ("client", "server", "server_port", "proto")


def fold(f: Any) -> Any:
    """One row per pair and sender: flows, bytes, denials and failures, first and last flow."""
    return f.group_by(*PAIR_KEYS, "client_is_src", "app", group=f.kind == "group").agg(
        flows=f.count(),
        bytes=f.bytes.sum(),
        denied=(f.action == "deny").cast("int64").sum(),
        failed=f.failed.cast("int64").sum(),
        answered=f.established.cast("int64").max(),
        first_t=f.t.min(),
        last_t=f.t.max(),
        first_seen=f.start.min(),
        last_seen=f.start.max(),
    )


def calls(pairs: Any) -> Any:
    """Pairs as their clients sent them, to a port, not to a group: the probes of a scan, a beacon's
    calls. (A client's own rows are never explained in prepare except as group traffic.)"""
    return pairs.filter(pairs.client_is_src & pairs.server_port.notnull() & ~pairs.group)

"""Ephemeral-port exhaustion risk: one source address holding too many ports towards one ip:port.

A client port can be reused for the same destination only after the previous connection's
TIME_WAIT (60 s on Linux): the distinct client ports one source uses towards one destination
within ``exhaustion_window`` approach the pool size when connections churn. When they pass
``exhaustion_share`` of the pool in use, new connections start failing. The pool is the client's
range from ``--host-os`` where given, else ``--os``'s; behind NAT it is the translator's (Linux SNAT
1024-65535, an AWS NAT gateway 55,000 per destination: give the NAT's address a range).
"""

from __future__ import annotations

from typing import Any

from portscope.analyze.findings import Detection, DetectionInput, DetectionRule, named_by_sides
from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.pairs import PAIR_KEYS
from portscope.findings import Severity

__all__ = ["EPHEMERAL_EXHAUSTION", "exhaustion"]


def exhaustion(data: DetectionInput) -> Detection:
    f, pairs, options = data.flows, data.pairs, data.options
    th = options.thresholds
    size = int(th.exhaustion_window * 1_000_000)
    rows = f.filter(f.client_is_src & f.server_port.notnull() & f.client_port.notnull())
    keys = list(PAIR_KEYS)
    # A pair cannot hold more ports in a window than it has flows: count first (from the fold), then
    # look at the windows of the few pairs with enough flows.
    sent = pairs.filter(pairs.client_is_src & pairs.server_port.notnull())
    sizes = _with_pool(sent.group_by(keys).agg(n=sent.flows.sum()), options)
    limit = sizes.pool * th.exhaustion_share
    candidates = sizes.filter(sizes.n >= limit).select(*keys, "pool")
    big = rows.semi_join(candidates, keys)
    big = big.mutate(window=big.t // size)
    per_window = big.group_by([*keys, "window"]).agg(ports=big.client_port.nunique())
    peak = per_window.group_by(keys).agg(peak_ports=per_window.ports.max()).inner_join(candidates, keys)
    risky = peak.filter(peak.peak_ports >= peak.pool * th.exhaustion_share)
    hit = rows.semi_join(risky.select(*keys), keys)
    totals = hit.group_by(keys).agg(
        flows=hit.count(),
        client_ports=hit.client_port.nunique(),
        first_seen=hit.start.min(),
        last_seen=hit.start.max(),
    )
    found = totals.inner_join(risky, keys)
    found = named_by_sides(found).mutate(share=(found.peak_ports / found.pool).cast("float64"))
    found = found.drop(*keys)
    return Detection(found, named_by_sides(rows), _describe(th.exhaustion_window))


def _with_pool(t: Any, options: AnalyzeOptions) -> Any:
    """``t`` with the client's port pool: its host's range (--host-os) where known, else the run's."""
    import ibis

    if not options.host_ranges:
        return t.mutate(pool=ibis.literal(options.pool_size, "int32"))
    hosts = options.hosts_table().select("addr", known_pool="pool")
    t = t.left_join(hosts, t.client == hosts.addr).drop("addr")
    return t.mutate(pool=t.known_pool.fill_null(ibis.literal(options.pool_size, "int32"))).drop("known_pool")


def _describe(window: float) -> Any:
    def describe(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
        share = float(row["share"])
        severity = Severity.HIGH if share >= 0.8 else Severity.MEDIUM
        title = (
            f"{row['src']} used {row['peak_ports']} ports towards {row['dst']}:{row['port']}/{row['protocol']} "
            f"within {window:.0f} s: {share:.0%} of a {row['pool']}-port pool (exhaustion risk)"
        )
        return severity, title, None

    return describe


EPHEMERAL_EXHAUSTION = DetectionRule(
    "ephemeral_exhaustion",
    exhaustion,
    ("src", "dst", "port", "protocol"),
    ("client", "server", "server_port", "proto", "client_is_src", "client_port", "flows", "t", "start"),
    (Severity.MEDIUM, Severity.HIGH),
)

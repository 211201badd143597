"""Ephemeral-port exhaustion risk: one source address holding too many ports towards one ip:port.

A client port can be reused for the same destination only after the previous connection's
TIME_WAIT (60 s on Linux): the distinct client ports one source uses towards one destination
within ``exhaustion_window`` approach the pool size when connections churn. When they pass
``exhaustion_share`` of the pool in use (``--os``'s ephemeral range; behind NAT the translator's:
Linux SNAT 1024-65535, an AWS NAT gateway 55,000 per destination), new connections start failing.
"""

from __future__ import annotations

from typing import Any

from portscope.analyze.findings import Detection, named_by_sides
from portscope.analyze.options import AnalyzeOptions
from portscope.analyze.pairs import PAIR_KEYS

__all__ = ["exhaustion"]


def exhaustion(f: Any, pairs: Any, options: AnalyzeOptions) -> Detection:
    th = options.thresholds
    size = int(th.exhaustion_window * 1_000_000)
    rows = f.filter(f.client_is_src & f.server_port.notnull() & f.client_port.notnull())
    keys = list(PAIR_KEYS)
    limit = int(options.pool_size * th.exhaustion_share)
    # A pair cannot hold more ports in a window than it has flows: count first (from the fold), then
    # look at the windows of the few pairs with enough flows.
    sent = pairs.filter(pairs.client_is_src & pairs.server_port.notnull())
    sizes = sent.group_by(keys).agg(n=sent.flows.sum())
    big = rows.semi_join(sizes.filter(sizes.n >= limit).select(*keys), keys)
    big = big.mutate(window=big.t // size)
    per_window = big.group_by([*keys, "window"]).agg(ports=big.client_port.nunique())
    peak = per_window.group_by(keys).agg(peak_ports=per_window.ports.max())
    risky = peak.filter(peak.peak_ports >= limit)
    hit = rows.semi_join(risky.select(*keys), keys)
    totals = hit.group_by(keys).agg(
        flows=hit.count(),
        client_ports=hit.client_port.nunique(),
        first_seen=hit.start.min(),
        last_seen=hit.start.max(),
    )
    found = totals.inner_join(risky, keys)
    found = named_by_sides(found).mutate(
        pool=options.pool_size, share=(found.peak_ports / options.pool_size).cast("float64")
    )
    found = found.drop(*keys)
    id_keys = ("src", "dst", "port", "protocol")
    return Detection("ephemeral_exhaustion", found, named_by_sides(rows), id_keys, _describe(th.exhaustion_window))


def _describe(window: float) -> Any:
    def describe(row: dict[str, Any]) -> tuple[str, str, str | None]:
        share = float(row["share"])
        severity = "high" if share >= 0.8 else "medium"
        title = (
            f"{row['src']} used {row['peak_ports']} ports towards {row['dst']}:{row['port']}/{row['protocol']} "
            f"within {window:.0f} s: {share:.0%} of a {row['pool']}-port pool (exhaustion risk)"
        )
        return severity, title, None

    return describe

"""Beaconing: one host connecting to one destination at a steady rhythm, as implants call home.

For each (client, server, port, protocol) with enough connections, the gaps between consecutive
connection starts are taken; gaps shorter than ``beacon_min_interval`` are retries of one beacon,
not beacons. The median gap is the period; a gap within ``beacon_tolerance`` of it is on time. A
pair is beaconing when ``beacon_on_time_share`` of its gaps are on time: jitter inside the
tolerance is forgiven, and so are a few missed or extra beacons (a median does not move for them).
Medians are exact on both engines (approximate quantiles differ between DuckDB and Spark).
NTP (123/udp) polls by design and is left out, as are multicast and broadcast announcements
(SSDP, mDNS: local discovery on a timer, not a call to anyone).
"""

from __future__ import annotations

from typing import Any

from portscope.analyze.findings import Detection, named_by_sides
from portscope.analyze.options import AnalyzeOptions

__all__ = ["beaconing"]


def beaconing(f: Any, options: AnalyzeOptions) -> Detection:
    import ibis

    th = options.thresholds
    keys = ["client", "server", "server_port", "proto"]
    calls = f.filter(
        f.client_is_src & f.server_port.notnull() & (f.kind != "group") & ~((f.server_port == 123) & (f.proto == "udp"))
    )
    counts = calls.group_by(keys).agg(n=calls.count(), first=calls.t.min(), last=calls.t.max())
    # Enough calls, and not more than the span allows at one call per beacon_min_interval (a busy
    # pair whose calls come faster on average is no beacon, and its gaps need not be sorted out).
    span = (counts["last"] - counts["first"]).cast("float64") / 1_000_000
    busy = counts.filter((counts.n >= th.beacon_min_flows) & (span >= (counts.n - 1) * th.beacon_min_interval))
    every_call = calls
    calls = calls.semi_join(busy.select(*keys), keys)
    # The window sorts these, not whole flows; equal times make a gap of 0, dropped below, so no tie-break.
    times = calls.select(*keys, "t", "start")
    window = ibis.window(group_by=keys, order_by=times.t)
    gaps = times.mutate(gap=(times.t - times.t.lag().over(window)).cast("float64") / 1_000_000)
    gaps = gaps.filter(gaps.gap.notnull() & (gaps.gap >= th.beacon_min_interval))
    period = gaps.group_by(keys).agg(gaps=gaps.count(), period=gaps.gap.median())
    period = period.filter(period.gaps >= th.beacon_min_flows - 1)
    timed = gaps.inner_join(period, keys)
    on_time = (timed.gap - timed.period).abs() <= timed.period * th.beacon_tolerance
    g = timed.group_by(keys).agg(
        gaps=timed.gaps.max(),
        period_s=timed.period.max(),
        on_time=on_time.cast("int64").sum(),
        mean_on_time=timed.gap.mean(where=on_time),
        std_on_time=timed.gap.std(where=on_time, how="pop"),
        first_seen=timed.start.min(),
        last_seen=timed.start.max(),
    )
    found = g.filter(g.on_time >= g.gaps * th.beacon_on_time_share)
    found = named_by_sides(found).mutate(
        flows=found.gaps + 1, jitter=(found.std_on_time / found.mean_on_time).fill_null(0.0)
    )
    found = found.drop(*keys, "std_on_time", "mean_on_time")
    return Detection("beaconing", found, named_by_sides(every_call), ("src", "dst", "port", "protocol"), _describe)


def _describe(row: dict[str, Any]) -> tuple[str, str, str | None]:
    period = float(row["period_s"])
    every = f"{period / 60:.1f} min" if period >= 120 else f"{period:.0f} s"
    jitter = float(row["jitter"] or 0.0)
    title = (
        f"{row['src']} calls {row['dst']}:{row['port']}/{row['protocol']} every {every} "
        f"({row['flows']} connections, jitter {jitter:.0%}): beaconing"
    )
    return "medium", title, "T1071"

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

from portscope._words import count
from portscope.analyze.findings import Detection, DetectionInput, DetectionRule, named_by_sides
from portscope.analyze.pairs import PAIR_KEYS, calls
from portscope.analyze.scans import probes
from portscope.findings import Severity

__all__ = ["BEACONING", "beaconing"]


def beaconing(data: DetectionInput) -> Detection:
    import ibis

    f, pairs = data.flows, data.pairs
    th = data.options.thresholds
    keys = list(PAIR_KEYS)
    counts = calls(pairs)
    ntp = (counts.server_port == 123) & (counts.proto == "udp")
    # Enough calls, and not more than the span allows at one call per beacon_min_interval (a busy
    # pair whose calls come faster on average is no beacon, and its gaps need not be sorted out).
    span = (counts.last_t - counts.first_t).cast("float64") / 1_000_000
    enough = (counts.flows >= th.beacon_min_flows) & (span >= (counts.flows - 1) * th.beacon_min_interval)
    busy = counts.filter(enough & ~ntp)
    every_call = probes(f)  # the flows behind calls(pairs)
    every_call = every_call.filter(~((every_call.server_port == 123) & (every_call.proto == "udp")))
    # Each busy pair gets a number, and the window sorts (pair, t) by it: sorting millions of calls by
    # four keys, two of them address strings, was most of this detection's time.
    numbered = busy.select(*keys).mutate(pair=ibis.row_number().over(order_by=keys))
    times = every_call.inner_join(numbered, keys).select("pair", "t", "start")
    # Equal times make a gap of 0, dropped below, so the order needs no tie-break.
    window = ibis.window(group_by="pair", order_by=times.t)
    gaps = times.mutate(gap=(times.t - times.t.lag().over(window)).cast("float64") / 1_000_000)
    gaps = gaps.filter(gaps.gap.notnull() & (gaps.gap >= th.beacon_min_interval))
    period = gaps.group_by("pair").agg(gaps=gaps.count(), period=gaps.gap.median())
    period = period.filter(period.gaps >= th.beacon_min_flows - 1)
    timed = gaps.inner_join(period, "pair")
    on_time = (timed.gap - timed.period).abs() <= timed.period * th.beacon_tolerance
    g = timed.group_by("pair").agg(
        gaps=timed.gaps.max(),
        period_s=timed.period.max(),
        on_time=on_time.cast("int64").sum(),
        mean_on_time=timed.gap.mean(where=on_time),
        std_on_time=timed.gap.std(where=on_time, how="pop"),
        first_seen=timed.start.min(),
        last_seen=timed.start.max(),
    )
    g = g.inner_join(numbered, "pair")
    found = g.filter(g.on_time >= g.gaps * th.beacon_on_time_share)
    found = named_by_sides(found).mutate(
        flows=found.gaps + 1, jitter=(found.std_on_time / found.mean_on_time).fill_null(0.0)
    )
    found = found.drop(*keys, "pair", "std_on_time", "mean_on_time")
    return Detection(found, named_by_sides(every_call), _describe)


def _describe(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    period = float(row["period_s"])
    every = f"{period / 60:.1f} min" if period >= 120 else f"{period:.0f} s"
    jitter = float(row["jitter"] or 0.0)
    title = (
        f"{row['src']} calls {row['dst']}:{row['port']}/{row['protocol']} every {every} "
        f"({count(row['flows'], 'connection')}, jitter {jitter:.0%}): beaconing"
    )
    return Severity.MEDIUM, title, "T1071"


BEACONING = DetectionRule(
    "beaconing",
    beaconing,
    ("src", "dst", "port", "protocol"),
    ("client", "server", "server_port", "proto", "client_is_src", "group", "flows", "first_t", "last_t", "dport",
     "kind", "t", "start"),
    (Severity.MEDIUM,),
)  # fmt: skip

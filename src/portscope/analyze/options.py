"""What an analysis run is told: engine, OS ranges, thresholds. Defaults are documented in docs/analyze.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from portscope.ports.ranges import DEFAULT_POOL_SIZE

__all__ = ["AnalyzeOptions", "Thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """When a pattern becomes a finding. Tuned on the real logs in ../shared/data (sampled UFW lines,
    retransmits, psad's scan captures), not on dense synthetic ones; see docs/analyze.md."""

    vertical_ports: int = 12  # distinct ports of one host probed by one source
    horizontal_hosts: int = 12  # distinct hosts probed on one port by one source
    probe_failed_share: float = 0.5  # share of a scanner's probes that failed or were denied
    slow_scan_seconds: float = 3600.0  # a scan spread over longer than this is reported as slow
    beacon_min_flows: int = 12  # connections of one pair before its rhythm is judged
    beacon_min_interval: float = 10.0  # seconds; faster repeats are bursts, not beacons
    beacon_tolerance: float = 0.2  # an interval within +-20% of the median one is "on time"
    beacon_on_time_share: float = 0.8  # share of intervals on time (missed beacons are forgiven)
    exhaustion_share: float = 0.5  # concurrent ports of one pair / the pool size
    exhaustion_window: float = 60.0  # seconds a closed port stays unusable (TIME_WAIT)
    brute_force_attempts: int = 10  # failed or denied attempts at one service (x3 sessions at a login port)
    denied_then_allowed: int = 3  # denials before an allowed flow of the same source and service
    ephemeral_peer_flows: int = 1  # established flows between two ephemeral ports before reporting

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AnalyzeOptions:
    """One run. ``ephemeral`` is the (low, high) port pool clients are assumed to pick from."""

    engine: str = "duckdb"
    spark_master: str | None = None
    os: str = "any"
    ephemeral: tuple[int, int] = (32768, 65535)
    pool_size: int = DEFAULT_POOL_SIZE  # the port pool exhaustion is measured against
    # Hosts whose OS (or NAT pool) is known: (canonical address, low, high) of their client ports,
    # used for that host's side of a flow instead of ``ephemeral`` (--host-os).
    host_ranges: tuple[tuple[str, int, int], ...] = ()
    baseline: str | None = None
    fail_on: str = "high"
    evidence: int = 20  # flows shown per finding
    top: int = 20  # rows of talkers and services shown by the text report
    thresholds: Thresholds = field(default_factory=Thresholds)
    progress: Callable[[str], None] | None = field(default=None, compare=False)  # told each step's name

    def hosts_table(self) -> Any:
        """``host_ranges`` as an Ibis table (addr, low, high, pool): joined where a side's range counts."""
        import ibis
        import pyarrow as pa

        addrs, lows, highs = zip(*self.host_ranges, strict=True) if self.host_ranges else ((), (), ())
        return ibis.memtable(
            pa.table(
                {
                    "addr": pa.array(addrs, pa.string()),
                    "low": pa.array(lows, pa.int32()),
                    "high": pa.array(highs, pa.int32()),
                    "pool": pa.array([h - lo + 1 for lo, h in zip(lows, highs, strict=True)], pa.int32()),
                }
            )
        )

    def step(self, name: str) -> None:
        if self.progress is not None:
            self.progress(name)

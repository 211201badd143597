"""Ports never seen in a baseline: service ports served now that the baseline's flows never used.

The baseline is a flow table (``portscope convert`` Parquet) from a known-good period, prepared
with the same options so its ports are oriented the same way.
"""

from __future__ import annotations

from typing import Any

from portscope._words import count
from portscope.analyze.findings import Detection, DetectionInput, DetectionRule
from portscope.findings import Severity

__all__ = ["NEW_PORT", "new_ports"]


def new_ports(data: DetectionInput) -> Detection:
    """Service ports of the flows that the prepared baseline flows (``data.baseline``) never served."""
    f, known = data.flows, data.baseline
    served = f.filter(f.server_port.notnull() & f.kind.isin(("service", "ephemeral_inbound", "denied")))
    before = known.filter(known.server_port.notnull()).select(server_port=known.server_port, proto=known.proto)
    new = served.anti_join(before.distinct(), ["server_port", "proto"])
    found = new.group_by(port=new.server_port, protocol=new.proto).agg(
        servers=new.server.nunique(),
        dst=new.server.min(),
        clients=new.client.nunique(),
        src=new.client.min(),
        flows=new.count(),
        inbound=(new.direction == "inbound").cast("int64").sum(),
        first_seen=new.start.min(),
        last_seen=new.start.max(),
    )
    members = new.mutate(port=new.server_port, protocol=new.proto)
    return Detection(found, members, _describe)


def _describe(row: dict[str, Any]) -> tuple[Severity, str, str | None]:
    severity = Severity.MEDIUM if row["inbound"] else Severity.LOW
    title = (
        f"port {row['port']}/{row['protocol']} is new: {count(row['flows'], 'flow')} to "
        f"{count(row['servers'], 'server')} from {count(row['clients'], 'client')}, never in the baseline"
    )
    return severity, title, None


NEW_PORT = DetectionRule(
    "new_port",
    new_ports,
    ("port", "protocol"),
    ("server_port", "proto", "kind", "server", "client", "direction", "start"),
    (Severity.LOW, Severity.MEDIUM),
    needs_baseline=True,
)

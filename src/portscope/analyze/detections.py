"""Every detection, declared in the order a report runs them (sqlglot's optimizer ``RULES`` is the model).

A new detection is one module holding its function and its :class:`~.findings.DetectionRule`, and one
line here. tests/analyze/test_detections.py holds each rule to what it declares: the columns it reads,
the keys its findings and evidence share, the severities it gives.
"""

from __future__ import annotations

from portscope.analyze.attempts import BRUTE_FORCE, DENIED_THEN_ALLOWED
from portscope.analyze.baseline import NEW_PORT
from portscope.analyze.beacons import BEACONING
from portscope.analyze.ephemeral import EPHEMERAL_LISTENER, EPHEMERAL_TO_EPHEMERAL, UNSOLICITED_INBOUND
from portscope.analyze.exhaustion import EPHEMERAL_EXHAUSTION
from portscope.analyze.findings import DetectionRule
from portscope.analyze.protocols import PROTOCOL_ON_NONSTANDARD_PORT
from portscope.analyze.scans import HORIZONTAL_SCAN, PROTOCOL_SCAN, VERTICAL_SCAN

__all__ = ["DETECTIONS"]

DETECTIONS: tuple[DetectionRule, ...] = (
    VERTICAL_SCAN,
    HORIZONTAL_SCAN,
    PROTOCOL_SCAN,
    UNSOLICITED_INBOUND,
    EPHEMERAL_LISTENER,
    EPHEMERAL_TO_EPHEMERAL,
    PROTOCOL_ON_NONSTANDARD_PORT,
    BEACONING,
    EPHEMERAL_EXHAUSTION,
    BRUTE_FORCE,
    DENIED_THEN_ALLOWED,
    NEW_PORT,
)

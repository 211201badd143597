"""portscope: explain, watch and audit network ports, ephemeral ports above all.

The public API, re-exported once here::

    >>> from portscope import explain_port
    >>> explain_port(56744, ("tcp",)).role
    'ephemeral-client'

Heavy libraries are never imported by this module: ``portscope explain`` starts in milliseconds.
:class:`~portscope.findings.Finding` and :class:`~portscope.findings.Severity` are imported on first
use (they bring dataclasses and hashlib, which ``explain`` does not need).
"""

from __future__ import annotations

__version__ = "0.1.0"

from portscope.errors import DataError, PlatformError, PortscopeError, PortSpecError, UsageError
from portscope.explain import explain, explain_port, explain_range
from portscope.ports.classify import classify
from portscope.records import (
    ClientRange,
    EphemeralRange,
    HostPortRange,
    IanaEntry,
    PortClass,
    PortExplanation,
    PortQuery,
    RangeExplanation,
    RangeMembership,
    RangeOverlap,
    ServiceDbEntry,
    Subject,
)

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from portscope.findings import Finding, Severity


def __getattr__(name: str) -> object:
    """``Finding`` and ``Severity``, imported when first asked for."""
    if name in ("Finding", "Severity"):
        from portscope import findings

        return getattr(findings, name)
    raise AttributeError(f"module 'portscope' has no attribute {name!r}")


__all__ = [
    "ClientRange",
    "DataError",
    "EphemeralRange",
    "Finding",
    "HostPortRange",
    "IanaEntry",
    "PlatformError",
    "PortClass",
    "PortExplanation",
    "PortQuery",
    "PortSpecError",
    "PortscopeError",
    "RangeExplanation",
    "RangeMembership",
    "RangeOverlap",
    "ServiceDbEntry",
    "Severity",
    "Subject",
    "UsageError",
    "__version__",
    "classify",
    "explain",
    "explain_port",
    "explain_range",
]

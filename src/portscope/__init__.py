"""portscope: explain, watch and audit network ports, ephemeral ports above all.

The public API, re-exported once here::

    >>> from portscope import explain_port
    >>> explain_port(56744, ("tcp",)).role
    'ephemeral-client'

Heavy libraries are never imported by this module: ``portscope explain`` starts in milliseconds.
"""

from __future__ import annotations

__version__ = "0.1.0"

from portscope.errors import DataError, PlatformError, PortscopeError, PortSpecError, UsageError
from portscope.explain import explain, explain_port, explain_range
from portscope.records import (
    EphemeralRange,
    HostPortRange,
    IanaEntry,
    PortExplanation,
    PortQuery,
    RangeExplanation,
    RangeMembership,
    RangeOverlap,
    ServiceDbEntry,
)

__all__ = [
    "DataError",
    "EphemeralRange",
    "HostPortRange",
    "IanaEntry",
    "PlatformError",
    "PortExplanation",
    "PortQuery",
    "PortSpecError",
    "PortscopeError",
    "RangeExplanation",
    "RangeMembership",
    "RangeOverlap",
    "ServiceDbEntry",
    "UsageError",
    "__version__",
    "explain",
    "explain_port",
    "explain_range",
]

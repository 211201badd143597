"""The one Finding: what every part of portscope that judges something hands to people and machines.

``live``'s ephemeral-port health, every detection of ``analyze``, and the scanner, audits and alerts
to come produce :class:`Finding`; :mod:`portscope.render.findings` renders it as text, JSON and HTML.
Zeek's notice framework is the model: one record, an identifier to deduplicate and suppress by, and
what to do with it decided elsewhere.

The stable identifier
---------------------
``identifier`` names "the same finding" across runs, engines and hosts' restarts, so that an alert
is raised once and a finding that comes back is recognised. It is the first 16 hex digits of the
SHA-256 of these fields, joined by ``|`` (an absent one is empty)::

    code | protocol | src | dst | port | namespace

with the port written ``ephemeral`` when it is one (a scanner probing 61000 today and 61003 tomorrow
is one finding), and never a pid, a time or a count. Nothing else goes in: a finding whose title or
evidence changes as it grows keeps its identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from portscope.errors import UsageError
from portscope.records import FlowEvidence, Subject

__all__ = ["MITRE_TECHNIQUES", "SEVERITIES", "Finding", "FlowEvidence", "Severity", "Subject", "finding_identifier"]


class Severity(IntEnum):
    """How much a finding matters, ordered: ``Severity.HIGH > Severity.LOW``. Written lower-case."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        """``info``, ``low``, ``medium``, ``high`` or ``critical``: the word JSON and the CLI use."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """A severity from its word; UsageError listing the valid ones otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise UsageError(f"unknown severity {text!r}; valid ones are: {', '.join(SEVERITIES)}") from None


# Every severity's word, lowest first (--fail-on takes one).
SEVERITIES: tuple[str, ...] = tuple(s.label for s in Severity)

# The MITRE ATT&CK techniques findings cite, by id.
MITRE_TECHNIQUES = {
    "T1046": "Network Service Discovery",
    "T1595.001": "Active Scanning: Scanning IP Blocks",
    "T1571": "Non-Standard Port",
    "T1071": "Application Layer Protocol",
    "T1110": "Brute Force",
}


def finding_identifier(code: str, subject: Subject) -> str:
    """The stable identifier of a finding of ``code`` about ``subject`` (the module docstring's recipe)."""
    import hashlib  # here, not at the top: OpenSSL's loading is 3 ms of every start, findings or not

    port = "ephemeral" if subject.ephemeral else ("" if subject.port is None else str(subject.port))
    parts = (code, subject.protocol, subject.src, subject.dst, port, subject.namespace)
    text = "|".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    """Something worth a person's attention, with the evidence behind it and, where one exists, the fix.

    ``code`` is stable for scripts (``vertical_scan``, ``listener-in-ephemeral-range``...), ``title``
    one line, ``detail`` the explanation. ``subject`` is what it is about. ``first_seen`` and
    ``last_seen`` are ISO 8601 UTC times; ``count`` is how many flows, sockets or events stand behind
    it, ``evidence`` the first of them (flows with their file and line, or sockets said in words).
    ``mitre`` is an ATT&CK technique id (:data:`MITRE_TECHNIQUES`); ``metrics`` the numbers that made
    it a finding. ``identifier`` is computed (see the module docstring).
    """

    severity: Severity
    code: str
    title: str
    detail: str | None = None
    subject: Subject = field(default_factory=Subject)
    first_seen: str | None = None
    last_seen: str | None = None
    count: int | None = None
    evidence: tuple[FlowEvidence | str, ...] = ()
    fix: str | None = None
    mitre: str | None = None
    metrics: Mapping[str, object] = field(default_factory=dict)
    identifier: str = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.severity, Severity):
            raise TypeError(f"severity must be a Severity, not {self.severity!r}")
        if self.mitre is not None and self.mitre not in MITRE_TECHNIQUES:
            raise ValueError(f"unknown MITRE technique {self.mitre!r}: add it to MITRE_TECHNIQUES")
        object.__setattr__(self, "identifier", finding_identifier(self.code, self.subject))

"""portscope's exceptions: one tree, so callers can catch everything of ours with one clause.

    PortscopeError                  root; every error portscope raises on purpose
    +-- UsageError                  a bad argument: the caller asked for something malformed
    |   +-- PortSpecError           a PORT[/PROTO], range or service name that cannot be understood
    +-- DataError                   a file we read is missing, unreadable or not in the expected format
    +-- PlatformError               the OS did not let us read what we asked (no such interface, no privilege)

The CLI maps UsageError and DataError to exit code 2 (usage/input error), as sysexits-style tools do.
Foreign exceptions (OSError, ValueError...) are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = ["DataError", "PlatformError", "PortSpecError", "PortscopeError", "UsageError"]


class PortscopeError(Exception):
    """Root of every error portscope raises on purpose."""


class UsageError(PortscopeError):
    """The caller asked for something malformed; the message says what is accepted."""


class PortSpecError(UsageError):
    """A port argument (``PORT[/PROTO]``, ``LO-HI`` or a service name) that cannot be understood.

    ``argument`` is the text as given, so a command that takes several can report each on its own.
    """

    def __init__(self, argument: str, reason: str) -> None:
        self.argument = argument
        self.reason = reason
        super().__init__(f"{argument!r}: {reason}")


class DataError(PortscopeError):
    """A file portscope reads is missing, unreadable or malformed; the message names file and line."""


class PlatformError(PortscopeError):
    """The operating system refused or does not offer what was asked (a privilege, an interface)."""

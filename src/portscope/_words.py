"""Counts that agree with their nouns: ``1 socket``, ``2 sockets``. A report that says "1 attempts" reads
as machine output; every count a person reads goes through :func:`count`. No imports: explain uses it."""

from __future__ import annotations

__all__ = ["count"]

_IRREGULAR = {"process": "processes", "address": "addresses", "reply": "replies", "entry": "entries"}


def count(number: int, singular: str, plural: str | None = None, *, grouped: bool = False) -> str:
    """``number`` and the noun in the form it takes (``plural``, else the singular with an s, or the
    irregular form); ``grouped`` writes thousands separators (``12,000 flows``)."""
    word = singular if number == 1 else (plural or _IRREGULAR.get(singular, singular + "s"))
    return f"{number:,} {word}" if grouped else f"{number} {word}"

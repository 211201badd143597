"""A start-up-cheap stand-in for :class:`typing.NamedTuple`, used at run time by :mod:`portscope.records`.

Why: importing :mod:`typing` and letting its NamedTuple metaclass check every annotation costs about
4 ms, a tenth of ``portscope explain``'s whole run. Type checkers still see ``typing.NamedTuple``
(``records`` imports it under TYPE_CHECKING); at run time this builds the very same thing,
:func:`collections.namedtuple` plus the class body's methods, properties and docstring. Its test
checks that both give the same fields, defaults, methods and ``_asdict``.
"""

from __future__ import annotations

import collections

TYPE_CHECKING = False  # mypy treats this name as True; importing typing for it would defeat the purpose
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NamedTuple"]


class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if not bases:  # the NamedTuple base class itself
            return super().__new__(mcls, name, bases, namespace)
        annotations: dict[str, Any] = namespace.get("__annotations__", {})
        fields = list(annotations)
        defaults = [namespace[f] for f in fields if f in namespace]
        missing = [f for f in fields[len(fields) - len(defaults) :] if f not in namespace]
        if missing:
            raise TypeError(f"{name}: field {missing[0]!r} without a default follows fields with defaults")
        base = collections.namedtuple(name, fields, defaults=defaults or None, module=namespace.get("__module__"))  # type: ignore[misc]
        body = {k: v for k, v in namespace.items() if k not in annotations and k != "__annotations__"}
        body["__slots__"] = ()
        body["__annotations__"] = annotations
        return type(name, (base,), body)


class NamedTuple(metaclass=_RecordMeta):
    """Subclass with annotated fields, as with :class:`typing.NamedTuple`."""

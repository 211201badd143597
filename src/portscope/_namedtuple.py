"""A start-up-cheap stand-in for :class:`typing.NamedTuple`, used at run time by :mod:`portscope.records`.

Why: ``portscope explain`` must start in a few milliseconds, and it defines some twenty records.
Importing :mod:`typing` costs ~3 ms, and :func:`collections.namedtuple` compiles generated source for
every class (~0.15 ms each). This builds the same kind of class directly: a ``tuple`` subclass with
one C-level getter per field, a shared ``__new__`` that fills defaults and keywords, and ``_make``,
``_replace``, ``_asdict``, ``_fields`` and ``_field_defaults`` as NamedTuple has them. Type checkers
see ``typing.NamedTuple`` (``records`` imports it under TYPE_CHECKING); the test beside this module
checks that both behave alike.
"""

from __future__ import annotations

try:
    from _collections import _tuplegetter  # type: ignore[import-not-found]  # namedtuple's own descriptor
except ImportError:  # pragma: no cover - other Python implementations
    from operator import itemgetter

    def _tuplegetter(index: int, doc: str) -> property:
        return property(itemgetter(index), doc=doc)


TYPE_CHECKING = False  # mypy treats this name as True; importing typing for it would defeat the purpose
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["NamedTuple"]


def _record_methods(name: str, fields: tuple[str, ...], defaults: dict[str, Any]) -> dict[str, Any]:
    """The methods every record class shares, closed over its field names and defaults."""
    size = len(fields)
    required = [f for f in fields if f not in defaults]

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        if len(args) == size and not kwargs:
            return tuple.__new__(cls, args)
        if len(args) > size:
            raise TypeError(f"{name}() takes {size} arguments but {len(args)} were given")
        values = list(args)
        for field in fields[len(args) :]:
            if field in kwargs:
                values.append(kwargs.pop(field))
            elif field in defaults:
                values.append(defaults[field])
            else:
                missing = [f for f in required if f in fields[len(args) :] and f not in kwargs]
                raise TypeError(f"{name}() missing required argument(s): {', '.join(map(repr, missing))}")
        if kwargs:
            raise TypeError(f"{name}() got an unexpected keyword argument {next(iter(kwargs))!r}")
        return tuple.__new__(cls, values)

    def _make(cls: type, iterable: Iterable[Any]) -> Any:
        result: tuple[Any, ...] = tuple.__new__(cls, iterable)
        if len(result) != size:
            raise TypeError(f"Expected {size} arguments, got {len(result)}")
        return result

    def _replace(self: tuple[Any, ...], **changes: Any) -> Any:
        result = type(self)._make([changes.pop(f, value) for f, value in zip(fields, self, strict=True)])  # type: ignore[attr-defined]
        if changes:
            raise ValueError(f"Got unexpected field names: {list(changes)!r}")
        return result

    def _asdict(self: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(fields, self, strict=True))

    def __repr__(self: tuple[Any, ...]) -> str:
        inner = ", ".join(f"{f}={v!r}" for f, v in zip(fields, self, strict=True))
        return f"{type(self).__name__}({inner})"

    def __getnewargs__(self: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(self)

    return {
        "__new__": __new__,
        "_make": classmethod(_make),
        "_replace": _replace,
        "_asdict": _asdict,
        "__repr__": __repr__,
        "__getnewargs__": __getnewargs__,
    }


class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if not bases:  # the NamedTuple base class itself
            return super().__new__(mcls, name, bases, namespace)
        annotations: dict[str, Any] = namespace.get("__annotations__", {})
        fields = tuple(annotations)
        defaults = {f: namespace[f] for f in fields if f in namespace}
        seen_default = False
        for field in fields:
            if field in defaults:
                seen_default = True
            elif seen_default:
                raise TypeError(f"{name}: field {field!r} without a default follows fields with defaults")
        body = {k: v for k, v in namespace.items() if k not in annotations and k != "__annotations__"}
        body.update(_record_methods(name, fields, defaults))
        body.update(
            __slots__=(),
            __annotations__=annotations,
            __match_args__=fields,
            _fields=fields,
            _field_defaults=defaults,
        )
        for index, field in enumerate(fields):
            body[field] = _tuplegetter(index, f"Alias for field number {index}")
        return type(name, (tuple,), body)


class NamedTuple(metaclass=_RecordMeta):
    """Subclass with annotated fields, as with :class:`typing.NamedTuple`."""

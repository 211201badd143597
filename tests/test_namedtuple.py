"""portscope._namedtuple builds what typing.NamedTuple builds (it stands in for it at run time)."""

from __future__ import annotations

import copy
import pickle
import typing

import pytest

from portscope._namedtuple import NamedTuple as FastNamedTuple


def _define(base: type) -> type:
    class Point(base):  # type: ignore[valid-type,misc]
        """A point."""

        x: int
        y: int = 0
        tags: tuple[str, ...] = ()

        @property
        def norm1(self) -> int:
            return abs(self.x) + abs(self.y)

        def moved(self, dx: int) -> Point:
            return self._replace(x=self.x + dx)

    return Point


def test_same_behaviour_as_typing_namedtuple() -> None:
    fast, slow = _define(FastNamedTuple), _define(typing.NamedTuple)
    for cls in (fast, slow):
        p = cls(3, -4)
        assert p == (3, -4, ())
        assert p.norm1 == 7
        assert p.moved(1).x == 4
        assert p._asdict() == {"x": 3, "y": -4, "tags": ()}
        assert cls._fields == ("x", "y", "tags")
        assert cls._field_defaults == {"y": 0, "tags": ()}
        assert cls.__doc__ == "A point."
        assert isinstance(p, tuple)
        assert cls(1, tags=("a",)) == (1, 0, ("a",))
        assert cls(x=2) == (2, 0, ())
        assert cls._make([1, 2, ()]) == (1, 2, ())
        assert p._replace(y=5) == (3, 5, ())
        assert repr(p) == "Point(x=3, y=-4, tags=())"
        assert copy.deepcopy(p) == p
        assert hash(p) == hash((3, -4, ()))
        with pytest.raises(TypeError):
            cls()
        with pytest.raises(TypeError):
            cls(1, 2, (), 4)
        with pytest.raises(TypeError):
            cls(1, z=3)
        with pytest.raises(TypeError):
            cls._make([1])
        with pytest.raises(ValueError):
            p._replace(z=1)
        with pytest.raises(AttributeError):
            p.x = 5  # type: ignore[misc]
        with pytest.raises(AttributeError):
            p.z = 1  # type: ignore[attr-defined]
    assert fast.__annotations__.keys() == slow.__annotations__.keys()


def test_default_before_required_field_is_rejected() -> None:
    with pytest.raises(TypeError, match="without a default follows"):

        class Bad(FastNamedTuple):  # type: ignore[misc]
            a: int = 1
            b: int


def test_records_copy_and_pickle() -> None:
    """Real records (module-level classes) survive copy and pickle, as NamedTuples do."""
    from portscope.records import IanaEntry

    entry = IanaEntry(22, 22, "tcp", "ssh", "SSH", None, None, None)
    assert copy.copy(entry) == entry
    assert pickle.loads(pickle.dumps(entry)) == entry  # noqa: S301 - our own bytes
    assert type(pickle.loads(pickle.dumps(entry))) is IanaEntry  # noqa: S301
    assert entry.assigned

"""Keep pyarrow from importing pandas in commands that never give it a pandas object.

The first time pyarrow builds any array (``pa.array([1])``), it imports pandas, if installed, only
to ask whether the input is a pandas object. That import costs 0.3-0.4 s here: a quarter of
converting a 766 MB capture. A command that hands pyarrow nothing but numpy arrays, lists and
Arrow data calls :func:`pyarrow_without_pandas` first: pandas is hidden from that one check, so
pyarrow records "no pandas" and never asks again, and pandas stays importable for anyone else.

Library users are untouched: only the command line calls this, before its first array. A command
that may never need pyarrow (``explain`` of a pasted line, whose reader may give a plain row) calls
it with ``when_imported``: the check then runs right after pyarrow's own import, if that ever comes.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, cast

__all__ = ["pyarrow_without_pandas"]


class _HidePandas:  # a meta path finder (importlib.abc would import importlib.resources: 10 ms)
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden from pyarrow's check)", name=fullname)
        return None


class _AfterPyarrow:  # a meta path finder
    """Finds pyarrow as the other finders do, and settles the pandas check once its import has run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "pyarrow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = cast(Any, _SettlingLoader(spec.loader))
        return spec


class _SettlingLoader:  # a loader
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        pyarrow_without_pandas()


def pyarrow_without_pandas(*, when_imported: bool = False) -> None:
    """Let pyarrow settle, once, that pandas is absent; a no-op when pandas is already loaded.

    With ``when_imported`` and pyarrow not imported yet, nothing is imported now: the check runs
    when something first imports pyarrow.
    """
    if "pandas" in sys.modules:
        return
    if when_imported and "pyarrow" not in sys.modules:
        if not any(isinstance(finder, _AfterPyarrow) for finder in sys.meta_path):
            sys.meta_path.insert(0, _AfterPyarrow())
        return
    import pyarrow as pa

    hide = _HidePandas()
    sys.meta_path.insert(0, hide)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(hide)

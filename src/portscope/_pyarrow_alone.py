"""Keep pyarrow from importing pandas in commands that never give it a pandas object.

The first time pyarrow builds any array (``pa.array([1])``), it imports pandas, if installed, only
to ask whether the input is a pandas object. That import costs 0.3-0.4 s here: a quarter of
converting a 766 MB capture. A command that hands pyarrow nothing but numpy arrays, lists and
Arrow data calls :func:`pyarrow_without_pandas` first: pandas is hidden from that one check, so
pyarrow records "no pandas" and never asks again, and pandas stays importable for anyone else.

Library users are untouched: only the command line calls this, before its first array.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["pyarrow_without_pandas"]


class _HidePandas(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden from pyarrow's check)", name=fullname)
        return None


def pyarrow_without_pandas() -> None:
    """Let pyarrow settle, once, that pandas is absent; a no-op when pandas is already loaded."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    hide = _HidePandas()
    sys.meta_path.insert(0, hide)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(hide)

"""Generated blocks (scripts/generate.py) are what their data gives: the socket record, the socket table,
docs/live.md's socket fields and docs/ports.md's curated ports."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import REPO


def test_generated_blocks_are_current() -> None:
    """Run python scripts/generate.py after changing SOCKET_COLUMNS or CURATED_SERVICES."""
    spec = importlib.util.spec_from_file_location("generate", REPO / "scripts" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate", module)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0

#!/usr/bin/env python3
"""Write the blocks generated from data into their files: the socket column list (portscope.host.columns)
into records.py, host/table.py, host/roles.py and docs/live.md, the curated service ports (portscope.ports.curated) into
docs/ports.md.

    python scripts/generate.py           rewrite every generated block
    python scripts/generate.py --check   exit 1, naming the files, if any block is not current

tests/test_generated.py runs the check.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from portscope.host.columns import (
    generated_block,
    record_fields_source,
    role_fields_source,
    socket_table_markdown,
    table_fields_source,
)
from portscope.ports.curated import curated_markdown

REPO = Path(__file__).resolve().parent.parent
TARGETS: tuple[tuple[Path, Callable[[], str], str, str], ...] = (
    (REPO / "src/portscope/records.py", record_fields_source, "# BEGIN generated", "# END generated"),
    (REPO / "src/portscope/host/table.py", table_fields_source, "# BEGIN generated", "# END generated"),
    (REPO / "src/portscope/host/roles.py", role_fields_source, "# BEGIN generated", "# END generated"),
    (REPO / "docs/live.md", socket_table_markdown, "<!-- BEGIN generated", "<!-- END generated -->"),
    (REPO / "docs/ports.md", curated_markdown, "<!-- BEGIN generated", "<!-- END generated -->"),
)


def current(path: Path, make: Callable[[], str], begin: str, end: str) -> tuple[str, str]:
    """(the file's text, the text it should have)."""
    text = path.read_text(encoding="utf-8")
    start, stop = generated_block(text, begin, end)
    return text, text[:start] + make() + text[stop:]


def main(argv: list[str]) -> int:
    stale = []
    for path, make, begin, end in TARGETS:
        text, wanted = current(path, make, begin, end)
        if text != wanted:
            stale.append(path)
            if "--check" not in argv:
                path.write_text(wanted, encoding="utf-8")
    if stale and "--check" in argv:
        print("not current: " + ", ".join(str(p.relative_to(REPO)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Refresh portscope's copy of the IANA port registry from a newer CSV export, and rebuild the index.

Usage: python scripts/refresh_iana.py [NEW.csv]
Without an argument, only rebuilds the index from the CSV already in the package.
Download the CSV from IANA's site (service-names-port-numbers.csv) by hand; this script never fetches.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "portscope" / "ports" / "data"
sys.path.insert(0, str(DATA.parents[2]))

from portscope.ports.iana import INDEX_NAME, IanaRegistry  # noqa: E402
from portscope.ports.iana_build import CSV_NAME, build_index  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    if argv:
        shutil.copyfile(argv[0], DATA / CSV_NAME)
    csv_bytes = (DATA / CSV_NAME).read_bytes()
    index = build_index(csv_bytes)
    (DATA / INDEX_NAME).write_text(index, encoding="utf-8")
    reg = IanaRegistry(index.encode())
    print(f"{DATA / INDEX_NAME}: {reg.rows} registry rows, newest {reg.as_of}, {len(index)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

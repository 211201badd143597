"""Build the IANA registry index (see :mod:`portscope.ports.iana`) from the registry's CSV export.

Kept apart from the look-up module so that ``portscope explain`` never imports csv or hashlib.
Used by ``scripts/refresh_iana.py`` and by the test that checks the shipped index is current.
"""

from __future__ import annotations

import csv
import hashlib
import io

from portscope.errors import DataError
from portscope.ports.iana import MAGIC

__all__ = ["CSV_NAME", "build_index"]

CSV_NAME = "service-names-port-numbers.csv"
_COLUMNS = (
    "Service Name",
    "Port Number",
    "Transport Protocol",
    "Description",
    "Reference",
    "Unauthorized Use Reported",
    "Assignment Notes",
)


def _clean(text: str) -> str:
    """Fold the CSV's embedded newlines and tabs into single spaces so a row stays one line."""
    return " ".join(text.split())


def build_index(csv_bytes: bytes, *, source_name: str = CSV_NAME) -> str:
    """Turn the registry's CSV export into the index text described in the module docstring.

    Raises DataError naming the CSV line when a row's port field is not a port or a range.
    """
    text = csv_bytes.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise DataError(f"{source_name}: not an IANA port registry CSV: missing columns {missing}")
    ranges: list[tuple[int, int, str, list[str]]] = []
    singles: list[tuple[int, int, str, list[str]]] = []
    names: list[tuple[str, int, int, str]] = []
    rows = 0
    newest = ""
    for row in reader:
        rows += 1
        for column in ("Registration Date", "Modification Date"):
            newest = max(newest, (row.get(column) or "").strip())
        port_field = (row["Port Number"] or "").strip()
        if not port_field:
            continue
        try:
            low_text, _, high_text = port_field.partition("-")
            low = int(low_text)
            high = int(high_text) if high_text else low
        except ValueError as exc:
            raise DataError(
                f"{source_name}:{reader.line_num}: Port Number {port_field!r} is not a port or LOW-HIGH range"
            ) from exc
        if not (0 <= low <= high <= 65535):
            raise DataError(f"{source_name}:{reader.line_num}: Port Number {port_field!r} is out of 0-65535")
        proto = _clean(row["Transport Protocol"] or "").lower()
        name = _clean(row["Service Name"] or "")
        fields = [
            proto,
            name,
            _clean(row["Description"] or ""),
            _clean(row["Reference"] or ""),
            _clean(row["Unauthorized Use Reported"] or ""),
            _clean(row["Assignment Notes"] or ""),
        ]
        (ranges if high > low else singles).append((low, high, proto, fields))
        if name:
            names.append((name.lower(), low, high, proto))
    digest = hashlib.sha256(csv_bytes).hexdigest()
    sections = [
        "[ranges]\n"
        + "".join(f"{lo}\t{hi}\t" + "\t".join(f) + "\n" for lo, hi, _, f in sorted(ranges, key=lambda r: r[:3])),
        "[ports]\n"
        + "".join(f"{lo}\t{hi}\t" + "\t".join(f) + "\n" for lo, hi, _, f in sorted(singles, key=lambda r: r[:3])),
        "[names]\n" + "".join(f"{n}\t{lo}\t{hi}\t{p}\n" for n, lo, hi, p in sorted(set(names))),
    ]
    # The header names each section's byte offset (fixed width, so its own length is known up front):
    # a reader maps the file and touches only the pages a look-up needs.
    head = f"{MAGIC} {digest} {rows} {newest or '-'}"
    offsets, at = [], len(head) + len(" 00000000" * 3) + 1
    for section in sections:
        offsets.append(at)
        at += len(section.encode())
    return head + "".join(f" {o:08d}" for o in offsets) + "\n" + "".join(sections)

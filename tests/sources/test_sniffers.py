"""Format detection across every source: each sniffer claims its own fixtures and none of the others'.

Fixtures are the input files under tests/data/<source>/ (``windows-firewall`` names windows_firewall);
SOURCE notes, READMEs and expected outputs (``*.expected.*``, ``*.test.yaml``) are not inputs.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from portscope.sources import SOURCE_NAMES, source
from portscope.sources._inputs import HEAD_SIZE
from tests.sources._flowtest import DATA

_NOT_INPUTS = ("SOURCE", "README")


def _sources() -> dict[str, ModuleType]:
    return {name: source(name) for name in SOURCE_NAMES}


def _owner(folder: str, path: Path) -> str | None:
    """The source a fixture belongs to: its folder's, or in zeek/ (Zeek's test pcaps) by what the file is."""
    if folder == "zeek":
        if path.suffix in (".pcap", ".pcapng"):
            return "pcap"
        return "zeek_conn" if path.name.endswith(".conn.log") else None
    name = folder.replace("-", "_")
    return name if name in SOURCE_NAMES else None


def fixtures() -> list[tuple[str, Path]]:
    """Every (source, input file) pair under tests/data."""
    found = []
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        for path in sorted(folder.rglob("*")):
            name = _owner(folder.name, path)
            if name is None:
                continue
            if (
                path.is_file()
                and not path.name.startswith(_NOT_INPUTS)
                and ".expected" not in path.name
                and not path.name.endswith((".yaml", ".md"))
            ):
                found.append((name, path))
    return found


SOURCES = _sources()
FIXTURES = fixtures()


@pytest.mark.parametrize(("owner", "path"), FIXTURES, ids=[f"{n}:{p.name}" for n, p in FIXTURES])
def test_fixture_detected_by_its_own_source_only(owner: str, path: Path) -> None:
    """The fixture's own sniffer scores it above 0 (unless it is csv_mapped, chosen by name only); all others 0."""
    head = path.read_bytes()[:HEAD_SIZE]
    scores = {name: int(module.sniff(head, str(path))) for name, module in SOURCES.items()}
    others = {name: score for name, score in scores.items() if name != owner and score}
    assert not others, f"{path.name} ({owner}) is also claimed by {others}"
    if owner != "csv_mapped":
        assert scores[owner] > 0, f"{owner} does not recognise its own {path.name}"

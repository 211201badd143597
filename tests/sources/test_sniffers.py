"""Format detection across every source: each sniffer claims its own fixtures and none of the others'.

Fixtures are the input files under tests/data/<source>/ (``windows-firewall`` names windows_firewall);
SOURCE notes, READMEs and expected outputs (``*.expected.*``, ``*.test.yaml``) are not inputs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from portscope.sources import SOURCE_NAMES, source
from portscope.sources._inputs import HEAD_SIZE
from tests.sources._flowtest import DATA

_NOT_INPUTS = ("SOURCE", "README")


def _sources() -> dict[str, ModuleType]:
    present = [n for n in SOURCE_NAMES if importlib.util.find_spec(f"portscope.sources.{n}") is not None]
    return {name: source(name) for name in present}


def _fixtures() -> list[tuple[str, Path]]:
    found = []
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        name = folder.name.replace("-", "_")
        if name not in SOURCE_NAMES:
            continue
        for path in sorted(folder.rglob("*")):
            if (
                path.is_file()
                and not path.name.startswith(_NOT_INPUTS)
                and ".expected" not in path.name
                and not path.name.endswith((".yaml", ".md"))
            ):
                found.append((name, path))
    return found


SOURCES = _sources()
FIXTURES = [(name, path) for name, path in _fixtures() if name in SOURCES]


@pytest.mark.parametrize(("owner", "path"), FIXTURES, ids=[f"{n}:{p.name}" for n, p in FIXTURES])
def test_fixture_detected_by_its_own_source_only(owner: str, path: Path) -> None:
    """The fixture's own sniffer scores it above 0 (unless it is csv_mapped, chosen by name only); all others 0."""
    head = path.read_bytes()[:HEAD_SIZE]
    scores = {name: int(module.sniff(head, str(path))) for name, module in SOURCES.items()}
    others = {name: score for name, score in scores.items() if name != owner and score}
    assert not others, f"{path.name} ({owner}) is also claimed by {others}"
    if owner != "csv_mapped":
        assert scores[owner] > 0, f"{owner} does not recognise its own {path.name}"

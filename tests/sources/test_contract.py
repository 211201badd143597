"""The contract every registered source keeps, checked over all of them and all their fixtures.

A source added to SOURCE_NAMES without a module, a fixture, a description or a schema-true reader fails
here, so no format can be half-registered.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from portscope.errors import DataError
from portscope.sources import SOURCE_NAMES, source
from tests.sources._flowtest import read, read_both_ways
from tests.sources.test_sniffers import FIXTURES

# csv_mapped reads nothing without a mapping: the one its generic tests use, and each fixture's own.
_OPTIONS: dict[str, dict[str, object]] = {"csv_mapped": {"map": {"dst_port": "dst_port"}}}
_MAPS = {
    "firewall-export.csv": {"src_addr": "SourceIP", "dst_addr": "DestinationIP", "dst_port": "DPort"},
    "semicolons.csv": {"src_addr": "src", "dst_addr": "dst", "dst_port": "dport"},
    "tabs.tsv": {"src_addr": "src", "dst_addr": "dst", "dst_port": "dport"},
}
# Formats whose empty file is no valid document (a capture has a file header, XML a root element).
_EMPTY_IS_BAD = {"pcap", "nmap_xml"}


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_module_declares_itself(name: str) -> None:
    module = source(name)
    assert name == module.NAME
    assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION.strip()
    for head in (b"", b"\x00" * 64, b"hello world\n", "caf\u00e9 \u2603\n".encode()):
        score = module.sniff(head, "input")
        assert isinstance(score, int) and 0 <= score <= 100


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_every_source_has_a_real_fixture(name: str) -> None:
    assert any(owner == name for owner, _ in FIXTURES), f"no fixture under tests/data for {name}"


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_empty_input_is_no_flows_and_no_error(name: str) -> None:
    """No rows; where an empty file is no valid document of the format, exactly one bad record says so."""
    table, stats = read(name, b"", options=_OPTIONS.get(name))
    assert table.num_rows == 0
    assert stats.bad == (1 if name in _EMPTY_IS_BAD else 0), stats.examples


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_binary_garbage_never_raises_but_dataerror(name: str) -> None:
    """Lenient reading keeps going (csv_mapped may refuse the whole file: it has no header to map);
    strict reading raises DataError, naming the input, or reads nothing bad."""
    garbage = bytes(range(256)) * 8 + b"\n" + b"\xff\xfe\x00garbage line\n" * 5
    if name == "csv_mapped":
        with pytest.raises(DataError, match=r"^t\.log: "):
            read(name, garbage, options=_OPTIONS.get(name))
        return
    table, stats = read(name, garbage)
    assert table.num_rows == stats.good
    assert stats.bad + stats.skipped >= 1
    try:
        read(name, garbage, strict=True)
    except DataError as error:
        assert str(error).startswith("t.log"), error


@pytest.mark.parametrize(("owner", "path"), FIXTURES, ids=[f"{n}:{p.name}" for n, p in FIXTURES])
def test_fixture_reads_into_the_flow_schema(owner: str, path: Path) -> None:
    """Each fixture yields schema-true batches, at least one flow, and every record is a flow or counted."""
    options = {"map": _MAPS[path.name]} if owner == "csv_mapped" else None
    table, stats = read(owner, path.read_bytes(), label=path.name, options=options)
    assert table.num_rows == stats.good
    if table.num_rows == 0:
        assert stats.bad or stats.skipped, f"{path.name}: nothing read and nothing reported"


_ROW_READERS = [(owner, path) for owner, path in FIXTURES if getattr(source(owner), "READS_ROWS", False)]


@pytest.mark.parametrize(("owner", "path"), _ROW_READERS, ids=[f"{n}:{p.name}" for n, p in _ROW_READERS])
def test_rows_without_pyarrow_are_the_batches_rows(owner: str, path: Path) -> None:
    """A source that reads one row at a time (``READS_ROWS``, explain's pasted line) gives, row for row,
    what its batches give, bad records and skipped lines included."""
    read_both_ways(owner, path.read_bytes(), label=path.name)


_ROW_SOURCES = sorted({owner for owner, _ in _ROW_READERS})


@pytest.mark.parametrize("name", _ROW_SOURCES)
def test_rows_import_neither_pyarrow_nor_numpy(name: str) -> None:
    """Reading as rows (explain's one pasted line) imports neither: their import is most of explain's time.
    Every fixture of the source is read, in a fresh interpreter."""
    paths = [str(path) for owner, path in _ROW_READERS if owner == name]
    script = (
        "import io, sys\n"
        "from portscope.sources import ParseStats, ReadContext, source\n"
        "rows = 0\n"
        "for path in sys.argv[2:]:\n"
        "    data = open(path, 'rb').read()\n"
        "    context = ReadContext(path, ParseStats(), as_rows=True)\n"
        "    rows += len(list(source(sys.argv[1]).read(io.BytesIO(data), context)))\n"
        "print(rows > 0, sorted({'pyarrow', 'numpy'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, name, *paths], capture_output=True, text=True, check=False)
    assert done.stdout == "True []\n", done.stdout + done.stderr

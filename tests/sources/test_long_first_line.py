"""A first line too long to judge by does not hide a file's format (issue 11).

Detection looked at the first 64 KiB: a first line longer than that (an eve.json alert carrying a
big payload, a syslog line of another program dumping a blob) left no source anything to recognise,
and the 100 valid lines after it were lost. Now, where nothing recognises the head and a line of it
is too long to judge by, the first lines short enough are judged instead. Captures, XML and JSON
documents are still judged on their head, and normal files never look further.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import portscope.sources
from tests.sources._damage import how_to_read, read_file
from tests.sources._flowtest import DATA
from tests.sources.test_sniffers import FIXTURES

BLOB = "A" * 100_000  # longer than the 64 KiB head


def _eve_alert() -> bytes:
    event = orjson.loads((DATA / "suricata_eve" / "netflow.eve.json").read_bytes().split(b"\n")[0])
    event.update(event_type="alert", payload_printable=BLOB)
    return orjson.dumps(event) + b"\n"


def _zeek_json_record() -> bytes:
    record = orjson.loads((DATA / "zeek_conn" / "zat-json-conn.log").read_bytes().split(b"\n")[0])
    record["note"] = BLOB
    return orjson.dumps(record) + b"\n"


def _other_program() -> bytes:
    return f"Nov 23 19:18:20 vm backup[812]: manifest {BLOB}\n".encode()


# (fixture, its format, a long first line of the kind real files of that format begin with)
CASES = [
    ("suricata_eve/netflow.eve.json", "suricata_eve", _eve_alert),
    ("zeek_conn/zat-json-conn.log", "zeek_conn", _zeek_json_record),
    ("iptables/ufw_syslog.log", "iptables", _other_program),
    ("ssh_auth/auth.log", "ssh_auth", _other_program),
]


@pytest.mark.parametrize(("fixture", "fmt", "first"), CASES, ids=[c[0] for c in CASES])
def test_long_first_line_hides_nothing(tmp_path: Path, fixture: str, fmt: str, first: object) -> None:
    """Every record of the file is read after a first line longer than the head."""
    alone, _ = read_file(DATA / fixture)
    path = tmp_path / Path(fixture).name
    path.write_bytes(first() + (DATA / fixture).read_bytes())  # type: ignore[operator]
    table, stats = read_file(path)
    assert not stats.skipped_inputs
    assert set(table.column("source_format").to_pylist()) == {fmt}
    assert table.num_rows >= alone.num_rows > 0


def test_nmap_xml_with_a_long_comment_before_its_root(tmp_path: Path) -> None:
    """An XML document with a long comment line between prolog and root: judged on its short lines."""
    source = DATA / "nmap_xml" / "nmap-two-hosts.xml"
    prolog, rest = source.read_bytes().split(b"\n", 1)
    path = tmp_path / "scan.xml"
    path.write_bytes(prolog + f"\n<!-- {BLOB} -->\n".encode() + rest)
    alone, _ = read_file(source)
    table, stats = read_file(path)
    assert not stats.skipped_inputs and not stats.bad
    assert table.num_rows == alone.num_rows > 0


def test_one_line_documents_are_judged_on_their_head(tmp_path: Path) -> None:
    """wevtutil writes its XML without a newline: a 200 KB one-line export is still Windows events."""
    events = (DATA / "windows_events" / "security-wevtutil.xml").read_bytes().replace(b"\n", b"")
    path = tmp_path / "events.xml"
    path.write_bytes(events * (200_000 // len(events) + 1))
    table, stats = read_file(path)
    assert not stats.skipped_inputs
    assert set(table.column("source_format").to_pylist()) == {"windows_events"}


def test_lines_all_too_long_are_still_unknown(tmp_path: Path) -> None:
    path = tmp_path / "blobs.txt"
    path.write_bytes(f"{BLOB}\n".encode() * 3)
    table, stats = read_file(path)
    assert table.num_rows == 0
    [skipped] = stats.skipped_inputs
    assert skipped.reason.startswith("not a format portscope knows")


def test_normal_files_are_judged_on_their_head_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Looking further costs a read ahead: no fixture of any source needs it."""

    def refuse(stream: object) -> object:
        raise AssertionError("judged_lines was called")

    monkeypatch.setattr(portscope.sources, "judged_lines", refuse)
    for owner, path in FIXTURES:
        fmt, options = how_to_read(owner, path)
        _, stats = read_file(path, format=fmt, options=options)
        assert not stats.skipped_inputs, (path, stats.skipped_inputs)

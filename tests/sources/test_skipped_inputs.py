"""One bad input does not stop the others: read_flows passes over it and says why (issue 11).

Before, the first empty, missing, unreadable or unrecognised input raised DataError and the inputs
after it were never read, and a directory walk stopped at its README.md. Now each such input is a
``SkippedInput`` in ``ParseStats.skipped_inputs``; ``strict`` keeps the error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portscope.errors import DataError
from portscope.sources import SOURCE_NAMES, ParseStats, SkippedInput, read_flows
from portscope.sources._inputs import InputFile, expand_inputs
from tests.sources._flowtest import DATA

GOOD = DATA / "ssh_auth" / "auth.log"
UNKNOWN = f"not a format portscope knows; give --format (one of: {', '.join(SOURCE_NAMES)})"


def _read(inputs: list[str], strict: bool = False) -> tuple[int, ParseStats]:
    stats = ParseStats(strict=strict)
    rows = sum(batch.num_rows for batch in read_flows(inputs, stats=stats))
    return rows, stats


def test_bad_inputs_are_passed_over_and_the_good_ones_read(tmp_path: Path) -> None:
    """Missing, matching nothing, empty, unrecognised, unreadable: each skipped with its reason, in order."""
    alone, _ = _read([str(GOOD)])
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    readme = tmp_path / "README.md"
    readme.write_text("# Logs\n\nThese are the firewall logs of March.\n")
    missing, pattern = str(tmp_path / "missing.log"), str(tmp_path / "*.nothing")
    unreadable = _unreadable(tmp_path)
    inputs = [missing, pattern, str(empty), str(readme), *[u.label for u in unreadable], str(GOOD)]
    rows, stats = _read(inputs)
    assert rows == stats.good == alone > 0
    assert stats.skipped_inputs == [
        SkippedInput(missing, "no such file (and no file matches it as a pattern)"),
        SkippedInput(pattern, "no such file (and no file matches it as a pattern)"),
        SkippedInput(str(empty), "the input is empty"),
        SkippedInput(str(readme), UNKNOWN),
        *unreadable,
    ]


def _unreadable(tmp_path: Path) -> list[SkippedInput]:
    """Files this process cannot read, with the reason to expect: one it may not open (not as root),
    and /proc/self/mem, whose offset 0 is no mapped memory (EIO where the kernel says so)."""
    found = []
    if os.geteuid() != 0:
        locked = tmp_path / "locked.log"
        locked.write_bytes(GOOD.read_bytes())
        locked.chmod(0)
        found.append(SkippedInput(str(locked), "cannot open: Permission denied"))
    try:
        with open("/proc/self/mem", "rb") as memory:
            memory.read(8)
    except OSError as error:
        found.append(SkippedInput("/proc/self/mem", f"cannot read: {error.strerror}"))
    return found


def test_strict_keeps_the_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.log: no such file"):
        _read([str(tmp_path / "missing.log"), str(GOOD)], strict=True)
    readme = tmp_path / "README.md"
    readme.write_text("notes\n")
    with pytest.raises(DataError, match=r"README\.md: not a format portscope knows"):
        _read([str(readme), str(GOOD)], strict=True)


def test_directory_walk_goes_past_notes_and_pipes(tmp_path: Path) -> None:
    """A folder of logs with its README.md, SOURCE.txt and a named pipe: the logs are read, the rest
    passed over (a pipe would wait for a writer for ever), an empty folder said so."""
    folder = tmp_path / "logs"
    (folder / "sub").mkdir(parents=True)
    (folder / "README.md").write_text("# What these are\n")
    (folder / "SOURCE.txt").write_text("copied from the firewall on 2021-06-22\n")
    (folder / "sub" / "auth.log").write_bytes(GOOD.read_bytes())
    (folder / "z-auth.log").write_bytes(GOOD.read_bytes())
    os.mkfifo(folder / "pipe")
    (tmp_path / "empty").mkdir()
    alone, _ = _read([str(GOOD)])
    rows, stats = _read([str(folder), str(tmp_path / "empty")])
    assert rows == 2 * alone
    assert stats.skipped_inputs == [
        SkippedInput(str(folder / "README.md"), UNKNOWN),
        SkippedInput(str(folder / "SOURCE.txt"), UNKNOWN),
        SkippedInput(str(folder / "pipe"), "not a regular file (a pipe, a device or a link to nothing)"),
        SkippedInput(str(tmp_path / "empty"), "the directory holds no files"),
    ]


def test_expand_inputs_skips_through_its_callback_or_raises(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("a")
    skipped: list[tuple[str, str]] = []
    found = list(expand_inputs([str(tmp_path / "nope"), str(tmp_path / "a.log")], lambda *s: skipped.append(s)))
    assert found == [InputFile(str(tmp_path / "a.log"), str(tmp_path / "a.log"))]
    assert skipped == [(str(tmp_path / "nope"), "no such file (and no file matches it as a pattern)")]
    with pytest.raises(DataError, match="no such file"):
        list(expand_inputs([str(tmp_path / "nope")]))


def test_a_reader_refusing_a_file_is_a_skipped_input(tmp_path: Path) -> None:
    """csv_mapped refuses a file whose header lacks a mapped column: that file only."""
    bad = tmp_path / "bad.csv"
    bad.write_text("when,who\n1,2\n")
    good = DATA / "csv_mapped" / "semicolons.csv"
    stats = ParseStats()
    mapping = {"map": {"src_addr": "src", "dst_addr": "dst", "dst_port": "dport"}}
    rows = sum(b.num_rows for b in read_flows([str(bad), str(good)], format="csv_mapped", stats=stats, options=mapping))
    assert rows > 0
    [skipped] = stats.skipped_inputs
    assert skipped.label == str(bad) and skipped.reason.startswith("the header has no column")


def test_folders_that_cannot_be_listed_are_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sub-folder the walk may not list is a skipped input, and the walk goes on; a top folder that
    cannot be listed says so, not that it holds no files. (As root nothing is refused: os.scandir
    refuses for the test.)"""
    (tmp_path / "logs" / "locked").mkdir(parents=True)
    (tmp_path / "logs" / "auth.log").write_bytes(GOOD.read_bytes())
    listing = os.scandir

    def refusing(path: str) -> object:
        if os.path.basename(path) == "locked":
            raise PermissionError(13, "Permission denied", path)
        return listing(path)

    monkeypatch.setattr(os, "scandir", refusing)
    rows, stats = _read([str(tmp_path / "logs"), str(tmp_path / "logs" / "locked")])
    assert rows > 0
    locked = str(tmp_path / "logs" / "locked")
    assert stats.skipped_inputs == [
        SkippedInput(locked, "cannot open: Permission denied"),
        SkippedInput(locked, "cannot open: Permission denied"),
    ]

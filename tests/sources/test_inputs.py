"""Opening inputs: compression detected from content, globs, directories, stdin, and clear errors."""

from __future__ import annotations

import bz2
import gzip
import lzma
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from portscope.errors import DataError
from portscope.sources._inputs import InputFile, expand_inputs, open_input

TEXT = b"".join(b"line %d with some text\n" % i for i in range(20000))


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("plain.log", lambda b: b),
        ("packed.bin", gzip.compress),  # the name says nothing: content decides
        ("x.log", bz2.compress),
        ("y.log", lzma.compress),
        ("z.log", lambda b: zstandard.ZstdCompressor().compress(b)),
    ],
)
def test_compression_is_undone_transparently(tmp_path: Path, name: str, compress: object) -> None:
    path = tmp_path / name
    path.write_bytes(compress(TEXT))  # type: ignore[operator]
    stream, head = open_input(InputFile(str(path), str(path)))
    with stream:
        assert head.startswith(b"line 0 with")
        assert stream.read() == TEXT


def test_truncated_gzip_is_a_data_error_or_keeps_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(TEXT)[:5000])
    with pytest.raises((DataError, EOFError)):
        stream, _ = open_input(InputFile(str(path), str(path)))
        with stream:
            stream.read()


def test_globs_directories_and_missing(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("a")
    (tmp_path / "b.log").write_text("b")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.log").write_text("c")
    (tmp_path / ".hidden").write_text("h")
    found = [i.label for i in expand_inputs([str(tmp_path / "*.log")])]
    assert found == [str(tmp_path / "a.log"), str(tmp_path / "b.log")]
    walked = [Path(i.label).name for i in expand_inputs([str(tmp_path)])]
    assert walked == ["a.log", "b.log", "c.log"]
    assert list(expand_inputs(["-"])) == [InputFile("-", None)]
    with pytest.raises(DataError, match=r"nope\.log: no such file"):
        list(expand_inputs([str(tmp_path / "nope.log")]))


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot open"):
        open_input(InputFile(str(tmp_path), str(tmp_path)))  # a directory cannot be opened as a file


def test_stdin_is_sniffed_and_read_whole() -> None:
    code = (
        "from portscope.sources._inputs import InputFile, open_input\n"
        "s, head = open_input(InputFile('-', None))\n"
        "import sys; sys.stdout.write(str(len(head)) + ' ' + str(len(s.read())))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=gzip.compress(TEXT), capture_output=True, check=True, timeout=60
    )
    head, total = (int(v) for v in done.stdout.split())
    assert total == len(TEXT) and 0 < head <= 65536

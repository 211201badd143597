"""The command line keeps pyarrow from importing pandas; pandas stays importable for everyone else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"

_CONVERT = """
import runpy, sys
sys.argv = ["portscope", "convert", sys.argv[1], "-o", sys.argv[2]]
try:
    runpy.run_module("portscope", run_name="__main__")
except SystemExit as done:
    assert not done.code, done.code
print("pandas loaded" if "pandas" in sys.modules else "pandas not loaded")
"""


@pytest.mark.parametrize("fixture", ["zeek/dhcp.pcap", "zeek_conn/wikipedia-conn.log", "iptables/dmesg.txt"])
def test_convert_does_not_import_pandas(fixture: str, tmp_path: Path) -> None:
    pytest.importorskip("pandas", reason="pandas is not installed: nothing to keep out")
    done = subprocess.run(
        [sys.executable, "-c", _CONVERT, str(DATA / fixture), str(tmp_path / "out.parquet")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().endswith("pandas not loaded"), done.stdout + done.stderr


def test_pandas_still_imports_after() -> None:
    pytest.importorskip("pandas", reason="pandas is not installed")
    code = (
        "from portscope._pyarrow_alone import pyarrow_without_pandas as hide; hide(); "
        "import pandas, pyarrow; print(len(pandas.DataFrame({'a': [1, 2]})), pyarrow.array([1]).to_pylist())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["2", "[1]"]

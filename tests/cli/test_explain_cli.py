"""``portscope explain`` as a user runs it: text, JSON, exit codes, bad input, start-up imports."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import REPO, run_portscope

TOP_KEYS = {"schema", "registry_as_of", "os", "results", "errors"}
PORT_KEYS = {
    "kind", "query", "port", "protocols", "iana_range", "iana_range_text", "iana", "system_services",
    "os_ranges", "host_ranges", "role", "role_text", "reasons", "in_logs", "notes", "who_uses_it", "host_notes",
    "in_use",
}  # fmt: skip
RANGE_KEYS = {
    "kind", "query", "low", "high", "protocols", "iana_ranges", "assigned", "unassigned_count",
    "os_overlaps", "host_overlaps",
}  # fmt: skip


def test_explain_56744_answers_the_seed_question() -> None:
    done = run_portscope("explain", "56744/tcp")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("56744/tcp - ")
    assert "client side of an outgoing connection" in out
    assert "dynamic" in out and "unassigned" in out
    assert "\x1b" not in out  # piped: plain text


def test_bad_arguments_fail_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each bad argument gets one stderr line and exit 2; the good ones in the same call are answered."""
    done = run_portscope("explain", "70000", "-1", "abc/xyz", "22/sctpx", "443", "nosuchservice")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 5, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0] == "portscope explain: '70000': port 70000 is out of range; ports are 0-65535"
    assert "unknown protocol 'xyz'; valid ones are: tcp, udp, sctp, dccp" in lines[2]
    assert "443/tcp+udp - a service port" in done.stdout


def test_unknown_os_and_usage_errors_exit_2() -> None:
    done = run_portscope("explain", "22", "--os", "beos")
    assert done.returncode == 2 and "unknown OS 'beos'" in done.stderr and "Traceback" not in done.stderr
    assert run_portscope("explain").returncode == 2
    assert run_portscope("frobnicate").returncode == 2


def test_json_shape_is_stable() -> None:
    done = run_portscope("explain", "--json", "0", "65535", "56744", "443/udp", "5353/udp", "49152-49160", "zzz")
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert set(doc) == TOP_KEYS
    assert doc["schema"] == "portscope.explain/1"
    kinds = [r["kind"] for r in doc["results"]]
    assert kinds == ["port"] * 5 + ["range"]
    for result in doc["results"]:
        assert set(result) == (PORT_KEYS if result["kind"] == "port" else RANGE_KEYS)
    assert [r["port"] for r in doc["results"][:5]] == [0, 65535, 56744, 443, 5353]
    assert doc["results"][3]["protocols"] == ["udp"]
    assert doc["results"][4]["iana"][0]["name"] == "mdns" and doc["results"][4]["iana"][0]["assigned"] is True
    assert doc["errors"] == [{"argument": "zzz", "error": doc["errors"][0]["error"]}]
    assert "unknown service name 'zzz'" in doc["errors"][0]["error"]


def test_help_teaches() -> None:
    done = run_portscope("--help")
    assert done.returncode == 0
    assert "portscope explain 56744" in done.stdout and "exit codes" in done.stdout
    assert run_portscope("explain", "--help").returncode == 0


def test_startup_imports_nothing_heavy() -> None:
    """``portscope explain`` must stay fast: no dataframe, Arrow or rich-text library at start-up."""
    code = (
        "import sys, io, contextlib\n"
        "from portscope.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['explain', '56744'])\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(done.stdout.split())
    heavy = {"duckdb", "pyarrow", "pandas", "polars", "numpy", "rich", "ibis", "pyspark", "psutil", "click"}
    assert not loaded & heavy, loaded & heavy
    assert not {m for m in loaded if m in ("csv", "hashlib", "difflib", "importlib.metadata")}, "slow stdlib imports"
    assert "portscope.explain" in loaded


_LINES_READ_AS_ROWS = {
    "ufw": "Nov 13 04:37:01 gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC= SRC=203.0.113.7 DST=192.0.2.5 LEN=60 "
    "TOS=0x00 PREC=0x00 TTL=52 ID=1 PROTO=TCP SPT=56744 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0",
    "pfsense": "Sep 28 10:38:09 pfSense filterlog[123]: 53,,,1000000301,em0,match,block,in,4,0x0,,64,420,0,none,6,"
    "tcp,460,198.51.100.2,192.0.2.15,53742,22,40,S,1234,,64240,,mss",
    "sshd": "Mar 11 20:35:11 bastion sshd[4242]: Failed password for root from 203.0.113.9 port 56744 ssh2",
    "suricata": '{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"flow","src_ip":"192.0.2.1",'
    '"src_port":56744,"dest_ip":"198.51.100.7","dest_port":443,"proto":"TCP","flow":{"pkts_toserver":3,'
    '"pkts_toclient":2,"bytes_toserver":180,"bytes_toclient":120,"start":"2024-01-01T00:00:00.000000+0000",'
    '"end":"2024-01-01T00:00:01.000000+0000","state":"established"}}',
    "zeek": "1379288667.706265\tCoyZrY2g74UvMMgp4a\t192.0.2.10\t1032\t198.51.100.191\t80\ttcp\thttp\t0.447460\t601\t"
    "38393\tRSTO\t-\t0\tShADadR\t22\t1489\t31\t39641\t(empty)",
    "aws-vpc": "2 123456789010 eni-1235b8ca123456789 192.0.2.139 198.51.100.21 20641 22 6 20 4249 1418530010 "
    "1418530070 ACCEPT OK",
}


@pytest.mark.parametrize("name", sorted(_LINES_READ_AS_ROWS))
def test_a_pasted_line_imports_nothing_heavy(name: str) -> None:
    """Case 16: a line whose reader gives one row (READS_ROWS) is judged without numpy or pyarrow,
    whose import was most of explain's 2 s (and still is of the column-at-a-time formats': nfdump, mapped CSV)."""
    code = (
        "import sys, io, contextlib\n"
        "from portscope.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['explain', sys.argv[1]]) == 0\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    import subprocess

    line = _LINES_READ_AS_ROWS[name]
    done = subprocess.run([sys.executable, "-c", code, line], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "portscope.explain_line" in loaded
    assert not loaded & {"duckdb", "pyarrow", "pandas", "numpy", "ibis"}, loaded & {"pyarrow", "numpy"}


def test_a_column_reader_line_keeps_pandas_out() -> None:
    """An nfdump CSV line is read by a reader that builds Arrow arrays: pyarrow is imported, pandas is not."""
    pytest.importorskip("pandas", reason="pandas is not installed: nothing to keep out")
    line = (REPO / "tests/data/nfdump_csv/ipfix-100-cisco.csv").read_text().splitlines()[1]
    code = (
        "import sys, io, contextlib\n"
        "from portscope.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['explain', sys.argv[1]]) == 0\n"
        "print('pyarrow' in sys.modules, 'pandas' in sys.modules)\n"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code, line], capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.split() == ["True", "False"], done.stdout + done.stderr


def test_python_dash_m_and_console_script_agree() -> None:
    import shutil
    import subprocess

    script = shutil.which("portscope")
    if script is None:
        return  # the package is importable but not installed with its script (running from a bare checkout)
    a = subprocess.run([script, "explain", "22/tcp", "--json"], capture_output=True, text=True, timeout=60, check=True)
    b = run_portscope("explain", "22/tcp", "--json")
    assert json.loads(a.stdout) == json.loads(b.stdout)
    assert (REPO / "src" / "portscope" / "__main__.py").is_file()


def test_explain_says_who_uses_the_port_now() -> None:
    """With a listener of ours on the port, explain names this process; --no-live skips the look."""
    import os
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        text = run_portscope("explain", f"{port}/tcp")
        doc = json.loads(run_portscope("explain", f"{port}/tcp", "--json").stdout)
        quiet = json.loads(run_portscope("explain", f"{port}/tcp", "--json", "--no-live").stdout)
    assert text.returncode == 0
    now = [line for line in text.stdout.splitlines() if line.startswith("  Now")]
    assert now and f"127.0.0.1:{port} LISTEN" in now[0]
    (use,) = doc["results"][0]["in_use"]
    assert (use["side"], use["state"], use["local_port"]) == ("local", "LISTEN", port)
    if sys.platform.startswith("linux"):
        assert use["pid"] == os.getpid()  # the listener is this test process's
    assert quiet["results"][0]["in_use"] is None

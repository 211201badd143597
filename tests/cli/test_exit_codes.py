"""Exit codes are mapped once (portscope.cli.exit_code) and mean the same for every command."""

from __future__ import annotations

import pytest

from portscope.cli import EXIT_INTERRUPTED, EXIT_PLATFORM, EXIT_USAGE, exit_code
from portscope.errors import DataError, PlatformError, PortSpecError, UsageError
from tests.conftest import run_portscope


def test_each_error_class_has_its_code() -> None:
    assert exit_code(UsageError("x")) == exit_code(PortSpecError("x", "y")) == exit_code(DataError("x")) == EXIT_USAGE
    assert exit_code(PlatformError("x")) == EXIT_PLATFORM == 3
    assert EXIT_USAGE == 2 and EXIT_INTERRUPTED == 130


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["live", "--state", "bogus"], "portscope live: --state: unknown value BOGUS; valid ones are: ESTABLISHED"),
        (["live", "--role", "server"], "portscope live: --role: unknown value server; valid ones are: listen"),
        (["explain", "22", "--os", "plan9"], "portscope explain: --os: unknown OS 'plan9'"),
        (
            ["analyze", "/nonexistent/fw.log"],
            "portscope analyze: no input could be read: /nonexistent/fw.log: no such file",
        ),
        (["analyze", "x.log", "--os", "plan9"], "portscope analyze: --os 'plan9': unknown OS"),
        (["convert", "x.log", "-o", "out.xml"], "portscope convert: cannot tell the output format of 'out.xml'"),
        (["convert", "x.log", "-o", "o.csv", "--map", "nope=A"], "portscope convert: --map 'nope=A': unknown flow"),
    ],
)
def test_usage_and_input_errors_are_one_line_and_exit_2(argv: list[str], says: str) -> None:
    done = run_portscope(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(says) and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr

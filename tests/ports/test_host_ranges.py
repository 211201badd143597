"""The hosts-with-their-own-client-range format (--host-os, and the policy loader's later)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portscope.errors import UsageError
from portscope.ports.host_ranges import parse_host_ranges


def test_specs_and_files_give_canonical_addresses_and_ranges(tmp_path: Path) -> None:
    """``ADDR=OS``, ``ADDR OS`` in a file with comments, a NAT's range written out; the last word wins."""
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# inventory\n10.0.0.5 windows  # file server\n\n2001:DB8::1=linux\n192.0.2.1 1024-65535\n")
    got = parse_host_ranges(["10.0.0.5=linux", f"@{hosts}", "192.0.2.1=any"])
    assert got == (("10.0.0.5", 49152, 65535), ("2001:db8::1", 32768, 60999), ("192.0.2.1", 32768, 65535))


@pytest.mark.parametrize(
    ("spec", "says"),
    [("10.0.0.5", "write ADDR=OS"), ("nohost=windows", "write ADDR=OS"), ("10.0.0.5=plan9", "unknown OS 'plan9'"),
     ("10.0.0.5=70000-80000", "LOW-HIGH within 1-65535")],
)  # fmt: skip
def test_bad_specs_say_what_is_accepted(spec: str, says: str) -> None:
    with pytest.raises(UsageError, match=f"--host-os .*{says}"):
        parse_host_ranges([spec])


def test_errors_in_a_file_name_its_line(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("10.0.0.5 windows\n\n10.0.0.6 beos\n")
    with pytest.raises(UsageError, match=r"hosts\.txt:3: 'beos': unknown OS"):
        parse_host_ranges([f"@{hosts}"])
    with pytest.raises(UsageError, match=r"--host-os .*missing: cannot read"):
        parse_host_ranges([f"@{tmp_path / 'missing'}"])

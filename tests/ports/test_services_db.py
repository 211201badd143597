"""/etc/services and nmap-services look-ups, on inline fixtures and on the real files where present."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from portscope.ports.services_db import ServicesFile, etc_services, nmap_services

SERVICES = textwrap.dedent(
    """\
    # comment line mentioning 22/tcp must not count
    ssh		22/tcp				# SSH Remote Login Protocol
    http		80/tcp		www		# WorldWideWeb HTTP
    https		443/tcp
    https		443/udp				# HTTP/3
    domain		53/tcp
    domain		53/udp
    kerberos	88/tcp		kerberos5 krb5 kerberos-sec	# Kerberos v5
    x		1443/tcp
    """
).encode()

NMAP = textwrap.dedent(
    """\
    # Fields in this file are: Service name, portnum/protocol, open-frequency, optional comments
    https	443/tcp	0.208669	# secure http (SSL)
    https	443/udp	0.010840
    unknown	56744/udp	0.000502
    """
).encode()


def test_services_lookup_by_port_is_exact() -> None:
    db = ServicesFile("services", SERVICES, "services")
    assert [(e.name, e.protocol) for e in db.lookup(443)] == [("https", "tcp"), ("https", "udp")]
    assert [e.comment for e in db.lookup(443, "udp")] == ["HTTP/3"]
    assert db.lookup(22)[0].comment == "SSH Remote Login Protocol"  # the comment line is not an entry
    assert db.lookup(1443)[0].name == "x"  # 443/ inside 1443/ does not match port 443
    assert len(db.lookup(443)) == 2
    assert db.lookup(8080) == ()


def test_services_aliases() -> None:
    db = ServicesFile("services", SERVICES, "services")
    assert [e.port for e in db.by_name("www")] == [80]
    assert [e.port for e in db.by_name("KRB5")] == [88]
    assert db.by_name("kerb") == ()
    assert db.by_name("bad name") == ()


def test_nmap_frequency() -> None:
    db = ServicesFile("nmap-services", NMAP, "nmap")
    (entry,) = db.lookup(443, "tcp")
    assert entry.open_frequency == pytest.approx(0.208669)
    assert entry.comment == "secure http (SSL)"
    assert db.lookup(56744)[0].name == "unknown"


def _full_parse(path: Path) -> dict[tuple[int, str], set[str]]:
    out: dict[tuple[int, str], set[str]] = {}
    for line in path.read_text(errors="replace").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and "/" in fields[1]:
            port, _, proto = fields[1].partition("/")
            if port.isdigit():
                out.setdefault((int(port), proto.lower()), set()).add(fields[0])
    return out


@pytest.mark.parametrize("which", ["etc", "nmap"])
def test_real_files_agree_with_a_full_parse(which: str) -> None:
    """Byte-search look-ups find exactly what parsing the whole real file finds, for every port in it."""
    db = etc_services() if which == "etc" else nmap_services()
    if db is None:
        if which == "nmap" and shutil.which("nmap"):
            pytest.fail("nmap is installed but its nmap-services was not found")
        pytest.skip(f"no {which} services file on this host")
    expected = _full_parse(Path(db.path))
    ports = sorted({port for port, _ in expected})
    for port in ports[:: max(1, len(ports) // 400)]:
        got: dict[tuple[int, str], set[str]] = {}
        for entry in db.lookup(port):
            got.setdefault((entry.port, entry.protocol), set()).add(entry.name)
        want = {k: v for k, v in expected.items() if k[0] == port}
        assert got == want, port

"""Golden outputs: what portscope answered on real inputs, kept so that a refactoring shows every change.

Four sets, each a folder of tests/data/golden/:
- ``analyze/``: ``analyze --json`` of every input file in tests/data and ../shared/data (the report,
  less its ``generated`` time; an input no reader takes is kept as its one-line error);
- ``explain/``: ``explain --json`` of ports, each under this host's range and ``--os`` linux, windows,
  freebsd and openbsd;
- ``lines/``: ``explain --json`` of pasted log lines (lines spread through every text input);
- ``live/``: a socket snapshot recorded once in network namespaces made for it
  (``snapshot.json``: what the kernel and /proc said), replayed through the role classifier and the
  ephemeral-port health checks (``roles.json``, ``findings.json``).

    python -m tests.golden write [SET...]     rewrite the expected outputs (then review the diff)
    python -m tests.golden check [SET...]     list the differences, exit 1 if any
    python -m tests.golden record-snapshot                 record live/snapshot.json again (root, ip netns)

tests/test_golden.py runs ``check``. When a difference is intended, write the goldens again and say
in the commit which answers changed and why.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from portscope.host.columns import SOCKET_COLUMNS

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "data" / "golden"
SHARED = REPO.parent / "shared" / "data"

# Files that describe the data rather than hold it, and expected outputs of other tools.
_NOT_INPUTS = ("SOURCE", "README", "LICENSE", "EXPECTED", ".expected", ".rules", ".yaml", ".out", ".md")


def _inputs() -> list[Path]:
    """Every data file under tests/data (the goldens aside) and ../shared/data, sorted."""
    roots = [REPO / "tests" / "data"] + ([SHARED] if SHARED.is_dir() else [])
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or GOLDEN in path.parents or any(m in path.name for m in _NOT_INPUTS):
                continue
            found.append(path)
    return found


def _label(path: Path) -> str:
    """The input's name as the goldens write it: relative to the repository (../shared for shared data)."""
    return os.path.relpath(path, REPO)


def _golden_name(label: str) -> str:
    return label.replace("../", "").replace("/", "__") + ".json"


# --- analyze ---------------------------------------------------------------------------------------


def analyze_outputs(only: str | None = None) -> Iterator[tuple[str, Any]]:
    """(golden file name, report) for every input; the report of an unreadable input is its error."""
    from portscope.analyze.options import AnalyzeOptions
    from portscope.analyze.report import analyze
    from portscope.errors import PortscopeError
    from portscope.render.analyze_json import report_json

    os.chdir(REPO)
    for path in _inputs():
        label = _label(path)
        if only is not None and only not in label:
            continue
        try:
            report = analyze([label], AnalyzeOptions())
        except PortscopeError as error:
            yield _golden_name(label), {"error": str(error)}
            continue
        report.pop("generated", None)
        yield _golden_name(label), _plain(report_json(report))


def _plain(value: Any) -> Any:
    """The report as JSON sees it (orjson's view: tuples as lists, records as objects)."""
    import orjson

    return json.loads(orjson.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return value._asdict()
    if hasattr(value, "as_json"):
        return value.as_json()
    raise TypeError(type(value).__name__)


# --- explain ---------------------------------------------------------------------------------------

# Ports whose answers the classifier decides: the edges of every range, services inside ephemeral
# ranges (BACnet, EtherNet/IP, WireGuard, Mumble), unregistered services (Kubernetes), IANA names
# inside Linux's range, port 0, and the random high ports that fill logs.
EXPLAIN_PORTS = (
    "0", "1", "22", "53", "80", "443", "512", "1023", "1024", "1080", "1194", "2049", "3000", "3306", "3389",
    "4444", "5000", "5353/udp", "5432", "6443", "8080", "9100", "10000", "10250", "15672", "19302/udp",
    "20000", "25565", "27017", "30000", "32400", "32767", "32768", "33434/udp", "34962", "35357", "41641/udp",
    "44818", "47808/udp", "49151", "49152", "51820/udp", "56744", "60999", "61000", "64738", "65535",
    "ssh", "https/udp", "49152-49160", "32760-32780",
)  # fmt: skip
EXPLAIN_OSES = (None, "linux", "windows", "freebsd", "openbsd")
LINES_PER_FILE = 8


def explain_port_outputs() -> dict[str, Any]:
    """``explain --json`` of each port under each ``--os`` (this host's range where none is given)."""
    from portscope.explain import explain_query
    from portscope.ports.spec import parse_port_spec
    from portscope.render.json_doc import explanation_to_json

    out: dict[str, Any] = {}
    for os_name in EXPLAIN_OSES:
        for argument in EXPLAIN_PORTS:
            results = [explanation_to_json(argument, explain_query(q, os_name)) for q in parse_port_spec(argument)]
            for result in results:
                result.pop("system_services", None)  # /etc/services and nmap-services differ between machines
            out[f"{argument} --os {os_name or '(this host)'}"] = results
    return _plain(out)


def _text_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if b"\0" in data[:4096]:  # a capture or other binary file: nothing to paste
        return []
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(lines) <= LINES_PER_FILE:
        return lines
    step = len(lines) / LINES_PER_FILE
    return [lines[int(i * step)] for i in range(LINES_PER_FILE)]


def explain_line_outputs() -> dict[str, Any]:
    """``explain --json`` of pasted lines: a dozen lines of every text input that holds log lines (files
    where no line is one, JSON test expectations and the like, are left out), under --os any and windows."""
    from portscope.errors import PortscopeError
    from portscope.explain_line import explain_line

    out: dict[str, Any] = {}
    for path in _inputs():
        answers: dict[str, Any] = {}
        for number, line in enumerate(_text_lines(path), 1):
            for os_name in (None, "windows"):
                try:
                    answers[f"{_label(path)} #{number} --os {os_name or 'any'}"] = explain_line(
                        line, os=os_name
                    ).as_dict()
                except PortscopeError as error:
                    answers[f"{_label(path)} #{number} --os {os_name or 'any'}"] = {"error": str(error), "query": line}
        if any("error" not in answer for answer in answers.values()):
            out.update(answers)
    return _plain(out)


# --- live: a recorded snapshot, replayed -----------------------------------------------------------

# The columns a back-end, the owner walk and the NAT rules fill; classification fills the rest from these.
RECORDED_COLUMNS = tuple(c.name for c in SOCKET_COLUMNS if c.stage != "role")
CLASSIFIED_COLUMNS = tuple(c.name for c in SOCKET_COLUMNS if c.stage == "role")


def load_snapshot() -> Any:
    """live/snapshot.json as a :class:`~portscope.host.sockets.Snapshot`, not yet classified."""
    from portscope.host.owners import AttributionStats
    from portscope.host.sockets import NamespaceView, Snapshot
    from portscope.host.table import SocketTable
    from portscope.records import ConntrackUsage, HostPortRange

    recorded = json.loads((GOLDEN / "live" / "snapshot.json").read_text(encoding="utf-8"))
    table = SocketTable()
    columns = recorded["columns"]
    size = len(columns["protocol"])
    for name in RECORDED_COLUMNS:
        values = columns[name]
        setattr(table, name, [tuple(v) for v in values] if name == "pids" else values)
    for name in CLASSIFIED_COLUMNS:
        setattr(table, name, [None] * size)
    views = []
    for view in recorded["namespaces"]:
        ranges = tuple(
            HostPortRange(**{**r, "reserved": tuple(tuple(pair) for pair in r["reserved"])}) for r in view["ranges"]
        )
        conntrack = ConntrackUsage(**view["conntrack"]) if view["conntrack"] else None
        views.append(
            NamespaceView(
                view["label"],
                view["inode"],
                ranges,
                names=tuple(view["names"]),
                sockets=view["sockets"],
                addresses=tuple(view["addresses"]),
                conntrack=conntrack,
            )
        )
    return Snapshot(table, recorded["taken_at"], recorded["backend"], views, AttributionStats())


def live_outputs() -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorded snapshot through the classifier: each socket's role columns, and the health findings."""
    from portscope.host.health import ephemeral_health, health_findings

    snap = load_snapshot()
    _classify(snap)
    table = snap.table
    roles = {
        "columns": list(CLASSIFIED_COLUMNS),
        "sockets": [
            [f"{table.protocol[i]} {table.local_address[i]}:{table.local_port[i]} "
             f"{table.remote_address[i]}:{table.remote_port[i]} {table.state[i]} {table.namespace[i]}",
             *(getattr(table, name)[i] for name in CLASSIFIED_COLUMNS)]
            for i in range(len(table))
        ],
    }  # fmt: skip
    from portscope.render.findings import findings_json

    health = ephemeral_health(snap)
    findings = {"health": health, "findings": findings_json(health_findings(snap, health))}
    return _plain(roles), _plain(findings)


def _classify(snap: Any) -> None:
    """Roles for the recorded table as the snapshot gives them, whatever the classifier's entry point."""
    from portscope.host import roles
    from portscope.host.sockets import client_range_of_view

    roles.classify(snap.table, {v.inode: client_range_of_view(v) for v in snap.namespaces})


# --- recording the snapshot (root, network namespaces) ---------------------------------------------

_NAMESPACES = {
    # name: (ip_local_port_range, ip_local_reserved_ports, address, connections to one destination)
    "psgold-linux": ("32768 60999", "", "10.231.0.1", 40),
    "psgold-custom": ("10000 20000", "10500,15000-15009", "10.231.1.1", 20),
    "psgold-small": ("40000 40099", "40050", "10.231.2.1", 60),  # a pool small enough to fill
}

# Run inside each namespace: sockets of every role, then a snapshot of that namespace alone.
_SOCKETS_SCRIPT = r"""
import json, socket, sys, time
sys.path.insert(0, sys.argv[1])
from portscope.host.sockets import snapshot
address = sys.argv[2]
held = []
def tcp_listen(host, port, family=socket.AF_INET, v6only=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((host, port)); s.listen(512); held.append(s); return s
def udp_bind(host, port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM); s.bind((host, port)); held.append(s); return s
def connect(host, port, local=None):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if local is not None:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); c.bind(local)
    c.connect((host, port)); held.append(c); return c
servers = {}
for host, port in (("0.0.0.0", 22), ("127.0.0.1", 5432), (address, 8080), ("0.0.0.0", 6443), ("0.0.0.0", 10250),
                   ("0.0.0.0", 3000), ("0.0.0.0", 15672), ("0.0.0.0", 25565), ("0.0.0.0", 44818),
                   ("0.0.0.0", 45000), ("0.0.0.0", 12000), ("0.0.0.0", 10500), ("0.0.0.0", 33434), ("0.0.0.0", 35357)):
    servers[port] = tcp_listen(host, port)
tcp_listen("::", 8443, socket.AF_INET6, v6only=0)
tcp_listen("::1", 9090, socket.AF_INET6, v6only=1)
for port in (53, 5353, 51820, 47808, 41641, 19302, 34962, 1900, 15005):
    udp_bind("0.0.0.0", port)
udp_bind("::", 123, socket.AF_INET6)
for _ in range(3):  # resolver-like client sockets: unconnected, bound to an ephemeral port by the kernel
    udp_bind("0.0.0.0", 0)
q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); q.connect((address, 53)); held.append(q)
accepted = []
# First, before the kernel picks ports: both sides chosen by the program (ephemeral to ephemeral),
# and a client bound to a port of its choice.
peer = tcp_listen("127.0.0.1", int(sys.argv[4]))
connect("127.0.0.1", int(sys.argv[4]), ("127.0.0.1", int(sys.argv[5])))
accepted.append(peer.accept()[0])
peer.close()  # its accepted socket stays: a connection whose listener has gone
connect("127.0.0.1", 15672, ("127.0.0.1", 1023))
accepted.append(servers[15672].accept()[0])
for port in (22, 8080, 45000, 6443):
    for _ in range(2):
        connect(address if port == 8080 else "127.0.0.1", port)
        accepted.append(servers[port].accept()[0])
# Many connections to one destination: its share of the pool (the small namespace's fills past half).
for _ in range(int(sys.argv[3])):
    connect("127.0.0.1", 3000)
    accepted.append(servers[3000].accept()[0])
# TIME_WAIT: connections this side closes first.
for _ in range(5):
    c = connect("127.0.0.1", 25565); a = servers[25565].accept()[0]; c.close(); a.close()
time.sleep(0.2)
snap = snapshot(processes=True, all_namespaces=False)
t = snap.table
columns = {name: getattr(t, name) for name in json.loads(sys.argv[6])}
view = snap.namespaces[0]
print(json.dumps({"taken_at": snap.taken_at, "backend": snap.backend, "columns": columns,
                  "view": {"label": view.label, "inode": view.inode, "names": list(view.names),
                           "sockets": view.sockets, "addresses": list(view.addresses),
                           "ranges": [r._asdict() for r in view.ranges],
                           "conntrack": view.conntrack._asdict() if view.conntrack else None}}))
"""


def record_snapshot() -> None:
    """Make the namespaces, open the sockets in each, and write live/snapshot.json (root only)."""
    if os.geteuid() != 0:
        raise SystemExit("record-snapshot needs root (it makes network namespaces)")
    merged: dict[str, Any] = {"columns": {name: [] for name in RECORDED_COLUMNS}, "namespaces": []}
    # All of them exist at once: a namespace made after another was deleted may get its inode again.
    try:
        parts = []
        for name, (port_range, reserved, address, _) in _NAMESPACES.items():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "add", name], check=True)
            _in(name, "ip", "link", "set", "lo", "up")
            _in(name, "ip", "link", "add", "psg0", "type", "veth", "peer", "name", "psg1")
            _in(name, "ip", "addr", "add", f"{address}/24", "dev", "psg0")
            _in(name, "ip", "link", "set", "psg0", "up")
            _in(name, "ip", "link", "set", "psg1", "up")
            _in(name, "sysctl", "-qw", f"net.ipv4.ip_local_port_range={port_range}")
            if reserved:
                _in(name, "sysctl", "-qw", f"net.ipv4.ip_local_reserved_ports={reserved}")
        for name, (_, _, address, many) in _NAMESPACES.items():
            done = _in(
                name, sys.executable, "-c", _SOCKETS_SCRIPT, str(REPO / "src"), address, str(many), "40001", "50001",
                json.dumps(RECORDED_COLUMNS),
            )  # fmt: skip
            parts.append((name, json.loads(done.stdout)))
    finally:
        for name in _NAMESPACES:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    for name, part in parts:
        view = {**part["view"], "label": name, "names": [name]}
        part["columns"]["namespace"] = [name] * len(part["columns"]["protocol"])
        # The recorder's command line holds this whole script: its first words say enough.
        part["columns"]["cmdline"] = [c if c is None else c[:40] for c in part["columns"]["cmdline"]]
        for column, values in part["columns"].items():
            merged["columns"][column].extend(values)
        merged["namespaces"].append(view)
        merged.setdefault("taken_at", part["taken_at"])
        merged.setdefault("backend", part["backend"])
    _write(GOLDEN / "live" / "snapshot.json", merged)


def _in(namespace: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", namespace, *command], capture_output=True, text=True, check=True)


# --- writing and checking --------------------------------------------------------------------------

SETS = ("analyze", "explain", "lines", "live")


def _write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _outputs(which: str) -> Iterator[tuple[Path, Any]]:
    if which == "analyze":
        for name, report in analyze_outputs():
            yield GOLDEN / "analyze" / name, report
    elif which == "explain":
        yield GOLDEN / "explain" / "ports.json", explain_port_outputs()
    elif which == "lines":
        yield GOLDEN / "lines" / "lines.json", explain_line_outputs()
    elif which == "live":
        roles, findings = live_outputs()
        yield GOLDEN / "live" / "roles.json", roles
        yield GOLDEN / "live" / "findings.json", findings
    else:
        raise SystemExit(f"unknown golden set {which!r}: {', '.join(SETS)}")


def differences(expected: Any, actual: Any, where: str = "") -> Iterator[str]:
    """Each place where ``actual`` differs from ``expected``, as a JSON-path-like line."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() | actual.keys():
            if key not in actual:
                yield f"{where}.{key}: gone (was {_short(expected[key])})"
            elif key not in expected:
                yield f"{where}.{key}: new ({_short(actual[key])})"
            else:
                yield from differences(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (old, new) in enumerate(zip(expected, actual, strict=True)):
            yield from differences(old, new, f"{where}[{index}]")
    elif expected != actual:
        yield f"{where}: {_short(expected)} -> {_short(actual)}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."


def check(which: str, report: Callable[[str], None] = print) -> int:
    """Compare one set with its goldens; returns how many files differ."""
    differing = 0
    seen = set()
    for path, actual in _outputs(which):
        seen.add(path.name)
        if not path.exists():
            report(f"{path.relative_to(REPO)}: no golden file (write them)")
            differing += 1
            continue
        expected = json.loads(path.read_text(encoding="utf-8"))
        lines = list(differences(expected, actual))
        if lines:
            differing += 1
            report(f"{path.relative_to(REPO)}: {len(lines)} differences")
            for line in lines[:40]:
                report(f"  {line}")
    folder = GOLDEN / which
    kept = {p.name for p in folder.glob("*.json")} - {"snapshot.json"}
    for stale in sorted(kept - seen if SHARED.is_dir() else set()):
        report(f"{which}/{stale}: a golden file with no input any more")
        differing += 1
    return differing


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("write", "check", "record-snapshot"):
        print(__doc__)
        return 2
    if argv[0] == "record-snapshot":
        record_snapshot()
        return 0
    sets = argv[1:] or list(SETS)
    if argv[0] == "write":
        for which in sets:
            for path, value in _outputs(which):
                _write(path, value)
        return 0
    return 1 if sum(check(which) for which in sets) else 0


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main(sys.argv[1:]))

"""``explain`` for one pasted log line: both ports, whose each is, and why the line was most likely written.

Most people arrive with a line, not a port. The line's format is detected as a file's would be
(:func:`portscope.sources.detect`), it is read by that format's own reader into one row of the flow
table (a dict, without pyarrow, where the reader can: ``READS_ROWS``), and that row goes through
:func:`portscope.analyze.prepare_row.prepare_row`: the judgement ``portscope analyze`` makes of port
classes, client side and kind, for one row and without an engine, held to the engines' by a parity
test. A pasted line and the analysis of the file it came
from therefore never disagree. Only the sentence saying why is written here.

Formats whose data lines mean nothing without a header get the standard one when the line has its
shape: a Zeek conn.log TSV line (tab-separated, 20 or more fields, an epoch time first) is read under
the default ``#fields`` of its field count, a Windows Firewall line under pfirewall.log's ``#Fields:``.

The timeouts quoted in the reasons are the defaults of Linux conntrack
(Documentation/networking/nf_conntrack-sysctl.rst) and of pf (pf.conf(5), ``set timeout``).
"""

from __future__ import annotations

import io
import re
from typing import Any, NamedTuple

from portscope.errors import DataError, UsageError
from portscope.line_reasons import reason_for
from portscope.ports.iana import registry
from portscope.ports.ranges import EPHEMERAL_RANGES, client_range, iana_range
from portscope.sources import SOURCE_NAMES, ParseStats, ReadContext, detect, source

__all__ = ["LineExplanation", "LineSide", "explain_line"]

LABEL = "<line>"
# Every format one line of text can be: not a capture (its sniffer would also load numpy for nothing).
LINE_FORMATS = tuple(name for name in SOURCE_NAMES if name != "pcap")

# Zeek conn.log #fields by field count: Bro 2.x before local_resp, Bro 2.5+/Zeek, Zeek 6+ with ip_proto
# (base/protocols/conn/main.zeek). Extra trailing fields (community_id, MAC logging) are named as such.
_ZEEK_FIELDS = (
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration", "orig_bytes",
    "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
    "resp_pkts", "resp_ip_bytes", "tunnel_parents", "ip_proto",
)  # fmt: skip
_ZEEK_TIME = re.compile(r"(\d{9,10}(\.\d+)?|X{10}\.X{6})")
_W3C_FIELDS = (
    "date time action protocol src-ip dst-ip src-port dst-port size tcpflags tcpsyn tcpack tcpwin icmptype "
    "icmpcode info path"
)
_W3C_SHAPE = re.compile(rb"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (ALLOW|DROP|INFO-EVENTS-LOST) ")


class LineSide(NamedTuple):
    """One end of the logged packet or flow, as the line wrote it (``source`` or ``destination``)."""

    address: str
    port: int | None
    port_class: str  # service, ephemeral, other, none: the analysis' own class (analyze/prepare.py)
    role: str  # client or server
    services: tuple[str, ...]  # IANA service names for this port and transport
    iana_range: str | None  # system, user, dynamic (RFC 6335)
    ephemeral_in: tuple[str, ...]  # OSes whose default ephemeral range holds the port


class LineExplanation(NamedTuple):
    """One log line explained; ``kind`` is the class ``portscope analyze`` gives the same row."""

    line: str
    format: str
    protocol: str
    action: str  # allow, deny, unknown
    direction: str  # inbound, outbound, internal, external, forward, local: said by the log, else derived
    direction_said: bool
    flags: str | None
    conn_state: str | None
    history: str | None
    app: str | None
    icmp_type: int | None
    icmp_code: int | None
    source: LineSide
    destination: LineSide
    client: str  # "source" or "destination"
    orientation: str  # observed, inferred, unknown
    orientation_text: str
    kind: str  # late_reply, late_udp_reply, return_traffic, ephemeral_inbound, ephemeral_peer, denied, service...
    reason: str  # a short code: late_reply, scan_null, probe, blocked_client, client_of_service...
    reason_text: str  # the most likely reason the line was written, in a sentence or two
    why: tuple[str, ...]  # the facts and defaults behind it
    os: str  # the --os given, or any
    ephemeral_range: tuple[int, int]  # the client pool the port classes were judged by

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of docs/explain-json.md (``"kind": "line"``; this record's ``kind`` is ``flow_kind``)."""
        out: dict[str, Any] = {"kind": "line", "query": self.line}
        for key, value in self._asdict().items():
            if key == "kind":
                out["flow_kind"] = value
            elif key in ("source", "destination"):
                out[key] = {
                    **value._asdict(),
                    "services": list(value.services),
                    "ephemeral_in": list(value.ephemeral_in),
                }
            elif key != "line":
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


def explain_line(text: str, *, os: str | None = None) -> LineExplanation:
    """Explain one log line of any format portscope reads.

    Raises UsageError naming why when the text is not one line, no format recognises it, its format's
    reader rejects it, or it records no connection; and for an unknown ``os``.
    """
    line = text.strip("\r\n")
    if "\n" in line:
        raise UsageError("give one log line at a time (this text has several)")
    if not line.strip():
        raise UsageError("the log line is empty")
    low, high = _pool(os)
    name, data = _recognise(line)
    raw = _read(name, data)
    row = _prepared(raw, name, low, high)
    return _explanation(line, name, row, raw, os or "any", (low, high))


def _pool(os_name: str | None) -> tuple[int, int]:
    """The client pool as ``portscope analyze --os`` takes it: any (32768-65535), else that OS's range."""
    try:
        chosen = client_range(os_name or "any")
    except UsageError as exc:
        raise UsageError(f"--os: {exc}") from exc
    return chosen.low, chosen.high


def _recognise(line: str) -> tuple[str, bytes]:
    """The format and the bytes to read: the line, with its format's standard header where it needs one."""
    data = line.encode("utf-8", "surrogateescape")
    fields = line.split("\t")
    if len(fields) >= 20 and _ZEEK_TIME.fullmatch(fields[0]):
        names = list(_ZEEK_FIELDS)
        if len(fields) == 20:  # Bro 2.x: no local_resp, no ip_proto
            names = [n for n in names if n not in ("local_resp", "ip_proto")]
        names = names[: len(fields)] + [f"extra_{i}" for i in range(len(fields) - len(names))]
        return "zeek_conn", ("#separator \\x09\n#path\tconn\n#fields\t" + "\t".join(names) + "\n").encode() + data
    if _W3C_SHAPE.match(data):
        columns = _W3C_FIELDS + (" pid" if len(line.split(" ")) >= 18 else "")
        header = f"#Version: 1.5\n#Software: Microsoft Windows Firewall\n#Fields: {columns}\n"
        return "windows_firewall", header.encode() + data
    try:
        return detect(data, LABEL, among=LINE_FORMATS), data
    except DataError as exc:
        raise UsageError(
            "not a log line portscope recognises: no reader (iptables/UFW/nftables, pfSense filterlog, "
            "Windows Firewall, Zeek conn, Suricata eve, AWS VPC, sshd...) knows its shape"
        ) from exc


def _read(name: str, data: bytes) -> dict[str, Any]:
    """The line through its format's reader, strictly (a bad record is an error naming what was wrong):
    its first flow, as ``to_pylist()`` gives a flow table's row.

    Readers that can (``READS_ROWS``) give that row without pyarrow, whose import would be most of
    the time a pasted line takes; the column-at-a-time readers (nfdump CSV, mapped CSV)
    build their one-row table as they do a file's.
    """
    reader = source(name)
    rows_only = bool(getattr(reader, "READS_ROWS", False))
    context = ReadContext(LABEL, ParseStats(strict=True), as_rows=rows_only)
    try:
        produced = iter(reader.read(io.BytesIO(data + b"\n"), context))
        first = next(produced, None)
        row: dict[str, Any] | None
        if rows_only or first is None:
            row = first
        else:
            rest = [first, *produced]
            row = next((batch.slice(0, 1).to_pylist()[0] for batch in rest if batch.num_rows), None)
    except DataError as exc:
        detail = str(exc).removeprefix(f"{LABEL}:").lstrip("0123456789: ")
        raise UsageError(f"a line in the {name} format, but not a valid one: {detail}") from exc
    if row is None:
        raise UsageError(f"a line in the {name} format, but one that records no connection (no packet or flow in it)")
    if name == "ssh_auth" and row["dst_addr"] is None:
        # sshd names only the client ("from X port Y"); in a file the session's earlier lines give the
        # server. Alone, the server is the host that wrote the line, on sshd's default port 22.
        row["dst_addr"] = row["observer"] or "the sshd host"
        if row["dst_port"] is None:
            row["dst_port"] = 22
    return dict(row)


def _prepared(raw: dict[str, Any], name: str, low: int, high: int) -> dict[str, Any]:
    """The row as ``portscope analyze`` prepares it: :func:`portscope.analyze.prepare_row.prepare_row`,
    the same judgement as the engines' (a parity test holds them together), without starting one."""
    from portscope.analyze.options import AnalyzeOptions
    from portscope.analyze.prepare_row import prepare_row

    row = prepare_row(raw, AnalyzeOptions(ephemeral=(low, high)))
    if row is None:
        raise UsageError(f"a line in the {name} format that does not name both ends (source and destination)")
    return row


def _side(address: str, port: int | None, port_class: str, role: str, proto: str) -> LineSide:
    if port is None:
        return LineSide(address, None, port_class, role, (), None, ())
    names: tuple[str, ...] = ()
    if proto in ("tcp", "udp", "sctp", "dccp"):
        names = tuple(dict.fromkeys(e.name for e in registry().lookup(port, proto) if e.assigned and e.name))
    inside = tuple(r.label for r in EPHEMERAL_RANGES if r.os != "iana" and r.contains(port))
    return LineSide(address, port, port_class, role, names, iana_range(port)[0], inside)


def _explanation(
    line: str, name: str, row: dict[str, Any], raw: dict[str, Any], os_name: str, pool: tuple[int, int]
) -> LineExplanation:
    proto = str(row["proto"])
    client_is_src = bool(row["client_is_src"])
    src = _side(row["src"], row["sport"], row["s_class"], "client" if client_is_src else "server", proto)
    dst = _side(row["dst"], row["dport"], row["d_class"], "server" if client_is_src else "client", proto)
    flags = row["flags"]
    why = reason_for(
        kind=row["kind"],
        fmt=name,
        proto=proto,
        action=row["action"],
        flags=flags,
        state=row["state"],
        history=row["history"],
        direction=row["direction"],
        client=src if client_is_src else dst,
        server=dst if client_is_src else src,
        client_is_src=client_is_src,
        pool=pool,
    )
    return LineExplanation(
        line=line,
        format=name,
        protocol=proto,
        action=row["action"],
        direction=row["direction"],
        direction_said=row["said_direction"] is not None,
        flags=flags,
        conn_state=row["state"],
        history=row["history"],
        app=row["app"],
        icmp_type=raw.get("icmp_type"),
        icmp_code=raw.get("icmp_code"),
        source=src,
        destination=dst,
        client="source" if client_is_src else "destination",
        orientation=row["orientation"],
        orientation_text=_orientation_text(row, name, src if client_is_src else dst),
        kind=row["kind"],
        reason=why.code,
        reason_text=why.text,
        why=why.facts,
        os=os_name,
        ephemeral_range=pool,
    )


def _orientation_text(row: dict[str, Any], name: str, client: LineSide) -> str:
    if row["orientation"] == "observed":
        if row["syn_only"]:
            how = "a SYN without ACK opens a TCP connection"
        elif name == "zeek_conn":
            how = "it is Zeek's originator"
        elif name == "ssh_auth":
            how = "sshd logs the connecting client's address and port"
        else:
            how = "the log says which side opened the flow"
        return f"observed: {how}, so {client.address} is the client"
    if row["orientation"] == "inferred":
        c, s = (row["sport"], row["dport"]) if row["client_is_src"] else (row["dport"], row["sport"])
        classes = {row["client_class"], row["server_class"]}
        if classes == {"service"}:
            because = f"both are service ports, and the lower one ({s}) serves"
        elif "service" in classes:
            because = f"{s} is a service port and {c} is not"
        elif classes == {"ephemeral", "other"}:
            because = f"{c} is in the client pool and {s} is not"
        else:
            because = f"neither is a service port, and the lower one ({s}) serves"
        return f"inferred from the ports: {because}; {client.address} is most likely the client"
    return "unknown: neither the log nor the ports say who opened it; the source is taken as the client"

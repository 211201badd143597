"""OpenSSH's sshd lines in an auth log: who connected to sshd, from which address and source port.

The lines sshd writes (OpenSSH auth.c auth_log(), sshd.c, packet.c; ``LogLevel INFO`` unless noted):

    Accepted publickey for alice from 203.0.113.7 port 56744 ssh2: ED25519 SHA256:...
    Failed password for invalid user admin from 203.0.113.7 port 56744 ssh2
    Invalid user admin from 203.0.113.7 port 56744
    Connection closed by authenticating user root 203.0.113.7 port 56744 [preauth]
    Disconnected from user alice 203.0.113.7 port 56744
    Received disconnect from 203.0.113.7 port 56744:11: Bye Bye [preauth]
    Connection from 203.0.113.7 port 56744 on 192.0.2.10 port 22 rdomain ""      (LogLevel VERBOSE)

``src`` is the peer and its (ephemeral) source port, ``initiator`` observed (the peer connected to
sshd), ``direction`` inbound, protocol tcp, ``service`` ssh, ``user`` the account named, ``process``
sshd and its pid. ``action``: allow for Accepted, deny for Failed, Invalid user and the "maximum
authentication attempts" error, unknown for the rest. ``rule`` names the event (``failed password``).

The server's own port is only written by the VERBOSE ``Connection from A port P on B port Q`` line:
then ``dst`` is B and Q for that line and for the later lines of the same sshd process (its pid
serves one connection). Otherwise ``dst_port`` stays null: sshd may listen on any port, and 22 would
be a guess. "Server listening on ... port N" lines are no connections and are skipped, like other
programs' lines and sshd lines without a peer (pam_unix, "Received signal").

The line's envelope (syslog RFC 3164/5424, journalctl short/short-iso) is read by :mod:`_syslog`;
times without a zone or year follow ``options["timezone"]``/``options["year"]`` as there. With
``UseDNS yes`` sshd writes the peer's host name: it is kept only as text would be, so ``src_addr``
stays null (portscope resolves nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from portscope.sources import ReadContext
from portscope.sources._records import BadRecord, Rows
from portscope.sources._syslog import TimeContext, parse_envelope
from portscope.sources._tabular import line_chunks, parse_port, valid_ip

READS_ROWS = True  # honours ReadContext.as_rows (through Rows)
NAME = "ssh_auth"
DESCRIPTION = "OpenSSH sshd auth log lines (Accepted/Failed/Invalid user/Connection from ...)"

_PEER = r"(?P<addr>\S+) port (?P<port>[^\s:]+)"
_FOR = rf"(?:invalid user )?(?P<user>.*?) from {_PEER}(?: |$)"
_WHO = r"(?:(?P<who>user|authenticating user|invalid user) (?P<user>.*?) )?"
# (event name for rule, action, pattern), tried in order; the first that matches decides.
_EVENTS: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (name, action, re.compile(pattern))
    for name, action, pattern in (
        ("accepted", "allow", rf"Accepted (?P<method>\S+) for (?P<user>.*?) from {_PEER}(?: ssh2)?(?::|$| )"),
        ("failed", "deny", rf"Failed (?P<method>\S+) for (?:(?P<who>invalid user) )?(?P<user>.*?) from {_PEER}(?: |$)"),
        ("invalid user", "deny", rf"Invalid user (?P<user>.*?) from {_PEER}(?: |$)"),
        ("too many attempts", "deny", rf"(?:error: )?maximum authentication attempts exceeded for {_FOR}"),
        ("connection", "unknown", rf"Connection from {_PEER} on (?P<local>\S+) port (?P<lport>[^\s:]+)"),
        ("connection closed", "unknown", rf"Connection closed by {_WHO}{_PEER}(?: |$)"),
        ("connection reset", "unknown", rf"Connection reset by {_WHO}{_PEER}(?: |$)"),
        ("disconnected", "unknown", rf"Disconnected from {_WHO}{_PEER}(?: |$)"),
        ("disconnecting", "unknown", rf"Disconnecting {_WHO}{_PEER}(?::| |$)"),
        ("received disconnect", "unknown", rf"Received disconnect from {_PEER}(?::| |$)"),
        ("postponed", "unknown", rf"Postponed (?P<method>\S+) for (?P<user>.*?) from {_PEER}(?: |$)"),
        ("timeout", "unknown", rf"Timeout before authentication for (?:connection from )?{_PEER}(?: |$)"),
        ("unable to negotiate", "unknown", rf"Unable to negotiate with {_PEER}(?::| |$)"),
        ("no identification", "unknown", rf"Did not receive identification string from {_PEER}(?: |$)"),
        ("banner exchange", "unknown", rf"banner exchange: Connection from {_PEER}(?::| |$)"),
    )
)  # fmt: skip
_PID = re.compile(rb"\bsshd(?:-session)?\[(\d{1,10})\]: ")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}\.?")


def sniff(head: bytes, label: str) -> int:
    """85 when sshd lines naming a peer and its port are among the first lines, else 0.

    A syslog that holds more kernel packet log lines (``IN=... SRC=``) than sshd ones is a firewall
    log with a few sshd lines in it: 0, so the packet log reader gets it.
    """
    lines = head.split(b"\n")[:200]
    hits = sum(1 for line in lines if _PID.search(line) and b" port " in line)
    packets = sum(1 for line in lines if b"IN=" in line and b" SRC=" in line)
    return 85 if hits > packets else 0


def read(stream: BinaryIO, ctx: ReadContext) -> Iterator[Any]:
    """Rows for sshd's connection and authentication lines; other lines skipped, broken ones bad."""
    times = TimeContext(ctx.options, ctx.stats.dating)
    rows = Rows(NAME, ctx)
    local: dict[int, tuple[str | None, int | None]] = {}  # sshd pid -> its connection's server address and port
    number = 0
    skipped = 0
    for chunk in line_chunks(stream):
        if chunk is None:
            number += 1
            ctx.stats.reject(ctx.label, number, "malformed line", "longer than 16 MiB")
            continue
        lines = chunk.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        for raw in lines:
            number += 1
            pid = _PID.search(raw)
            if pid is None:
                skipped += raw.strip() != b""
                continue
            try:
                values = _row(raw.rstrip(b"\r"), int(pid[1]), times, local)
            except ValueError as exc:
                ctx.stats.reject(ctx.label, number, getattr(exc, "kind", "malformed line"), str(exc))
                continue
            if values is None:
                skipped += 1
                continue
            ctx.stats.good += 1
            yield from rows.add(values, number)
    yield from rows.flush()
    ctx.stats.count_skipped(skipped)


def _row(
    raw: bytes, pid: int, times: TimeContext, local: dict[int, tuple[str | None, int | None]]
) -> dict[str, Any] | None:
    """The flow columns of one sshd line, None for an sshd line about no connection; BadRecord when broken."""
    try:
        envelope = parse_envelope(raw, times)
    except ValueError as exc:
        raise BadRecord("bad timestamp", str(exc)) from exc
    message = envelope.message.decode("utf-8", "replace")
    at = _PID.search(envelope.message)
    if at is not None:  # no envelope was recognised: the message still starts with the tag
        message = envelope.message[at.end() :].decode("utf-8", "replace")
    for name, action, pattern in _EVENTS:
        match = pattern.match(message)
        if match is None:
            continue
        fields = match.groupdict()
        peer = fields["addr"]
        try:
            source_port = parse_port(fields["port"])
        except ValueError as exc:
            raise BadRecord("bad port", f"peer port: {exc}") from exc
        if not valid_ip(peer) and not _HOSTNAME.fullmatch(peer):
            raise BadRecord("bad address", f"peer {peer!r} is neither an address nor a host name")
        if name == "connection":
            local[pid] = _local(fields["local"], fields["lport"])
        server, server_port = local.get(pid, (None, None))
        method = fields.get("method")
        return {
            "start": envelope.start,
            "observer": envelope.host,
            "protocol": "tcp",
            "ip_proto": 6,
            "src_addr": peer if valid_ip(peer) else None,
            "src_port": source_port,
            "dst_addr": server,
            "dst_port": server_port,
            "action": action,
            "direction": "inbound",
            "initiator": "observed",
            "service": "ssh",
            "rule": f"{name} {method}" if method else name,
            "user": fields.get("user") or None,
            "process_name": "sshd",
            "process_pid": pid,
        }
    return None


def _local(address: str, port: str) -> tuple[str | None, int | None]:
    try:
        return (address if valid_ip(address) else None), parse_port(port)
    except ValueError as exc:
        raise BadRecord("bad port", f"local port: {exc}") from exc

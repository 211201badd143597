"""``portscope explain``: every port, explained in an instant."""

from __future__ import annotations

import argparse
import sys

from portscope._words import count
from portscope.errors import PortSpecError

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run"]

_HELP = "explain ports: IANA range and registry, OS ephemeral ranges, this host's range, likely role"
_DESCRIPTION = """\
Explain each PORT: its IANA range (system 0-1023, user 1024-49151, dynamic 49152-65535, RFC 6335),
its IANA registry entries, what /etc/services and nmap-services say, whether it lies in each common
OS's ephemeral range and in this host's real one, and so what role it most likely plays: a service,
or the client side of one outgoing connection. Then how to see who uses it right now.

PORT is a number (56744), NUMBER/PROTO (443/udp; tcp, udp, sctp or dccp), a range (49152-49160),
or a service name (ssh, https/udp). Without a protocol, TCP and UDP are both explained.

Or paste one log line, quoted, of any format portscope reads (iptables/UFW/nftables, pfSense,
Windows Firewall, Zeek conn, Suricata eve, AWS VPC, sshd...): both ports are named, which side is
the client and its ephemeral port, and the most likely reason the line was written (a late reply
after conntrack forgot the connection, a scan probe, a blocked client...), judged exactly as
`portscope analyze` judges the same row.
"""

# The longest port spec is a 15-character service name with /sctp (RFC 6335 section 5.1).
_LONGEST_SPEC = 40


def add_parser(commands: Any) -> None:
    from portscope.cli import HelpFormatter
    from portscope.ports.ranges import os_names

    parser = commands.add_parser(
        "explain",
        help=_HELP,
        description=_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "ports", nargs="+", metavar="PORT", help="56744, 443/udp, 49152-49160, ssh, or one quoted log line"
    )
    parser.add_argument(
        "--os",
        dest="os_name",
        metavar="OS",
        help=f"judge the role by this OS's ephemeral range instead of this host's ({', '.join(os_names())})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document (portscope docs explain-json)")
    parser.add_argument("--limit", type=int, default=20, help="assignments listed per range in text (default 20)")
    parser.add_argument(
        "--no-live", action="store_true", help="do not look at this host's sockets (who uses the port right now)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    dump = getattr(args, "early", None)
    from portscope.cli import EXIT_OK, EXIT_USAGE
    from portscope.errors import UsageError
    from portscope.explain import explain_query
    from portscope.ports.iana import registry
    from portscope.ports.ranges import client_range
    from portscope.ports.spec import parse_port_spec
    from portscope.render.sanitize import for_terminal

    if args.os_name is not None:
        try:
            client_range(args.os_name)
        except UsageError as exc:
            raise UsageError(f"--os: {exc}") from exc
    results: list[tuple[str, Any]] = []
    errors: list[tuple[str, str]] = []
    for argument in args.ports:
        if is_log_line(argument):
            from portscope._pyarrow_alone import pyarrow_without_pandas
            from portscope.explain_line import explain_line

            pyarrow_without_pandas(when_imported=True)  # if the line's reader builds Arrow arrays: no pandas

            try:
                results.append((argument, explain_line(argument, os=args.os_name)))
            except UsageError as exc:
                errors.append((argument, str(exc)))
                print(f"portscope explain: log line: {for_terminal(str(exc))}", file=sys.stderr)
            continue
        try:
            queries = parse_port_spec(argument)
        except PortSpecError as exc:
            errors.append((exc.argument, exc.reason))
            print(f"portscope explain: {for_terminal(str(exc))}", file=sys.stderr)
            continue
        results += [(argument, explain_query(q, args.os_name)) for q in queries]
    registry_date = registry().as_of
    live = {} if args.no_live else _who_now([e for _, e in results], dump)
    if args.json:
        from portscope.render.json_doc import EXPLAIN_SCHEMA, dumps

        document = {
            "schema": EXPLAIN_SCHEMA,
            "registry_as_of": registry_date,
            "os": args.os_name,
            "results": [_result_json(q, e, live) for q, e in results],
            "errors": [{"argument": argument, "error": reason} for argument, reason in errors],
        }
        print(dumps(document))
    elif results:
        from portscope.render.style import Style

        style = Style.for_stream(sys.stdout)
        print("\n\n".join(_result_text(e, style, registry_date, args.limit, live) for _, e in results))
    return EXIT_USAGE if errors else EXIT_OK


def is_log_line(argument: str) -> bool:
    """A log line rather than a port spec: it has ``=`` or ``{``, is longer than any spec, or has
    whitespace that is not the spaces around a range's dash (``49152 - 49160``)."""
    text = argument.strip()
    if "=" in text or "{" in text or len(text) > _LONGEST_SPEC:
        return True
    if not any(c.isspace() for c in text):
        return False
    low, _, high = "".join(text.split()).partition("/")[0].partition("-")
    return not (low.isdigit() and high.isdigit())


def _result_json(query: str, exp: Any, live: dict[tuple[int, tuple[str, ...]], Any]) -> dict[str, Any]:
    from portscope.records import PortExplanation, RangeExplanation
    from portscope.render.json_doc import explanation_to_json

    if isinstance(exp, (PortExplanation, RangeExplanation)):
        return _with_live(explanation_to_json(query, exp), live, exp)
    document: dict[str, Any] = {**exp.as_dict(), "query": query}  # a LineExplanation
    return document


def _result_text(exp: Any, style: Any, registry_date: str, limit: int, live: dict[Any, Any]) -> str:
    from portscope.records import PortExplanation, RangeExplanation
    from portscope.render.explain_text import render_explanation, render_line_explanation

    if isinstance(exp, (PortExplanation, RangeExplanation)):
        return render_explanation(exp, style, registry_date=registry_date, limit=limit, now=_now_lines(live, exp))
    return render_line_explanation(exp, style)


def early(words: list[str]) -> Any:
    """Called before the parser is built: this host's sockets, being dumped on the other core while
    the command starts and explains (Linux), when some argument may be a port whose users are looked up
    (``--no-live`` not given); else None. What ``run`` then finds in ``args.early``."""
    if "--no-live" in words or "-h" in words or "--help" in words or not sys.platform.startswith("linux"):
        return None
    if all(word.startswith("-") or is_log_line(word) for word in words):
        return None
    from portscope.host._netlink import start_dump

    return start_dump()


def _who_now(explanations: list[Any], dump: Any = None) -> dict[tuple[int, tuple[str, ...]], Any]:
    """For each explained port, the sockets that use it now (empty where the OS does not let us look);
    ``dump``: the socket dump :func:`early` started, shared by every port."""
    from portscope.errors import PortscopeError
    from portscope.host.port_users import port_users
    from portscope.records import PortExplanation

    out: dict[tuple[int, tuple[str, ...]], Any] = {}
    for exp in explanations:
        if isinstance(exp, PortExplanation) and (exp.port, exp.protocols) not in out:
            try:
                out[(exp.port, exp.protocols)] = port_users(exp.port, exp.protocols, dump=dump)
            except PortscopeError:
                continue
    return out


def _with_live(document: dict[str, Any], live: dict[tuple[int, tuple[str, ...]], Any], exp: Any) -> dict[str, Any]:
    users = live.get((getattr(exp, "port", -1), exp.protocols))
    if document["kind"] == "port":
        document["in_use"] = None if users is None else [u._asdict() for u in users.uses]
    return document


_SHOWN = 6


def _now_lines(live: dict[tuple[int, tuple[str, ...]], Any], exp: Any) -> list[str] | None:
    from portscope.render.sanitize import for_terminal

    users = live.get((getattr(exp, "port", -1), exp.protocols))
    if users is None:
        return None
    if not users.uses:
        return [f"nothing on this host uses {exp.port}/{'+'.join(exp.protocols)} right now"]
    lines = []
    for use in users.uses[:_SHOWN]:
        who = f"{for_terminal(use.process or '?')} [{use.pid}]" if use.pid is not None else "no visible process"
        remote = f" -> {use.remote_address}:{use.remote_port}" if use.remote_address is not None else ""
        lines.append(f"{who}: {use.protocol} {use.local_address}:{use.local_port}{remote} {use.state}")
    if len(users.uses) > _SHOWN:
        lines.append(f"... {len(users.uses) - _SHOWN} more: portscope live --port {exp.port}")
    if users.hidden_owners:
        lines.append(f"{count(users.hidden_owners, 'socket')}: owner hidden without root")
    return lines

"""``portscope live`` (the full socket table) and ``portscope`` with no command (the one-screen summary)."""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "add_snapshot_options", "run_live", "run_summary", "socket_filter"]

_DESCRIPTION = """\
Every TCP and UDP socket of this host (IPv4 and IPv6, every state) with its owning process, and a
role for each: listen (with its exposure: loopback, all interfaces, or addresses), inbound (accepted
from a listener), outbound (opened by this host), client (a UDP socket a client bound to an
ephemeral port: not a listener), peer (both sides ephemeral) or unknown. A '?' after a role marks
one inferred from port numbers rather than read from the kernel's state.

Without root, sockets of other users' processes show no owner, and say so.
"""

_EPILOG = """\
examples:
  portscope live                       the whole table
  portscope live --listen              listeners only, with their exposure
  portscope live --port 443 --tcp      sockets with 443 on either side
  portscope live --process firefox     one program's sockets
  portscope live --role outbound --json
  portscope live --csv > sockets.csv   (cells safe to open in a spreadsheet)
"""


def add_snapshot_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``live`` and the summary: how to take the snapshot."""
    parser.add_argument("--no-process", action="store_true", help="skip the owner lookup (faster; no pids)")
    parser.add_argument(
        "--backend", choices=("netlink", "psutil"), help="force a socket back-end (default: netlink on Linux)"
    )
    parser.add_argument(
        "--this-namespace",
        action="store_true",
        help="only this network namespace (default, as root: every namespace, containers included)",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON document, an object per socket (portscope docs live)"
    )
    parser.add_argument(
        "--columnar", action="store_true", help="with --json: each socket an array under socket_fields (smaller)"
    )
    limits = parser.add_argument_group("ephemeral-port health thresholds (fractions, 0-1; portscope docs live)")
    limits.add_argument(
        "--warn-destination", type=_fraction, default=0.5, metavar="F",
        help="one destination's share of the ephemeral pool that is a finding (default 0.5)",
    )  # fmt: skip
    limits.add_argument(
        "--critical-destination", type=_fraction, default=0.8, metavar="F",
        help="the share that makes it a high-severity finding (default 0.8)",
    )  # fmt: skip
    limits.add_argument(
        "--warn-time-wait", type=_fraction, default=0.5, metavar="F",
        help="TIME_WAIT sockets as a share of the range that is a finding (default 0.5)",
    )  # fmt: skip
    limits.add_argument(
        "--warn-conntrack", type=_fraction, default=0.8, metavar="F",
        help="conntrack table fill that is a finding (default 0.8)",
    )  # fmt: skip


def _fraction(text: str) -> float:
    """An argparse type: a number from 0 to 1 (a share of a pool)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a fraction from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is out of range; give a fraction from 0 to 1")
    return value


def thresholds(args: argparse.Namespace) -> Any:
    from portscope.host.health import HealthThresholds

    return HealthThresholds(
        destination_warn=args.warn_destination,
        destination_critical=max(args.critical_destination, args.warn_destination),
        time_wait_warn=args.warn_time_wait,
        conntrack_warn=args.warn_conntrack,
    )


def add_parser(commands: Any) -> None:
    from portscope.cli import HelpFormatter
    from portscope.host.filters import ROLES, STATES

    parser = commands.add_parser(
        "live",
        help="this host's sockets with owning process and role, like ss -tuanp / lsof -i",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    add_snapshot_options(parser)
    parser.add_argument("--csv", action="store_true", help="CSV, one socket a row")
    parser.add_argument("--wide", action="store_true", help="add namespace and the reason for each role")
    filters = parser.add_argument_group("filters (all must hold)")
    filters.add_argument(
        "--port", action="append", metavar="PORT", help="local or remote port: 443, ssh, 8000-8010 (repeatable)"
    )
    filters.add_argument("--pid", type=int, action="append", metavar="PID", help="owned by PID (repeatable)")
    filters.add_argument("--process", metavar="NAME", help="process name contains NAME (case-insensitive)")
    filters.add_argument("--state", metavar="STATE[,STATE]", help=f"kernel state: {', '.join(STATES)}")
    filters.add_argument("--role", metavar="ROLE[,ROLE]", help=f"role: {', '.join(ROLES)}")
    filters.add_argument("--listen", action="store_true", help="listeners only (same as --role listen)")
    filters.add_argument("--tcp", action="store_true", help="TCP only")
    filters.add_argument("--udp", action="store_true", help="UDP only")
    filters.add_argument("-4", dest="ipv4", action="store_true", help="IPv4 only")
    filters.add_argument("-6", dest="ipv6", action="store_true", help="IPv6 only")
    parser.set_defaults(run=run_live)


def socket_filter(args: argparse.Namespace) -> Any:
    """The command line's filters as a :class:`~portscope.host.filters.SocketFilter` (UsageError when bad)."""
    from portscope.host.filters import SocketFilter

    return SocketFilter.parse(
        ports=args.port or (),
        pids=args.pid or (),
        process=args.process,
        states=args.state,
        roles=args.role,
        listen=args.listen,
        tcp=args.tcp,
        udp=args.udp,
        ipv4=args.ipv4,
        ipv6=args.ipv6,
    )


def early(words: list[str]) -> Any:
    """Called before the parser is built (``portscope live ...`` and the summary): the /proc walk for
    sockets' owners, started now on the other core (Linux; not for ``--no-process``, ``--backend
    psutil`` or ``--help``), so that the slowest step of a snapshot runs while the command starts up.
    What :func:`_take` finds in ``args.early``."""
    if not sys.platform.startswith("linux") or {"--no-process", "-h", "--help", "--version"} & set(words):
        return None
    if "psutil" in words:  # --backend psutil (or a word that only looks like it: no walk is no harm)
        return None
    from portscope.host._procfs import SharedOwnerWalk

    return SharedOwnerWalk()


def _take(args: argparse.Namespace) -> Any:
    from portscope.host.sockets import snapshot

    return snapshot(
        processes=not args.no_process,
        backend=args.backend,
        all_namespaces=not args.this_namespace,
        owner_walk=getattr(args, "early", None),
    )


def run_live(args: argparse.Namespace) -> int:
    from portscope._gc import collector_paused

    with collector_paused():  # a snapshot is 100,000 rows of small objects, none of them garbage
        return _live(args)


def _live(args: argparse.Namespace) -> int:
    from portscope.host.health import ephemeral_health, health_findings

    wanted = socket_filter(args)  # a bad filter is said before the snapshot is taken
    snap = _take(args)
    indices = wanted.select(snap.table)
    table = snap.table if len(indices) == len(snap.table) else snap.table.take(indices)  # no filter: no copy
    if args.json:
        from portscope.render.live_json import write_json

        limits = thresholds(args)
        health = ephemeral_health(snap, limits)
        write_json(sys.stdout, snap, table, health, health_findings(snap, health, limits), columnar=args.columnar)
    elif args.csv:
        from portscope.render.live_json import write_csv

        write_csv(sys.stdout, table)
    else:
        from portscope.render.live_text import render_socket_table
        from portscope.render.style import Style

        print(render_socket_table(table, Style.for_stream(sys.stdout), wide=args.wide))
        for note in snap.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from portscope._gc import collector_paused

    with collector_paused():
        return _summary(args)


def _summary(args: argparse.Namespace) -> int:
    from portscope.host.health import ephemeral_health, health_findings
    from portscope.host.summary import summarize

    snap = _take(args)
    limits = thresholds(args)
    health = ephemeral_health(snap, limits)
    findings = health_findings(snap, health, limits)
    if args.json:
        from portscope.render.live_json import write_json

        write_json(sys.stdout, snap, snap.table, health, findings, columnar=args.columnar)
        return 0
    from portscope.render.live_text import render_summary
    from portscope.render.style import Style

    print(render_summary(snap, summarize(snap), health, findings, Style.for_stream(sys.stdout)))
    return 0

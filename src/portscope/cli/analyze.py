"""``portscope analyze``: why these ports are in a log, what is normal, what is not."""

from __future__ import annotations

import argparse
import sys

from portscope._words import count

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Analyse logs, captures and flow tables (every format portscope convert reads, or the Parquet it
writes): every port explained (a service, the ephemeral client side of one, or unexplained), the
ephemeral noise collapsed into services, top talkers, a timeline, and findings with their evidence
(file:line): port scans (slow ones too), unsolicited inbound traffic to ephemeral ports and
listeners on them, ephemeral-to-ephemeral flows, protocols on non-standard ports, beaconing,
ephemeral-port exhaustion, brute force, denied-then-allowed, and ports new since a baseline.

Direction first: replies (late ACKs a firewall dropped after conntrack forgot the connection, a flow
log's return half) are explained, never findings. Runs on DuckDB here, or on Spark (--engine spark).
Thresholds: portscope docs analyze; JSON: portscope docs analyze-json.
"""

_EPILOG = """\
examples:
  portscope analyze /var/log/ufw.log*                 what is in my firewall log?
  portscope analyze conn.log --html report.html       a report to look at, with plots
  portscope analyze flows.parquet --json --fail-on medium   for CI and cron (exit 1 on findings)
  portscope analyze today.parquet --baseline last-month.parquet   ports never seen before
  portscope analyze 's3a://logs/flows/' --engine spark --spark-master spark://head:7077
exit codes: 0 no finding at or above --fail-on, 1 such findings, 2 bad usage or input.
"""


def add_parser(commands: Any) -> None:
    from portscope.cli import HelpFormatter
    from portscope.cli._reading import add_reading_options
    from portscope.findings import SEVERITIES
    from portscope.ports.ranges import os_names

    parser = commands.add_parser(
        "analyze",
        help="explain the ports in logs, captures and flow tables; find scans, beacons, backdoors",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="file, glob, directory, Parquet flow table, or -")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="where to compute (duckdb)")
    parser.add_argument("--spark-master", metavar="URL", help="Spark master (default local[2]); implies --engine spark")
    parser.add_argument(
        "--os",
        default="any",
        metavar="OS",
        help=f"whose ephemeral range clients use: any (default: 32768-65535, Linux's and the others'), "
        f"{', '.join(os_names())}",
    )
    parser.add_argument(
        "--host-os",
        action="append",
        default=[],
        metavar="ADDR=OS",
        help="one host's OS or client port range (10.0.0.5=windows, 192.0.2.1=1024-65535 for a NAT), "
        "used for its side of a flow instead of --os; repeat it, or give @FILE of such lines",
    )
    parser.add_argument("--baseline", metavar="FLOWS.parquet", help="report service ports this flow table never saw")
    parser.add_argument(
        "--fail-on",
        default="high",
        choices=SEVERITIES,
        help="exit 1 when a finding is at least this severe (default high)",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a threshold (portscope docs analyze), e.g. vertical_ports=20",
    )
    parser.add_argument("--evidence", type=int, default=20, metavar="N", help="flows shown per finding (20)")
    parser.add_argument("--top", type=int, default=20, metavar="N", help="rows of services and talkers shown (20)")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with plots")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (portscope docs analyze-json)")
    parser.add_argument("-q", "--quiet", action="store_true", help="say nothing on stderr on success")
    add_reading_options(parser)
    parser.set_defaults(run=run)


def options_from(args: argparse.Namespace) -> Any:
    """AnalyzeOptions from the command line; UsageError for a bad --os or --threshold."""
    import dataclasses

    from portscope.analyze.options import AnalyzeOptions, Thresholds
    from portscope.errors import UsageError
    from portscope.ports.host_ranges import parse_host_ranges
    from portscope.ports.ranges import DEFAULT_POOL_SIZE, parse_client_range

    chosen = parse_client_range(args.os, "--os")
    # Exhaustion is measured against one OS's pool: --os's, or with any OS, Linux's (the smaller).
    pool = chosen.size if args.os != "any" else DEFAULT_POOL_SIZE
    changes: dict[str, Any] = {}
    fields = {f.name: f.type for f in dataclasses.fields(Thresholds)}
    for pair in args.threshold:
        name, sep, value = pair.partition("=")
        if not sep or name not in fields:
            raise UsageError(f"--threshold {pair!r}: write NAME=VALUE; names: {', '.join(fields)}")
        try:
            changes[name] = int(value) if fields[name] in (int, "int") else float(value)
        except ValueError as error:
            raise UsageError(f"--threshold {pair!r}: {value!r} is not a number") from error
    if args.evidence < 1 or args.top < 1:
        raise UsageError("--evidence and --top take a positive number")
    return AnalyzeOptions(
        progress=_progress_line() if sys.stderr.isatty() else None,
        engine="spark" if args.spark_master else args.engine,
        spark_master=args.spark_master,
        os=args.os,
        ephemeral=(chosen.low, chosen.high),
        pool_size=pool,
        host_ranges=parse_host_ranges(args.host_os),
        baseline=args.baseline,
        fail_on=args.fail_on,
        evidence=args.evidence,
        top=args.top,
        thresholds=Thresholds(**changes),
    )


def _progress_line() -> Any:
    """Each step's name on one line of the terminal, rewritten in place (a 10-million-flow run takes
    half a minute); nothing when stderr is not a terminal."""
    import time

    started = time.monotonic()

    def show(step: str) -> None:
        sys.stderr.write(f"\r\x1b[Kportscope analyze: {step} ({time.monotonic() - started:.0f} s)")
        sys.stderr.flush()

    return show


def _clear_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from portscope.analyze.report import analyze
    from portscope.cli import EXIT_FINDINGS, EXIT_OK
    from portscope.cli._reading import read_options
    from portscope.render.sanitize import for_terminal

    options = options_from(args)
    reading = read_options(args)
    try:
        report = analyze(args.inputs, options, format=args.source_format, read_options=reading)
    finally:
        _clear_progress()
    if args.html:
        from portscope.render.analyze_html import render_html
        from portscope.render.output import output_file

        with output_file(args.html, "w", encoding="utf-8") as out:
            out.write(render_html(report))
        if not args.quiet and args.html != "-":
            found = count(len(report["findings"]), "finding", grouped=True)
            print(f"portscope analyze: wrote {for_terminal(args.html)} ({found})", file=sys.stderr)
    if args.json:
        from portscope.render.analyze_json import write_json

        sys.stdout.flush()
        write_json(sys.stdout.buffer, report)
        sys.stdout.flush()
    else:
        from portscope.render.analyze_text import render_text
        from portscope.render.style import Style

        sys.stdout.write(render_text(report, Style.for_stream(sys.stdout), top=options.top))
    for skipped in report.get("inputs_skipped") or ():
        print(
            f"portscope analyze: {for_terminal(skipped['input'])}: {for_terminal(skipped['reason'])} (skipped)",
            file=sys.stderr,
        )
    for item in report["inputs"]:
        if item["bad_records"]:
            first = f"; the first: {for_terminal(item['bad_examples'][0])}" if item.get("bad_examples") else ""
            bad = count(item["bad_records"], "malformed record", grouped=True)
            print(f"portscope analyze: {for_terminal(item['path'])}: {bad} skipped{first}", file=sys.stderr)
    return EXIT_FINDINGS if report.get("failed") else EXIT_OK

"""``portscope convert``: logs, captures and scans in, one flow table out (Parquet, CSV, JSON lines)."""

from __future__ import annotations

import argparse
import sys

from portscope._words import count
from portscope.errors import DataError, PortscopeError, UsageError

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Read firewall logs (iptables, ufw, nftables, pfSense, Windows Firewall), Zeek conn.log, Suricata
eve.json, AWS VPC flow logs, nfdump CSV, pcap/pcapng captures, nmap/masscan results, OpenSSH auth
logs, Sysmon/Windows events, or any CSV with --map, into one flow table (portscope docs schema).

The format of each input is detected from its content; gzip, bzip2, xz and zstd are read
transparently; INPUT may be a file, a glob, a directory or - for standard input. Malformed records
are counted and reported (the first few as file:line: what), never fatal unless --strict.
"""

_EPILOG = """\
examples:
  portscope convert /var/log/ufw.log* -o flows.parquet
  portscope convert capture.pcapng -o flows.csv --community-id
  journalctl -k -o json | portscope convert - -o kernel.jsonl
  portscope convert fw.csv --format csv_mapped --map src_addr=SourceIP --map dst_port=DPort -o fw.parquet
"""


def add_parser(commands: Any) -> None:
    from portscope.cli import HelpFormatter
    from portscope.cli._reading import add_reading_options

    parser = commands.add_parser(
        "convert",
        help="read logs, captures and scans into one flow table (Parquet, CSV, JSON lines)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="file, glob, directory, or - for stdin")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="out.parquet, out.csv, out.jsonl, or - for stdout"
    )
    parser.add_argument(
        "--to", choices=("parquet", "csv", "jsonl"), help="output format (default: from OUT's extension)"
    )
    parser.add_argument("--strict", action="store_true", help="any malformed record is an error (exit 2)")
    parser.add_argument("--community-id", action="store_true", help="compute each flow's Community ID (~1 us a flow)")
    parser.add_argument("--batch-size", type=int, default=65536, metavar="N", help="rows per batch (memory bound)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary of the run on stdout (with -o FILE)")
    parser.add_argument("-q", "--quiet", action="store_true", help="say nothing on success (no 'wrote N flows')")
    add_reading_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from portscope._pyarrow_alone import pyarrow_without_pandas
    from portscope.cli import EXIT_OK, EXIT_USAGE
    from portscope.cli._reading import read_options
    from portscope.flows import flow_schema
    from portscope.render.flow_writers import FlowWriter, format_for
    from portscope.render.output import STDOUT, output_file
    from portscope.sources import ParseStats, read_flows, source

    pyarrow_without_pandas()
    fmt = args.to or format_for(args.output)
    if fmt is None:
        raise UsageError(
            f"cannot tell the output format of {args.output!r}; name it .parquet, .csv or .jsonl, or give --to"
        )
    if args.output == STDOUT and args.json:
        raise UsageError("--json prints a summary on stdout; write the flows to a file (-o FILE)")
    if args.inputs.count("-") > 1:
        raise UsageError("- (standard input) is given more than once; it can be read only once")
    options = read_options(args)
    if args.source_format is not None:
        source(args.source_format)
    stats = ParseStats(strict=args.strict)
    progress = sys.stderr.isatty() and not args.quiet
    failure: PortscopeError | None = None
    rows = 0
    try:
        with output_file(args.output) as out, FlowWriter(out, fmt, flow_schema()) as writer:
            batches = read_flows(
                args.inputs, format=args.source_format, stats=stats, batch_size=args.batch_size, options=options
            )
            if args.community_id:
                from portscope.community_id import add_community_id

                batches = map(add_community_id, batches)
            for batch in batches:
                writer.write(batch)
                if progress:
                    print(f"\r{writer.rows:,} flows", end="", file=sys.stderr, flush=True)
            if not stats.good and stats.skipped_inputs:
                raise DataError(
                    "no input could be read: " + "; ".join(f"{s.label}: {s.reason}" for s in stats.skipped_inputs)
                )
            if args.strict and (stats.bad or stats.skipped):
                raise DataError(
                    f"--strict: {count(stats.bad, 'malformed record')} and "
                    f"{count(stats.skipped, 'line')} that are no record; "
                    "nothing written"
                )
            writer.close()
            rows = writer.rows
    except PortscopeError as error:
        failure = error
    if progress:
        print(file=sys.stderr)
    _report(args, stats, failure)
    if failure is None and not args.quiet and args.output != STDOUT:
        dated = stats.dating.sentence()
        print(
            f"portscope convert: wrote {count(rows, 'flow', grouped=True)} to {_shown(args.output)}"
            + (f"; {dated}" if dated else ""),
            file=sys.stderr,
        )
    if args.json:
        _print_summary(args, fmt, rows, stats, failure)
    return EXIT_OK if failure is None else EXIT_USAGE


def _shown(path: str) -> str:
    from portscope.render.sanitize import for_terminal

    return for_terminal(path)


def _report(args: argparse.Namespace, stats: Any, failure: PortscopeError | None) -> None:
    """Stderr: each skipped input, the malformed records (the first few), and the failure, one line each."""
    from portscope.render.sanitize import for_terminal

    for skipped in stats.skipped_inputs:
        print(
            f"portscope convert: {for_terminal(skipped.label)}: {for_terminal(skipped.reason)} (skipped)",
            file=sys.stderr,
        )
    if stats.bad:
        kinds = ", ".join(f"{kind} {n}" for kind, n in stats.kinds.most_common())
        print(
            f"portscope convert: {count(stats.bad, 'malformed record')} skipped ({kinds}); the first:", file=sys.stderr
        )
        for example in stats.examples:
            print(f"  {for_terminal(example)}", file=sys.stderr)
    if failure is not None:
        print(f"portscope convert: {for_terminal(str(failure))}", file=sys.stderr)


def _print_summary(args: argparse.Namespace, fmt: str, rows: int, stats: Any, failure: PortscopeError | None) -> None:
    import json

    summary = {
        "schema": "portscope.convert/1",
        "output": args.output,
        "format": fmt,
        "flows": rows,
        "good_records": stats.good,
        "bad_records": stats.bad,
        "skipped_lines": stats.skipped,
        "bad_by_kind": dict(stats.kinds),
        "examples": stats.examples,
        "inputs_skipped": [{"input": s.label, "reason": s.reason} for s in stats.skipped_inputs],
        "dating": stats.dating.as_dict(),
        "ok": failure is None,
        "error": None if failure is None else str(failure),
    }
    print(json.dumps(summary, indent=2))

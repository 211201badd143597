"""``portscope convert``: logs, captures and scans in, one flow table out (Parquet, CSV, JSON lines)."""

from __future__ import annotations

import argparse
import sys

from portscope.errors import DataError, PortscopeError, UsageError

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Read firewall logs (iptables, ufw, nftables, pfSense, Windows Firewall), Zeek conn.log, Suricata
eve.json, AWS VPC flow logs, nfdump CSV, pcap/pcapng captures, nmap/masscan results, OpenSSH auth
logs, Sysmon/Windows events, or any CSV with --map, into one flow table (docs/schema.md).

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
    parser.add_argument("--format", dest="source_format", metavar="NAME", help="input format, instead of detecting it")
    parser.add_argument("--strict", action="store_true", help="any malformed record is an error (exit 2)")
    parser.add_argument("--community-id", action="store_true", help="compute each flow's Community ID (~1 us a flow)")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FLOW=COLUMN",
        help="with --format csv_mapped: which input column fills a flow column",
    )
    parser.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA zone of timestamps written without one (RFC 3164 syslog, nfdump); default UTC",
    )
    parser.add_argument("--year", type=int, metavar="YEAR", help="year of RFC 3164 syslog lines (they carry none)")
    parser.add_argument(
        "--link-header-bytes",
        type=int,
        metavar="N",
        help="Suricata counts frame bytes: subtract N per packet (14 for Ethernet) to fill IP byte counts",
    )
    parser.add_argument("--batch-size", type=int, default=65536, metavar="N", help="rows per batch (memory bound)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary of the run on stdout (with -o FILE)")
    parser.set_defaults(run=run)


def _mapping(pairs: list[str]) -> dict[str, str]:
    from portscope.flows import column_names

    mapping = {}
    valid = column_names()
    for pair in pairs:
        flow, sep, column = pair.partition("=")
        if not sep or not flow or not column:
            raise UsageError(f"--map {pair!r}: write FLOW_COLUMN=INPUT_COLUMN, e.g. src_addr=SourceIP")
        if flow not in valid:
            raise UsageError(f"--map {pair!r}: unknown flow column {flow!r}; valid ones are: {', '.join(valid)}")
        mapping[flow] = column
    return mapping


def run(args: argparse.Namespace) -> int:
    import json

    from portscope._pyarrow_alone import pyarrow_without_pandas
    from portscope.cli import EXIT_USAGE
    from portscope.flows import flow_schema
    from portscope.render.flow_writers import FlowWriter, format_for
    from portscope.render.sanitize import for_terminal
    from portscope.sources import ParseStats, read_flows, source

    pyarrow_without_pandas()
    fmt = args.to or format_for(args.output)
    if fmt is None:
        raise UsageError(
            f"cannot tell the output format of {args.output!r}; name it .parquet, .csv or .jsonl, or give --to"
        )
    if args.output == "-" and args.json:
        raise UsageError("--json prints a summary on stdout; write the flows to a file (-o FILE)")
    options: dict[str, Any] = {"map": _mapping(args.map)} if args.map else {}
    if args.timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(args.timezone)  # an unknown zone is a usage error here, not a failure mid-file
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UsageError(f"--timezone: unknown zone {args.timezone!r}") from exc
        options["timezone"] = args.timezone
    for key in ("year", "link_header_bytes"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.source_format is not None:
        source(args.source_format)
    stats = ParseStats(strict=args.strict)
    progress = sys.stderr.isatty()
    try:
        out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
    except OSError as exc:
        raise DataError(f"{args.output}: cannot write: {exc.strerror or exc}") from exc
    writer = FlowWriter(out, fmt, flow_schema())
    code = 0
    try:
        batches = read_flows(
            args.inputs, format=args.source_format, stats=stats, batch_size=args.batch_size, options=options
        )
        for batch in batches:
            if args.community_id:
                from portscope.community_id import add_community_id

                writer.write(add_community_id(batch))
            else:
                writer.write(batch)
            if progress:
                print(f"\r{writer.rows:,} flows", end="", file=sys.stderr, flush=True)
        writer.close()
    except PortscopeError as exc:
        print(("\n" if progress else "") + f"portscope convert: {for_terminal(str(exc))}", file=sys.stderr)
        code = EXIT_USAGE
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    if progress:
        print(file=sys.stderr)
    if stats.bad:
        kinds = ", ".join(f"{kind} {n}" for kind, n in stats.kinds.most_common())
        print(f"portscope convert: {stats.bad} malformed records skipped ({kinds}); the first:", file=sys.stderr)
        for example in stats.examples:
            print(f"  {for_terminal(example)}", file=sys.stderr)
    if args.json:
        summary = {
            "schema": "portscope.convert/1",
            "output": args.output,
            "format": fmt,
            "flows": writer.rows,
            "good_records": stats.good,
            "bad_records": stats.bad,
            "skipped_lines": stats.skipped,
            "bad_by_kind": dict(stats.kinds),
            "examples": stats.examples,
            "ok": code == 0,
        }
        print(json.dumps(summary, indent=2))
    return code

"""The options that tell the readers how to read, shared by ``convert`` and ``analyze``: one spelling,
one check, one help text for each (a 2023 log is dated the same way whichever command reads it)."""

from __future__ import annotations

import argparse

from portscope.errors import UsageError

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_reading_options", "checked_timezone", "read_options"]


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """--format, --timezone, --year, --map, --vpc-fields and --link-header-bytes, in a group of their own."""
    from portscope.sources import SOURCE_NAMES

    group = parser.add_argument_group("reading the inputs")
    group.add_argument(
        "--format",
        dest="source_format",
        metavar="NAME",
        help=f"input format, instead of detecting it: {', '.join(SOURCE_NAMES)}",
    )
    group.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA zone (Europe/Berlin) of times written without one: RFC 3164 syslog, nfdump, Windows Firewall; "
        "default UTC, and the report says so",
    )
    group.add_argument(
        "--year",
        type=int,
        metavar="YEAR",
        help="year of syslog lines that carry none (RFC 3164); default: the latest that does not put a line "
        "in the future, and the report says which",
    )
    group.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FLOW=COLUMN",
        help="with --format csv_mapped: which input column fills a flow column",
    )
    group.add_argument(
        "--vpc-fields",
        metavar="FIELDS",
        help="AWS VPC flow logs without a header line (CloudWatch exports): their field list, "
        "e.g. 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
        "action log-status'",
    )
    group.add_argument(
        "--link-header-bytes",
        type=int,
        metavar="N",
        help="Suricata counts frame bytes: subtract N per packet (14 for Ethernet) to fill IP byte counts",
    )


def read_options(args: argparse.Namespace) -> dict[str, Any]:
    """The readers' options from the command line, each checked now: a bad one is a usage error before
    any input is read, not a failure in the middle of a file."""
    options: dict[str, Any] = {"map": _mapping(args.map)} if args.map else {}
    if args.timezone:
        options["timezone"] = checked_timezone(args.timezone)
    if args.year is not None:
        if not 1970 <= args.year <= 9999:
            raise UsageError(f"--year: {args.year} is not a year portscope can date a log line in (1970-9999)")
        options["year"] = args.year
    if args.link_header_bytes is not None:
        if not 0 <= args.link_header_bytes <= 65535:
            raise UsageError(f"--link-header-bytes: {args.link_header_bytes} is not a header length (0-65535)")
        options["link_header_bytes"] = args.link_header_bytes
    if args.vpc_fields:
        from portscope.sources.aws_vpc import field_list

        try:
            options["fields"] = field_list(args.vpc_fields)
        except UsageError as exc:
            raise UsageError(f"--vpc-fields: {exc}") from exc
    return options


def checked_timezone(name: str) -> str:
    """An IANA zone name, checked now: an unknown zone is a usage error, not a failure mid-file."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"--timezone: unknown zone {name!r}") from exc
    return name


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

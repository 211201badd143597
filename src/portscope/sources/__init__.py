"""Readers for every input format, registered by name in one place, and the machinery they share.

A source is a module with ``NAME``, ``DESCRIPTION``, ``sniff(head, label) -> int`` (how sure it is,
0-100, that a file starting with ``head`` is its format: content decides, never the file name) and
``read(stream, context) -> Iterator[pyarrow.RecordBatch]`` in the flow schema
(:mod:`portscope.flows`). Adding a format is one module here and one line in :data:`SOURCE_NAMES`.
A source whose ``READS_ROWS`` is true also reads without pyarrow when ``ReadContext.as_rows`` asks:
it then yields one dict per flow (:func:`portscope.flows.row_values`), for a single pasted line.

Bad records never stop a run: :class:`ParseStats` counts them by kind and keeps the first few as
``file:line: what was wrong``; with ``strict`` the first bad record raises DataError instead. A
reader's field checks raise ``_records.BadRecord``, whose ``kind`` is one of a documented set. Lines
that are no record of the format at all (a cron line in a syslog file) are ``skipped``
(:meth:`ParseStats.count_skipped`), not bad.

Bad inputs never stop a run either (issue 11): :func:`read_flows` goes on past an input that is
missing, unreadable, empty or of no format portscope knows, and records it in
``ParseStats.skipped_inputs`` (:class:`SkippedInput`) for the caller to report; with ``strict`` it
raises DataError instead. Damaged compressed data is a bad record of kind ``truncated compression``
or ``damaged compression`` naming the byte offset, and all its decoder recovers before it is read.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, BinaryIO, NamedTuple

from portscope.errors import DataError, UsageError
from portscope.sources._inputs import InputFile, expand_inputs, has_long_line, judged_lines, open_input
from portscope.sources._syslog import TimeReading

__all__ = ["SOURCE_NAMES", "ParseStats", "ReadContext", "SkippedInput", "detect", "read_flows", "source"]

# Every format portscope reads, by the name --format takes; order breaks ties in detection.
SOURCE_NAMES: tuple[str, ...] = (
    "pcap",  # pcap and pcapng captures
    "zeek_conn",  # Zeek conn.log, TSV or JSON
    "suricata_eve",  # Suricata eve.json flow, netflow and alert events
    "iptables",  # Linux kernel LOG lines: iptables, ip6tables, UFW, nftables; syslog, journalctl, dmesg
    "pfsense",  # pfSense / OPNsense filterlog
    "windows_firewall",  # Windows Firewall pfirewall.log (W3C extended)
    "windows_events",  # Sysmon event 3 and Windows Security 5156, XML or JSON
    "aws_vpc",  # AWS VPC flow logs, default v2 or custom fields
    "nfdump_csv",  # NetFlow/IPFIX as nfdump -o csv writes it
    "nmap_xml",  # nmap -oX results
    "masscan",  # masscan -oJ / -oL results
    "ssh_auth",  # OpenSSH auth log lines ("from 203.0.113.7 port 56744")
    "csv_mapped",  # any CSV/TSV, with a column mapping given on the command line
)

_EXAMPLES = 5


class SkippedInput(NamedTuple):
    """An input that gave nothing and was passed over: ``reason`` is what DataError says after the label.

    Such as ``the input is empty``, ``no such file (and no file matches it as a pattern)``, ``not a
    format portscope knows; give --format (one of: ...)``, ``cannot open: Permission denied``.
    """

    label: str
    reason: str


@dataclass
class ParseStats:
    """Good and bad records of one run, the bad ones counted by kind, the first few kept as examples;
    and the inputs passed over, each with why (``skipped_inputs``, see :meth:`skip_input`)."""

    strict: bool = False
    good: int = 0
    bad: int = 0
    skipped: int = 0  # lines that are no record of the format (other syslog lines): not errors
    kinds: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    skipped_inputs: list[SkippedInput] = field(default_factory=list)
    dating: TimeReading = field(default_factory=TimeReading)  # the years and zone times were read in

    def reject(self, label: str, line: int | None, kind: str, detail: str) -> None:
        """Count one bad record; under ``strict`` raise DataError naming file, line and what was wrong."""
        where = f"{label}:{line}" if line is not None else label
        message = f"{where}: {kind}: {detail}" if detail else f"{where}: {kind}"
        if self.strict:
            raise DataError(message)
        self.bad += 1
        self.kinds[kind] += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(message)

    def skip_input(self, label: str, reason: str) -> None:
        """Pass over an input that gives nothing (missing, unreadable, empty, unrecognised), recording it;
        under ``strict`` raise DataError ``label: reason`` instead."""
        if self.strict:
            raise DataError(f"{label}: {reason}")
        self.skipped_inputs.append(SkippedInput(label, reason))

    def count_skipped(self, lines: int) -> None:
        """Count lines or events that are no record of the format (a cron line, a dns event): not bad records."""
        self.skipped += lines


@dataclass
class ReadContext:
    """What a source needs besides the bytes: where they come from, how strict to be, options."""

    label: str
    stats: ParseStats
    batch_size: int = 65536
    options: Mapping[str, Any] = field(default_factory=dict)
    # Yield one dict per flow (:func:`portscope.flows.row_values`) instead of batches, without importing
    # pyarrow; only sources whose ``READS_ROWS`` is true honour it (explain's one pasted line).
    as_rows: bool = False


def source(name: str) -> ModuleType:
    """The source module registered as ``name``; UsageError listing the valid names otherwise."""
    if name not in SOURCE_NAMES:
        raise UsageError(f"unknown format {name!r}; valid ones are: {', '.join(SOURCE_NAMES)}")
    return importlib.import_module(f"portscope.sources.{name}")


def detect(head: bytes, label: str, among: tuple[str, ...] = SOURCE_NAMES) -> str:
    """The name of the format ``head`` most likely is, of those ``among``; DataError when none recognises it."""
    best, best_score = "", 0
    for name in among:
        score = int(source(name).sniff(head, label))
        if score > best_score:
            best, best_score = name, score
    if not best:
        if not head:
            raise DataError(f"{label}: the input is empty")
        raise DataError(f"{label}: not a format portscope knows; give --format (one of: {', '.join(SOURCE_NAMES)})")
    return best


def read_flows(
    inputs: list[str],
    *,
    format: str | None = None,
    stats: ParseStats | None = None,
    batch_size: int = 65536,
    options: Mapping[str, Any] | None = None,
    chosen: list[tuple[str, str]] | None = None,
) -> Iterator[Any]:
    """Stream every input as flow-schema ``pyarrow.RecordBatch`` objects, detecting each one's format.

    ``inputs`` are paths, globs, directories or ``-`` (stdin). ``stats`` collects the bad records
    of all inputs; ``chosen``, when given, gets each input's (label, format) as it is opened.

    An input that cannot be read (missing, a pattern matching nothing, unreadable, empty, of no
    format portscope knows, refused by its reader) is passed over and the next one read: it goes
    to ``stats.skipped_inputs`` as a :class:`SkippedInput` with the reason, for the caller to
    report (no input giving a record is the caller's failure to call). Under ``stats.strict`` it
    raises DataError instead, as the first bad record does.
    """
    counts = stats if stats is not None else ParseStats()
    for item in expand_inputs(inputs, counts.skip_input):
        try:
            yield from _read_one(item, format, counts, batch_size, options or {}, chosen)
        except DataError as exc:
            if counts.strict:
                raise
            message = str(exc)
            counts.skip_input(item.label, message.removeprefix(f"{item.label}: "))


def _read_one(
    item: InputFile,
    format: str | None,
    stats: ParseStats,
    batch_size: int,
    options: Mapping[str, Any],
    chosen: list[tuple[str, str]] | None = None,
) -> Iterator[Any]:
    damage: list[str] = []

    def on_damage(kind: str, detail: str) -> None:
        damage.append(f"{kind}: {detail}")
        stats.reject(item.label, None, kind, detail)

    stream: BinaryIO
    stream, head = open_input(item, on_damage)
    try:
        if format is not None:
            name = format
        elif not head and damage:
            raise DataError(f"{item.label}: nothing could be decompressed ({damage[0]})")
        else:
            name, stream = _detect(stream, head, item.label)
        if chosen is not None:
            chosen.append((item.label, name))
        context = ReadContext(item.label, stats, batch_size, options)
        try:
            yield from source(name).read(stream, context)
        except EOFError as exc:
            stats.reject(item.label, None, "truncated input", str(exc) or "the data ends early")
        except OSError as exc:
            raise DataError(f"{item.label}: cannot read: {exc.strerror or exc}") from exc
    finally:
        stream.close()


def _detect(stream: BinaryIO, head: bytes, label: str) -> tuple[str, BinaryIO]:
    """The format of the input, and the stream to read it from.

    Judged on ``head``; where no source knows it and a line of it is too long to judge by, judged
    again on the first lines short enough (read ahead, and given back by the stream returned).
    """
    try:
        return detect(head, label), stream
    except DataError:
        if not has_long_line(head):
            raise
        stream, sample = judged_lines(stream)
        if not sample:
            raise
        return detect(sample, label), stream

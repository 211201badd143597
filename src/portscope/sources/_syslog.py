"""The envelope around a log message: syslog headers (RFC 3164, RFC 5424, rsyslog's ISO form) and dmesg.

Firewalls write one message per packet; what wraps it depends on who stored it:

- RFC 3164 (BSD syslog, section 4.1.2): ``Mmm dd hh:mm:ss HOST TAG: MSG``, the day space-padded and
  no year and no zone. The year is ``options["year"]`` or the one that puts the line no more than a day
  in the future (what logrotate'd files mean); the zone is ``options["timezone"]`` (an IANA name),
  UTC when not given: the file does not say, and a reader must not depend on the machine it runs on.
  journalctl's default ``short`` output is this form too; ``short-precise`` adds ``.ffffff``.
  pfSense forwards without the hostname (``<134>Jul 12 10:03:33 filterlog[123]: ...``): a first word
  ending in ``:`` is the tag, and the observer stays null.
- rsyslog's ``RSYSLOG_FileFormat`` and journalctl ``short-iso``: an RFC 3339 time with its offset
  (``2015-03-07T05:09:30.045015+02:00 HOST TAG: MSG``).
- RFC 5424 (section 6): ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG``.
- dmesg: ``[12345.678901] MSG``, seconds since boot: not a time of day, so the start stays null;
  ``dmesg -T`` writes ``[Tue Mar 11 20:35:11 2025] MSG``, a local time, read like RFC 3164's.

A kernel message in syslog may still carry printk's own ``[   12.345678] `` stamp
(CONFIG_PRINTK_TIME); :func:`strip_printk_time` removes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, NamedTuple

__all__ = ["Envelope", "TimeContext", "TimeReading", "dating_sentence", "parse_envelope", "strip_printk_time"]

MONTHS = {name: n for n, name in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}

_RFC3164 = re.compile(
    rb"(?:<\d{1,3}>)?([A-Z][a-z]{2}) ([ \d]?\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? (\S+)(?: (.*))?", re.DOTALL
)
_ISO = re.compile(
    rb"(?:<\d{1,3}>(1 )?)?(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)?"
    rb" (\S+)(?: (.*))?",
    re.DOTALL,
)
_RFC5424_REST = re.compile(rb"\S+ \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?", re.DOTALL)
_DMESG = re.compile(rb"\[\s*\d+\.\d+\] ?(.*)", re.DOTALL)
_DMESG_T = re.compile(rb"\[[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\] ?(.*)", re.DOTALL)
_TAG = re.compile(rb"[^\s:\[\]]+(?:\[[^\]\s]*\])?: ?")
_PRINTK_TIME = re.compile(rb"\[\s*\d+\.\d+\] ")


@dataclass
class TimeReading:
    """How the times that carry no year or no zone were dated, for a report to say what it assumed:
    a 2023 log read without ``--year`` is dated this year, and a reader who is not told so is misled.

    ``year`` and ``timezone`` are what the read options gave (None: not given); ``years`` the years
    that lines without one were given; ``zoneless`` whether any time carried no zone.
    """

    year: int | None = None
    timezone: str | None = None
    years: set[int] = field(default_factory=set)
    zoneless: bool = False

    def merge(self, other: TimeReading) -> None:
        """Add what another input's reading saw (one report over many inputs)."""
        self.year = self.year if self.year is not None else other.year
        self.timezone = self.timezone or other.timezone
        self.years |= other.years
        self.zoneless = self.zoneless or other.zoneless

    def as_dict(self) -> dict[str, Any]:
        """``years`` (null: no line lacked a year) and ``timezone`` (null: every time had its zone), each
        with whether it was assumed (true) or given by ``--year``/``--timezone`` (false)."""
        return {
            "years": sorted(self.years) or None,
            "years_assumed": bool(self.years) and self.year is None,
            "timezone": (self.timezone or "UTC") if self.zoneless else None,
            "timezone_assumed": self.zoneless and not self.timezone,
        }

    def sentence(self) -> str | None:
        """One line for people, or None when no time needed a year or a zone (:func:`dating_sentence`)."""
        return dating_sentence(self.as_dict())


def dating_sentence(dating: Mapping[str, Any] | None) -> str | None:
    """:meth:`TimeReading.as_dict` for people: ``lines without a year dated 2026; times without a zone
    read as UTC (assumed: --year and --timezone set them)``; None when no time needed either."""
    if not dating:
        return None
    said, assumed = [], []
    years = dating.get("years")
    if years:  # a report read back may hold anything: a list of years is expected, anything else shown as text
        shown = ", ".join(map(str, years)) if isinstance(years, (list, tuple)) else str(years)
        said.append(f"lines without a year dated {shown}")
        assumed += ["--year"] if dating.get("years_assumed") else []
    if dating.get("timezone"):
        said.append(f"times without a zone read as {dating['timezone']}")
        assumed += ["--timezone"] if dating.get("timezone_assumed") else []
    if not said:
        return None
    if not assumed:
        return "; ".join(said) + " (as given)"
    sets = "sets it" if len(assumed) == 1 else "set them"
    return "; ".join(said) + f" (assumed: {' and '.join(assumed)} {sets})"


class TimeContext:
    """What a timestamp without a year or a zone needs: the year rule and the zone, from the read options;
    what it assumed goes to ``reading`` (the run's :class:`TimeReading`, ``ParseStats.dating``)."""

    def __init__(self, options: Mapping[str, Any], reading: TimeReading | None = None) -> None:
        self.year: int | None = int(options["year"]) if options.get("year") is not None else None
        name = options.get("timezone")
        self.zone: tzinfo = timezone.utc
        if name:
            from zoneinfo import ZoneInfo

            self.zone = ZoneInfo(str(name))
        self.now = datetime.now(timezone.utc)
        self.reading = TimeReading() if reading is None else reading
        self.reading.year = self.year
        self.reading.timezone = str(name) if name else None

    def local(self, month: int, day: int, hms: tuple[int, int, int], micro: int, year: int | None = None) -> int:
        """Microseconds since the epoch of a wall-clock time in :attr:`zone`; ValueError when it is no date.

        Without a year (RFC 3164), the latest year that puts it at most a day after now: a log read
        in January holds December's lines of last year, and Feb 29 belongs to the last leap year.
        """
        reading = self.reading
        reading.zoneless = True
        if year is None:
            year = self.year
            if year is not None:
                reading.years.add(year)
        if year is not None:
            return _micros(datetime(year, month, day, *hms, micro, tzinfo=self.zone))
        failure: ValueError | None = None
        for candidate in range(self.now.year, self.now.year - 8, -1):
            try:
                value = datetime(candidate, month, day, *hms, micro, tzinfo=self.zone)
            except ValueError as exc:
                failure = exc
                continue
            if value <= self.now + timedelta(days=1):
                reading.years.add(candidate)
                return _micros(value)
        raise failure or ValueError(f"no year puts {month:02d}-{day:02d} in the past")


def _micros(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _fraction(digits: bytes | None) -> int:
    return int((digits or b"0").ljust(6, b"0")[:6])


class Envelope(NamedTuple):
    """A line's time (µs since the epoch, or None), host (or None), tag (``kernel``...) and message."""

    start: int | None
    host: str | None
    tag: bytes | None
    message: bytes


def parse_envelope(line: bytes, times: TimeContext) -> Envelope:
    """Split a line into its header and message; a line without a header known here is all message.

    Raises ValueError (with the offending text) when a header is there but its date is impossible
    (``Feb 30``, hour 25): the line is then a bad record, not a message without a header.
    """
    match = _RFC3164.match(line)
    if match:
        month = MONTHS.get(match[1])
        if month is not None:
            hms = (int(match[3]), int(match[4]), int(match[5]))
            start = _checked(lambda: times.local(month, int(match[2]), hms, _fraction(match[6])), line[:32])
            host, rest = match[7], match[8] or b""
            if host.endswith(b":"):  # BSD syslog without a hostname: the first word is the tag
                return Envelope(start, None, host.rstrip(b":").split(b"[", 1)[0], rest)
            tag, message = _split_tag(rest)
            return Envelope(start, _text(host), tag, message)
    match = _ISO.match(line)
    if match:
        start = _checked(lambda: _iso_micros(match, times), line[:40])
        host, rest = match[10], match[11] or b""
        if match[1]:  # RFC 5424: APP-NAME PROCID MSGID STRUCTURED-DATA, then the message
            sd = _RFC5424_REST.match(rest)
            if sd:
                app = rest.split(b" ", 1)[0]
                return Envelope(start, None if host == b"-" else _text(host), app, sd[1] or b"")
            return Envelope(start, None if host == b"-" else _text(host), None, rest)
        if host.endswith(b":"):
            return Envelope(start, None, host.rstrip(b":").split(b"[", 1)[0], rest)
        tag, message = _split_tag(rest)
        return Envelope(start, _text(host), tag, message)
    if line.startswith(b"["):
        match = _DMESG.match(line)
        if match:
            return Envelope(None, None, None, match[1])
        match = _DMESG_T.match(line)
        if match and match[1] in MONTHS:
            month = MONTHS[match[1]]
            hms = (int(match[3]), int(match[4]), int(match[5]))
            start = _checked(lambda: times.local(month, int(match[2]), hms, 0, int(match[6])), line[:32])
            return Envelope(start, None, None, match[7])
    return Envelope(None, None, None, line)


def _checked(compute: Any, text: bytes) -> int:
    try:
        return int(compute())
    except ValueError as exc:
        raise ValueError(f"impossible date or time in {text!r}") from exc


def _iso_micros(match: re.Match[bytes], times: TimeContext) -> int:
    fields = [int(match[i]) for i in range(2, 8)]
    micro = _fraction(match[8])
    zone = match[9]
    if zone is None:
        return times.local(fields[1], fields[2], (fields[3], fields[4], fields[5]), micro, fields[0])
    offset = 0
    if zone != b"Z":
        digits = zone[1:].replace(b":", b"")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60 * (-1 if zone[:1] == b"-" else 1)
    year, month, day, hour, minute, second = fields
    value = datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone(timedelta(seconds=offset)))
    return _micros(value)


def _split_tag(rest: bytes) -> tuple[bytes | None, bytes]:
    tag = _TAG.match(rest)
    if tag is None:
        return None, rest
    return tag[0].split(b"[", 1)[0].rstrip(b": "), rest[tag.end() :]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def strip_printk_time(message: bytes) -> bytes:
    """The message without the kernel's ``[ seconds.micros] `` stamp (CONFIG_PRINTK_TIME), if it has one."""
    if message.startswith(b"["):
        match = _PRINTK_TIME.match(message)
        if match:
            return message[match.end() :]
    return message

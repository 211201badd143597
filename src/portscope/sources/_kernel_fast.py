"""Kernel packet LOG lines parsed a block at a time with numpy, not one line at a time in Python.

Why: a Python ``re`` loop over the lines reads 190,000-340,000 lines/s, and one ``regexp_extract``
per field in DuckDB (RE2) 250,000-700,000, depending on the machine's load
(benchmarks/bench_firewall_logs.py). The kernel's format is regular enough to avoid scanning each
line again per field: nf_log_syslog.c writes its keys in a fixed order, one space apart, so after one
vectorised pass that finds every ``=`` of an 8 MB block, each field is a gather at a known index
(``SRC`` is the third or fourth ``=`` of its line, ``DST`` the next, ``PROTO`` four or five later...)
and keys are checked byte by byte at fixed distances from their ``=``. This reads 440,000-480,000
lines/s on one core here, about twice the ``re`` loop; numpy's cost per array operation (0.1-0.3 ms
per 64k rows on this machine) is now what bounds it, not the bytes.

A line is taken only when every key sits where the kernel puts it, every value checks out (dotted
quads with no leading zeros and octets up to 255, the kernel's 39-character ``%pI6``, ports up to
65535, known TCP flag words), its header is one of the common forms and the line has no other ``=``
(no ICMP error quoting a packet, no ``UID=``, no ``MARK=``). Every other line goes to
:mod:`portscope.sources._kernel_log`, the token-by-token reference, which also decides what is
malformed: this module never rejects, it only takes or passes on. Tests check that both agree on
every single-byte edit and every inserted or dropped token of the fixtures' lines, and on random ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from portscope.sources._syslog import MONTHS, TimeContext

__all__ = ["PAD", "parse_block"]

PAD = 160  # zero bytes before and after a block: a gather reads up to 8 words (+1) past a position near the end
_U8 = np.uint8
_I64 = np.int64


_FLAG_TOKENS = np.array(
    sorted(int.from_bytes(flag + b" ", "little") for flag in b"CWR ECE URG ACK PSH RST SYN FIN".split()),
    dtype=np.uint32,
)  # fmt: skip
_ACK = int.from_bytes(b"ACK ", "little")
_SYN = int.from_bytes(b"SYN ", "little")
_PROTO_WORDS = {  # what follows "PROTO=": (the word and its space, protocol number, "=" signs after PROTO)
    "tcp": (b"TCP ", 6, 5),
    "udp": (b"UDP ", 17, 3),
    "udplite": (b"UDPLITE ", 136, 3),
    "icmp": (b"ICMP ", 1, 2),
    "icmpv6": (b"ICMPv6 ", 58, 2),
}
_MONTH_CODES = {int.from_bytes(name, "little"): n for name, n in MONTHS.items()}
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=_I64)
_KERNEL_TAG = int.from_bytes(b"kernel: ", "little")


class _Views:
    """The block as bytes, and as the little-endian 64-bit word starting at any byte.

    An unaligned word is put together from the two aligned words it straddles: numpy gathers from an
    aligned uint64 array 4-5 times faster than from a one-byte-strided view of the same memory.
    """

    def __init__(self, buffer: bytes | bytearray) -> None:
        self.b = np.frombuffer(buffer, dtype=_U8)
        self.aligned = np.frombuffer(buffer, dtype="<u8", count=len(buffer) // 8)
        # self.at[k][p] is the byte at p + k: gathers of single bytes at a fixed distance from a
        # position need no index arithmetic, and uint8 temporaries stay in cache
        self.at = [self.b[k:] for k in range(24)]

    def key(self, base: np.ndarray, name: bytes) -> np.ndarray:
        """Whether the bytes right before the ``=`` at ``base + 8`` are ``name`` (its space included)."""
        found = np.ones(len(base), dtype=bool)
        for i, char in enumerate(name, 8 - len(name)):
            found &= self.at[i][base] == char
        return found

    def last(self, base: np.ndarray, char: bytes, back: int = 1) -> np.ndarray:
        """Whether the byte ``back`` places before the ``=`` at ``base + 8`` is ``char``."""
        found: np.ndarray = self.at[8 - back][base] == ord(char)
        return found

    def digits(self, base: np.ndarray, offset: int, limit: int, width: int = 7) -> tuple[np.ndarray, np.ndarray]:
        """Unsigned decimals of 1-``width`` digits at ``base + offset``, ended by a space or line end."""
        char = self.at[offset][base]
        digit = char - _U8(48)
        running = digit < 10
        value = np.where(running, digit, 0).astype(np.int64)
        ok = running.copy()
        for k in range(1, width + 1):
            char = self.at[offset + k][base]
            digit = char - _U8(48)
            is_digit = digit < 10
            ending = running & ~is_digit
            ok &= ~ending | (char == 32) | (char == 13) | (char == 10)
            running &= is_digit
            value = np.where(running, value * 10 + digit, value)
        ok &= ~running & (value <= limit)
        return value, ok

    def word(self, at: np.ndarray) -> np.ndarray:
        """The 8 bytes at each position as a little-endian uint64 (first byte lowest)."""
        index = at >> 3
        shift = ((at & 7) << 3).astype(np.uint64)
        low = self.aligned[index] >> shift
        high = (self.aligned[index + 1] << np.uint64(1)) << (np.uint64(63) - shift)
        combined: np.ndarray = low | high
        return combined

    def window(self, at: np.ndarray, words: int = 1) -> np.ndarray:
        """The ``8 * words`` bytes from each position, as a (rows, 8 * words) uint8 matrix."""
        words_at: np.ndarray = (
            self.word(at) if words == 1 else np.stack([self.word(at + 8 * k) for k in range(words)], axis=1)
        )
        return words_at.view(_U8).reshape(-1, 8 * words)


def _ranges(v: _Views, start: np.ndarray, stop: np.ndarray, text: bool = False, valid: np.ndarray | None = None) -> Any:
    """An Arrow binary (``text``: string) array of the bytes ``start:stop`` of each row.

    ``text`` only for bytes already checked to be ASCII; rows where ``valid`` is False are null (and
    empty). Values of up to 64 bytes come out of one gather of fixed-width windows and one mask.
    """
    import pyarrow as pa

    lengths = np.maximum(stop - start, 0)
    if valid is not None:
        lengths = np.where(valid, lengths, 0)
    offsets = np.zeros(len(start) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    longest = int(lengths.max()) if len(lengths) else 0
    if longest <= 64:
        words = max(1, -(-longest // 8))
        matrix = np.zeros((len(start), words), dtype=np.uint64)
        matrix[:, 0] = v.word(start)
        for k in range(1, words):
            rows = np.flatnonzero(lengths > 8 * k)
            matrix[rows, k] = v.word(start[rows] + 8 * k)
        data = matrix.view(_U8)[_COLUMNS[: 8 * words] < lengths[:, None]]
    else:
        index = np.repeat(start - offsets[:-1], lengths) + np.arange(int(offsets[-1]), dtype=_I64)
        data = v.b[index]
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    kind = pa.string() if text else pa.binary()
    return pa.Array.from_buffers(kind, len(start), [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)])


_COLUMNS = np.arange(64)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# ipaddress's dotted quad (no leading zeros), or the kernel's %pI6: eight groups of four hex digits
ADDRESS = rf"^(?:{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}|(?:[0-9a-fA-F]{{4}}:){{7}}[0-9a-fA-F]{{4}})$"


def parse_block(
    buffer: bytes | bytearray, starts: np.ndarray, ends: np.ndarray, times: TimeContext
) -> tuple[np.ndarray, dict[str, Any]]:
    """Parse the lines ``buffer[starts[i]:ends[i]]``; returns (taken, columns of the taken lines).

    ``buffer`` holds :data:`PAD` zero bytes before the first line and after the last; ``ends`` point
    at each line's ``\\n``. Columns are numpy arrays or Arrow arrays in row order of the taken lines;
    ``rule``, ``in_interface``, ``out_interface`` and ``observer`` come back as binary dictionary
    parts (``<name>_raw``) for the caller to decode once per distinct value.
    """
    v = _Views(buffer)
    b = v.b
    n = len(starts)
    eq = np.flatnonzero(b == 61).astype(_I64)
    first = np.searchsorted(eq, starts)
    count = np.searchsorted(eq, ends) - first
    ok = count >= 9
    # base: 8 bytes before each "=", where the key words are read from
    bases = np.concatenate([eq, np.full(16, PAD, dtype=_I64)]) - 8

    def at(j: Any) -> np.ndarray:
        found: np.ndarray = bases[first + j]
        return found

    # IN= first, OUT= second, then MAC= or not, then SRC DST LEN
    k_in, k_out, k_2 = at(0), at(1), at(2)
    ok &= v.key(k_in, b"IN") & v.key(k_out, b" OUT")
    has_mac = v.key(k_2, b" MAC")
    i_src = 2 + has_mac
    k_src, k_dst, k_len = at(i_src), at(i_src + 1), at(i_src + 2)
    ok &= v.key(k_src, b" SRC") & v.key(k_dst, b" DST") & v.key(k_len, b" LEN")
    k_next = np.where(has_mac, k_2, k_src)
    # PROTO is the 8th key of the IPv4 header dump (LEN TOS PREC TTL ID) or the 7th of IPv6 (LEN TC HOPLIMIT
    # FLOWLBL); no key between LEN and it may end in O, so that it is the line's first PROTO, as the reference reads
    v4_proto = v.key(at(i_src + 7), b" PROTO")
    i_proto = np.where(v4_proto, i_src + 7, i_src + 6)
    k_proto = at(i_proto)
    ok &= v4_proto | v.key(k_proto, b" PROTO")
    for j in range(3, 7):
        ok &= (i_proto <= i_src + j) | ~v.last(at(i_src + j), b"O")
    length, good = v.digits(k_len, 9, 0xFFFFFFFF)
    ok &= good

    # the protocol word, and the layer-4 keys it implies
    word = v.word(k_proto + 9)
    ip_proto = np.zeros(n, dtype=_I64)
    l4_keys = np.full(n, -1, dtype=_I64)
    for text, number, keys in _PROTO_WORDS.values():
        mask = np.uint64((1 << (8 * len(text))) - 1)
        hit = (word & mask) == np.uint64(int.from_bytes(text, "little"))
        ip_proto[hit] = number
        l4_keys[hit] = keys
    rows = np.flatnonzero(ok & (l4_keys < 0))
    numeric, good = v.digits(k_proto[rows], 9, 255, 3)
    hit = rows[good]
    ip_proto[hit] = numeric[good]
    l4_keys[hit] = 0
    is_tcp = l4_keys == 5
    is_udp = l4_keys == 3
    is_icmp = l4_keys == 2
    icmp_echo = is_icmp & (count == i_proto + 5)
    ok &= (l4_keys >= 0) & ((count == i_proto + 1 + l4_keys) | icmp_echo)
    # the reference skips a bracketed packet after PROTO (ICMP errors): no "[" may follow it here
    brackets = np.flatnonzero(b == 91)
    ok &= np.searchsorted(brackets, k_proto) == np.searchsorted(brackets, ends)

    # keys after PROTO: those whose values are used in full, the others by a letter that rules out
    # the ones the reference would read (UID, RES, URGP): WINDOW ends in W, UDP's LEN in N, SEQ in Q
    k1, k2, k3, k4, k5 = (at(i_proto + j) for j in range(1, 6))
    ports = is_tcp | is_udp
    ok &= ~ports | (v.key(k1, b" SPT") & v.key(k2, b" DPT"))
    ok &= ~is_udp | v.last(k3, b"N")
    ok &= ~is_tcp | (v.last(k3, b"W") & v.key(k4, b" RES") & v.key(k5, b" URGP"))
    ok &= ~is_icmp | (v.key(k1, b" TYPE") & v.key(k2, b" CODE"))
    ok &= ~icmp_echo | (v.key(k3, b" ID") & v.last(k4, b"Q"))
    sport, good = v.digits(k1, 9, 0xFFFF, 5)
    ok &= ~ports | good
    dport, good = v.digits(k2, 9, 0xFFFF, 5)
    ok &= ~ports | good
    icmp_type = np.zeros(n, dtype=_I64)
    icmp_code = np.zeros(n, dtype=_I64)
    rows = np.flatnonzero(ok & is_icmp)
    if len(rows):
        icmp_type[rows], good_type = v.digits(k1[rows], 9, 255, 3)
        icmp_code[rows], good_code = v.digits(k2[rows], 9, 255, 3)
        ok[rows] &= good_type & good_code

    # TCP flags: the words between RES=0xNN and URGP=, each "XXX " one of the eight the kernel writes
    e_in, e_out, e_src, e_dst, e_len = k_in + 8, k_out + 8, k_src + 8, k_dst + 8, k_len + 8
    e_next, e4, e5 = k_next + 8, k4 + 8, k5 + 8
    flags_start = e4 + 6
    flags_stop = e5 - 4
    flag_bytes = flags_stop - flags_start
    ok &= ~is_tcp | ((b[e4 + 5] == 32) & (flag_bytes >= 0) & (flag_bytes % 4 == 0) & (flag_bytes <= 32))
    syn = np.zeros(n, dtype=bool)
    ack = np.zeros(n, dtype=bool)
    for k in range(8):
        inside = is_tcp & ok & (4 * k < flag_bytes)
        if not inside.any():
            break
        token = (v.word(np.where(inside, flags_start + 4 * k, 0)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        known = _FLAG_TOKENS[np.minimum(np.searchsorted(_FLAG_TOKENS, token), len(_FLAG_TOKENS) - 1)] == token
        ok &= ~inside | known
        syn |= inside & (token == _SYN)
        ack |= inside & (token == _ACK)

    src_stop, dst_stop = e_dst - 4, e_len - 4
    # both addresses of one family: the kernel's IPv6 has a colon after its first group
    ok &= (b[e_src + 5] == 58) == (b[e_dst + 5] == 58)

    # the header: RFC 3164, RFC 3339 (rsyslog, journalctl short-iso) or dmesg's [seconds]
    start_us, host_start, host_stop, message_start, has_time, good = _headers(v, starts, times)
    ok &= good
    prefix_stop = e_in - 2
    ok &= prefix_stop >= message_start

    taken = np.flatnonzero(ok)

    def pick(values: np.ndarray) -> np.ndarray:
        picked: np.ndarray = values[taken]
        return picked

    src_addr = _ranges(v, pick(e_src) + 1, pick(src_stop), text=True)
    dst_addr = _ranges(v, pick(e_dst) + 1, pick(dst_stop), text=True)
    checked = _addresses_ok(src_addr) & _addresses_ok(dst_addr)
    if not checked.all():
        ok[taken[~checked]] = False
        taken = taken[checked]
        src_addr, dst_addr = src_addr.filter(checked), dst_addr.filter(checked)
    columns: dict[str, Any] = {
        "start": pick(start_us),
        "start_valid": pick(has_time),
        "ip_proto": pick(ip_proto),
        "src_addr": src_addr,
        "dst_addr": dst_addr,
        "src_port": pick(sport),
        "dst_port": pick(dport),
        "ports_valid": pick(ports),
        "icmp_type": pick(icmp_type),
        "icmp_code": pick(icmp_code),
        "icmp_valid": pick(is_icmp),
        "length": pick(length),
        "tcp": pick(is_tcp),
        "tcp_flags": _ranges(v, pick(flags_start), pick(flags_stop - 1), text=True, valid=pick(is_tcp)),
        "syn_only": pick(syn & ~ack),
        "rule_raw": _ranges(v, pick(message_start), pick(prefix_stop)),
        "in_raw": _ranges(v, pick(e_in) + 1, pick(e_out) - 4),
        "out_raw": _ranges(v, pick(e_out) + 1, pick(e_next) - 4),
        "observer_raw": _ranges(v, pick(host_start), pick(host_stop)),
    }
    return ok, columns


def _addresses_ok(addresses: Any) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.match_substring_regex(addresses, ADDRESS).to_numpy(zero_copy_only=False), dtype=bool)


def _headers(v: _Views, starts: np.ndarray, times: TimeContext) -> tuple[np.ndarray, ...]:
    """Per line: (start µs, host start, host stop, message start, has a time, header understood)."""
    b = v.b
    n = len(starts)
    start_us = np.zeros(n, dtype=_I64)
    host_start = starts.copy()
    host_stop = starts.copy()
    message = starts.copy()
    has_time = np.zeros(n, dtype=bool)
    good = np.zeros(n, dtype=bool)

    def digits(at: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        value = np.zeros(len(at), dtype=_I64)
        valid = np.ones(len(at), dtype=bool)
        for k in range(count):
            d = b[at + k] - _U8(48)
            valid &= d < 10
            value = value * 10 + d
        return value, valid

    # RFC 3164: "Mmm dd hh:mm:ss HOST kernel: "
    code = v.word(starts) & np.uint64(0xFFFFFF)
    month = np.zeros(n, dtype=_I64)
    for value, number in _MONTH_CODES.items():
        month[code == value] = number
    bsd = (month > 0) & (b[starts + 3] == 32) & (b[starts + 6] == 32) & (b[starts + 9] == 58) & (b[starts + 12] == 58)
    bsd &= b[starts + 15] == 32
    rows = np.flatnonzero(bsd)
    if len(rows):
        s = starts[rows]
        tens = b[s + 4]
        day, ok_day = digits(s + 5, 1)
        day = np.where(tens == 32, day, (tens.astype(_I64) - 48) * 10 + day)
        ok_day &= (tens == 32) | ((tens - _U8(48)) < 4)
        hour, ok_h = digits(s + 7, 2)
        minute, ok_m = digits(s + 10, 2)
        second, ok_s = digits(s + 13, 2)
        mon = month[rows]
        valid = (
            ok_day & ok_h & ok_m & ok_s & (day >= 1) & (day <= _DAYS[mon]) & (hour < 24) & (minute < 60) & (second < 60)
        )
        naive = _naive_seconds(mon, day, hour, minute, second, times.year or times.now.year)
        micros = _zoned(naive, times) * 1_000_000
        times.reading.zoneless = True
        if times.year is None:
            future = micros > int((times.now + timedelta(days=1)).timestamp() * 1_000_000)
            if future.any():
                earlier = _zoned(_naive_seconds(mon, day, hour, minute, second, times.now.year - 1), times) * 1_000_000
                micros = np.where(future, earlier, micros)
                times.reading.years.add(times.now.year - 1)
            if not future.all():
                times.reading.years.add(times.now.year)
        else:
            times.reading.years.add(times.year)
        start_us[rows] = micros
        has_time[rows] = True
        host_start[rows] = s + 16
        good[rows] = valid

    # RFC 3339: "YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|+hhmm) HOST kernel: "
    iso = ~bsd & (b[starts + 4] == 45) & (b[starts + 7] == 45) & (b[starts + 10] == 84) & (b[starts + 13] == 58)
    iso &= b[starts + 16] == 58
    rows = np.flatnonzero(iso)
    if len(rows):
        s = starts[rows]
        year, ok1 = digits(s, 4)
        mon, ok2 = digits(s + 5, 2)
        day, ok3 = digits(s + 8, 2)
        hour, ok4 = digits(s + 11, 2)
        minute, ok5 = digits(s + 14, 2)
        second, ok6 = digits(s + 17, 2)
        valid = (
            ok1 & ok2 & ok3 & ok4 & ok5 & ok6 & (mon >= 1) & (mon <= 12) & (hour < 24) & (minute < 60) & (second < 60)
        )
        mon = np.clip(mon, 1, 12)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        valid &= (day >= 1) & (day <= _DAYS[mon] + ((mon == 2) & leap)) & (year >= 1)
        at = s + 19
        fraction = np.zeros(len(rows), dtype=_I64)
        has_fraction = b[at] == 46
        at = at + has_fraction
        places = np.zeros(len(rows), dtype=_I64)
        for _ in range(9):
            d = b[at] - _U8(48)
            more = has_fraction & (d < 10)
            fraction = np.where(more, fraction * 10 + d, fraction)
            places += more
            at = at + more
        valid &= ~has_fraction | (places >= 1)
        fraction = fraction * 10 ** np.maximum(6 - places, 0) // 10 ** np.maximum(places - 6, 0)
        sign = b[at]
        zulu = sign == 90
        signed = (sign == 43) | (sign == 45)
        oh, okh = digits(at + 1, 2)
        colon = b[at + 3] == 58
        om, okm = digits(at + 3 + colon, 2)
        valid &= zulu | (signed & okh & okm & (oh < 24) & (om < 60))
        offset = np.where(zulu, 0, (oh * 60 + om) * 60 * np.where(sign == 45, -1, 1))
        at = at + np.where(zulu, 1, 5 + colon)
        valid &= b[at] == 32
        naive = _naive_seconds(mon, np.maximum(day, 1), hour, minute, second, year)
        start_us[rows] = (naive - offset) * 1_000_000 + fraction
        has_time[rows] = True
        host_start[rows] = at + 1
        good[rows] = valid

    # both syslog forms: HOST then "kernel: " then, maybe, printk's "[ seconds.micros] "
    syslog = bsd | iso
    rows = np.flatnonzero(syslog & good)
    if len(rows):
        stop, valid = _host_end(v, host_start[rows], 2)
        longer = np.flatnonzero(~valid)
        if len(longer):  # hostnames of 16-63 bytes: look further on the few lines that have them
            stop[longer], valid[longer] = _host_end(v, host_start[rows][longer], 8)
        valid &= v.word(stop + 1) == np.uint64(_KERNEL_TAG)
        host_stop[rows] = stop
        message[rows] = stop + 9
        good[rows] = valid
    dmesg = ~syslog & (b[starts] == 91)
    good |= dmesg
    message[dmesg] = starts[dmesg]
    rows = np.flatnonzero(good & (b[message] == 91))
    if len(rows):
        at = message[rows]
        stamp = _printk_stamp(v, at)
        close = at + stamp
        message[rows] = np.where(stamp > 0, close + 2, at)
        # not a stamp: part of the prefix ("kernel: [UFW BLOCK] IN=") when a letter follows "[";
        # anything else (a dmesg -T date, a stamp with tabs) is for the reference parser
        letter = ((b[at + 1] - _U8(65)) < 26) & ~dmesg[rows]
        good[rows] = (stamp > 0) | letter
    return start_us, host_start, host_stop, message, has_time, good


def _host_end(v: _Views, start: np.ndarray, words: int) -> tuple[np.ndarray, np.ndarray]:
    """The space after each hostname, looked for in ``8 * words`` bytes: (its position, found)."""
    window = v.window(start, words)
    space = window == 32
    stop = np.argmax(space, axis=1)
    ends = (window == 10) | (window == 0)
    line_end = np.where(ends.any(axis=1), np.argmax(ends, axis=1), 8 * words)
    return start + stop, space.any(axis=1) & (stop > 0) & (stop < line_end)


def _printk_stamp(v: _Views, at: np.ndarray) -> np.ndarray:
    """Where ``]`` is, relative to the ``[`` at ``at``, if a printk stamp ``[  digits.digits{6}] `` is there; else 0.

    The ``]`` comes from one search of the block's closing brackets; the rest is single-byte checks
    back from it: ".dddddd] " always, then digits, then the spaces of %5lu's padding, up to the "[".
    """
    closing = np.flatnonzero(v.b == 93)
    close = closing[np.minimum(np.searchsorted(closing, at), len(closing) - 1)] if len(closing) else at
    width = close - at
    ok = (width >= 9) & (width <= 24)
    base = np.where(ok, close - 16, 0)  # v.at[16] is the "]"
    ok &= (v.at[17][base] == 32) & (v.at[9][base] == 46)
    for k in (8, 10, 11, 12, 13, 14, 15):
        ok &= (v.at[k][base] - _U8(48)) < 10
    # from the digit before "." back to the "[": digits, then only the spaces of %5lu's padding
    in_spaces = np.zeros(len(at), dtype=bool)
    for back in range(9, 24):
        inside = ok & (back < width)
        if not inside.any():
            break
        char = v.b[np.where(inside, close - back, 0)]
        is_space = char == 32
        ok &= ~inside | is_space | (((char - _U8(48)) < 10) & ~in_spaces)
        in_spaces |= inside & is_space
    return np.where(ok, width, 0)


def _naive_seconds(
    month: np.ndarray, day: np.ndarray, hour: np.ndarray, minute: np.ndarray, second: np.ndarray, year: Any
) -> np.ndarray:
    """Seconds since 1970 of a wall-clock time read as UTC (numpy's calendar is the proleptic Gregorian one)."""
    years = np.asarray(year, dtype=_I64) - 1970
    first = np.broadcast_to(years, month.shape).astype("datetime64[Y]").astype("datetime64[M]")
    days = (first + (month - 1).astype("timedelta64[M]")).astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    seconds: np.ndarray = days.astype(_I64) * 86400 + hour * 3600 + minute * 60 + second
    return seconds


def _zoned(naive: np.ndarray, times: TimeContext) -> np.ndarray:
    """Wall-clock seconds in ``times.zone`` to UTC seconds, the zone's offset looked up once per distinct hour."""
    if times.zone is timezone.utc:
        return naive
    hours, inverse = np.unique(naive // 3600, return_inverse=True)
    offsets = np.array(
        [_offset(datetime.fromtimestamp(int(h) * 3600, timezone.utc).replace(tzinfo=times.zone)) for h in hours],
        dtype=_I64,
    )
    return naive - offsets[inverse]


def _offset(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0

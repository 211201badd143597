"""Bisection over the sorted lines of a text file held in a buffer (bytes or a memory map).

Why: ``portscope explain`` looks one port up in two large sorted files (our IANA index, nmap's
nmap-services, ~1 MB each). Mapping them and bisecting touches a handful of pages; reading them
whole costs more than all of explain's own work.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    import mmap
    from collections.abc import Callable, Iterator
    from typing import Any

    Buffer = bytes | mmap.mmap

__all__ = ["bisect_lines", "line_after", "lines_from"]


def line_after(data: Buffer, newline: int) -> tuple[bytes, int]:
    """The line that starts after offset ``newline``, and the offset of its own newline (or the end)."""
    end = data.find(b"\n", newline + 1)
    if end == -1:
        end = len(data)
    return bytes(data[newline + 1 : end]), end


def bisect_lines(data: Buffer, start: int, end: int, key: Callable[[bytes], Any], target: Any) -> int:
    """Offset of the newline before the first line in ``start``..``end`` whose ``key`` is >= ``target``.

    ``start`` is the offset of the newline before the section's first line (``-1`` for a file's
    first line); lines must be sorted by ``key``. Returns ``end`` when every key is below the target.
    """
    low, high = start, end  # newlines (or -1 / end); the answer lies in [low, high]
    while low < high:
        mid = data.find(b"\n", (low + high) // 2, high)
        if mid == -1 or mid <= low:
            break
        if mid + 1 >= end:  # the file's final newline: no line of the section starts after it
            high = mid
            continue
        line, line_end = line_after(data, mid)
        if key(line) < target:
            low = line_end
        else:
            high = mid
    at = low
    while at + 1 < end:  # walk over the few lines the bisection left below the target
        line, line_end = line_after(data, at)
        if key(line) >= target:
            break
        at = line_end
    return at


def lines_from(data: Buffer, at: int, end: int) -> Iterator[bytes]:
    """The lines after offset ``at`` (a newline), up to ``end``."""
    while at + 1 < end:
        line, at = line_after(data, at)
        yield line

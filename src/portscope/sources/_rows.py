"""Rows collected for the few columns a line-by-line source fills, turned into flow batches.

:class:`portscope.flows.FlowBatchBuilder` visits all 35 columns for every row; a firewall log fills
about 18, so a source that names its columns up front spends half the time per row (measured on
the real 16,809-record pfirewall.log: the builder was the largest cost of the whole read).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from portscope.flows import batch_from_columns
from portscope.sources import ParseStats, ReadContext

__all__ = ["Rows", "count_skipped", "skipped_of"]


def count_skipped(context: ReadContext, lines: int) -> None:
    """Add to the run's count of lines that are no record of the format (``stats.skipped``): not errors."""
    context.stats.skipped += lines


def skipped_of(stats: ParseStats) -> int:
    return stats.skipped


class Rows:
    """Collects rows of ``columns`` (others stay null) and hands out batches of ``size`` rows."""

    def __init__(self, columns: tuple[str, ...], size: int, constants: Mapping[str, Any]) -> None:
        self.names = columns
        self.size = max(size, 1)
        self.constants = dict(constants)
        self.values: list[list[Any]] = [[] for _ in columns]

    def append(self, row: Mapping[str, Any]) -> None:
        get = row.get
        for name, column in zip(self.names, self.values, strict=True):
            column.append(get(name))

    def ready(self) -> bool:
        return len(self.values[0]) >= self.size

    def flush(self) -> Iterator[Any]:
        rows = len(self.values[0])
        if not rows:
            return
        columns: dict[str, Any] = dict(zip(self.names, self.values, strict=True))
        for name, value in self.constants.items():
            columns[name] = [value] * rows
        yield batch_from_columns(columns, rows)
        self.values = [[] for _ in self.names]

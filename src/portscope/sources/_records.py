"""What every source shares to turn records into flows: the bad-record exception and the row builder.

A record that cannot be a flow raises :class:`BadRecord`, whose ``kind`` is one of :data:`Kind`;
the reader hands ``kind`` and ``detail`` to :meth:`ParseStats.reject <portscope.sources.ParseStats.reject>`,
which counts bad records by kind (the run's summary) and raises under ``strict``. It is a
ValueError so that a reader can catch it together with the ValueErrors of the helpers it calls
(``protocol()``, ``parse_port()``), which then count under the reader's default kind.

The kinds are two vocabularies, kept as they are because users see them in the counts: the
kernel-log family (iptables, pfsense, windows_firewall) says ``invalid ...`` and ``truncated
record``, the other readers say ``bad ...`` and ``malformed line``. Readers also report kinds
that no field check raises straight to ``reject`` (``malformed JSON``, ``truncated input``...).

Sources that parse record by record in Python (firewall logs, JSON events, XML, auth lines) collect
their rows in :class:`Rows`. Visiting every column for every row was the largest cost of reading
the real 16,809-record pfirewall.log (``flows.FlowBatchBuilder``, 35 columns a row), and appending to
named columns row by row still costs a Python loop per value. Rows keeps the dicts the parsers
return and every 4,096 rows turns them into the columns they name, ``dict.get`` mapped in C over
the rows; a column no row names is never built (and never scanned for being all null). Measured
in process: that log 126-131 ms before, 115 ms after; 80,000 masscan lines 533 -> 330 ms; 74,000
sshd lines 960 -> 838 ms; pfSense filterlog and nmap XML no slower. Memory stays that of columns:
the dicts go every 4,096 rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any, Literal

from portscope.flows import batch_from_columns, row_values

if TYPE_CHECKING:
    from portscope.sources import ReadContext

__all__ = ["BadRecord", "Kind", "Rows", "constant", "flow_batch"]

Kind = Literal[
    "bad address",  # not an IPv4/IPv6 address (and, for sshd, not a host name either)
    "bad port",  # not 0-65535
    "bad timestamp",  # not a time the format writes
    "bad value",  # any other field that cannot be what the format writes there
    "malformed line",  # a line of the wrong shape (too few fields, not the format's words)
    "invalid address",  # the kernel-log family's words for the same faults
    "invalid port",
    "invalid number",
    "invalid protocol",
    "invalid timestamp",
    "invalid field",
    "truncated record",  # a record cut off before a field it must have
]


class BadRecord(ValueError):
    """A record that cannot be a flow: ``kind`` for the run's counts, ``detail`` (also its message) for people."""

    def __init__(self, kind: Kind, detail: str) -> None:
        super().__init__(detail)
        self.kind: Kind = kind
        self.detail = detail


def constant(value: str, rows: int) -> Any:
    """A dictionary-encoded column holding one string ``rows`` times (``source_format``, ``evidence_file``)."""
    import numpy as np
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array([value], pa.string()))


def flow_batch(columns: dict[str, Any], rows: int, name: str, label: str) -> Any:
    """A flow-schema RecordBatch from ``columns``, with ``source_format`` and ``evidence_file`` filled in."""
    columns = dict(columns)
    columns["source_format"] = constant(name, rows)
    columns["evidence_file"] = constant(label, rows)
    return batch_from_columns(columns, rows)


_CHUNK = 4096  # rows held as dicts before they become columns


class Rows:
    """Flow rows added one at a time as dicts of the columns they fill, handed out as batches of
    ``context.batch_size`` rows; or, under ``context.as_rows``, each as it comes, as the dict
    :func:`portscope.flows.row_values` makes of it (no pyarrow: explain's one line).

    Columns a row does not name are null; ``source_format`` and ``evidence_file`` are ``name`` and
    the context's label for every row.
    """

    def __init__(self, name: str, context: ReadContext) -> None:
        self.name = name
        self.label = context.label
        self.size = max(context.batch_size, 1)
        self.as_rows = context.as_rows
        self._pending: list[dict[str, Any]] = []
        self._columns: dict[str, list[Any]] = {}
        self._rows = 0  # rows already in _columns
        self._due = min(_CHUNK, self.size)  # pending rows that make the next chunk

    def add(self, row: dict[str, Any], line: int) -> Iterator[Any]:
        """Take one row (kept, not copied) and the line it came from; yields a batch when ``size`` rows wait."""
        row["evidence_line"] = line
        if self.as_rows:
            row["source_format"], row["evidence_file"] = self.name, self.label
            yield row_values(row)
            return
        pending = self._pending
        pending.append(row)
        if len(pending) >= self._due:
            self._to_columns()
            if self._rows >= self.size:
                yield from self.flush()

    def flush(self) -> Iterator[Any]:
        """Yield what is waiting as one batch (nothing when empty)."""
        if self._pending:
            self._to_columns()
        columns, rows = self._columns, self._rows
        if not rows:
            return
        self._columns, self._rows, self._due = {}, 0, min(_CHUNK, self.size)
        yield flow_batch(columns, rows, self.name, self.label)

    def _to_columns(self) -> None:
        rows, self._pending = self._pending, []
        columns = self._columns
        for name in set().union(*rows).difference(columns):
            columns[name] = [None] * self._rows
        for name, values in columns.items():
            values.extend(map(dict.get, rows, repeat(name)))
        self._rows += len(rows)
        self._due = min(_CHUNK, self.size - self._rows)

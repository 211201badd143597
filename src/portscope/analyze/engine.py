"""Connect to an engine and load the inputs as one flow table.

DuckDB runs in this process. Spark runs in local mode (``--engine spark``) or on a cluster
(``--spark-master spark://host:7077``, ``yarn``, ``k8s://...``); Ibis compiles the same analyses for
both. Parquet written by ``portscope convert`` is read by the engine itself, straight from its files
(a cluster reads them from shared storage: give ``hdfs://`` or ``s3a://`` paths), and so are Zeek
conn.logs and AWS VPC flow logs on Spark (:mod:`.tables`); every other format is read by portscope's own readers into a
temporary Parquet file first.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from portscope.errors import DataError, UsageError
from portscope.sources import SkippedInput
from portscope.sources._syslog import TimeReading

__all__ = ["EngineInputs", "InputSummary", "Materialised", "connect", "disconnect", "load_inputs"]

_PARQUET_MAGIC = b"PAR1"


@dataclass
class InputSummary:
    """What one input gave: rows, and for formats portscope parsed, the bad records and skipped lines."""

    path: str
    format: str
    flows: int = 0
    bad_records: int = 0
    skipped_lines: int = 0
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "flows": self.flows,
            "bad_records": self.bad_records,
            "skipped_lines": self.skipped_lines,
            "bad_examples": self.examples,
        }


@dataclass
class EngineInputs:
    """The flow table as an Ibis expression on the engine, what each input contributed, the inputs
    passed over (missing, empty, unreadable, of no known format) and how yearless or zoneless times
    were dated."""

    table: Any
    inputs: list[InputSummary]
    skipped: list[SkippedInput] = field(default_factory=list)
    dating: TimeReading = field(default_factory=TimeReading)


def connect(engine: str, spark_master: str | None = None) -> Any:
    """An Ibis backend. Spark is started in UTC with its web UI off; an unreachable master is a
    one-line error (UsageError), found by a TCP connect before Spark retries for minutes."""
    import ibis

    if engine == "duckdb":
        # A bound on DuckDB's memory (it spills to disk past it) keeps a 10-million-flow run under 4 GB;
        # insertion order is never relied on (every result is ordered explicitly), and keeping it costs memory.
        return ibis.duckdb.connect(
            memory_limit=os.environ.get("PORTSCOPE_DUCKDB_MEMORY", "3GB"), preserve_insertion_order=False
        )
    if engine != "spark":
        raise UsageError(f"unknown engine {engine!r}: use duckdb or spark")
    master = spark_master or "local[2]"
    _check_master(master)
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise UsageError("--engine spark needs pyspark: pip install 'portscope[spark]'") from error
    session = (
        SparkSession.builder.master(master)
        .appName("portscope analyze")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("PORTSCOPE_SPARK_PARTITIONS", "4"))
        .config("spark.driver.memory", os.environ.get("PORTSCOPE_SPARK_DRIVER_MEMORY", "4g"))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def disconnect(con: Any) -> None:
    """Close the engine; for Spark, stop the session and the JVM gateway too (py4j would otherwise
    leave its sockets and the JVM to the garbage collector)."""
    with contextlib.suppress(Exception):  # closing is best effort; the report is already made
        con.disconnect()
    if getattr(con, "name", "") != "pyspark":
        return
    with contextlib.suppress(Exception):
        from pyspark import SparkContext

        context = SparkContext._active_spark_context
        if context is not None:
            context.stop()
        gateway = SparkContext._gateway
        if gateway is not None:
            gateway.shutdown()
            SparkContext._gateway = None
            SparkContext._jvm = None
            # The JVM reads its stdin only to die when that pipe closes: close it and reap the JVM,
            # rather than leave the pipe and the process to the interpreter's exit.
            process = getattr(gateway, "proc", None)
            if process is not None:
                process.stdin.close()
                process.wait(timeout=30)


def _check_master(master: str) -> None:
    """Fail fast, in one line, when a spark:// master does not answer."""
    if not master.startswith("spark://"):
        return
    for part in master[len("spark://") :].split(","):
        where = urlsplit(f"spark://{part}")
        host, port = where.hostname, where.port or 7077
        if host is None:
            raise UsageError(f"--spark-master {master!r}: no host in it")
        try:
            with socket.create_connection((host, port), timeout=5):
                return
        except OSError as error:
            last = f"{host}:{port}: {error.strerror or error}"
    raise UsageError(f"cannot reach the Spark master {master} ({last})")


class Materialised:
    """An expression computed once and kept for the many queries that read it, then released:
    a temporary table in DuckDB, persisted partitions on Spark's executors (nothing comes back to
    the driver). Measured on 10 million flows: keeping it as Arrow in this process instead was 20%
    faster but held 4.2-4.5 GB at its peak against 3.2 GB, past the 4 GB this must stay under.
    """

    def __init__(self, expr: Any) -> None:
        # Ibis's Spark backend caches without first registering the in-memory tables the expression
        # joins (--host-os's hosts), as executing it would: register them the way execution does.
        expr._find_backend()._run_pre_execute_hooks(expr)
        self.table: Any = expr.cache()

    def release(self) -> None:
        """Free the table now, not when the engine closes (a library caller may run many reports)."""
        backend = self.table._find_backend()
        name = self.table.op().name
        with contextlib.suppress(Exception):  # a cached table that is already gone
            self.table.release()
        if getattr(backend, "name", "") == "duckdb":
            # Ibis 12 with sqlglot 30 writes its drop as "DROP TABLE IF EXISTS" and no name, which
            # DuckDB refuses: the temporary table stayed until the connection closed. Dropped here.
            backend.con.execute(f'DROP TABLE IF EXISTS temp.main."{name}"')


def engine_reads_tables(con: Any) -> bool:
    """Spark reads Zeek TSV logs and VPC flow logs (with their header) itself: a cluster's executors,
    not the driver, read a month of them. DuckDB gets them through portscope's readers, which number
    lines and count bad records."""
    return getattr(con, "name", "") == "pyspark"


def _rereadable(path: str) -> bool:
    """Whether ``path`` can be opened twice (sniffed, then read): a regular file, a directory, a glob or a
    URL. Standard input, a FIFO and a process substitution (``<(cat log)``, /dev/fd/63) give their bytes
    once: sniffing them first lost the start of the data (16 of 3,978 flows) or hung on a FIFO."""
    if path == "-":
        return False
    if "://" in path:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True  # a glob, or a missing file the readers will report
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


def _is_parquet(path: str) -> bool:
    """A Parquet file (by its magic), a directory of them, a glob of them, or a URL the engine reads."""
    if "://" in path:
        return path.endswith((".parquet", "/"))
    if any(char in path for char in "*?[") and not os.path.exists(path):
        import glob

        matched = sorted(glob.glob(path))
        return bool(matched) and all(os.path.isfile(m) and _is_parquet(m) for m in matched)
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == _PARQUET_MAGIC
    except IsADirectoryError:
        try:
            return any(name.endswith(".parquet") for name in os.listdir(path))
        except OSError:
            return False
    except OSError:
        return False  # missing or unreadable: the readers skip it and say why, and the others are read


@contextlib.contextmanager
def load_inputs(
    con: Any,
    paths: Sequence[str],
    *,
    format: str | None = None,
    options: dict[str, Any] | None = None,
    workdir: str | None = None,
) -> Iterator[EngineInputs]:
    """The inputs as one Ibis table in the flow schema; temporary files live as long as the block."""
    from portscope.analyze.tables import is_zeek_tsv, vpc_header, vpc_table, zeek_fields, zeek_table
    from portscope.flows import flow_schema

    names = flow_schema().names
    summaries: list[InputSummary] = []
    parts: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="portscope-analyze-", dir=workdir) as scratch:
        parsed: list[str] = []
        for path in paths:
            if not _rereadable(path):  # stdin, a FIFO, <(process substitution): read once, by the readers
                parsed.append(path)
                continue
            if engine_reads_tables(con) and format in (None, "zeek_conn") and is_zeek_tsv(path):
                fields = zeek_fields(path) or []
                table = zeek_table(con, "spark", path, fields)
                parts.append(table)
                summaries.append(InputSummary(path, "zeek_conn", int(con.to_pyarrow(table.count()).as_py())))
            elif engine_reads_tables(con) and format in (None, "aws_vpc") and vpc_header(path):
                table = vpc_table(con, "spark", path, vpc_header(path) or [])
                parts.append(table)
                summaries.append(InputSummary(path, "aws_vpc", int(con.to_pyarrow(table.count()).as_py())))
            elif format in (None, "parquet") and _is_parquet(path):
                table = con.read_parquet(path)
                missing = [name for name in names if name not in table.columns]
                if missing:
                    raise DataError(
                        f"{path}: not a portscope flow table (no {', '.join(missing[:3])}...): "
                        "write one with portscope convert"
                    )
                parts.append(table.select(*names))
                summaries.append(InputSummary(path, "parquet", int(con.to_pyarrow(table.count()).as_py())))
            else:
                parsed.append(path)
        skipped: list[SkippedInput] = []
        dating = TimeReading()
        if parsed:
            out = os.path.join(scratch, "flows.parquet")
            summaries.extend(_convert(parsed, out, format, options or {}, skipped, dating))
            parts.append(con.read_parquet(out).select(*names))
        if skipped and not any(summary.flows for summary in summaries):
            raise DataError("no input could be read: " + "; ".join(f"{s.label}: {s.reason}" for s in skipped))
        table = parts[0]
        for part in parts[1:]:  # engines type the same column differently per reader: one schema
            table = table.union(part.cast(table.schema()))
        yield EngineInputs(table, summaries, skipped, dating)


def _convert(
    paths: list[str],
    out: str,
    format: str | None,
    options: dict[str, Any],
    skipped: list[SkippedInput],
    dating: TimeReading,
) -> list[InputSummary]:
    """Other formats through portscope's readers into one Parquet file, counting per input; the inputs
    that gave nothing are added to ``skipped``, and how times were dated to ``dating``."""
    import pyarrow.parquet as pq

    from portscope.flows import flow_schema
    from portscope.sources import ParseStats, read_flows

    summaries: list[InputSummary] = []
    with pq.ParquetWriter(out, flow_schema(), compression="zstd") as writer:
        for path in paths:
            stats = ParseStats()
            formats: list[tuple[str, str]] = []
            for batch in read_flows([path], format=format, stats=stats, options=options, chosen=formats):
                writer.write_batch(batch)
            skipped += stats.skipped_inputs
            dating.merge(stats.dating)
            if not formats and stats.skipped_inputs and not (stats.good or stats.bad):
                continue  # nothing of it was read: it is reported as skipped, not as an input of no format
            summaries.append(
                InputSummary(
                    path,
                    ",".join(sorted({name for _, name in formats})) or (format or "unknown"),
                    stats.good,
                    stats.bad,
                    stats.skipped,
                    list(stats.examples),
                )
            )
    return summaries

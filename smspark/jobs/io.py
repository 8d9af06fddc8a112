"""Table and side-file I/O for the jobs (library code in ``etl/``/``features/`` does no I/O).

Every location is a URI string (:mod:`smspark.storage`): tables are read and written by Spark with atomic commits
(:mod:`smspark.tables`: readers see the previous version or the new one, never a part), existence checks and side
files go through :mod:`smspark.storage`. Partitioned writes replace only their partitions: a job re-run for a date
replaces that date's partitions and leaves the others alone, so nothing is ever duplicated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from smspark import storage, tables
from smspark.jobs.common import UserError


def write_partitions(
    df: DataFrame, uri: str, *partition_by: str, replace: Sequence[dict[str, Any]] = (), **options: Any
) -> tables.Commit:
    """Replace only the partitions present in ``df`` (and those named by ``replace``), atomically
    (:func:`smspark.tables.write`, mode ``partitions``): a re-run of a date replaces that date, never duplicates it.
    ``options``: ``meta``, ``max_records_per_file`` of :func:`smspark.tables.write`."""
    return tables.write(df, uri, partition_by, mode="partitions", replace=replace, **options)


def write_table(df: DataFrame, uri: str, *partition_by: str, **options: Any) -> tables.Commit:
    """Replace the whole table at ``uri`` atomically (a full recompute of a curated table or a features split).
    ``options``: ``meta``, ``max_records_per_file`` of :func:`smspark.tables.write`."""
    return tables.write(df, uri, partition_by, mode="overwrite", **options)


def read_parquet(spark: SparkSession, uri: str) -> DataFrame:
    """The committed version of the table at ``uri`` (see :func:`smspark.tables.read`)."""
    return tables.read(spark, uri)


def read_table(spark: SparkSession, uri: str, schema: StructType | None = None, what: str = "") -> DataFrame:
    """Read a table's committed version; a missing table is a :class:`UserError` that names the job that writes it."""
    if not tables.exists(uri):
        raise UserError(f"{uri} does not exist{': ' + what if what else ''}")
    return tables.read(spark, uri, schema)


def quarantine_path(layout: Any, table: str) -> str:
    return storage.join(layout.quarantine, table)


def write_quarantine(
    df: DataFrame,
    layout: Any,
    table: str,
    stage: str,
    run_date: dt.date | None = None,
    ingest_dates: Sequence[dt.date] | None = None,
) -> int:
    """Write rejected rows under ``quarantine/<table>/stage=<stage>/ingest_date=...``; return how many.

    What the stage quarantined before is replaced, also when nothing is quarantined now: for ``ingest`` the
    ``run_date`` partition (an ingest run handles one date); for a stage that processed only some bronze partitions
    (an incremental etl) the partitions of ``ingest_dates``; for the other stages (full recomputes) every partition
    of the stage. The count is of the replaced partitions.
    """
    uri = quarantine_path(layout, table)
    if stage == "ingest" and run_date:
        ingest_dates = [run_date]
    dates = [F.lit(d) for d in ingest_dates] if ingest_dates is not None else None
    replace = [{"stage": stage, "ingest_date": d} for d in ingest_dates] if dates is not None else [{"stage": stage}]
    write_partitions(df.withColumn("stage", F.lit(stage)), uri, "stage", "ingest_date", replace=replace)
    back = read_parquet(df.sparkSession, uri).where(F.col("stage") == stage)
    return (back.where(F.col("ingest_date").isin(*dates)) if dates is not None else back).count()


def write_json(uri: str, data: Any) -> str:
    """Write ``data`` as JSON to ``uri`` atomically (see :func:`smspark.storage.write_json`)."""
    return storage.write_json(uri, data)


@contextlib.contextmanager
def local_view(uri: str) -> Iterator[tuple[Path, Callable[[Path], str]]]:
    """A folder of landing data as a local directory for the driver, and a function mapping a file in it back to
    its URI (which is what Spark must read: executors on other hosts do not see the driver's disk).

    Local, ``/Volumes`` and mounted ``dbfs:`` roots are used in place; on an object store the folder is copied to a
    temporary directory for the block's duration (landing exports: a few files, tens of MB).
    """
    local = storage.local_path(uri)
    if local is not None:
        yield Path(local), lambda p: storage.resolve_root(p)
        return
    with tempfile.TemporaryDirectory(prefix="smspark-landing-") as tmp:
        view = Path(tmp) / storage.name(uri)
        if storage.exists(uri):
            storage.download(uri, view)
        else:
            view.mkdir()
        yield view, lambda p: storage.join(uri, Path(p).relative_to(view).as_posix())

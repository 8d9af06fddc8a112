"""Table and side-file I/O for the jobs (library code in ``etl/``/``features/`` does no I/O).

Every location is a URI string (:mod:`smspark.storage`): tables are read and written by Spark with
:func:`smspark.storage.spark_path`, existence checks and side files go through :mod:`smspark.storage`.
Partitioned writes use dynamic partition overwrite: a job re-run for a date replaces that date's partitions
and leaves the others alone, so nothing is ever duplicated.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from smspark import storage
from smspark.jobs.common import UserError


def write_partitions(df: DataFrame, uri: str, *partition_by: str) -> None:
    """Overwrite only the partitions present in ``df`` (dynamic partition overwrite)."""
    df.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy(*partition_by).parquet(
        storage.spark_path(uri)
    )


def write_table(df: DataFrame, uri: str, *partition_by: str) -> None:
    """Replace the whole table at ``uri`` (a full recompute of a curated table)."""
    w = df.write.mode("overwrite").option("partitionOverwriteMode", "static")
    if partition_by:
        w = w.partitionBy(*partition_by)
    w.parquet(storage.spark_path(uri))


def read_parquet(spark: SparkSession, uri: str) -> DataFrame:
    """The Parquet table at ``uri`` (no existence check; see :func:`read_table`)."""
    return spark.read.parquet(storage.spark_path(uri))


def read_table(spark: SparkSession, uri: str, schema: StructType | None = None, what: str = "") -> DataFrame:
    """Read a Parquet table; a missing table is a :class:`UserError` that names the job that writes it."""
    if not storage.exists(uri):
        raise UserError(f"{uri} does not exist{': ' + what if what else ''}")
    reader = spark.read
    if schema is not None:
        reader = reader.schema(schema)
    return reader.parquet(storage.spark_path(uri))


def quarantine_path(layout: Any, table: str) -> str:
    return storage.join(layout.quarantine, table)


def write_quarantine(df: DataFrame, layout: Any, table: str, stage: str) -> int:
    """Write rejected rows under ``quarantine/<table>/stage=<stage>/ingest_date=...``; return how many."""
    uri = quarantine_path(layout, table)
    write_partitions(df.withColumn("stage", F.lit(stage)), uri, "stage", "ingest_date")
    dates = [r[0] for r in df.select("ingest_date").distinct().collect()]
    if not dates:
        return 0
    back = read_parquet(df.sparkSession, uri)
    return back.where((F.col("stage") == stage) & F.col("ingest_date").isin(dates)).count()


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

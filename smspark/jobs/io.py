"""Parquet reading and writing for the jobs (library code in ``etl/``/``features/`` does no I/O).

Partitioned writes use dynamic partition overwrite: a job re-run for a date replaces that date's partitions
and leaves the others alone, so nothing is ever duplicated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from smspark.jobs.common import UserError


def write_partitions(df: DataFrame, path: Path, *partition_by: str) -> None:
    """Overwrite only the partitions present in ``df`` (dynamic partition overwrite)."""
    df.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy(*partition_by).parquet(str(path))


def write_table(df: DataFrame, path: Path, *partition_by: str) -> None:
    """Replace the whole table at ``path`` (a full recompute of a curated table)."""
    w = df.write.mode("overwrite").option("partitionOverwriteMode", "static")
    if partition_by:
        w = w.partitionBy(*partition_by)
    w.parquet(str(path))


def read_table(spark: SparkSession, path: Path, schema: StructType | None = None, what: str = "") -> DataFrame:
    """Read a Parquet table; a missing table is a :class:`UserError` that names the job that writes it."""
    if not path.exists():
        raise UserError(f"{path} does not exist{': ' + what if what else ''}")
    reader = spark.read
    if schema is not None:
        reader = reader.schema(schema)
    return reader.parquet(str(path))


def quarantine_path(layout: Any, table: str) -> Path:
    return layout.quarantine / table


def write_quarantine(df: DataFrame, layout: Any, table: str, stage: str) -> int:
    """Write rejected rows under ``quarantine/<table>/stage=<stage>/ingest_date=...``; return how many."""
    path = quarantine_path(layout, table)
    write_partitions(df.withColumn("stage", F.lit(stage)), path, "stage", "ingest_date")
    dates = [r[0] for r in df.select("ingest_date").distinct().collect()]
    if not dates:
        return 0
    back = df.sparkSession.read.parquet(str(path))
    return back.where((F.col("stage") == stage) & F.col("ingest_date").isin(dates)).count()


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path

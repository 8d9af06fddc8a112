"""Synthetic user profiles from the profile generator's champion -> ``gold/synthetic_profiles`` rows.

The rows are drawn in chunks of :data:`CHUNK_ROWS` on the Spark workers (``mapInPandas``), chunk ``c`` with seed
``seed * 1_000_003 + c``, so a draw is reproducible and its size is not bounded by the driver's memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StructField, StructType

from smspark.schemas import GOLD_SYNTHETIC_PROFILES
from smspark.scoring.udfs import load_python_model
from smspark.train.registry import Champion

#: Rows drawn per task.
CHUNK_ROWS = 10_000


def synthetic_profiles(
    spark: SparkSession,
    champion: Champion,
    tracking_uri: str,
    registry_uri: str | None,
    columns: Sequence[str],
    source: str,
    rows: int,
    seed: int,
    run_date: dt.date,
    run_id: str,
) -> DataFrame:
    """``rows`` synthetic profiles as :data:`GOLD_SYNTHETIC_PROFILES` rows (``is_synthetic`` true, the generator's
    name and version, ``profile_id`` ``synthetic:<name>:v<version>:<run_id>:<i>``).

    Args:
        columns: the generator's profile columns (its ``meta["columns"]``); the schema's other profile columns are
            null.
        source: the profile source the generator learned.
        rows: how many rows (>= 0).
    """
    n_chunks = max(1, -(-rows // CHUNK_ROWS))
    chunks = spark.range(n_chunks).select(
        F.col("id").alias("chunk"),
        F.least(F.lit(rows) - F.col("id") * CHUNK_ROWS, F.lit(CHUNK_ROWS)).alias("rows"),
        (F.lit(seed * 1_000_003) + F.col("id")).alias("seed"),
    )
    chunks = chunks.repartition(max(1, min(n_chunks, spark.sparkContext.defaultParallelism)))
    uri, name, version = champion.uri, champion.name, champion.version
    cols = list(columns)
    out_schema = StructType(
        [StructField("row", LongType()), StructField("seed", LongType())] + [StructField(c, DoubleType()) for c in cols]
    )

    def generate(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = load_python_model(uri, tracking_uri, registry_uri)
        for part in parts:
            for chunk, n, s in zip(part["chunk"], part["rows"], part["seed"], strict=True):
                if n <= 0:
                    continue
                out = model.sample(int(n), int(s))[cols].astype(float)
                out.insert(0, "seed", int(s))
                out.insert(0, "row", int(chunk) * CHUNK_ROWS + pd.RangeIndex(int(n)))
                yield out

    gen = chunks.mapInPandas(generate, out_schema)
    meta = {
        "profile_id": F.concat_ws(":", F.lit("synthetic"), F.lit(name), F.lit(f"v{version}"), F.lit(run_id), "row"),
        "source": F.lit(source),
        "is_synthetic": F.lit(True),
        "seed": F.col("seed"),
        "generator_name": F.lit(name),
        "generator_version": F.lit(str(version)),
        "generated_at": F.current_timestamp(),
        "dt": F.lit(run_date),
    }
    return gen.select(
        [
            (meta[f.name] if f.name in meta else F.col(f.name) if f.name in cols else F.lit(None))
            .cast(f.dataType)
            .alias(f.name)
            for f in GOLD_SYNTHETIC_PROFILES.fields
        ]
    )

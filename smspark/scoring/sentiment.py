"""Sentiment scoring of posts: silver posts -> gold ``post_sentiment`` rows (pure DataFrame function)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark.schemas import GOLD_POST_SENTIMENT, SENTIMENT_CLASSES
from smspark.scoring.udfs import sentiment_udf
from smspark.train.registry import Champion


def score_posts(
    posts: DataFrame,
    champion: Champion,
    tracking_uri: str,
    registry_uri: str | None,
    run_date: dt.date,
    batch_size: int = 1024,
) -> DataFrame:
    """``posts`` (``post_id``, ``text``) -> :data:`GOLD_POST_SENTIMENT` rows, one per post, ``dt = run_date``."""
    udf = sentiment_udf(champion.uri, tracking_uri, registry_uri, batch_size)
    scored = posts.select("post_id", udf(F.col("text")).alias("s"))
    return scored.select(
        "post_id",
        "s.label",
        *[F.col(f"s.prob_{c}").alias(f"prob_{c}") for c in SENTIMENT_CLASSES],
        F.lit(champion.name).alias("model_name"),
        F.lit(champion.version).alias("model_version"),
        F.current_timestamp().alias("scored_at"),
        F.lit(run_date).cast("date").alias("dt"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in GOLD_POST_SENTIMENT.fields])

"""Sentiment and topic trends: daily sentiment by corpus, client and topic, and the days that depart from their
trailing level.

The alert rule, per corpus, topic and metric, on a dense calendar (every day from the corpus' first to its last
post day)::

    level(d) = mean of value(d - window .. d - 1),   spread(d) = sample std of the same days
    z(d) = (value(d) - level(d)) / spread(d)          alert when |z(d)| > threshold

``volume`` is the number of posts whose dominant topic is the topic (0 on a day without any); ``negative_share``
is the share of those posts predicted negative, observed only on days with at least ``min_posts`` of them. The
trailing window must hold at least ``min_history_days`` observed days and a spread above zero. Pure DataFrame
functions; the ``analytics`` job does the reading and writing.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from smspark.schemas import GOLD_SENTIMENT_DAILY, GOLD_TREND_ALERTS, SENTIMENT_CLASSES

NO_TOPIC = -1


def sentiment_daily(posts: DataFrame, sentiment: DataFrame, topics: DataFrame | None, scored_dt: dt.date) -> DataFrame:
    """Daily sentiment per corpus, posting client and dominant topic.

    Args:
        posts: silver posts (``post_id``, ``corpus``, ``client``, ``dt``).
        sentiment: one scoring date of ``gold/post_sentiment`` (``post_id``, ``label``, ``prob_<class>``).
        topics: the same date of ``gold/post_topics`` (``post_id``, ``dominant_topic``), or None (every post then
            has topic -1).
        scored_dt: the scoring date, kept as ``scored_dt``.

    Returns:
        :data:`smspark.schemas.GOLD_SENTIMENT_DAILY` rows. Posts without a sentiment score are left out (the caller
        counts them); a missing client is ``unknown``, a post without a topic has topic -1.
    """
    df = posts.select("post_id", "corpus", "client", "dt").join(
        sentiment.select("post_id", "label", *[f"prob_{c}" for c in SENTIMENT_CLASSES]), "post_id"
    )
    if topics is not None:
        df = df.join(topics.select("post_id", "dominant_topic"), "post_id", "left")
    else:
        df = df.withColumn("dominant_topic", F.lit(None).cast("int"))
    df = df.withColumn("client", F.coalesce("client", F.lit("unknown"))).withColumn(
        "dominant_topic", F.coalesce("dominant_topic", F.lit(NO_TOPIC))
    )
    aggs = [F.count("*").alias("posts")]
    aggs += [F.avg((F.col("label") == c).cast("double")).alias(f"share_{c}") for c in SENTIMENT_CLASSES]
    aggs += [F.avg(f"prob_{c}").cast("double").alias(f"mean_prob_{c}") for c in SENTIMENT_CLASSES]
    out = df.groupBy("dt", "corpus", "client", "dominant_topic").agg(*aggs)
    out = out.withColumn("scored_dt", F.lit(scored_dt).cast("date"))
    return out.select(*[F.col(f.name).cast(f.dataType) for f in GOLD_SENTIMENT_DAILY.fields])


def topic_day_series(daily: DataFrame, min_posts: int) -> DataFrame:
    """``gold/sentiment_daily`` -> one row per corpus, topic (without -1) and calendar day from the corpus' first to
    its last day: ``posts`` (0 on empty days) and ``negative_share`` (null below ``min_posts`` posts)."""
    per_day = (
        daily.where(F.col("dominant_topic") != NO_TOPIC)
        .groupBy("corpus", "dominant_topic", "dt")
        .agg(F.sum("posts").alias("posts"), F.sum(F.col("share_negative") * F.col("posts")).alias("negatives"))
    )
    span = daily.groupBy("corpus").agg(F.min("dt").alias("first"), F.max("dt").alias("last"))
    calendar = span.select("corpus", F.explode(F.sequence("first", "last")).alias("dt"))
    topics = per_day.select("corpus", "dominant_topic").distinct()
    dense = calendar.join(topics, "corpus").join(per_day, ["corpus", "dominant_topic", "dt"], "left")
    posts = F.coalesce("posts", F.lit(0)).cast("long")
    share = F.when(posts >= min_posts, F.col("negatives") / posts)
    return dense.select("corpus", "dominant_topic", "dt", posts.alias("posts"), share.alias("negative_share"))


def trend_alerts(
    daily: DataFrame, window_days: int, z_threshold: float, min_history_days: int, min_posts: int
) -> DataFrame:
    """Days whose topic volume or negative share departs from its trailing level (see the module docstring).

    Args:
        daily: ``gold/sentiment_daily`` rows (``dt``, ``corpus``, ``dominant_topic``, ``posts``, ``share_negative``).
        window_days: length of the trailing window, days (28).
        z_threshold: alert when ``|z|`` is above it.
        min_history_days: observed days needed in the trailing window.
        min_posts: posts of the topic needed for a day's negative share to count.

    Returns:
        :data:`smspark.schemas.GOLD_TREND_ALERTS` rows, ``direction`` ``up`` or ``down``.
    """
    series = topic_day_series(daily, min_posts)
    long = series.select(
        "corpus",
        "dominant_topic",
        "dt",
        "posts",
        F.explode(
            F.array(
                F.struct(F.lit("volume").alias("metric"), F.col("posts").cast("double").alias("value")),
                F.struct(F.lit("negative_share").alias("metric"), F.col("negative_share").alias("value")),
            )
        ).alias("m"),
    ).select("corpus", "dominant_topic", "dt", "posts", "m.metric", "m.value")
    w = Window.partitionBy("corpus", "dominant_topic", "metric").orderBy("dt").rowsBetween(-window_days, -1)
    stats = long.select(
        "*",
        F.avg("value").over(w).alias("trailing_mean"),
        F.stddev_samp("value").over(w).alias("trailing_std"),
        F.count("value").over(w).alias("history"),
    )
    z = (F.col("value") - F.col("trailing_mean")) / F.col("trailing_std")
    alerts = stats.where(
        F.col("value").isNotNull() & (F.col("history") >= min_history_days) & (F.col("trailing_std") > 0)
    ).withColumn("z", z)
    alerts = alerts.where(F.abs("z") > z_threshold).withColumn(
        "direction", F.when(F.col("z") > 0, "up").otherwise("down")
    )
    return alerts.select(*[F.col(f.name).cast(f.dataType) for f in GOLD_TREND_ALERTS.fields])

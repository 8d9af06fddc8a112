"""Corpus analytics steps: keywords per time window, daily sentiment, trend alerts (all recomputed in full).

- keywords: ``silver/posts`` -> ``gold/keywords`` (TF-IDF across windows and YAKE within them, per day and week)
- sentiment_daily: ``silver/posts`` + one scoring date of ``gold/post_sentiment`` (and ``gold/post_topics``) ->
  ``gold/sentiment_daily``
- trend_alerts: ``gold/sentiment_daily`` -> ``gold/trend_alerts``
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_table, write_table
from smspark.manifest import reconcile


def scoring_date(path: Path, run_date: dt.date) -> dt.date | None:
    """The newest ``dt`` partition of a gold table on or before ``run_date`` (None when there is none)."""
    if not path.exists():
        return None
    days = [p.name.split("=", 1)[1] for p in path.glob("dt=*")]
    days = sorted(d for d in days if dt.date.fromisoformat(d) <= run_date)
    return dt.date.fromisoformat(days[-1]) if days else None


def gold_partition(spark: SparkSession, path: Path, day: dt.date) -> DataFrame:
    """One ``dt`` partition of a gold table."""
    return spark.read.parquet(str(path)).where(F.col("dt") == F.lit(day))


def keywords(ctx: JobContext) -> dict[str, Any]:
    """``silver/posts`` -> ``gold/keywords``: per corpus and window kind, TF-IDF and YAKE top terms."""
    from smspark.analytics.keywords import tfidf_keywords, window_documents, yake_keywords
    from smspark.features.topics import post_terms

    k = ctx.cfg.analytics.keywords
    extra = ctx.cfg.models.topics.extra_stop_words
    posts = read_table(ctx.spark, ctx.layout.silver / "posts", what="run `smspark etl` first")
    terms = post_terms(posts, extra).select("post_id", "terms")
    posts = posts.select("post_id", "corpus", "dt", "created_at", "text").join(terms, "post_id").persist()
    n_posts = posts.count()
    parts, windows = [], {}
    for window in k.windows:
        docs = window_documents(posts, window, k.min_posts).persist()
        windows[window] = docs.count()
        parts.append(tfidf_keywords(docs, k.top_n, k.vocab_size, k.min_df))
        parts.append(yake_keywords(docs, k.top_n, k.yake_ngram, k.yake_max_chars))
    out = ctx.layout.gold / "keywords"
    result = parts[0]
    for p in parts[1:]:
        result = result.unionByName(p)
    write_table(result.coalesce(4), out)
    written = ctx.spark.read.parquet(str(out))
    by_method = {
        f"{r['window']}/{r['method']}": r["count"] for r in written.groupBy("window", "method").count().collect()
    }
    posts.unpersist()
    ctx.output("gold/keywords", out)
    return {
        "inputs": {"silver": str(ctx.layout.silver / "posts"), "posts": n_posts},
        "outputs": {"gold": str(out), "windows": windows, "rows": by_method},
        "counts": {"rows_out": sum(by_method.values()), "windows": windows},
    }


def sentiment_daily(ctx: JobContext) -> dict[str, Any]:
    """``gold/sentiment_daily`` from the newest scoring date on or before ``--date``; reconciles the posts with a
    sentiment score against the posts the daily rows count."""
    from smspark.analytics.trends import sentiment_daily as daily_rows

    gold = ctx.layout.gold
    day = scoring_date(gold / "post_sentiment", ctx.run_date)
    if day is None:
        raise UserError(f"no gold/post_sentiment on or before {ctx.run_date}: run `smspark score --model sentiment`")
    sentiment = gold_partition(ctx.spark, gold / "post_sentiment", day)
    topics_day = scoring_date(gold / "post_topics", day)
    topics = gold_partition(ctx.spark, gold / "post_topics", topics_day) if topics_day == day else None
    posts = read_table(ctx.spark, ctx.layout.silver / "posts", what="run `smspark etl` first")
    n_posts = posts.count()
    n_scored = posts.join(sentiment.select("post_id"), "post_id").count()
    out = gold / "sentiment_daily"
    write_table(daily_rows(posts, sentiment, topics, day).coalesce(4), out)
    written = ctx.spark.read.parquet(str(out))
    n_rows = written.count()
    n_counted = written.agg(F.sum("posts")).first()[0] or 0
    ctx.output("gold/sentiment_daily", out)
    return {
        "inputs": {
            "silver": str(ctx.layout.silver / "posts"),
            "post_sentiment_dt": day.isoformat(),
            "post_topics_dt": topics_day.isoformat() if topics is not None else None,
        },
        "outputs": {"gold": str(out), "rows": n_rows},
        "counts": {
            **reconcile(n_scored, n_counted),
            "posts": n_posts,
            "posts_without_sentiment": n_posts - n_scored,
            "daily_rows": n_rows,
        },
    }


def trend_alerts(ctx: JobContext) -> dict[str, Any]:
    """``gold/sentiment_daily`` -> ``gold/trend_alerts`` (trailing z-score rule, ``analytics.trends``)."""
    from smspark.analytics.trends import trend_alerts as alert_rows

    t = ctx.cfg.analytics.trends
    daily = read_table(ctx.spark, ctx.layout.gold / "sentiment_daily", what="run the sentiment_daily step first")
    out = ctx.layout.gold / "trend_alerts"
    alerts = alert_rows(daily, t.window_days, t.z_threshold, t.min_history_days, t.min_posts)
    write_table(alerts.coalesce(1), out)
    written = ctx.spark.read.parquet(str(out))
    by_metric = {
        f"{r['metric']}/{r['direction']}": r["count"] for r in written.groupBy("metric", "direction").count().collect()
    }
    ctx.output("gold/trend_alerts", out)
    return {
        "inputs": {"gold": str(ctx.layout.gold / "sentiment_daily"), **t.model_dump()},
        "outputs": {"gold": str(out), "alerts": by_metric},
        "counts": {"rows_out": sum(by_metric.values())},
    }

"""Corpus analytics steps: keywords per time window, daily sentiment, trend alerts (each a full recompute; keywords
kept as committed when neither `silver/posts` nor its settings changed).

- keywords: ``silver/posts`` -> ``gold/keywords`` (TF-IDF across windows and YAKE within them, per day and week)
- sentiment_daily: ``silver/posts`` + one scoring date of ``gold/post_sentiment`` (and ``gold/post_topics``) ->
  ``gold/sentiment_daily``
- trend_alerts: ``gold/sentiment_daily`` -> ``gold/trend_alerts``
- profile_summaries: ``silver/user_profiles`` -> ``gold/profile_summaries`` (small groups withheld)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_parquet, read_table, write_table
from smspark.manifest import reconcile


def scoring_date(uri: str, run_date: dt.date) -> dt.date | None:
    """The newest committed ``dt`` partition of the gold table at ``uri`` on or before ``run_date`` (None when there
    is none, or no table)."""
    days = [d for d in map(dt.date.fromisoformat, tables.partition_values(uri, "dt")) if d <= run_date]
    return max(days) if days else None


def gold_partition(spark: SparkSession, uri: str, day: dt.date) -> DataFrame:
    """One ``dt`` partition of the committed gold table at ``uri``."""
    return read_parquet(spark, uri).where(F.col("dt") == F.lit(day))


def keywords(ctx: JobContext) -> dict[str, Any]:
    """``silver/posts`` -> ``gold/keywords``: per corpus and window kind, TF-IDF and YAKE top terms.

    A full recompute, skipped when the committed table was built from the same rows of ``silver/posts`` (a digest of
    the columns read) and the same settings (:func:`smspark.jobs.reuse.rebuild_reason`): the table is kept and the
    record says ``reuse``. ``--rescore`` (``scoring.reuse`` off) rebuilds it."""
    from smspark.analytics.keywords import tfidf_keywords, window_documents, yake_keywords
    from smspark.features.topics import post_terms
    from smspark.jobs import reuse

    k = ctx.cfg.analytics.keywords
    extra = ctx.cfg.models.topics.extra_stop_words
    silver = storage.join(ctx.layout.silver, "posts")
    posts = read_table(ctx.spark, silver, what="run `smspark etl` first")
    out = storage.join(ctx.layout.gold, "keywords")
    state = reuse.input_state(silver, posts, ["post_id", "corpus", "dt", "created_at", "text"])
    fp = reuse.fingerprint([], {"silver/posts": state}, {"keywords": k.model_dump(), "extra_stop_words": extra})
    why = reuse.rebuild_reason(ctx, out, fp)
    if why is None:
        commit = tables.current(out)
        ctx.output("gold/keywords", out)
        return {
            "inputs": {"silver": silver, "posts": state["rows"]},
            "outputs": {"gold": out},
            "reuse": f"kept version {commit.version}: silver/posts and settings unchanged",
            "counts": {"rows_out": read_parquet(ctx.spark, out).count(), "kept_version": commit.version},
        }
    terms = post_terms(posts, extra).select("post_id", "terms")
    posts = posts.select("post_id", "corpus", "dt", "created_at", "text").join(terms, "post_id").persist()
    n_posts = posts.count()
    parts, windows = [], {}
    for window in k.windows:
        docs = window_documents(posts, window, k.min_posts).persist()
        windows[window] = docs.count()
        parts.append(tfidf_keywords(docs, k.top_n, k.vocab_size, k.min_df))
        parts.append(yake_keywords(docs, k.top_n, k.yake_ngram, k.yake_max_chars))
    result = parts[0]
    for p in parts[1:]:
        result = result.unionByName(p)
    write_table(result.coalesce(4), out, meta={reuse.BUILT_FROM: fp})
    written = read_parquet(ctx.spark, out)
    by_method = {
        f"{r['window']}/{r['method']}": r["count"] for r in written.groupBy("window", "method").count().collect()
    }
    posts.unpersist()
    ctx.output("gold/keywords", out)
    return {
        "inputs": {"silver": silver, "posts": n_posts},
        "outputs": {"gold": out, "windows": windows, "rows": by_method},
        "reuse": why,
        "counts": {"rows_out": sum(by_method.values()), "windows": windows},
    }


def sentiment_daily(ctx: JobContext) -> dict[str, Any]:
    """``gold/sentiment_daily`` from the newest scoring date on or before ``--date``; reconciles the posts with a
    sentiment score against the posts the daily rows count."""
    from smspark.analytics.trends import sentiment_daily as daily_rows

    sentiment_uri = storage.join(ctx.layout.gold, "post_sentiment")
    topics_uri = storage.join(ctx.layout.gold, "post_topics")
    day = scoring_date(sentiment_uri, ctx.run_date)
    if day is None:
        raise UserError(f"no gold/post_sentiment on or before {ctx.run_date}: run `smspark score --model sentiment`")
    sentiment = gold_partition(ctx.spark, sentiment_uri, day)
    topics_day = scoring_date(topics_uri, day)
    topics = gold_partition(ctx.spark, topics_uri, topics_day) if topics_day == day else None
    silver = storage.join(ctx.layout.silver, "posts")
    posts = read_table(ctx.spark, silver, what="run `smspark etl` first")
    n_posts = posts.count()
    n_scored = posts.join(sentiment.select("post_id"), "post_id").count()
    out = storage.join(ctx.layout.gold, "sentiment_daily")
    write_table(daily_rows(posts, sentiment, topics, day).coalesce(4), out)
    written = read_parquet(ctx.spark, out)
    n_rows = written.count()
    n_counted = written.agg(F.sum("posts")).first()[0] or 0
    ctx.output("gold/sentiment_daily", out)
    return {
        "inputs": {
            "silver": silver,
            "post_sentiment_dt": day.isoformat(),
            "post_topics_dt": topics_day.isoformat() if topics is not None else None,
        },
        "outputs": {"gold": out, "rows": n_rows},
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
    src = storage.join(ctx.layout.gold, "sentiment_daily")
    daily = read_table(ctx.spark, src, what="run the sentiment_daily step first")
    out = storage.join(ctx.layout.gold, "trend_alerts")
    alerts = alert_rows(daily, t.window_days, t.z_threshold, t.min_history_days, t.min_posts)
    write_table(alerts.coalesce(1), out)
    written = read_parquet(ctx.spark, out)
    by_metric = {
        f"{r['metric']}/{r['direction']}": r["count"] for r in written.groupBy("metric", "direction").count().collect()
    }
    ctx.output("gold/trend_alerts", out)
    return {
        "inputs": {"gold": src, **t.model_dump()},
        "outputs": {"gold": out, "alerts": by_metric},
        "counts": {"rows_out": sum(by_metric.values())},
    }


def profile_summaries(ctx: JobContext) -> dict[str, Any]:
    """``gold/profile_summaries`` (:func:`smspark.analytics.suppression.profile_summaries`, ``k`` =
    ``privacy.min_group_size``); reconciles the profiles in against the users of released groups plus the users of
    withheld groups (counted from the profiles themselves)."""
    from smspark.analytics.suppression import activity_band
    from smspark.analytics.suppression import profile_summaries as summarise
    from smspark.features.profiles import PROFILE_COLUMNS

    k = ctx.cfg.privacy.min_group_size
    src = storage.join(ctx.layout.silver, "user_profiles")
    profiles = read_table(ctx.spark, src, what="run `smspark features --models profiles` first")
    columns = list(dict.fromkeys(c for cols in PROFILE_COLUMNS.values() for c in cols))
    out = storage.join(ctx.layout.gold, "profile_summaries")
    write_table(summarise(profiles, columns, k).coalesce(1), out)
    written = read_parquet(ctx.spark, out)
    released = written.agg(F.sum("users")).first()[0] or 0
    sizes = profiles.groupBy("source", activity_band(F.col("n_events"))).count()
    withheld = sizes.where(F.col("count") < k).agg(F.sum("count")).first()[0] or 0
    groups = written.count()
    n_withheld_groups = written.where(F.col("suppressed")).count()
    ctx.output("gold/profile_summaries", out)
    return {
        "inputs": {"silver": src, "min_group_size": k},
        "outputs": {"gold": out, "groups": groups, "groups_withheld": n_withheld_groups},
        "counts": {**reconcile(profiles.count(), released + withheld), "users_in_withheld_groups": withheld},
    }

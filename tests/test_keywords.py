"""Keywords per time window on a slice of the real archive: day and week windows, TF-IDF across windows, YAKE."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
from pyspark.sql import functions as F

from smspark.analytics.keywords import tfidf_keywords, window_documents, yake_keywords, yake_text
from smspark.etl.text import normalise_text
from smspark.features.topics import post_terms
from tests.conftest import require_landing


def _posts(spark, n: int = 400):
    path = require_landing("posts", "trump_archive", "posts.jsonl")
    rows = [json.loads(line) for line, _ in zip(path.open(), range(n), strict=False)]
    created = [pd.Timestamp(r["created_at"]).tz_localize(None) for r in rows]
    pdf = pd.DataFrame(
        {
            "post_id": [r["id"] for r in rows],
            "corpus": "trump_archive",
            "author_id": "u_a",
            "created_at": created,
            "dt": [c.date() for c in created],
            "text": [normalise_text(r["text"]) for r in rows],
        }
    )
    posts = spark.createDataFrame(
        pdf, "post_id string, corpus string, author_id string, created_at timestamp, dt date, text string"
    )
    return posts.join(post_terms(posts).select("post_id", "terms"), "post_id")


def test_day_and_week_windows(spark):
    posts = _posts(spark).persist()
    days = window_documents(posts, "day").collect()
    weeks = window_documents(posts, "week", min_posts=2).collect()
    pdf = posts.select("dt").toPandas()
    assert len(days) == pdf["dt"].nunique() and sum(r["posts"] for r in days) == len(pdf)
    mondays = {d - dt.timedelta(days=d.weekday()) for d in pdf["dt"]}
    assert {r["window_start"] for r in weeks} <= mondays
    assert all(r["window_start"].weekday() == 0 and r["posts"] >= 2 for r in weeks)
    posts.unpersist()


def test_tfidf_and_yake_rank_terms_per_window(spark):
    posts = _posts(spark).persist()
    weeks = window_documents(posts, "week", min_posts=3).persist()
    tfidf = tfidf_keywords(weeks, top_n=5, min_df=1).toPandas()
    n_weeks = weeks.count()
    assert tfidf["window_start"].nunique() == n_weeks
    for _, g in tfidf.groupby("window_start"):
        assert g["rank"].tolist() == list(range(1, len(g) + 1))
        assert g["score"].is_monotonic_decreasing
    # a top TF-IDF term of a week occurs in that week's posts
    first = tfidf.sort_values(["window_start", "rank"]).iloc[0]
    week_terms = weeks.where(F.col("window_start") == F.lit(first["window_start"])).first()["terms"]
    assert first["term"] in week_terms
    yk = yake_keywords(weeks, top_n=5, ngram=2).toPandas()
    assert set(yk["method"]) == {"yake"} and yk.groupby("window_start")["rank"].max().max() <= 5
    assert (yk["term"] == yk["term"].str.lower()).all() and "<url>" not in " ".join(yk["term"])
    assert yake_text("Thanks @u_12ab <url> Iowa").split() == ["Thanks", "Iowa"]
    weeks.unpersist()
    posts.unpersist()


def test_tfidf_needs_two_windows_and_a_shared_term(spark):
    posts = _posts(spark, 60).persist()
    days = window_documents(posts, "day").persist()
    first_day = days.orderBy("window_start").limit(1)
    assert tfidf_keywords(first_day, top_n=5, min_df=2).count() == 0  # one window: IDF across windows undefined
    none_shared = tfidf_keywords(days, top_n=5, min_df=days.count() + 1)  # no term in more windows than exist
    types = [(f.name, f.dataType) for f in tfidf_keywords(days, top_n=5, min_df=1).schema]
    assert none_shared.count() == 0 and [(f.name, f.dataType) for f in none_shared.schema] == types
    assert tfidf_keywords(days, top_n=5, min_df=1).count() > 0
    days.unpersist()
    posts.unpersist()

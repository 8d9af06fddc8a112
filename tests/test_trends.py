"""Daily sentiment and the trailing 28-day z-score alert rule."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from smspark.analytics.trends import sentiment_daily, trend_alerts
from smspark.schemas import GOLD_SENTIMENT_DAILY, GOLD_TREND_ALERTS

D0 = dt.date(2016, 1, 1)


def _daily(spark, rows):
    """rows: (day offset, topic, posts, negative share) -> gold/sentiment_daily rows of one corpus and client."""
    data = [
        (D0 + dt.timedelta(days=d), "c", "web", t, n, neg, 1.0 - neg, 0.0, neg, 1.0 - neg, 0.0, D0)
        for d, t, n, neg in rows
    ]
    return spark.createDataFrame(data, GOLD_SENTIMENT_DAILY)


def test_volume_spike_alerts_with_hand_computed_z(spark):
    # topic 1: 9, 11, 9, 11 ... posts a day for 40 days, then 30 on day 40; day 10 has too little history
    rows = [(d, 1, 9 if d % 2 == 0 else 11, 0.2) for d in range(40)] + [(40, 1, 30, 0.2)]
    alerts = trend_alerts(_daily(spark, rows), window_days=28, z_threshold=3.0, min_history_days=14, min_posts=5)
    got = alerts.collect()
    assert [(r["dt"], r["metric"], r["direction"]) for r in got] == [(D0 + dt.timedelta(days=40), "volume", "up")]
    prior = [9 if d % 2 == 0 else 11 for d in range(12, 40)]  # the 28 days before day 40
    mean = sum(prior) / 28
    std = math.sqrt(sum((x - mean) ** 2 for x in prior) / 27)
    assert got[0]["trailing_mean"] == pytest.approx(mean)
    assert got[0]["trailing_std"] == pytest.approx(std)
    assert got[0]["z"] == pytest.approx((30 - mean) / std)
    assert [(f.name, f.dataType) for f in alerts.schema] == [(f.name, f.dataType) for f in GOLD_TREND_ALERTS]


def test_negative_share_and_empty_days(spark):
    # topic 2: 10 posts a day, 10-30% negative, none on days 20-21, 90% negative on day 35;
    # topic 3: 3 posts a day (below min_posts: no negative share), all negative on its last day
    rows = [(d, 2, 10, 0.9 if d == 35 else 0.1 + 0.1 * (d % 3)) for d in range(40) if d not in (20, 21)]
    rows += [(d, 3, 3, 1.0 if d == 39 else 0.0) for d in range(40)]
    alerts = trend_alerts(_daily(spark, rows), window_days=28, z_threshold=3.0, min_history_days=14, min_posts=5)
    got = {(r["dominant_topic"], (r["dt"] - D0).days, r["metric"], r["direction"]) for r in alerts.collect()}
    # day 21 is the second day without posts: volume 0 against 20 days of 10 and one 0 (a dense calendar);
    # day 20 has no alert because its 20 trailing days are all 10 (no spread)
    assert got == {(2, 21, "volume", "down"), (2, 35, "negative_share", "up")}


def test_sentiment_daily_shares(spark):
    posts = spark.createDataFrame(
        [("a", "c", "web", D0), ("b", "c", "web", D0), ("x", "c", None, D0), ("n", "c", "web", D0)],
        "post_id string, corpus string, client string, dt date",
    )
    sentiment = spark.createDataFrame(
        [("a", "negative", 0.8, 0.1, 0.1), ("b", "positive", 0.1, 0.2, 0.7), ("x", "neutral", 0.2, 0.6, 0.2)],
        "post_id string, label string, prob_negative double, prob_neutral double, prob_positive double",
    )
    topics = spark.createDataFrame([("a", 3), ("b", 3), ("x", None)], "post_id string, dominant_topic int")
    rows = {(r["client"], r["dominant_topic"]): r for r in sentiment_daily(posts, sentiment, topics, D0).collect()}
    assert set(rows) == {("web", 3), ("unknown", -1)}  # post "n" has no sentiment score: left out
    web = rows[("web", 3)]
    assert web["posts"] == 2 and web["share_negative"] == 0.5 and web["share_positive"] == 0.5
    assert web["mean_prob_positive"] == pytest.approx(0.4)
    assert rows[("unknown", -1)]["share_neutral"] == 1.0

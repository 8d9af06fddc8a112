"""Account features against hand-computed values on a small DataFrame built here."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.testing import assertDataFrameEqual

from smspark.features.accounts import account_features

H = "@u_0123456789abcdef"


def test_account_features_hand_computed(spark):
    t0 = dt.datetime(2026, 1, 1, 0, 0, 0)
    rows = [
        ("a", t0, "Buy now <url>", "web"),
        ("a", t0 + dt.timedelta(seconds=100), "buy   NOW <url>", "web"),
        ("a", t0 + dt.timedelta(seconds=400), f"hi {H} {H}", "android"),
        ("b", t0 + dt.timedelta(hours=5), "one", None),
        (None, t0, "no author", "web"),
    ]
    df = spark.createDataFrame(rows, "author_id string, created_at timestamp, text string, client string")
    got = account_features(df)
    # a: gaps 100, 300 -> mean 200, pop sd 100, cv 0.5; all at hour 0 -> entropy 0; 2 of 3 duplicates;
    # links 2/3, mentions 2/3; clients 2/3.  b: one post, no gaps.
    expected = spark.createDataFrame(
        [
            ("a", 3, 200.0, 0.5, 0.0, 2 / 3, 2 / 3, 2 / 3, 2 / 3),
            ("b", 1, None, None, 0.0, 0.0, 0.0, 0.0, 0.0),
        ],
        got.schema,
    )
    assertDataFrameEqual(got, expected, rtol=1e-9)
    assert pytest.approx(0.5) == got.where("author_id = 'a'").first().interval_cv


def test_near_duplicate_share(spark):
    from smspark.features.accounts import near_duplicate_share

    rows = [
        ("1", "a", "win a free phone today click here now"),
        ("2", "a", "win a free phone today click here"),
        ("3", "a", "the weather in lisbon is lovely"),
        ("4", "b", "win a free phone today click here now"),
        ("5", "b", ""),
    ]
    df = spark.createDataFrame(rows, "post_id string, author_id string, text string")
    got = near_duplicate_share(df)
    # a: posts 1 and 2 share 13 of 15 shingles (distance 2/15 <= 0.3), post 3 none -> 2/3; b: the identical text
    # belongs to another author, the empty post has no shingles -> 0.
    expected = spark.createDataFrame([("a", 2 / 3), ("b", 0.0)], got.schema)
    assertDataFrameEqual(got, expected, rtol=1e-9)


def test_spam_share(spark):
    from smspark.features.accounts import spam_share

    posts = spark.createDataFrame([("1", "a"), ("2", "a"), ("3", "a"), ("4", "b")], "post_id string, author_id string")
    scores = spark.createDataFrame([("1", 0.9), ("2", 0.5), ("3", 0.1)], "post_id string, spam_probability double")
    got = spam_share(posts, scores)
    # a: 0.9 and 0.5 reach the threshold, 0.1 does not -> 2/3; b has no scored post -> null.
    assertDataFrameEqual(got, spark.createDataFrame([("a", 2 / 3), ("b", None)], got.schema), rtol=1e-9)
    assert spam_share(posts, None).where("spam_share is not null").count() == 0

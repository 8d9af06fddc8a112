"""Popularity fallback for users the recommender champion does not know, on a real MovieLens slice: the lists are
checked against the same ranking computed independently in pandas."""

from __future__ import annotations

import csv
import datetime as dt

import pandas as pd
import pytest
from pyspark.sql import functions as F

from smspark.scoring.recommendations import STRATEGY_POPULARITY, STRATEGY_SEGMENT, fallback_recommendations
from tests.conftest import require_landing

K = 10
USERS = 30


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    with require_landing("movielens", "ratings.csv").open(newline="") as fh:
        rows = [r for r in list(csv.reader(fh))[1:] if int(r[0]) <= USERS]
    return pd.DataFrame({"user_id": [f"u{r[0]}" for r in rows], "item_id": [int(r[1]) for r in rows]})


def _expected(ratings: pd.DataFrame, user: str, members: list[str] | None, k: int) -> list[int]:
    """The fallback ranking recomputed in pandas: (segment members who rated it, users who rated it, item id)."""
    pairs = ratings.drop_duplicates()
    overall = pairs.groupby("item_id")["user_id"].nunique()
    if members is None:
        in_seg = pd.Series(0, index=overall.index)
    else:
        in_seg = pairs[pairs["user_id"].isin(members)].groupby("item_id")["user_id"].nunique()
        in_seg = in_seg.reindex(overall.index, fill_value=0)
    table = pd.DataFrame({"m": in_seg, "n": overall}).reset_index()
    table = table.sort_values(["m", "n", "item_id"], ascending=[False, False, True])
    seen = set(pairs.loc[pairs["user_id"] == user, "item_id"])
    return [i for i in table["item_id"] if i not in seen][:k]


def test_fallback_lists_follow_segment_then_overall_popularity(spark, ratings):
    events = spark.createDataFrame(ratings)
    # segments as gold/user_segments holds them from two earlier scoring dates; u5's latest one is segment 0
    day1, day2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)
    seg_rows = [(f"u{u}", 1, day1) for u in range(1, 11)]
    seg_rows += [(f"u{u}", 0 if u <= 10 else 1, day2) for u in range(1, 21)]
    segments = spark.createDataFrame(seg_rows, "user_id string, segment int, dt date")
    unknown = ["u5", "u15", "u25", "u26"]
    users = spark.createDataFrame([(u,) for u in unknown], "user_id string")

    got = fallback_recommendations(users, events, segments, K).toPandas()

    assert sorted(got["user_id"].unique()) == sorted(unknown)
    strategy = got.groupby("user_id")["strategy"].agg(set).to_dict()
    assert strategy == {
        "u5": {STRATEGY_SEGMENT},
        "u15": {STRATEGY_SEGMENT},
        "u25": {STRATEGY_POPULARITY},
        "u26": {STRATEGY_POPULARITY},
    }
    seg0 = [f"u{u}" for u in range(1, 11)]
    seg1 = [f"u{u}" for u in range(11, 21)]
    members = {"u5": seg0, "u15": seg1, "u25": None, "u26": None}
    for user, group in got.groupby("user_id"):
        group = group.sort_values("rank")
        assert group["rank"].tolist() == list(range(1, K + 1))
        assert group["item_id"].tolist() == _expected(ratings, user, members[user], K), user
        assert not set(group["item_id"]) & set(ratings.loc[ratings["user_id"] == user, "item_id"])
        assert group["recommender_score"].between(0, 1).all()
    # a segment changes the list: u5's segment list differs from the overall one
    assert _expected(ratings, "u5", seg0, K) != _expected(ratings, "u5", None, K)


def test_a_user_with_too_few_unrated_items_gets_a_short_list(spark, ratings):
    """A catalogue of the 15 items most rated in the slice: a user who rated 10 of them has 5 unrated items left."""
    top = ratings.groupby("item_id")["user_id"].nunique().sort_values(ascending=False).index[:15]
    small = ratings[ratings["item_id"].isin(top)]
    counts = small.groupby("user_id")["item_id"].nunique()
    user = counts[counts >= 6].index[0]
    unrated = 15 - int(counts[user])
    events = spark.createDataFrame(small)
    users = spark.createDataFrame([(user,)], "user_id string")
    got = fallback_recommendations(users, events, None, K)
    assert got.count() == unrated < K
    assert got.where(F.col("strategy") != STRATEGY_POPULARITY).count() == 0

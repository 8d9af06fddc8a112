"""Leave-last-out split, negative sampling and behaviour histories: invariants on real MovieLens slices."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from smspark.features.interactions import (
    behaviour_rows,
    build_id_maps,
    id_frames,
    latest_per_pair,
    leave_last_out,
    recommender_rows,
    user_states,
)
from tests.conftest import require_landing

HISTORY = 5


def _ts(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


@pytest.fixture(scope="module")
def events(spark):
    """Real ratings of users 1..30 (2,964 events), as silver-like rows with integer-looking user ids."""
    ratings = pd.read_csv(require_landing("movielens", "ratings.csv"))
    movies = pd.read_csv(require_landing("movielens", "movies.csv"))
    sl = ratings[ratings.userId <= 30]
    pdf = pd.DataFrame(
        {
            "user_id": "u" + sl.userId.astype(str),
            "item_id": sl.movieId.astype("int32"),
            "rating": sl.rating.astype("float32"),
            "event_time": pd.to_datetime(sl.timestamp, unit="s"),
        }
    )
    df = spark.createDataFrame(pdf).persist()
    genres = {int(m): g.split("|") for m, g in zip(movies.movieId, movies.genres, strict=True)}
    maps = build_id_maps(pdf.user_id.tolist(), pdf.item_id.tolist(), genres)
    return df, pdf, maps


def test_leave_last_out_orders_by_time_then_item(spark):
    rows = [
        ("a", 5, 4.0, _ts(1)),
        ("a", 3, 3.0, _ts(2)),
        ("a", 1, 2.0, _ts(2)),  # same second as item 3: the smaller item id comes first
        ("a", 9, 5.0, _ts(3)),
        ("b", 7, 1.0, _ts(5)),
        ("b", 8, 2.0, _ts(4)),  # fewer than 3 events: all train
    ]
    df = spark.createDataFrame(rows, "user_id string, item_id int, rating float, event_time timestamp")
    assertDataFrameEqual(
        leave_last_out(df).select("user_id", "item_id", "pos", "split"),
        [
            Row(user_id="a", item_id=5, pos=0, split="train"),
            Row(user_id="a", item_id=1, pos=1, split="train"),
            Row(user_id="a", item_id=3, pos=2, split="val"),
            Row(user_id="a", item_id=9, pos=3, split="test"),
            Row(user_id="b", item_id=8, pos=0, split="train"),
            Row(user_id="b", item_id=7, pos=1, split="train"),
        ],
    )


def _pairs(spark, df, maps):
    users, items = id_frames(spark, maps)
    p = leave_last_out(latest_per_pair(df)).join(users, "user_id").join(items.select("item_id", "item_idx"), "item_id")
    return p.select("user_idx", "item_idx", "split", "event_time")


def test_recommender_negatives_follow_the_protocol(spark, events):
    df, pdf, maps = events
    pairs = _pairs(spark, df, maps).persist()
    rows = recommender_rows(pairs.drop("event_time"), maps.n_items, 4, 100, seed=42).persist()
    got = rows.toPandas()
    pos = pairs.toPandas()
    # every interaction is a positive exactly once, in its split
    assert (got.label == 1).sum() == len(pos) == pdf.groupby(["user_id", "item_id"]).ngroups
    neg = got[got.label == 0]
    n_train = (pos.split == "train").sum()
    assert (neg.split == "train").sum() == 4 * n_train
    for split in ("val", "test"):
        per_user = neg[neg.split == split].groupby("user_idx").item_idx
        assert set(per_user.size()) == {100} and len(per_user.size()) == 30
        assert set(per_user.nunique()) == {100}  # distinct within a user
    # negatives were never interacted with by that user, in any split
    seen = set(zip(pos.user_idx, pos.item_idx, strict=True))
    assert not any((u, i) in seen for u, i in zip(neg.user_idx, neg.item_idx, strict=True))
    assert neg.item_idx.between(1, maps.n_items).all()
    # the last interaction is the test item, the one before it the validation item
    last = pos.sort_values(["user_idx", "event_time", "item_idx"]).groupby("user_idx").tail(2)
    assert (last.groupby("user_idx").split.apply(list) == pd.Series([["val", "test"]] * 30, index=range(30))).all()
    # seeded: the same sample again
    again = recommender_rows(pairs.drop("event_time"), maps.n_items, 4, 100, seed=42).toPandas()
    key = ["split", "user_idx", "label", "item_idx"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True), again.sort_values(key).reset_index(drop=True), check_like=True
    )
    rows.unpersist()
    pairs.unpersist()


def test_behaviour_histories_have_no_leakage(spark, events):
    df, pdf, maps = events
    users, items = id_frames(spark, maps)
    indexed = df.join(users, "user_id").join(items.select("item_id", "item_idx"), "item_id")
    split = leave_last_out(indexed, user_col="user_idx", item_col="item_idx")
    rows = behaviour_rows(split, items, HISTORY, 4.0).toPandas()
    assert len(rows) == len(pdf)
    assert set(rows.split.value_counts().loc[["val", "test"]]) == {30}

    ordered = split.select("user_idx", "item_idx", "rating", "event_time", "pos", "split").toPandas()
    ordered = ordered.sort_values(["user_idx", "pos"])
    by_user = {u: g.reset_index(drop=True) for u, g in ordered.groupby("user_idx")}
    n_genres = len(maps.genres)
    for r in rows.itertuples():
        events_u = by_user[r.user_idx]
        p = events_u.index[(events_u.item_idx == r.cand_item)][-1]  # MovieLens has one rating per (user, item)
        assert events_u.split[p] == r.split
        prev = events_u.iloc[max(0, p - HISTORY) : p]
        pad = HISTORY - len(prev)
        assert list(r.hist_items) == [0] * pad + prev.item_idx.tolist()
        assert list(r.hist_ratings) == pytest.approx([0.0] * pad + prev.rating.tolist())
        hours = (events_u.event_time[p] - prev.event_time).dt.total_seconds() / 3600
        assert list(r.hist_gaps) == pytest.approx([0.0] * pad + np.log1p(hours).tolist(), rel=1e-5)
        assert r.label == float(events_u.rating[p] >= 4.0)
        assert len(r.cand_genres) == n_genres
        np.testing.assert_array_equal(r.cand_genres, maps.item_genres[r.cand_item])
        # no leakage: a training row never sees the user's val/test events
        if r.split == "train":
            later = set(events_u.item_idx[events_u.split != "train"])
            assert not later & set(r.hist_items)


def test_user_states_hold_seen_items_and_the_latest_history(spark, events):
    df, pdf, _ = events
    st = user_states(df, HISTORY).where(F.col("user_id") == "u1").first()
    u1 = pdf[pdf.user_id == "u1"].sort_values(["event_time", "item_id"])
    assert st["seen"] == sorted(u1.item_id.tolist())
    assert st["hist_items"] == u1.item_id.tolist()[-HISTORY:]
    assert st["hist_gaps"][-1] == 0.0 and st["hist_gaps"] == sorted(st["hist_gaps"], reverse=True)

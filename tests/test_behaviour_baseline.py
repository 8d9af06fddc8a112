"""The behaviour baseline's aggregates use only events before the predicted one: never the row's own rating or
label. Hand-made events, then real MovieLens users."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from smspark.models.behaviour import AGGREGATES, aggregate_features
from tests.conftest import require_landing

ROWS = (
    "user_idx int, cand_item int, cand_genres array<float>, rating float, label float, split string, pos int, "
    "event_ts bigint"
)
K = 5.0  # prior weight


def _rows(spark, records):
    return spark.createDataFrame([(*r[:3], r[3], float(r[3] >= 4), *r[4:]) for r in records], ROWS)


def test_hand_computed_aggregates_from_earlier_events_only(spark):
    # user 0: three events; user 1: two. genres: [drama, comedy]
    records = [
        (0, 10, [1.0, 0.0], 5.0, "train", 0, 1000),
        (0, 11, [1.0, 1.0], 2.0, "val", 1, 4600),
        (0, 12, [1.0, 0.0], 4.0, "test", 2, 8200),
        (1, 10, [1.0, 0.0], 3.0, "train", 0, 2000),
        (1, 12, [1.0, 0.0], 1.0, "train", 1, 9000),
    ]
    got = aggregate_features(_rows(spark, records), prior_weight=K).toPandas().set_index(["user_idx", "pos"])
    # priors: the training rows of the *other* users (leave one user out): user 0 sees user 1's 3 and 1 stars,
    # user 1 sees user 0's 5 stars (engaged)
    g_rating, g_label = (3 + 1) / 2, 0.0
    first = got.loc[(0, 0)]
    assert first.user_log_count == 0 and first.user_mean_rating == pytest.approx(g_rating)
    assert first.user_engagement_rate == pytest.approx(g_label) and first.user_log_gap_hours == 0
    assert first.item_log_popularity == 0 and first.item_mean_rating == pytest.approx(g_rating)
    test = got.loc[(0, 2)]  # earlier events of user 0: ratings 5 (engaged), 2
    assert test.user_log_count == pytest.approx(math.log1p(2))
    assert test.user_mean_rating == pytest.approx((7 + K * g_rating) / (2 + K))
    rate = (1 + K * g_label) / (2 + K)
    assert test.user_engagement_rate == pytest.approx(rate)
    assert test.user_recent_mean_rating == pytest.approx(3.5)
    assert test.user_log_gap_hours == pytest.approx(math.log1p(1.0))
    assert test.user_genre_affinity == pytest.approx((1 + K * rate) / (2 + K))  # drama: both earlier events
    # item 12 before t=8200: nobody (user 1 rated it at 9000)
    assert test.item_log_popularity == 0
    later = got.loc[(1, 1)]  # item 12 before t=9000: user 0's 4 stars (engaged); user 1's priors: 5.0 and 1.0
    assert later.item_log_popularity == pytest.approx(math.log1p(1))
    assert later.item_mean_rating == pytest.approx((4 + K * 5.0) / (1 + K))
    assert later.item_engagement_rate == pytest.approx((1 + K * 1.0) / (1 + K))


@pytest.fixture(scope="module")
def movielens_rows(spark):
    """Behaviour-like rows of real MovieLens users 1..40, ordered per user by time then item."""
    ratings = pd.read_csv(require_landing("movielens", "ratings.csv"))
    sl = ratings[ratings.userId <= 40].sort_values(["userId", "timestamp", "movieId"]).copy()
    sl["pos"] = sl.groupby("userId").cumcount()
    n = sl.groupby("userId").pos.transform("max") + 1
    sl["split"] = np.where(sl.pos == n - 1, "test", np.where(sl.pos == n - 2, "val", "train"))
    genres = np.eye(3, dtype=np.float32)[sl.movieId % 3]
    records = [
        (int(u), int(i), g.tolist(), float(r), s, int(p), int(t))
        for u, i, g, r, s, p, t in zip(
            sl.userId, sl.movieId, genres, sl.rating, sl.split, sl.pos, sl.timestamp, strict=True
        )
    ]
    return records


@pytest.mark.parametrize("items_from", ["earlier", "train_other_users"])
def test_a_rows_own_rating_never_reaches_its_features(spark, movielens_rows, items_from):
    before = aggregate_features(_rows(spark, movielens_rows), items_from=items_from).toPandas()
    # flip the rating (and so the label) of user 1's 6th event, leave everything else alone
    flipped = [(*r[:3], 5.5 - r[3], *r[4:]) if r[0] == 1 and r[5] == 5 else r for r in movielens_rows]
    after = aggregate_features(_rows(spark, flipped), items_from=items_from).toPandas()
    key = ["user_idx", "pos", "cand_item"]
    before, after = before.sort_values(key).reset_index(drop=True), after.sort_values(key).reset_index(drop=True)
    changed = ~np.isclose(before[list(AGGREGATES)], after[list(AGGREGATES)]).all(axis=1)
    user = before.user_idx == 1
    assert not changed[user & (before.pos == 5)].any()  # the flipped row's own features do not move
    assert not changed[user & (before.pos < 5)].any()  # nor do the user's earlier rows
    assert changed[user & (before.pos == 6)].all()  # the user's next event sees the change


def test_training_rows_are_featurised_like_test_rows(spark, movielens_rows):
    """Without a leak the baseline's training and test features have the same relation to the label: the user's
    mean rating of earlier events is not a copy of the row's own rating (the old aggregates included it)."""
    got = aggregate_features(_rows(spark, movielens_rows)).where(F.col("split") == "train").toPandas()
    corr_train = np.corrcoef(got.user_mean_rating, got.rating)[0, 1]
    assert corr_train < 0.5
    assert got[list(AGGREGATES)].notna().all().all()

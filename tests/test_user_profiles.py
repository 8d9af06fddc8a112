"""User profiles: aggregates of real MovieLens users checked against an independent pandas computation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from smspark.features.profiles import TOP_GENRES, author_profiles, genre_column, interaction_profiles
from smspark.schemas import SILVER_USER_PROFILES
from tests.conftest import require_landing

DT = dt.date(2026, 1, 1)


def _nullable(schema):
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(f.name, f.dataType, True) for f in schema.fields])


@pytest.fixture(scope="module")
def ml(spark):
    """Real ratings of users 1..20 with the real catalogue, as silver-like rows (UTC session)."""
    ratings = pd.read_csv(require_landing("movielens", "ratings.csv"))
    movies = pd.read_csv(require_landing("movielens", "movies.csv"))
    sl = ratings[ratings.userId <= 20]
    pdf = pd.DataFrame(
        {
            "user_id": "u" + sl.userId.astype(str),
            "item_id": sl.movieId.astype("int32"),
            "rating": sl.rating.astype("float32"),
            "event_time": pd.to_datetime(sl.timestamp, unit="s"),
        }
    )
    items = pd.DataFrame({"item_id": movies.movieId.astype("int32"), "genres": movies.genres.str.split("|")})
    return spark.createDataFrame(pdf), spark.createDataFrame(items), pdf, items


def test_schema_genre_columns_follow_top_genres():
    names = [f.name for f in SILVER_USER_PROFILES.fields if f.name.startswith("genre_")]
    assert names == [genre_column(g) for g in TOP_GENRES]


def test_interaction_profiles_match_pandas(ml):
    events, items, pdf, ipdf = ml
    got = interaction_profiles(events, items, F.lit(DT)).toPandas().set_index("user_id").sort_index()
    assertSchemaEqual(_nullable(interaction_profiles(events, items, F.lit(DT)).schema), _nullable(SILVER_USER_PROFILES))
    assert len(got) == pdf.user_id.nunique() and (got.source == "interactions").all()
    assert got.reply_share.isna().all()

    g = pdf.groupby("user_id")
    assert (got.n_events == g.size()).all()
    np.testing.assert_allclose(got.rating_mean, g.rating.mean(), rtol=1e-6)
    np.testing.assert_allclose(got.rating_std, g.rating.std(ddof=1).fillna(0.0), rtol=1e-5)
    assert (got.active_days == g.event_time.apply(lambda s: s.dt.date.nunique())).all()
    hours = pdf.assign(h=pdf.event_time.dt.hour)
    counts = hours.groupby(["user_id", "h"]).size().unstack(fill_value=0)
    p = counts.div(counts.sum(axis=1), axis=0)
    entropy = -(p * np.log2(p.where(p > 0, 1.0))).sum(axis=1)
    np.testing.assert_allclose(got.hour_entropy, entropy, rtol=1e-9)
    evening = hours.assign(e=hours.h >= 18).groupby("user_id").e.mean()
    np.testing.assert_allclose(got.hour_evening, evening, rtol=1e-9)
    mix = got[["hour_night", "hour_morning", "hour_afternoon", "hour_evening"]].sum(axis=1)
    np.testing.assert_allclose(mix, 1.0)
    drama = pdf.merge(ipdf, on="item_id", how="left").assign(d=lambda d: d.genres.map(lambda x: "Drama" in x))
    np.testing.assert_allclose(got.genre_drama, drama.groupby("user_id").d.mean(), rtol=1e-9)


def test_author_profiles(spark):
    ts = dt.datetime(2026, 1, 1, 9, 30)
    rows = [
        ("a", ts, "hi @u_0123456789abcdef and @u_fedcba9876543210 <url>", None, "Twitter for iPhone"),
        ("a", ts + dt.timedelta(days=1, hours=10), "reply", "b", "Twitter Web Client"),
        ("b", ts, "x", None, None),
        (None, ts, "no author", None, "Twitter Web Client"),
    ]
    posts = spark.createDataFrame(
        rows, "author_id string, created_at timestamp, text string, in_reply_to_author_id string, client string"
    )
    got = author_profiles(posts, F.lit(DT)).toPandas().set_index("user_id").sort_index()
    assert list(got.index) == ["a", "b"] and (got.source == "posts").all()
    a = got.loc["a"]
    assert a.n_events == 2 and a.active_days == 2 and a.events_per_active_day == 1.0
    assert a.reply_share == 0.5 and a.mentions_per_post == 1.0 and a.links_per_post == 0.5
    assert a.client_iphone == 0.5 and a.client_web == 0.5 and a.client_other == 0.0
    assert a.hour_morning == 0.5 and a.hour_evening == 0.5 and a.hour_entropy == pytest.approx(1.0)
    assert got.loc["b"].client_other == 1.0 and got.loc["b"].hour_entropy == 0.0
    assert np.isnan(a.rating_mean)


def test_profiles_step_writes_reconciled_table(spark, ml, make_cfg):
    from smspark import storage, tables
    from smspark.jobs.common import JobContext
    from smspark.jobs.io import write_table
    from smspark.jobs.steps.profiles import build
    from smspark.manifest import RunManifest

    events, items, pdf, _ = ml
    cfg = make_cfg()
    silver = cfg.layout.silver
    write_table(
        events.withColumn("ingest_date", F.lit(DT)).withColumn("dt", F.lit(DT)),
        storage.join(silver, "interactions"),
        "dt",
    )
    write_table(items, storage.join(silver, "items"))
    ctx = JobContext(cfg=cfg, run_date=DT, manifest=RunManifest("test", cfg.layout.runs, DT, cfg.profile), _spark=spark)
    rec = build(ctx)
    assert rec["counts"]["interactions"]["reconciled"] and "posts" not in rec["inputs"]
    got = tables.read(spark, storage.join(silver, "user_profiles"))
    assert got.count() == pdf.user_id.nunique() == rec["counts"]["interactions"]["rows_out"]
    assert sorted(got.columns) == sorted(SILVER_USER_PROFILES.fieldNames())
    assert "reused_from" not in rec["counts"] and rec["outputs"]["features"]

    # the next date with the same silver inputs copies the profiles (dt replaced) and keeps the features
    features = storage.join(cfg.layout.features, "profiles", "meta.json")
    written = storage.read_bytes(features)
    nxt = DT + dt.timedelta(days=1)
    ctx = JobContext(
        cfg=cfg, run_date=nxt, manifest=RunManifest("test", cfg.layout.runs, nxt, cfg.profile), _spark=spark
    )
    again = build(ctx)
    assert again["counts"]["reused_from"] == DT.isoformat(), again.get("reuse")
    assert again["counts"]["interactions"] == rec["counts"]["interactions"]
    copied = tables.read(spark, storage.join(silver, "user_profiles"))
    assert {r["dt"] for r in copied.select("dt").collect()} == {nxt}
    assertDataFrameEqual(copied.drop("dt"), got.drop("dt"))
    assert storage.read_bytes(features) == written

    # --rescore builds them again
    cfg2 = make_cfg("scoring.reuse=false")
    ctx = JobContext(
        cfg=cfg2, run_date=nxt, manifest=RunManifest("test", cfg2.layout.runs, nxt, cfg2.profile), _spark=spark
    )
    assert "reused_from" not in build(ctx)["counts"]


def test_profile_summaries_withhold_groups_smaller_than_k(ml):
    from smspark.analytics.suppression import ACTIVITY_BANDS, profile_summaries, suppress_small_groups

    events, items, pdf, _ = ml
    profiles = interaction_profiles(events, items, F.lit(DT))
    k = 5
    got = profile_summaries(profiles, ["n_events", "rating_mean"], k).toPandas().set_index("activity_band")
    # independent: each real user's rating count and mean, banded in pandas
    users = pdf.groupby("user_id").rating.agg(["size", "mean"])
    users["band"] = [
        next(b for b, (lo, hi) in ACTIVITY_BANDS.items() if n >= lo and (hi is None or n <= hi)) for n in users["size"]
    ]
    expected = users.groupby("band").agg(users=("size", "size"), mean_rating=("mean", "mean"))
    assert set(got.index) == set(expected.index)
    for band, row in expected.iterrows():
        out = got.loc[band]
        assert bool(out.suppressed) == (row.users < k), band
        if row.users < k:
            assert pd.isna(out.users) and pd.isna(out.mean_rating_mean) and pd.isna(out.mean_n_events)
        else:
            assert out.users == row.users and out.mean_rating_mean == pytest.approx(row.mean_rating, rel=1e-5)
    withheld = expected.users[expected.users < k].sum()
    assert withheld > 0 and got.users.sum() + withheld == len(users) == 20
    with pytest.raises(ValueError, match="k must be"):
        suppress_small_groups(profiles, "n_events", 0)

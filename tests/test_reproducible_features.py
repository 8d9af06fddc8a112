"""Two feature builds with the same seed give the same splits, the same negatives, the same files in the same order,
and the same baseline figures, whatever the input partitioning. Real MovieLens users and labelled tweets, slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from smspark.features.interactions import (
    SPLITS,
    behaviour_rows,
    id_frames,
    latest_per_pair,
    leave_last_out,
    recommender_rows,
    seeded_order,
)
from smspark.ranking_metrics import mean_metrics, sampled_ranked_lists
from tests import test_interactions_features

#: The fixture of real MovieLens users 1..30 as silver-like rows, with their id maps.
events = test_interactions_features.events

SEED = 42


def _files(path: Path) -> list[pd.DataFrame]:
    """The Parquet files of a written split, in file-name order, each with its rows in file order."""
    return [pq.read_table(f).to_pandas() for f in sorted(path.glob("part-*.parquet"))]


def _write(df, path: Path, seed: int, key: list[str]) -> list[pd.DataFrame]:
    seeded_order(df, 4, seed, key).write.mode("overwrite").parquet(str(path))
    return _files(path)


def _assert_same_files(a: list[pd.DataFrame], b: list[pd.DataFrame]) -> None:
    assert len(a) == len(b) > 1
    for fa, fb in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(fa, fb)


def _recommender_build(spark, events, maps, out: Path, partitions: int, seed: int) -> dict[str, list[pd.DataFrame]]:
    users, items = id_frames(spark, maps)
    pairs = leave_last_out(latest_per_pair(events.repartition(partitions)))
    pairs = pairs.join(users, "user_id").join(items.select("item_id", "item_idx"), "item_id")
    rows = recommender_rows(pairs.select("user_idx", "item_idx", "split"), maps.n_items, 4, 100, seed)
    return {
        s: _write(rows.where(F.col("split") == s).drop("split"), out / s, seed, ["user_idx", "item_idx", "label"])
        for s in SPLITS
    }


def test_recommender_splits_negatives_and_files_repeat(spark, events, tmp_path):
    df, _, maps = events
    a = _recommender_build(spark, df, maps, tmp_path / "a", 1, SEED)
    b = _recommender_build(spark, df, maps, tmp_path / "b", 5, SEED)
    for s in SPLITS:
        _assert_same_files(a[s], b[s])
    # another seed draws other negatives (the positives stay)
    c = _recommender_build(spark, df, maps, tmp_path / "c", 1, SEED + 1)
    train_a, train_c = pd.concat(a["train"]), pd.concat(c["train"])
    key = ["user_idx", "item_idx", "label"]
    pos_a, pos_c = (t[t.label > 0.5].sort_values(key).reset_index(drop=True) for t in (train_a, train_c))
    pd.testing.assert_frame_equal(pos_a, pos_c)
    neg_a, neg_c = (t[t.label < 0.5].sort_values(key).reset_index(drop=True) for t in (train_a, train_c))
    assert len(neg_a) == len(neg_c) and not neg_a.equals(neg_c)
    # the baselines measured on either build give the same figures: popularity and a seeded ALS
    assert _baseline_figures(spark, a, maps.n_items) == _baseline_figures(spark, b, maps.n_items)


def _baseline_figures(spark, files: dict[str, list[pd.DataFrame]], n_items: int) -> dict[str, float]:
    from pyspark.ml.recommendation import ALS

    train, test = pd.concat(files["train"]), pd.concat(files["test"])
    pos = train[train.label > 0.5]
    counts = np.bincount(pos.item_idx, minlength=n_items + 1).astype(np.float64)
    users, items, labels = (test[c].to_numpy() for c in ("user_idx", "item_idx", "label"))
    out = {
        f"pop_{k}": v for k, v in mean_metrics(*sampled_ranked_lists(users, items, labels, counts[items]), 10).items()
    }
    als = ALS(rank=8, maxIter=5, implicitPrefs=True, seed=SEED, userCol="user_idx", itemCol="item_idx")
    model = als.fit(spark.createDataFrame(pos.assign(rating=1.0)[["user_idx", "item_idx", "rating"]]))
    scored = model.transform(spark.createDataFrame(test[["user_idx", "item_idx", "label"]])).toPandas()
    scored = scored.fillna({"prediction": -np.inf})
    ranked = sampled_ranked_lists(
        scored.user_idx.to_numpy(), scored.item_idx.to_numpy(), scored.label.to_numpy(), scored.prediction.to_numpy()
    )
    out.update({f"als_{k}": v for k, v in mean_metrics(*ranked, 10).items()})
    assert out["pop_HR@10"] > 0 and out["als_HR@10"] > 0
    return out


def _behaviour_build(spark, events, maps, out: Path, partitions: int) -> dict[str, list[pd.DataFrame]]:
    users, items = id_frames(spark, maps)
    indexed = events.repartition(partitions).join(users, "user_id").join(items.select("item_id", "item_idx"), "item_id")
    rows = behaviour_rows(leave_last_out(indexed, "user_idx", "item_idx"), items, 10, 4.0)
    return {
        s: _write(rows.where(F.col("split") == s).drop("split"), out / s, SEED, ["user_idx", "pos"]) for s in SPLITS
    }


def test_behaviour_rows_files_and_baseline_repeat(spark, events, tmp_path):
    from smspark.models.baselines import engagement_logreg

    df, _, maps = events
    a = _behaviour_build(spark, df, maps, tmp_path / "a", 1)
    b = _behaviour_build(spark, df, maps, tmp_path / "b", 6)
    for s in SPLITS:
        _assert_same_files(a[s], b[s])
    figures = []
    for build in (tmp_path / "a", tmp_path / "b"):
        res = engagement_logreg(*(spark.read.parquet(str(build / s)) for s in SPLITS), reg_grid=(0.01,))
        figures.append((res["reg_param"], res["test"][1].tolist(), res["coefficients"]))
    # equal up to the order in which Spark sums the two tasks' gradients (task completion order: ~1e-11 apart)
    assert figures[0][0] == figures[1][0]
    assert figures[0][1] == pytest.approx(figures[1][1], rel=1e-8, abs=1e-10)
    assert figures[0][2] == pytest.approx(figures[1][2], rel=1e-8, abs=1e-10)


def test_sentiment_features_and_baseline_repeat(spark):
    from smspark.features.text import sentiment_features, sentiment_vocabulary
    from smspark.models.baselines import tfidf_logreg
    from smspark.schemas import SENTIMENT_CLASSES
    from tests.test_sentiment_split import silver_like

    posts = spark.createDataFrame(silver_like(2500))
    runs = []
    for partitions in (1, 5):
        shuffled = posts.repartition(partitions)
        feats = sentiment_features(shuffled, sentiment_vocabulary(shuffled, 3000), 32).persist()
        splits = [feats.where(F.col("split") == s).drop("split") for s in SPLITS]
        base = tfidf_logreg(*splits, SENTIMENT_CLASSES, reg_grid=(0.03,), ngram_max=2, min_df_grid=(1.0, 2.0))
        runs.append((feats, base))
    assertDataFrameEqual(runs[0][0], runs[1][0])
    first, second = runs[0][1], runs[1][1]
    assert first["val"] == second["val"] and first["test"] == second["test"] and first["min_df"] == second["min_df"]
    np.testing.assert_array_equal(first["y_pred"], second["y_pred"])


def test_tfidf_baseline_grid_fitted_in_parallel_equals_the_grid_fitted_one_after_the_other(spark):
    from smspark.features.text import sentiment_features, sentiment_vocabulary
    from smspark.models.baselines import tfidf_logreg
    from smspark.schemas import SENTIMENT_CLASSES
    from tests.test_sentiment_split import silver_like

    posts = spark.createDataFrame(silver_like(1500))
    feats = sentiment_features(posts, sentiment_vocabulary(posts, 2000), 32).persist()
    splits = [feats.where(F.col("split") == s).drop("split") for s in SPLITS]
    runs = [
        tfidf_logreg(*splits, SENTIMENT_CLASSES, reg_grid=(0.003, 0.03, 0.3), max_iter=30, parallelism=p)
        for p in (1, 3)
    ]
    one_by_one, parallel = runs
    assert [g["reg_param"] for g in parallel["grid"]] == [0.003, 0.03, 0.3]  # in grid order, not finishing order
    assert [g["val_macro_f1"] for g in parallel["grid"]] == pytest.approx(
        [g["val_macro_f1"] for g in one_by_one["grid"]], abs=1e-9
    )
    assert parallel["reg_param"] == one_by_one["reg_param"] and parallel["test"] == one_by_one["test"]
    np.testing.assert_array_equal(parallel["y_pred"], one_by_one["y_pred"])
    with pytest.raises(ValueError, match="parallelism must be >= 1"):
        tfidf_logreg(*splits, SENTIMENT_CLASSES, reg_grid=(0.03, 0.3), parallelism=0)
    feats.unpersist()


def test_fit_grid_gives_every_estimator_the_fits_of_a_sequential_loop_in_grid_order(spark):
    """ALS (the recommender's baseline), KMeans (account risk's) and a Pipeline (behaviour's) through ``fit_grid``:
    three fits at once equal the fits one after the other, point by point; an error in a fit's scoring propagates."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.recommendation import ALS

    from smspark.models.baselines import fit_grid

    rng = np.random.default_rng(7)
    pairs = np.unique(rng.integers(0, [60, 80], size=(900, 2)), axis=0)
    ratings = spark.createDataFrame(
        [(int(u), int(i), 1.0) for u, i in pairs], "user_idx int, item_idx int, rating float"
    ).persist()
    als = ALS(maxIter=4, implicitPrefs=True, userCol="user_idx", itemCol="item_idx", seed=3)
    points = [{als.rank: r, als.regParam: reg} for r in (4, 8) for reg in (0.01, 0.1)]

    def factors(m):
        return np.array(sorted((r["id"], *r["features"]) for r in m.userFactors.collect()))

    x = rng.normal(size=(300, 3))
    rows = spark.createDataFrame(
        [(float(a), float(b), float(c), int(a > 0)) for a, b, c in x], "a double, b double, c double, label int"
    )
    features = VectorAssembler(inputCols=["a", "b", "c"], outputCol="features")
    km = KMeans(seed=5)
    lr = LogisticRegression(maxIter=20)
    pipeline = Pipeline(stages=[features, lr])
    cases = [
        (als, ratings, points, factors),
        (
            km,
            features.transform(rows).persist(),
            [{km.k: k} for k in (2, 3, 4)],
            lambda m: np.array(m.clusterCenters()),
        ),
        (pipeline, rows, [{lr.regParam: r} for r in (0.0, 0.1, 1.0)], lambda m: m.stages[-1].coefficients.toArray()),
    ]
    for estimator, train, maps, score in cases:
        one_by_one, parallel = (fit_grid(estimator, train, maps, score, p) for p in (1, 3))
        assert len(parallel) == len(maps)
        for (_, a, _), (_, b, seconds) in zip(one_by_one, parallel, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9)
            assert seconds > 0
        first, last = parallel[0][1], parallel[-1][1]
        assert first.shape != last.shape or not np.allclose(first, last, atol=1e-6)  # points differ: order is checked

    def failing(model):
        raise RuntimeError("scoring failed")

    with pytest.raises(RuntimeError, match="scoring failed"):
        fit_grid(km, cases[1][1], [{km.k: 2}, {km.k: 3}], failing, 2)
    ratings.unpersist()

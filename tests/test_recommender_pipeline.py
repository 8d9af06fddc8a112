"""End to end on a real MovieLens slice (the first 60 users): nightly ingest -> etl -> features -> NeuMF and the
behaviour model trained by 2 Horovod workers through Petastorm -> two-stage recommendations and segments; then the
profile generator (CTGAN) on the same users' profiles -> ``gold/synthetic_profiles``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from smspark import tables
from smspark.jobs import bench, generate, nightly, train
from smspark.jobs import score as score_job
from tests.conftest import require_landing

DAY = "2026-11-21"
DAY2 = "2026-11-22"
DAY3 = "2026-11-23"
USERS = 60
NEW_USERS = 4
K = 20

#: Small but complete settings: the real protocol (4 / 100 negatives, HR@10), few epochs, one ALS grid point.
FAST = [
    "train.num_proc=2",
    "train.backend=spark",
    "spark.conf.spark.sql.shuffle.partitions=4",
    "models.recommender.epochs=2",
    "models.recommender.als_ranks=[8]",
    "models.recommender.als_reg_params=[0.1]",
    "models.recommender.segment_k_max=4",
    f"models.recommender.recommend_k={K}",
    "models.recommender.candidate_pool=30",
    "models.behaviour.epochs=1",
    "models.behaviour.history_len=20",
    "models.behaviour.rnn_units=16",
]


def _sets(values: list[str]) -> list[str]:
    return [arg for v in values for arg in ("--set", v)]


def write_slice(folder: Path, users: int) -> int:
    """The real ``ratings.csv`` rows of users ``1..users`` and their movies into ``folder``; returns the rows."""
    folder.mkdir(parents=True, exist_ok=True)
    with require_landing("movielens", "ratings.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [r for r in rows[1:] if int(r[0]) <= users]
    with (folder / "ratings.csv").open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([rows[0], *keep])
    used = {r[1] for r in keep}
    with require_landing("movielens", "movies.csv").open(newline="", encoding="utf-8") as fh:
        movies = list(csv.reader(fh))
    with (folder / "movies.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([movies[0], *[m for m in movies[1:] if m[0] in used]])
    return len(keep)


@pytest.mark.slow
def test_nightly_recommendations_end_to_end(spark, tmp_path: Path):
    root = tmp_path / "data"
    n_ratings = write_slice(root / "landing" / "movielens", USERS)
    argv = ["--date", DAY, "--train", "recommender,behaviour", "--score", "recommendations"]
    assert nightly.main(argv + _sets([f"data.root={root}", *FAST])) == 0

    manifest = json.loads(next((root / "runs").glob("*-nightly-*/manifest.json")).read_text())
    assert manifest["status"] == "ok"
    stages = manifest["stages"]
    for name in ("ingest.interactions", "etl.interactions", "features.recommender", "features.behaviour"):
        assert stages[name]["counts"]["reconciled"], name
    assert stages["ingest.interactions"]["counts"]["rows_in"] == n_ratings
    neg = stages["features.recommender"]["counts"]
    assert neg["negatives"] == neg["negatives_expected"]
    assert neg["negatives"]["test"] == 100 * USERS and neg["negatives"]["train"] == 4 * neg["positives"]["train"]
    assert manifest["models"]["recommender"]["ranks"] == [0, 1]  # two Horovod workers
    assert manifest["models"]["behaviour"]["ranks"] == [0, 1]
    metrics = manifest["metrics"]
    for name in ("neumf", "als", "popularity"):
        assert {"HR@10", "NDCG@10", "HR@10_full", "NDCG@10_full"} <= set(metrics["recommender"][name])
        # a random ranking of the held-out item among 100 sampled negatives has HR@10 = 10/101; 2 standard errors
        # above it with 60 users is 0.18
        assert metrics["recommender"][name]["HR@10"] > 0.18, (name, metrics["recommender"][name])
    rec = manifest["models"]["recommender"]
    assert rec["selection"]["metric"] == "NDCG@10_full" and rec["selection"]["split"] == "val"
    assert set(rec["beats"]) == {
        f"{b} {m}" for b in ("als", "popularity") for m in ("HR@10", "NDCG@10", "HR@10_full", "NDCG@10_full")
    }
    for name in ("behaviour", "logreg"):
        assert metrics["behaviour"][name]["AUC"] > 0.5 and metrics["behaviour"][name]["logloss"] > 0, name

    score = stages["score.recommendations"]["counts"]
    assert score["reconciled"] and score["rows"] == score["rows_expected"] == K * USERS
    assert score["users_by_strategy"] == {"model": USERS, "segment_popularity": 0, "popularity": 0}

    gold = tables.read(spark, str(root / "gold" / "user_recommendations")).where(F.col("dt") == DAY)
    silver = tables.read(spark, str(root / "silver" / "interactions"))
    per_user = gold.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("n"),
        F.countDistinct("item_id").alias("items"),
        F.min("rank").alias("lo"),
        F.max("rank").alias("hi"),
    )
    assert per_user.count() == USERS == silver.select("user_id").distinct().count()
    assert (
        per_user.where((F.col("n") != K) | (F.col("items") != K) | (F.col("lo") != 1) | (F.col("hi") != K)).count() == 0
    )
    assert gold.join(silver, ["user_id", "item_id"], "left_semi").count() == 0  # nothing already rated
    ordered = gold.groupBy("user_id").agg(F.sort_array(F.collect_list(F.struct("rank", "engagement_prob"))).alias("r"))
    for row in ordered.collect():
        probs = [p for _, p in row["r"]]
        assert probs == sorted(probs, reverse=True)  # re-ranked by engagement
    assert {r[0] for r in gold.select("recommender_version").distinct().collect()} == {"1"}

    segments = tables.read(spark, str(root / "gold" / "user_segments")).where(F.col("dt") == DAY)
    summary = metrics["user_segments"]
    assert 2 <= summary["k"] <= 4 and sum(summary["sizes"].values()) == segments.count() == USERS

    # the next day brings users the champion never saw: without retraining they get the popularity fallback
    write_slice(root / "landing" / "movielens", USERS + NEW_USERS)
    argv2 = ["--date", DAY2, "--train", "recommender,behaviour", "--score", "recommendations"]
    assert nightly.main(argv2 + _sets([f"data.root={root}", *FAST])) == 0
    manifest2 = json.loads(max((root / "runs").glob("*-nightly-*/manifest.json")).read_text())
    assert manifest2["run_date"] == DAY2 and manifest2["models"]["recommender"]["trained"] is False
    score2 = manifest2["stages"]["score.recommendations"]["counts"]
    assert score2["reconciled"] and score2["rows_in"] == USERS + NEW_USERS and score2["quarantined"] == 0
    assert score2["users_by_strategy"] == {"model": USERS, "segment_popularity": 0, "popularity": NEW_USERS}
    assert score2["rows"] == K * (USERS + NEW_USERS)
    gold2 = tables.read(spark, str(root / "gold" / "user_recommendations")).where(F.col("dt") == DAY2)
    silver2 = tables.read(spark, str(root / "silver" / "interactions"))
    assert gold2.select("user_id").distinct().count() == silver2.select("user_id").distinct().count()
    fallback = gold2.where(F.col("strategy") == "popularity")
    assert fallback.where(F.col("engagement_prob").isNotNull() | F.col("recommender_version").isNotNull()).count() == 0
    per_new = fallback.groupBy("user_id").agg(F.countDistinct("item_id").alias("d"), F.max("rank").alias("hi"))
    assert per_new.count() == NEW_USERS and per_new.where((F.col("d") != K) | (F.col("hi") != K)).count() == 0
    assert gold2.join(silver2, ["user_id", "item_id"], "left_semi").count() == 0  # nothing already rated
    assert manifest2["stages"]["score.recommendations"]["reuse"] == f"silver/interactions changed since {DAY}"

    # a date with the same champions and interactions copies DAY2's recommendations and segments, no model run
    assert score_job.main(["--model", "recommendations", "--date", DAY3, *_sets([f"data.root={root}", *FAST])]) == 0
    manifest3 = json.loads(max((root / "runs").glob("*-score-*/manifest.json")).read_text())
    score3 = manifest3["stages"]["score.recommendations"]["counts"]
    assert score3["reused_from"] == DAY2 and score3["reconciled"] and score3["rows"] == K * (USERS + NEW_USERS)
    assert manifest3["metrics"]["user_segments"] == manifest2["metrics"]["user_segments"]
    for name in ("user_recommendations", "user_segments"):
        rows = tables.read(spark, str(root / "gold" / name))
        by_day = [sorted(map(tuple, rows.where(F.col("dt") == d).drop("dt").collect())) for d in (DAY2, DAY3)]
        assert by_day[0] == by_day[1] and by_day[0], name

    # the scoring benchmark: Spark and one plain process recommend the same items to the same users
    assert bench.main(["recommendations", "--rows", "20", "--repeat", "2", "--set", f"data.root={root}"]) == 0
    res = json.loads(max((root / "runs").glob("*-bench-*/manifest.json")).read_text())["metrics"]
    res = res["bench_recommendations"]
    assert res["users"] == 20 and res["recommendations"] == 20 * K and res["same_items_fraction"] == 1.0

    # the profile generator: CTGAN on 2 Horovod workers beside the copula, then synthetic rows to gold only
    tiny = ["models.profiles.epochs=3", "models.profiles.min_train_steps=0", "models.profiles.batch_size=8"]
    assert train.main(["--model", "profiles", "--date", DAY2, *_sets([f"data.root={root}", *FAST, *tiny])]) == 0
    man = json.loads(max((root / "runs").glob("*-train-*/manifest.json")).read_text())
    prof = man["models"]["profiles"]
    assert prof["ranks"] == [0, 1] and prof["champion"]["promoted"]
    checksums = [c[0] for c in prof["weight_checksums"].values()]
    assert checksums[0] == pytest.approx(checksums[1], rel=1e-6)  # identical generator weights on every rank
    for name in ("ctgan", "copula"):
        scores = man["metrics"]["profiles"][name]
        for key in ("quality_score", "detection_score", "dcr_overfitting_protection"):
            assert 0.0 <= scores[key] <= 1.0, (name, key)
    assert set(prof["beats"]) == {"copula"}
    assert generate.main(["--model", "profiles", "--rows", "30", "--date", DAY2, "--set", f"data.root={root}"]) == 0
    assert generate.main(["--model", "profiles", "--rows", "30", "--date", DAY2, "--set", f"data.root={root}"]) == 0
    synth = tables.read(spark, str(root / "gold" / "synthetic_profiles")).where(F.col("dt") == DAY2)
    assert synth.count() == 30 == synth.select("profile_id").distinct().count()  # the re-run replaced the date
    assert synth.where(~F.col("is_synthetic") | F.col("n_events").isNull()).count() == 0
    assert {r[0] for r in synth.select("generator_version").distinct().collect()} == {"1"}
    profiles = tables.read(spark, str(root / "silver" / "user_profiles"))
    assert profiles.count() == USERS + NEW_USERS and "is_synthetic" not in profiles.columns

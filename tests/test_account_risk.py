"""Account risk: the imputation and ranking-agreement pieces by hand, and end to end on the shared posts root's real
silver posts (the one identified author of the sample, by author-month): account features, the autoencoder on 2
Horovod workers through the lifecycle beside KMeans, and every account scored into ``gold/account_risk``."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.features.accounts import RISK_COLUMNS, encode_risk, fit_risk_stats
from smspark.jobs import features, score, train
from smspark.jobs.common import JobContext
from smspark.manifest import RunManifest
from smspark.schemas import GOLD_ACCOUNT_RISK
from smspark.train.account_risk import ranking_agreement
from tests.conftest import local

DAY = dt.date(2026, 11, 22)


def test_imputation_uses_training_medians_and_standardises():
    train = pd.DataFrame({c: [1.0, 2.0, 3.0, np.nan] for c in RISK_COLUMNS})
    train["n_posts"] = [1.0, 3.0, 7.0, 1.0]
    train["spam_share"] = np.nan  # no gold/post_spam: all null
    stats = fit_risk_stats(train)
    i = list(RISK_COLUMNS).index
    assert stats["median"][i("hour_entropy")] == 2.0 and stats["median"][i("spam_share")] == 0.0
    # n_posts is read as log1p: the median of log1p(1, 1, 3, 7) is the mean of log1p(1) and log1p(3)
    assert stats["median"][i("n_posts")] == pytest.approx((np.log1p(1.0) + np.log1p(3.0)) / 2)
    assert stats["null_share"][i("hour_entropy")] == 0.25 and stats["null_share"][i("spam_share")] == 1.0
    x = encode_risk(train, stats)
    assert x.dtype == np.float32 and x.shape == (4, len(RISK_COLUMNS))
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-6)
    assert (x[:, i("spam_share")] == 0.0).all()  # a constant column: std taken as 1
    # the null hour_entropy took the median 2.0: (2 - 2) / std = 0
    assert x[3, i("hour_entropy")] == pytest.approx(0.0, abs=1e-6)
    floored = fit_risk_stats(train, std_floor=5.0)  # the floor replaces every smaller std (hour_entropy's is 0.71)
    assert floored["std"][i("hour_entropy")] == 5.0 and stats["std"][i("hour_entropy")] == pytest.approx(0.5**0.5)


def test_ranking_agreement_by_hand():
    a = np.array([0.1, 0.9, 0.5, 0.3])
    assert ranking_agreement(a, a * 2, 0.25) == {"spearman": pytest.approx(1.0), "top_overlap": 1.0, "top_k": 1}
    got = ranking_agreement(a, -a, 0.5)
    assert got["spearman"] == pytest.approx(-1.0) and got["top_overlap"] == 0.0 and got["top_k"] == 2
    assert np.isnan(ranking_agreement(a, np.ones(4), 0.25)["spearman"])


@pytest.fixture(scope="module")
def risk_run(spark, posts_nightly, tmp_path_factory):
    """features -> train (2 workers, 3 epochs) -> score on a copy of the shared root's silver posts."""
    from smspark.config import load_config

    root = tmp_path_factory.mktemp("risk") / "data"
    shutil.copytree(posts_nightly[0] / "silver" / "posts", root / "silver" / "posts")
    cfg = load_config(
        None,
        [
            f"data.root={root}",
            "train.num_proc=2",
            "models.account_risk.epochs=3",
            "models.account_risk.early_stopping_patience=null",
            "models.account_risk.kmeans_k=[2,3]",
        ],
    )
    ctx = JobContext(
        cfg=cfg, run_date=DAY, manifest=RunManifest("test", cfg.layout.runs, DAY, cfg.profile), _spark=spark
    )
    features.run(ctx, ["accounts"])
    result = train.run(ctx, "account_risk", num_proc=2)
    score.run(ctx, ["account_risk"])
    return cfg, ctx, result


@pytest.mark.slow
def test_account_risk_end_to_end(risk_run, spark):
    cfg, ctx, result = risk_run
    stages = ctx.manifest.data["stages"]
    feats = stages["features.accounts"]["counts"]
    assert feats["authors"]["reconciled"] and feats["rows"]["reconciled"]
    assert sum(feats["splits"].values()) == feats["accounts"] > 30 and min(feats["splits"].values()) >= 2
    assert stages["features.accounts"]["inputs"]["post_spam"]["uri"] is None  # no spam scores on this root
    assert feats["spam_share_null"] == feats["accounts"]

    # trained on 2 ranks with identical weights, next to KMeans and the training mean
    assert result["registered_model"] == "smspark_account_risk" and result["ranks"] == [0, 1]
    checks = list(result["weight_checksums"].values())
    assert len(checks) == 2 and checks[0] == pytest.approx(checks[1], rel=1e-6) and checks[0] > 0
    assert set(result["beats"]) == {"kmeans", "train_mean"} and result["kmeans"]["k"] in (2, 3)
    for split in ("val", "test"):
        m = result[split]["autoencoder"]
        assert m["mse"] > 0 and m["train_mean_mse"] == pytest.approx(result[split]["train_mean"]["mse"])
        assert m["kmeans_mse"] == pytest.approx(result[split]["kmeans"]["mse"])
        assert -1.0 <= m["spearman_ae_kmeans"] <= 1.0 and 0.0 <= m["top_overlap_ae_kmeans"] <= 1.0
    assert result["champion"]["promoted"] and result["selection"]["higher_is_better"] is False

    # every account scored once, ranked 1..n by the autoencoder score
    sc = stages["score.account_risk"]["counts"]
    assert sc["authors"]["reconciled"] and sc["rows"]["reconciled"] and sc["accounts"] == feats["accounts"]
    gold = tables.read(spark, storage.join(cfg.layout.gold, "account_risk")).where(F.col("dt") == F.lit(DAY))
    assert [f.name for f in gold.schema.fields] == [f.name for f in GOLD_ACCOUNT_RISK.fields]
    pdf = gold.toPandas().sort_values("risk_rank")
    assert len(pdf) == sc["accounts"] == len(pdf.drop_duplicates(["author_id", "window_start"]))
    assert pdf["risk_rank"].tolist() == list(range(1, len(pdf) + 1))
    assert pdf["ae_score"].is_monotonic_decreasing and (pdf["kmeans_score"] >= 0).all()
    assert all(len(t) == 3 and set(t) <= set(RISK_COLUMNS) for t in pdf["top_features"])
    assert (pdf["model_version"] == result["version"]).all()
    silver = tables.read(spark, storage.join(cfg.layout.silver, "posts")).where("author_id is not null")
    timed = silver.where("created_at is not null")
    assert set(pdf["author_id"]) == {r[0] for r in timed.select("author_id").distinct().collect()}
    assert pdf["n_posts"].sum() == timed.count()  # each authored, timed post in exactly one author-month
    assert (local(cfg.layout.features) / "accounts" / "meta.json").exists()

    # the next date, same champion and posts: the scores are copied with the counts of the date they come from
    nxt = DAY + dt.timedelta(days=1)
    ctx2 = JobContext(
        cfg=cfg, run_date=nxt, manifest=RunManifest("test", cfg.layout.runs, nxt, cfg.profile), _spark=spark
    )
    score.run(ctx2, ["account_risk"])
    again = ctx2.manifest.data["stages"]["score.account_risk"]["counts"]
    assert again["reused_from"] == DAY.isoformat() and again["rows"]["reconciled"]
    assert again["accounts"] == sc["accounts"] and again["authors"] == sc["authors"]

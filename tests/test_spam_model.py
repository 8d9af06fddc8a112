"""Spam model: the pure pieces (mail text, tokens, threshold and figures of the spam class, the pyfunc's output), and
end to end on a real slice: ~400 SpamAssassin mails and ~150 labelled tweets through ingest + etl, the ``spam``
features, 2 Horovod workers through the lifecycle next to TF-IDF + LogisticRegression, and every silver post scored
into ``gold/post_spam``."""

from __future__ import annotations

import datetime as dt
import json
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from sklearn.metrics import average_precision_score, f1_score

from smspark import storage, tables
from smspark.etl.text import normalise_text, tokenize
from smspark.features.spam import mail_text, spam_tokens
from smspark.jobs import etl, features, ingest, score, train
from smspark.jobs.common import JobContext
from smspark.manifest import RunManifest
from smspark.metrics import best_threshold, binary_report
from smspark.models.packaging import SpamPyfunc
from smspark.schemas import GOLD_POST_SPAM
from tests.conftest import local, require_landing

DAY = dt.date(2026, 11, 21)


# --- pure pieces -------------------------------------------------------------------------------------------------


def test_mail_text_joins_subject_and_body_and_skips_missing_parts():
    assert mail_text("Cheap meds", "Buy now") == "Cheap meds\nBuy now"
    assert mail_text(None, "Buy now") == mail_text("", "Buy now") == "Buy now"
    assert mail_text("Only a subject", None) == "Only a subject"


def test_spam_tokens_are_the_project_tokens_cut_to_seq_len():
    text = "FREE &amp; easy!!! Visit http://example.com/x now, @someone"
    full = tokenize(normalise_text(text))
    assert full[:3] == ["free", "easy", "!"] and "<url>" in full and full[-1] == "<user>"
    assert spam_tokens(text, 4) == full[:4]
    assert spam_tokens(text, 100) == full
    assert spam_tokens(None, 10) == []


def test_best_threshold_maximises_spam_f1_over_every_cut_in_the_middle_of_its_gap():
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.8, 0.85, 0.2])
    threshold, f1 = best_threshold(y, p)
    brute = max(f1_score(y, (p >= t).astype(int)) for t in p)
    assert f1 == pytest.approx(brute) and f1_score(y, (p >= threshold).astype(int)) == pytest.approx(f1)
    # the best cut flags 0.4 and up; the threshold sits between 0.35 and 0.4, at the middle in log-odds
    logit = np.log(p / (1 - p))
    assert 0.35 < threshold < 0.4 and np.log(threshold / (1 - threshold)) == pytest.approx((logit[1] + logit[2]) / 2)
    assert best_threshold(np.array([1, 1]), np.array([0.7, 0.9]))[0] == 0.7  # nothing below: the lowest score
    assert best_threshold(np.zeros(4, dtype=int), p[:4]) == (0.5, 0.0)


def test_binary_report_counts_the_spam_class_at_the_threshold():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.7, 0.2, 0.8, 0.1, 0.1, 0.3, 0.05])
    r = binary_report(y, p, 0.5)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3) and r["accuracy"] == pytest.approx(6 / 8)
    assert r["pr_auc"] == pytest.approx(average_precision_score(y, p)) and 0 < r["roc_auc"] < 1
    assert r["rows"] == 8 and r["positive_rate"] == pytest.approx(3 / 8) and r["threshold"] == 0.5
    assert np.isnan(binary_report(np.zeros(3), np.array([0.1, 0.2, 0.3]), 0.5)["pr_auc"])


def test_spam_pyfunc_flags_at_its_own_threshold():
    model = SpamPyfunc()
    model.meta = {"classes": ["ham", "spam"], "threshold": 0.3, "vocab": ["<pad>", "<oov>"], "seq_len": 4}
    out = model.to_frame(np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]], dtype=np.float32))
    assert list(out.columns) == ["spam_prob", "is_spam"] and out["spam_prob"].dtype == np.float32
    assert out["is_spam"].tolist() == [False, True, True]


def test_spam_cnn_reads_ids_past_its_own_vocabulary_as_oov():
    from smspark.config import SpamConfig
    from smspark.models.spam import OOV_ID, build_model

    model = build_model(SpamConfig(cnn_vocab_size=50, seq_len=8, num_filters=4, embed_dim=4), vocab_size=200)
    assert model.get_layer("kim_cnn").get_layer("embedding").input_dim == 50
    rare = np.array([[7, 50, 199, 3, 0, 0, 0, 0]], dtype=np.int32)
    as_oov = np.where(rare >= 50, OOV_ID, rare).astype(np.int32)
    kept = np.array([[7, 49, 2, 3, 0, 0, 0, 0]], dtype=np.int32)
    p = [model.predict(x, verbose=0) for x in (rare, as_oov, kept)]
    assert p[0].shape == (1, 2) and np.allclose(p[0].sum(), 1.0)
    assert np.allclose(p[0], p[1]) and not np.allclose(p[0], p[2])
    small = build_model(SpamConfig(cnn_vocab_size=50, seq_len=8, num_filters=4, embed_dim=4), vocab_size=30)
    assert small.get_layer("kim_cnn").get_layer("embedding").input_dim == 30  # a smaller vocabulary: all of it


# --- end to end on a real slice ------------------------------------------------------------------------------------


def _slice(src: Path, dst: Path, step: int, limit: int) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open(encoding="utf-8") as fh, dst.open("w", encoding="utf-8") as out:
        lines = list(islice((ln for i, ln in enumerate(fh) if i % step == 0), limit))
        out.writelines(lines)
    return len(lines)


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory):
    """ingest + etl of 404 mails and 150 posts, spam features, train (2 workers), score; returns (cfg, ctx, result)."""
    from smspark.config import load_config

    root = tmp_path_factory.mktemp("spam") / "data"
    landing = root / "landing"
    _slice(
        require_landing("messages", "spam_assassin", "messages.jsonl"), landing / "messages" / "sa" / "m.jsonl", 15, 404
    )
    _slice(require_landing("posts", "labelled_tweets", "posts.jsonl"), landing / "posts" / "lt" / "p.jsonl", 60, 150)
    cfg = load_config(
        None,
        [
            f"data.root={root}",
            "train.num_proc=2",
            "models.spam.epochs=1",
            "models.spam.seq_len=128",
            "models.spam.vocab_size=3000",
            "models.spam.early_stopping_patience=null",
            "models.spam.baseline_reg_params=[0.1]",
        ],
    )
    ctx = JobContext(
        cfg=cfg, run_date=DAY, manifest=RunManifest("test", cfg.layout.runs, DAY, cfg.profile), _spark=spark
    )
    ingest.run(ctx, ["messages", "posts"])
    etl.run(ctx, ["messages", "posts"])
    features.run(ctx, ["spam"])
    result = train.run(ctx, "spam", num_proc=2)
    score.run(ctx, ["spam"])
    return cfg, ctx, result


@pytest.mark.slow
def test_features_split_every_labelled_mail_once(pipeline, spark):
    cfg, ctx, _ = pipeline
    stages = ctx.manifest.data["stages"]
    silver = stages["etl.messages"]["counts"]
    feats = stages["features.spam"]["counts"]
    assert feats["reconciled"] and feats["rows_in"] == silver["rows_out"] > 350
    meta = json.loads((local(cfg.layout.features) / "spam" / "meta.json").read_text())
    assert meta["rows"] == feats["splits"] and sum(meta["rows"].values()) == feats["rows_in"]
    for split, n in meta["rows"].items():
        assert sum(meta["labels"][split].values()) == n and meta["labels"][split]["spam"] > 0, split
        part = tables.read(spark, storage.join(cfg.layout.features, "spam", split))
        assert len(list((local(cfg.layout.features) / "spam" / split).rglob("*.parquet"))) >= 4
        assert part.where(F.size("token_ids") != 128).count() == 0
    assert 0.7 < meta["rows"]["train"] / feats["rows_in"] < 0.9
    ids = {
        s: set(tables.read_arrow(storage.join(cfg.layout.features, "spam", s)).column("message_id").to_pylist())
        for s in meta["rows"]
    }
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])


@pytest.mark.slow
def test_cnn_and_baseline_figures_and_champion(pipeline):
    _, ctx, result = pipeline
    assert result["registered_model"] == "smspark_spam" and result["version"] == "1"
    assert result["champion"]["promoted"] and result["champion"]["champion_version"] == "1"
    assert result["ranks"] == [0, 1] and result["selection"] == {
        **result["selection"],
        "metric": "f1",
        "split": "val",
    }
    for split in ("val", "test"):
        for name in ("cnn", "tfidf_logreg"):
            m = result[split][name]
            for key in ("precision", "recall", "f1", "pr_auc", "roc_auc"):
                assert 0.0 <= m[key] <= 1.0, (split, name, key, m)
            assert 0.0 <= m["threshold"] <= 1.0
    base = result["test"]["tfidf_logreg"]
    assert base["pr_auc"] > base["positive_rate"]  # better than ranking at random on real mail
    assert result["baseline_params"]["tfidf_logreg"]["reg_param"] == 0.1
    cnn_wins = result["test"]["cnn"]["f1"] > result["test"]["tfidf_logreg"]["f1"]
    assert result["beats"] == {"tfidf_logreg": cnn_wins} and result["beats_baseline"] is cnn_wins
    assert ctx.manifest.data["metrics"]["spam"]["cnn"] == result["test"]["cnn"]
    assert result["threshold"]["value"] == result["val"]["cnn"]["threshold"]


@pytest.mark.slow
def test_every_silver_post_gets_one_spam_score(pipeline, spark):
    cfg, ctx, _ = pipeline
    stage = ctx.manifest.data["stages"]["score.spam"]
    silver = tables.read(spark, storage.join(cfg.layout.silver, "posts"))
    gold = tables.read(spark, storage.join(cfg.layout.gold, "post_spam")).where(F.col("dt") == F.lit(DAY))
    assert stage["counts"]["reconciled"] and stage["counts"]["rows_in"] == silver.count() == gold.count() > 100
    assert gold.select("post_id").distinct().count() == gold.count()
    assert silver.join(gold, "post_id", "left_anti").count() == 0
    assert [f.name for f in gold.schema.fields] == [f.name for f in GOLD_POST_SPAM.fields]
    pdf: pd.DataFrame = gold.toPandas()
    assert pdf["spam_prob"].between(0.0, 1.0).all() and pdf["spam_prob"].nunique() > 10
    threshold = ctx.manifest.data["models"]["spam"]["threshold"]["value"]
    assert (pdf["is_spam"] == (pdf["spam_prob"] >= np.float32(threshold))).all()
    assert (pdf["model_name"] == "smspark_spam").all() and (pdf["model_version"] == "1").all()
    assert stage["outputs"]["is_spam"] == {str(k).lower(): int(v) for k, v in pdf["is_spam"].value_counts().items()}

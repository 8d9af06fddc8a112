"""End to end on a real slice: nightly with the topic model (features, LDA through the lifecycle, scoring),
keywords, and the report opened in headless Chromium."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from smspark import storage, tables
from smspark.jobs import nightly, report, train
from smspark.jobs.common import JobContext
from smspark.jobs.steps import topics as topics_steps
from smspark.manifest import RunManifest
from tests.chromium import blank_fraction, render_page
from tests.conftest import local, require_landing

DAY = dt.date(2026, 11, 22)


@pytest.mark.slow
def test_nightly_topics_keywords_and_report(spark, make_cfg, tmp_path):
    cfg = make_cfg(
        "models.topics.k_values=[4,6]",
        "models.topics.max_iter=10",
        "models.topics.min_df=3",
        "models.topics.subsampling_rate=0.2",
        "models.topics.min_corpus_docs=50",
        "analytics.keywords.windows=[week]",
    )
    for corpus, n in (("trump_archive", 2500), ("labelled_tweets", 800)):
        src = require_landing("posts", corpus, "posts.jsonl")
        dst = local(cfg.layout.landing) / "posts" / corpus / "posts.jsonl"
        dst.parent.mkdir(parents=True, exist_ok=True)
        with src.open() as fin:
            dst.write_text("".join(line for line, _ in zip(fin, range(n), strict=False)))
    ctx = JobContext(cfg=cfg, run_date=DAY, manifest=RunManifest("nightly", cfg.layout.runs, DAY, cfg.profile))
    ctx._spark = spark
    nightly.run(ctx, to_train=["topics"], to_score=["topics"])
    path = ctx.manifest.write("ok")

    rec = ctx.manifest.data["models"]["topics"]
    assert rec["registered_model"] == "smspark_topics" and rec["champion"]["promoted"]
    assert rec["beats_baseline"] is None  # no baseline: k is chosen by coherence
    assert rec["selection"]["metric"] == "npmi" and -1.0 <= rec["selection"]["candidate"] <= 1.0
    history, chosen = rec["history"], rec["selection_k"]
    assert set(chosen) == {"labelled_tweets", "trump_archive"}  # one model per corpus
    for corpus, k in chosen.items():
        rows = [i for i, c in enumerate(history["corpus"]) if c == corpus]
        assert [history["k"][i] for i in rows] == [4.0, 6.0]
        best = max(rows, key=lambda i: history["val_npmi"][i])
        assert k == history["k"][best]  # the most coherent k on the corpus' validation documents won
    assert rec["test"]["lda"]["log_perplexity"] > 0

    stages = ctx.manifest.data["stages"]
    assert stages["features.topics"]["counts"]["reconciled"]
    assert stages["score.topics"]["counts"]["reconciled"]
    gold = tables.read(spark, storage.join(cfg.layout.gold, "post_topics"))
    assert gold.count() == tables.read(spark, storage.join(cfg.layout.silver, "posts")).count()
    topics = tables.read(spark, storage.join(cfg.layout.gold, "topics")).collect()
    assert len(topics) == sum(chosen.values()) and all(len(t["label"].split(" / ")) == 3 for t in topics)
    assert sorted(t["topic_id"] for t in topics) == list(range(len(topics)))  # ids unique across corpora
    assert {c: sum(t["corpus"] == c for t in topics) for c in chosen} == chosen
    by_corpus = (
        gold.join(tables.read(spark, storage.join(cfg.layout.silver, "posts")), "post_id")
        .where("dominant_topic IS NOT NULL")
        .groupBy("corpus")
        .agg({"dominant_topic": "min"})
        .collect()
    )
    trump_first = chosen["labelled_tweets"]  # topic ids follow the corpus names' order
    assert {r["corpus"]: r["min(dominant_topic)"] >= trump_first for r in by_corpus} == {
        "labelled_tweets": False,
        "trump_archive": True,
    }
    kw = tables.read(spark, storage.join(cfg.layout.gold, "keywords"))
    assert {r["method"] for r in kw.select("method").distinct().collect()} == {"tfidf", "yake"}
    assert "analytics.sentiment_daily" in ctx.manifest.data["skipped"]  # no sentiment scored in this run

    # the next date, same champion and posts: both topic tables are copies of DAY's, no model loaded
    nxt_day = DAY + dt.timedelta(days=1)
    nxt = JobContext(cfg=cfg, run_date=nxt_day, manifest=RunManifest("score", cfg.layout.runs, nxt_day, cfg.profile))
    nxt._spark = spark
    copied = topics_steps.score(nxt)
    assert copied["counts"]["reused_from"] == DAY.isoformat() and copied["counts"]["reconciled"], copied.get("reuse")
    after = tables.read(spark, storage.join(cfg.layout.gold, "post_topics"))
    by_day = {str(r["dt"]): r["count"] for r in after.groupBy("dt").count().collect()}
    assert by_day == {
        DAY.isoformat(): copied["counts"]["scored"],
        nxt_day.isoformat(): copied["counts"]["scored"],
    }
    assert copied["counts"]["k"] == len(topics)

    # a second training re-measures the champion on today's splits and records the decision
    ctx2 = JobContext(cfg=cfg, run_date=DAY, manifest=RunManifest("train", cfg.layout.runs, DAY, cfg.profile))
    ctx2._spark = spark
    again = train.run(ctx2, "topics")
    assert again["test"]["champion"] is not None and again["champion"]["previous_version"] == rec["version"]

    html = local(storage.join(cfg.layout.reports, DAY.isoformat(), "report.html"))
    assert html.exists() and storage.read_json(path)["stages"]["report"]["status"] == "ok"
    report.run(ctx2)  # the standalone report reads the manifests written so far
    page = html.read_text()
    assert "smspark_topics" in page and "not available" in page  # missing parts are explained
    assert 'alt="topic shares trump_archive"' in page  # topic shares from gold/post_topics, without sentiment
    shot = tmp_path / "report.png"
    probe = render_page(html, shot, tmp_path / "profile")
    assert probe["images"] and all(i["complete"] and i["width"] > 0 for i in probe["images"])
    assert blank_fraction(shot) < 0.98
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)

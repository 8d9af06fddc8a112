"""End to end on a real slice: nightly (ingest -> etl -> features -> 2 Horovod workers x 1 epoch -> score) with
``data.root`` given as a ``file://`` URI whose path holds a space, quarantine of malformed landing lines,
re-scoring a date, ad-hoc prediction, and a job under spark-submit."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from smspark import tables
from smspark.config import PROJECT_ROOT
from smspark.jobs import bench, predict, score
from tests.pipeline_roots import BAD_LINES, DAY, PLANTED_HANDLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(posts_nightly):
    """The shared nightly root (see :mod:`tests.pipeline_roots`): (root as a local path, args, manifest, lines)."""
    return posts_nightly


def test_every_output_and_side_file_lies_under_the_uri_root_with_a_space(run):
    root, _, manifest, _ = run
    assert manifest["data_root"] == f"file://{root}" and " " in manifest["data_root"]
    for layer in ("bronze/posts", "silver/posts", "features/sentiment/train", "gold/post_sentiment", "mlflow"):
        assert (root / layer).is_dir(), layer
    assert json.loads((root / "features" / "sentiment" / "meta.json").read_text())["rows"]["train"] > 0
    assert manifest["outputs"]["silver/posts"] == f"file://{root}/silver/posts"
    for name, stage in manifest["stages"].items():
        procs = stage["processes"]
        assert procs["driver"]["pid"] == os.getpid() and procs["executors"], name
    ranks = manifest["stages"]["train.sentiment"]["processes"]["horovod_ranks"]
    assert sorted(r["rank"] for r in ranks) == [0, 1] and len({r["pid"] for r in ranks}) == 2


def test_nightly_stages_reconcile(run):
    root, _, manifest, lines = run
    assert manifest["status"] == "ok"
    stages = manifest["stages"]
    assert list(stages) == [
        "ingest.posts",
        "etl.posts",
        "features.sentiment",
        "train.sentiment",
        "score.sentiment",
        "analytics.keywords",
        "analytics.sentiment_daily",
        "analytics.trend_alerts",
        "report",
    ]
    assert "no model trained tonight" in manifest["skipped"]["features.topics"]  # topics is not in nightly.train
    for name, st in stages.items():
        if "reconciled" in st["counts"]:
            assert st["counts"]["reconciled"], name
        assert st["seconds"] > 0
    ingest = stages["ingest.posts"]["counts"]
    assert ingest["rows_in"] == lines and ingest["quarantined"] == len(BAD_LINES) + 1
    etl = stages["etl.posts"]["counts"]
    assert etl["rows_in"] == ingest["rows_out"] == etl["rows_out"] + etl["quarantined"] + etl["duplicates_dropped"]
    assert stages["score.sentiment"]["counts"]["scored"] == etl["rows_out"]
    daily = stages["analytics.sentiment_daily"]["counts"]
    assert daily["rows_in"] == daily["rows_out"] == etl["rows_out"]  # every scored post is in one daily row
    assert manifest["outputs"]["report"] == f"file://{root}/reports/{DAY}/report.html"
    assert (root / "reports" / DAY / "report.html").is_file()


def test_training_ran_two_workers_and_beats_the_majority_class(run, spark):
    root, _, manifest, _ = run
    model = manifest["models"]["sentiment"]
    assert model["ranks"] == [0, 1] and model["num_proc"] == 2
    assert model["selection"]["split"] == "val" and model["selection"]["metric"] == "macro_f1"
    assert model["champion"]["champion_version"] == model["version"] == "1"
    assert model["champion"]["reason"].startswith("first version")
    labels = tables.read(spark, str(root / "features" / "sentiment" / "test")).toPandas()["label"]
    majority = float(labels.value_counts(normalize=True).max())
    majority_macro_f1 = 2 * majority / (1 + majority) / 3  # F1 of the one predicted class, averaged over 3
    for name in ("cnn", "tfidf_logreg"):
        m = manifest["metrics"]["sentiment"][name]
        assert m["accuracy"] > majority and m["macro_f1"] > majority_macro_f1, (name, m, majority)
        assert model["val"][name]["macro_f1"] > majority_macro_f1
    assert isinstance(model["beats_baseline"], bool) and set(model["beats"]) == {"tfidf_logreg"}
    # the baseline is the configured grid (word 1-2-grams by default), not the function's defaults
    chosen = model["baseline_params"]["tfidf_logreg"]
    assert chosen["ngram_max"] == 2 and chosen["min_df"] in (1.0, 2.0) and chosen["reg_param"] in (0.001, 0.003)
    assert len(model["plots"]) == 2 and all(Path(p.removeprefix("file://")).exists() for p in model["plots"])


def test_malformed_lines_quarantined_with_reasons(run, spark):
    root, _, _, _ = run
    q = tables.read(spark, str(root / "quarantine" / "posts")).where(F.col("stage") == "ingest").toPandas()
    got = dict(zip(q["raw"], q["reason"], strict=True))
    for raw, reason in BAD_LINES.items():
        assert got[raw] == reason
    undecodable = q[q["reason"] == "not valid UTF-8"]
    assert len(undecodable) == 1 and "caf\ufffd au lait" in undecodable["raw"].iloc[0]
    assert (q["source_file"].str.endswith("broken_export/p.jsonl")).all()


def test_every_post_scored_once_and_rescoring_replaces_the_date(run, spark):
    root, args, manifest, _ = run
    silver = tables.read(spark, str(root / "silver" / "posts"))
    gold_path = str(root / "gold" / "post_sentiment")

    def gold():
        return tables.read(spark, gold_path).where(F.col("dt") == dt.date.fromisoformat(DAY))

    g = gold()
    assert g.count() == silver.count() == g.select("post_id").distinct().count()
    assert silver.join(g, "post_id", "left_anti").count() == 0
    pdf = g.toPandas()
    assert set(pdf["label"]) <= {"negative", "neutral", "positive"}
    probs = pdf[["prob_negative", "prob_neutral", "prob_positive"]].sum(axis=1)
    assert probs.between(0.999, 1.001).all()
    assert (pdf["model_name"] == "smspark_sentiment").all() and (pdf["model_version"] == "1").all()
    assert score.main(args + ["--model", "sentiment"]) == 0
    assert gold().count() == silver.count()  # replaced, not appended


def test_no_raw_handles_in_silver(run, spark):
    root, _, _, _ = run
    silver = tables.read(spark, str(root / "silver" / "posts"))
    assert silver.where(F.col("author_id") == "realDonaldTrump").count() == 0
    texts = [r["text"] for r in silver.select("text").collect()]
    handles = [h for t in texts for h in re.findall(r"(?<!\w)@+(\w+)", t)]
    assert handles and all(re.fullmatch(r"u_[0-9a-f]{16}", h) for h in handles)


def test_predict_file_and_clear_errors(run, tmp_path, capsys):
    root, _, _, _ = run
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "text": ["I love this airline!", "worst flight ever @united", None]}).to_csv(
        src, index=False
    )
    out = tmp_path / "out.parquet"
    assert predict.main(["sentiment", "--input", str(src), "--output", str(out), "--set", f"data.root={root}"]) == 0
    res = pd.read_parquet(out)
    assert list(res.columns) == ["id", "label", "prob_negative", "prob_neutral", "prob_positive"]
    assert res["id"].tolist() == ["a", "b", "c"]
    capsys.readouterr()  # what the successful call printed
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "body": "x"}\n')
    assert predict.main(["sentiment", "--input", str(bad), "--output", str(out), "--set", f"data.root={root}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing column(s) text" in err[0]
    empty_root = tmp_path / "nothing"
    assert (
        predict.main(["sentiment", "--input", str(src), "--output", str(out), "--set", f"data.root={empty_root}"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "smspark train --model sentiment" in err[0]


def test_ingest_under_spark_submit(run, tmp_path):
    root, _, _, _ = run
    other = tmp_path / "data"
    (other / "landing").mkdir(parents=True)
    os.symlink(root / "landing" / "posts", other / "landing" / "posts")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    cmd = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        "local[1]",
        "jobs/ingest.py",
        "--conf",
        "local",
        "--date",
        DAY,
        "--set",
        f"data.root={other}",
    ]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bronze/posts" in proc.stdout
    manifest = json.loads(max((other / "runs").glob("*ingest*/manifest.json")).read_text())
    assert manifest["stages"]["ingest.posts"]["counts"]["reconciled"]


def test_bench_sentiment_times_both_sides_on_the_same_rows(run):
    root, _, _, _ = run
    assert bench.main(["sentiment", "--rows", "400", "--repeat", "1", "--set", f"data.root={root}"]) == 0
    manifest = json.loads(max((root / "runs").glob("*-bench-*/manifest.json")).read_text())
    res = manifest["metrics"]["bench_sentiment"]
    assert res["rows"] == 400 and res["model"] == "models:/smspark_sentiment/1"
    assert res["spark_udf_rows_per_second"] > 0 and res["plain_predict_rows_per_second"] > 0


def test_no_raw_handle_or_post_id_survives_past_bronze(run, spark):
    """Every string column of every silver and gold table, scanned for the planted handles, for bronze authors and
    reply targets, and for bronze post ids (plain substring search, independent of the production pattern)."""
    root, _, _, _ = run
    bronze = tables.read(spark, str(root / "bronze" / "posts")).toPandas()
    handles = set(PLANTED_HANDLES) | {h.lower() for h in bronze.author.dropna() if len(h) >= 8}
    handles |= {h.lower() for h in bronze.in_reply_to.dropna() if len(h) >= 8}
    post_ids = {i for i in bronze.post_id.dropna() if len(i) >= 8}
    assert {"qzplantone"} <= handles and "9000000002" in post_ids
    scanned = 0
    for layer in ("silver", "gold"):
        for table in sorted(p for p in (root / layer).iterdir() if p.is_dir()):
            df = tables.read(spark, str(table))
            cols = [f.name for f in df.schema.fields if isinstance(f.dataType, StringType)]
            for row in df.select(cols).collect():
                for value in row:
                    if value:
                        low = value.lower()
                        assert not any(h in low for h in handles), (table.name, value)
                        assert not any(i in value for i in post_ids), (table.name, value)
                        scanned += 1
    assert scanned > 1000

"""Posts and the sentiment model: the ingest, etl, features, train and score steps.

- ingest: ``landing/posts/<corpus>/*.jsonl`` -> ``bronze/posts`` (partition ``ingest_date``)
- etl: ``bronze/posts`` -> ``silver/posts`` (partition ``dt``, key ``post_id``)
- features: labelled silver posts -> ``features/sentiment/{train,val,test}`` + ``vocab.json``
- train: Kim CNN with Horovod + Petastorm next to TF-IDF + LogisticRegression -> MLflow ``smspark_sentiment``
- score: every silver post -> ``gold/post_sentiment`` (partition ``dt`` = run date)
"""

from __future__ import annotations

import time
from typing import Any

from pyspark.sql import functions as F

from smspark.etl.posts import dedupe_posts, normalise_posts, parse_posts
from smspark.features.text import SPLITS, full_vocab, sentiment_features, split_col, tokens_col, vocabulary
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_table, write_json, write_partitions, write_quarantine, write_table
from smspark.manifest import reconcile
from smspark.schemas import BRONZE_POSTS, SENTIMENT_CLASSES


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Landing JSON lines of posts -> ``bronze/posts``; reconciles ``lines = bronze rows + quarantined``."""
    src = ctx.layout.landing / "posts"
    files = sorted(str(p) for p in src.glob("**/*.jsonl")) + sorted(str(p) for p in src.glob("**/*.json"))
    if not files:
        raise UserError(f"no JSON-lines posts under {src}: run `smspark fetch-samples` or copy an export there")
    lines = ctx.spark.read.text(files).select("value", F.col("_metadata.file_path").alias("source_file"))
    lines = lines.persist()
    n_in = lines.count()
    bronze, quarantine = parse_posts(lines, ctx.run_date)
    out = ctx.layout.bronze / "posts"
    write_partitions(bronze, out, "ingest_date")
    n_q = write_quarantine(quarantine, ctx.layout, "posts", "ingest")
    n_out = ctx.spark.read.parquet(str(out)).where(F.col("ingest_date") == F.lit(ctx.run_date)).count()
    lines.unpersist()
    ctx.output("bronze/posts", out)
    return {
        "inputs": {"landing": str(src), "files": len(files)},
        "outputs": {"bronze": str(out), "quarantine": str(ctx.layout.quarantine / "posts")},
        "counts": reconcile(n_in, n_out, quarantined=n_q),
    }


def etl(ctx: JobContext) -> dict[str, Any]:
    """``bronze/posts`` -> ``silver/posts``, recomputed in full so de-duplication spans every ingest."""
    key = ctx.cfg.pseudonym_key()
    src = ctx.layout.bronze / "posts"
    bronze = read_table(ctx.spark, src, BRONZE_POSTS, "run `smspark ingest` first")
    normalised = normalise_posts(bronze, key).persist()  # the UDFs run once for the three outputs below
    n_in = normalised.count()
    silver, quarantine, dups = dedupe_posts(normalised)
    out = ctx.layout.silver / "posts"
    write_table(silver.repartition(F.col("dt")), out, "dt")
    n_q = write_quarantine(quarantine, ctx.layout, "posts", "etl")
    dup_counts = {r["reason"]: r["count"] for r in dups.groupBy("reason").count().collect()}
    n_out = ctx.spark.read.parquet(str(out)).count()
    normalised.unpersist()
    ctx.output("silver/posts", out)
    return {
        "inputs": {"bronze": str(src)},
        "outputs": {"silver": str(out)},
        "counts": {**reconcile(n_in, n_out, n_q, sum(dup_counts.values())), "duplicates_by_reason": dup_counts},
    }


def features(ctx: JobContext) -> dict[str, Any]:
    """Labelled ``silver/posts`` -> ``features/sentiment``; the vocabulary comes from the training split only."""
    mcfg = ctx.cfg.models.sentiment
    posts = read_table(ctx.spark, ctx.layout.silver / "posts", what="run `smspark etl` first")
    posts = posts.select("post_id", "text", "label").persist()
    n_posts = posts.count()
    labelled = posts.where(F.col("label").isNotNull())
    n_in = labelled.count()
    if n_in == 0:
        raise UserError("no labelled posts in silver/posts: the sentiment model needs a labelled corpus")
    train_text = labelled.where(split_col(F.col("post_id")) == "train")
    vocab_rows = vocabulary(train_text.select(tokens_col(F.col("text")).alias("tokens")), mcfg.vocab_size).collect()
    vocab = full_vocab([(r["token"], r["id"]) for r in vocab_rows])
    feats = sentiment_features(labelled, vocab, mcfg.seq_len).persist()
    out = ctx.layout.features / "sentiment"
    counts: dict[str, int] = {}
    for split in SPLITS:
        part = feats.where(F.col("split") == split).drop("split")
        write_table(part.repartition(split_files(ctx)), out / split)
        counts[split] = ctx.spark.read.parquet(str(out / split)).count()
    class_counts = {SENTIMENT_CLASSES[r["label"]]: r["count"] for r in feats.groupBy("label").count().collect()}
    write_json(out / "vocab.json", {"vocab": vocab, "seq_len": mcfg.seq_len, "classes": list(SENTIMENT_CLASSES)})
    write_json(
        out / "meta.json",
        {
            "rows": counts,
            "class_counts": class_counts,
            "vocab_size": len(vocab),
            "seq_len": mcfg.seq_len,
            "run_date": ctx.run_date.isoformat(),
        },
    )
    feats.unpersist()
    posts.unpersist()
    ctx.output("features/sentiment", out)
    return {
        "inputs": {"silver": str(ctx.layout.silver / "posts"), "unlabelled_posts_not_used": n_posts - n_in},
        "outputs": {"features": str(out), "vocab_size": len(vocab)},
        "counts": {**reconcile(n_in, sum(counts.values())), "splits": counts, "classes": class_counts},
    }


def split_files(ctx: JobContext) -> int:
    """Files per features split: enough row groups for every Horovod worker's Petastorm shard (2 per worker)."""
    return max(4, 2 * ctx.cfg.train.num_proc)


def score(ctx: JobContext) -> dict[str, Any]:
    """Every ``silver/posts`` row -> ``gold/post_sentiment`` with the champion; reconciles ``posts = scored``."""
    from smspark.scoring.sentiment import score_posts
    from smspark.train.registry import NoChampionError, configure, get_champion

    try:
        champ = get_champion(configure(ctx.cfg), "sentiment")
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ctx.cfg.scoring.batch_size))
    posts = read_table(ctx.spark, ctx.layout.silver / "posts", what="run `smspark etl` first").select("post_id", "text")
    posts = posts.repartition(ctx.spark.sparkContext.defaultParallelism).persist()
    n_in = posts.count()
    gold = score_posts(
        posts, champ, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri, ctx.run_date, ctx.cfg.scoring.batch_size
    )
    out = ctx.layout.gold / "post_sentiment"
    start = time.perf_counter()
    write_partitions(gold, out, "dt")
    seconds = time.perf_counter() - start
    posts.unpersist()
    written = ctx.spark.read.parquet(str(out)).where(F.col("dt") == F.lit(ctx.run_date))
    n_out = written.count()
    labels = {r["label"]: r["count"] for r in written.groupBy("label").count().collect()}
    ctx.output("gold/post_sentiment", out / f"dt={ctx.run_date.isoformat()}")
    ctx.manifest.data["models"].setdefault("sentiment", {})["scored_with"] = {
        "name": champ.name,
        "version": champ.version,
    }
    return {
        "inputs": {"silver": str(ctx.layout.silver / "posts"), "model": champ.uri},
        "outputs": {"gold": str(out), "dt": ctx.run_date.isoformat(), "labels": labels},
        "counts": {
            **reconcile(n_in, n_out),
            "scored": n_out,
            "score_seconds": round(seconds, 2),
            "rows_per_second": round(n_out / seconds, 1),
        },
    }

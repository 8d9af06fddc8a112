"""Job ``features``: silver -> ``features/<model>/{train,val,test}`` as Petastorm-readable Parquet.

``sentiment``: labelled posts of ``silver/posts`` -> ``post_id``, ``token_ids`` (int32[seq_len]), ``label``
(int32), split 80/10/10 by hashing ``post_id``; the vocabulary (top tokens of the training split, built with
Spark) goes to ``features/sentiment/vocab.json`` and travels with the trained model. Each split is written as
several files so that every Horovod worker's Petastorm shard gets row groups.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from pyspark.sql import functions as F

from smspark.features.text import SPLITS, full_vocab, sentiment_features, split_col, tokens_col, vocabulary
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.io import read_table, write_json, write_table
from smspark.manifest import reconcile
from smspark.schemas import SENTIMENT_CLASSES


def split_files(ctx: JobContext) -> int:
    """Files per split: enough row groups for every worker's shard (at least 2 per worker)."""
    return max(4, 2 * ctx.cfg.train.num_proc)


def features_sentiment(ctx: JobContext) -> dict[str, Any]:
    """``silver/posts`` -> ``features/sentiment``; returns the stage record fields."""
    mcfg = ctx.cfg.models.sentiment
    posts = read_table(ctx.spark, ctx.layout.silver / "posts", what="run `smspark etl` first")
    labelled = posts.where(F.col("label").isNotNull()).select("post_id", "text", "label").persist()
    n_in = labelled.count()
    if n_in == 0:
        raise UserError("no labelled posts in silver/posts: the sentiment model needs a labelled corpus")

    train_tokens = labelled.where(split_col(F.col("post_id")) == "train").select(
        tokens_col(F.col("text")).alias("tokens")
    )
    vocab_rows = vocabulary(train_tokens, mcfg.vocab_size).collect()
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
    labelled.unpersist()
    ctx.output("features/sentiment", out)
    return {
        "inputs": {"silver": str(ctx.layout.silver / "posts"), "unlabelled_posts_not_used": posts.count() - n_in},
        "outputs": {"features": str(out), "vocab_size": len(vocab)},
        "counts": {**reconcile(n_in, sum(counts.values())), "splits": counts, "classes": class_counts},
    }


#: Feature steps by model: (the silver table it reads, the step). By default a model runs when its input exists.
FEATURE_STEPS: dict[str, tuple[str, Callable[[JobContext], dict[str, Any]]]] = {
    "sentiment": ("posts", features_sentiment),
}


def run(ctx: JobContext, models: list[str] | None = None) -> None:
    """Build the features of the named models (default: all whose silver input exists)."""
    chosen = models or [m for m, (table, _) in FEATURE_STEPS.items() if (ctx.layout.silver / table).exists()]
    if not chosen:
        raise UserError(f"nothing in {ctx.layout.silver}: run `smspark etl` first")
    for model in chosen:
        if model not in FEATURE_STEPS:
            raise UserError(f"unknown model {model!r}; known: {', '.join(FEATURE_STEPS)}")
        with ctx.manifest.stage(f"features.{model}") as rec:
            rec.update(FEATURE_STEPS[model][1](ctx))


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models",
        type=lambda s: [t for t in s.split(",") if t],
        default=None,
        help=f"comma-separated models ({', '.join(FEATURE_STEPS)}); default: all whose silver input exists",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("features", argv, __doc__, lambda ctx, a: run(ctx, a.models), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

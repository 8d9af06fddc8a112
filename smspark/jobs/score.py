"""Job ``score``: apply the champion model to the whole corpus with pandas UDFs, into gold.

``--model sentiment``: every post of ``silver/posts`` -> ``gold/post_sentiment`` (``dt`` = ``--date``; a re-run
of a date replaces that date). Reconciles ``posts in = rows scored``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from pyspark.sql import functions as F

from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.io import read_table, write_partitions
from smspark.manifest import reconcile
from smspark.train.registry import NoChampionError, configure, get_champion


def score_sentiment(ctx: JobContext) -> dict[str, Any]:
    from smspark.scoring.sentiment import score_posts

    client = configure(ctx.cfg)
    try:
        champ = get_champion(client, "sentiment")
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ctx.cfg.scoring.batch_size))
    posts = read_table(ctx.spark, ctx.layout.silver / "posts", what="run `smspark etl` first").select("post_id", "text")
    n_in = posts.count()
    parallelism = ctx.spark.sparkContext.defaultParallelism
    gold = score_posts(
        posts.repartition(parallelism),
        champ,
        ctx.cfg.tracking_uri(),
        ctx.cfg.mlflow.registry_uri,
        ctx.run_date,
        ctx.cfg.scoring.batch_size,
    )
    out = ctx.layout.gold / "post_sentiment"
    start = time.perf_counter()
    write_partitions(gold, out, "dt")
    seconds = time.perf_counter() - start
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
        "counts": {**reconcile(n_in, n_out), "scored": n_out, "rows_per_second": round(n_out / seconds, 1)},
    }


#: Scorers by model name.
SCORERS: dict[str, Callable[[JobContext], dict[str, Any]]] = {"sentiment": score_sentiment}


def run(ctx: JobContext, models: list[str]) -> None:
    for model in models:
        if model not in SCORERS:
            raise UserError(f"unknown model {model!r}; known: {', '.join(SCORERS)}")
        with ctx.manifest.stage(f"score.{model}") as rec:
            rec.update(SCORERS[model](ctx))


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        action="append",
        choices=sorted(SCORERS),
        default=None,
        help="model to score with (repeatable; default: all)",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("score", argv, __doc__, lambda ctx, a: run(ctx, a.model or list(SCORERS)), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

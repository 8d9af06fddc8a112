"""Job ``bench``: scoring throughput through Spark pandas UDFs next to the same model's ``predict`` in one plain
Python process, on the same rows, in the same run (a ratio means more than a time on a noisy machine).

``smspark bench sentiment [--rows N] [--repeat R]``: silver posts -> the champion. The Spark side times
``select(udf(text)).write.format("noop")`` over cached input (model loading included: once per Python worker);
the plain side times loading the same pyfunc once and ``predict_proba`` over the same texts. Results go to the
run manifest under ``metrics.bench_<model>`` and are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.io import read_table
from smspark.jobs.steps import resolve


def bench_sentiment(ctx: JobContext, rows: int | None, repeat: int) -> dict[str, Any]:
    from smspark.scoring.udfs import _MODELS, load_python_model, sentiment_udf
    from smspark.train.registry import NoChampionError, configure, get_champion

    try:
        champ = get_champion(configure(ctx.cfg), "sentiment")
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    posts = read_table(ctx.spark, storage.join(ctx.layout.silver, "posts"), what="run `smspark etl` first").select(
        "post_id", "text"
    )
    if rows:
        posts = posts.orderBy("post_id").limit(rows)
    posts = posts.repartition(ctx.spark.sparkContext.defaultParallelism).persist()
    n = posts.count()
    texts = [r["text"] for r in posts.select("text").collect()]
    bs = ctx.cfg.scoring.batch_size
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(bs))
    udf = sentiment_udf(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri, bs)
    spark_s, plain_s = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        posts.select("post_id", udf(F.col("text")).alias("s")).write.format("noop").mode("overwrite").save()
        spark_s.append(time.perf_counter() - start)
        _MODELS.clear()
        start = time.perf_counter()
        model = load_python_model(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri)
        model.predict_proba(texts, batch_size=bs)
        plain_s.append(time.perf_counter() - start)
    posts.unpersist()
    spark_t, plain_t = statistics.median(spark_s), statistics.median(plain_s)
    return {
        "rows": n,
        "model": champ.uri,
        "spark_parallelism": ctx.spark.sparkContext.defaultParallelism,
        "spark_udf_seconds": [round(s, 3) for s in spark_s],
        "plain_predict_seconds": [round(s, 3) for s in plain_s],
        "spark_udf_rows_per_second": round(n / spark_t, 1),
        "plain_predict_rows_per_second": round(n / plain_t, 1),
        "ratio_spark_over_plain": round(plain_t / spark_t, 3),
    }


#: bench target -> function(ctx, rows, repeat) -> results
TARGETS: dict[str, Callable[[JobContext, int | None, int], dict[str, Any]]] = {"sentiment": bench_sentiment}
TARGETS["recommendations"] = resolve("smspark.jobs.steps.interactions:bench")
TARGETS["media"] = resolve("smspark.jobs.steps.media:bench")


def run(ctx: JobContext, target: str, rows: int | None, repeat: int) -> dict[str, Any]:
    with ctx.manifest.stage(f"bench.{target}") as rec:
        res = TARGETS[target](ctx, rows, repeat)
        rec["counts"] = {"rows": res["rows"]}
    ctx.manifest.data["metrics"][f"bench_{target}"] = res
    for k, v in res.items():
        print(f"{k:<32} {v}")
    return res


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=sorted(TARGETS), help="what to benchmark")
    p.add_argument("--rows", type=int, default=None, help="rows to score (default: all)")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions of each side; the median is reported")


def main(argv: list[str] | None = None) -> int:
    return run_job("bench", argv, __doc__, lambda ctx, a: run(ctx, a.target, a.rows, a.repeat), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

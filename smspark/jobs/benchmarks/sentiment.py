"""``smspark bench sentiment``: sentiment scoring through the Spark pandas UDF next to the same pyfunc's
``predict_proba`` in one plain process."""

from __future__ import annotations

import statistics
import time
from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_table


def bench(ctx: JobContext, rows: int | None, repeat: int) -> dict[str, Any]:
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

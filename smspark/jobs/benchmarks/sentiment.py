"""``smspark bench sentiment``: sentiment scoring through the Spark pandas UDF next to the same pyfunc's
``predict_proba`` in one plain process; and the pandas UDF next to a row-at-a-time Python UDF with the same model."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark import storage
from smspark.jobs.benchmarks.timing import ratio_result, side_by_side, udf_vs_plain
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_table


def _champion_and_posts(ctx: JobContext, rows: int | None) -> tuple[Any, DataFrame, int]:
    """The sentiment champion and ``rows`` silver posts (``post_id``, ``text``; all when None), cached and spread
    over every task slot; raises :class:`UserError` without a champion or silver posts."""
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
    return champ, posts, posts.count()


def bench(ctx: JobContext, rows: int | None, repeat: int) -> dict[str, Any]:
    """Scoring throughput of the sentiment champion: the Spark pandas UDF (written to the ``noop`` sink over cached
    silver posts, model loading once per Python worker included) next to loading the same pyfunc once and
    ``predict_proba`` in this plain process over the same texts.

    Returns ``rows``, the timings of every repetition, rows/s of both sides and ``ratio_spark_over_plain``
    (> 1: Spark is faster).
    """
    from smspark.scoring.udfs import sentiment_udf

    champ, posts, n = _champion_and_posts(ctx, rows)
    texts = [r["text"] for r in posts.select("text").collect()]
    bs = ctx.cfg.scoring.batch_size
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(bs))
    udf = sentiment_udf(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri, bs)

    scored = posts.select("post_id", udf(F.col("text")).alias("s"))
    res = udf_vs_plain(ctx, champ.uri, scored, n, lambda model: model.predict_proba(texts, batch_size=bs), repeat)
    posts.unpersist()
    return res


def bench_row_udf(ctx: JobContext, rows: int | None, repeat: int, row_rows: int) -> dict[str, Any]:
    """The sentiment pandas UDF (Arrow batches of ``scoring.batch_size`` rows, one ``predict`` per batch) next to a
    row-at-a-time Python UDF calling the same model on one text per call, both over cached silver posts written to
    the ``noop`` sink. The row UDF scores only the first ``row_rows`` of the rows (it is slow); rates are compared.

    Returns rows of both sides, their timings, rows/s and ``ratio_pandas_over_row`` (> 1: the pandas UDF is faster).
    """
    from pyspark.sql.types import FloatType

    from smspark.scoring.udfs import load_python_model, sentiment_udf

    champ, posts, n = _champion_and_posts(ctx, rows)
    few = posts.orderBy("post_id").limit(row_rows).repartition(ctx.spark.sparkContext.defaultParallelism).persist()
    n_few = few.count()
    tracking, registry, bs = ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri, ctx.cfg.scoring.batch_size
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(bs))
    pandas_udf = sentiment_udf(champ.uri, tracking, registry, bs)
    uri = champ.uri

    @F.udf(FloatType())
    def row_udf(text: str | None) -> float:
        return float(load_python_model(uri, tracking, registry).predict_proba([text], batch_size=1).max())

    pair = side_by_side(
        ("pandas_udf", lambda: posts.select(pandas_udf(F.col("text"))).write.format("noop").mode("overwrite").save()),
        ("row_udf", lambda: few.select(row_udf(F.col("text"))).write.format("noop").mode("overwrite").save()),
        repeat,
    )
    posts.unpersist()
    few.unpersist()
    return ratio_result(pair, n, n_few, "ratio_pandas_over_row", rows=n, row_udf_rows=n_few, model=champ.uri)

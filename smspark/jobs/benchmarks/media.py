"""``smspark bench media``: image scoring through the Spark pandas UDF next to the same pyfunc in one plain process."""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.jobs.benchmarks.timing import ratio_result, side_by_side
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_table


def bench(ctx: JobContext, rows: int | None, repeat: int) -> dict[str, Any]:
    """Scoring throughput of the image champion: the Spark pandas UDF (``gold/media_labels`` columns, written to
    the ``noop`` sink over cached silver rows, model loading once per Python worker included) next to loading the
    same pyfunc once and ``score`` (preprocess + ``predict``) in this plain process over the same images.

    Returns ``rows``, the timings of every repetition, images/s of both sides and ``ratio_spark_over_plain``
    (> 1: Spark is faster).
    """

    from smspark.scoring.media import media_udf
    from smspark.scoring.udfs import _MODELS, load_python_model
    from smspark.train.registry import NoChampionError, configure, get_champion

    try:
        champ = get_champion(configure(ctx.cfg), "image")
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    media = read_table(ctx.spark, storage.join(ctx.layout.silver, "media"), what="run `smspark etl` first")
    media = media.select("media_id", "pixels", "height", "width", "channels")
    if rows:
        media = media.orderBy("media_id").limit(rows)
    media = media.repartition(ctx.spark.sparkContext.defaultParallelism).persist()
    n = media.count()
    local = media.select("pixels", "height", "width", "channels").toPandas()
    bs = ctx.cfg.scoring.batch_size
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(bs))
    udf = media_udf(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri, bs)

    def spark_side() -> None:
        scored = media.select("media_id", udf(F.col("pixels"), F.col("height"), F.col("width"), F.col("channels")))
        scored.write.format("noop").mode("overwrite").save()

    def plain_side() -> None:
        model = load_python_model(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri)
        model.score(
            local["pixels"].tolist(), local["height"].tolist(), local["width"].tolist(), local["channels"].tolist(), bs
        )

    pair = side_by_side(
        ("spark_udf", spark_side), ("plain_predict", plain_side), repeat, {"plain_predict": _MODELS.clear}
    )
    media.unpersist()
    return ratio_result(
        pair,
        n,
        n,
        "ratio_spark_over_plain",
        rows=n,
        model=champ.uri,
        spark_parallelism=ctx.spark.sparkContext.defaultParallelism,
    )

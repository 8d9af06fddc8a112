"""``smspark bench media``: image scoring through Spark (``mapInArrow``) next to the same pyfunc in a plain process."""

from __future__ import annotations

from typing import Any

from smspark import storage
from smspark.jobs.benchmarks.timing import udf_vs_plain
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_table


def bench(ctx: JobContext, rows: int | None, repeat: int) -> dict[str, Any]:
    """Scoring throughput of the image champion: the scorer of the nightly run (``mapInArrow`` with
    :func:`smspark.scoring.media.media_scorer`: ``gold/media_labels`` columns, written to the ``noop`` sink over
    cached silver rows, model loading once per Python worker included) next to loading the same pyfunc once and
    ``score`` (preprocess + predict) in this plain process over the same images.

    Returns ``rows``, the timings of every repetition, images/s of both sides and ``ratio_spark_over_plain``
    (> 1: Spark is faster).
    """

    from smspark.models.media_packaging import IMAGE_INPUT
    from smspark.scoring.media import media_scored_schema, media_scorer
    from smspark.train.registry import NoChampionError, configure, get_champion

    try:
        champ = get_champion(configure(ctx.cfg), "image")
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    media = read_table(ctx.spark, storage.join(ctx.layout.silver, "media"), what="run `smspark etl` first")
    media = media.select("media_id", *IMAGE_INPUT)
    if rows:
        media = media.orderBy("media_id").limit(rows)
    media = media.repartition(ctx.spark.sparkContext.defaultParallelism).persist()
    n = media.count()
    local = media.select(*IMAGE_INPUT).toPandas()
    bs = ctx.cfg.scoring.batch_size
    ctx.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(bs))
    scorer = media_scorer(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri, bs, ("media_id",))
    scored = media.mapInArrow(scorer, media_scored_schema(media, ("media_id",)))
    res = udf_vs_plain(
        ctx, champ.uri, scored, n, lambda model: model.score(*(local[c].tolist() for c in IMAGE_INPUT), bs), repeat
    )
    media.unpersist()
    return res

"""``smspark bench recommendations``: two-stage scoring through Spark next to the same two champions in one plain
process."""

from __future__ import annotations

import statistics
import time
from typing import Any

from smspark import storage
from smspark.features.interactions import user_states
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_table
from smspark.jobs.steps.interactions import history_len_of


def bench(ctx: JobContext, rows: int | None, repeat: int) -> dict[str, Any]:
    """``smspark bench recommendations``: two-stage scoring of every user (or the first ``rows`` users) through
    Spark (``mapInPandas`` over cached user states, written to the ``noop`` sink) next to the same two champions
    called in one plain process on the same users, in the same run; checks both recommend the same items.

    The first Spark repetition is cold (Python workers start, import TensorFlow and load both models); later ones
    reuse the workers and their cached models. The plain side times loading the two pyfuncs and predicting
    separately. ``ratio_spark_over_plain`` = plain predict median / warm Spark median (> 1: Spark is faster);
    ``ratio_cold`` = (first plain load + predict) / first Spark repetition.
    """

    from smspark.scoring.recommendations import recommend, recommend_frame
    from smspark.scoring.udfs import _MODELS, load_python_model
    from smspark.train.registry import NoChampionError, configure, get_champion

    mcfg = ctx.cfg.models.recommender
    client = configure(ctx.cfg)
    try:
        rec, beh = get_champion(client, "recommender"), get_champion(client, "behaviour")
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    events = read_table(ctx.spark, storage.join(ctx.layout.silver, "interactions"), what="run `smspark etl` first")
    states = user_states(events, history_len_of(ctx, beh))
    if rows:
        states = states.orderBy("user_id").limit(rows)
    states = states.repartition(max(2, ctx.spark.sparkContext.defaultParallelism)).persist()
    n = states.count()
    local = states.toPandas()
    tracking, registry = ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri
    spark_s, load_s, plain_s = [], [], []
    plain_out = None
    for _ in range(max(1, repeat)):
        result = recommend(ctx.spark, states, rec, beh, ctx.cfg, ctx.run_date, events)
        start = time.perf_counter()
        result.gold.write.format("noop").mode("overwrite").save()
        spark_s.append(time.perf_counter() - start)
        _MODELS.clear()
        start = time.perf_counter()
        rm = load_python_model(rec.uri, tracking, registry)
        bm = load_python_model(beh.uri, tracking, registry)
        load_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain_out = recommend_frame(rm, bm, local, mcfg.recommend_k, mcfg.candidate_pool, mcfg.score_user_batch)
        plain_s.append(time.perf_counter() - start)
    spark_rows = result.gold.select("user_id", "rank", "item_id").toPandas()
    states.unpersist()
    merged = spark_rows.merge(
        plain_out[["user_id", "rank", "item_id"]], on=["user_id", "rank"], suffixes=("", "_plain")
    )
    same = float((merged["item_id"] == merged["item_id_plain"]).mean()) if len(merged) else float("nan")
    warm = statistics.median(spark_s[1:]) if len(spark_s) > 1 else spark_s[0]
    plain_t = statistics.median(plain_s)
    return {
        "rows": n,
        "users": n,
        "recommendations": int(len(spark_rows)),
        "plain_rows": int(len(plain_out)),
        "models": [rec.uri, beh.uri],
        "spark_parallelism": ctx.spark.sparkContext.defaultParallelism,
        "spark_udf_seconds": [round(s, 3) for s in spark_s],
        "plain_load_seconds": [round(s, 3) for s in load_s],
        "plain_predict_seconds": [round(s, 3) for s in plain_s],
        "spark_udf_users_per_second": round(n / warm, 1),
        "plain_predict_users_per_second": round(n / plain_t, 1),
        "ratio_spark_over_plain": round(plain_t / warm, 3),
        "ratio_cold": round((load_s[0] + plain_s[0]) / spark_s[0], 3),
        "same_items_fraction": round(same, 4),
    }

"""``smspark bench recommendations``: two-stage scoring through Spark next to the same two champions in one plain
process."""

from __future__ import annotations

import time
from typing import Any

from smspark import storage
from smspark.features.interactions import user_states
from smspark.jobs.benchmarks.timing import Timed, ratio_result, side_by_side
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
    last: dict[str, Any] = {}

    def plan() -> None:
        last["result"] = recommend(ctx.spark, states, rec, beh, ctx.cfg, ctx.run_date, events)

    def spark_side() -> None:
        last["result"].gold.write.format("noop").mode("overwrite").save()

    def plain_side() -> Timed:
        start = time.perf_counter()
        rm = load_python_model(rec.uri, tracking, registry)
        bm = load_python_model(beh.uri, tracking, registry)
        load = time.perf_counter() - start
        start = time.perf_counter()
        last["plain"] = recommend_frame(rm, bm, local, mcfg.recommend_k, mcfg.candidate_pool, mcfg.score_user_batch)
        return Timed(time.perf_counter() - start, {"load_seconds": load})

    pair = side_by_side(
        ("spark_udf", spark_side),
        ("plain_predict", plain_side),
        max(1, repeat),
        {"spark_udf": plan, "plain_predict": _MODELS.clear},
    )
    result, plain_out = last["result"], last["plain"]
    load_s = [d["load_seconds"] for d in pair.details["plain_predict"]]
    spark_rows = result.gold.select("user_id", "rank", "item_id").toPandas()
    states.unpersist()
    merged = spark_rows.merge(
        plain_out[["user_id", "rank", "item_id"]], on=["user_id", "rank"], suffixes=("", "_plain")
    )
    same = float((merged["item_id"] == merged["item_id_plain"]).mean()) if len(merged) else float("nan")
    out = ratio_result(
        pair,
        n,
        n,
        "ratio_spark_over_plain",
        unit="users",
        skip={"spark_udf": 1},
        rows=n,
        users=n,
        recommendations=int(len(spark_rows)),
        plain_rows=int(len(plain_out)),
        models=[rec.uri, beh.uri],
        spark_parallelism=ctx.spark.sparkContext.defaultParallelism,
        plain_load_seconds=[round(s, 3) for s in load_s],
    )
    first_spark = pair.seconds["spark_udf"][0]
    out["ratio_cold"] = round((load_s[0] + pair.seconds["plain_predict"][0]) / first_spark, 3)
    out["same_items_fraction"] = round(same, 4)
    return out

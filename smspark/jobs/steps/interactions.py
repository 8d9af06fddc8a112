"""Interactions (MovieLens ratings), the recommender and the behaviour model: ingest, etl, features, train, score.

- ingest: ``landing/movielens`` (ml-latest ``ratings.csv``/``movies.csv`` or ml-100k ``u.data``/``u.item``/
  ``u.genre``, detected from the files) -> ``bronze/interactions``, ``bronze/items`` (partition ``ingest_date``)
- etl: bronze -> ``silver/interactions`` (partition ``dt``, user ids pseudonymised) and ``silver/items``
- features: ``features/recommender/{train,val,test}`` and ``features/behaviour/{train,val,test}`` + ``id_maps.npz``
- train: NeuMF next to ALS and popularity (``smspark_recommender``); GRU engagement model next to
  LogisticRegression (``smspark_behaviour``); see :mod:`smspark.train.recommender`
- score: every user -> ``gold/user_recommendations`` (NeuMF top items re-ranked by engagement) and
  ``gold/user_segments`` (KMeans on NeuMF user embeddings), partition ``dt`` = run date
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark.etl.interactions import (
    clean_interactions,
    clean_items,
    decode_latin1,
    drop_header,
    items_from_interactions,
    parse_items,
    parse_ratings,
    pseudonymise_interactions,
)
from smspark.features.interactions import (
    SPLITS,
    IdMaps,
    behaviour_rows,
    build_id_maps,
    id_frames,
    latest_per_pair,
    leave_last_out,
    recommender_rows,
    user_states,
)
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_table, write_json, write_partitions, write_quarantine, write_table
from smspark.manifest import ReconciliationError, reconcile
from smspark.schemas import BRONZE_INTERACTIONS, BRONZE_ITEMS
from smspark.sources.movielens import ML_100K, ML_LATEST, MovieLensExport, detect_export

log = logging.getLogger(__name__)

LANDING_FOLDER = "movielens"
ID_MAPS = "id_maps.npz"


def _lines(ctx: JobContext, path: Path) -> DataFrame:
    return ctx.spark.read.text(str(path)).select("value", F.col("_metadata.file_path").alias("source_file"))


def export_of(folder: Path) -> MovieLensExport:
    """The MovieLens export in ``folder``; a missing or ambiguous one is a :class:`UserError`."""
    try:
        return detect_export(folder)
    except ValueError as exc:
        raise UserError(f"{exc} (run `smspark fetch-samples` or copy a GroupLens export there)") from exc


def _ingest_file(ctx: JobContext, lines: DataFrame, parsed: tuple[DataFrame, DataFrame], table: str) -> dict[str, Any]:
    bronze, quarantine = parsed
    n_in = lines.count()
    out = ctx.layout.bronze / table
    write_partitions(bronze, out, "ingest_date")
    n_q = write_quarantine(quarantine, ctx.layout, table, "ingest")
    n_out = ctx.spark.read.parquet(str(out)).where(F.col("ingest_date") == F.lit(ctx.run_date)).count()
    ctx.output(f"bronze/{table}", out)
    reasons = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()} if n_q else {}
    return {**reconcile(n_in, n_out, quarantined=n_q), "quarantined_by_reason": reasons}


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Landing MovieLens export -> ``bronze/interactions`` (+ ``bronze/items`` when the export has an item file).

    Reconciles ``data lines = bronze rows + quarantined`` per file (CSV header lines are not records).
    """
    export = export_of(ctx.layout.landing / LANDING_FOLDER)
    log.info("MovieLens %s export in %s", export.format, export.folder)
    lines = _lines(ctx, export.ratings)
    if export.format == ML_LATEST:
        lines = drop_header(lines, "userId")
    lines = lines.persist()
    counts = {
        "interactions": _ingest_file(ctx, lines, parse_ratings(lines, export.format, ctx.run_date), "interactions")
    }
    lines.unpersist()
    if export.items is not None:
        item_lines = _lines(ctx, export.items)
        item_lines = decode_latin1(item_lines) if export.format == ML_100K else drop_header(item_lines, "movieId")
        item_lines = item_lines.persist()
        parsed = parse_items(item_lines, export.format, ctx.run_date, export.genres)
        counts["items"] = _ingest_file(ctx, item_lines, parsed, "items")
        item_lines.unpersist()
    else:
        log.warning("%s has no item file: items get no titles or genres", export.folder)
    return {
        "inputs": {
            "landing": str(export.folder),
            "format": export.format,
            "ratings": export.ratings.name,
            "items": export.items.name if export.items else None,
            "genres": list(export.genres) if export.genres else None,
        },
        "outputs": {
            "bronze": [str(ctx.layout.bronze / t) for t in counts],
            "quarantine": [str(ctx.layout.quarantine / t) for t in counts],
        },
        "counts": {**counts["interactions"], "tables": counts},
    }


def etl(ctx: JobContext) -> dict[str, Any]:
    """``bronze/interactions`` (+ ``bronze/items``) -> ``silver/interactions`` and ``silver/items``, recomputed
    in full so de-duplication spans every ingest. Reconciles ``bronze = silver + quarantined + duplicates`` for
    both tables."""
    key = ctx.cfg.pseudonym_key()
    src = ctx.layout.bronze / "interactions"
    bronze = read_table(ctx.spark, src, BRONZE_INTERACTIONS, "run `smspark ingest` first")
    n_in = bronze.count()
    items_src = ctx.layout.bronze / "items"
    bronze_items = read_table(ctx.spark, items_src, BRONZE_ITEMS) if items_src.exists() else None
    n_items_in = bronze_items.count() if bronze_items is not None else 0
    silver_items = item_dups = None
    if n_items_in:
        silver_items, item_dups = clean_items(bronze_items)
        silver_items = silver_items.persist()
    pseudonymised = pseudonymise_interactions(bronze, key).persist()
    silver, quarantine, dups = clean_interactions(pseudonymised, silver_items)
    out = ctx.layout.silver / "interactions"
    write_table(silver.repartition(F.col("dt")), out, "dt")
    n_q = write_quarantine(quarantine, ctx.layout, "interactions", "etl")
    n_dup = dups.count()
    written = ctx.spark.read.parquet(str(out))
    n_out = written.count()
    items_out = ctx.layout.silver / "items"
    if silver_items is None:
        log.warning("no item catalogue in bronze: silver/items lists the rated items without titles or genres")
        write_table(items_from_interactions(written).coalesce(1), items_out)
        items_counts = {"derived_from_interactions": True}
    else:
        write_table(silver_items.coalesce(1), items_out)
        n_items_out = ctx.spark.read.parquet(str(items_out)).count()
        items_counts = reconcile(n_items_in, n_items_out, duplicates_dropped=item_dups.count())
        silver_items.unpersist()
    users = written.select("user_id").distinct().count()
    pseudonymised.unpersist()
    ctx.output("silver/interactions", out)
    ctx.output("silver/items", items_out)
    return {
        "inputs": {"bronze": str(src), "bronze_items": str(items_src) if n_items_in else None},
        "outputs": {"silver": str(out), "silver_items": str(items_out)},
        "counts": {
            **reconcile(n_in, n_out, n_q, n_dup),
            "users": users,
            "items": items_counts,
        },
    }


# --- features -----------------------------------------------------------------------------------------------


def split_files(ctx: JobContext) -> int:
    """Files per features split: enough row groups for every Horovod worker's Petastorm shard (2 per worker)."""
    return max(4, 2 * ctx.cfg.train.num_proc)


def _silver(ctx: JobContext) -> tuple[DataFrame, DataFrame]:
    what = "run `smspark etl` first"
    events = read_table(ctx.spark, ctx.layout.silver / "interactions", what=what)
    items = read_table(ctx.spark, ctx.layout.silver / "items", what=what)
    return events.select("user_id", "item_id", "rating", "event_time"), items


def id_maps_of(events: DataFrame, items: DataFrame) -> IdMaps:
    """The id maps of the users and items in ``events``, with the genres of ``items`` (collected to the driver)."""
    users = [r[0] for r in events.select("user_id").distinct().collect()]
    item_ids = [r[0] for r in events.select("item_id").distinct().collect()]
    genres = {r["item_id"]: r["genres"] or [] for r in items.select("item_id", "genres").collect()}
    return build_id_maps(users, item_ids, genres)


def _write_splits(ctx: JobContext, rows: DataFrame, out: Path) -> dict[str, int]:
    """Write each split in :func:`split_files` files, rows in a seeded random order within each file.

    The order matters for training: Petastorm shuffles row groups and a bounded row buffer only, and rows arrive
    grouped (positives before sampled negatives, one user's events together), so unshuffled files would feed
    long runs of one label or one user.
    """
    counts = {}
    for split in SPLITS:
        part = rows.where(F.col("split") == split).drop("split").repartition(split_files(ctx))
        write_table(part.sortWithinPartitions(F.rand(ctx.cfg.train.seed)), out / split)
        counts[split] = ctx.spark.read.parquet(str(out / split)).count()
    return counts


def features_recommender(ctx: JobContext) -> dict[str, Any]:
    """``silver/interactions`` -> ``features/recommender/{train,val,test}`` (``user_idx``, ``item_idx``, ``label``)
    with sampled negatives, ``id_maps.npz`` and ``meta.json``.

    Counts: ``events = pairs + repeated (user, item) events``; negatives are checked to be exactly
    ``num_negatives x train positives`` and ``eval_negatives`` per val/test user (else ReconciliationError).
    """
    mcfg = ctx.cfg.models.recommender
    events, items = _silver(ctx)
    events = events.persist()
    n_events = events.count()
    if n_events == 0:
        raise UserError("silver/interactions is empty: nothing to train the recommender on")
    maps = id_maps_of(events, items)
    users_df, items_df = id_frames(ctx.spark, maps)
    pairs = leave_last_out(latest_per_pair(events))
    pairs = (pairs.join(users_df, "user_id").join(items_df.select("item_id", "item_idx"), "item_id")).select(
        "user_idx", "item_idx", "split"
    )
    pairs = pairs.persist()
    n_pairs = pairs.count()
    try:
        rows = recommender_rows(pairs, maps.n_items, mcfg.num_negatives, mcfg.eval_negatives, ctx.cfg.train.seed)
        rows = rows.persist()
        out = ctx.layout.features / "recommender"
        counts = _write_splits(ctx, rows, out)
    except Exception as exc:
        if "unseen items" in str(exc):
            raise UserError(f"negative sampling impossible: {exc}; lower models.recommender.eval_negatives") from exc
        raise
    stats = {(r["split"], int(r["label"])): r["count"] for r in rows.groupBy("split", "label").count().collect()}
    users_per_split = {
        r["split"]: r["count"] for r in pairs.groupBy("split").agg(F.countDistinct("user_idx").alias("count")).collect()
    }
    positives = {s: stats.get((s, 1), 0) for s in SPLITS}
    negatives = {s: stats.get((s, 0), 0) for s in SPLITS}
    expected = {
        "train": mcfg.num_negatives * positives["train"],
        "val": mcfg.eval_negatives * users_per_split.get("val", 0),
        "test": mcfg.eval_negatives * users_per_split.get("test", 0),
    }
    if negatives != expected:
        raise ReconciliationError(f"negatives {negatives} differ from the protocol's {expected}")
    maps.save(out / ID_MAPS)
    meta = {
        "rows": counts,
        "positives": positives,
        "negatives": negatives,
        "users_per_split": users_per_split,
        "n_users": maps.n_users,
        "n_items": maps.n_items,
        "num_negatives": mcfg.num_negatives,
        "eval_negatives": mcfg.eval_negatives,
        "seed": ctx.cfg.train.seed,
        "run_date": ctx.run_date.isoformat(),
    }
    write_json(out / "meta.json", meta)
    rows.unpersist()
    pairs.unpersist()
    events.unpersist()
    ctx.output("features/recommender", out)
    return {
        "inputs": {"silver": str(ctx.layout.silver / "interactions")},
        "outputs": {"features": str(out), "id_maps": str(out / ID_MAPS)},
        "counts": {
            **reconcile(n_events, n_pairs, duplicates_dropped=n_events - n_pairs),
            "splits": counts,
            "positives": positives,
            "negatives": negatives,
            "negatives_expected": expected,
            "users": maps.n_users,
            "items": maps.n_items,
        },
    }


def features_behaviour(ctx: JobContext) -> dict[str, Any]:
    """``silver/interactions`` -> ``features/behaviour/{train,val,test}`` (one row per event with its history),
    ``id_maps.npz`` and ``meta.json``. Reconciles ``events = train + val + test rows``."""
    mcfg = ctx.cfg.models.behaviour
    events, items = _silver(ctx)
    events = events.persist()
    n_events = events.count()
    if n_events == 0:
        raise UserError("silver/interactions is empty: nothing to train the behaviour model on")
    maps = id_maps_of(events, items)
    users_df, items_df = id_frames(ctx.spark, maps)
    indexed = events.join(users_df, "user_id").join(items_df.select("item_id", "item_idx"), "item_id")
    split = leave_last_out(indexed, user_col="user_idx", item_col="item_idx")
    rows = behaviour_rows(split, items_df, mcfg.history_len, mcfg.engagement_threshold).persist()
    out = ctx.layout.features / "behaviour"
    counts = _write_splits(ctx, rows, out)
    label_rate = {
        r["split"]: round(float(r["rate"]), 4)
        for r in rows.groupBy("split").agg(F.avg("label").alias("rate")).collect()
    }
    maps.save(out / ID_MAPS)
    write_json(
        out / "meta.json",
        {
            "rows": counts,
            "engaged_rate": label_rate,
            "history_len": mcfg.history_len,
            "engagement_threshold": mcfg.engagement_threshold,
            "n_users": maps.n_users,
            "n_items": maps.n_items,
            "genres": maps.genres.tolist(),
            "run_date": ctx.run_date.isoformat(),
        },
    )
    rows.unpersist()
    events.unpersist()
    ctx.output("features/behaviour", out)
    return {
        "inputs": {"silver": str(ctx.layout.silver / "interactions")},
        "outputs": {"features": str(out), "id_maps": str(out / ID_MAPS)},
        "counts": {**reconcile(n_events, sum(counts.values())), "splits": counts, "engaged_rate": label_rate},
    }


# --- score --------------------------------------------------------------------------------------------------


def _history_len(ctx: JobContext, beh: Any) -> int:
    """The history length the behaviour champion was trained with (its own metadata, not today's config)."""
    from smspark.scoring.udfs import load_python_model

    model = load_python_model(beh.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri)
    return int(model.meta["history_len"])


def score(ctx: JobContext) -> dict[str, Any]:
    """Every user of ``silver/interactions`` -> ``gold/user_recommendations`` (exactly ``recommend_k`` unseen items
    per user known to the recommender) and ``gold/user_segments``; reconciles ``users = scored + unknown to the
    model`` and ``rows = recommend_k x scored users``."""
    from smspark.scoring.recommendations import recommend, user_segments
    from smspark.train.registry import NoChampionError, configure, get_champion

    mcfg = ctx.cfg.models.recommender
    if mcfg.candidate_pool < mcfg.recommend_k:
        raise UserError("models.recommender.candidate_pool must be >= models.recommender.recommend_k")
    client = configure(ctx.cfg)
    try:
        rec, beh = get_champion(client, "recommender"), get_champion(client, "behaviour")
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    events = read_table(ctx.spark, ctx.layout.silver / "interactions", what="run `smspark etl` first")
    events = events.select("user_id", "item_id", "rating", "event_time")
    start = time.perf_counter()
    states = user_states(events, _history_len(ctx, beh)).persist()
    result = recommend(ctx.spark, states, rec, beh, ctx.cfg, ctx.run_date)
    out = ctx.layout.gold / "user_recommendations"
    write_partitions(result.gold, out, "dt")
    seconds = time.perf_counter() - start
    states.unpersist()
    written = ctx.spark.read.parquet(str(out)).where(F.col("dt") == F.lit(ctx.run_date))
    per_user = written.groupBy("user_id").agg(F.count(F.lit(1)).alias("n"), F.countDistinct("item_id").alias("d"))
    check = per_user.agg(
        F.count(F.lit(1)).alias("users"),
        F.sum("n").alias("rows"),
        F.sum(F.when((F.col("n") != mcfg.recommend_k) | (F.col("d") != mcfg.recommend_k), 1).otherwise(0)).alias("bad"),
    ).first()
    n_scored, n_rows = int(check["users"]), int(check["rows"] or 0)
    if check["bad"]:
        raise ReconciliationError(f"{check['bad']} users do not have exactly {mcfg.recommend_k} distinct items")
    seg_start = time.perf_counter()
    segments = user_segments(ctx.spark, rec, ctx.cfg, ctx.run_date)
    seg_out = ctx.layout.gold / "user_segments"
    write_partitions(segments.gold, seg_out, "dt")
    seg_seconds = time.perf_counter() - seg_start
    ctx.output("gold/user_recommendations", out / f"dt={ctx.run_date.isoformat()}")
    ctx.output("gold/user_segments", seg_out / f"dt={ctx.run_date.isoformat()}")
    models = ctx.manifest.data["models"]
    models.setdefault("recommender", {})["scored_with"] = {"name": rec.name, "version": rec.version}
    models.setdefault("behaviour", {})["scored_with"] = {"name": beh.name, "version": beh.version}
    ctx.manifest.data["metrics"].setdefault("user_segments", {}).update(segments.summary)
    return {
        "inputs": {"silver": str(ctx.layout.silver / "interactions"), "models": [rec.uri, beh.uri]},
        "outputs": {
            "gold": str(out),
            "segments": str(seg_out),
            "dt": ctx.run_date.isoformat(),
            "segments_k": segments.summary["k"],
            "segment_sizes": segments.summary["sizes"],
        },
        "counts": {
            **reconcile(result.users_in, n_scored, quarantined=result.unknown_users),
            "unknown_users_not_scored": result.unknown_users,
            "rows": n_rows,
            "rows_expected": mcfg.recommend_k * n_scored,
            "recommend_k": mcfg.recommend_k,
            "score_seconds": round(seconds, 2),
            "users_per_second": round(n_scored / seconds, 1) if seconds else None,
            "segments_seconds": round(seg_seconds, 2),
        },
    }


#: Figures ``smspark evaluate recommender`` reports per model (``{k}`` = ``models.recommender.top_k``).
RANKING_KEYS = ("HR@{k}", "NDCG@{k}", "HR@{k}_full", "NDCG@{k}_full")
BINARY_KEYS = ("AUC", "logloss")
#: ``evaluate recommender`` output name -> the behaviour lifecycle's model name
BEHAVIOUR_NAMES = {"behaviour": "behaviour", "behaviour_logreg": "logreg"}


def evaluate(ctx: JobContext, input_dir: Path) -> dict[str, dict[str, float]]:
    """``smspark evaluate recommender``: copy the MovieLens export in ``input_dir`` to this (temporary) data root's
    landing, run ingest -> etl -> features -> train for both models, and return the test figures:
    ``neumf``/``als``/``popularity`` -> HR@K, NDCG@K, HR@K_full, NDCG@K_full; ``behaviour``/``behaviour_logreg``
    -> AUC, logloss."""
    from smspark.jobs import etl as etl_job
    from smspark.jobs import features as features_job
    from smspark.jobs import ingest as ingest_job
    from smspark.jobs import train as train_job

    export = export_of(input_dir)
    landing = ctx.layout.landing / LANDING_FOLDER
    landing.mkdir(parents=True, exist_ok=True)
    for path in (export.ratings, export.items, export.folder / "u.genre"):
        if path is not None and path.is_file():
            shutil.copyfile(path, landing / path.name)
    ingest_job.run(ctx, ["interactions"])
    etl_job.run(ctx, ["interactions"])
    features_job.run(ctx, ["recommender", "behaviour"])
    rec = train_job.run(ctx, "recommender")["metrics"]
    beh = train_job.run(ctx, "behaviour")["metrics"]
    keys = [key.format(k=ctx.cfg.models.recommender.top_k) for key in RANKING_KEYS]
    out = {name: {key: float(rec[name][key]) for key in keys} for name in ("neumf", "als", "popularity")}
    out.update({name: {key: float(beh[src][key]) for key in BINARY_KEYS} for name, src in BEHAVIOUR_NAMES.items()})
    return out


def bench(ctx: JobContext, rows: int | None, repeat: int) -> dict[str, Any]:
    """``smspark bench recommendations``: two-stage scoring of every user (or the first ``rows`` users) through
    Spark (``mapInPandas`` over cached user states, written to the ``noop`` sink) next to the same two champions
    called in one plain process on the same users, in the same run; checks both recommend the same items.

    The first Spark repetition is cold (Python workers start, import TensorFlow and load both models); later ones
    reuse the workers and their cached models. The plain side times loading the two pyfuncs and predicting
    separately. ``ratio_spark_over_plain`` = plain predict median / warm Spark median (> 1: Spark is faster);
    ``ratio_cold`` = (first plain load + predict) / first Spark repetition.
    """
    import statistics

    from smspark.scoring.recommendations import recommend, recommend_frame
    from smspark.scoring.udfs import _MODELS, load_python_model
    from smspark.train.registry import NoChampionError, configure, get_champion

    mcfg = ctx.cfg.models.recommender
    client = configure(ctx.cfg)
    try:
        rec, beh = get_champion(client, "recommender"), get_champion(client, "behaviour")
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    events = read_table(ctx.spark, ctx.layout.silver / "interactions", what="run `smspark etl` first")
    states = user_states(events, _history_len(ctx, beh))
    if rows:
        states = states.orderBy("user_id").limit(rows)
    states = states.repartition(max(2, ctx.spark.sparkContext.defaultParallelism)).persist()
    n = states.count()
    local = states.toPandas()
    tracking, registry = ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri
    spark_s, load_s, plain_s = [], [], []
    plain_out = None
    for _ in range(max(1, repeat)):
        result = recommend(ctx.spark, states, rec, beh, ctx.cfg, ctx.run_date)
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

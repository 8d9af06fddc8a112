"""Two-stage nightly recommendations and user segments.

Stage 1 (retrieval): for each user, NeuMF scores every item and the ``candidate_pool`` best items the user has not
interacted with are kept. Stage 2 (re-ranking): the behaviour model gives each candidate's engagement probability
from the user's latest events; the ``recommend_k`` most probable become ranks 1..K (ties by NeuMF score).

This runs in an iterator pandas function (``mapInPandas``) over batches of users: both registered models are loaded
once per Python worker (:func:`smspark.scoring.udfs.load_python_model`), and each batch of ``score_user_batch``
users is scored against the whole catalogue with one NeuMF call, so no users x items cross join is ever
materialised in Spark. Seen items are masked inside the function.

Users the recommender champion does not know (they arrived after it was trained) get a labelled fallback instead
(:func:`fallback_recommendations`): the ``recommend_k`` most popular items they have not rated, popularity counted
within their KMeans segment when ``gold/user_segments`` lists them (a segment of an earlier champion that knew them),
else over all users. Every row says which list it comes from in ``strategy``: ``model`` / ``segment_popularity`` /
``popularity``.

Segments: Spark MLlib KMeans on the NeuMF user embeddings (GMF and MLP user vectors side by side), ``k`` in the
configured range picked by the silhouette (``ClusteringEvaluator``, squared Euclidean).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import FloatType, IntegerType, StringType, StructField, StructType

from smspark.config import Settings
from smspark.schemas import GOLD_USER_RECOMMENDATIONS, GOLD_USER_SEGMENTS
from smspark.scoring.udfs import load_python_model
from smspark.train.registry import Champion

log = logging.getLogger(__name__)

RECOMMENDATION_STRUCT = StructType(
    [
        StructField("user_id", StringType(), False),
        StructField("rank", IntegerType(), False),
        StructField("item_id", IntegerType(), False),
        StructField("recommender_score", FloatType(), False),
        StructField("engagement_prob", FloatType(), False),
    ]
)


def rerank(items: np.ndarray, rec_scores: np.ndarray, probs: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Order each row's candidates by engagement probability (descending; ties by NeuMF score, then item id) and
    keep ``k``.

    Args:
        items, rec_scores, probs: ``[B, C]`` arrays (item ids, NeuMF scores, engagement probabilities).

    Returns:
        ``(items, rec_scores, probs)``, each ``[B, min(k, C)]``.
    """
    order = np.lexsort((items, -rec_scores, -probs), axis=1)[:, :k]
    return tuple(np.take_along_axis(a, order, axis=1) for a in (items, rec_scores, probs))


def recommend_frame(
    rec_model: Any, beh_model: Any, users: pd.DataFrame, k: int, pool: int, user_batch: int
) -> pd.DataFrame:
    """Recommendations for a pandas batch of users (columns of :func:`smspark.features.interactions.user_states`).

    Users unknown to the recommender are skipped. Returns :data:`RECOMMENDATION_STRUCT` rows, ``k`` per known user
    (fewer only when a user has fewer unseen items).
    """
    out = []
    for start in range(0, len(users), user_batch):
        chunk = users.iloc[start : start + user_batch]
        known, items, scores = rec_model.recommend(chunk["user_id"], list(chunk["seen"]), pool)
        if not known.any():
            continue
        sub = chunk[known]
        probs = beh_model.engagement(list(sub["hist_items"]), list(sub["hist_ratings"]), list(sub["hist_gaps"]), items)
        items, scores, probs = rerank(items, scores, probs, k)
        b, kk = items.shape
        out.append(
            pd.DataFrame(
                {
                    "user_id": np.repeat(sub["user_id"].to_numpy(dtype=object), kk),
                    "rank": np.tile(np.arange(1, kk + 1, dtype=np.int32), b),
                    "item_id": items.reshape(-1).astype(np.int32),
                    "recommender_score": scores.reshape(-1).astype(np.float32),
                    "engagement_prob": probs.reshape(-1).astype(np.float32),
                }
            )
        )
    if not out:
        return pd.DataFrame({f.name: pd.Series(dtype=_PANDAS[f.name]) for f in RECOMMENDATION_STRUCT.fields})
    return pd.concat(out, ignore_index=True)


_PANDAS = {
    "user_id": object,
    "rank": np.int32,
    "item_id": np.int32,
    "recommender_score": np.float32,
    "engagement_prob": np.float32,
}


#: ``strategy`` of a recommendation row: the two-stage model list, or a fallback for users unknown to the champion.
STRATEGY_MODEL = "model"
STRATEGY_SEGMENT = "segment_popularity"
STRATEGY_POPULARITY = "popularity"
STRATEGIES = (STRATEGY_MODEL, STRATEGY_SEGMENT, STRATEGY_POPULARITY)


def fallback_recommendations(users: DataFrame, events: DataFrame, segments: DataFrame | None, k: int) -> DataFrame:
    """Popularity recommendations for users without a model list.

    Popularity of an item = the number of distinct users who interacted with it in ``events``; within a segment,
    the number of that segment's members who did. A user with a segment gets the items ranked by (segment
    popularity, overall popularity, item id), so items no member rated still fill the list in overall order; a user
    without one gets (overall popularity, item id). Items the user interacted with are excluded. Users with fewer
    than ``k`` unrated items in ``events`` get fewer rows (the caller quarantines them).

    Args:
        users: ``user_id`` (string), one row per user to serve.
        events: silver interactions (``user_id``, ``item_id``): the catalogue of rated items and every user's
            history (also the fallback users' own).
        segments: ``user_id``, ``segment`` (int), ``dt`` (date) rows of ``gold/user_segments`` (any number of
            dates) or None. A user's segment is that of the latest ``dt`` listing them; its members are the users of
            the same ``(dt, segment)``.
        k: items per user.

    Returns:
        ``user_id``, ``rank`` int (1..k), ``item_id`` int, ``recommender_score`` float (popularity as the share of
        the segment's / all users who interacted with the item), ``strategy`` (``segment_popularity`` or
        ``popularity``).
    """
    from pyspark.sql import Window

    pairs = events.select("user_id", F.col("item_id").cast("int").alias("item_id")).distinct()
    n_all = pairs.select("user_id").distinct().count()
    overall = pairs.groupBy("item_id").agg(F.count(F.lit(1)).alias("_n"))
    users = users.select("user_id").distinct()
    seen = pairs.join(users, "user_id", "left_semi")
    n_seen = seen.groupBy("user_id").agg(F.count(F.lit(1)).alias("_seen"))
    users = users.join(n_seen, "user_id", "left").fillna(0, ["_seen"])
    depth = int(users.agg(F.max("_seen")).first()[0] or 0) + k  # no list needs more than seen + k candidates

    # overall popularity list: rank r over every rated item; the top `depth` items (thousands at most) are ranked on
    # the driver instead of in a window without partition, which would move every item to one task
    top = overall.orderBy(F.col("_n").desc(), F.col("item_id")).limit(depth).collect()
    ranked_all = events.sparkSession.createDataFrame(
        [(int(r["item_id"]), float(r["_n"]) / max(n_all, 1), i + 1) for i, r in enumerate(top)],
        "item_id int, _score double, _r int",
    )
    if segments is not None:
        latest = Window.partitionBy("user_id").orderBy(F.col("dt").desc())
        member = (
            segments.select("user_id", F.col("segment").cast("int").alias("segment"), "dt")
            .withColumn("_latest", F.row_number().over(latest))
            .where(F.col("_latest") == 1)
            .drop("_latest")
        )
        served = users.join(member, "user_id", "left")
        groups = served.where(F.col("segment").isNotNull()).select("dt", "segment").distinct()
        members = segments.select("user_id", F.col("segment").cast("int").alias("segment"), "dt").join(
            groups, ["dt", "segment"], "left_semi"
        )
        size = members.groupBy("dt", "segment").agg(F.countDistinct("user_id").alias("_size"))
        in_seg = members.join(pairs, "user_id").groupBy("dt", "segment", "item_id").agg(F.count(F.lit(1)).alias("_m"))
        by_seg = (
            groups.crossJoin(overall)
            .join(in_seg, ["dt", "segment", "item_id"], "left")
            .join(size, ["dt", "segment"])
            .fillna(0, ["_m"])
        )
        order = Window.partitionBy("dt", "segment").orderBy(F.col("_m").desc(), F.col("_n").desc(), F.col("item_id"))
        ranked_seg = by_seg.select(
            "dt",
            "segment",
            "item_id",
            (F.col("_m") / F.col("_size")).alias("_score"),
            F.row_number().over(order).alias("_r"),
        ).where(F.col("_r") <= depth)
        seg_users = served.where(F.col("segment").isNotNull())
        pop_users = served.where(F.col("segment").isNull()).select("user_id", "_seen")
        seg_cands = seg_users.join(ranked_seg, ["dt", "segment"]).where(F.col("_r") <= F.col("_seen") + k)
        seg_cands = seg_cands.select("user_id", "item_id", "_score", "_r", F.lit(STRATEGY_SEGMENT).alias("strategy"))
    else:
        pop_users, seg_cands = users, None
    pop_cands = (
        pop_users.crossJoin(ranked_all)
        .where(F.col("_r") <= F.col("_seen") + k)
        .select("user_id", "item_id", "_score", "_r", F.lit(STRATEGY_POPULARITY).alias("strategy"))
    )
    cands = pop_cands if seg_cands is None else pop_cands.unionByName(seg_cands)
    unseen = cands.join(seen, ["user_id", "item_id"], "left_anti")
    rank = F.row_number().over(Window.partitionBy("user_id").orderBy("_r"))
    return (
        unseen.withColumn("rank", rank)
        .where(F.col("rank") <= k)
        .select(
            "user_id",
            F.col("rank").cast("int").alias("rank"),
            F.col("item_id").cast("int").alias("item_id"),
            F.col("_score").cast("float").alias("recommender_score"),
            "strategy",
        )
    )


@dataclass
class RecommendResult:
    """``gold`` (:data:`GOLD_USER_RECOMMENDATIONS`, lazy), ``short``: users whose fallback list has fewer than
    ``recommend_k`` items (``user_id``, ``rows``; not in ``gold``), and the users read."""

    gold: DataFrame
    short: DataFrame
    users_in: int


def recommend(
    spark: SparkSession,
    states: DataFrame,
    rec: Champion,
    beh: Champion,
    cfg: Settings,
    run_date: dt.date,
    events: DataFrame,
    segments: DataFrame | None = None,
) -> RecommendResult:
    """User states -> gold recommendations for every user: the two-stage model list for users the recommender
    champion ``rec`` knows (``strategy = model``), :func:`fallback_recommendations` for the others.

    Args:
        states: one row per user, as :func:`smspark.features.interactions.user_states` gives (cache it: it is
            counted, then scored).
        rec, beh: the recommender and behaviour champions (``models:/`` URIs).
        events: the silver interactions the states were built from (popularity for the fallback).
        segments: ``gold/user_segments`` rows (``user_id``, ``segment``, ``dt``) or None.

    Fallback rows carry their popularity share as ``recommender_score`` and null ``engagement_prob``,
    ``recommender_version`` and ``behaviour_version`` (no model made them).
    """
    from pyspark.sql import Window

    mcfg = cfg.models.recommender
    tracking, registry = cfg.tracking_uri(), cfg.mlflow.registry_uri
    rec_model = load_python_model(rec.uri, tracking, registry)
    known = spark.createDataFrame(pd.DataFrame({"user_id": rec_model.maps.users.astype(object)}))
    users_in = states.count()
    scored = states.join(F.broadcast(known), "user_id", "left_semi")
    unknown = states.join(F.broadcast(known), "user_id", "left_anti").select("user_id")
    scored = scored.repartition(max(2, spark.sparkContext.defaultParallelism))
    k, pool, batch = mcfg.recommend_k, mcfg.candidate_pool, mcfg.score_user_batch
    rec_uri, beh_uri = rec.uri, beh.uri

    def _score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        rm = load_python_model(rec_uri, tracking, registry)
        bm = load_python_model(beh_uri, tracking, registry)
        for users in batches:
            yield recommend_frame(rm, bm, users, k, pool, batch)

    recs = scored.mapInPandas(_score, RECOMMENDATION_STRUCT).select(
        "user_id",
        "rank",
        "item_id",
        "recommender_score",
        "engagement_prob",
        F.lit(rec.version).alias("recommender_version"),
        F.lit(beh.version).alias("behaviour_version"),
        F.lit(STRATEGY_MODEL).alias("strategy"),
    )
    fallback = fallback_recommendations(unknown, events, segments, k)
    fallback = fallback.withColumn("_rows", F.count(F.lit(1)).over(Window.partitionBy("user_id")))
    per_user = fallback.groupBy("user_id").agg(F.count(F.lit(1)).alias("rows"))
    short = unknown.join(per_user, "user_id", "left").fillna(0, ["rows"]).where(F.col("rows") < k)
    complete = fallback.where(F.col("_rows") == k).select(
        "user_id",
        "rank",
        "item_id",
        "recommender_score",
        F.lit(None).cast("float").alias("engagement_prob"),
        F.lit(None).cast("string").alias("recommender_version"),
        F.lit(None).cast("string").alias("behaviour_version"),
        "strategy",
    )
    gold = (
        recs.unionByName(complete)
        .withColumn("scored_at", F.current_timestamp())
        .withColumn("dt", F.lit(run_date).cast("date"))
        .select(*[F.col(f.name).cast(f.dataType) for f in GOLD_USER_RECOMMENDATIONS.fields])
    )
    return RecommendResult(gold=gold, short=short, users_in=users_in)


@dataclass
class SegmentResult:
    """``gold`` (:data:`GOLD_USER_SEGMENTS`) and ``summary``: chosen ``k``, ``sizes``, ``silhouette`` per k."""

    gold: DataFrame
    summary: dict[str, Any]


def user_segments(spark: SparkSession, rec: Champion, cfg: Settings, run_date: dt.date) -> SegmentResult:
    """KMeans segments of the recommender champion's users (see the module docstring).

    Raises:
        ValueError: ``segment_k_max < segment_k_min`` or fewer users than ``segment_k_min + 1``.
    """
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.functions import array_to_vector

    mcfg = cfg.models.recommender
    model = load_python_model(rec.uri, cfg.tracking_uri(), cfg.mlflow.registry_uri)
    emb = model.user_embeddings()
    users = model.maps.users
    k_hi = min(mcfg.segment_k_max, len(users) - 1)
    if k_hi < mcfg.segment_k_min:
        raise ValueError(
            f"segment k range {mcfg.segment_k_min}..{mcfg.segment_k_max} impossible with {len(users)} users"
        )
    pdf = pd.DataFrame({"user_id": users.astype(object), "emb": [row.astype(np.float64).tolist() for row in emb]})
    df = spark.createDataFrame(pdf).select("user_id", array_to_vector("emb").alias("features")).persist()
    evaluator = ClusteringEvaluator(featuresCol="features", predictionCol="segment", metricName="silhouette")
    scores: dict[int, float] = {}
    best: tuple[float, int, DataFrame] | None = None
    for k in range(mcfg.segment_k_min, k_hi + 1):
        km = KMeans(k=k, seed=cfg.train.seed, featuresCol="features", predictionCol="segment").fit(df)
        pred = km.transform(df).select("user_id", "features", "segment").persist()
        s = float(evaluator.evaluate(pred))
        scores[k] = round(s, 4)
        log.info("KMeans k=%d: silhouette %.4f", k, s)
        if best is None or s > best[0]:
            if best is not None:
                best[2].unpersist()
            best = (s, k, pred)
        else:
            pred.unpersist()
    assert best is not None
    silhouette, k, pred = best
    sizes = {str(r["segment"]): r["count"] for r in pred.groupBy("segment").count().orderBy("segment").collect()}
    gold = pred.select(
        "user_id",
        F.col("segment").cast("int").alias("segment"),
        F.lit(k).alias("k"),
        F.lit(silhouette).alias("silhouette"),
        F.lit(rec.version).alias("model_version"),
        F.lit(run_date).cast("date").alias("dt"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in GOLD_USER_SEGMENTS.fields])
    summary = {
        "k": k,
        "silhouette": round(silhouette, 4),
        "silhouette_by_k": scores,
        "sizes": sizes,
        "users": len(users),
    }
    return SegmentResult(gold=gold, summary=summary)

"""Account risk: the features and score steps (training: :mod:`smspark.train.account_risk`).

- features: ``silver/posts`` (+ ``gold/post_spam`` when it exists) -> one row per account
  (:func:`smspark.features.accounts.account_risk_rows`; an account is an author, or an author-month with
  ``models.account_risk.window = month``) -> ``features/accounts/{train,val,test}`` (:data:`ACCOUNT_FEATURES`: raw
  columns and ``x``, the model input standardised with statistics fitted on the training split only) + ``meta.json``
  (statistics, rows per split, where the spam share came from).
- score: the same rows recomputed from today's silver posts and ``gold/post_spam`` (the spam scorer runs before this
  one in the nightly, so the spam share is today's) -> ``gold/account_risk`` (partition ``dt`` = run date) with the
  ``smspark_account_risk`` champion: every account gets one row, ranked by the autoencoder's score.

Counts: ``authors in = authors with a row + authors dropped`` (every post of a dropped author lacks ``created_at``),
and ``accounts computed = rows written``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from smspark import storage
from smspark.features.accounts import RISK_COLUMNS, account_risk_rows, encode_risk, fit_risk_stats
from smspark.features.text import SPLITS
from smspark.jobs.common import JobContext
from smspark.jobs.io import read_parquet, read_table, write_json
from smspark.jobs.steps import champion, merge_record, write_scores
from smspark.jobs.steps.interactions import write_splits
from smspark.manifest import reconcile
from smspark.schemas import ACCOUNT_FEATURES, GOLD_ACCOUNT_RISK

log = logging.getLogger(__name__)

FEATURES = "accounts"
TABLE = "account_risk"
#: What ``meta.json`` / the manifest say when the spam share could not be computed.
NO_SPAM = "no gold/post_spam under the data root (spam scorer not run): spam_share is null and imputed"


def post_spam_input(ctx: JobContext) -> tuple[DataFrame | None, dict[str, Any]]:
    """``gold/post_spam`` rows of the run date (else of its newest date) as ``(post_id, is_spam)``, with a record
    of what was used (``uri``, ``dt``, or ``reason`` when there is none)."""
    uri = storage.join(ctx.layout.gold, "post_spam")
    if not storage.exists(uri):
        return None, {"uri": None, "reason": NO_SPAM}
    spam = read_parquet(ctx.spark, uri)
    dates = {r["dt"] for r in spam.select("dt").distinct().collect()}
    if not dates:
        return None, {"uri": uri, "reason": "gold/post_spam is empty: spam_share is null and imputed"}
    day = ctx.run_date if ctx.run_date in dates else max(dates)
    record = {"uri": uri, "dt": day.isoformat()}
    if day != ctx.run_date:
        record["note"] = f"no spam scores for {ctx.run_date.isoformat()}: the newest ones ({day.isoformat()}) are used"
    return spam.where(F.col("dt") == F.lit(day)).select("post_id", "is_spam"), record


def posts_input(ctx: JobContext) -> tuple[str, DataFrame]:
    """``silver/posts`` (its URI and the columns the account rows read).

    Raises:
        UserError: no ``silver/posts``.
    """
    silver = storage.join(ctx.layout.silver, "posts")
    posts = read_table(ctx.spark, silver, what="run `smspark etl` first")
    return silver, posts.select("post_id", "author_id", "created_at", "text", "client")


def account_rows(
    ctx: JobContext, window: str, inputs: tuple[DataFrame, DataFrame | None, dict[str, Any]] | None = None
) -> tuple[DataFrame, dict[str, Any], dict[str, Any]]:
    """The accounts of ``silver/posts`` (persisted; none when no post has an author and a timestamp), the inputs
    record and the author counts (reconciled). ``inputs``: ``(posts, spam, spam record)`` already read
    (:func:`posts_input`, :func:`post_spam_input`).

    Raises:
        UserError: no ``silver/posts``.
    """
    mcfg = ctx.cfg.models.account_risk
    silver = storage.join(ctx.layout.silver, "posts")
    posts, spam, spam_record = inputs if inputs is not None else (posts_input(ctx)[1], *post_spam_input(ctx))
    src = posts.agg(
        F.count(F.lit(1)).alias("posts"),
        F.count("author_id").alias("authored"),
        F.countDistinct("author_id").alias("authors"),
    ).first()
    rows = account_risk_rows(posts, spam, window, mcfg.near_duplicate_distance, ctx.cfg.train.seed).persist()
    out = rows.agg(
        F.count(F.lit(1)).alias("accounts"),
        F.countDistinct("author_id").alias("authors"),
        F.count(F.when(F.col("spam_share").isNull(), 1)).alias("spam_share_null"),
        F.count(F.when(F.col("interval_mean_s").isNull(), 1)).alias("interval_null"),
    ).first()
    dropped = src["authors"] - out["authors"]
    counts = {
        "authors": {**reconcile(src["authors"], out["authors"] + dropped), "authors_without_timestamp": dropped},
        "posts_without_author": src["posts"] - src["authored"],
        "accounts": out["accounts"],
        "spam_share_null": out["spam_share_null"],
        "interval_null": out["interval_null"],
    }
    return rows, {"silver": silver, "post_spam": spam_record, "window": window}, counts


def features(ctx: JobContext) -> dict[str, Any]:
    """``silver/posts`` -> ``features/accounts/{train,val,test}`` + ``meta.json``.

    Accounts are split by ``xxhash64(seed, account_key) mod 10000 / 10000``: below ``train_share`` train, the rest
    halved into val and test. Imputation and standardisation statistics come from the training split only
    (:func:`smspark.features.accounts.fit_risk_stats`).

    A corpus with fewer accounts in a split than Horovod workers (e.g. one without authors) gets no features: the
    step logs why and records it as ``skipped`` (a nightly goes on; training then reports no input).

    Raises:
        UserError: no silver posts.
    """
    mcfg = ctx.cfg.models.account_risk
    rows, inputs, counts = account_rows(ctx, mcfg.window)
    u = F.pmod(F.xxhash64(F.lit(ctx.cfg.train.seed), F.col("account_key")), F.lit(10_000)) / 10_000.0
    val_end = mcfg.train_share + (1.0 - mcfg.train_share) / 2
    rows = rows.withColumn("split", F.when(u < mcfg.train_share, "train").when(u < val_end, "val").otherwise("test"))
    by_split = {r["split"]: r["count"] for r in rows.groupBy("split").count().collect()}
    workers = ctx.cfg.train.num_proc
    short = {s: by_split.get(s, 0) for s in SPLITS if by_split.get(s, 0) < workers}
    if short:
        rows.unpersist()
        reason = (
            f"too few accounts for {workers} Horovod workers: {counts['accounts']} accounts, by split {by_split} "
            f"(window={mcfg.window}); no features written (models.account_risk.window=month suits a corpus of few "
            "authors)"
        )
        log.warning("features.accounts: %s", reason)
        return {"inputs": inputs, "outputs": {}, "counts": counts, "skipped": reason}
    stats = fit_risk_stats(rows.where(F.col("split") == "train").select(*RISK_COLUMNS).toPandas(), mcfg.std_floor)
    columns = [f.name for f in ACCOUNT_FEATURES.fields]
    encoded = rows.select(*columns[:-1], "split").mapInPandas(
        _encoder(stats),
        StructType([*ACCOUNT_FEATURES.fields[:-1], ACCOUNT_FEATURES["x"], StructField("split", StringType())]),
    )
    out = storage.join(ctx.layout.features, FEATURES)
    written = write_splits(ctx, encoded, out)
    rows.unpersist()
    meta = {
        "window": mcfg.window,
        "columns": list(RISK_COLUMNS),
        "stats": stats,
        "rows": written,
        "spam_share": inputs["post_spam"],
        "split_key": f"xxhash64 of (train.seed, account_key) (seed {ctx.cfg.train.seed}), "
        f"{mcfg.train_share:.0%} train, the rest halved into val and test",
        "imputation": "after log1p of n_posts and interval_mean_s, a null takes the training median (0 when the "
        "training column is all null), then (value - training mean) / max(training std, std_floor); interval_* are "
        "null only for one-post accounts (n_posts says so), spam_share when no post of the account is scored",
        "run_date": ctx.run_date.isoformat(),
    }
    write_json(storage.join(out, "meta.json"), meta)
    ctx.output(f"features/{FEATURES}", out)
    return {
        "inputs": inputs,
        "outputs": {"features": out},
        "counts": {**counts, "rows": reconcile(counts["accounts"], sum(written.values())), "splits": written},
    }


def _encoder(stats: dict[str, Any]):
    """``mapInPandas`` function adding ``x`` (:func:`encode_risk` with ``stats``) to account rows."""

    def encode(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for part in parts:
            x = encode_risk(part, stats)
            yield part.assign(x=list(x))

    return encode


def score(ctx: JobContext) -> dict[str, Any]:
    """Every account of ``silver/posts`` -> ``gold/account_risk`` (partition ``dt`` = run date) with the
    ``smspark_account_risk`` champion; ``risk_rank`` 1 is the highest autoencoder score of the date.

    Raises:
        UserError: no champion, or no silver posts.
    """
    import time

    from smspark.jobs import reuse
    from smspark.scoring.udfs import load_python_model

    champ = champion(ctx, TABLE)
    tracking, registry = ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri
    start = time.perf_counter()
    silver, posts = posts_input(ctx)
    spam, spam_record = post_spam_input(ctx)
    states = {"silver/posts": reuse.input_state(silver, posts, posts.columns), "gold/post_spam": reuse.ABSENT}
    if spam is not None:
        part = f"dt={spam_record['dt']}"
        states["gold/post_spam"] = reuse.input_state(spam_record["uri"], spam, ["post_id", "is_spam"], part)
    mcfg = ctx.cfg.models.account_risk
    config = {"near_duplicate_distance": mcfg.near_duplicate_distance, "seed": ctx.cfg.train.seed}
    uri = storage.join(ctx.layout.gold, TABLE)
    decision = reuse.decide(ctx, [uri], [champ], states, config)
    if decision.source:
        counts, inputs = decision.extra["counts"], {**decision.extra["inputs"], "post_spam": spam_record}
        gold, rows = reuse.copy_rows(ctx, uri, decision.source), None
    else:
        model = load_python_model(champ.uri, tracking, registry)
        rows, inputs, counts = account_rows(ctx, str(model.meta["window"]), (posts, spam, spam_record))
        if counts["accounts"] == 0:
            rows.unpersist()
            skipped = "no post with an author and a timestamp"
            return {"inputs": inputs, "outputs": {}, "counts": counts, "skipped": skipped}
        gold = score_accounts(rows, champ.uri, tracking, registry, champ.name, champ.version, ctx.run_date)
    extra = {"counts": counts, "inputs": inputs}
    out, n_out, committed = write_scores(ctx, gold, TABLE, TABLE, champ, decision, extra)
    seconds = committed - start
    if rows is not None:
        rows.unpersist()
    record = {
        "inputs": {**inputs, "model": champ.uri},
        "outputs": {"gold": out, "dt": ctx.run_date.isoformat()},
        "counts": {**counts, "rows": reconcile(counts["accounts"], n_out), "score_seconds": round(seconds, 2)},
    }
    return merge_record(record, decision)


def score_accounts(
    rows: DataFrame,
    model_uri: str,
    tracking_uri: str,
    registry_uri: str | None,
    model_name: str,
    model_version: str,
    run_date: dt.date,
) -> DataFrame:
    """Account rows (:func:`account_risk_rows`) -> :data:`GOLD_ACCOUNT_RISK` rows: the pyfunc at ``model_uri``
    (:class:`smspark.models.account_risk.AccountRiskPyfunc`, loaded once per Python worker) in ``mapInPandas``,
    then ``risk_rank`` by descending ``ae_score`` (ties by account key) over all rows."""
    from smspark.scoring.udfs import load_python_model

    scored_schema = StructType(
        [
            *rows.schema.fields,
            StructField("ae_score", DoubleType()),
            StructField("kmeans_score", DoubleType()),
            GOLD_ACCOUNT_RISK["top_features"],
        ]
    )

    def apply(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = load_python_model(model_uri, tracking_uri, registry_uri)
        for part in parts:
            pred = model.predict(None, part)
            yield part.assign(
                ae_score=pred["ae_score"].to_numpy(),
                kmeans_score=pred["kmeans_score"].to_numpy(),
                top_features=pred["top_features"].to_numpy(),
            )

    scored = rows.mapInPandas(apply, scored_schema)
    rank = F.row_number().over(Window.orderBy(F.desc("ae_score"), F.asc("account_key")))
    meta = {
        "risk_rank": rank,
        "model_name": F.lit(model_name),
        "model_version": F.lit(str(model_version)),
        "scored_at": F.current_timestamp(),
        "dt": F.lit(run_date),
    }
    return scored.select(
        *[(meta.get(f.name, F.col(f.name))).cast(f.dataType).alias(f.name) for f in GOLD_ACCOUNT_RISK.fields]
    )

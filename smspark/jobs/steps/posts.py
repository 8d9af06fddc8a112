"""Posts and the sentiment model: the ingest, etl, features and score steps.

- ingest: ``landing/posts/<corpus>/*.jsonl`` -> ``bronze/posts`` (partition ``ingest_date``)
- etl: ``bronze/posts`` -> ``silver/posts`` (partition ``month``, column ``dt``, key ``post_id``): new bronze
  partitions merged into the months they touch, or a full rebuild (``--full``)
- features: labelled silver posts -> ``features/sentiment/{train,val,test}`` + ``vocab.json`` (+ ``embeddings.npy``,
  Word2Vec vectors of the vocabulary learnt on every silver post)
- (training: the Kim CNN next to TF-IDF + LogisticRegression, :mod:`smspark.train.sentiment`, through the lifecycle)
- score: every silver post -> ``gold/post_sentiment`` (partition ``dt`` = run date)
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import numpy as np
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.etl.posts import dedupe_posts, merge_posts, normalise_posts, parse_posts, touched_silver
from smspark.features.text import (
    EMBEDDINGS_FILE,
    SPLITS,
    sentiment_features,
    sentiment_vocabulary,
    tokens_col,
    word2vec_embeddings,
)
from smspark.jobs import merge_state
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import (
    read_parquet,
    read_table,
    write_json,
    write_partitions,
    write_quarantine,
    write_table,
)
from smspark.jobs.merge_state import MERGED, bronze_partitions
from smspark.jobs.steps import ingest_json_lines
from smspark.manifest import reconcile
from smspark.schemas import BRONZE_POSTS, SENTIMENT_CLASSES


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Landing JSON lines of posts -> ``bronze/posts``; reconciles ``lines = bronze rows + quarantined``."""
    max_chars = ctx.cfg.ingest.max_post_chars
    return ingest_json_lines(ctx, "posts", lambda lines, day: parse_posts(lines, day, max_chars))


#: New posts up to which an incremental merge broadcasts their keys to the scan of silver (a day: hundreds).
BROADCAST_ROWS = 200_000


def full_rebuild_reason(full: bool, silver: tables.Commit | None, bronze: dict[str, str]) -> str | None:
    """Why etl must rebuild ``silver/posts`` from all of bronze, or None when merging the new partitions is exact
    (:func:`smspark.jobs.merge_state.full_rebuild_reason`)."""
    return merge_state.full_rebuild_reason(full, silver, bronze, "silver/posts", ["month"])


def etl(ctx: JobContext) -> dict[str, Any]:
    """``bronze/posts`` -> ``silver/posts`` (partitioned by ``month``): the bronze partitions not merged yet are
    merged by key into the months they touch (:func:`smspark.etl.posts.merge_posts`, one atomic commit that also
    records the merged partitions); a full rebuild from all of bronze when asked (``--full``), on the first run, or
    when a merge could differ from it (a merged partition re-ingested, an older date, a re-delivered post whose text
    or time changed). A new date that delivers the latest merged date's rows again, and a merge that only meets posts
    silver holds as they are, change no data (a commit of the merge state). Both reconcile ``bronze rows read =
    silver rows added + quarantined + duplicates dropped``."""
    src = storage.join(ctx.layout.bronze, "posts")
    out = storage.join(ctx.layout.silver, "posts")
    read_table(ctx.spark, src, BRONZE_POSTS, "run `smspark ingest` first")  # a missing bronze is a UserError
    bronze_parts = bronze_partitions(src)
    silver = tables.current(out)
    reason = full_rebuild_reason(ctx.cfg.etl.full, silver, bronze_parts)
    if reason is None:
        record = _etl_merge(ctx, src, out, silver, bronze_parts)
        if "full_reason" not in record:
            return record
        reason = record["full_reason"]
    return _etl_full(ctx, src, out, bronze_parts, reason)


def _etl_full(ctx: JobContext, src: str, out: str, bronze_parts: dict[str, str], reason: str) -> dict[str, Any]:
    """Rebuild ``silver/posts`` from every bronze partition (de-duplication spans every ingest)."""
    key = ctx.cfg.pseudonym_key()
    bronze = read_table(ctx.spark, src, BRONZE_POSTS)
    normalised = normalise_posts(bronze, key).persist()  # the UDFs run once for the three outputs below
    n_in = normalised.count()
    silver, quarantine, dups = dedupe_posts(normalised)
    meta = {MERGED: bronze_parts}
    write_table(silver.repartition("month"), out, "month", meta=meta, max_records_per_file=ctx.cfg.etl.rows_per_file)
    n_q = write_quarantine(quarantine, ctx.layout, "posts", "etl")
    dup_counts = {r["reason"]: r["count"] for r in dups.groupBy("reason").count().collect()}
    n_out = read_parquet(ctx.spark, out).count()
    normalised.unpersist()
    ctx.output("silver/posts", out)
    return {
        "inputs": {"bronze": src, "ingest_dates": sorted(bronze_parts)},
        "outputs": {"silver": out, "months_written": len(tables.current(out).partitions)},
        "mode": "full",
        "full_reason": reason,
        "counts": {**reconcile(n_in, n_out, n_q, sum(dup_counts.values())), "duplicates_by_reason": dup_counts},
    }


def _etl_merge(
    ctx: JobContext, src: str, out: str, before: tables.Commit, bronze_parts: dict[str, str]
) -> dict[str, Any]:
    """Merge the bronze partitions not merged yet into ``silver/posts``, rewriting only the months they touch.
    Returns the stage record, or ``{"full_reason": ...}`` when the merge would not equal a full rebuild."""
    new, state = merge_state.new_partitions(before, bronze_parts)
    record: dict[str, Any] = {"inputs": {"bronze": src, "ingest_dates": new}, "outputs": {"silver": out}}
    ctx.output("silver/posts", out)
    if not new:
        return {**record, "mode": "incremental", "counts": {**reconcile(0, 0), "duplicates_by_reason": {}}}
    merged = sorted(before.meta[MERGED])
    n_redelivered = merge_state.redelivered(ctx, src, BRONZE_POSTS, merged, new)
    if n_redelivered is not None:  # the same rows as the latest merged date: silver keeps its data
        counts = merge_state.commit_redelivery(ctx, "posts", out, new[0], merged[-1], n_redelivered, {MERGED: state})
        record["outputs"]["months_written"] = 0
        return {**record, "mode": "incremental", "redelivery_of": merged[-1], "counts": counts}
    days = [dt.date.fromisoformat(d) for d in new]
    bronze = read_table(ctx.spark, src, BRONZE_POSTS).where(F.col("ingest_date").isin(*days))
    normalised = normalise_posts(bronze, ctx.cfg.pseudonym_key()).persist()
    n_in = normalised.count()
    silver = tables.read(ctx.spark, out)
    # one scan of silver's key columns, without a shuffle of silver for a batch the size of a few days
    touched = touched_silver(silver, normalised, broadcast=n_in <= BROADCAST_ROWS).persist()
    merge = merge_posts(touched, normalised, persist=True)  # the outputs below share one evaluation of the plan
    if merge.changed.limit(1).count():
        for df in (*merge.cached, touched, normalised):
            df.unpersist()
        return {"full_reason": "re-delivered posts changed their text or time"}
    added = merge.added.persist()
    removed = merge.removed.persist()
    months = sorted({r["month"] for r in added.select("month").union(removed.select("month")).distinct().collect()})
    in_months = F.col("month").isin(*[F.lit(m) for m in months])
    rewrite = silver.where(in_months).join(removed.select("post_id"), "post_id", "left_anti").unionByName(added)
    if months:
        write_partitions(
            rewrite.repartition("month"),
            out,
            "month",
            replace=[{"month": m} for m in months],
            meta={MERGED: state},
            max_records_per_file=ctx.cfg.etl.rows_per_file,
        )
    else:  # only posts silver holds as they are: the data directories stay, the commit records the merged dates
        tables.commit_meta(out, {MERGED: state})
    n_q = _etl_quarantine(ctx, merge.quarantine, days)
    dups = merge.duplicates.unionByName(removed.select("post_id", "reason"))
    dup_counts = {r["reason"]: r["count"] for r in dups.groupBy("reason").count().collect()}
    n_added = added.count() - removed.count()  # silver rows after - before: the months rewritten lost and gained these
    for df in (added, removed, *merge.cached, touched, normalised):
        df.unpersist()
    record["outputs"]["months_written"] = len(months)
    return {
        **record,
        "mode": "incremental",
        "counts": {**reconcile(n_in, n_added, n_q, sum(dup_counts.values())), "duplicates_by_reason": dup_counts},
    }


def _etl_quarantine(ctx: JobContext, quarantine: Any, days: list[dt.date]) -> int:
    """The merged days' rejects -> ``stage=etl/ingest_date=<day>`` (:func:`merge_state.etl_quarantine`)."""
    return merge_state.etl_quarantine(ctx, "posts", quarantine, days)


def features(ctx: JobContext) -> dict[str, Any]:
    """Labelled ``silver/posts`` -> ``features/sentiment``; the vocabulary comes from the training split only."""
    mcfg = ctx.cfg.models.sentiment
    silver = storage.join(ctx.layout.silver, "posts")
    posts = read_table(ctx.spark, silver, what="run `smspark etl` first")
    posts = posts.select("post_id", "text", "label").persist()
    n_posts = posts.count()
    labelled = posts.where(F.col("label").isNotNull())
    n_in = labelled.count()
    if n_in == 0:
        raise UserError("no labelled posts in silver/posts: the sentiment model needs a labelled corpus")
    vocab = sentiment_vocabulary(labelled, mcfg.vocab_size)
    feats = sentiment_features(labelled, vocab, mcfg.seq_len).persist()
    out = storage.join(ctx.layout.features, "sentiment")
    counts: dict[str, int] = {}
    for split in SPLITS:
        part = feats.where(F.col("split") == split).drop("split")
        write_table(part.repartition(split_files(ctx)), storage.join(out, split))
        counts[split] = read_parquet(ctx.spark, storage.join(out, split)).count()
    class_counts = {SENTIMENT_CLASSES[r["label"]]: r["count"] for r in feats.groupBy("label").count().collect()}
    vectors = None
    if mcfg.word_vectors:  # Kim's CNN-non-static: word vectors learnt on every silver post, labelled or not
        vectors = word2vec_embeddings(
            posts.select(tokens_col(F.col("text")).alias("tokens")),
            vocab,
            mcfg.embed_dim,
            ctx.cfg.train.seed,
            min_count=mcfg.word2vec_min_count,
            window=mcfg.word2vec_window,
            max_iter=mcfg.word2vec_max_iter,
        )
        buf = io.BytesIO()
        np.save(buf, vectors)
        storage.write_bytes(storage.join(out, EMBEDDINGS_FILE), buf.getvalue())
    elif storage.exists(storage.join(out, EMBEDDINGS_FILE)):
        storage.remove(storage.join(out, EMBEDDINGS_FILE))
    write_json(
        storage.join(out, "vocab.json"), {"vocab": vocab, "seq_len": mcfg.seq_len, "classes": list(SENTIMENT_CLASSES)}
    )
    write_json(
        storage.join(out, "meta.json"),
        {
            "rows": counts,
            "class_counts": class_counts,
            "vocab_size": len(vocab),
            "seq_len": mcfg.seq_len,
            "word_vectors": EMBEDDINGS_FILE if vectors is not None else None,
            "split_key": "the token sequence the model reads",
            "run_date": ctx.run_date.isoformat(),
        },
    )
    feats.unpersist()
    posts.unpersist()
    ctx.output("features/sentiment", out)
    return {
        "inputs": {"silver": silver, "unlabelled_posts_not_used": n_posts - n_in},
        "outputs": {"features": out, "vocab_size": len(vocab)},
        "counts": {**reconcile(n_in, sum(counts.values())), "splits": counts, "classes": class_counts},
    }


def split_files(ctx: JobContext) -> int:
    """Files per features split: enough row groups for every Horovod worker's Petastorm shard (2 per worker)."""
    return max(4, 2 * ctx.cfg.train.num_proc)


def score(ctx: JobContext) -> dict[str, Any]:
    """Every ``silver/posts`` row -> ``gold/post_sentiment`` with the champion (or a copy of the latest earlier date
    when neither the champion nor the posts changed: :func:`smspark.jobs.steps.score_posts_step`); reconciles
    ``posts = scored`` and records the rows per label."""
    from smspark.jobs.steps import score_counts, score_posts_step
    from smspark.scoring.sentiment import score_posts

    result = score_posts_step(ctx, "sentiment", "post_sentiment", score_posts)
    result["outputs"]["labels"] = score_counts(ctx, result, "label")
    return result

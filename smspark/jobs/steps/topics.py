"""Posts and the topic model: the features and score steps.

- features: silver posts -> terms (stop words and ``<url>``/``<user>`` out) -> pooled documents ->
  ``features/topics/{train,val,test}`` (80/10/10 by hashing ``doc_id``) + ``meta.json``
- train: :class:`smspark.train.topics.TopicsAdapter` through the lifecycle -> MLflow ``smspark_topics``
- score: every silver post -> ``gold/post_topics`` and the champion's topics -> ``gold/topics`` (partition ``dt`` =
  run date)
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.features.text import SPLITS, split_col
from smspark.features.topics import pool_documents, post_terms
from smspark.jobs.common import JobContext
from smspark.jobs.io import read_parquet, read_table, write_json, write_partitions, write_table
from smspark.jobs.steps.posts import split_files
from smspark.manifest import reconcile
from smspark.schemas import GOLD_POST_TOPICS, GOLD_TOPICS, TOPICS_FEATURES


def features(ctx: JobContext) -> dict[str, Any]:
    """``silver/posts`` -> ``features/topics``; reconciles ``documents = train + val + test``.

    The posts' own count is recorded with how many kept no term (they are in no document) and per pool kind.
    """
    m = ctx.cfg.models.topics
    silver = storage.join(ctx.layout.silver, "posts")
    posts = read_table(ctx.spark, silver, what="run `smspark etl` first")
    terms = post_terms(posts, m.extra_stop_words, m.min_term_len).persist()
    n_posts = terms.count()
    n_empty = terms.where(F.size("terms") == 0).count()
    docs = (
        pool_documents(terms, m.pooling, m.author_day_min_authors)
        .withColumn("split", split_col(F.col("doc_id")))
        .persist()
    )
    n_docs = docs.count()
    out = storage.join(ctx.layout.features, "topics")
    counts: dict[str, int] = {}
    for split in SPLITS:
        part = docs.where(F.col("split") == split).select(*[f.name for f in TOPICS_FEATURES.fields])
        write_table(part.repartition(split_files(ctx)), storage.join(out, split))
        counts[split] = read_parquet(ctx.spark, storage.join(out, split)).count()
    pools = {r["pool"]: {"documents": r["docs"], "posts": r["posts"]} for r in _pool_counts(docs)}
    write_json(
        storage.join(out, "meta.json"),
        {"rows": counts, "pools": pools, "pooling": m.pooling, "posts": n_posts, "posts_without_terms": n_empty},
    )
    docs.unpersist()
    terms.unpersist()
    ctx.output("features/topics", out)
    return {
        "inputs": {"silver": silver, "posts": n_posts, "posts_without_terms": n_empty},
        "outputs": {"features": out, "pools": pools},
        "counts": {**reconcile(n_docs, sum(counts.values())), "splits": counts},
    }


def _pool_counts(docs: Any) -> list[Any]:
    return docs.groupBy("pool").agg(F.count("*").alias("docs"), F.sum("posts").alias("posts")).collect()


def score(ctx: JobContext) -> dict[str, Any]:
    """Every ``silver/posts`` row -> ``gold/post_topics``, the champion's topics -> ``gold/topics``; reconciles
    ``posts = scored``. When the champion and the scored columns of ``silver/posts`` (``post_id``, ``corpus``,
    ``text``) are those of the latest earlier date, that date's rows of both tables are copied instead
    (:mod:`smspark.jobs.reuse`; ``counts.reused_from``)."""
    from smspark.features.topics import terms_col
    from smspark.jobs import reuse
    from smspark.jobs.steps import champion, merge_record
    from smspark.models.topics import TERMS
    from smspark.scoring.udfs import load_python_model

    champ = champion(ctx, "topics")
    silver = storage.join(ctx.layout.silver, "posts")
    posts = read_table(ctx.spark, silver, what="run `smspark etl` first").select("post_id", "corpus", "text")
    out = storage.join(ctx.layout.gold, "post_topics")
    topics_out = storage.join(ctx.layout.gold, "topics")
    state = reuse.input_state(silver, posts, ["post_id", "corpus", "text"])
    n_in = state["rows"]
    decision = reuse.decide(ctx, [out, topics_out], [champ], {"silver/posts": state}, {})
    if decision.source:
        gold = reuse.copy_rows(ctx, out, decision.source)
    else:
        model = load_python_model(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri)
        stage = storage.join(ctx.manifest.dir, "score", "topics_pipelines")
        posts = posts.withColumn(TERMS, terms_col(F.col("text"), int(model.meta.get("min_term_len", 2))))
        scored = model.transform(ctx.spark, posts, stage)
        gold = scored.select(
            "post_id",
            "topic_distribution",
            "dominant_topic",
            "dominant_prob",
            F.lit(champ.name).alias("model_name"),
            F.lit(champ.version).alias("model_version"),
            F.current_timestamp().alias("scored_at"),
            F.lit(ctx.run_date).cast("date").alias("dt"),
        ).select(*[F.col(f.name).cast(f.dataType) for f in GOLD_POST_TOPICS.fields])
    write_partitions(gold, out, "dt", meta=reuse.table_meta(ctx, out, decision))
    written = read_parquet(ctx.spark, out).where(F.col("dt") == F.lit(ctx.run_date))
    n_out = written.count()
    per_topic = {r["dominant_topic"]: r["count"] for r in written.groupBy("dominant_topic").count().collect()}
    no_topic = per_topic.pop(None, 0)
    if decision.source:
        topics = reuse.copy_rows(ctx, topics_out, decision.source)
    else:
        rows = [
            (
                t["topic_id"],
                t.get("corpus", "all"),
                t["label"],
                t["terms"],
                [float(w) for w in t["weights"]],
                t.get("coherence"),
                int(per_topic.get(t["topic_id"], 0)),
                float(per_topic.get(t["topic_id"], 0) / max(n_out, 1)),
                champ.name,
                champ.version,
                ctx.run_date,
            )
            for t in model.meta["topics"]
        ]
        topics = ctx.spark.createDataFrame(rows, GOLD_TOPICS)
    write_partitions(topics.coalesce(1), topics_out, "dt", meta=reuse.table_meta(ctx, topics_out, decision))
    k = read_parquet(ctx.spark, topics_out).where(F.col("dt") == F.lit(ctx.run_date)).count()
    ctx.output("gold/post_topics", storage.join(out, f"dt={ctx.run_date.isoformat()}"))
    ctx.output("gold/topics", storage.join(topics_out, f"dt={ctx.run_date.isoformat()}"))
    ctx.manifest.data["models"].setdefault("topics", {})["scored_with"] = {"name": champ.name, "version": champ.version}
    record = {
        "inputs": {"silver": silver, "model": champ.uri},
        "outputs": {"gold": out, "topics": topics_out, "dt": ctx.run_date.isoformat()},
        "counts": {**reconcile(n_in, n_out), "scored": n_out, "without_topic": no_topic, "k": k},
    }
    return merge_record(record, decision)

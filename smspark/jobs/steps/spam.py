"""The spam model: the features and score steps (ingest and etl of mail: :mod:`smspark.jobs.steps.messages`).

- features: labelled ``silver/messages`` -> ``features/spam/{train,val,test}`` (``message_id``, ``source``,
  ``token_ids`` int32 ``[seq_len]``, ``label`` 0 ham / 1 spam) + ``vocab.json`` + ``meta.json``
  (:mod:`smspark.features.spam`)
- (training: the Kim CNN next to TF-IDF + LogisticRegression, :mod:`smspark.train.spam`, through the lifecycle)
- score: every ``silver/posts`` row -> ``gold/post_spam`` (partition ``dt`` = run date) with the ``smspark_spam``
  champion
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.features.spam import spam_features, spam_rows, spam_vocabulary
from smspark.features.text import SPLITS
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_parquet, read_table, write_json, write_table
from smspark.jobs.steps.posts import split_files
from smspark.manifest import reconcile
from smspark.schemas import MESSAGE_LABELS, SPAM_FEATURES


def features(ctx: JobContext) -> dict[str, Any]:
    """Labelled ``silver/messages`` -> ``features/spam``; the vocabulary comes from the training split only.

    Records rows per split and per split and label (``meta.json`` and the stage's counts); reconciles
    ``labelled mails = rows over the three splits``.

    Raises:
        UserError: no ``silver/messages``, or no labelled mail in it.
    """
    mcfg = ctx.cfg.models.spam
    silver = storage.join(ctx.layout.silver, "messages")
    messages = read_table(
        ctx.spark, silver, what="run `smspark ingest --tables messages` and `smspark etl --tables messages` first"
    )
    n_messages = messages.count()
    rows = spam_rows(messages, mcfg.seq_len, ctx.cfg.train.seed).persist()  # the tokenizing UDF runs once
    n_in = rows.count()
    if n_in == 0:
        raise UserError("no labelled mail in silver/messages: the spam model needs a labelled corpus")
    vocab = spam_vocabulary(rows, mcfg.vocab_size)
    feats = spam_features(rows, vocab, mcfg.seq_len)
    out = storage.join(ctx.layout.features, "spam")
    columns = [F.col(f.name) for f in SPAM_FEATURES.fields]
    counts: dict[str, int] = {}
    for split in SPLITS:
        part = feats.where(F.col("split") == split).select(*columns)
        write_table(part.repartition(split_files(ctx)), storage.join(out, split))
        counts[split] = read_parquet(ctx.spark, storage.join(out, split)).count()
    labels: dict[str, dict[str, int]] = {s: dict.fromkeys(MESSAGE_LABELS, 0) for s in SPLITS}
    for r in rows.groupBy("split", "label").count().collect():
        labels[r["split"]][MESSAGE_LABELS[r["label"]]] = r["count"]
    write_json(storage.join(out, "vocab.json"), {"vocab": vocab, "seq_len": mcfg.seq_len, "classes": MESSAGE_LABELS})
    write_json(
        storage.join(out, "meta.json"),
        {
            "rows": counts,
            "labels": labels,
            "vocab_size": len(vocab),
            "seq_len": mcfg.seq_len,
            "text": "subject + newline + body, normalised and tokenized, first seq_len tokens",
            "split_key": f"xxhash64 of '<train.seed>:<source>:<message_id>' (seed {ctx.cfg.train.seed}), 80/10/10",
            "run_date": ctx.run_date.isoformat(),
        },
    )
    rows.unpersist()
    ctx.output("features/spam", out)
    return {
        "inputs": {"silver": silver, "unlabelled_messages_not_used": n_messages - n_in},
        "outputs": {"features": out, "vocab_size": len(vocab)},
        "counts": {**reconcile(n_in, sum(counts.values())), "splits": counts, "labels": labels},
    }


def score(ctx: JobContext) -> dict[str, Any]:
    """Every ``silver/posts`` row -> ``gold/post_spam`` with the ``smspark_spam`` champion; reconciles
    ``posts = scored`` and records how many posts reached the model's threshold.

    Raises:
        UserError: no champion of the spam model, or no ``silver/posts``.
    """
    from smspark.jobs.steps import score_counts, score_posts_step
    from smspark.scoring.spam import score_posts

    result = score_posts_step(ctx, "spam", "post_spam", score_posts)
    result["outputs"]["is_spam"] = score_counts(ctx, result, "is_spam")
    return result

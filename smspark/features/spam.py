"""Spam features: the text of a mail (subject and body), its tokens, a vocabulary from the training split, fixed-length
int32 token ids and a keyed split by ``message_id``.

Text: ``subject + "\\n" + body`` (:func:`mail_text`; the subject alone or the body alone when the other is missing),
normalised and tokenized by the project's one text pipeline (:func:`smspark.etl.text.normalise_text`, then
:func:`smspark.etl.text.tokenize`: URLs -> ``<url>``, @mentions -> ``<user>``, lower case), the first ``seq_len``
tokens kept (:func:`spam_tokens`). The spam model's pyfunc turns any raw text (a mail's, a post's) into ids the same
way.

Split: 80/10/10 by ``xxhash64`` of ``"<seed>:<source>:<message_id>"`` (:func:`message_split_col`): a mail's split
depends only on the seed (``train.seed``) and its identity, so it is the same on every run and machine, and a
re-delivered mail (same id) never moves. Silver has already dropped mails whose body text repeats within a source.
The split is not stratified: with 5,726 mails the hash gives every split close to the corpus's 28% spam (the counts
per split and label are in ``meta.json``).
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

from smspark.etl.text import normalise_text, tokenize
from smspark.features.text import encode_tokens_col, full_vocab, split_col, vocabulary


def mail_text(subject: str | None, body: str | None) -> str:
    """The text the spam model reads for a mail: subject and body on two lines (a missing part left out)."""
    return "\n".join(p for p in (subject, body) if p)


def mail_text_col(subject: Column, body: Column) -> Column:
    """Spark column: :func:`mail_text` of two string columns (``concat_ws`` skips nulls; an empty subject is
    dropped as in the Python function)."""
    return F.concat_ws("\n", F.when(subject != "", subject), F.when(body != "", body))


def spam_tokens(text: str | None, seq_len: int) -> list[str]:
    """The first ``seq_len`` tokens of ``tokenize(normalise_text(text))``; ``[]`` for None or empty text."""
    return tokenize(normalise_text(text))[:seq_len]


def spam_tokens_col(text: Column, seq_len: int) -> Column:
    """Spark column ``array<string>``: :func:`spam_tokens` of a text column in a pandas UDF."""

    @F.pandas_udf(ArrayType(StringType()))
    def _udf(s: pd.Series) -> pd.Series:
        return s.map(lambda t: spam_tokens(t, seq_len))

    return _udf(text)


def message_split_col(source: Column, message_id: Column, seed: int, train_pct: int = 80, val_pct: int = 10) -> Column:
    """``train``/``val``/``test`` of a mail: :func:`smspark.features.text.split_col` of ``"<seed>:<source>:<id>"``."""
    return split_col(F.concat_ws(":", F.lit(str(seed)), source, message_id), train_pct, val_pct)


def spam_rows(messages: DataFrame, seq_len: int, seed: int) -> DataFrame:
    """Labelled silver messages -> ``(message_id, source, tokens, label, split)``.

    Args:
        messages: silver messages (``message_id``, ``source``, ``subject``, ``text``, ``label`` int 0 ham / 1 spam);
            rows with a null label are left out.
        seq_len: tokens kept per mail.
        seed: the split's key (:func:`message_split_col`).
    """
    return messages.where(F.col("label").isNotNull()).select(
        "message_id",
        "source",
        spam_tokens_col(mail_text_col(F.col("subject"), F.col("text")), seq_len).alias("tokens"),
        F.col("label").cast("int").alias("label"),
        message_split_col(F.col("source"), F.col("message_id"), seed).alias("split"),
    )


def spam_vocabulary(rows: DataFrame, vocab_size: int) -> list[str]:
    """``[<pad>, <oov>, token...]``: the ``vocab_size - 2`` most frequent tokens of the ``train`` rows of
    :func:`spam_rows` (validation and test mails do not shape it)."""
    top = vocabulary(rows.where(F.col("split") == "train").select("tokens"), vocab_size).collect()
    return full_vocab([(r["token"], r["id"]) for r in top])


def spam_features(rows: DataFrame, vocab: list[str], seq_len: int) -> DataFrame:
    """:func:`spam_rows` -> ``(message_id, source, token_ids array<int> [seq_len], label int, split)``."""
    ids = encode_tokens_col(F.col("tokens"), vocab, seq_len)
    return rows.select("message_id", "source", ids.alias("token_ids"), "label", "split")

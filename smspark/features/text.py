"""Sentiment features: tokens, a Spark-built vocabulary, fixed-length int32 token ids, a hash split.

Vocabulary: id 0 is padding (``<pad>``), id 1 out-of-vocabulary (``<oov>``), then the training split's most
frequent tokens (ties broken alphabetically) up to ``vocab_size`` entries in all. It is saved with the model,
so scoring encodes text exactly as training did.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, IntegerType, StringType

from smspark.etl.text import tokenize
from smspark.schemas import SENTIMENT_CLASSES

PAD, OOV = "<pad>", "<oov>"
SPLITS = ("train", "val", "test")


def tokens_col(text: Column) -> Column:
    """Spark column ``array<string>``: :func:`smspark.etl.text.tokenize` of a text column."""

    @F.pandas_udf(ArrayType(StringType()))
    def _udf(s: pd.Series) -> pd.Series:
        return s.map(tokenize)

    return _udf(text)


def split_col(key: Column, train_pct: int = 80, val_pct: int = 10) -> Column:
    """Deterministic split by hashing the key: ``train``/``val``/``test`` (80/10/10 by default).

    ``pmod(xxhash64(key), 100)`` buckets; the same key always lands in the same split, on every run and
    machine (Spark's xxhash64 with its fixed seed 42).
    """
    bucket = F.pmod(F.xxhash64(key), F.lit(100))
    return F.when(bucket < train_pct, "train").when(bucket < train_pct + val_pct, "val").otherwise("test")


def vocabulary(tokens: DataFrame, vocab_size: int) -> DataFrame:
    """Top tokens of ``tokens`` (column ``tokens: array<string>``) as ``(token, count, id)``, ids from 2.

    Returns ``vocab_size - 2`` rows at most, ordered by id (count descending, token ascending).
    """
    counts = tokens.select(F.explode("tokens").alias("token")).groupBy("token").count()
    order = [F.col("count").desc(), F.col("token").asc()]
    top = counts.orderBy(*order).limit(vocab_size - 2)
    rank = F.row_number().over(Window.orderBy(*order))  # a few thousand rows: one partition is fine
    return top.select("token", "count", (rank + 1).cast("int").alias("id"))


def encode(tokens: list[str], index: dict[str, int], seq_len: int) -> np.ndarray:
    """Token list -> int32 array of length ``seq_len``: first ``seq_len`` tokens, right-padded with 0."""
    ids = np.zeros(seq_len, dtype=np.int32)
    for i, tok in enumerate(tokens[:seq_len]):
        ids[i] = index.get(tok, 1)
    return ids


def token_ids_col(text: Column, vocab: list[str], seq_len: int) -> Column:
    """Spark column ``array<int>`` of length ``seq_len``: text tokenized and encoded with ``vocab``.

    ``vocab`` is the full id-ordered list (``vocab[0] == "<pad>"``, ``vocab[1] == "<oov>"``).
    """
    index = {t: i for i, t in enumerate(vocab)}

    @F.pandas_udf(ArrayType(IntegerType()))
    def _udf(s: pd.Series) -> pd.Series:
        return s.map(lambda t: encode(tokenize(t), index, seq_len))

    return _udf(text)


def sentiment_features(posts: DataFrame, vocab: list[str], seq_len: int) -> DataFrame:
    """Labelled silver posts -> ``(post_id, token_ids, label, split)``.

    ``label`` is the int32 class index in :data:`smspark.schemas.SENTIMENT_CLASSES`; posts without a label
    are left out (they are scored, not trained on).
    """
    label_idx = F.array_position(F.array(*[F.lit(c) for c in SENTIMENT_CLASSES]), F.col("label")) - 1
    return posts.where(F.col("label").isNotNull()).select(
        "post_id",
        token_ids_col(F.col("text"), vocab, seq_len).alias("token_ids"),
        label_idx.cast("int").alias("label"),
        split_col(F.col("post_id")).alias("split"),
    )


def full_vocab(vocab_rows: list[tuple[str, int]]) -> list[str]:
    """``[<pad>, <oov>, token...]`` from ``(token, id)`` pairs as returned by :func:`vocabulary`."""
    return [PAD, OOV] + [t for t, _ in sorted(vocab_rows, key=lambda r: r[1])]

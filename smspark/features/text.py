"""Sentiment features: tokens, a Spark-built vocabulary, fixed-length int32 token ids, a split by hashing the text
the model reads, and word vectors learnt by Spark MLlib Word2Vec.

Vocabulary: id 0 is padding (``<pad>``), id 1 out-of-vocabulary (``<oov>``), then the training split's most
frequent tokens (ties broken alphabetically) up to ``vocab_size`` entries in all. It is saved with the model,
so scoring encodes text exactly as training did.

Split: a post's split is decided by hashing its token sequence (:func:`text_split_col`), the text after the same
normalisation and tokenisation the model input goes through (:func:`smspark.etl.text.tokenize`: lower case, every
@mention -> ``<user>``, URLs -> ``<url>``). Posts the model cannot tell apart (a retweet of the same words with
another pseudonymised mention, a different URL or other letter case) therefore fall on the same side, and the test
split holds no text that training has seen. The split depends only on the text: the same on every run and
machine, whatever the partitioning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, IntegerType, StringType

from smspark.etl.text import tokenize
from smspark.schemas import SENTIMENT_CLASSES

PAD, OOV = "<pad>", "<oov>"
#: The word vectors next to the features (float32 ``[vocab_size, embed_dim]``, ``numpy.save`` format).
EMBEDDINGS_FILE = "embeddings.npy"
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


def split_key_col(tokens: Column) -> Column:
    """The split key of a post: its tokens (``array<string>``, see :func:`tokens_col`) joined by one space.

    Tokens never contain a space, so two posts share a key exactly when the model reads the same token sequence.
    """
    return F.array_join(tokens, " ")


def text_split_col(text: Column, train_pct: int = 80, val_pct: int = 10) -> Column:
    """Split of a post from its text: :func:`split_col` of :func:`split_key_col` of its tokens."""
    return split_col(split_key_col(tokens_col(text)), train_pct, val_pct)


def vocabulary(tokens: DataFrame, vocab_size: int) -> DataFrame:
    """Top tokens of ``tokens`` (column ``tokens: array<string>``) as ``(token, count, id)``, ids from 2.

    Returns ``vocab_size - 2`` rows at most, ordered by id (count descending, token ascending). The ids are
    given on the driver to the at most ``vocab_size - 2`` top rows, so no window moves every count into a single
    partition.
    """
    counts = tokens.select(F.explode("tokens").alias("token")).groupBy("token").count()
    top = counts.orderBy(F.col("count").desc(), F.col("token").asc()).limit(vocab_size - 2).collect()
    rows = [(r["token"], int(r["count"]), i + 2) for i, r in enumerate(top)]
    return tokens.sparkSession.createDataFrame(rows, "token string, count long, id int")


def sentiment_vocabulary(labelled: DataFrame, vocab_size: int) -> list[str]:
    """The model's full vocabulary (``[<pad>, <oov>, token...]``) from the training split of labelled posts.

    Args:
        labelled: labelled silver posts (column ``text``); only those whose :func:`text_split_col` is ``train``
            are counted, so no validation or test text shapes the vocabulary.
        vocab_size: entries in all, padding and out-of-vocabulary included.
    """
    train = labelled.select(tokens_col(F.col("text")).alias("tokens")).where(in_split("train"))
    rows = vocabulary(train, vocab_size).collect()
    return full_vocab([(r["token"], r["id"]) for r in rows])


def in_split(split: str) -> Column:
    """Filter for a DataFrame with a ``tokens`` column: the post's split (see :func:`split_key_col`) is ``split``."""
    return split_col(split_key_col(F.col("tokens"))) == split


def encode(tokens: list[str], index: dict[str, int], seq_len: int) -> np.ndarray:
    """Token list -> int32 array of length ``seq_len``: first ``seq_len`` tokens, right-padded with 0."""
    ids = np.zeros(seq_len, dtype=np.int32)
    for i, tok in enumerate(tokens[:seq_len]):
        ids[i] = index.get(tok, 1)
    return ids


def encode_tokens_col(tokens: Column, vocab: list[str], seq_len: int) -> Column:
    """Spark column ``array<int>`` of length ``seq_len``: a ``tokens: array<string>`` column encoded with ``vocab``
    (:func:`encode`; ``vocab`` is the full id-ordered list)."""
    index = {t: i for i, t in enumerate(vocab)}

    @F.pandas_udf(ArrayType(IntegerType()))
    def _udf(s: pd.Series) -> pd.Series:
        return s.map(lambda toks: encode(list(toks), index, seq_len))

    return _udf(tokens)


def token_ids_col(text: Column, vocab: list[str], seq_len: int) -> Column:
    """Spark column ``array<int>`` of length ``seq_len``: text tokenized and encoded with ``vocab``.

    ``vocab`` is the full id-ordered list (``vocab[0] == "<pad>"``, ``vocab[1] == "<oov>"``).
    """
    return encode_tokens_col(tokens_col(text), vocab, seq_len)


def sentiment_features(posts: DataFrame, vocab: list[str], seq_len: int) -> DataFrame:
    """Labelled silver posts -> ``(post_id, token_ids, label, split)``.

    ``label`` is the int32 class index in :data:`smspark.schemas.SENTIMENT_CLASSES`; posts without a label
    are left out (they are scored, not trained on). ``split`` hashes the post's token sequence
    (:func:`text_split_col`), so posts that read the same to the model share a split.
    """
    label_idx = F.array_position(F.array(*[F.lit(c) for c in SENTIMENT_CLASSES]), F.col("label")) - 1
    tokens = posts.where(F.col("label").isNotNull()).select(
        "post_id", tokens_col(F.col("text")).alias("tokens"), label_idx.cast("int").alias("label")
    )
    return tokens.select(
        "post_id",
        encode_tokens_col(F.col("tokens"), vocab, seq_len).alias("token_ids"),
        "label",
        split_col(split_key_col(F.col("tokens"))).alias("split"),
    )


def full_vocab(vocab_rows: list[tuple[str, int]]) -> list[str]:
    """``[<pad>, <oov>, token...]`` from ``(token, id)`` pairs as returned by :func:`vocabulary`."""
    return [PAD, OOV] + [t for t, _ in sorted(vocab_rows, key=lambda r: r[1])]


def word2vec_embeddings(
    tokens: DataFrame,
    vocab: list[str],
    dim: int,
    seed: int,
    min_count: int = 2,
    window: int = 5,
    max_iter: int = 1,
    step_size: float = 0.025,
) -> np.ndarray:
    """Word vectors for ``vocab`` learnt by Spark MLlib ``Word2Vec`` (skip-gram with hierarchical softmax,
    Mikolov et al. 2013) on ``tokens``: the initial embedding of Kim's (2014) CNN-non-static.

    Args:
        tokens: column ``tokens: array<string>`` (:func:`tokens_col`), one row per post: every silver post,
            labelled or not (no label is read). Rows are put in a fixed order (by their text) before fitting.
        vocab: the model's full vocabulary, ``vocab[0] == "<pad>"``, ``vocab[1] == "<oov>"``.
        dim: vector size.
        seed: Word2Vec's seed and the seed of the random rows below.
        min_count, window, max_iter, step_size: Word2Vec's ``minCount``, ``windowSize``, ``maxIter``,
            ``stepSize`` (one partition, so the result does not depend on the number of Spark tasks).

    Returns:
        float32 ``[len(vocab), dim]``: row ``i`` is the vector of ``vocab[i]``; row 0 (padding) is zeros; words
        Word2Vec did not learn (fewer than ``min_count`` occurrences, ``<oov>``) get ``U(-a, a)`` draws with ``a``
        chosen so their variance matches the learnt vectors' (as Kim 2014 does for words missing from word2vec).

    Raises:
        ValueError: ``dim < 1``, or ``vocab`` does not start with ``<pad>``, ``<oov>``.
    """
    from pyspark.ml.feature import Word2Vec

    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if vocab[:2] != [PAD, OOV]:
        raise ValueError("vocab must start with <pad>, <oov> (see full_vocab)")
    docs = tokens.select("tokens").where(F.size("tokens") > 0)
    docs = docs.orderBy(F.xxhash64(split_key_col(F.col("tokens"))), split_key_col(F.col("tokens"))).coalesce(1)
    w2v = Word2Vec(
        vectorSize=dim,
        minCount=min_count,
        windowSize=window,
        maxIter=max_iter,
        stepSize=step_size,
        numPartitions=1,
        seed=seed,
        inputCol="tokens",
        outputCol="_w2v",
    )
    learnt = {r["word"]: r["vector"].toArray() for r in w2v.fit(docs).getVectors().collect()}
    rng = np.random.default_rng(seed)
    values = np.stack(list(learnt.values())) if learnt else np.zeros((1, dim))
    a = float(np.sqrt(3.0) * values.std()) or 0.05  # U(-a, a) has variance a^2 / 3
    out = rng.uniform(-a, a, size=(len(vocab), dim)).astype(np.float32)
    out[0] = 0.0
    for i, word in enumerate(vocab[2:], start=2):
        vec = learnt.get(word)
        if vec is not None:
            out[i] = vec
    return out

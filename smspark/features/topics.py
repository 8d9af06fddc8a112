"""Topic-model documents: terms of a post, English stop words removed, posts pooled into documents.

Short posts make poor LDA documents; Mehrotra et al. (SIGIR 2013, "Improving LDA topic models for microblogs via
tweet pooling and automatic labeling") showed that pooling them -- by author, by hashtag -- gives much more coherent
topics. Here a post goes to the first pool of ``pooling`` that applies to it:

- ``author_day``: all posts of one author on one day (``corpus|author_id|dt``), for posts with an author;
- ``hashtag``: one pool per hashtag of the post (a post with two hashtags joins both pools, as in the paper), for
  posts with at least one hashtag;
- otherwise the post is a document on its own.

Terms (:func:`topic_terms`) come from the pipeline's one tokenizer (:func:`smspark.etl.text.tokenize`) without the
``<url>``/``<user>`` tokens, punctuation, numbers and one-letter tokens, with the ``#`` of hashtags and a trailing
possessive ``'s`` stripped; English stop words (Spark MLlib's list plus ``extra``) are removed by
:func:`remove_stop_words`. All functions here are pure DataFrame transformations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
from pyspark.ml.feature import StopWordsRemover
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

from smspark.etl.text import URL_TOKEN, USER_TOKEN, tokenize

#: Pooling schemes :func:`pool_documents` knows, in the order a configuration may list them.
POOLINGS: tuple[str, ...] = ("author_day", "hashtag")

_POSSESSIVE = re.compile(r"'s$")


def topic_terms(text: str | None, min_len: int = 2) -> list[str]:
    """Topic-model terms of one post, in order, stop words still in.

    ``"Thank you @u_1a! #MAGA https://t.co/x Trump's 2016"`` -> ``["thank", "you", "maga", "trump"]``.
    """
    terms = []
    for tok in tokenize(text):
        if tok in (URL_TOKEN, USER_TOKEN) or tok in ("!", "?"):
            continue
        tok = _POSSESSIVE.sub("", tok.lstrip("#"))
        if len(tok) < min_len or tok.isdigit():
            continue
        terms.append(tok)
    return terms


def hashtags(text: str | None) -> list[str]:
    """Distinct hashtags of a post, lower case, without ``#``, in order of first appearance."""
    return list(dict.fromkeys(t[1:] for t in tokenize(text) if t.startswith("#") and len(t) > 1))


def terms_col(text: Column, min_len: int = 2) -> Column:
    """Spark column ``array<string>``: :func:`topic_terms` of a text column (pandas UDF)."""

    @F.pandas_udf(ArrayType(StringType()))
    def _udf(s: pd.Series) -> pd.Series:
        return s.map(lambda t: topic_terms(t, min_len))

    return _udf(text)


def hashtags_col(text: Column) -> Column:
    """Spark column ``array<string>``: :func:`hashtags` of a text column (pandas UDF)."""

    @F.pandas_udf(ArrayType(StringType()))
    def _udf(s: pd.Series) -> pd.Series:
        return s.map(hashtags)

    return _udf(text)


def stop_words(extra: Sequence[str] = ()) -> list[str]:
    """Spark MLlib's English stop words (``StopWordsRemover.loadDefaultStopWords("english")``) plus ``extra``,
    lower case, without duplicates. Needs a running SparkContext (the list is read from the JVM)."""
    words = StopWordsRemover.loadDefaultStopWords("english") + [w.lower() for w in extra]
    return list(dict.fromkeys(words))


def stop_words_remover(input_col: str, output_col: str, extra: Sequence[str] = ()) -> StopWordsRemover:
    """The MLlib transformer that removes :func:`stop_words` (case-insensitively) from ``input_col``."""
    return StopWordsRemover(inputCol=input_col, outputCol=output_col, stopWords=stop_words(extra))


def remove_stop_words(df: DataFrame, col: str, extra: Sequence[str] = ()) -> DataFrame:
    """``df`` with the array column ``col`` replaced by itself without :func:`stop_words`."""
    tmp = f"_{col}_kept"
    return stop_words_remover(col, tmp, extra).transform(df).drop(col).withColumnRenamed(tmp, col)


def post_terms(posts: DataFrame, extra_stop_words: Sequence[str] = (), min_len: int = 2) -> DataFrame:
    """Silver posts -> ``(post_id, corpus, author_id, dt, terms, hashtags)`` with stop words removed.

    ``terms`` and ``hashtags`` are ``array<string>``; posts keep their row even when no term is left.
    """
    df = posts.select(
        "post_id",
        "corpus",
        "author_id",
        "dt",
        terms_col(F.col("text"), min_len).alias("terms"),
        hashtags_col(F.col("text")).alias("hashtags"),
    )
    return remove_stop_words(df, "terms", extra_stop_words)


def pool_documents(posts: DataFrame, pooling: Sequence[str], author_day_min_authors: int = 1) -> DataFrame:
    """Pool posts into topic-model documents (see the module docstring).

    Args:
        posts: ``post_id``, ``corpus``, ``author_id`` (nullable), ``dt`` (date), ``terms`` and ``hashtags``
            (``array<string>``), as from :func:`post_terms`.
        pooling: pool kinds tried in order, each one of :data:`POOLINGS`; ``[]`` keeps every post alone.
        author_day_min_authors: ``author_day`` pools only in corpora with at least this many authors. Author
            pooling (Mehrotra et al. 2013) joins the few posts of each of many users; in a one-author archive a
            day's pool glues that day's unrelated posts together, and the topics become days.

    Returns:
        One row per document: ``doc_id`` (``<pool>|<corpus>|<key>``, string), ``corpus``, ``pool`` (the pool kind
        or ``post``), ``terms`` (the members' terms concatenated, ``array<string>``) and ``posts`` (int, member
        posts). Documents without any term are left out.

    Raises:
        ValueError: an unknown pool kind.
    """
    unknown = [p for p in pooling if p not in POOLINGS]
    if unknown:
        raise ValueError(f"unknown pooling {unknown}; known: {', '.join(POOLINGS)}")
    authors = posts.groupBy("corpus").agg(F.countDistinct("author_id").alias("_authors"))
    posts = posts.join(F.broadcast(authors), "corpus")
    applies = {
        "author_day": F.col("author_id").isNotNull() & (F.col("_authors") >= author_day_min_authors),
        "hashtag": F.size("hashtags") > 0,
    }
    kind = F.lit("post")
    for p in reversed(list(pooling)):
        kind = F.when(applies[p], F.lit(p)).otherwise(kind)
    df = posts.withColumn("pool", kind)
    key = (
        F.when(F.col("pool") == "author_day", F.concat_ws("|", "author_id", F.col("dt").cast("string")))
        .when(F.col("pool") == "hashtag", F.col("tag"))
        .otherwise(F.col("post_id"))
    )
    df = df.withColumn("tag", F.explode_outer(F.when(F.col("pool") == "hashtag", F.col("hashtags"))))
    docs = df.withColumn("doc_id", F.concat_ws("|", "pool", "corpus", key)).groupBy("doc_id", "corpus", "pool")
    out = docs.agg(F.flatten(F.collect_list("terms")).alias("terms"), F.count("*").cast("int").alias("posts"))
    return out.where(F.size("terms") > 0)

"""Keywords per time window: TF-IDF across windows (Spark MLlib) and YAKE within a window (inside ``mapInPandas``).

A window is one corpus' posts of one day or one ISO week (Monday to Sunday). For TF-IDF every window is one
document among all windows of its kind (days with days, weeks with weeks): a term scores high in a window when it
is frequent there and rare in the other windows (MLlib ``CountVectorizer`` + ``IDF``, ``idf = log((n + 1) / (df +
1))``). YAKE (Campos et al., Information Sciences 2020; the ``yake`` package) scores candidate phrases from
statistics inside the window's own text only; a lower YAKE score is a better keyword. Both rank 1 = best.
Pure DataFrame functions; the ``analytics`` job does the reading and writing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

from smspark.schemas import GOLD_KEYWORDS

log = logging.getLogger(__name__)

WINDOWS = ("day", "week")
_MENTION = re.compile(r"(?<![\w@])@+\w+")


def window_start(dt: F.Column, window: str) -> F.Column:
    """First day of the ``window`` (``day``: the day; ``week``: its Monday) containing the date column ``dt``."""
    if window == "day":
        return dt
    if window == "week":
        return F.to_date(F.date_trunc("week", dt))
    raise ValueError(f"unknown window {window!r}; known: {', '.join(WINDOWS)}")


def window_documents(posts: DataFrame, window: str, min_posts: int = 1) -> DataFrame:
    """Posts -> one row per (corpus, window): the window's terms and text.

    Args:
        posts: ``post_id``, ``corpus``, ``dt`` (date), ``created_at`` (timestamp, nullable), ``text`` (string) and
            ``terms`` (``array<string>``, stop words removed, see :func:`smspark.features.topics.post_terms`).
        window: ``day`` or ``week``.
        min_posts: windows with fewer posts are left out.

    Returns:
        ``corpus``, ``window``, ``window_start`` (date), ``posts`` (long), ``terms`` (all the posts' terms) and
        ``text`` (the posts' texts in time order, one per line).
    """
    start = window_start(F.col("dt"), window)
    ordered = F.sort_array(F.collect_list(F.struct("created_at", "post_id", "text")))
    return (
        posts.groupBy("corpus", start.alias("window_start"))
        .agg(
            F.count("*").alias("posts"),
            F.flatten(F.collect_list("terms")).alias("terms"),
            F.concat_ws("\n", F.transform(ordered, lambda s: s["text"])).alias("text"),
        )
        .where(F.col("posts") >= min_posts)
        .select("corpus", F.lit(window).alias("window"), "window_start", "posts", "terms", "text")
    )


def tfidf_keywords(windows: DataFrame, top_n: int, vocab_size: int = 20000, min_df: float = 2.0) -> DataFrame:
    """Top ``top_n`` terms of every window by TF-IDF across the windows given (all of one kind).

    Args:
        windows: rows of :func:`window_documents` (one ``window`` kind).
        top_n: terms per window.
        vocab_size, min_df: ``CountVectorizer`` bounds (``min_df``: windows a term must appear in; a fraction when
            below 1).

    Returns:
        :data:`smspark.schemas.GOLD_KEYWORDS` rows with ``method = "tfidf"``; ties by term. No rows when fewer
        than two windows exist or no term reaches ``min_df`` windows (IDF across windows is undefined then).
    """
    from pyspark.ml.feature import IDF, CountVectorizer

    n_windows = windows.count()
    cv = CountVectorizer(inputCol="terms", outputCol="tf", vocabSize=vocab_size, minDF=min_df)
    cv = cv.fit(windows) if n_windows >= 2 else None
    if cv is None or not cv.vocabulary:
        log.warning(
            "TF-IDF keywords: %d window(s), %d term(s) in at least %s windows: no TF-IDF keywords for this kind",
            n_windows,
            0 if cv is None else len(cv.vocabulary),
            min_df,
        )
        return windows.sparkSession.createDataFrame([], GOLD_KEYWORDS)
    tf = cv.transform(windows)
    tfidf = IDF(inputCol="tf", outputCol="tfidf").fit(tf).transform(tf)
    vocab = cv.vocabulary
    pair = StructType([StructField("term", StringType()), StructField("score", DoubleType())])

    def top(v) -> list[tuple[str, float]]:
        order = sorted(zip(v.indices.tolist(), v.values.tolist(), strict=True), key=lambda iv: (-iv[1], vocab[iv[0]]))
        return [(vocab[i], float(s)) for i, s in order[:top_n] if s > 0]

    best = tfidf.select(
        "corpus", "window", "window_start", "posts", F.udf(top, ArrayType(pair))("tfidf").alias("top")
    ).select("corpus", "window", "window_start", "posts", F.posexplode("top").alias("pos", "kw"))
    return best.select(
        "corpus",
        "window",
        "window_start",
        F.lit("tfidf").alias("method"),
        (F.col("pos") + 1).alias("rank"),
        F.col("kw.term").alias("term"),
        F.col("kw.score").alias("score"),
        "posts",
    ).select(*[F.col(f.name).cast(f.dataType) for f in GOLD_KEYWORDS.fields])


def yake_text(text: str | None) -> str:
    """A window's text as YAKE reads it: ``<url>``/``<user>`` tokens and @mentions removed, one post per line."""
    if not text:
        return ""
    return _MENTION.sub(" ", text.replace("<url>", " ").replace("<user>", " "))


def yake_keywords(windows: DataFrame, top_n: int, ngram: int = 2, max_chars: int = 20000) -> DataFrame:
    """Top ``top_n`` YAKE keywords (phrases of up to ``ngram`` words, lower case) of every window, one ``yake``
    extractor per Python worker batch, inside ``mapInPandas``.

    Args:
        windows: rows of :func:`window_documents`.
        top_n, ngram: YAKE's ``top`` and ``n``.
        max_chars: YAKE reads the first ``max_chars`` characters of a window's text (posts in time order).

    Returns:
        :data:`smspark.schemas.GOLD_KEYWORDS` rows with ``method = "yake"`` (``score``: YAKE's, lower is better).
    """
    schema = GOLD_KEYWORDS
    cols = [f.name for f in schema.fields]

    def extract(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import yake

        kw = yake.KeywordExtractor(lan="en", n=ngram, top=top_n)
        for batch in batches:
            rows = []
            for r in batch.itertuples(index=False):
                found = kw.extract_keywords(yake_text(r.text)[:max_chars])
                seen: set[str] = set()
                for term, score in found:
                    term = term.lower()
                    if term in seen:
                        continue
                    seen.add(term)
                    rows.append((r.corpus, r.window, r.window_start, "yake", len(seen), term, float(score), r.posts))
            if rows:
                yield pd.DataFrame(rows, columns=cols)

    return windows.select("corpus", "window", "window_start", "posts", "text").mapInPandas(extract, schema)

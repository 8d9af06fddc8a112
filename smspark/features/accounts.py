"""Account behaviour features: one row per author of silver posts (``author_id``).

Columns (all doubles except ``n_posts``):

- ``n_posts`` (long): posts of the author.
- ``interval_mean_s``: mean gap in seconds between consecutive posts (by ``created_at``); null below two posts.
- ``interval_cv``: coefficient of variation of those gaps (population standard deviation / mean); null below two
  posts or when the mean gap is 0.
- ``hour_entropy``: Shannon entropy in bits of the author's 24-bin UTC hour-of-day histogram (0..log2(24)).
- ``duplicate_share``: share of the author's posts whose normalised text (lower case, whitespace collapsed) also
  occurs in another post of the same author (exact duplicates only; near-duplicates are not covered here).
- ``links_per_post``: ``<url>`` tokens per post; ``mentions_per_post``: pseudonymised ``@u_`` handles per post.
- ``client_diversity``: distinct non-null posting clients / posts.

Posts without ``author_id`` or ``created_at`` take no part (the caller counts them as dropped).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from smspark.schemas import ACCOUNT_COLUMNS

_PSEUDONYM = r"@u_[0-9a-f]{16}"
_URL = r"<url>"


def _count_matches(col: str, pattern: str):
    """Occurrences of a regex in a string column (0 for null)."""
    return F.coalesce(F.size(F.split(F.col(col), pattern)) - 1, F.lit(0))


def account_features(posts: DataFrame) -> DataFrame:
    """Per-author behaviour features of silver posts.

    Args:
        posts: rows with ``author_id`` (string), ``created_at`` (timestamp, UTC session), ``text`` (string),
            ``client`` (string, nullable).

    Returns:
        One row per ``author_id`` with the columns listed in the module docstring.
    """
    p = posts.where(F.col("author_id").isNotNull() & F.col("created_at").isNotNull())
    w = Window.partitionBy("author_id").orderBy("created_at")
    gaps = p.withColumn("gap", F.col("created_at").cast("double") - F.lag(F.col("created_at").cast("double")).over(w))
    cadence = gaps.groupBy("author_id").agg(
        F.mean("gap").alias("interval_mean_s"), F.stddev_pop("gap").alias("_gap_sd")
    )
    cadence = cadence.withColumn(
        "interval_cv", F.when(F.col("interval_mean_s") > 0, F.col("_gap_sd") / F.col("interval_mean_s"))
    ).drop("_gap_sd")

    per_hour = p.groupBy("author_id", F.hour("created_at").alias("h")).agg(F.count(F.lit(1)).alias("c"))
    tot = per_hour.groupBy("author_id").agg(F.sum("c").alias("t"))
    share = F.col("c") / F.col("t")
    entropy = (
        per_hour.join(tot, "author_id").groupBy("author_id").agg((-F.sum(share * F.log2(share))).alias("hour_entropy"))
    )

    norm = F.trim(F.regexp_replace(F.lower(F.col("text")), r"\s+", " "))
    dup = (
        p.withColumn("_norm", norm)
        .withColumn("_k", F.count(F.lit(1)).over(Window.partitionBy("author_id", "_norm")))
        .groupBy("author_id")
        .agg(
            F.count(F.lit(1)).alias("n_posts"),
            F.mean(F.when(F.col("_k") > 1, 1.0).otherwise(0.0)).alias("duplicate_share"),
            F.mean(_count_matches("text", _URL).cast("double")).alias("links_per_post"),
            F.mean(_count_matches("text", _PSEUDONYM).cast("double")).alias("mentions_per_post"),
            (F.countDistinct("client") / F.count(F.lit(1))).alias("client_diversity"),
        )
    )
    return (
        dup.join(cadence, "author_id")
        .join(entropy, "author_id")
        .select(
            "author_id",
            "n_posts",
            "interval_mean_s",
            "interval_cv",
            "hour_entropy",
            "duplicate_share",
            "links_per_post",
            "mentions_per_post",
            "client_diversity",
        )
    )


def near_duplicate_share(posts: DataFrame, max_jaccard_distance: float = 0.3, seed: int = 7) -> DataFrame:
    """Share of each author's posts that have a near-duplicate among the author's other posts.

    Shingles are the lower-cased word tokens plus word bigrams of ``text``; two posts are near-duplicates when the
    Jaccard distance of their shingle sets is at most ``max_jaccard_distance``, found with MLlib ``MinHashLSH``
    (approximate: a pair may be missed with small probability). Posts without tokens count as having none.

    Args:
        posts: rows with ``post_id``, ``author_id``, ``text`` (strings); rows without ``author_id`` are ignored.

    Returns:
        ``(author_id string, near_duplicate_share double)``, one row per author.
    """
    from pyspark.ml.feature import HashingTF, MinHashLSH, NGram, RegexTokenizer

    p = posts.where(F.col("author_id").isNotNull()).select(
        "post_id", "author_id", F.coalesce("text", F.lit("")).alias("text")
    )
    tok = RegexTokenizer(inputCol="text", outputCol="_tok", pattern=r"\W+").transform(p)
    bi = NGram(n=2, inputCol="_tok", outputCol="_bi").transform(tok)
    sh = bi.withColumn("_sh", F.concat("_tok", "_bi")).where(F.size("_sh") > 0)
    vec = HashingTF(inputCol="_sh", outputCol="_v", binary=True, numFeatures=1 << 18).transform(sh)
    model = MinHashLSH(inputCol="_v", outputCol="_h", numHashTables=5, seed=seed).fit(vec)
    pairs = model.approxSimilarityJoin(vec, vec, max_jaccard_distance, distCol="_d")
    near = (
        pairs.where(
            (F.col("datasetA.author_id") == F.col("datasetB.author_id"))
            & (F.col("datasetA.post_id") != F.col("datasetB.post_id"))
        )
        .select(F.col("datasetA.post_id").alias("post_id"))
        .distinct()
        .withColumn("_near", F.lit(1.0))
    )
    return (
        p.join(near, "post_id", "left")
        .groupBy("author_id")
        .agg(F.mean(F.coalesce("_near", F.lit(0.0))).alias("near_duplicate_share"))
    )


def spam_share(posts: DataFrame, post_spam: DataFrame | None, threshold: float = 0.5) -> DataFrame:
    """Share of each author's posts scored as spam (``spam_probability >= threshold``) in ``gold/post_spam``.

    Args:
        posts: rows with ``post_id``, ``author_id``; rows without ``author_id`` are ignored.
        post_spam: ``gold/post_spam`` rows (``post_id``, ``spam_probability`` double), or ``None`` when the table
            does not exist: then every author's share is null (the caller records why in the manifest). Posts without
            a score count in neither numerator nor denominator; an author with no scored post gets null.

    Returns:
        ``(author_id string, spam_share double)``, one row per author.
    """
    p = posts.where(F.col("author_id").isNotNull()).select("post_id", "author_id")
    if post_spam is None:
        return p.select("author_id").distinct().withColumn("spam_share", F.lit(None).cast("double"))
    scored = p.join(post_spam.select("post_id", "spam_probability"), "post_id", "left")
    is_spam = F.when(F.col("spam_probability").isNotNull(), (F.col("spam_probability") >= threshold).cast("double"))
    return scored.groupBy("author_id").agg(F.mean(is_spam).alias("spam_share"))


# --- the account-risk model's rows ----------------------------------------------------------------------------------

#: The account-risk model's input columns (:data:`smspark.schemas.ACCOUNT_COLUMNS`), in order: raw values as in
#: ``gold/account_risk``; the model takes ``log1p`` of :data:`RISK_LOG_COLUMNS`, imputes nulls and standardises
#: (:func:`encode_risk`).
RISK_COLUMNS: tuple[str, ...] = tuple(f.name for f in ACCOUNT_COLUMNS)
#: Heavy-tailed counts and durations the model reads as ``log1p``.
RISK_LOG_COLUMNS: tuple[str, ...] = ("n_posts", "interval_mean_s")


def account_key_col(window: str) -> tuple[Column, Column]:
    """``(account_key, window_start)`` of a post with ``author_id`` and ``created_at``.

    ``window="all"``: the account is the author (``account_key = author_id``, ``window_start`` null);
    ``"month"``: the account-month (``account_key = "<author_id>|<yyyy-MM>"``, ``window_start`` the first day of
    the UTC month of ``created_at``).

    Raises:
        ValueError: another window.
    """
    if window == "all":
        return F.col("author_id"), F.lit(None).cast("date")
    if window == "month":
        start = F.trunc(F.to_date("created_at"), "month")
        return F.concat_ws("|", F.col("author_id"), F.date_format(start, "yyyy-MM")), start
    raise ValueError(f"unknown account window {window!r}: all or month")


def account_risk_rows(
    posts: DataFrame,
    post_spam: DataFrame | None,
    window: str = "all",
    max_jaccard_distance: float = 0.3,
    seed: int = 7,
) -> DataFrame:
    """One row per account (author, or author-month: :func:`account_key_col`) with :data:`RISK_COLUMNS`.

    The features are :func:`account_features`, :func:`near_duplicate_share` and :func:`spam_share` computed per
    account key, so an author-month's cadence, duplicates and spam share are those of its posts in that month.
    ``interval_cv`` of an account whose posts all share one timestamp (mean gap 0) is 0 (no variation), not null;
    it stays null, like ``interval_mean_s``, for an account with one post. ``spam_share`` is null when
    ``post_spam`` is None or none of the account's posts is scored.

    Args:
        posts: silver posts (``post_id``, ``author_id``, ``created_at``, ``text``, ``client``); posts without
            ``author_id`` or ``created_at`` take no part (the caller counts them).
        post_spam: ``gold/post_spam`` rows of one scoring date (``post_id``, ``is_spam`` at the spam model's own
            threshold), or None.
        window: ``all`` or ``month``.

    Returns:
        ``account_key`` string, ``author_id`` string, ``window_start`` date (null for ``all``), ``n_posts`` long, the
        other :data:`RISK_COLUMNS` double (nullable as above).
    """
    key, start = account_key_col(window)
    p = posts.where(F.col("author_id").isNotNull() & F.col("created_at").isNotNull())
    p = p.withColumn("window_start", start).withColumn("account_key", key)
    keys = p.select("account_key", "author_id", "window_start").distinct()
    as_author = p.drop("author_id").withColumnRenamed("account_key", "author_id")  # the functions group by author_id
    spam = (
        None
        if post_spam is None
        else post_spam.select("post_id", F.col("is_spam").cast("double").alias("spam_probability"))
    )
    feats = (
        account_features(as_author)
        .join(near_duplicate_share(as_author, max_jaccard_distance, seed), "author_id")
        .join(spam_share(as_author, spam, 0.5), "author_id")
        .withColumnRenamed("author_id", "account_key")
        .withColumn("interval_cv", F.when(F.col("n_posts") >= 2, F.coalesce("interval_cv", F.lit(0.0))))
    )
    return keys.join(feats, "account_key").select(
        "account_key", "author_id", "window_start", *(F.col(c) for c in RISK_COLUMNS)
    )


def fit_risk_stats(train: pd.DataFrame, std_floor: float = 0.0) -> dict[str, Any]:
    """Imputation and standardisation statistics from the training accounts (pandas, :data:`RISK_COLUMNS`).

    Rule: after ``log1p`` of :data:`RISK_LOG_COLUMNS`, a null takes the column's training median (0 when the
    training column is all null, e.g. ``spam_share`` without ``gold/post_spam``); then each column is centred on its
    training mean and divided by its training standard deviation, at least ``std_floor`` (1 when both are 0). The
    floor keeps a nearly constant column (a share that is 0 for almost every account) from turning a difference of
    a fraction of a percentage point into many standard deviations.

    Returns:
        ``{"columns", "log1p", "median", "mean", "std", "null_share"}`` (lists in column order; JSON-ready).
    """
    raw = _log_frame(train)
    median = raw.median(skipna=True).fillna(0.0)
    filled = raw.fillna(median)
    std = filled.std(ddof=0).fillna(0.0).clip(lower=std_floor).replace(0.0, 1.0)
    return {
        "columns": list(RISK_COLUMNS),
        "log1p": list(RISK_LOG_COLUMNS),
        "median": [float(median[c]) for c in RISK_COLUMNS],
        "mean": [float(filled[c].mean()) if len(filled) else 0.0 for c in RISK_COLUMNS],
        "std": [float(std[c]) for c in RISK_COLUMNS],
        "null_share": [float(raw[c].isna().mean()) if len(raw) else 0.0 for c in RISK_COLUMNS],
    }


def _log_frame(frame: pd.DataFrame) -> pd.DataFrame:
    raw = frame[list(RISK_COLUMNS)].astype("float64")
    for c in RISK_LOG_COLUMNS:
        raw[c] = np.log1p(raw[c])
    return raw


def encode_risk(frame: pd.DataFrame, stats: dict[str, Any]) -> np.ndarray:
    """Accounts (pandas with :data:`RISK_COLUMNS`, nullable) -> the model's input, float32 ``[n, len(columns)]``:
    ``log1p``, nulls imputed and standardised with ``stats`` (:func:`fit_risk_stats`, fitted on train)."""
    raw = _log_frame(frame)
    filled = raw.fillna(pd.Series(stats["median"], index=list(RISK_COLUMNS)))
    return ((filled.to_numpy() - np.asarray(stats["mean"])) / np.asarray(stats["std"])).astype(np.float32)

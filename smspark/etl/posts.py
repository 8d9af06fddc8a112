"""Posts: landing JSON lines -> bronze (parse, type, quarantine) -> silver (clean, pseudonymise, de-duplicate).

Pure DataFrame functions; the ``ingest`` and ``etl`` jobs do the reading and writing.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from smspark.etl.jsonlines import conform, first_reason, line_checks, parse_json_lines, rejected_lines, source_of
from smspark.etl.pseudonymise import clean_text_col, post_pseudonym, pseudonym_col
from smspark.schemas import BRONZE_POSTS, LANDING_POST, QUARANTINE, SENTIMENT_CLASSES, SILVER_POSTS


def parse_posts(
    lines: DataFrame, ingest_date: dt.date, max_text_chars: int | None = None
) -> tuple[DataFrame, DataFrame]:
    """Parse landing lines into bronze posts; reject what cannot be parsed.

    Tolerated and kept: a UTF-8 byte-order mark before a line (a file saved by a Windows editor starts with one),
    CR/LF line ends (Spark's text source splits on ``\\n``, ``\\r\\n`` and ``\\r``; JSON ignores a stray
    ``\\r``), and control characters such as NUL written raw inside a JSON string (strict JSON wants them escaped;
    :func:`smspark.etl.text.normalise_text` strips them from the silver text, bronze keeps the text as exported).

    Args:
        lines: one row per raw line with ``value`` (string as read by Spark's text source: raw bytes, possibly
            not valid UTF-8) and ``source_file`` (string path ``.../posts/<corpus>/<file>``).
        ingest_date: the bronze partition these rows land in.
        max_text_chars: a post whose ``text`` has more characters is quarantined (``config.ingest.max_post_chars``);
            None: no limit.

    Returns:
        ``(bronze, quarantine)``: bronze rows with schema :data:`BRONZE_POSTS`; rejected lines with schema
        :data:`QUARANTINE` and one of the reasons ``not valid UTF-8``, ``empty line``, ``malformed JSON``,
        ``missing id``, ``missing text``, ``text too long (more than <n> characters)``,
        ``created_at is not an ISO-8601 timestamp``, ``label not one of negative/neutral/positive``,
        ``negative count``. Every input line is in exactly one; ``raw`` is the line as read.
    """
    p = parse_json_lines(lines, LANDING_POST)
    too_long = F.lit(False) if max_text_chars is None else F.length(F.col("j.text")) > max_text_chars
    created = F.try_to_timestamp(F.col("j.created_at"))
    label = F.lower(F.trim(F.col("j.label")))
    reason = first_reason(
        *line_checks(),
        (F.coalesce(F.trim(F.col("j.id")), F.lit("")) == "", "missing id"),
        (F.coalesce(F.trim(F.col("j.text")), F.lit("")) == "", "missing text"),
        (too_long, f"text too long (more than {max_text_chars} characters)"),
        (F.col("j.created_at").isNotNull() & created.isNull(), "created_at is not an ISO-8601 timestamp"),
        (label.isNotNull() & ~label.isin(*SENTIMENT_CLASSES), "label not one of " + "/".join(SENTIMENT_CLASSES)),
        ((F.col("j.retweet_count") < 0) | (F.col("j.favorite_count") < 0), "negative count"),
    )
    p = p.withColumn("reason", reason)
    day = F.lit(ingest_date).cast("date")
    bronze = p.where(F.col("reason").isNull()).select(
        F.trim(F.col("j.id")).alias("post_id"),
        source_of(F.col("source_file")).alias("corpus"),
        F.col("j.author").alias("author"),
        created.alias("created_at"),
        F.col("j.text").alias("text"),
        F.col("j.source").alias("client"),
        F.col("j.retweet_count").alias("retweet_count"),
        F.col("j.favorite_count").alias("favorite_count"),
        F.col("j.in_reply_to").alias("in_reply_to"),
        label.alias("label"),
        F.col("j.label_confidence").alias("label_confidence"),
        "source_file",
        day.alias("ingest_date"),
    )
    return conform(bronze, BRONZE_POSTS), rejected_lines(p, "posts", ingest_date)


def clean_posts(bronze: DataFrame, key: bytes) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Bronze posts -> silver posts: :func:`normalise_posts` then :func:`dedupe_posts` (see both).

    Returns:
        ``(silver, quarantine, duplicates)`` with ``rows(bronze) == rows(silver) + rows(quarantine) +
        rows(duplicates)``.
    """
    return dedupe_posts(normalise_posts(bronze, key))


def normalise_posts(bronze: DataFrame, key: bytes) -> DataFrame:
    """Text normalised (:func:`smspark.etl.text.normalise_text`), ``author``/``in_reply_to`` and @mentions
    pseudonymised with ``key`` (HMAC-SHA256), ``post_id`` replaced by its keyed ``p_`` pseudonym (the platform id
    stays in bronze). One row per bronze row; the raw text is kept as ``_raw_text`` only
    to break ties deterministically in :func:`dedupe_posts` (it never reaches silver).
    """
    return bronze.select(
        pseudonym_col(F.col("post_id"), key, post_pseudonym).alias("post_id"),
        "corpus",
        pseudonym_col(F.col("author"), key).alias("author_id"),
        "created_at",
        clean_text_col(F.col("text"), key).alias("text"),
        F.col("text").alias("_raw_text"),
        "client",
        "retweet_count",
        "favorite_count",
        pseudonym_col(F.col("in_reply_to"), key).alias("in_reply_to_author_id"),
        "label",
        "label_confidence",
        "source_file",
        "ingest_date",
    )


def dedupe_posts(df: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Normalised posts -> silver posts, with what was rejected and what was dropped.

    Posts whose text is empty after normalisation are quarantined; duplicates are dropped first by ``post_id``
    (the latest ingest wins), then by exact normalised text within a corpus (the earliest post wins, ties by
    ``post_id``). ``dt`` is the UTC date of ``created_at``, or ``ingest_date`` when the export has no timestamp.

    Returns:
        ``(silver, quarantine, duplicates)``: :data:`SILVER_POSTS` rows; :data:`QUARANTINE` rows; dropped
        duplicates as ``post_id`` + ``reason`` (``duplicate id`` / ``duplicate text``).
    """
    empty = F.coalesce(F.col("text"), F.lit("")) == ""
    quarantine = df.where(empty).select(
        F.lit("posts").alias("table"),
        F.lit("etl").alias("stage"),
        "source_file",
        F.lit("text empty after normalisation").alias("reason"),
        F.to_json(F.struct("post_id", "corpus")).alias("raw"),
        F.current_timestamp().alias("quarantined_at"),
        "ingest_date",
    )
    df = df.where(~empty)
    by_id = Window.partitionBy("post_id").orderBy(F.col("ingest_date").desc(), "source_file", "_raw_text")
    by_text = Window.partitionBy("corpus", "text").orderBy(F.col("created_at").asc_nulls_last(), F.col("post_id"))
    df = df.withColumn("_id_rank", F.row_number().over(by_id))
    dup_id = df.where(F.col("_id_rank") > 1).select("post_id", F.lit("duplicate id").alias("reason"))
    df = df.where(F.col("_id_rank") == 1).withColumn("_text_rank", F.row_number().over(by_text))
    dup_text = df.where(F.col("_text_rank") > 1).select("post_id", F.lit("duplicate text").alias("reason"))
    silver = df.where(F.col("_text_rank") == 1).withColumn(
        "dt", F.coalesce(F.to_date(F.col("created_at")), F.col("ingest_date"))
    )
    return conform(silver, SILVER_POSTS), conform(quarantine, QUARANTINE), dup_id.unionByName(dup_text)

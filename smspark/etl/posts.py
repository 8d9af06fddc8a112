"""Posts: landing JSON lines -> bronze (parse, type, quarantine) -> silver (clean, pseudonymise, de-duplicate).

Pure DataFrame functions; the ``ingest`` and ``etl`` jobs do the reading and writing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from smspark.etl.jsonlines import (
    checked_lines,
    conform,
    first_reason,
    line_checks,
    parse_json_lines,
    rejected_lines,
    source_of,
)
from smspark.etl.parsed import ParsedLines
from smspark.etl.partitions import month_col
from smspark.etl.pseudonymise import clean_text_col, post_pseudonym, pseudonym_col
from smspark.schemas import BRONZE_POSTS, LANDING_POST, QUARANTINE, SENTIMENT_CLASSES, SILVER_POSTS


def parse_posts(lines: DataFrame, ingest_date: dt.date, max_text_chars: int | None = None) -> ParsedLines:
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
        :class:`~smspark.etl.parsed.ParsedLines` ``(bronze, quarantine, checked)``: bronze rows with schema
        :data:`BRONZE_POSTS`; rejected lines with schema :data:`QUARANTINE` and one of the reasons
        ``not valid UTF-8``, ``empty line``, ``malformed JSON``, ``missing id``, ``missing text``,
        ``text too long (more than <n> characters)``, ``created_at is not an ISO-8601 timestamp``,
        ``label not one of negative/neutral/positive``, ``negative count``. Every input line is in exactly one;
        ``raw`` is the line as read. Persist ``checked`` to parse each line once for both.
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
    p = checked_lines(p, reason)
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
        F.coalesce(F.col("j.replica"), F.lit(0)).alias("replica"),
        "source_file",
        day.alias("ingest_date"),
    )
    return ParsedLines(conform(bronze, BRONZE_POSTS), rejected_lines(p, "posts", ingest_date), p)


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
        F.coalesce(F.col("replica"), F.lit(0)).alias("replica"),  # 0 also in bronze written before replicas
        "source_file",
        "ingest_date",
    )


#: The text de-duplication key: one post per normalised text within a corpus and replayed copy.
TEXT_KEY: tuple[str, ...] = ("corpus", "replica", "text")


def _split_empty(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """``(posts with a text, quarantine rows of the posts whose text is empty after normalisation)``."""
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
    return df.where(~empty), conform(quarantine, QUARANTINE)


def _dedupe_ids(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """``(one row per post_id: the latest ingest's, ties by source file and raw text, with the id's first
    ingest_date; the others as duplicates)``."""
    by_id = Window.partitionBy("post_id")
    df = df.withColumn(
        "_id_rank", F.row_number().over(by_id.orderBy(F.col("ingest_date").desc(), "source_file", "_raw_text"))
    ).withColumn("_first_ingest", F.min("ingest_date").over(by_id))
    dup_id = df.where(F.col("_id_rank") > 1).select("post_id", F.lit("duplicate id").alias("reason"))
    kept = df.where(F.col("_id_rank") == 1).withColumn("ingest_date", F.col("_first_ingest"))
    return kept.drop("_id_rank", "_first_ingest"), dup_id


def _text_rank(df: DataFrame) -> DataFrame:
    """``df`` with ``_text_rank``: 1 for the earliest post (ties by ``post_id``) of each :data:`TEXT_KEY` group."""
    by_text = Window.partitionBy(*TEXT_KEY).orderBy(F.col("created_at").asc_nulls_last(), F.col("post_id"))
    return df.withColumn("_text_rank", F.row_number().over(by_text))


def _silver(df: DataFrame) -> DataFrame:
    """Conform kept posts to :data:`SILVER_POSTS`, with ``dt`` (UTC date of ``created_at``, else the ingest date)
    and ``month``."""
    day = F.coalesce(F.to_date(F.col("created_at")), F.col("ingest_date"))
    return conform(df.withColumn("dt", day).withColumn("month", month_col(day)), SILVER_POSTS)


def dedupe_posts(df: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Normalised posts -> silver posts, with what was rejected and what was dropped.

    Posts whose text is empty after normalisation are quarantined; duplicates are dropped first by ``post_id``
    (the latest ingest's row wins; its ``ingest_date`` is the id's first ingest, so delivering a post again moves
    neither it nor an undated post's ``dt``), then by exact normalised text within a corpus and replayed copy
    (:data:`TEXT_KEY`: the earliest post wins, ties by ``post_id``; a replayed copy of the scaled corpus is a post of
    its own).
    ``dt`` is the UTC date of ``created_at``, or the first ``ingest_date`` when the export has no timestamp;
    ``month`` the first day of its month.

    Returns:
        ``(silver, quarantine, duplicates)``: :data:`SILVER_POSTS` rows; :data:`QUARANTINE` rows; dropped
        duplicates as ``post_id`` + ``reason`` (``duplicate id`` / ``duplicate text``).
    """
    df, quarantine = _split_empty(df)
    df, dup_id = _dedupe_ids(df)
    df = _text_rank(df)
    dup_text = df.where(F.col("_text_rank") > 1).select("post_id", F.lit("duplicate text").alias("reason"))
    silver = _silver(df.where(F.col("_text_rank") == 1))
    return silver, quarantine, dup_id.unionByName(dup_text)


@dataclass
class PostsMerge:
    """What merging new posts into silver changes (see :func:`merge_posts`).

    Attributes:
        added: new :data:`SILVER_POSTS` rows.
        removed: silver rows that leave (``post_id``, ``month`` date, ``reason``): ``duplicate id`` (an older
            ingest of a re-delivered post) or ``duplicate text`` (an existing post beaten by an earlier new one).
        quarantine: :data:`QUARANTINE` rows of the new posts (text empty after normalisation).
        duplicates: dropped new rows (``post_id``, ``reason``); with ``removed`` every duplicate dropped.
        changed: re-delivered posts whose ``corpus``/``replica``/``text``/``created_at`` differ from their silver
            row (``post_id``): the merge is exact only when this is empty (a post that changes its text may free a
            text that an earlier run dropped as a duplicate, and only a full rebuild sees dropped rows).
        cached: the intermediate frames marked for persisting (``merge_posts(..., persist=True)``; empty
            otherwise): the caller unpersists them when done with the outputs.
    """

    added: DataFrame
    removed: DataFrame
    quarantine: DataFrame
    duplicates: DataFrame
    changed: DataFrame
    cached: list[DataFrame] = field(default_factory=list)


def touched_silver(silver: DataFrame, new: DataFrame, broadcast: bool = True) -> DataFrame:
    """The silver rows a merge of ``new`` can change: those sharing a ``post_id`` or a :data:`TEXT_KEY` with a
    ``new`` row (every :data:`SILVER_POSTS` column). Passing them as ``silver`` to :func:`merge_posts` gives the same
    result as the whole table, and lets the caller cache the few rows a day touches instead of scanning silver for
    each output.

    Args:
        silver: silver posts (:data:`SILVER_POSTS`).
        new: normalised posts (:func:`normalise_posts`).
        broadcast: send ``new``'s keys to every task instead of shuffling silver (for a batch of up to a few
            hundred thousand posts).
    """
    ids, texts = new.select("post_id"), new.select(*TEXT_KEY)
    if broadcast:  # silver is not shuffled: each task filters its rows against the new keys
        ids, texts = F.broadcast(ids), F.broadcast(texts)
    by_id = silver.join(ids, "post_id", "left_semi")
    by_text = silver.join(texts, list(TEXT_KEY), "left_semi")
    return by_id.unionByName(by_text).dropDuplicates(["post_id"])


def _all_equal(left: str, right: str, columns: list[str]) -> Column:
    """True where the aliased rows ``left`` and ``right`` agree on every column (nulls equal)."""
    return reduce(lambda a, b: a & b, [F.col(f"{left}.{c}").eqNullSafe(F.col(f"{right}.{c}")) for c in columns])


def merge_posts(silver: DataFrame, new: DataFrame, persist: bool = False) -> PostsMerge:
    """Merge newly ingested posts into silver by key, with the rules of :func:`dedupe_posts`.

    The result equals :func:`dedupe_posts` over all the bronze rows behind ``silver`` and ``new`` provided every
    ``new`` row was ingested later than every row behind ``silver`` (a re-delivered ``post_id`` takes the new row,
    with the ``ingest_date`` of its silver row) and ``changed`` is empty. Only the silver rows of the touched
    :data:`TEXT_KEY` groups and of the re-delivered ids take part, and a re-delivered post equal to its silver row
    leaves it in place, so the caller rewrites only the months of ``added`` and ``removed`` (none for a batch that
    delivers known posts again).

    Args:
        silver: the current silver posts (:data:`SILVER_POSTS`, or at least the rows of :func:`touched_silver`).
        new: normalised posts (:func:`normalise_posts`) of the new bronze partitions.
        persist: mark the frames that several outputs share for persisting (the de-duplicated new posts, their
            silver rows, the silver rivals of their texts, the ranked candidates, the re-deliveries equal to their
            silver row), so that evaluating every output computes the merge plan once instead of once per output
            (Spark recomputes an unpersisted frame for each action, each time as a few more jobs); they are listed
            in :attr:`PostsMerge.cached`. Marking starts no job.

    Returns:
        A :class:`PostsMerge`; ``rows(new) == (rows(added) - rows(removed)) + rows(quarantine) + (rows(duplicates)
        + rows(removed))``: new rows = silver rows added net + quarantined + every duplicate dropped.
    """
    cached: list[DataFrame] = []

    def keep(df: DataFrame) -> DataFrame:
        if persist:
            cached.append(df.persist())
        return df

    kept, quarantine = _split_empty(new)
    unique, dup_id = _dedupe_ids(kept)
    unique = keep(unique)
    ids = unique.select("post_id")
    old = keep(silver.join(ids, "post_id", "left_semi"))
    fields = (*TEXT_KEY, "created_at")
    changed = old.alias("o").join(unique.alias("n"), "post_id").where(~_all_equal("o", "n", list(fields)))
    first = old.select("post_id", F.col("ingest_date").alias("_first_ingest"))
    unique = (
        unique.join(first, "post_id", "left")
        .withColumn("ingest_date", F.coalesce(F.col("_first_ingest"), F.col("ingest_date")))
        .drop("_first_ingest")
    )
    rest = silver.join(ids, "post_id", "left_anti")
    rivals = keep(rest.join(unique.select(*TEXT_KEY).distinct(), list(TEXT_KEY), "left_semi"))
    candidates = unique.withColumn("_old", F.lit(False)).unionByName(
        rivals.select("post_id", *fields, F.lit(True).alias("_old")), allowMissingColumns=True
    )
    ranked = keep(_text_rank(candidates))
    winners = _silver(ranked.where((F.col("_text_rank") == 1) & ~F.col("_old")))
    columns = [c for c in SILVER_POSTS.fieldNames() if c != "post_id"]
    same = keep(
        winners.alias("n").join(old.alias("o"), "post_id").where(_all_equal("o", "n", columns)).select("post_id")
    )
    added = winners.join(same, "post_id", "left_anti")
    beaten = ranked.where((F.col("_text_rank") > 1) & F.col("_old")).select("post_id")
    removed = (
        old.join(same, "post_id", "left_anti")
        .select("post_id", "month", F.lit("duplicate id").alias("reason"))
        .unionByName(
            rivals.join(beaten, "post_id", "left_semi").select(
                "post_id", "month", F.lit("duplicate text").alias("reason")
            )
        )
    )
    dropped = ranked.where((F.col("_text_rank") > 1) & ~F.col("_old")).select(
        "post_id", F.lit("duplicate text").alias("reason")
    )
    dropped = dropped.unionByName(same.select("post_id", F.lit("duplicate id").alias("reason")))
    return PostsMerge(added, removed, quarantine, dup_id.unionByName(dropped), changed.select("post_id"), cached)

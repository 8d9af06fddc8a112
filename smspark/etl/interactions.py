"""Interactions (MovieLens ratings) and items: landing lines -> bronze (parse, type, quarantine) -> silver (clean,
pseudonymise, de-duplicate).

Pure DataFrame functions; the ``ingest`` and ``etl`` steps of :mod:`smspark.jobs.steps.interactions` read and
write. Input ``lines`` are what ``spark.read.text`` gives: ``value`` (one line, header lines already removed with
:func:`drop_header`) and ``source_file``. Formats: see :mod:`smspark.sources.movielens`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from smspark.etl.parsed import ParsedLines
from smspark.etl.partitions import month_col
from smspark.etl.pseudonymise import pseudonym_col
from smspark.schemas import BRONZE_INTERACTIONS, BRONZE_ITEMS, QUARANTINE, SILVER_INTERACTIONS, SILVER_ITEMS
from smspark.sources.movielens import ML_100K, ML_LATEST, RATING_RANGE

#: ``ml-latest`` marks a movie without genres with this pseudo-genre; silver keeps an empty list instead.
NO_GENRES = "(no genres listed)"
_YEAR_SUFFIX = r"\s*\((\d{4})\)\s*$"
_CORRUPT = "_corrupt"
#: The de-duplication key of silver interactions.
KEY: tuple[str, ...] = ("user_id", "item_id", "event_time")
#: Reason of a dropped rating whose key another rating of the same bronze rows has.
DUPLICATE = "duplicate (user, item, time)"
#: Reason of a dropped new rating whose key silver holds with the same rating.
IN_SILVER = "duplicate (user, item, time) already in silver"


def drop_header(lines: DataFrame, first_column: str) -> DataFrame:
    """Remove CSV header lines (first field equal to ``first_column``, case-insensitive, BOM tolerated)."""
    first = F.lower(F.trim(F.regexp_replace(F.substring_index(F.col("value"), ",", 1), "^\ufeff", "")))
    return lines.where(~first.eqNullSafe(F.lit(first_column.lower())))


def decode_latin1(lines: DataFrame) -> DataFrame:
    """Re-decode ``value`` from ISO-8859-1 (``u.item``). Spark's text source keeps a line's raw bytes, which the
    binary cast recovers, so ``é`` (0xE9) comes back as ``é`` rather than U+FFFD."""
    return lines.withColumn("value", F.decode(F.col("value").cast("binary"), "ISO-8859-1"))


def _first_reason(*checks: tuple[Column, str]) -> Column:
    expr = F.lit(None).cast("string")
    for cond, reason in reversed(checks):
        expr = F.when(cond, F.lit(reason)).otherwise(expr)
    return expr


def _quarantine(df: DataFrame, table: str, stage: str, raw: Column, ingest_date: Column) -> DataFrame:
    return conform(
        df.select(
            F.lit(table).alias("table"),
            F.lit(stage).alias("stage"),
            "source_file",
            "reason",
            raw.alias("raw"),
            F.current_timestamp().alias("quarantined_at"),
            ingest_date.alias("ingest_date"),
        ),
        QUARANTINE,
    )


def _csv_fields(n: int) -> Column:
    schema = ", ".join(f"c{i} STRING" for i in range(n)) + f", {_CORRUPT} STRING"
    return F.from_csv(F.col("value"), schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT})


def parse_ratings(lines: DataFrame, fmt: str, ingest_date: dt.date) -> ParsedLines:
    """Parse rating lines of a ``ml-latest`` ``ratings.csv`` or a ``ml-100k`` ``u.data`` into bronze interactions.

    Args:
        lines: ``value`` (string line, header removed), ``source_file`` (string).
        fmt: ``"ml-latest"`` (comma-separated with CSV quoting) or ``"ml-100k"`` (tab/whitespace-separated).
        ingest_date: the bronze partition.

    Returns:
        :class:`~smspark.etl.parsed.ParsedLines` ``(bronze, quarantine, checked)``: :data:`BRONZE_INTERACTIONS`
        rows (``user_id`` the integer id as text, ``rating`` float32 stars, ``event_time`` from unix seconds);
        rejected lines (:data:`QUARANTINE`) with the first failing reason of ``empty line``,
        ``wrong number of fields (expected 4)``, ``user id is not an integer``, ``item id is not an integer``,
        ``rating is not a number``, ``timestamp is not unix seconds``, ``rating out of range [lo, hi]`` (0.5..5 for
        ml-latest, 1..5 for ml-100k). Every line lands in exactly one. Persist ``checked`` to parse each line once
        for both.

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt == ML_LATEST:
        p = lines.select("value", "source_file", _csv_fields(4).alias("f"))
        wrong = F.col(f"f.{_CORRUPT}").isNotNull() | F.col("f").isNull()
        user, item, rating, ts = (F.trim(F.col(f"f.c{i}")) for i in range(4))
    elif fmt == ML_100K:
        parts = F.split(F.trim(F.col("value")), r"\s+")
        p = lines.select("value", "source_file", parts.alias("f"))
        wrong = F.size("f") != 4
        # get(): null past the end (a short line is quarantined; indexing would fail the whole job under ANSI mode)
        user, item, rating, ts = (F.get(F.col("f"), i) for i in range(4))
    else:
        raise ValueError(f"unknown MovieLens format {fmt!r}")
    lo, hi = RATING_RANGE[fmt]
    p = p.select(
        "value",
        "source_file",
        wrong.alias("_wrong"),
        user.try_cast("long").alias("_user"),
        item.try_cast("int").alias("_item"),
        rating.try_cast("double").alias("_rating"),
        ts.try_cast("long").alias("_ts"),
    )
    reason = _first_reason(
        (F.trim(F.col("value")) == "", "empty line"),
        (F.col("_wrong"), "wrong number of fields (expected 4)"),
        (F.col("_user").isNull(), "user id is not an integer"),
        (F.col("_item").isNull(), "item id is not an integer"),
        (F.col("_rating").isNull() | F.isnan("_rating"), "rating is not a number"),
        (F.col("_ts").isNull(), "timestamp is not unix seconds"),
        ((F.col("_rating") < lo) | (F.col("_rating") > hi), f"rating out of range [{lo:g}, {hi:g}]"),
    )
    p = p.withColumn("reason", reason)
    day = F.lit(ingest_date).cast("date")
    bronze = p.where(F.col("reason").isNull()).select(
        F.col("_user").cast("string").alias("user_id"),
        F.col("_item").alias("item_id"),
        F.col("_rating").alias("rating"),
        F.timestamp_seconds("_ts").alias("event_time"),
        F.lit(fmt).alias("source_format"),
        "source_file",
        day.alias("ingest_date"),
    )
    quarantine = _quarantine(p.where(F.col("reason").isNotNull()), "interactions", "ingest", F.col("value"), day)
    return ParsedLines(conform(bronze, BRONZE_INTERACTIONS), quarantine, p)


def _title_and_year(title: Column) -> tuple[Column, Column]:
    year = F.regexp_extract(title, _YEAR_SUFFIX, 1)
    clean = F.trim(F.regexp_replace(title, _YEAR_SUFFIX, ""))
    return F.when(clean != "", clean), F.when(year != "", year.cast("int"))


def parse_items(
    lines: DataFrame, fmt: str, ingest_date: dt.date, genre_names: Sequence[str] | None = None
) -> ParsedLines:
    """Parse an item catalogue: ``ml-latest`` ``movies.csv`` or ``ml-100k`` ``u.item`` (already latin-1 decoded,
    see :func:`decode_latin1`).

    The title loses its trailing ``(year)``, which becomes ``year`` (100K: from the release date ``01-Jan-1995``
    when the title has none). Genres: ``movies.csv`` ``|``-separated names (``(no genres listed)`` -> empty);
    ``u.item`` the names of the flags set to 1, in ``genre_names`` order.

    Returns:
        :class:`~smspark.etl.parsed.ParsedLines` ``(bronze, quarantine, checked)``: :data:`BRONZE_ITEMS` rows;
        rejected lines with reasons ``empty line``, ``wrong number of fields (expected n)``,
        ``item id is not an integer``, ``genre flags are not 0/1``. Persist ``checked`` to parse each line once.

    Raises:
        ValueError: unknown ``fmt``, or ``ml-100k`` without ``genre_names``.
    """
    if fmt == ML_LATEST:
        p = lines.select("value", "source_file", _csv_fields(3).alias("f"))
        wrong = F.col(f"f.{_CORRUPT}").isNotNull() | F.col("f").isNull()
        expected = 3
        item = F.trim(F.col("f.c0"))
        title, year = _title_and_year(F.col("f.c1"))
        names = F.split(F.coalesce(F.col("f.c2"), F.lit("")), r"\|")
        genres = F.filter(F.transform(names, F.trim), lambda g: (g != "") & (g != NO_GENRES))
        flags_ok = F.lit(True)
    elif fmt == ML_100K:
        if not genre_names:
            raise ValueError("ml-100k items need the genre names (u.genre or the standard 19)")
        expected = 5 + len(genre_names)
        p = lines.select("value", "source_file", F.split(F.col("value"), r"\|", -1).alias("f"))
        wrong = F.size("f") != expected
        item = F.trim(F.col("f")[0])
        title, year = _title_and_year(F.col("f")[1])
        release_year = F.regexp_extract(F.col("f")[2], r"(\d{4})\s*$", 1)
        year = F.coalesce(year, F.when(release_year != "", release_year.cast("int")))
        flags = [F.trim(F.col("f")[5 + i]) for i in range(len(genre_names))]
        flags_ok = F.lit(True)
        for flag in flags:
            flags_ok = flags_ok & flag.isin("0", "1")
        genres = F.filter(
            F.array(*[F.when(flag == "1", F.lit(name)) for flag, name in zip(flags, genre_names, strict=True)]),
            lambda g: g.isNotNull(),
        )
    else:
        raise ValueError(f"unknown MovieLens format {fmt!r}")
    p = p.select(
        "value",
        "source_file",
        wrong.alias("_wrong"),
        item.try_cast("int").alias("item_id"),
        title.alias("title"),
        year.alias("year"),
        genres.alias("genres"),
        flags_ok.alias("_flags_ok"),
    )
    reason = _first_reason(
        (F.trim(F.col("value")) == "", "empty line"),
        (F.col("_wrong"), f"wrong number of fields (expected {expected})"),
        (F.col("item_id").isNull(), "item id is not an integer"),
        (~F.col("_flags_ok"), "genre flags are not 0/1"),
    )
    p = p.withColumn("reason", reason)
    day = F.lit(ingest_date).cast("date")
    bronze = p.where(F.col("reason").isNull()).select(
        "item_id",
        "title",
        "year",
        "genres",
        F.lit(fmt).alias("source_format"),
        "source_file",
        day.alias("ingest_date"),
    )
    quarantine = _quarantine(p.where(F.col("reason").isNotNull()), "items", "ingest", F.col("value"), day)
    return ParsedLines(conform(bronze, BRONZE_ITEMS), quarantine, p)


def clean_items(bronze_items: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Bronze items -> silver items: one row per ``item_id``, the latest ingest wins (ties by source file).

    Returns:
        ``(silver, duplicates)``: :data:`SILVER_ITEMS` rows; dropped older copies (``item_id``, ``reason``
        ``duplicate item id``). ``rows(bronze) == rows(silver) + rows(duplicates)``.
    """
    w = Window.partitionBy("item_id").orderBy(F.col("ingest_date").desc(), F.col("source_file").desc())
    ranked = bronze_items.withColumn("_rank", F.row_number().over(w))
    dups = ranked.where(F.col("_rank") > 1).select("item_id", F.lit("duplicate item id").alias("reason"))
    return conform(ranked.where(F.col("_rank") == 1), SILVER_ITEMS), dups


def items_from_interactions(silver_interactions: DataFrame) -> DataFrame:
    """A catalogue for an export without an item file: every rated ``item_id``, no title/year, no genres."""
    return conform(
        silver_interactions.select("item_id")
        .distinct()
        .select(
            "item_id",
            F.lit(None).cast("string").alias("title"),
            F.lit(None).cast("int").alias("year"),
            F.array().cast("array<string>").alias("genres"),
        ),
        SILVER_ITEMS,
    )


def pseudonymise_interactions(bronze: DataFrame, key: bytes) -> DataFrame:
    """Bronze interactions with ``user_id`` replaced by ``pseudonym(user_id, key)``
    (:func:`smspark.etl.pseudonymise.pseudonym`, the same keyed HMAC as post authors). Cache the result when it
    feeds several outputs: the HMAC runs in a Python UDF."""
    return bronze.withColumn("user_id", pseudonym_col(F.col("user_id"), key))


def clean_interactions(
    interactions: DataFrame, known_items: DataFrame | None = None
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Pseudonymised bronze interactions (:func:`pseudonymise_interactions`) -> silver interactions.

    With ``known_items`` (a DataFrame with ``item_id``: the catalogue), ratings of other items are quarantined as
    ``unknown item``. Duplicates, the same (user, item, event_time) more than once (:data:`KEY`), keep one rating:
    that of the latest ingest, then the first source file, then the highest rating. The kept row's ``ingest_date``
    is the first ingest that delivered that rating for the key, so a re-delivery of the same rating leaves the
    silver row as it was (what lets :func:`merge_interactions` skip it). ``dt`` = UTC date of ``event_time``,
    ``month`` the first day of its month (the partition, :mod:`smspark.etl.partitions`).

    Returns:
        ``(silver, quarantine, duplicates)``: :data:`SILVER_INTERACTIONS`, :data:`QUARANTINE` (``raw`` is a JSON of
        the pseudonymised row) and dropped duplicates (``user_id``, ``item_id``, ``reason``).
        ``rows(input) == rows(silver) + rows(quarantine) + rows(duplicates)``.
    """
    df = interactions.select("user_id", "item_id", "rating", "event_time", "source_file", "ingest_date")
    if known_items is not None:
        catalogue = known_items.select("item_id").distinct().withColumn("_known", F.lit(True))
        df = df.join(catalogue, "item_id", "left")
        unknown = df.where(F.col("_known").isNull()).withColumn("reason", F.lit("unknown item (not in the catalogue)"))
        raw = F.to_json(F.struct("user_id", "item_id", "rating", "event_time"))
        quarantine = _quarantine(unknown, "interactions", "etl", raw, F.col("ingest_date"))
        df = df.where(F.col("_known").isNotNull()).drop("_known")
    else:
        quarantine = interactions.sparkSession.createDataFrame([], QUARANTINE)
    w = Window.partitionBy(*KEY).orderBy(F.col("ingest_date").desc(), F.col("source_file"), F.col("rating").desc())
    df = df.withColumn("_rank", F.row_number().over(w)).withColumn("_kept", F.first("rating").over(w))
    same = F.when(F.col("rating") == F.col("_kept"), F.col("ingest_date"))
    df = df.withColumn("_first", F.min(same).over(Window.partitionBy(*KEY)))
    dups = df.where(F.col("_rank") > 1).select("user_id", "item_id", F.lit(DUPLICATE).alias("reason"))
    silver = df.where(F.col("_rank") == 1).withColumn("ingest_date", F.col("_first"))
    silver = silver.withColumn("dt", F.to_date("event_time")).withColumn("month", month_col(F.col("dt")))
    return conform(silver, SILVER_INTERACTIONS), quarantine, dups


@dataclass
class InteractionsMerge:
    """What merging new bronze interactions into silver gives (:func:`merge_interactions`).

    Attributes:
        added: new silver rows (:data:`SILVER_INTERACTIONS`), none with the key of a silver row.
        quarantine: the new rows' rejects (:data:`QUARANTINE`).
        duplicates: dropped new rows (``user_id``, ``item_id``, ``reason``): :data:`DUPLICATE` within the new rows,
            :data:`IN_SILVER` for a rating silver holds already (the silver row is kept as it is).
        changed: keys (:data:`KEY`) whose kept new rating differs from silver's; a merge is exact only when empty.
    """

    added: DataFrame
    quarantine: DataFrame
    duplicates: DataFrame
    changed: DataFrame


def merge_interactions(silver: DataFrame, new: DataFrame, known_items: DataFrame | None = None) -> InteractionsMerge:
    """Merge newly ingested interactions into silver with the rules of :func:`clean_interactions`.

    The result equals :func:`clean_interactions` over all the bronze rows behind ``silver`` and ``new`` (with the
    same ``known_items``) provided every ``new`` row was ingested later than every row behind ``silver`` and
    ``changed`` is empty: the new rows are cleaned among themselves, then a key silver holds with the same rating
    keeps its silver row (with the earlier ``ingest_date``) and a key silver lacks is added.

    Args:
        silver: silver interactions (:data:`SILVER_INTERACTIONS`; :data:`KEY` and ``rating`` are read).
        new: pseudonymised bronze interactions (:func:`pseudonymise_interactions`) of the new bronze partitions.
        known_items: the catalogue (``item_id``) or None, as for :func:`clean_interactions`.

    Returns:
        An :class:`InteractionsMerge`; ``rows(new) == rows(added) + rows(quarantine) + rows(duplicates)`` when
        ``changed`` is empty.
    """
    batch, quarantine, dups = clean_interactions(new, known_items)
    old = silver.select(*KEY, F.col("rating").alias("_silver_rating"))
    joined = batch.join(old, list(KEY), "left")
    added = conform(joined.where(F.col("_silver_rating").isNull()), SILVER_INTERACTIONS)
    held = joined.where(F.col("_silver_rating") == F.col("rating"))
    in_silver = held.select("user_id", "item_id", F.lit(IN_SILVER).alias("reason"))
    changed = joined.where(F.col("_silver_rating") != F.col("rating")).select(*KEY)
    return InteractionsMerge(added, quarantine, dups.unionByName(in_silver), changed)


def quarantined_item_ids(quarantine: DataFrame) -> DataFrame:
    """``item_id`` (int) of the ratings the etl stage quarantined as ``unknown item`` (read from ``raw``, the JSON
    of the pseudonymised row): the ratings a larger catalogue would let into silver."""
    unknown = quarantine.where((F.col("stage") == "etl") & F.col("reason").startswith("unknown item"))
    return unknown.select(F.get_json_object("raw", "$.item_id").cast("int").alias("item_id")).distinct()


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select and cast ``df`` to ``schema``'s columns, in order (nullability is the writer's concern: a column whose
    type differs only in nullability, such as ``array<string>`` with or without null elements, is left as it is)."""
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    return df.select(
        *[
            F.col(f.name) if types.get(f.name) == f.dataType.simpleString() else F.col(f.name).cast(f.dataType)
            for f in schema.fields
        ]
    )


__all__ = [
    "ML_100K",
    "ML_LATEST",
    "clean_interactions",
    "clean_items",
    "conform",
    "decode_latin1",
    "drop_header",
    "items_from_interactions",
    "merge_interactions",
    "parse_items",
    "parse_ratings",
    "pseudonymise_interactions",
    "quarantined_item_ids",
]

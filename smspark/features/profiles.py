"""User profiles: one row of behavioural aggregates per pseudonymised user (interactions) and per author (posts).

Every column is a per-user statistic of already pseudonymised silver rows, so a profile holds no identifier but the
keyed pseudonym. Columns common to both sources: ``n_events`` (ratings or posts), ``active_days`` (distinct UTC
dates with an event), ``events_per_active_day``, the hour-of-day mix (shares of events at night 0-5 h, morning
6-11 h, afternoon 12-17 h, evening 18-23 h) and ``hour_entropy`` (Shannon entropy in bits of the 24-bin hour-of-day
histogram, 0..log2(24)). Interaction users add ``rating_mean``, ``rating_std`` (sample standard deviation, 0 for
a single rating) and ``genre_<g>`` shares (fraction of the user's ratings whose item carries genre ``g``, for the
:data:`TOP_GENRES`); authors add ``reply_share``, ``mentions_per_post`` (pseudonymised ``@u_`` handles),
``links_per_post`` (``<url>`` tokens), ``mean_length`` (characters of the normalised text) and the client mix
(shares of web, iPhone, Android and other clients). Columns of the other source are null. Schema:
:data:`smspark.schemas.SILVER_USER_PROFILES`.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from smspark.schemas import SILVER_USER_PROFILES

#: The most frequent MovieLens genres (GroupLens ``movies.csv`` vocabulary); other genres count in no share column.
TOP_GENRES: tuple[str, ...] = ("Drama", "Comedy", "Action", "Thriller", "Romance", "Adventure", "Crime", "Sci-Fi")
#: Hour-of-day buckets: name -> [first hour, last hour].
HOUR_BUCKETS: dict[str, tuple[int, int]] = {
    "night": (0, 5),
    "morning": (6, 11),
    "afternoon": (12, 17),
    "evening": (18, 23),
}
#: Client buckets: name -> lower-case substring of the posting client's name (``other`` for the rest and nulls).
CLIENTS: dict[str, str] = {"web": "web", "iphone": "iphone", "android": "android"}
_PSEUDONYM = r"@u_[0-9a-f]{16}"


def genre_column(genre: str) -> str:
    """``genre_<g>`` column name of a genre: lower-case, non-alphanumerics as ``_`` (``Sci-Fi`` -> ``genre_sci_fi``)."""
    return "genre_" + "".join(c if c.isalnum() else "_" for c in genre.lower())


def _activity(events: DataFrame) -> DataFrame:
    """Columns common to both sources from ``(user_id, ts)`` rows: one row per user."""
    hour = F.hour("ts")
    n = F.count(F.lit(1))
    shares = [
        (F.sum(F.when(hour.between(lo, hi), 1).otherwise(0)) / n).alias(f"hour_{name}")
        for name, (lo, hi) in HOUR_BUCKETS.items()
    ]
    base = events.groupBy("user_id").agg(
        n.alias("n_events"), F.countDistinct(F.to_date("ts")).cast("int").alias("active_days"), *shares
    )
    per_hour = events.groupBy("user_id", hour.alias("h")).agg(F.count(F.lit(1)).alias("c"))
    totals = per_hour.groupBy("user_id").agg(F.sum("c").alias("t"))
    p = F.col("c") / F.col("t")
    entropy = per_hour.join(totals, "user_id").groupBy("user_id").agg((-F.sum(p * F.log2(p))).alias("hour_entropy"))
    return base.join(entropy, "user_id").withColumn("events_per_active_day", F.col("n_events") / F.col("active_days"))


def _conform(df: DataFrame) -> DataFrame:
    """Every column of the schema, missing ones as nulls, in order and with its type."""
    return df.select(
        [
            (F.col(f.name) if f.name in df.columns else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in SILVER_USER_PROFILES.fields
        ]
    )


def interaction_profiles(interactions: DataFrame, items: DataFrame, dt: Column) -> DataFrame:
    """One profile per user of silver interactions.

    Args:
        interactions: ``SILVER_INTERACTIONS`` rows (``user_id`` pseudonymised, ``rating`` float stars,
            ``event_time`` timestamp).
        items: ``SILVER_ITEMS`` rows (``genres`` array of genre names); events whose item is missing count in no
            genre share.
        dt: the partition date column value.

    Returns:
        ``SILVER_USER_PROFILES`` rows with ``source = "interactions"``, one per distinct ``user_id``.
    """
    ev = interactions.select("user_id", "item_id", "rating", F.col("event_time").alias("ts"))
    ratings = ev.groupBy("user_id").agg(
        F.avg("rating").alias("rating_mean"), F.coalesce(F.stddev_samp("rating"), F.lit(0.0)).alias("rating_std")
    )
    genres = (
        ev.join(items.select("item_id", "genres"), "item_id")
        .select("user_id", F.explode("genres").alias("g"))
        .where(F.col("g").isin(list(TOP_GENRES)))
        .groupBy("user_id")
        .pivot("g", list(TOP_GENRES))
        .count()
    )
    out = _activity(ev).join(ratings, "user_id").join(genres, "user_id", "left")
    for g in TOP_GENRES:
        out = out.withColumn(genre_column(g), F.coalesce(F.col(f"`{g}`"), F.lit(0)) / F.col("n_events"))
    return _conform(out.withColumn("source", F.lit("interactions")).withColumn("dt", dt))


def author_profiles(posts: DataFrame, dt: Column) -> DataFrame:
    """One profile per author of silver posts (posts without ``author_id`` are not profiled).

    Args:
        posts: ``SILVER_POSTS`` rows (``author_id`` pseudonymised, ``text`` normalised with ``<url>`` tokens and
            ``@u_<16 hex>`` mentions, ``in_reply_to_author_id``, ``client``, ``created_at``).
        dt: the partition date column value.

    Returns:
        ``SILVER_USER_PROFILES`` rows with ``source = "posts"``, one per distinct non-null ``author_id``.
    """
    p = posts.where(F.col("author_id").isNotNull() & F.col("created_at").isNotNull()).select(
        F.col("author_id").alias("user_id"),
        F.col("created_at").alias("ts"),
        "text",
        "in_reply_to_author_id",
        F.lower(F.coalesce(F.col("client"), F.lit(""))).alias("client_l"),
    )
    client_shares = [
        F.avg(F.when(F.col("client_l").contains(sub), 1.0).otherwise(0.0)).alias(f"client_{name}")
        for name, sub in CLIENTS.items()
    ]
    known = F.lit(False)
    for sub in CLIENTS.values():
        known = known | F.col("client_l").contains(sub)
    stats = p.groupBy("user_id").agg(
        F.avg(F.when(F.col("in_reply_to_author_id").isNotNull(), 1.0).otherwise(0.0)).alias("reply_share"),
        F.avg(F.regexp_count("text", F.lit(_PSEUDONYM))).alias("mentions_per_post"),
        F.avg(F.regexp_count("text", F.lit("<url>"))).alias("links_per_post"),
        F.avg(F.length("text")).alias("mean_length"),
        *client_shares,
        F.avg(F.when(known, 0.0).otherwise(1.0)).alias("client_other"),
    )
    out = _activity(p).join(stats, "user_id")
    return _conform(out.withColumn("source", F.lit("posts")).withColumn("dt", dt))


#: Columns common to both sources, then each source's own (the generator's columns, in order).
COMMON_COLUMNS: tuple[str, ...] = (
    "n_events",
    "active_days",
    "events_per_active_day",
    *(f"hour_{name}" for name in HOUR_BUCKETS),
    "hour_entropy",
)
PROFILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "interactions": (*COMMON_COLUMNS, "rating_mean", "rating_std", *(genre_column(g) for g in TOP_GENRES)),
    "posts": (
        *COMMON_COLUMNS,
        "reply_share",
        "mentions_per_post",
        "links_per_post",
        "mean_length",
        *(f"client_{name}" for name in (*CLIENTS, "other")),
    ),
}


def profile_splits(profiles: DataFrame, source: str, train_share: float, seed: int) -> DataFrame:
    """The generator's rows: the profiles of one ``source``, its :data:`PROFILE_COLUMNS` as float64 plus ``user_id``
    and ``split``.

    Users are assigned by ``xxhash64(seed, user_id) mod 10000 / 10000``: below ``train_share`` -> ``train``, the
    rest halved into ``val`` and ``test`` (a user's split depends only on the seed and the pseudonym).

    Raises:
        ValueError: unknown ``source``.
    """
    if source not in PROFILE_COLUMNS:
        raise ValueError(f"unknown profile source {source!r}; known: {sorted(PROFILE_COLUMNS)}")
    u = F.pmod(F.xxhash64(F.lit(seed), F.col("user_id")), F.lit(10_000)) / 10_000.0
    val_end = train_share + (1.0 - train_share) / 2
    split = F.when(u < train_share, "train").when(u < val_end, "val").otherwise("test")
    return profiles.where(F.col("source") == source).select(
        "user_id", *(F.col(c).cast("double").alias(c) for c in PROFILE_COLUMNS[source]), split.alias("split")
    )

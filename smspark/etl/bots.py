"""Labelled bot datasets -> posts and account profiles in the silver posts' terms (pure DataFrame functions).

Two public layouts are read (the I/O is in :mod:`smspark.jobs.evaluation.bots`):

- cresci-2017 (Cresci et al. 2017, "The paradigm-shift of social spambots"): one folder per class
  (``genuine_accounts.csv/``, ``social_spambots_1.csv/``, ``traditional_spambots_1.csv/``, ``fake_followers.csv/``
  ...), each with ``users.csv`` (Twitter user objects flattened: ``id``, ``screen_name``, ``statuses_count``,
  ``followers_count``, ``friends_count``, ``favourites_count``, ``listed_count``, ``default_profile``, ``verified``,
  ``created_at`` ...) and, for most classes, ``tweets.csv`` (``id``, ``text``, ``source`` (the client's HTML
  anchor), ``user_id``, ``created_at`` like ``Sat May 02 16:39:29 +0000 2015`` ...). Every column is read as text.
- TwiBot-20 (Feng et al. 2021): JSON arrays of ``{"ID", "profile": {user fields as text}, "tweet": [texts] | null,
  "neighbor", "domain", "label": "0" | "1"}``; tweets carry no timestamp and no client.

Class ``genuine_accounts`` (TwiBot label ``0``) is human, label 0; every other class is bot, label 1. Tweets become
rows shaped like silver posts (``post_id``, ``author_id``, ``created_at``, ``text``, ``client``): ids through the
keyed pseudonyms of :mod:`smspark.etl.pseudonymise`, text through :func:`smspark.etl.pseudonymise.clean_text_col`
(the posts etl's normalisation: ``<url>`` tokens, pseudonymised mentions), ``client`` the text of the ``source``
anchor (the value itself when it is not an anchor).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from smspark.etl.jsonlines import CORRUPT, first_reason
from smspark.etl.pseudonymise import clean_text_col, post_pseudonym, pseudonym_col

#: The human class of cresci-2017; every other class folder holds bots.
HUMAN_CLASS = "genuine_accounts"
#: Profile counts read from ``users.csv`` (or a TwiBot profile), as doubles.
PROFILE_COUNTS = ("statuses_count", "followers_count", "friends_count", "favourites_count", "listed_count")


def class_name(folder: str) -> str:
    """``social_spambots_1.csv`` -> ``social_spambots_1`` (cresci's folders carry a ``.csv`` suffix or none)."""
    return folder.removesuffix(".csv")


def label_of(cls: Column) -> Column:
    """int label: 0 for :data:`HUMAN_CLASS`, 1 for any other class."""
    return F.when(cls == F.lit(HUMAN_CLASS), F.lit(0)).otherwise(F.lit(1))


def twitter_time(col: Column) -> Column:
    """Timestamp of Twitter's ``created_at`` text (``Sat May 02 16:39:29 +0000 2015``, surrounding space allowed) or
    of an ISO-8601 / ``yyyy-MM-dd HH:mm:ss`` text; null when neither parses. Spark parses no day-of-week names, so
    the leading ``Sat`` is cut before parsing."""
    text = F.trim(col)
    twitter = F.try_to_timestamp(F.substring(text, 5, 100), F.lit("MMM dd HH:mm:ss Z yyyy"))
    return F.coalesce(twitter, F.try_to_timestamp(text))


def client_col(source: Column) -> Column:
    """The client name of a tweet's ``source``: the text of an ``<a ...>name</a>`` anchor, else the trimmed value;
    null when empty."""
    anchor = F.regexp_extract(source, r"<a[^>]*>([^<]*)</a>", 1)
    name = F.trim(F.when(anchor != "", anchor).otherwise(source))
    return F.when(name != "", name)


def _text_col(df: DataFrame, name: str) -> Column:
    """``df[name]`` as a string column, or a null string when ``df`` lacks it."""
    return F.col(name).cast("string") if name in df.columns else F.lit(None).cast("string")


def _flag(col: Column) -> Column:
    """0/1 double of a profile flag written as ``1``/``true``/``True`` (anything else, and null, give 0)."""
    return F.when(F.lower(F.trim(col)).isin("1", "true", "t", "yes"), 1.0).otherwise(0.0)


def account_profiles(users: DataFrame, key: bytes) -> DataFrame:
    """``users.csv`` rows (every column text, plus ``class``) -> profile rows tagged with a rejection reason.

    Args:
        users: rows with ``id`` and ``class`` (string), optionally the :data:`PROFILE_COUNTS`, ``default_profile``,
            ``verified``, and :data:`CORRUPT` (the raw record of a row with the wrong number of fields, as Spark's
            CSV reader fills it).
        key: the pseudonymisation key.

    Returns:
        One row per input row: ``author_id`` (keyed pseudonym of ``id``), ``class``, ``label`` (int), the
        :data:`PROFILE_COUNTS` (double, null when empty or not a number), ``default_profile`` and ``verified`` (0/1
        double), ``_raw`` (JSON of the id) and ``reason``: null for a kept profile (one per account), else ``wrong
        number of fields``, ``missing id`` or ``duplicate id`` (a user id seen again: the first class folder by
        name keeps it). Keep ``reason IS NULL`` rows.
    """
    uid = F.trim(_text_col(users, "id"))
    corrupt = F.col(CORRUPT).isNotNull() if CORRUPT in users.columns else F.lit(False)
    counts = [F.trim(_text_col(users, c)).try_cast("double").alias(c) for c in PROFILE_COUNTS]
    rows = users.select(
        pseudonym_col(uid, key).alias("author_id"),
        "class",
        label_of(F.col("class")).alias("label"),
        *counts,
        _flag(_text_col(users, "default_profile")).alias("default_profile"),
        _flag(_text_col(users, "verified")).alias("verified"),
        F.to_json(F.struct(uid.alias("id"))).alias("_raw"),
        first_reason((corrupt, "wrong number of fields"), (F.coalesce(uid, F.lit("")) == "", "missing id")).alias(
            "_reason"
        ),
    )
    first = Window.partitionBy("author_id").orderBy(F.col("_reason").asc_nulls_first(), "class", "_raw")
    rows = rows.withColumn("_n", F.row_number().over(first))
    reason = F.coalesce(F.col("_reason"), F.when(F.col("_n") > 1, F.lit("duplicate id")))
    return rows.withColumn("reason", reason).drop("_n", "_reason")


def account_posts(tweets: DataFrame, profiles: DataFrame, key: bytes, timestamps: bool = True) -> DataFrame:
    """``tweets.csv`` rows (every column text, plus ``class``) -> posts shaped like silver posts, tagged with a
    rejection reason.

    Args:
        tweets: rows with ``id``, ``user_id``, ``text``, ``class`` (string), optionally ``source``, ``created_at``
            and :data:`CORRUPT`.
        profiles: the kept rows of :func:`account_profiles` (``author_id``).
        key: the pseudonymisation key.
        timestamps: False for a layout without tweet times (TwiBot): ``created_at`` is then the Unix epoch for
            every post, and the caller must discard the cadence features computed from it.

    Returns:
        One row per input row: ``post_id`` (keyed ``p_`` pseudonym of ``<user_id>:<id>``), ``author_id``,
        ``created_at`` (timestamp), ``text`` (normalised, mentions pseudonymised), ``client``, ``class``, ``_raw``
        and ``reason``: null for a kept post, else ``wrong number of fields``, ``missing user_id``, ``missing
        text``, ``created_at is not a Twitter or ISO-8601 time``, ``user_id not in users.csv`` or ``text empty
        after normalisation``.
    """
    uid = F.trim(_text_col(tweets, "user_id"))
    created = twitter_time(_text_col(tweets, "created_at")) if timestamps else F.timestamp_seconds(F.lit(0))
    corrupt = F.col(CORRUPT).isNotNull() if CORRUPT in tweets.columns else F.lit(False)
    t = tweets.select(
        "class",
        pseudonym_col(uid, key).alias("author_id"),
        pseudonym_col(F.concat_ws(":", uid, F.trim(_text_col(tweets, "id"))), key, post_pseudonym).alias("post_id"),
        created.alias("created_at"),
        clean_text_col(_text_col(tweets, "text"), key).alias("text"),
        client_col(_text_col(tweets, "source")).alias("client"),
        first_reason(
            (corrupt, "wrong number of fields"),
            (F.coalesce(uid, F.lit("")) == "", "missing user_id"),
            (F.coalesce(F.trim(_text_col(tweets, "text")), F.lit("")) == "", "missing text"),
        ).alias("_reason"),
        F.to_json(F.struct(uid.alias("user_id"), F.trim(_text_col(tweets, "id")).alias("id"))).alias("_raw"),
    )
    known = profiles.select("author_id", F.lit(True).alias("_known"))
    t = t.join(known, "author_id", "left")
    reason = F.coalesce(
        F.col("_reason"),
        first_reason(
            (F.col("created_at").isNull(), "created_at is not a Twitter or ISO-8601 time"),
            (F.col("_known").isNull(), "user_id not in users.csv"),
            (F.coalesce(F.col("text"), F.lit("")) == "", "text empty after normalisation"),
        ),
    )
    return t.withColumn("reason", reason).drop("_reason", "_known")


def twibot_frames(records: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """TwiBot-style records -> ``(users, tweets, unlabelled)`` in the cresci layout's terms.

    Args:
        records: rows read from the JSON arrays: ``ID`` (string), ``profile`` (struct of text fields, or null),
            ``tweet`` (array of strings, or null), ``label`` (``"0"``/``"1"``; other values or null: unlabelled).

    Returns:
        ``users``: ``id``, ``class`` (``genuine_accounts`` for label 0, ``bots`` for 1), the :data:`PROFILE_COUNTS`,
        ``default_profile``, ``verified`` (text); ``tweets``: ``id`` (position in the list), ``user_id``, ``text``,
        ``class``; ``unlabelled``: rejected rows (``table``, ``class``, ``reason``, ``raw``) of records without a
        0/1 label (``label not 0 or 1``), e.g. TwiBot's ``support.json``.
    """
    label = F.trim(F.col("label").cast("string")) if "label" in records.columns else F.lit(None).cast("string")
    ptype = records.schema["profile"].dataType if "profile" in records.columns else None
    profile_fields = ptype.fieldNames() if isinstance(ptype, StructType) else []  # all-null profiles: no struct
    cls = F.when(label == "0", F.lit(HUMAN_CLASS)).when(label == "1", F.lit("bots"))
    no_tweets = F.array().cast("array<string>")
    profile = [
        F.col(f"profile.{c}").cast("string").alias(c) if c in profile_fields else F.lit(None).cast("string").alias(c)
        for c in (*PROFILE_COUNTS, "default_profile", "verified")
    ]
    tweet = F.col("tweet").cast("array<string>") if "tweet" in records.columns else no_tweets
    # the JSON's own keys are not carried along: Spark resolves names case-insensitively, so "ID" would clash with "id"
    r = records.select(
        F.trim(F.col("ID").cast("string")).alias("id"),
        cls.alias("class"),
        F.struct(*profile).alias("_profile"),
        F.coalesce(tweet, no_tweets).alias("_tweets"),
    )
    labelled = r.where(F.col("class").isNotNull())
    users = labelled.select("id", "class", "_profile.*")
    tweets = labelled.select("class", F.col("id").alias("user_id"), F.posexplode("_tweets")).select(
        F.col("pos").cast("string").alias("id"), "user_id", F.col("col").alias("text"), "class"
    )
    unlabelled = r.where(F.col("class").isNull()).select(
        F.lit("users").alias("table"),
        F.lit(None).cast("string").alias("class"),
        F.lit("label not 0 or 1").alias("reason"),
        F.to_json(F.struct("id")).alias("raw"),
    )
    return users, tweets, unlabelled

"""Every StructType of the pipeline, in one place.

Layers: landing (raw export records), bronze (typed, append-only, partitioned by ``ingest_date``), silver
(curated, partitioned by ``dt``), features (Petastorm-readable Parquet: scalars and fixed-length arrays),
gold (model outputs, partitioned by ``dt``), quarantine (rejected records with a reason).
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# --- landing ----------------------------------------------------------------------------------------------
#: One post of a JSON-lines export (Twitter-archive style). ``created_at`` is ISO-8601 text, ``source`` the
#: posting client, ``in_reply_to`` the replied-to user id; ``label``/``label_confidence`` only on labelled corpora.
LANDING_POST = StructType(
    [
        StructField("id", StringType()),
        StructField("author", StringType()),
        StructField("created_at", StringType()),
        StructField("text", StringType()),
        StructField("source", StringType()),
        StructField("retweet_count", LongType()),
        StructField("favorite_count", LongType()),
        StructField("in_reply_to", StringType()),
        StructField("label", StringType()),
        StructField("label_confidence", DoubleType()),
    ]
)

# --- quarantine -------------------------------------------------------------------------------------------
#: A rejected record: which table and stage rejected it, why, and the raw line as read (undecodable bytes
#: appear as U+FFFD). Partitioned by ``ingest_date``.
QUARANTINE = StructType(
    [
        StructField("table", StringType(), False),
        StructField("stage", StringType(), False),
        StructField("source_file", StringType()),
        StructField("reason", StringType(), False),
        StructField("raw", StringType()),
        StructField("quarantined_at", TimestampType(), False),
        StructField("ingest_date", DateType(), False),
    ]
)

# --- bronze -----------------------------------------------------------------------------------------------
#: Parsed, typed posts; raw author handles and text as delivered. ``corpus`` names the export the post came in.
BRONZE_POSTS = StructType(
    [
        StructField("post_id", StringType(), False),
        StructField("corpus", StringType(), False),
        StructField("author", StringType()),
        StructField("created_at", TimestampType()),
        StructField("text", StringType(), False),
        StructField("client", StringType()),
        StructField("retweet_count", LongType()),
        StructField("favorite_count", LongType()),
        StructField("in_reply_to", StringType()),
        StructField("label", StringType()),
        StructField("label_confidence", DoubleType()),
        StructField("source_file", StringType(), False),
        StructField("ingest_date", DateType(), False),
    ]
)

# --- silver -----------------------------------------------------------------------------------------------
#: Curated posts: text normalised (HTML entities, whitespace, URLs -> ``<url>``), author ids and @mentions
#: pseudonymised with a keyed HMAC, duplicates removed. ``dt`` is the UTC date of ``created_at``, or the
#: ingest date for exports without timestamps.
SILVER_POSTS = StructType(
    [
        StructField("post_id", StringType(), False),
        StructField("corpus", StringType(), False),
        StructField("author_id", StringType()),
        StructField("created_at", TimestampType()),
        StructField("text", StringType(), False),
        StructField("client", StringType()),
        StructField("retweet_count", LongType()),
        StructField("favorite_count", LongType()),
        StructField("in_reply_to_author_id", StringType()),
        StructField("label", StringType()),
        StructField("label_confidence", DoubleType()),
        StructField("ingest_date", DateType(), False),
        StructField("dt", DateType(), False),
    ]
)

# --- features ---------------------------------------------------------------------------------------------
#: Sentiment model input: ``token_ids`` int32 of fixed length ``seq_len`` (0 = padding, 1 = out of
#: vocabulary), ``label`` int32 class index (0 negative, 1 neutral, 2 positive).
SENTIMENT_FEATURES = StructType(
    [
        StructField("post_id", StringType(), False),
        StructField("token_ids", ArrayType(IntegerType(), False), False),
        StructField("label", IntegerType(), False),
    ]
)

# --- gold -------------------------------------------------------------------------------------------------
#: One row per silver post per scoring date: predicted label, class probabilities, the model that produced it.
GOLD_POST_SENTIMENT = StructType(
    [
        StructField("post_id", StringType(), False),
        StructField("label", StringType(), False),
        StructField("prob_negative", FloatType(), False),
        StructField("prob_neutral", FloatType(), False),
        StructField("prob_positive", FloatType(), False),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("scored_at", TimestampType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: Class names of the sentiment model, in class-index order.
SENTIMENT_CLASSES: tuple[str, ...] = ("negative", "neutral", "positive")

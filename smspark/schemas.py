"""Every StructType of the pipeline, in one place.

Layers: landing (raw export records), bronze (typed, append-only, partitioned by ``ingest_date``), silver
(curated, partitioned by ``dt``), features (Petastorm-readable Parquet: scalars and fixed-length arrays),
gold (model outputs, partitioned by ``dt``), quarantine (rejected records with a reason).
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
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
#: posting client, ``in_reply_to`` the replied-to user id; ``label``/``label_confidence`` only on labelled corpora;
#: ``replica`` only on replayed copies of the scaled corpus (:mod:`smspark.sources.scale`: copy number ``k >= 1``;
#: absent or 0 for a real post).
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
        StructField("replica", IntegerType()),
    ]
)

#: One mail of a JSON-lines mail export: ``message_id`` (unique within the export), ``corpus_group`` (the
#: export's own grouping, e.g. ``easy-ham-1``), ``label`` ``ham``/``spam`` (null when unlabelled), ``raw`` the RFC 822
#: mail (headers and body) as text, ``raw_base64`` the mail's original bytes in base64 when they are not valid UTF-8
#: (``raw`` then has U+FFFD in place of the invalid bytes), else null.
LANDING_MESSAGE = StructType(
    [
        StructField("message_id", StringType()),
        StructField("corpus_group", StringType()),
        StructField("label", StringType()),
        StructField("raw", StringType()),
        StructField("raw_base64", StringType()),
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
#: Parsed, typed posts; raw author handles and text as delivered. ``corpus`` names the export the post came in,
#: ``replica`` the replayed copy of a scaled corpus (0: a real post).
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
        StructField("replica", IntegerType(), False),
        StructField("source_file", StringType(), False),
        StructField("ingest_date", DateType(), False),
    ]
)

# --- silver -----------------------------------------------------------------------------------------------
#: Curated posts: text normalised (HTML entities, whitespace, URLs -> ``<url>``), author ids and @mentions
#: pseudonymised with a keyed HMAC, duplicates removed (by ``post_id``, and by text within ``(corpus, replica)``:
#: a replayed copy of the scaled corpus is a post of its own). ``dt`` is the UTC date of ``created_at``, or the
#: ingest date for exports without timestamps; ``month`` the first day of ``dt``'s month, the table's partition.
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
        StructField("replica", IntegerType(), False),
        StructField("ingest_date", DateType(), False),
        StructField("dt", DateType(), False),
        StructField("month", DateType(), False),
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

#: One row per silver post per scoring date from the spam model (``smspark_spam``, trained on labelled mail):
#: ``spam_prob`` its spam probability, ``is_spam`` whether it reaches the model's decision threshold (chosen on the
#: validation mails' spam F1, kept with the model).
GOLD_POST_SPAM = StructType(
    [
        StructField("post_id", StringType(), False),
        StructField("spam_prob", FloatType(), False),
        StructField("is_spam", BooleanType(), False),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("scored_at", TimestampType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: Topic-model documents (``features/topics/{train,val,test}``): posts pooled by author-day or hashtag, or alone
#: (``pool``), their stop-word-free ``terms`` concatenated; ``posts`` member posts. Not read through Petastorm.
TOPICS_FEATURES = StructType(
    [
        StructField("doc_id", StringType(), False),
        StructField("corpus", StringType(), False),
        StructField("pool", StringType(), False),
        StructField("terms", ArrayType(StringType(), True), False),
        StructField("posts", IntegerType(), False),
    ]
)

#: The champion topic model's topics per scoring date: ``terms`` the top terms with their topic-term probabilities
#: ``weights`` (descending), ``coherence`` the topic's NPMI on the validation documents, ``label`` its top 3 terms,
#: ``posts``/``share`` the silver posts whose dominant topic it is, ``corpus`` the corpus (or ``all``) whose model it
#: belongs to (see ``models.topics.per_corpus``).
GOLD_TOPICS = StructType(
    [
        StructField("topic_id", IntegerType(), False),
        StructField("corpus", StringType(), False),
        StructField("label", StringType(), False),
        StructField("terms", ArrayType(StringType(), False), False),
        StructField("weights", ArrayType(FloatType(), False), False),
        StructField("coherence", FloatType()),
        StructField("posts", LongType(), False),
        StructField("share", FloatType(), False),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: One row per silver post per scoring date: its topic distribution (``k`` float32 summing to 1), the dominant
#: topic and its probability (null when no term of the post is in the model's vocabulary).
GOLD_POST_TOPICS = StructType(
    [
        StructField("post_id", StringType(), False),
        StructField("topic_distribution", ArrayType(FloatType(), False), False),
        StructField("dominant_topic", IntegerType()),
        StructField("dominant_prob", FloatType()),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("scored_at", TimestampType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: Keywords per time window: ``window`` ``day``/``week``, ``window_start`` its first day (weeks start on Monday),
#: ``method`` ``tfidf`` (the window as one document among all windows of its kind) or ``yake`` (lower score = more
#: relevant in YAKE; ``rank`` 1 is the best for both), ``posts`` in the window. Recomputed in full each run.
GOLD_KEYWORDS = StructType(
    [
        StructField("corpus", StringType(), False),
        StructField("window", StringType(), False),
        StructField("window_start", DateType(), False),
        StructField("method", StringType(), False),
        StructField("rank", IntegerType(), False),
        StructField("term", StringType(), False),
        StructField("score", DoubleType(), False),
        StructField("posts", LongType(), False),
    ]
)

#: Sentiment per post day (``dt``), corpus, posting client and dominant topic (-1: no topic): posts, the share of
#: each predicted label and the mean class probabilities, from the given scoring date's gold tables.
GOLD_SENTIMENT_DAILY = StructType(
    [
        StructField("dt", DateType(), False),
        StructField("corpus", StringType(), False),
        StructField("client", StringType(), False),
        StructField("dominant_topic", IntegerType(), False),
        StructField("posts", LongType(), False),
        *[StructField(f"share_{c}", DoubleType(), False) for c in ("negative", "neutral", "positive")],
        *[StructField(f"mean_prob_{c}", DoubleType(), False) for c in ("negative", "neutral", "positive")],
        StructField("scored_dt", DateType(), False),
    ]
)

#: A day (``dt``) on which a topic's ``metric`` (``volume``: posts; ``negative_share``) in a corpus departs from
#: its trailing level by more than the threshold: ``z = (value - mean) / std`` of the ``window_days`` days before.
GOLD_TREND_ALERTS = StructType(
    [
        StructField("dt", DateType(), False),
        StructField("corpus", StringType(), False),
        StructField("dominant_topic", IntegerType(), False),
        StructField("metric", StringType(), False),
        StructField("value", DoubleType(), False),
        StructField("trailing_mean", DoubleType(), False),
        StructField("trailing_std", DoubleType(), False),
        StructField("z", DoubleType(), False),
        StructField("direction", StringType(), False),
        StructField("posts", LongType(), False),
    ]
)

#: Class names of the sentiment model, in class-index order.
SENTIMENT_CLASSES: tuple[str, ...] = ("negative", "neutral", "positive")


# --- media (images) ---------------------------------------------------------------------------------------
#: Images as ingested: ``content`` is the file as delivered (PNG/JPEG/... bytes) for folder sources, or the raw
#: uint8 pixels (row-major ``height x width x channels``) of one IDX record (``format`` ``raw``). ``media_id`` is
#: ``<source>:<split>:<index>`` for IDX records and ``<source>:<path relative to the source folder>`` for files.
#: ``label_index`` comes from IDX label files; folder sources carry only ``label_name`` (the class folder).
BRONZE_MEDIA = StructType(
    [
        StructField("media_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("split", StringType()),
        StructField("label_index", IntegerType()),
        StructField("label_name", StringType()),
        StructField("format", StringType(), False),
        StructField("height", IntegerType(), False),
        StructField("width", IntegerType(), False),
        StructField("mode", StringType(), False),
        StructField("content", BinaryType(), False),
        StructField("content_sha256", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("ingest_date", DateType(), False),
    ]
)

#: Curated images: decoded to uint8 ``pixels`` (row-major ``height x width x channels`` bytes; 1 channel =
#: grayscale, 3 = RGB with any alpha composited over white), longest side at most 256 (larger images are
#: downscaled, aspect kept). ``label`` is the class index within the source (IDX: the label file's value;
#: folders: rank of the folder name among the source's class folders), ``label_name`` the class name.
#: ``split`` is the source's own split (``train``/``test`` for IDX sets, null for folders). Exact duplicate images
#: within a source are dropped. ``ingest_date`` = ``dt`` = the first ingest date of the ``media_id`` (the content is
#: the latest ingest's).
SILVER_MEDIA = StructType(
    [
        StructField("media_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("split", StringType()),
        StructField("label", IntegerType()),
        StructField("label_name", StringType()),
        StructField("height", IntegerType(), False),
        StructField("width", IntegerType(), False),
        StructField("channels", IntegerType(), False),
        StructField("pixels", BinaryType(), False),
        StructField("pixels_sha256", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("ingest_date", DateType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: Image model input: ``pixels`` int32 values 0..255 of fixed length ``size * size * channels`` (row-major HWC),
#: ``label`` int32 class index.
IMAGE_FEATURES = StructType(
    [
        StructField("media_id", StringType(), False),
        StructField("pixels", ArrayType(IntegerType(), False), False),
        StructField("label", IntegerType(), False),
    ]
)

#: One row per silver image per scoring date: predicted class, its probability, the image model's embedding
#: (penultimate layer, float32 of length ``embedding_dim``). Images of a source the model was not trained on have
#: null ``label``, ``label_index``, ``confidence`` and ``embedding`` and say why in ``reason`` (null when scored).
GOLD_MEDIA_LABELS = StructType(
    [
        StructField("media_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("label", StringType()),
        StructField("label_index", IntegerType()),
        StructField("confidence", FloatType()),
        StructField("embedding", ArrayType(FloatType(), False)),
        StructField("reason", StringType()),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("scored_at", TimestampType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: Similar images: for every scored image its ``rank`` 1..k nearest other images of the same source by cosine
#: similarity of the embeddings (ties by ``neighbour_id``).
GOLD_MEDIA_SIMILAR = StructType(
    [
        StructField("media_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("rank", IntegerType(), False),
        StructField("neighbour_id", StringType(), False),
        StructField("similarity", FloatType(), False),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: Generated images (never part of silver): ``is_synthetic`` is always true; ``label``/``label_name`` are the
#: class the generator was asked for; ``seed`` reproduces the latent vector.
GOLD_SYNTHETIC_MEDIA = StructType(
    [
        StructField("media_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("is_synthetic", BooleanType(), False),
        StructField("label", IntegerType(), False),
        StructField("label_name", StringType(), False),
        StructField("height", IntegerType(), False),
        StructField("width", IntegerType(), False),
        StructField("channels", IntegerType(), False),
        StructField("pixels", BinaryType(), False),
        StructField("seed", LongType(), False),
        StructField("generator_name", StringType(), False),
        StructField("generator_version", StringType(), False),
        StructField("generated_at", TimestampType(), False),
        StructField("dt", DateType(), False),
    ]
)

# --- messages (e-mail) ------------------------------------------------------------------------------------
#: Class names of the spam model, in class-index order (silver ``label``: 0 ham, 1 spam).
MESSAGE_LABELS: tuple[str, ...] = ("ham", "spam")

#: Mails as delivered: ``source`` is the landing folder (``landing/messages/<source>/``), ``raw`` the mail as text
#: (sender and recipients in clear: bronze only), ``raw_bytes`` the original bytes when they are not valid UTF-8.
BRONZE_MESSAGES = StructType(
    [
        StructField("message_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("corpus_group", StringType()),
        StructField("label", StringType()),
        StructField("raw", StringType(), False),
        StructField("raw_bytes", BinaryType()),
        StructField("source_file", StringType(), False),
        StructField("ingest_date", DateType(), False),
    ]
)

#: Curated mails: ``subject`` and body ``text`` MIME-decoded (the text/plain part, else text/html reduced to text;
#: transfer encodings and charsets undone; e-mail addresses in both replaced by their keyed pseudonyms),
#: ``content_type`` the part the text came from, ``charset`` the one it was decoded with, ``sender_id`` the keyed
#: pseudonym (``u_<16 hex>``) of the ``From`` address, ``sent_at`` the ``Date`` header in UTC (sender-supplied, so
#: unreliable in spam), ``label`` 0 ham / 1 spam (null when unlabelled). Duplicate ``message_id`` and duplicate body
#: text within a source are dropped. ``ingest_date`` = ``dt`` is the first ingest date of the message (the content is
#: the latest ingest's).
SILVER_MESSAGES = StructType(
    [
        StructField("message_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("corpus_group", StringType()),
        StructField("sender_id", StringType()),
        StructField("sent_at", TimestampType()),
        StructField("subject", StringType()),
        StructField("text", StringType(), False),
        StructField("content_type", StringType(), False),
        StructField("charset", StringType(), False),
        StructField("label", IntegerType()),
        StructField("ingest_date", DateType(), False),
        StructField("dt", DateType(), False),
    ]
)


#: Spam model input (``features/spam/{train,val,test}``): ``token_ids`` int32 of fixed length ``seq_len`` (subject and
#: body, 0 = padding, 1 = out of vocabulary), ``label`` 0 ham / 1 spam (:data:`MESSAGE_LABELS` order).
SPAM_FEATURES = StructType(
    [
        StructField("message_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("token_ids", ArrayType(IntegerType(), False), False),
        StructField("label", IntegerType(), False),
    ]
)


# --- interactions (MovieLens-style ratings) ---------------------------------------------------------------
#: Parsed, typed ratings as delivered: ``user_id`` the export's integer user id as text (pseudonymised in
#: silver), ``event_time`` from unix seconds (UTC), ``source_format`` ``ml-latest`` (``ratings.csv``) or
#: ``ml-100k`` (``u.data``).
BRONZE_INTERACTIONS = StructType(
    [
        StructField("user_id", StringType(), False),
        StructField("item_id", IntegerType(), False),
        StructField("rating", FloatType(), False),
        StructField("event_time", TimestampType(), False),
        StructField("source_format", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("ingest_date", DateType(), False),
    ]
)

#: Parsed item catalogue: ``title`` without the trailing ``(year)``, ``year`` from the title (or the 100K
#: release date), ``genres`` the item's genre names (empty when none are listed).
BRONZE_ITEMS = StructType(
    [
        StructField("item_id", IntegerType(), False),
        StructField("title", StringType()),
        StructField("year", IntegerType()),
        StructField("genres", ArrayType(StringType(), False), False),
        StructField("source_format", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("ingest_date", DateType(), False),
    ]
)

#: Curated ratings: ``user_id`` pseudonymised with the keyed HMAC (``u_<16 hex>``), one row per
#: (user, item, event_time); ``dt`` is the UTC date of ``event_time``, ``month`` the first day of its month (the
#: table's partition).
SILVER_INTERACTIONS = StructType(
    [
        StructField("user_id", StringType(), False),
        StructField("item_id", IntegerType(), False),
        StructField("rating", FloatType(), False),
        StructField("event_time", TimestampType(), False),
        StructField("ingest_date", DateType(), False),
        StructField("dt", DateType(), False),
        StructField("month", DateType(), False),
    ]
)

#: Curated item catalogue, one row per ``item_id`` (not partitioned).
SILVER_ITEMS = StructType(
    [
        StructField("item_id", IntegerType(), False),
        StructField("title", StringType()),
        StructField("year", IntegerType()),
        StructField("genres", ArrayType(StringType(), False), False),
    ]
)

#: Recommender input (NeuMF): contiguous ``user_idx`` (0..users-1) and ``item_idx`` (1..items, 0 is padding),
#: ``label`` 1.0 for an interaction, 0.0 for a sampled unseen item.
RECOMMENDER_FEATURES = StructType(
    [
        StructField("user_idx", IntegerType(), False),
        StructField("item_idx", IntegerType(), False),
        StructField("label", FloatType(), False),
    ]
)

#: Behaviour (engagement) model input, one row per event: the user's previous ``history_len`` events, oldest
#: first and left-padded with 0 (``hist_items`` item_idx, ``hist_ratings`` stars, ``hist_gaps`` log1p of the hours
#: between that event and the candidate event), the candidate ``cand_item`` and its multi-hot ``cand_genres``,
#: the event's ``rating`` (baseline aggregates only) and ``label`` 1.0 when ``rating >= engagement_threshold``.
BEHAVIOUR_FEATURES = StructType(
    [
        StructField("user_idx", IntegerType(), False),
        StructField("hist_items", ArrayType(IntegerType(), False), False),
        StructField("hist_ratings", ArrayType(FloatType(), False), False),
        StructField("hist_gaps", ArrayType(FloatType(), False), False),
        StructField("cand_item", IntegerType(), False),
        StructField("cand_genres", ArrayType(FloatType(), False), False),
        StructField("rating", FloatType(), False),
        StructField("label", FloatType(), False),
    ]
)

#: Two-stage recommendations: per user ``recommend_k`` unseen items (the NeuMF top candidates re-ranked by the
#: behaviour model's engagement probability, ``rank`` 1 = highest) with both scores and both model versions.
GOLD_USER_RECOMMENDATIONS = StructType(
    [
        StructField("user_id", StringType(), False),
        StructField("rank", IntegerType(), False),
        StructField("item_id", IntegerType(), False),
        StructField("recommender_score", FloatType(), False),
        StructField("engagement_prob", FloatType()),
        StructField("recommender_version", StringType()),
        StructField("behaviour_version", StringType()),
        StructField("strategy", StringType(), False),
        StructField("scored_at", TimestampType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: User segments: KMeans cluster of the NeuMF user embedding (GMF + MLP user vectors), ``k`` picked by silhouette.
GOLD_USER_SEGMENTS = StructType(
    [
        StructField("user_id", StringType(), False),
        StructField("segment", IntegerType(), False),
        StructField("k", IntegerType(), False),
        StructField("silhouette", FloatType(), False),
        StructField("model_version", StringType(), False),
        StructField("dt", DateType(), False),
    ]
)

#: GroupLens MovieLens export formats the interactions ingest recognises.
MOVIELENS_FORMATS: tuple[str, ...] = ("ml-latest", "ml-100k")


#: User profiles, one row per pseudonymised user (``source = "interactions"``) and per author (``"posts"``); the
#: columns and their units are described in :mod:`smspark.features.profiles`; the other source's columns are null.
SILVER_USER_PROFILES = StructType(
    [
        StructField("user_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("n_events", LongType(), False),
        StructField("active_days", IntegerType(), False),
        StructField("events_per_active_day", DoubleType(), False),
        StructField("hour_night", DoubleType(), False),
        StructField("hour_morning", DoubleType(), False),
        StructField("hour_afternoon", DoubleType(), False),
        StructField("hour_evening", DoubleType(), False),
        StructField("hour_entropy", DoubleType(), False),
        StructField("rating_mean", DoubleType()),
        StructField("rating_std", DoubleType()),
        *[
            StructField("genre_" + g, DoubleType())
            for g in ("drama", "comedy", "action", "thriller", "romance", "adventure", "crime", "sci_fi")
        ],
        StructField("reply_share", DoubleType()),
        StructField("mentions_per_post", DoubleType()),
        StructField("links_per_post", DoubleType()),
        StructField("mean_length", DoubleType()),
        StructField("client_web", DoubleType()),
        StructField("client_iphone", DoubleType()),
        StructField("client_android", DoubleType()),
        StructField("client_other", DoubleType()),
        StructField("dt", DateType(), False),
    ]
)


#: Synthetic user profiles (never part of silver): ``profile_id`` ``synthetic:<generator>:v<version>:<run_id>:<i>``,
#: ``source`` the profile source the generator learned (``interactions``/``posts``), the profile columns of
#: ``SILVER_USER_PROFILES`` (those of the other source null), ``is_synthetic`` always true, ``seed`` the draw's seed.
GOLD_SYNTHETIC_PROFILES = StructType(
    [
        StructField("profile_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("is_synthetic", BooleanType(), False),
        *[
            StructField(f.name, f.dataType, True)
            for f in SILVER_USER_PROFILES.fields
            if f.name not in ("user_id", "source", "dt")
        ],
        StructField("seed", LongType(), False),
        StructField("generator_name", StringType(), False),
        StructField("generator_version", StringType(), False),
        StructField("generated_at", TimestampType(), False),
        StructField("dt", DateType(), False),
    ]
)


# --- account risk ----------------------------------------------------------------------------------------------------
#: The account behaviour columns of ``features/accounts`` and ``gold/account_risk``, the account-risk model's input
#: in this order (raw values, nullable; see :mod:`smspark.features.accounts`): ``n_posts`` long, the rest double.
ACCOUNT_COLUMNS = [
    StructField("n_posts", LongType()),
    *[
        StructField(c, DoubleType())
        for c in (
            "interval_mean_s",
            "interval_cv",
            "hour_entropy",
            "duplicate_share",
            "near_duplicate_share",
            "links_per_post",
            "mentions_per_post",
            "client_diversity",
            "spam_share",
        )
    ],
]

#: Account-risk model input (``features/accounts/{train,val,test}``): one row per account (``account_key``: the
#: author, or ``<author_id>|<yyyy-MM>`` for author-months), the raw columns, and ``x`` the model's input (float32,
#: one value per raw column: log1p of counts and durations, nulls imputed, standardised with training statistics).
ACCOUNT_FEATURES = StructType(
    [
        StructField("account_key", StringType(), False),
        StructField("author_id", StringType(), False),
        StructField("window_start", DateType()),
        *ACCOUNT_COLUMNS,
        StructField("x", ArrayType(FloatType(), False), False),
    ]
)

#: One row per account of silver posts per scoring date: the raw features, the autoencoder's reconstruction error
#: (``ae_score``), the KMeans baseline's distance to the nearest centroid (``kmeans_score``), ``risk_rank`` (1 = the
#: highest ``ae_score`` of the date), ``top_features`` (the feature columns with the largest reconstruction error,
#: largest first). ``window_start`` is null when the account is the author's whole history (``models.account_risk
#: .window = all``), else the first day of the author-month.
GOLD_ACCOUNT_RISK = StructType(
    [
        StructField("author_id", StringType(), False),
        StructField("window_start", DateType()),
        *ACCOUNT_COLUMNS,
        StructField("ae_score", DoubleType(), False),
        StructField("kmeans_score", DoubleType(), False),
        StructField("risk_rank", LongType(), False),
        StructField("top_features", ArrayType(StringType(), False), False),
        StructField("model_name", StringType(), False),
        StructField("model_version", StringType(), False),
        StructField("scored_at", TimestampType(), False),
        StructField("dt", DateType(), False),
    ]
)

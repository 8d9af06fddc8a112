"""Account features of a labelled bot dataset, and its account-level split (pure DataFrame functions).

One row per account: the behaviour features of :func:`smspark.features.accounts.account_features` (and, when asked,
:func:`smspark.features.accounts.near_duplicate_share`) over the account's posts, beside profile features:

- ``log_statuses``, ``log_followers``, ``log_friends``, ``log_favourites``, ``log_listed``: ``log1p`` of the
  profile counts (null when the profile lacks the count).
- ``log_followers_per_friend``: ``log1p(followers / max(friends, 1))`` (null when either count is).
- ``default_profile``: 1.0 when the account kept the default profile, else 0.0.

Behaviour features are null for an account without posts (cresci classes with ``users.csv`` only) and the cadence
ones (``interval_mean_s`` as ``log_interval_mean_s``, ``interval_cv``, ``hour_entropy``) for a layout without tweet
times; the classifiers impute nulls with the training split's median.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from smspark.features.accounts import account_features, near_duplicate_share

#: Cadence features: undefined without tweet timestamps.
CADENCE = ("log_interval_mean_s", "interval_cv", "hour_entropy")
#: The model inputs, in order (doubles, nullable).
FEATURES = (
    "log_posts",
    *CADENCE,
    "duplicate_share",
    "near_duplicate_share",
    "links_per_post",
    "mentions_per_post",
    "client_diversity",
    "log_statuses",
    "log_followers",
    "log_friends",
    "log_favourites",
    "log_listed",
    "log_followers_per_friend",
    "default_profile",
)


def bot_features(posts: DataFrame, profiles: DataFrame, timestamps: bool = True, near_duplicates: bool = True):
    """Per-account features of a labelled dataset.

    Args:
        posts: silver-shaped posts (``post_id``, ``author_id``, ``created_at``, ``text``, ``client``).
        profiles: one row per account (``author_id``, ``class``, ``label`` int, the profile counts as doubles,
            ``default_profile`` 0/1 double), see :func:`smspark.etl.bots.account_profiles`.
        timestamps: False when ``created_at`` is a placeholder: the :data:`CADENCE` features are then null.
        near_duplicates: compute ``near_duplicate_share`` (MinHashLSH); else it is null.

    Returns:
        ``(author_id, class, label, *FEATURES)``, one row per profile (doubles, nullable).
    """
    behaviour = account_features(posts)
    if near_duplicates:
        behaviour = behaviour.join(near_duplicate_share(posts), "author_id", "left")
    else:
        behaviour = behaviour.withColumn("near_duplicate_share", F.lit(None).cast("double"))
    df = profiles.join(behaviour, "author_id", "left")

    def log1p(c: str | Column) -> Column:
        v = (F.col(c) if isinstance(c, str) else c).cast("double")
        return F.when(v.isNotNull(), F.log1p(F.greatest(v, F.lit(0.0))))  # greatest() alone skips nulls

    cadence = [
        log1p("interval_mean_s").alias("log_interval_mean_s"),
        F.col("interval_cv").cast("double").alias("interval_cv"),
        F.col("hour_entropy").cast("double").alias("hour_entropy"),
    ]
    if not timestamps:
        cadence = [F.lit(None).cast("double").alias(c) for c in CADENCE]
    friends = F.when(F.col("friends_count").isNotNull(), F.greatest(F.col("friends_count"), F.lit(1.0)))
    ratio = F.col("followers_count") / friends
    return df.select(
        "author_id",
        "class",
        F.col("label").cast("int").alias("label"),
        log1p("n_posts").alias("log_posts"),
        *cadence,
        *(F.col(c).cast("double").alias(c) for c in ("duplicate_share", "near_duplicate_share")),
        *(F.col(c).cast("double").alias(c) for c in ("links_per_post", "mentions_per_post", "client_diversity")),
        log1p("statuses_count").alias("log_statuses"),
        log1p("followers_count").alias("log_followers"),
        log1p("friends_count").alias("log_friends"),
        log1p("favourites_count").alias("log_favourites"),
        log1p("listed_count").alias("log_listed"),
        log1p(ratio).alias("log_followers_per_friend"),
        F.col("default_profile").cast("double").alias("default_profile"),
    )


def account_split_col(seed: int, val_fraction: float, test_fraction: float) -> Column:
    """Column ``split`` (``train``/``val``/``test``) of account rows (``author_id``, ``class``), by keyed hash.

    ``author_id`` is already a keyed pseudonym; accounts are ordered within their class by
    ``xxhash64(seed, author_id)`` (then ``author_id``): of a class's ``n`` accounts the first ``round(n *
    test_fraction)`` go to ``test`` and the next ``round(n * val_fraction)`` to ``val``, each at least 1 when the
    class has 3 accounts or more, the rest to ``train``. An account keeps its split on every run with the same key
    and seed, and all its posts are on one side.
    """
    w = Window.partitionBy("class").orderBy(F.xxhash64(F.lit(int(seed)), F.col("author_id")), F.col("author_id"))
    rn = F.row_number().over(w)
    n = F.count(F.lit(1)).over(Window.partitionBy("class"))

    def share(frac: float) -> Column:
        return F.when(n >= 3, F.greatest(F.lit(1), F.round(n * F.lit(frac)).cast("int"))).otherwise(F.lit(0))

    n_test, n_val = share(test_fraction), share(val_fraction)
    return F.when(rn <= n_test, F.lit("test")).when(rn <= n_test + n_val, F.lit("val")).otherwise(F.lit("train"))

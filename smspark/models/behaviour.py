"""The behaviour model: P(engagement) of a user with a candidate item, from the user's recent history.

A recurrent encoder in the spirit of session-based RNN recommenders (Hidasi et al. 2016, "Session-based
Recommendations with Recurrent Neural Networks"), used here as a click/engagement predictor: each of the user's
previous ``N`` events is the concatenation of its item embedding, its rating / 5 and its ``log1p`` hour gap / 10;
a GRU (or LSTM) reads them oldest first, skipping the left padding (item_idx 0) through an explicit mask. The
final state, the candidate's embedding (the same item table), their element-wise product after a projection,
and the candidate's multi-hot genres feed a ReLU layer, dropout and one sigmoid unit.

Inputs (batch ``B``): ``hist_items`` int32 ``[B, N]``, ``hist_ratings`` float32 ``[B, N]`` (stars, 0 = padding),
``hist_gaps`` float32 ``[B, N]``, ``cand_item`` int32 ``[B]``, ``cand_genres`` float32 ``[B, G]``.
Output: float32 ``[B, 1]``, the probability that the rating is at least the engagement threshold.

Also: the MLlib LogisticRegression baseline's aggregate features and the model's MLflow pyfunc.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.config import BehaviourConfig
from smspark.models.packaging import KerasPyfunc

log = logging.getLogger(__name__)

INPUTS = ("hist_items", "hist_ratings", "hist_gaps", "cand_item", "cand_genres")


def build_model(cfg: BehaviourConfig, n_items: int, n_genres: int):  # -> tf_keras.Model
    """The uncompiled engagement model for items ``1..n_items`` (embedding rows ``n_items + 1``) and ``n_genres``."""
    import tensorflow as tf
    import tf_keras
    from tf_keras import layers

    n = cfg.history_len
    hist_items = tf_keras.Input(shape=(n,), dtype="int32", name="hist_items")
    hist_ratings = tf_keras.Input(shape=(n,), dtype="float32", name="hist_ratings")
    hist_gaps = tf_keras.Input(shape=(n,), dtype="float32", name="hist_gaps")
    cand_item = tf_keras.Input(shape=(), dtype="int32", name="cand_item")
    cand_genres = tf_keras.Input(shape=(max(n_genres, 1),), dtype="float32", name="cand_genres")

    item_emb = layers.Embedding(n_items + 1, cfg.item_dim, name="item_embedding")
    ratings = layers.Reshape((n, 1), name="ratings_step")(layers.Rescaling(1 / 5.0, name="ratings_scale")(hist_ratings))
    gaps = layers.Reshape((n, 1), name="gaps_step")(layers.Rescaling(1 / 10.0, name="gaps_scale")(hist_gaps))
    steps = layers.Concatenate(name="event")([item_emb(hist_items), ratings, gaps])
    mask = tf.not_equal(hist_items, 0)
    rnn_cls = layers.GRU if cfg.rnn == "gru" else layers.LSTM
    state = rnn_cls(cfg.rnn_units, name="history_encoder")(steps, mask=mask)
    cand = item_emb(cand_item)
    match = layers.Multiply(name="match")([layers.Dense(cfg.item_dim, name="user_projection")(state), cand])
    x = layers.Concatenate(name="joint")([state, cand, match, cand_genres])
    x = layers.Dense(cfg.dense_units, activation="relu", name="hidden")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    out = layers.Dense(1, activation="sigmoid", name="engagement")(x)
    inputs = {
        "hist_items": hist_items,
        "hist_ratings": hist_ratings,
        "hist_gaps": hist_gaps,
        "cand_item": cand_item,
        "cand_genres": cand_genres,
    }
    return tf_keras.Model(inputs=inputs, outputs=out, name="behaviour")


def pad_left(rows: list[np.ndarray], length: int, dtype: Any) -> np.ndarray:
    """Variable-length rows -> ``[len(rows), length]`` keeping each row's last ``length`` values, left-padded
    with 0."""
    out = np.zeros((len(rows), length), dtype=dtype)
    for i, r in enumerate(rows):
        r = np.asarray(r, dtype=dtype)[-length:]
        if len(r):
            out[i, length - len(r) :] = r
    return out


class BehaviourPyfunc(KerasPyfunc):
    """The engagement model with its id maps and genres.

    ``predict``: a DataFrame with ``hist_items`` (lists of item ids, oldest first), ``hist_ratings``,
    ``hist_gaps`` (lists of float, same lengths) and ``cand_item`` (item id) -> ``engagement_prob`` (float32).
    Items unknown to the model are treated as padding (history) or get the padding embedding (candidate).
    Artifacts as :class:`smspark.models.recommender.RecommenderPyfunc`.
    """

    maps: Any = None

    def load_context(self, context: Any) -> None:
        from smspark.features.interactions import IdMaps

        super().load_context(context)
        self.maps = IdMaps.load(context.artifacts["id_maps"])

    def _item_index(self, item_ids: np.ndarray) -> np.ndarray:
        lookup = getattr(self, "_lk", None)
        if lookup is None:
            lookup = self._lk = self.maps.item_lookup()
        flat = np.asarray(item_ids, dtype=np.int64)
        return pd.Series(flat.reshape(-1)).map(lookup).fillna(0).to_numpy(dtype=np.int32).reshape(flat.shape)

    def encode_history(
        self, hist_items: list[Any], hist_ratings: list[Any], hist_gaps: list[Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per user, raw item ids/ratings/gaps (oldest first) -> left-padded ``[B, N]`` arrays in model indices;
        events with items unknown to the model are dropped."""
        n = int(self.meta["history_len"])
        items, ratings, gaps = [], [], []
        for it, r, g in zip(hist_items, hist_ratings, hist_gaps, strict=True):
            idx = self._item_index(np.asarray(it, dtype=np.int64))
            keep = idx > 0
            items.append(idx[keep])
            ratings.append(np.asarray(r, dtype=np.float32)[keep])
            gaps.append(np.asarray(g, dtype=np.float32)[keep])
        return pad_left(items, n, np.int32), pad_left(ratings, n, np.float32), pad_left(gaps, n, np.float32)

    def engagement(
        self,
        hist_items: list[Any],
        hist_ratings: list[Any],
        hist_gaps: list[Any],
        candidates: np.ndarray,
        batch_size: int = 8192,
    ) -> np.ndarray:
        """P(engagement) of user ``b`` with each of its candidate item ids ``candidates[b]``: float32 ``[B, C]``."""
        candidates = np.asarray(candidates, dtype=np.int64)
        b, c = candidates.shape
        if b == 0 or c == 0:
            return np.zeros((b, c), dtype=np.float32)
        hi, hr, hg = self.encode_history(hist_items, hist_ratings, hist_gaps)
        cand = self._item_index(candidates).reshape(-1)
        x = {
            "hist_items": np.repeat(hi, c, axis=0),
            "hist_ratings": np.repeat(hr, c, axis=0),
            "hist_gaps": np.repeat(hg, c, axis=0),
            "cand_item": cand,
            "cand_genres": self.maps.item_genres[cand],
        }
        return self.infer(x, batch_size).reshape(b, c).astype(np.float32)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        probs = self.engagement(
            list(model_input["hist_items"]),
            list(model_input["hist_ratings"]),
            list(model_input["hist_gaps"]),
            model_input["cand_item"].to_numpy(dtype=np.int64).reshape(-1, 1),
        )
        return pd.DataFrame({"engagement_prob": probs.reshape(-1)})


# --- the LogisticRegression baseline's features -------------------------------------------------------------

#: Aggregate features of the baseline, in vector order.
AGGREGATES = (
    "user_log_count",
    "user_mean_rating",
    "user_engagement_rate",
    "user_recent_mean_rating",
    "user_log_gap_hours",
    "user_genre_affinity",
    "item_log_popularity",
    "item_mean_rating",
    "item_engagement_rate",
)

ItemSource = Literal["earlier", "train_other_users"]


def aggregate_features(
    rows: DataFrame, prior_weight: float = 5.0, recent: int = 10, items_from: ItemSource = "earlier"
) -> DataFrame:
    """Add the baseline's aggregate features to every behaviour row, each computed from events *before* the row's
    own (never its own rating or label), so training rows are featurised exactly as test rows are.

    Args:
        rows: behaviour rows of every split (``user_idx``, ``cand_item``, ``cand_genres``, ``rating``, ``label``,
            ``split``, ``pos``, ``event_ts``; see :func:`smspark.features.interactions.behaviour_rows`): a row's
            earlier events are the user's rows with a smaller ``pos`` (for a test row: the user's training rows and
            its validation row, what its history holds too).
        prior_weight: pseudo-count shrinking means and rates towards the training split's mean rating and engaged
            share without the row's user (leave one user out) (the user's own rate for per-genre affinity).
        recent: the number of latest earlier events in ``user_recent_mean_rating``.
        items_from: the events an item's statistics come from: ``earlier`` = every user's events strictly
            earlier in time (``event_ts``) than the row's, in any split (what was known when it happened);
            ``train_other_users`` = the training rows of the other users (the item embeddings' view).

    Returns:
        ``rows`` plus double columns :data:`AGGREGATES`: the user's ``log1p`` count of earlier events, their
        smoothed mean rating and engaged share, mean rating of the last ``recent`` events, ``log1p`` hours since the
        previous event (0 for the first), the mean over the candidate's genres of the user's smoothed engaged share
        in that genre; the item's ``log1p`` count, smoothed mean rating and smoothed engaged share.

    Raises:
        ValueError: an unknown ``items_from``.
    """
    if items_from not in ("earlier", "train_other_users"):
        raise ValueError(f"items_from must be 'earlier' or 'train_other_users', got {items_from!r}")
    k = float(prior_weight)
    # The priors: the training split's mean rating and engaged share *without the row's own user* (leave one user
    # out), so that not even the prior carries a row's own rating.
    train_rows = rows.where(F.col("split") == "train")
    tot = train_rows.agg(F.count("label").alias("N"), F.sum("rating").alias("R"), F.sum("label").alias("L")).first()
    per_user = train_rows.groupBy("user_idx").agg(
        F.count("label").alias("_nu"), F.sum("rating").alias("_ru"), F.sum("label").alias("_lu")
    )
    rows = rows.join(per_user, "user_idx", "left")
    rest = F.lit(float(tot["N"])) - F.coalesce(F.col("_nu"), F.lit(0))
    g_rating = (F.lit(float(tot["R"])) - F.coalesce(F.col("_ru"), F.lit(0.0))) / rest
    g_label = (F.lit(float(tot["L"])) - F.coalesce(F.col("_lu"), F.lit(0.0))) / rest
    columns = [c for c in rows.columns if c not in ("_nu", "_ru", "_lu")]

    def smoothed(total: Column, n: Column, prior: Column) -> Column:
        return (F.coalesce(total, F.lit(0.0)) + k * prior) / (F.coalesce(n, F.lit(0)) + k)

    before = Window.partitionBy("user_idx").orderBy("pos").rowsBetween(Window.unboundedPreceding, -1)
    latest = Window.partitionBy("user_idx").orderBy("pos").rowsBetween(-recent, -1)
    prev = Window.partitionBy("user_idx").orderBy("pos")
    n_user = F.count("label").over(before)
    user_rate = smoothed(F.sum("label").over(before), n_user, g_label)
    out = rows.select(
        "*",
        F.log1p(n_user).alias("user_log_count"),
        smoothed(F.sum("rating").over(before), n_user, g_rating).alias("user_mean_rating"),
        user_rate.alias("user_engagement_rate"),
        F.coalesce(F.avg("rating").over(latest), g_rating).alias("user_recent_mean_rating"),
        F.log1p(
            F.greatest(F.col("event_ts") - F.coalesce(F.lag("event_ts").over(prev), F.col("event_ts")), F.lit(0))
            / 3600.0
        ).alias("user_log_gap_hours"),
    )
    # per genre: the user's engaged share among earlier events of that genre, shrunk towards their overall share
    by_genre = Window.partitionBy("user_idx", "genre").orderBy("pos").rowsBetween(Window.unboundedPreceding, -1)
    genres = (
        out.select(
            "user_idx", "pos", "label", "user_engagement_rate", F.posexplode("cand_genres").alias("genre", "flag")
        )
        .where(F.col("flag") > 0)
        .select(
            "user_idx",
            "pos",
            smoothed(
                F.sum("label").over(by_genre), F.count("label").over(by_genre), F.col("user_engagement_rate")
            ).alias("_aff"),
        )
        .groupBy("user_idx", "pos")
        .agg(F.avg("_aff").alias("_genre_aff"))
    )
    out = out.join(genres, ["user_idx", "pos"], "left").withColumn(
        "user_genre_affinity", F.coalesce(F.col("_genre_aff"), F.col("user_engagement_rate"))
    )
    if items_from == "earlier":
        earlier = Window.partitionBy("cand_item").orderBy("event_ts").rangeBetween(Window.unboundedPreceding, -1)
        n_item = F.count("label").over(earlier)
        out = out.select(
            "*",
            F.log1p(n_item).alias("item_log_popularity"),
            smoothed(F.sum("rating").over(earlier), n_item, g_rating).alias("item_mean_rating"),
            smoothed(F.sum("label").over(earlier), n_item, g_label).alias("item_engagement_rate"),
        )
    else:
        train = train_rows
        item_tot = train.groupBy("cand_item").agg(
            F.count("label").alias("_n"), F.sum("rating").alias("_r"), F.sum("label").alias("_l")
        )
        own = train.groupBy("user_idx", "cand_item").agg(
            F.count("label").alias("_on"), F.sum("rating").alias("_or"), F.sum("label").alias("_ol")
        )
        out = out.join(item_tot, "cand_item", "left").join(own, ["user_idx", "cand_item"], "left")
        n = F.coalesce(F.col("_n"), F.lit(0)) - F.coalesce(F.col("_on"), F.lit(0))
        out = out.select(
            "*",
            F.log1p(n).alias("item_log_popularity"),
            smoothed(F.coalesce(F.col("_r"), F.lit(0.0)) - F.coalesce(F.col("_or"), F.lit(0.0)), n, g_rating).alias(
                "item_mean_rating"
            ),
            smoothed(F.coalesce(F.col("_l"), F.lit(0.0)) - F.coalesce(F.col("_ol"), F.lit(0.0)), n, g_label).alias(
                "item_engagement_rate"
            ),
        )
    return out.select(*columns, *[F.col(c).cast("double").alias(c) for c in AGGREGATES])

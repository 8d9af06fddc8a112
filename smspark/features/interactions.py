"""Interaction features for the recommender (NeuMF) and the behaviour (engagement) model.

Split: per-user chronological leave-last-out (He et al. 2017, "Neural Collaborative Filtering", section 4.1): a
user's events are ordered by ``(event_time, item_id)`` (the item id breaks ties between ratings given in the same
second); the last is ``test``, the second-to-last ``val``, the rest ``train``. Users with fewer than 3 events
are entirely ``train``. Both models use this same split, so the behaviour model's test event of a user is the
recommender's test item of that user (the recommender first keeps one row per (user, item), the latest).

Ids: :class:`IdMaps` gives users contiguous ``user_idx`` 0..U-1 (sorted pseudonymised ids) and items ``item_idx``
1..I (sorted item ids; 0 is padding in histories), plus the genre vocabulary and every item's multi-hot genres.

Recommender rows (implicit feedback): every interaction is a positive (label 1.0). Negatives are sampled per user,
uniformly from the items the user never interacted with (in any split), with a generator seeded by
``(seed, split salt, round, user_idx)`` so the sample does not depend on Spark's partitioning: ``num_negatives`` (4)
per training positive and round, and ``eval_negatives`` (100) distinct ones for each val and test user. The paper
draws training negatives afresh every epoch; ``rounds`` independent draws written side by side give the same (see
:func:`recommender_rows`).

Files: :func:`seeded_order` writes rows in a shuffled order that depends only on the seed and the rows, so two
builds with the same seed give the same files.

Behaviour rows: one per event; ``label`` = rating >= threshold; the input is the user's previous
``history_len`` events (strictly earlier in the order above), oldest first, left-padded with zeros: item_idx,
rating and ``log1p`` of the hours from that event to the candidate event; plus the candidate item and its
multi-hot genres. A training row's history only holds earlier training events, so no user's val/test event (or
anything after it) reaches that user's training input.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, IntegerType, StructField, StructType

from smspark import storage

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: Per-split salts of the negative sampler's seed.
_SALT = {"train": 1, "val": 2, "test": 3}


# --- ids ----------------------------------------------------------------------------------------------------


@dataclass
class IdMaps:
    """Contiguous indices of users and items, and the items' genres.

    Attributes:
        users: pseudonymised user ids, ``users[user_idx]`` (str, ``U`` entries).
        items: item ids, ``items[item_idx - 1]`` (int32, ``I`` entries; ``item_idx`` 0 is padding).
        genres: genre vocabulary (str, ``G`` entries, sorted).
        item_genres: float32 ``[I + 1, max(G, 1)]`` multi-hot genres by ``item_idx`` (row 0 all zeros). A
            catalogue without genres (an export without its item file) has ``G = 0`` and one all-zero column: the
            behaviour model's ``cand_genres`` input and the Petastorm array columns cannot be 0 wide.
    """

    users: np.ndarray
    items: np.ndarray
    genres: np.ndarray
    item_genres: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def user_index(self) -> dict[str, int]:
        """``user_id -> user_idx``."""
        return {u: i for i, u in enumerate(self.users.tolist())}

    def item_index(self) -> dict[int, int]:
        """``item_id -> item_idx`` (from 1)."""
        return {int(it): i + 1 for i, it in enumerate(self.items.tolist())}

    def item_lookup(self) -> pd.Series:
        """``item_id -> item_idx`` as an int32 Series indexed by item id (for vectorised mapping)."""
        return pd.Series(np.arange(1, self.n_items + 1, dtype=np.int32), index=self.items.astype(np.int64))

    def save(self, uri: str | os.PathLike[str]) -> str:
        """Write an ``.npz`` (arrays ``users``, ``items``, ``genres``, ``item_genres``; no pickled objects) to a
        storage URI or local path, atomically (:func:`smspark.storage.write_bytes`). Returns the URI."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            users=self.users.astype(str),
            items=self.items.astype(np.int32),
            genres=self.genres.astype(str),
            item_genres=self.item_genres.astype(np.float32),
        )
        return storage.write_bytes(storage.resolve_root(uri), buffer.getvalue())

    @classmethod
    def load(cls, uri: str | os.PathLike[str]) -> IdMaps:
        """Read maps written by :meth:`save` from a storage URI or local path.

        Raises:
            FileNotFoundError: nothing at ``uri``.
        """
        with np.load(io.BytesIO(storage.read_bytes(storage.resolve_root(uri))), allow_pickle=False) as z:
            return cls(z["users"], z["items"], z["genres"], z["item_genres"])


def build_id_maps(users: Sequence[str], items: Sequence[int], item_genres: dict[int, Sequence[str]]) -> IdMaps:
    """Id maps from the distinct users and items (sorted here) and each item's genre names (missing -> none).

    Without any genre (no item file) ``genres`` is empty and ``item_genres`` is one all-zero column (see
    :class:`IdMaps`), so the features, the behaviour model and its baseline run unchanged, without genre signal.
    """
    users_sorted = np.array(sorted(set(users)), dtype=str)
    items_sorted = np.array(sorted({int(i) for i in items}), dtype=np.int32)
    genres = np.array(sorted({g for i in items_sorted.tolist() for g in item_genres.get(i, ())}), dtype=str)
    g_index = {g: j for j, g in enumerate(genres.tolist())}
    matrix = np.zeros((len(items_sorted) + 1, max(len(genres), 1)), dtype=np.float32)
    for row, item in enumerate(items_sorted.tolist(), start=1):
        for g in item_genres.get(item, ()):
            matrix[row, g_index[g]] = 1.0
    return IdMaps(users_sorted, items_sorted, genres, matrix)


def id_frames(spark: SparkSession, maps: IdMaps) -> tuple[DataFrame, DataFrame]:
    """``(users, items)`` DataFrames: ``(user_id, user_idx int)`` and ``(item_id, item_idx int, cand_genres
    array<float>)``, for joining the maps onto Spark data."""
    users = spark.createDataFrame(
        pd.DataFrame({"user_id": maps.users.astype(object), "user_idx": np.arange(maps.n_users, dtype=np.int32)})
    )
    items = spark.createDataFrame(
        pd.DataFrame(
            {
                "item_id": maps.items.astype(np.int32),
                "item_idx": np.arange(1, maps.n_items + 1, dtype=np.int32),
                "cand_genres": [row.tolist() for row in maps.item_genres[1:]],
            }
        ),
        schema=StructType(
            [
                StructField("item_id", IntegerType(), False),
                StructField("item_idx", IntegerType(), False),
                StructField("cand_genres", ArrayType(FloatType(), False), False),
            ]
        ),
    )
    return users, items


# --- split --------------------------------------------------------------------------------------------------


def leave_last_out(events: DataFrame, user_col: str = "user_id", item_col: str = "item_id") -> DataFrame:
    """Add ``split`` (``train``/``val``/``test``) and ``pos`` (0-based chronological position in the user's events).

    Order: ``event_time`` then ``item_col``; the last event -> ``test``, the one before -> ``val``; users with
    fewer than 3 events keep everything in ``train``.
    """
    w = Window.partitionBy(user_col).orderBy(F.col("event_time"), F.col(item_col))
    n = F.count(F.lit(1)).over(Window.partitionBy(user_col))
    pos = F.row_number().over(w) - 1
    split = F.when(n < 3, "train").when(pos == n - 1, "test").when(pos == n - 2, "val").otherwise("train")
    return events.withColumn("pos", pos.cast("int")).withColumn("_n", n).withColumn("split", split).drop("_n")


def latest_per_pair(events: DataFrame, user_col: str = "user_id", item_col: str = "item_id") -> DataFrame:
    """One row per (user, item): the latest event (ties by the highest rating)."""
    w = Window.partitionBy(user_col, item_col).orderBy(F.col("event_time").desc(), F.col("rating").desc())
    return events.withColumn("_r", F.row_number().over(w)).where(F.col("_r") == 1).drop("_r")


# --- negative sampling --------------------------------------------------------------------------------------


def draw_negatives(rng: np.random.Generator, n_items: int, seen: np.ndarray, need: int, distinct: bool) -> np.ndarray:
    """``need`` item indices from ``1..n_items`` not in ``seen``, by rejection sampling (int32 ``[need]``).

    With ``distinct`` the draws are without replacement (eval candidates), else with replacement (training).

    Raises:
        ValueError: fewer unseen items than ``need`` (``distinct``) or none at all.
    """
    if need <= 0:
        return np.zeros(0, dtype=np.int32)
    seen_u = np.unique(np.asarray(seen, dtype=np.int64))
    seen_u = seen_u[(seen_u >= 1) & (seen_u <= n_items)]
    unseen = n_items - len(seen_u)
    if unseen <= 0 or (distinct and unseen < need):
        raise ValueError(f"only {unseen} unseen items of {n_items}, {need} negatives needed")
    chosen = np.zeros(0, dtype=np.int64)
    while len(chosen) < need:
        missing = need - len(chosen)
        k = int(missing * 1.2 * n_items / unseen) + 16
        cand = rng.integers(1, n_items + 1, size=k)
        cand = cand[~np.isin(cand, seen_u)]
        chosen = np.concatenate([chosen, cand])
        if distinct:
            chosen = pd.unique(chosen)
    return chosen[:need].astype(np.int32)


_NEGATIVE_SCHEMA = StructType(
    [
        StructField("user_idx", IntegerType(), False),
        StructField("item_idx", IntegerType(), False),
        StructField("round", IntegerType(), False),
    ]
)


def sample_negatives(requests: DataFrame, n_items: int, seed: int, salt: int, distinct: bool) -> DataFrame:
    """Seeded per-user negative sampling in Spark (an iterator pandas function, no shuffle).

    Args:
        requests: one row per user and round: ``user_idx`` int, ``round`` int, ``need`` int (negatives wanted),
            ``seen`` array<int> (every item_idx the user interacted with; its order does not matter).
        n_items: items are ``1..n_items``.
        seed, salt: the generator of a user's round is ``numpy.random.default_rng([seed, salt, round, user_idx])``.
        distinct: without replacement within a user's round (eval) or with (training).

    Returns:
        ``(user_idx, item_idx, round)``, exactly ``need`` rows per request, no item in that user's ``seen``; the same
        rows whatever the partitioning.
    """

    def _draw(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            users, items, rounds = [], [], []
            for user, rnd, need, seen in zip(
                batch["user_idx"], batch["round"], batch["need"], batch["seen"], strict=True
            ):
                rng = np.random.default_rng([seed, salt, int(rnd), int(user)])
                neg = draw_negatives(rng, n_items, np.asarray(seen), int(need), distinct)
                users.append(np.full(len(neg), user, dtype=np.int32))
                rounds.append(np.full(len(neg), rnd, dtype=np.int32))
                items.append(neg)
            if users:
                yield pd.DataFrame(
                    {
                        "user_idx": np.concatenate(users),
                        "item_idx": np.concatenate(items),
                        "round": np.concatenate(rounds),
                    }
                )

    return requests.select("user_idx", "round", "need", "seen").mapInPandas(_draw, _NEGATIVE_SCHEMA)


def recommender_rows(
    pairs: DataFrame, n_items: int, num_negatives: int, eval_negatives: int, seed: int, rounds: int = 1
) -> DataFrame:
    """Positives and sampled negatives per split.

    He et al. (2017) draw a training positive's negatives afresh every epoch. ``rounds`` > 1 writes that many
    independent draws: the training split then holds every positive ``rounds`` times, each copy with its own
    ``num_negatives`` negatives (column ``round``), so reading ``1 / rounds`` of the split per epoch gives every
    epoch new negatives at the same 1 : ``num_negatives`` ratio.

    Args:
        pairs: one row per (user, item): ``user_idx``, ``item_idx``, ``split``.
        n_items: items are ``1..n_items``.
        num_negatives: training negatives per positive and round.
        eval_negatives: distinct negatives for each val and test item.
        seed: the sampler's seed (see :func:`sample_negatives`).
        rounds: independent draws of the training negatives (>= 1).

    Returns:
        ``(user_idx, item_idx, label float, split, round int)``: every pair with label 1.0 (training pairs once per
        round, val/test pairs once with round 0); per user ``num_negatives`` x its training positives per round
        (split ``train``) and ``eval_negatives`` for each of its val and test items (round 0), label 0.0.

    Raises:
        ValueError: ``rounds < 1``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    seen = pairs.groupBy("user_idx").agg(F.collect_list("item_idx").alias("seen"))
    counts = pairs.groupBy("user_idx").pivot("split", list(SPLITS)).count().fillna(0)
    req = counts.join(seen, "user_idx")
    round_ids = pairs.sparkSession.range(rounds).select(F.col("id").cast("int").alias("round"))
    positives = pairs.select("user_idx", "item_idx", F.lit(1.0).cast("float").alias("label"), "split")
    train_pos = positives.where(F.col("split") == "train").crossJoin(round_ids)
    other_pos = positives.where(F.col("split") != "train").withColumn("round", F.lit(0))
    parts = [train_pos, other_pos]
    for split in SPLITS:
        need = F.col(split) * num_negatives if split == "train" else F.when(F.col(split) > 0, eval_negatives)
        r = req.select("user_idx", need.cast("int").alias("need"), "seen").where(F.col("need") > 0)
        r = r.crossJoin(round_ids) if split == "train" else r.withColumn("round", F.lit(0))
        neg = sample_negatives(r, n_items, seed, _SALT[split], distinct=split != "train")
        parts.append(
            neg.select(
                "user_idx", "item_idx", F.lit(0.0).cast("float").alias("label"), F.lit(split).alias("split"), "round"
            )
        )
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.withColumn("round", F.col("round").cast("int"))


# --- file order ---------------------------------------------------------------------------------------------


def seeded_order(rows: DataFrame, n_files: int, seed: int, key: Sequence[str] | None = None) -> DataFrame:
    """``rows`` in ``n_files`` partitions, each sorted in a pseudo-random order that depends only on ``seed`` and
    the rows' content: the same rows give the same files, in the same order, whatever the input partitioning.

    Rows are hash-partitioned on ``key`` (Spark's Murmur3 ``repartition(n, *key)``) and sorted within each partition
    by ``xxhash64(seed, key)``, then by the key columns themselves (ties). Training needs a shuffled order
    (Petastorm shuffles only row groups and a bounded row buffer, and rows arrive grouped by label or user);
    ``F.rand`` after a round-robin ``repartition`` gives another order, and other files, on every run.

    Args:
        rows: any DataFrame.
        n_files: output partitions (>= 1).
        seed: the order's seed.
        key: columns identifying a row (default: all columns). Rows equal on ``key`` keep an unspecified order
            among themselves, which only matters when they differ elsewhere: pass a key that identifies a row.

    Raises:
        ValueError: ``n_files < 1``.
    """
    if n_files < 1:
        raise ValueError(f"n_files must be >= 1, got {n_files}")
    cols = [F.col(c) for c in (key or rows.columns)]
    return rows.repartition(n_files, *cols).sortWithinPartitions(F.xxhash64(F.lit(int(seed)), *cols), *cols)


# --- behaviour ----------------------------------------------------------------------------------------------


def _left_pad(values: Column, length: int, pad: Column) -> Column:
    return F.concat(F.array_repeat(pad, F.lit(length) - F.size(values)), values)


def behaviour_rows(events: DataFrame, item_genres: DataFrame, history_len: int, threshold: float) -> DataFrame:
    """One row per event with its history (see the module docstring).

    Args:
        events: ``user_idx``, ``item_idx``, ``rating`` (float), ``event_time`` (timestamp), ``split``, ``pos``
            (from :func:`leave_last_out`).
        item_genres: ``item_idx``, ``cand_genres`` (float array, length G).
        history_len: N, the fixed history length.
        threshold: engagement label = ``rating >= threshold``.

    Returns:
        ``user_idx``, ``hist_items`` int[N], ``hist_ratings`` float[N], ``hist_gaps`` float[N] (log1p hours),
        ``cand_item``, ``cand_genres`` float[G], ``rating``, ``label`` float (0/1), ``split``, ``pos`` int (the
        event's 0-based position in the user's order) and ``event_ts`` bigint (unix seconds): the last two let the
        baseline's aggregates use only earlier events (:func:`smspark.models.behaviour.aggregate_features`).
    """
    ev = events.withColumn("_ts", F.unix_timestamp("event_time"))
    w = Window.partitionBy("user_idx").orderBy("pos").rowsBetween(-history_len, -1)
    hist = F.array_sort(F.collect_list(F.struct("pos", "item_idx", "rating", "_ts")).over(w))
    ev = ev.withColumn("_h", hist)
    gaps = F.transform("_h", lambda h: F.log1p(F.greatest(F.col("_ts") - h["_ts"], F.lit(0)) / 3600.0).cast("float"))
    out = ev.select(
        "user_idx",
        _left_pad(F.transform("_h", lambda h: h["item_idx"]), history_len, F.lit(0)).alias("hist_items"),
        _left_pad(F.transform("_h", lambda h: h["rating"].cast("float")), history_len, F.lit(0.0).cast("float")).alias(
            "hist_ratings"
        ),
        _left_pad(gaps, history_len, F.lit(0.0).cast("float")).alias("hist_gaps"),
        F.col("item_idx").alias("cand_item"),
        F.col("rating").cast("float").alias("rating"),
        (F.col("rating") >= threshold).cast("float").alias("label"),
        "split",
        F.col("pos").cast("int").alias("pos"),
        F.col("_ts").cast("bigint").alias("event_ts"),
    )
    return out.join(item_genres.select(F.col("item_idx").alias("cand_item"), "cand_genres"), "cand_item").select(
        "user_idx",
        "hist_items",
        "hist_ratings",
        "hist_gaps",
        "cand_item",
        "cand_genres",
        "rating",
        "label",
        "split",
        "pos",
        "event_ts",
    )


def user_states(events: DataFrame, history_len: int) -> DataFrame:
    """Per user, what scoring needs: every item seen and the latest ``history_len`` events (raw item ids).

    The next event is assumed at the user's last event time, so ``hist_gaps`` are ``log1p`` hours from each
    history event to the user's latest one (an old export replayed today does not look decades stale).

    Args:
        events: silver interactions ``user_id``, ``item_id``, ``rating``, ``event_time``.

    Returns:
        ``user_id``, ``seen`` array<int> (item ids), ``hist_items`` array<int> (item ids, oldest first, up to
        ``history_len``, not padded), ``hist_ratings`` array<float>, ``hist_gaps`` array<float>.
    """
    w = Window.partitionBy("user_id").orderBy(F.col("event_time").desc(), F.col("item_id").desc())
    ev = events.withColumn("_rank", F.row_number().over(w)).withColumn("_ts", F.unix_timestamp("event_time"))
    seen = ev.groupBy("user_id").agg(F.array_sort(F.collect_set("item_id")).alias("seen"), F.max("_ts").alias("_last"))
    recent = (
        ev.where(F.col("_rank") <= history_len)
        .groupBy("user_id")
        .agg(
            F.array_sort(F.collect_list(F.struct((-F.col("_rank")).alias("_o"), "item_id", "rating", "_ts"))).alias(
                "_h"
            )
        )
    )
    st = seen.join(recent, "user_id")
    return st.select(
        "user_id",
        "seen",
        F.transform("_h", lambda h: h["item_id"]).alias("hist_items"),
        F.transform("_h", lambda h: h["rating"].cast("float")).alias("hist_ratings"),
        F.transform("_h", lambda h: F.log1p((F.col("_last") - h["_ts"]) / 3600.0).cast("float")).alias("hist_gaps"),
    )

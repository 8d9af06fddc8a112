"""Top-K ranking metrics for the leave-one-out protocol (He et al. 2017, "Neural Collaborative Filtering", 4.1).

Each evaluated user has one held-out ``target`` item and a candidate list: the target plus sampled unseen items
(``sampled``, 100 in the paper), or every item the user has not interacted with (``full``). Candidates are ranked
by descending score; a tie with the target counts against it (the target goes after every candidate with the same
score), so a constant scorer gets no credit for ties. Per user:

* HR@K (hit ratio) = 1 if the target is among the first K ranked items, else 0;
* NDCG@K = ``1 / log2(position + 2)`` for the target's 0-based ``position`` when it is within the first K, else 0
  (one relevant item, so the ideal DCG is 1).

The reported figures are means over users. Every model and baseline is scored by these same functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def rank_candidates(items: np.ndarray, scores: np.ndarray, target: int | None = None) -> np.ndarray:
    """``items`` ordered by descending ``scores``; among equal scores the ``target`` goes last, others by item.

    Args:
        items: candidate item ids ``[n]``.
        scores: their scores ``[n]`` (higher is better; ``-inf`` allowed).
        target: the held-out item (pessimistic tie-breaking), or None.

    Returns:
        The ranked item ids ``[n]`` (same dtype as ``items``).
    """
    items = np.asarray(items)
    scores = np.asarray(scores, dtype=np.float64)
    is_target = (items == target) if target is not None else np.zeros(len(items), dtype=bool)
    return items[np.lexsort((items, is_target, -scores))]


def _position(ranked: Sequence[int] | np.ndarray, target: int, k: int) -> int | None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    top = np.asarray(ranked)[:k]
    hits = np.flatnonzero(top == target)
    return int(hits[0]) if len(hits) else None


def hit_rate_at_k(ranked: Sequence[int] | np.ndarray, target: int, k: int) -> float:
    """1.0 if ``target`` is among the first ``k`` items of ``ranked``, else 0.0.

    Raises:
        ValueError: ``k < 1``.
    """
    return 0.0 if _position(ranked, target, k) is None else 1.0


def ndcg_at_k(ranked: Sequence[int] | np.ndarray, target: int, k: int) -> float:
    """``1 / log2(p + 2)`` for the target's 0-based position ``p < k`` in ``ranked``, else 0.0.

    Raises:
        ValueError: ``k < 1``.
    """
    p = _position(ranked, target, k)
    return 0.0 if p is None else 1.0 / math.log2(p + 2)


def mean_metrics(ranked_lists: Sequence[np.ndarray], targets: Sequence[int], k: int) -> dict[str, float]:
    """Mean ``HR@k`` and ``NDCG@k`` over users (``ranked_lists[u]`` ranked for ``targets[u]``); ``users`` = count.

    Raises:
        ValueError: no users, or lists and targets of different lengths.
    """
    if len(ranked_lists) != len(targets) or not len(targets):
        raise ValueError(
            f"need one ranked list per target and at least one user, got {len(ranked_lists)}/{len(targets)}"
        )
    hr = [hit_rate_at_k(r, t, k) for r, t in zip(ranked_lists, targets, strict=True)]
    nd = [ndcg_at_k(r, t, k) for r, t in zip(ranked_lists, targets, strict=True)]
    return {f"HR@{k}": float(np.mean(hr)), f"NDCG@{k}": float(np.mean(nd)), "users": len(targets)}


def sampled_ranked_lists(
    users: np.ndarray, items: np.ndarray, labels: np.ndarray, scores: np.ndarray
) -> tuple[list[np.ndarray], list[int]]:
    """Group the rows of a sampled-protocol split (one positive and its negatives per user) into ranked lists.

    Args:
        users, items, labels, scores: aligned ``[n]`` arrays; ``labels`` 1 for each user's target, 0 for negatives.

    Returns:
        ``(ranked lists, targets)``, one entry per user (sorted by user).

    Raises:
        ValueError: a user without exactly one positive.
    """
    order = np.argsort(users, kind="stable")
    users, items, labels, scores = users[order], items[order], labels[order], scores[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    ranked, targets = [], []
    for u_items, u_labels, u_scores in zip(
        np.split(items, bounds), np.split(labels, bounds), np.split(scores, bounds), strict=True
    ):
        pos = u_items[u_labels > 0.5]
        if len(pos) != 1:
            raise ValueError(f"expected one positive per user, found {len(pos)}")
        ranked.append(rank_candidates(u_items, u_scores, int(pos[0])))
        targets.append(int(pos[0]))
    return ranked, targets


def full_ranked_lists(scores: np.ndarray, seen: Sequence[np.ndarray], targets: np.ndarray, k: int) -> list[np.ndarray]:
    """Top-``k`` ranked lists over every item for the full-ranking protocol.

    Args:
        scores: float ``[U, I]``, column ``j`` = item_idx ``j + 1``.
        seen: per row, the item_idx to exclude (the user's train and val items; never the target).
        targets: item_idx of each row's held-out item ``[U]``.
        k: list length.

    Returns:
        Per row the first ``k`` item_idx of the ranking over all unseen items (ties against the target).
    """
    n_items = scores.shape[1]
    all_items = np.arange(1, n_items + 1)
    out = []
    for row, excl, target in zip(scores, seen, targets, strict=True):
        s = row.astype(np.float64, copy=True)
        excl = np.asarray(excl, dtype=np.int64)
        excl = excl[(excl != target) & (excl >= 1) & (excl <= n_items)]
        s[excl - 1] = -np.inf
        # only candidates scoring >= the k-th best can be in the top k: rank that short list exactly
        kth = np.partition(s, n_items - k)[n_items - k] if k < n_items else -np.inf
        keep = (s >= kth) & np.isfinite(s)
        keep[target - 1] = True
        out.append(rank_candidates(all_items[keep], s[keep], int(target))[:k])
    return out

"""Ranking metrics, negative draws, top-K masking and re-ranking against hand-computed cases (no Spark)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smspark.features.interactions import draw_negatives
from smspark.models.behaviour import pad_left
from smspark.models.recommender import top_unseen
from smspark.ranking_metrics import (
    full_ranked_lists,
    hit_rate_at_k,
    mean_metrics,
    ndcg_at_k,
    rank_candidates,
    sampled_ranked_lists,
)
from smspark.scoring.recommendations import rerank


def test_rank_candidates_orders_by_score_and_puts_the_target_after_ties():
    assert rank_candidates(np.array([10, 20, 30]), np.array([0.1, 0.9, 0.5])).tolist() == [20, 30, 10]
    # 1 (the target) ties with 2 and 3: it goes after both; 2 and 3 keep item order
    assert rank_candidates(np.array([3, 1, 2, 4]), np.array([0.5, 0.5, 0.5, 0.2]), target=1).tolist() == [2, 3, 1, 4]


def test_hit_rate_and_ndcg_by_hand():
    ranked = [5, 3, 9, 7]
    assert hit_rate_at_k(ranked, 5, 1) == 1.0 and ndcg_at_k(ranked, 5, 1) == 1.0
    assert hit_rate_at_k(ranked, 3, 1) == 0.0 and ndcg_at_k(ranked, 3, 1) == 0.0
    assert hit_rate_at_k(ranked, 3, 2) == 1.0
    assert ndcg_at_k(ranked, 3, 2) == pytest.approx(1 / math.log2(3))  # position 1 -> 0.6309
    assert ndcg_at_k(ranked, 7, 10) == pytest.approx(1 / math.log2(5))  # position 3 -> 0.4307
    assert hit_rate_at_k(ranked, 42, 10) == 0.0 and ndcg_at_k(ranked, 42, 10) == 0.0
    with pytest.raises(ValueError):
        hit_rate_at_k(ranked, 5, 0)


def test_mean_metrics_over_users():
    # user A: target first; user B: target third (outside k=2); user C: target second
    m = mean_metrics([np.array([1, 2, 3]), np.array([4, 5, 6]), np.array([7, 8, 9])], [1, 6, 8], k=2)
    assert m["HR@2"] == pytest.approx(2 / 3)
    assert m["NDCG@2"] == pytest.approx((1.0 + 0.0 + 1 / math.log2(3)) / 3)
    assert m["users"] == 3
    with pytest.raises(ValueError):
        mean_metrics([], [], 2)


def test_sampled_ranked_lists_groups_rows_per_user():
    users = np.array([1, 0, 1, 0, 1, 0])
    items = np.array([11, 20, 12, 21, 13, 22])
    labels = np.array([0, 1, 1, 0, 0, 0], dtype=np.float32)
    scores = np.array([0.9, 0.2, 0.5, 0.3, 0.1, 0.1])
    ranked, targets = sampled_ranked_lists(users, items, labels, scores)
    assert targets == [20, 12]
    assert ranked[0].tolist() == [21, 20, 22] and ranked[1].tolist() == [11, 12, 13]
    m = mean_metrics(ranked, targets, k=1)
    assert m["HR@1"] == 0.0
    with pytest.raises(ValueError, match="one positive"):
        sampled_ranked_lists(users, items, np.zeros(6), scores)


def test_full_ranking_excludes_seen_items_and_is_pessimistic_on_ties():
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.5, 0.5, 0.5, 0.5]])
    # row 0: item_idx 1 was seen -> unseen ranking 2, 3, 4; the target 3 is second
    # row 1: all tied -> the target 1 goes after every other item
    lists = full_ranked_lists(scores, [np.array([1]), np.array([], dtype=np.int64)], np.array([3, 1]), k=2)
    assert lists[0].tolist() == [2, 3]
    assert lists[1].tolist() == [2, 3]
    m = mean_metrics(lists, [3, 1], k=2)
    assert m["HR@2"] == 0.5 and m["NDCG@2"] == pytest.approx(0.5 / math.log2(3))


def test_top_unseen_masks_seen_items():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.4, 0.3, 0.2, 0.1]], dtype=np.float32)
    items, top = top_unseen(scores, [np.array([2]), np.array([1, 4])], k=2)
    assert items.tolist() == [[4, 3], [2, 3]]
    np.testing.assert_allclose(top, [[0.7, 0.5], [0.3, 0.2]])


def test_rerank_by_engagement_then_recommender_score():
    items = np.array([[7, 8, 9, 10]])
    rec = np.array([[0.9, 0.8, 0.7, 0.6]])
    probs = np.array([[0.2, 0.9, 0.5, 0.9]])
    out_items, out_rec, out_probs = rerank(items, rec, probs, k=3)
    assert out_items.tolist() == [[8, 10, 9]]  # 8 and 10 tie on probability: the higher NeuMF score first
    assert out_probs.tolist() == [[0.9, 0.9, 0.5]]


def test_draw_negatives_unseen_distinct_and_seeded():
    seen = np.array([1, 2, 3, 5, 8])
    a = draw_negatives(np.random.default_rng([42, 3, 7]), 20, seen, 15, distinct=True)
    b = draw_negatives(np.random.default_rng([42, 3, 7]), 20, seen, 15, distinct=True)
    assert a.tolist() == b.tolist()
    assert len(a) == 15 and len(set(a.tolist())) == 15  # all 15 unseen items
    assert not set(a.tolist()) & set(seen.tolist()) and set(a.tolist()) <= set(range(1, 21))
    many = draw_negatives(np.random.default_rng(0), 20, seen, 100, distinct=False)
    assert len(many) == 100 and not set(many.tolist()) & set(seen.tolist())
    with pytest.raises(ValueError, match="unseen"):
        draw_negatives(np.random.default_rng(0), 20, seen, 16, distinct=True)


def test_pad_left_keeps_the_latest_values():
    out = pad_left([np.array([1, 2, 3]), np.array([], dtype=np.int32), np.array([4, 5, 6, 7, 8])], 4, np.int32)
    assert out.tolist() == [[0, 1, 2, 3], [0, 0, 0, 0], [5, 6, 7, 8]]

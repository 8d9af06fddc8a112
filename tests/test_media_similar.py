"""Similar-image retrieval: the blocked top-k search against a brute-force computation on a small set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smspark.scoring.media import l2_normalise, similar_media, topk_block


def brute_force(ids: list[str], emb: np.ndarray, k: int) -> dict[str, list[tuple[str, float]]]:
    """Every pair's cosine similarity, sorted per row; the row itself left out."""
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sims = unit @ unit.T
    out = {}
    for i, mid in enumerate(ids):
        others = [(ids[j], float(sims[i, j])) for j in range(len(ids)) if j != i]
        out[mid] = sorted(others, key=lambda t: (-t[1], t[0]))[:k]
    return out


def test_topk_block_matches_brute_force():
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((40, 6)).astype(np.float32)
    mat = l2_normalise(emb)
    ids = [f"m{i:02d}" for i in range(40)]
    expected = brute_force(ids, emb, 5)
    for start in range(0, 40, 7):
        idx, sims = topk_block(mat[start : start + 7], mat, start, 5)
        for r in range(idx.shape[0]):
            got = [ids[j] for j in idx[r]]
            assert got == [m for m, _ in expected[ids[start + r]]]
            assert np.allclose(sims[r], [s for _, s in expected[ids[start + r]]], atol=1e-5)
    idx, _ = topk_block(mat[:2], mat[:2], 0, 5)  # two rows: one neighbour each
    assert idx.tolist() == [[1], [0]]


def test_similar_media_in_spark_matches_brute_force(spark):
    rng = np.random.default_rng(1)
    rows = []
    sources = {"a": 53, "b": 4}
    for source, n in sources.items():
        emb = rng.standard_normal((n, 8)).astype(np.float32)
        rows += [(f"{source}{i:03d}", source, emb[i].tolist()) for i in range(n)]
    df = spark.createDataFrame(pd.DataFrame(rows, columns=["media_id", "source", "embedding"]))
    got = similar_media(df, k=5, block_rows=8).toPandas()
    assert len(got) == 53 * 5 + 4 * 3
    for source in sources:
        part = [r for r in rows if r[1] == source]
        expected = brute_force([r[0] for r in part], np.array([r[2] for r in part]), 5)
        for mid, neighbours in expected.items():
            mine = got[got["media_id"] == mid].sort_values("rank")
            assert mine["rank"].tolist() == list(range(1, len(neighbours) + 1))
            assert mine["neighbour_id"].tolist() == [m for m, _ in neighbours]
            assert mine["similarity"].to_numpy() == pytest.approx([s for _, s in neighbours], abs=1e-5)
            assert set(mine["source"]) == {source}

"""The scale-up of the real landing corpus: unique ids, the real text multiset repeated, users copied whole."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from itertools import islice
from pathlib import Path

import pandas as pd
import pytest

from smspark.sources.scale import (
    POST_FILES,
    RATINGS_FILE,
    posts_on_day,
    scale_landing,
    scale_posts,
    scale_ratings,
)

LANDING = Path(__file__).resolve().parents[1] / "data" / "landing"


def _real_posts(rel: str, count: int) -> list[dict]:
    path = LANDING / rel
    if not path.exists():
        pytest.skip(f"{path} missing: run smspark fetch-samples")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in islice(fh, count)]


def test_scale_posts_keeps_text_multiset_and_unique_ids():
    real = _real_posts(POST_FILES[1], 300) + _real_posts(POST_FILES[0], 200)
    scaled = list(scale_posts(real, 3, seed=7))
    assert len(scaled) == 3 * len(real)
    assert len({p["id"] for p in scaled}) == len(scaled)
    assert Counter(p["text"] for p in scaled) == Counter(
        {t: 3 * c for t, c in Counter(p["text"] for p in real).items()}
    )
    assert scaled[: len(real)] == real
    shifted = [(a["created_at"], b["created_at"]) for a, b in zip(real, scaled[len(real) : 2 * len(real)], strict=True)]
    assert all((a is None) == (b is None) for a, b in shifted)
    assert any(a != b for a, b in shifted if a is not None)
    assert scaled == list(scale_posts(real, 3, seed=7))
    assert list(scale_posts(real, 3, seed=7, first_copy=2)) == scaled[2 * len(real) :]


def test_posts_on_day_keeps_time_of_day_and_everything_else():
    real = _real_posts(POST_FILES[1], 200)
    day = date(2026, 12, 6)
    moved = list(posts_on_day(real, day))
    assert len(moved) == len(real) and real == _real_posts(POST_FILES[1], 200)  # the input is not changed
    for a, b in zip(real, moved, strict=True):
        assert {k: v for k, v in a.items() if k != "created_at"} == {k: v for k, v in b.items() if k != "created_at"}
        if a["created_at"] is None:
            assert b["created_at"] is None
        else:
            assert b["created_at"][:10] == "2026-12-06" and b["created_at"][10:] == a["created_at"][10:]
    assert len({p["created_at"][:10] for p in real if p["created_at"]}) > 1  # the real slice spans several days


def test_scale_ratings_new_users_copy_real_histories():
    path = LANDING / RATINGS_FILE
    if not path.exists():
        pytest.skip(f"{path} missing: run smspark fetch-samples")
    real = pd.read_csv(path, nrows=3000)
    scaled = scale_ratings(real, 3, seed=1)
    assert len(scaled) == 3 * len(real)
    assert scaled["userId"].nunique() == 3 * real["userId"].nunique()
    histories = Counter(tuple(sorted(zip(g["movieId"], g["rating"], strict=True))) for _, g in scaled.groupby("userId"))
    assert all(count == 3 for count in histories.values())
    assert not scaled.duplicated(["userId", "movieId"]).any()


def test_scale_landing_writes_counts(tmp_path: Path):
    src = tmp_path / "landing"
    for rel in POST_FILES:
        posts = _real_posts(rel, 50)
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("".join(json.dumps(p) + "\n" for p in posts), encoding="utf-8")
    info = scale_landing(src, tmp_path / "x2", 2)
    assert info["outputs"] == {rel: 100 for rel in POST_FILES}
    assert json.loads((tmp_path / "x2" / "_SCALE.json").read_text())["scale"] == 2
    with pytest.raises(ValueError):
        scale_landing(src, src, 2)

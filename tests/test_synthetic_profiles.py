"""CTGAN pieces (mode-specific normalisation, training-by-sampling, training) and the SDMetrics scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import smspark  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.synthetic.ctgan import ConditionalSampler, CtganConfig, DataTransformer, fit
from smspark.synthetic.metrics import copula_sample, score
from tests.conftest import require_landing


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """Two-mode continuous column tied to a skewed categorical one, and a gamma column (400 rows)."""
    rng = np.random.default_rng(0)
    c = rng.choice(["x", "y", "z"], 400, p=[0.6, 0.3, 0.1])
    a = np.where(c == "x", rng.normal(0, 1, 400), rng.normal(8, 0.5, 400))
    return pd.DataFrame({"a": a, "b": rng.gamma(2.0, size=400), "c": c})


def test_mode_specific_normalisation_round_trip(table):
    tr = DataTransformer(seed=0).fit(table, ["c"])
    a = tr.columns[0]
    assert a.kind == "continuous" and a.width - 1 >= 2  # the two modes of ``a`` are found
    enc = tr.transform(table, np.random.default_rng(1))
    assert enc.shape == (400, tr.width) and np.abs(enc[:, 0]).max() <= 0.99
    back = tr.inverse(enc)
    np.testing.assert_allclose(back.a, table.a, atol=1e-4)
    assert (back.c == table.c).all()


@pytest.fixture(scope="module")
def movielens_users() -> pd.DataFrame:
    """Per-user rating count and night/evening shares of the MovieLens sample ratings (pandas, one row per user)."""
    ratings = pd.read_csv(require_landing("movielens", "ratings.csv"), usecols=["userId", "timestamp"])
    hour = pd.to_datetime(ratings.timestamp, unit="s", utc=True).dt.hour
    per_user = ratings.assign(night=hour < 6, evening=hour >= 18).groupby("userId")
    return pd.DataFrame({"n_events": per_user.size().astype(float), "night": per_user.night.mean()}).assign(
        evening=per_user.evening.mean()
    )


def test_point_masses_and_heavy_tails_of_user_aggregates(movielens_users):
    users = movielens_users.reset_index(drop=True)
    tr = DataTransformer(seed=0).fit(users)
    n_events, night, _ = tr.columns
    assert n_events.log and not night.log  # rating counts are heavy-tailed, shares are not
    assert {0.0, 1.0} <= set(night.atoms.tolist())  # users who never / only rate at night
    back = tr.inverse(tr.transform(users, np.random.default_rng(1)))
    assert ((back.night == 0) == (users.night == 0)).all() and ((back.night == 1) == (users.night == 1)).all()
    np.testing.assert_allclose(back.night, users.night, atol=1e-4)
    assert (back.n_events == users.n_events).mean() > 0.99  # integers back, but a value beyond 4 sigma is clipped
    plain = DataTransformer(seed=0, atom_share=None, log_skew=None).fit(users)
    decoded = plain.inverse(plain.transform(users, np.random.default_rng(1)))
    assert (decoded.night == 0).mean() < (users.night == 0).mean()  # a Gaussian mode smears the point mass


def test_training_by_sampling_draws_rows_of_the_asked_category(table):
    tr = DataTransformer(seed=0).fit(table, ["c"])
    data = tr.transform(table, np.random.default_rng(1))
    sampler = ConditionalSampler(tr, data)
    cond, mask, rows = sampler.sample(3000, np.random.default_rng(2))
    start, width = sampler.spans[0]
    assert (data[rows, start : start + width] == cond).all() and (mask == 1).all()
    counts = table.c.value_counts().reindex(["x", "y", "z"]).to_numpy()
    expected = np.log1p(counts) / np.log1p(counts).sum()
    np.testing.assert_allclose(cond.mean(axis=0), expected, atol=0.03)  # log-frequency, not frequency


def test_ctgan_trains_and_samples_the_table_columns(table):
    model = fit(table, ["c"], CtganConfig(epochs=2, batch_size=100))
    out = model.sample(50, seed=3)
    assert list(out.columns) == ["a", "b", "c"] and len(out) == 50
    assert set(out.c) <= {"x", "y", "z"} and np.isfinite(out[["a", "b"]].to_numpy()).all()
    assert len(model.history) == 2 and np.isfinite(model.history[-1]["d_loss"])


def test_scores_flag_a_copy_of_the_training_rows(table):
    train, holdout = table.iloc[:200].reset_index(drop=True), table.iloc[200:].reset_index(drop=True)
    copied = score(train, holdout, train, ["c"])
    assert copied["dcr_overfitting_protection"] == 0.0
    copula = score(train, holdout, copula_sample(train, 200, 0, ["c"]), ["c"])
    assert copula["dcr_overfitting_protection"] > 0.5
    assert 0.0 <= copula["quality_score"] <= 1.0 and 0.0 <= copula["detection_score"] <= 1.0


def test_evaluate_profiles_cli_on_a_user_table(tmp_path, table):
    """The command end to end on a small table with an identifier column (dropped) and a text column (categorical)."""
    import json

    from smspark.jobs import evaluate

    src = tmp_path / "users.csv"
    table.assign(user=[f"user{i}" for i in range(len(table))]).to_csv(src, index=False)
    out = tmp_path / "metrics.json"
    assert evaluate.main(["profiles", "--input", str(src), "--output", str(out), "--epochs", "2"]) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"gan", "copula"}
    for scores in metrics.values():
        for key in ("quality_score", "detection_score", "dcr_overfitting_protection"):
            assert 0.0 <= scores[key] <= 1.0
        assert scores["train_rows"] == scores["holdout_rows"] == 200
    manifest = json.loads((tmp_path / "metrics.manifest.json").read_text())
    cols = manifest["metrics"]["profiles_columns"]
    assert cols["dropped_identifier_columns"] == ["user"] and cols["categorical"] == ["c"]


def test_evaluate_profiles_refuses_a_tiny_table():
    from smspark.jobs.common import UserError
    from smspark.jobs.evaluation.profiles import prepare

    with pytest.raises(UserError, match="at least"):
        prepare(pd.DataFrame({"a": range(50), "b": range(50)}))

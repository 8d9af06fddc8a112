"""The model lifecycle: its pure rules, and the champion rule across two feature builds with a real (tiny) model
registered in MLflow, re-measured on the current splits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from smspark import storage
from smspark.train.lifecycle import (
    Baseline,
    Candidate,
    ModelAdapter,
    NotReady,
    Package,
    champion_decision,
    epochs_for,
    fingerprint,
    flat_metrics,
    mlflow_key,
    run_lifecycle,
)
from smspark.train.registry import configure, get_champion


def test_epochs_are_raised_to_a_minimum_number_of_steps():
    assert epochs_for(3, 600, 54_000, 128, 2) == 3  # 210 steps per epoch: 630 >= 600
    assert epochs_for(3, 600, 1_407, 128, 2) == 120  # 5 steps per epoch
    assert epochs_for(3, 0, 10, 128, 2) == 3


def test_metric_keys_and_flattening():
    assert mlflow_key("HR@10_full") == "HR_at_10_full" and mlflow_key("f1_a&b") == "f1_a_b"
    flat = flat_metrics("val_", {"AUC": 0.7, "rows": 3, "by": {"T-shirt/top": 0.5}, "ok": True, "nan": float("nan")})
    assert flat == {"val_AUC": 0.7, "val_rows": 3.0, "val_by.T-shirt/top": 0.5}


@pytest.mark.parametrize(
    ("candidate", "champion", "higher", "version", "incompatible", "promote"),
    [
        (0.5, None, True, None, None, True),  # first version
        (0.7, 0.6, True, "1", None, True),
        (0.6, 0.6, True, "1", None, False),  # a tie keeps the champion
        (0.5, 0.6, True, "1", None, False),
        (4.0, 5.0, False, "1", None, True),  # lower is better (Frechet distance)
        (6.0, 5.0, False, "1", None, False),
        (0.1, None, True, "1", "another dataset", True),
    ],
)
def test_champion_decision(candidate, champion, higher, version, incompatible, promote):
    d = champion_decision("m", candidate, champion, higher, version, incompatible)
    assert d.promote is promote
    if incompatible:
        assert incompatible in d.reason


def test_fingerprint_follows_the_features(tmp_path: Path):
    root = storage.resolve_root(tmp_path / "f")
    storage.write_json(storage.join(root, "meta.json"), {"vocab": ["a", "b"]})
    storage.write_bytes(storage.join(root, "train", "part-0.parquet"), b"x" * 10)
    first = fingerprint(root)
    assert fingerprint(root) == first and len(first) == 16
    storage.write_json(storage.join(root, "meta.json"), {"vocab": ["a", "c"]})
    assert fingerprint(root) != first


# --- the whole lifecycle with a tiny real model ---------------------------------------------------------------


class ThresholdModel(mlflow.pyfunc.PythonModel):
    """``x > threshold`` -> 1. Its only artifact is ``meta`` (``{"threshold": t}``)."""

    threshold: float = 0.0

    def load_context(self, context: Any) -> None:
        self.threshold = json.loads(Path(context.artifacts["meta"]).read_text())["threshold"]

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return pd.DataFrame({"label": (model_input["x"].to_numpy() > self.threshold).astype(int)})


class ThresholdAdapter(ModelAdapter):
    """Learns the threshold with the best training accuracy (grid of 0.1); accuracy on a split; the baseline always
    predicts the training majority class."""

    name = "threshold_demo"
    features = "threshold_demo"
    candidate_name = "threshold"
    selection_metric = "accuracy"

    def _split(self, split: str) -> pd.DataFrame:
        return pd.read_parquet(storage.local_path(self.ctx.features(split, "part.parquet")))

    def rows(self) -> dict[str, int]:
        return {s: len(self._split(s)) for s in ("train", "val", "test")}

    def params(self) -> dict[str, Any]:
        return {}

    def train(self) -> Candidate:
        tr = self._split("train")
        grid = np.linspace(0, 10, 101)
        t = float(grid[np.argmax([((tr.x > g) == tr.y).mean() for g in grid])])
        meta = self.ctx.local_dir / "meta.json"
        meta.write_text(json.dumps({"threshold": t}))
        model = ThresholdModel()
        model.threshold = t
        return Candidate(model, {"meta": str(meta)}, {"loss": [1.0]}, [0], 0.1, {"threshold": t})

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        df = self._split(split)
        return {"accuracy": float((model.predict(None, df)["label"].to_numpy() == df.y.to_numpy()).mean())}

    def baselines(self) -> list[Baseline]:
        majority = int(self._split("train").y.mode()[0])
        acc = {s: {"accuracy": float((self._split(s).y == majority).mean())} for s in ("val", "test")}
        return [Baseline("majority", acc["val"], acc["test"], {"class": majority})]

    def package(self, candidate: Candidate) -> Package:
        return Package(ThresholdModel(), pd.DataFrame({"x": [0.0, 1.0]}), ["pandas"])


def _build(root: Path, boundary: float, seed: int) -> None:
    """A features build: x ~ U(0, 10), y = x > boundary (with 5% label noise)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", 400), ("val", 200), ("test", 200)):
        x = rng.uniform(0, 10, n)
        y = ((x > boundary) ^ (rng.random(n) < 0.05)).astype(int)
        out = root / "features" / "threshold_demo" / split
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"x": x, "y": y}).to_parquet(out / "part.parquet")


def test_champion_is_re_measured_on_the_current_splits(make_cfg, tmp_path: Path):
    cfg = make_cfg()
    root = Path(storage.local_path(cfg.layout.root))
    with pytest.raises(NotReady, match="run `smspark features` first"):
        run_lifecycle(ThresholdAdapter, None, cfg, "r0", 1, "spark")

    _build(root, boundary=3.0, seed=1)
    first = run_lifecycle(ThresholdAdapter, None, cfg, "r1", 1, "spark")
    assert first["champion"]["promoted"] and first["champion"]["reason"].startswith("first version")
    assert first["selection"] == {
        "metric": "accuracy",
        "split": "val",
        "higher_is_better": True,
        "candidate": first["val"]["threshold"]["accuracy"],
        "champion": None,
        "baselines": {"majority": first["val"]["majority"]["accuracy"]},
    }
    v1_val = first["val"]["threshold"]["accuracy"]
    assert v1_val > 0.85 and first["beats_baseline"] and first["test"]["champion"] is None

    # The features are rebuilt and the world moved: v1 is now poor. v2, although its val figure is below v1's figure
    # from the old split, beats v1 re-measured on the new split.
    _build(root, boundary=7.0, seed=2)
    second = run_lifecycle(ThresholdAdapter, None, cfg, "r2", 1, "spark")
    v2_val = second["val"]["threshold"]["accuracy"]
    v1_now = second["val"]["champion"]["accuracy"]
    assert v1_now < 0.75 < v2_val
    assert second["champion"]["promoted"] and second["champion"]["previous_version"] == "1"
    assert second["features_fingerprint"] != first["features_fingerprint"]

    # A candidate trained on stale data (the old boundary) and so worse on the current split does not win, even though
    # its figure on the old split was the best of all.
    _build(root, boundary=3.0, seed=3)
    (root / "features" / "threshold_demo" / "val").rename(root / "old_val")
    (root / "features" / "threshold_demo" / "test").rename(root / "old_test")
    _build(root / "new", boundary=7.0, seed=4)
    for split in ("val", "test"):
        (root / "new" / "features" / "threshold_demo" / split).rename(root / "features" / "threshold_demo" / split)
    third = run_lifecycle(ThresholdAdapter, None, cfg, "r3", 1, "spark")
    assert third["val"]["threshold"]["accuracy"] < third["val"]["champion"]["accuracy"]
    assert not third["champion"]["promoted"] and "is not higher" in third["champion"]["reason"]
    client = configure(cfg)
    assert get_champion(client, "threshold_demo").version == second["version"] == "2"
    tags = client.get_model_version("smspark_threshold_demo", third["version"]).tags
    assert tags["features_fingerprint"] == third["features_fingerprint"]
    run = mlflow.get_run(third["mlflow_run_id"])
    assert run.data.tags["promoted"] == "false"
    assert run.data.metrics["champion_val_accuracy"] == pytest.approx(third["val"]["champion"]["accuracy"])
    assert run.data.metrics["baseline_majority_test_accuracy"] == pytest.approx(third["test"]["majority"]["accuracy"])


def test_scorecard_names_the_winner_and_a_loss_to_the_baseline():
    from smspark.jobs.scorecard import scorecard

    rec = {
        "selection": {
            "metric": "auc",
            "split": "val",
            "higher_is_better": True,
            "candidate": 0.75,
            "champion": 0.74,
            "baselines": {"logreg": 0.77, "popularity": 0.6},
        },
        "val": {"gru": {"auc": 0.75}, "logreg": {"auc": 0.77}, "popularity": {"auc": 0.6}, "champion": {"auc": 0.74}},
        "test": {"gru": {"auc": 0.73}, "logreg": {"auc": 0.76}, "popularity": {"auc": 0.61}, "champion": {"auc": 0.7}},
        "beats_baseline": False,
        "champion": {"champion_version": "2", "reason": "v2 wins on val auc"},
    }
    lines = scorecard({"behaviour": rec, "gan": {"trained": False}})
    assert len(lines) == 2  # the header and the one trained model
    row = lines[1].split()
    assert row[:2] == ["behaviour", "auc"]
    assert row[2:5] == ["0.7500", "/", "0.7300"]
    assert row[5:9] == ["logreg", "0.7700", "/", "0.7600"]  # the best baseline on val, not the first
    assert row[9:12] == ["0.7400", "/", "0.7000"] and row[12] == "NO" and "v2 wins" in lines[1]
    assert scorecard({"gan": {"trained": False}}) == []

"""The behaviour (engagement) model in the lifecycle: a GRU over the user's history next to MLlib
LogisticRegression on aggregate features.

Reads ``features/behaviour/{train,val,test}`` (one row per event: ``hist_items``, ``hist_ratings``, ``hist_gaps``
``[N]``, ``cand_item``, ``cand_genres``, ``label`` = rating >= threshold), ``id_maps.npz`` and ``meta.json``.
Any version is evaluated through its pyfunc on raw item ids (the current rows are mapped back through the current id
maps), so an older champion with other id maps or another history length is measured on the same events.
Selection metric: AUC on validation; log-loss reported beside it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import pandas as pd

from smspark import storage
from smspark.features.interactions import IdMaps
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, Package, pip_requirements

log = logging.getLogger(__name__)


def read_behaviour(uri: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A behaviour features split as model inputs (see :mod:`smspark.models.behaviour`) and labels float32 ``[n]``."""

    from smspark.models.behaviour import INPUTS

    t = storage.read_parquet(uri, columns=[*INPUTS, "label"])
    x: dict[str, np.ndarray] = {}
    for name in INPUTS:
        col = t.column(name)
        if name.startswith("hist") or name == "cand_genres":
            dtype = np.int32 if name == "hist_items" else np.float32
            x[name] = np.stack(col.to_numpy(zero_copy_only=False)).astype(dtype)
        else:
            x[name] = col.to_numpy().astype(np.int32)
    return x, t.column("label").to_numpy().astype(np.float32)


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """``AUC`` (ROC) and ``logloss`` of probabilities ``p`` for 0/1 labels ``y`` (scikit-learn), with ``rows`` and
    ``positive_rate``."""
    from sklearn.metrics import log_loss, roc_auc_score

    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return {
        "AUC": float(roc_auc_score(y, p)),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "rows": int(len(y)),
        "positive_rate": float(np.mean(y)),
    }


def raw_histories(
    x: dict[str, np.ndarray], maps: IdMaps
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Left-padded model inputs in ``item_idx`` -> per row the raw item ids, ratings and gaps (padding dropped)."""
    items, ratings, gaps = [], [], []
    for hi, hr, hg in zip(x["hist_items"], x["hist_ratings"], x["hist_gaps"], strict=True):
        keep = hi > 0
        items.append(maps.items[hi[keep] - 1].astype(np.int64))
        ratings.append(hr[keep])
        gaps.append(hg[keep])
    return items, ratings, gaps


class BehaviourAdapter(ModelAdapter):
    """The GRU engagement model (``smspark_behaviour``): see :mod:`smspark.models.behaviour`."""

    name = "behaviour"
    features = "behaviour"
    candidate_name = "behaviour"
    selection_metric = "AUC"
    resumable = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.maps_file = ctx.local(ctx.features("id_maps.npz"))
        self.maps = IdMaps.load(self.maps_file)
        self.feat_meta = storage.read_json(ctx.features("meta.json"))
        self.mcfg = self.cfg.models.behaviour
        if self.feat_meta["history_len"] != self.mcfg.history_len:
            log.warning(
                "features/behaviour were built with history_len=%d (config: %d); the model follows the features",
                self.feat_meta["history_len"],
                self.mcfg.history_len,
            )
            self.mcfg = self.mcfg.model_copy(update={"history_len": int(self.feat_meta["history_len"])})
        self._data: dict[str, tuple[dict[str, np.ndarray], np.ndarray]] = {}

    def params(self) -> dict[str, Any]:
        return {**self.mcfg.model_dump(), "n_items": self.maps.n_items, "n_genres": len(self.maps.genres)}

    def train(self) -> Candidate:
        from smspark.models.behaviour import INPUTS, BehaviourPyfunc, build_model

        mcfg = self.mcfg
        run = self.train_keras(
            "gru",
            functools.partial(build_model, mcfg, self.maps.n_items, len(self.maps.genres)),
            list(INPUTS),
            "label",
            mcfg,
            loss="binary_crossentropy",
            metrics=["AUC"],
        )
        meta = {
            "model": "behaviour",
            "history_len": mcfg.history_len,
            "engagement_threshold": mcfg.engagement_threshold,
            "n_items": self.maps.n_items,
            "genres": self.maps.genres.tolist(),
            "config": mcfg.model_dump(),
            "features": self.feat_meta,
        }
        meta_uri = storage.write_json(self.ctx.work("gru", "meta.json"), meta)
        model = BehaviourPyfunc()
        model.keras_model, model.maps, model.meta = run.model, self.maps, meta
        artifacts = {
            "keras_model": self.ctx.local(storage.join(run.out_uri, "model.h5")),
            "meta": self.ctx.local(meta_uri),
            "id_maps": self.maps_file,
        }
        return Candidate(model, artifacts, run.history, run.ranks, run.seconds, {"training": run.summary()})

    def split_data(self, split: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if split not in self._data:
            self._data[split] = read_behaviour(self.ctx.features(split))
        return self._data[split]

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        x, y = self.split_data(split)
        items, ratings, gaps = raw_histories(x, self.maps)
        cand = self.maps.items[x["cand_item"] - 1].astype(np.int64).reshape(-1, 1)
        return binary_metrics(y, model.engagement(items, ratings, gaps, cand).reshape(-1))

    def baselines(self) -> list[Baseline]:
        """MLlib LogisticRegression on leak-free aggregates (:func:`smspark.models.baselines.engagement_logreg`:
        each row's features from events before it), ``regParam`` picked on validation AUC."""
        from smspark.models.baselines import engagement_logreg

        mcfg = self.mcfg
        splits = self.split_frames()
        base = engagement_logreg(
            splits["train"],
            splits["val"],
            splits["test"],
            reg_grid=mcfg.baseline_reg_params,
            max_iter=mcfg.baseline_max_iter,
            items_from=mcfg.baseline_items_from,
            parallelism=self.cfg.train.grid_parallelism,
        )
        return [
            Baseline(
                "logreg",
                binary_metrics(*base["val"]),
                binary_metrics(*base["test"]),
                {"reg_param": base["reg_param"], "items_from": mcfg.baseline_items_from},
                extra={"grid": base["grid"], "coefficients": base["coefficients"]},
            )
        ]

    def package(self, candidate: Candidate) -> Package:
        from smspark.models.behaviour import BehaviourPyfunc

        items = self.maps.items
        sample = pd.DataFrame(
            {
                "hist_items": [items[:3].astype(np.int64).tolist()],
                "hist_ratings": [[4.0, 3.5, 5.0]],
                "hist_gaps": [[2.0, 1.0, 0.0]],
                "cand_item": [int(items[3 % len(items)])],
            }
        )
        return Package(BehaviourPyfunc(), sample, pip_requirements())

"""Account risk in the lifecycle: a dense autoencoder trained with Horovod next to MLlib KMeans, without labels.

Reads ``features/accounts/{train,val,test}`` (:data:`smspark.schemas.ACCOUNT_FEATURES`: raw account columns and
``x``, the standardised model input) and ``meta.json`` (the training split's imputation and standardisation
statistics). The autoencoder (:func:`smspark.models.account_risk.build_model`, ``d -> hidden -> code -> hidden -> d``)
is trained to reconstruct ``x`` with mean squared error by Horovod workers reading their Petastorm shards
(:meth:`ModelAdapter.train_keras`: the Keras/Horovod recipe of :mod:`smspark.train.worker`); every rank returns a
checksum of its final weights (the manifest's ``weight_checksums``: equal when the broadcast and the gradient
averaging worked).

No account is labelled bot or human, so nothing here measures detection. What is measured, on validation and test
through the pyfunc's raw-input path (any version, the candidate or an older champion, the same way):

- ``mse``: mean squared reconstruction error of the standardised features (the selection metric, lower is better);
- ``train_mean_mse``: the same error of the trivial reconstruction, the training mean (0 after standardisation);
- ``spearman_ae_kmeans`` and ``top_overlap_ae_kmeans``: how far the autoencoder's ranking agrees with the KMeans
  distance ranking (Spearman rank correlation; the shared share of the top ``top_share`` accounts of both).

Baselines: ``kmeans`` (MLlib KMeans on the training accounts, ``k`` picked on validation silhouette; its
reconstruction is the nearest centroid, so its ``mse`` is the squared distance per feature) and ``train_mean``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark import storage
from smspark.config import AccountRiskConfig
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, Package, pip_requirements

MODEL = "account_risk"


def ranking_agreement(a: np.ndarray, b: np.ndarray, top_share: float) -> dict[str, float]:
    """Agreement of two score vectors (``[n]``, higher = riskier): Spearman rank correlation (nan when either is
    constant or ``n < 2``) and the share of the top ``ceil(top_share * n)`` (at least 1) rows of ``a`` that are also
    in the top of ``b``."""
    from scipy.stats import spearmanr

    n = len(a)
    k = max(1, math.ceil(top_share * n))
    rho = float("nan")
    if n >= 2 and np.ptp(a) > 0 and np.ptp(b) > 0:
        rho = float(spearmanr(a, b).statistic)
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return {"spearman": rho, "top_overlap": len(top_a & top_b) / k if n else float("nan"), "top_k": k}


class AccountRiskAdapter(ModelAdapter):
    """The autoencoder (``smspark_account_risk``) vs KMeans distance and the training mean; selection on validation
    reconstruction ``mse`` (lower is better)."""

    name = MODEL
    features = "accounts"
    candidate_name = "autoencoder"
    selection_metric = "mse"
    higher_is_better = False
    resumable = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.meta = storage.read_json(ctx.features("meta.json"))
        self.columns: list[str] = list(self.meta["columns"])
        self.mcfg: AccountRiskConfig = self.cfg.models.account_risk
        self._data: dict[str, pd.DataFrame] = {}
        self._kmeans: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        return {**self.mcfg.model_dump(), "window": self.meta["window"], "n_features": len(self.columns)}

    def tags(self) -> dict[str, str]:
        return {"dataset": "silver/posts", "window": str(self.meta["window"])}

    def split_data(self, split: str) -> pd.DataFrame:
        """A split's raw account rows (``account_key`` and the model columns), in account-key order."""
        if split not in self._data:
            table = storage.read_parquet(self.ctx.features(split), columns=["account_key", *self.columns])
            self._data[split] = table.to_pandas().sort_values("account_key", kind="stable").reset_index(drop=True)
        return self._data[split]

    def train(self) -> Candidate:
        from smspark.models.account_risk import AccountRiskPyfunc, build_model, write_meta

        d = len(self.columns)
        run = self.train_keras(
            "autoencoder",
            functools.partial(build_model, d, self.mcfg.hidden, self.mcfg.code),
            ["x"],
            "x",
            self.mcfg,
            loss="mse",
            metrics=[],
        )
        kmeans = self.fit_kmeans()
        meta = {
            "model": MODEL,
            "columns": self.columns,
            "stats": self.meta["stats"],
            "centroids": kmeans["centroids"],
            "top_features": self.mcfg.top_features,
            "window": self.meta["window"],
            "spam_share": self.meta["spam_share"],
        }
        model = AccountRiskPyfunc()
        model.keras_model, model.meta = run.model, meta
        artifacts = {
            "keras_model": self.ctx.local(storage.join(run.out_uri, "model.h5")),
            "meta": write_meta(str(Path(self.ctx.local_dir) / "account_risk_meta.json"), meta),
        }
        extra = {
            "training": run.summary(),
            "weight_checksums": {r["rank"]: r["weight_checksum"] for r in run.results},
            "kmeans": {k: v for k, v in kmeans.items() if k != "centroids"},
            "spam_share": self.meta["spam_share"],
        }
        return Candidate(model, artifacts, run.history, run.ranks, run.seconds, extra)

    def fit_kmeans(self) -> dict[str, Any]:
        """MLlib KMeans on the training accounts' ``x`` for each ``kmeans_k`` below the training rows; the ``k`` of
        the highest validation silhouette (squared Euclidean) is kept. Returns ``k``, ``silhouette``, ``grid``
        (``{k: silhouette}``) and ``centroids`` (``[k, d]`` lists). The ``k`` are fitted ``train.grid_parallelism``
        at a time (:func:`smspark.models.baselines.fit_grid`)."""
        if self._kmeans is None:
            from pyspark.ml.clustering import KMeans
            from pyspark.ml.evaluation import ClusteringEvaluator
            from pyspark.ml.functions import array_to_vector

            from smspark.models.baselines import fit_grid

            frames = {
                s: f.select(array_to_vector("x").alias("features")).persist()
                for s, f in self.split_frames().items()
                if s != "test"
            }
            n_train = frames["train"].count()
            ks = [k for k in self.mcfg.kmeans_k if k < n_train]
            estimator = KMeans(seed=self.cfg.train.seed, featuresCol="features")

            def silhouette(m: Any) -> float:
                pred = m.transform(frames["val"])
                evaluator = ClusteringEvaluator(featuresCol="features", predictionCol="prediction")
                return float(evaluator.evaluate(pred)) if pred.select("prediction").distinct().count() > 1 else -1.0

            fits = fit_grid(
                estimator,
                frames["train"],
                [{estimator.k: k} for k in ks],
                silhouette,
                self.cfg.train.grid_parallelism,
            )
            models = {k: m for k, (m, _, _) in zip(ks, fits, strict=True)}
            grid = {k: s for k, (_, s, _) in zip(ks, fits, strict=True)}
            for f in frames.values():
                f.unpersist()
            if not grid:
                raise ValueError(f"no KMeans k in {self.mcfg.kmeans_k} is below the {n_train} training accounts")
            best = max(grid, key=lambda k: (grid[k], -k))
            centroids = [[float(v) for v in c] for c in models[best].clusterCenters()]
            self._kmeans = {"k": best, "silhouette": grid[best], "grid": grid, "centroids": centroids}
        return self._kmeans

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        """Figures of any version on a split. The reconstruction error is measured in the current features'
        standardised space (a version with other training statistics has its reconstruction mapped back through its
        own statistics and standardised again with the current ones), so versions are compared on one scale."""
        from smspark.features.accounts import encode_risk

        frame = self.split_data(split)
        s = model.scores(frame)
        d = s["x"].shape[1]
        own, cur = model.meta["stats"], self.meta["stats"]
        x = encode_risk(frame, cur).astype(np.float64)
        recon = (s["recon"] * np.asarray(own["std"]) + np.asarray(own["mean"]) - np.asarray(cur["mean"])) / np.asarray(
            cur["std"]
        )
        agree = ranking_agreement(s["ae_score"], s["kmeans_score"], self.mcfg.top_share)
        mse = float(((recon - x) ** 2).mean()) if len(x) else float("nan")
        ref = float((x**2).mean())
        return {
            "mse": mse,
            "train_mean_mse": ref,
            "mse_ratio_to_train_mean": mse / ref if ref > 0 else float("nan"),
            "kmeans_mse": float((s["kmeans_score"] ** 2).mean() / d),
            "spearman_ae_kmeans": agree["spearman"],
            "top_overlap_ae_kmeans": agree["top_overlap"],
            "top_k": agree["top_k"],
            "rows": len(frame),
        }

    def incompatible(self, champion: Any) -> str | None:
        meta = getattr(champion, "meta", None) or {}
        if list(meta.get("columns", [])) != self.columns or meta.get("window") != self.meta["window"]:
            return f"it reads columns {meta.get('columns')} per {meta.get('window')}, these features are per " + str(
                self.meta["window"]
            )
        return None

    def baselines(self) -> list[Baseline]:
        from smspark.features.accounts import encode_risk
        from smspark.models.account_risk import nearest_centroid_distance

        km = self.fit_kmeans()
        centroids = np.asarray(km["centroids"], dtype=np.float64)
        figures: dict[str, dict[str, dict[str, float]]] = {"kmeans": {}, "train_mean": {}}
        for split in ("val", "test"):
            x = encode_risk(self.split_data(split), self.meta["stats"]).astype(np.float64)
            dist = nearest_centroid_distance(x, centroids)
            figures["kmeans"][split] = {"mse": float((dist**2).mean() / x.shape[1]), "rows": len(x)}
            figures["train_mean"][split] = {"mse": float((x**2).mean()), "rows": len(x)}
        return [
            Baseline(
                "kmeans",
                {**figures["kmeans"]["val"], "silhouette": km["silhouette"]},
                figures["kmeans"]["test"],
                {"k": km["k"]},
                extra={"silhouette_by_k": km["grid"]},
            ),
            Baseline("train_mean", figures["train_mean"]["val"], figures["train_mean"]["test"]),
        ]

    def package(self, candidate: Candidate) -> Package:
        from smspark.models.account_risk import AccountRiskPyfunc

        sample = self.split_data("val").head(2)[self.columns].astype(np.float64)
        return Package(AccountRiskPyfunc(), sample, pip_requirements())

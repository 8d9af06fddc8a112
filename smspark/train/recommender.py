"""Train, test, compare, log and register the recommender (NeuMF) and the behaviour (engagement) model.

Recommender: NeuMF trains with Horovod on ``features/recommender/train`` (positives + 4 sampled negatives each)
through Petastorm. On the driver, NeuMF, MLlib ALS (``implicitPrefs``; rank/regParam/alpha picked on validation
HR@K) and item popularity (training interactions per item) are all tested on the same users with the same
protocol (:mod:`smspark.ranking_metrics`): HR@K and NDCG@K over the test item and its 100 sampled negatives, and
over every item the user has not interacted with in train/val (``_full``). NeuMF is registered as
``smspark_recommender`` and becomes ``champion`` when it beats the current one on test HR@K (sampled).

Behaviour: the GRU model trains with Horovod on ``features/behaviour/train``; it and an MLlib LogisticRegression
on aggregate features (:func:`smspark.models.behaviour.aggregate_features`, training data only) are tested on the
same test events: AUC and log-loss (scikit-learn). Registered as ``smspark_behaviour``; champion on test AUC.

A model that does not beat its baselines is logged with a warning and ``beats_baselines: false`` (MLflow tag and
manifest), and still registered: the champion rule compares it only with earlier versions of itself.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from smspark import storage
from smspark.config import Settings
from smspark.features.interactions import IdMaps
from smspark.ranking_metrics import full_ranked_lists, mean_metrics, sampled_ranked_lists
from smspark.train.launcher import run_distributed
from smspark.train.readers import parquet_row_count
from smspark.train.registry import configure, promote_if_better, registered_name
from smspark.train.worker import KerasTrainSpec, keras_worker

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def mlflow_key(name: str) -> str:
    """``HR@10_full`` -> ``HR_at_10_full`` (MLflow metric names take no ``@``)."""
    return name.replace("@", "_at_")


def _pip_requirements() -> list[str]:
    from smspark.train.sentiment import pip_requirements

    return pip_requirements()


def _run_workers(spec: KerasTrainSpec, spark: SparkSession, num_proc: int, backend: str) -> list[dict[str, Any]]:
    return run_distributed(keras_worker, (spec,), num_proc=num_proc, backend=backend, spark=spark)


def _load_keras(path: Path) -> Any:
    import tf_keras

    return tf_keras.models.load_model(str(path), compile=False)


# --- recommender evaluation ---------------------------------------------------------------------------------


class RankingData:
    """A recommender features folder read for evaluation (pyarrow, on the driver).

    Attributes:
        n_items: items are ``1..n_items``.
        train_pos: training positives ``(user_idx, item_idx)`` int64 arrays.
        val, test: ``(user_idx, item_idx, label)`` arrays of the sampled splits.
        test_targets: per test user (sorted) its held-out item_idx; ``test_users`` those users.
        seen: per test user, the item_idx of its train and val interactions (excluded in full ranking).
    """

    def __init__(self, feats: str, n_items: int) -> None:
        self.n_items = n_items
        train = storage.read_parquet(storage.join(feats, "train"), columns=["user_idx", "item_idx", "label"])
        lab = train.column("label").to_numpy() > 0.5
        self.train_pos = (
            train.column("user_idx").to_numpy().astype(np.int64)[lab],
            train.column("item_idx").to_numpy().astype(np.int64)[lab],
        )
        self.val = self._read(storage.join(feats, "val"))
        self.test = self._read(storage.join(feats, "test"))
        tu, ti, tl = self.test
        pos = tl > 0.5
        order = np.argsort(tu[pos], kind="stable")
        self.test_users = tu[pos][order]
        self.test_targets = ti[pos][order]
        vu, vi, vl = self.val
        seen = pd.DataFrame(
            {
                "u": np.concatenate([self.train_pos[0], vu[vl > 0.5]]),
                "i": np.concatenate([self.train_pos[1], vi[vl > 0.5]]),
            }
        )
        groups = seen.groupby("u")["i"].apply(np.asarray)
        self.seen = [groups.get(u, np.zeros(0, dtype=np.int64)) for u in self.test_users]

    @staticmethod
    def _read(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = storage.read_parquet(path, columns=["user_idx", "item_idx", "label"])
        return (
            t.column("user_idx").to_numpy().astype(np.int64),
            t.column("item_idx").to_numpy().astype(np.int64),
            t.column("label").to_numpy().astype(np.float32),
        )


PairScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
UserScorer = Callable[[np.ndarray], np.ndarray]


def sampled_metrics(
    split: tuple[np.ndarray, np.ndarray, np.ndarray], score_pairs: PairScorer, k: int
) -> dict[str, float]:
    """HR@k / NDCG@k on a sampled split (one positive + its sampled negatives per user)."""
    users, items, labels = split
    ranked, targets = sampled_ranked_lists(users, items, labels, score_pairs(users, items))
    return mean_metrics(ranked, targets, k)


def ranking_metrics(
    data: RankingData, score_pairs: PairScorer, score_users: UserScorer, k: int, chunk: int = 256
) -> dict[str, float]:
    """Test ``HR@k``, ``NDCG@k`` (sampled negatives) and ``HR@k_full``, ``NDCG@k_full`` (all unseen items)."""
    out = sampled_metrics(data.test, score_pairs, k)
    ranked: list[np.ndarray] = []
    for start in range(0, len(data.test_users), chunk):
        users = data.test_users[start : start + chunk]
        scores = score_users(users)
        ranked += full_ranked_lists(
            scores, data.seen[start : start + chunk], data.test_targets[start : start + chunk], k
        )
    full = mean_metrics(ranked, list(data.test_targets), k)
    out[f"HR@{k}_full"] = full[f"HR@{k}"]
    out[f"NDCG@{k}_full"] = full[f"NDCG@{k}"]
    return out


def popularity_scorers(data: RankingData) -> tuple[PairScorer, UserScorer]:
    """Item popularity = training interactions per item (the same score for every user)."""
    counts = np.bincount(data.train_pos[1], minlength=data.n_items + 1).astype(np.float32)
    return (lambda u, i: counts[i]), (lambda users: np.tile(counts[1:], (len(users), 1)))


def fit_als(
    spark: SparkSession, data: RankingData, n_users: int, rank: int, reg: float, alpha: float, max_iter: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """MLlib ALS with ``implicitPrefs=True`` on the training positives (preference 1 per interaction, Hu, Koren,
    Volinsky 2008). Returns the user and item factors, float32 ``[U, rank]`` and ``[I + 1, rank]``."""
    from pyspark.ml.recommendation import ALS

    from smspark.models.recommender import factor_matrix

    pdf = pd.DataFrame(
        {
            "user_idx": data.train_pos[0].astype(np.int32),
            "item_idx": data.train_pos[1].astype(np.int32),
            "rating": np.ones(len(data.train_pos[0]), dtype=np.float32),
        }
    )
    train = spark.createDataFrame(pdf)
    als = ALS(
        rank=rank,
        regParam=reg,
        alpha=alpha,
        maxIter=max_iter,
        implicitPrefs=True,
        userCol="user_idx",
        itemCol="item_idx",
        ratingCol="rating",
        seed=seed,
        nonnegative=False,
    )
    model = als.fit(train)
    users = factor_matrix([(r["id"], r["features"]) for r in model.userFactors.collect()], n_users, rank)
    items = factor_matrix([(r["id"], r["features"]) for r in model.itemFactors.collect()], data.n_items + 1, rank)
    return users, items


def als_baseline(spark: SparkSession, data: RankingData, n_users: int, cfg: Settings) -> dict[str, Any]:
    """ALS over the configured grid, the best on validation HR@K tested like NeuMF. Returns the test metrics plus
    ``rank``, ``reg_param``, ``alpha`` and the grid's validation figures."""
    from smspark.models.recommender import als_scores

    mcfg = cfg.models.recommender
    k = mcfg.top_k
    best: tuple[float, dict[str, Any], tuple[np.ndarray, np.ndarray]] | None = None
    grid = []
    for rank in mcfg.als_ranks:
        for reg in mcfg.als_reg_params:
            for alpha in mcfg.als_alphas:
                uf, itf = fit_als(spark, data, n_users, rank, reg, alpha, mcfg.als_max_iter, cfg.train.seed)
                val = sampled_metrics(data.val, lambda u, i, uf=uf, itf=itf: als_scores(uf, itf, u, i), k)
                point = {"rank": rank, "reg_param": reg, "alpha": alpha, f"val_HR@{k}": val[f"HR@{k}"]}
                grid.append(point)
                log.info("ALS rank=%d regParam=%g alpha=%g: val HR@%d %.4f", rank, reg, alpha, k, val[f"HR@{k}"])
                if best is None or val[f"HR@{k}"] > best[0]:
                    best = (val[f"HR@{k}"], point, (uf, itf))
    assert best is not None
    uf, itf = best[2]
    test = ranking_metrics(data, lambda u, i: als_scores(uf, itf, u, i), lambda users: uf[users] @ itf[1:].T, k)
    return {**test, **{key: best[1][key] for key in ("rank", "reg_param", "alpha")}, "grid": grid}


def _beats(model: str, value: float, baselines: dict[str, float], metric: str) -> dict[str, bool]:
    flags = {name: value > v for name, v in baselines.items()}
    for name, ok in flags.items():
        if not ok:
            log.warning(
                "%s does NOT beat its baseline %s on test %s: %.4f vs %.4f", model, name, metric, value, baselines[name]
            )
    return flags


def _best_epoch(history: dict[str, list[float]]) -> int | None:
    """1-based epoch with the lowest ``val_loss`` (the weights kept when early stopping is on)."""
    val = history.get("val_loss") or []
    return int(np.argmin(val)) + 1 if val else None


def _write_meta(path: Path, meta: dict[str, Any]) -> Path:
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def train_recommender(spark: SparkSession, cfg: Settings, run_dir: Path, num_proc: int, backend: str) -> dict[str, Any]:
    """Train NeuMF with Horovod, test it next to ALS and popularity, log, register. Returns the manifest record
    (``metrics``: ``neumf``, ``als``, ``popularity`` -> ``HR@K``, ``NDCG@K``, ``HR@K_full``, ``NDCG@K_full``)."""
    from smspark.models.recommender import RecommenderPyfunc, build_model, predict_pairs, score_all_items

    mcfg = cfg.models.recommender
    k = mcfg.top_k
    feats = storage.join(cfg.layout.features, "recommender")
    maps = IdMaps.load(storage.join(feats, "id_maps.npz"))
    feat_meta = storage.read_json(storage.join(feats, "meta.json"))
    rows = {s: parquet_row_count(storage.join(feats, s)) for s in SPLITS}
    client = configure(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(run_name=f"recommender-np{num_proc}") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                **{key: v for key, v in mcfg.model_dump().items()},
                "num_proc": num_proc,
                "backend": backend,
                "lr_scaled": mcfg.learning_rate * num_proc,
                "n_users": maps.n_users,
                "n_items": maps.n_items,
                **{f"rows_{s}": v for s, v in rows.items()},
            }
        )
        spec = KerasTrainSpec(
            model_fn=functools.partial(build_model, mcfg, maps.n_users, maps.n_items),
            train_url=storage.join(feats, "train"),
            val_url=storage.join(feats, "val"),
            feature_cols=["user_idx", "item_idx"],
            label_col="label",
            train_rows=rows["train"],
            val_rows=rows["val"],
            batch_size=mcfg.batch_size,
            epochs=mcfg.epochs,
            learning_rate=mcfg.learning_rate,
            loss="binary_crossentropy",
            metrics=["accuracy"],
            out_dir=str(Path(tmp) / "out"),
            seed=cfg.train.seed,
            tracking_uri=mlflow.get_tracking_uri(),
            run_id=run.info.run_id,
            early_stopping_patience=mcfg.early_stopping_patience,
        )
        results = _run_workers(spec, spark, num_proc, backend)
        model = _load_keras(Path(spec.out_dir) / "model.h5")
        data = RankingData(feats, maps.n_items)
        neumf = ranking_metrics(
            data,
            lambda u, i: predict_pairs(model, u, i),
            lambda users: score_all_items(model, users, maps.n_items),
            k,
        )
        neumf_val = sampled_metrics(data.val, lambda u, i: predict_pairs(model, u, i), k)
        pop_pairs, pop_users = popularity_scorers(data)
        popularity = ranking_metrics(data, pop_pairs, pop_users, k)
        als = als_baseline(spark, data, maps.n_users, cfg)
        metrics = {"neumf": neumf, "als": {m: v for m, v in als.items() if m != "grid"}, "popularity": popularity}
        for name, values in metrics.items():
            prefix = "test_" if name == "neumf" else f"baseline_{name}_test_"
            mlflow.log_metrics({mlflow_key(prefix + m): float(v) for m, v in values.items() if isinstance(v, float)})
        mlflow.log_metric(mlflow_key(f"val_HR@{k}"), neumf_val[f"HR@{k}"])
        mlflow.log_params({"als_rank": als["rank"], "als_reg_param": als["reg_param"], "als_alpha": als["alpha"]})
        selection = f"HR@{k}"
        beats = _beats("NeuMF", neumf[selection], {n: metrics[n][selection] for n in ("als", "popularity")}, selection)
        mlflow.set_tag("beats_baselines", str(all(beats.values())).lower())
        mlflow.log_artifact(str(Path(spec.out_dir) / "history.json"))
        meta_path = _write_meta(
            Path(tmp) / "meta.json",
            {
                "model": "neumf",
                "n_users": maps.n_users,
                "n_items": maps.n_items,
                "config": mcfg.model_dump(),
                "features": feat_meta,
            },
        )
        artifacts = {
            "keras_model": str(Path(spec.out_dir) / "model.h5"),
            "meta": str(meta_path),
            "id_maps": str(storage.download(storage.join(feats, "id_maps.npz"), Path(tmp) / "id_maps.npz")),
        }
        sample = pd.DataFrame({"user_id": maps.users[:2].astype(object), "item_id": maps.items[:2].astype(np.int64)})
        wrapper = RecommenderPyfunc()
        wrapper.keras_model, wrapper.maps = model, maps
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=RecommenderPyfunc(),
            artifacts=artifacts,
            signature=mlflow.models.infer_signature(sample, wrapper.predict(None, sample)),
            pip_requirements=_pip_requirements(),
            registered_model_name=registered_name("recommender"),
        )
        version = str(info.registered_model_version)
        champion = promote_if_better(client, "recommender", version, mlflow_key(f"test_HR@{k}"), neumf[selection])
    return {
        "mlflow_run_id": run.info.run_id,
        "registered_model": registered_name("recommender"),
        "version": version,
        "champion": champion,
        "num_proc": num_proc,
        "backend": backend,
        "ranks": sorted(r["rank"] for r in results),
        "train_seconds": round(max(r["seconds"] for r in results), 2),
        "rows": rows,
        "history": results[0]["history"],
        "epochs_run": len(results[0]["history"].get("loss", [])),
        "best_epoch": _best_epoch(results[0]["history"]),
        "metrics": {**metrics, "neumf_val": neumf_val},
        "als_grid": als["grid"],
        "beats_baselines": all(beats.values()),
        "beats": beats,
    }


# --- behaviour ----------------------------------------------------------------------------------------------


def read_behaviour(path: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A behaviour features split as model inputs (dict of numpy arrays, see :mod:`smspark.models.behaviour`) and
    labels float32 ``[n]``."""
    from smspark.models.behaviour import INPUTS

    t = storage.read_parquet(path, columns=[*INPUTS, "label"])
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
    """``AUC`` (ROC) and ``logloss`` of probabilities ``p`` for 0/1 labels ``y`` (scikit-learn)."""
    from sklearn.metrics import log_loss, roc_auc_score

    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return {
        "AUC": float(roc_auc_score(y, p)),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "rows": int(len(y)),
        "positive_rate": float(np.mean(y)),
    }


def _probabilities(model: Any, df: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    from pyspark.ml.functions import vector_to_array

    pdf = model.transform(df).select("label", vector_to_array("probability").getItem(1).alias("p")).toPandas()
    return pdf["label"].to_numpy(dtype=np.float32), pdf["p"].to_numpy(dtype=np.float64)


def logreg_baseline(spark: SparkSession, feats: str, cfg: Settings) -> dict[str, Any]:
    """MLlib LogisticRegression on :data:`smspark.models.behaviour.AGGREGATES` (computed from the training split),
    ``regParam`` picked on validation AUC; test AUC/log-loss."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    from smspark.models.behaviour import AGGREGATES, aggregate_features

    mcfg = cfg.models.behaviour
    cols = ["user_idx", "cand_item", "cand_genres", "rating", "label"]
    splits = {s: spark.read.parquet(storage.spark_path(storage.join(feats, s))).select(*cols) for s in SPLITS}
    train = splits["train"].persist()
    data = {s: aggregate_features(train, df).select("label", *AGGREGATES).persist() for s, df in splits.items()}
    best: tuple[float, float, Any] | None = None
    grid = []
    for reg in mcfg.baseline_reg_params:
        pipe = Pipeline(
            stages=[
                VectorAssembler(inputCols=list(AGGREGATES), outputCol="features"),
                LogisticRegression(regParam=float(reg), maxIter=mcfg.baseline_max_iter, labelCol="label"),
            ]
        )
        model = pipe.fit(data["train"])
        val = binary_metrics(*_probabilities(model, data["val"]))
        grid.append({"reg_param": reg, "val_AUC": val["AUC"]})
        log.info("LogReg regParam=%g: val AUC %.4f", reg, val["AUC"])
        if best is None or val["AUC"] > best[0]:
            best = (val["AUC"], float(reg), model)
    assert best is not None
    test = binary_metrics(*_probabilities(best[2], data["test"]))
    for df in data.values():
        df.unpersist()
    train.unpersist()
    return {**test, "reg_param": best[1], "grid": grid}


def train_behaviour(spark: SparkSession, cfg: Settings, run_dir: Path, num_proc: int, backend: str) -> dict[str, Any]:
    """Train the engagement model with Horovod, test it next to LogisticRegression, log, register. Returns the
    manifest record (``metrics``: ``behaviour``, ``behaviour_logreg`` -> ``AUC``, ``logloss``)."""
    from smspark.models.behaviour import INPUTS, BehaviourPyfunc, build_model

    mcfg = cfg.models.behaviour
    feats = storage.join(cfg.layout.features, "behaviour")
    maps = IdMaps.load(storage.join(feats, "id_maps.npz"))
    feat_meta = storage.read_json(storage.join(feats, "meta.json"))
    if feat_meta["history_len"] != mcfg.history_len:
        log.warning(
            "features/behaviour were built with history_len=%d (config: %d); the model follows the features",
            feat_meta["history_len"],
            mcfg.history_len,
        )
        mcfg = mcfg.model_copy(update={"history_len": int(feat_meta["history_len"])})
    n_genres = len(maps.genres)
    rows = {s: parquet_row_count(storage.join(feats, s)) for s in SPLITS}
    client = configure(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(run_name=f"behaviour-np{num_proc}") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                **mcfg.model_dump(),
                "num_proc": num_proc,
                "backend": backend,
                "lr_scaled": mcfg.learning_rate * num_proc,
                "n_items": maps.n_items,
                "n_genres": n_genres,
                **{f"rows_{s}": v for s, v in rows.items()},
            }
        )
        spec = KerasTrainSpec(
            model_fn=functools.partial(build_model, mcfg, maps.n_items, n_genres),
            train_url=storage.join(feats, "train"),
            val_url=storage.join(feats, "val"),
            feature_cols=list(INPUTS),
            label_col="label",
            train_rows=rows["train"],
            val_rows=rows["val"],
            batch_size=mcfg.batch_size,
            epochs=mcfg.epochs,
            learning_rate=mcfg.learning_rate,
            loss="binary_crossentropy",
            metrics=["AUC"],
            out_dir=str(Path(tmp) / "out"),
            seed=cfg.train.seed,
            tracking_uri=mlflow.get_tracking_uri(),
            run_id=run.info.run_id,
            early_stopping_patience=mcfg.early_stopping_patience,
        )
        results = _run_workers(spec, spark, num_proc, backend)
        model = _load_keras(Path(spec.out_dir) / "model.h5")
        x_test, y_test = read_behaviour(storage.join(feats, "test"))
        nn = binary_metrics(y_test, model.predict(x_test, batch_size=4096, verbose=0).reshape(-1))
        base = logreg_baseline(spark, feats, cfg)
        metrics = {"behaviour": nn, "behaviour_logreg": {m: v for m, v in base.items() if m != "grid"}}
        mlflow.log_metrics({f"test_{m}": float(v) for m, v in nn.items()})
        mlflow.log_metrics({f"baseline_logreg_test_{m}": float(v) for m, v in base.items() if isinstance(v, float)})
        mlflow.log_param("baseline_reg_param", base["reg_param"])
        beats = _beats("The behaviour model", nn["AUC"], {"behaviour_logreg": base["AUC"]}, "AUC")
        beats_logloss = nn["logloss"] < base["logloss"]
        if not beats_logloss:
            log.warning(
                "The behaviour model does NOT beat LogisticRegression on test log-loss: %.4f vs %.4f",
                nn["logloss"],
                base["logloss"],
            )
        mlflow.set_tag("beats_baselines", str(all(beats.values())).lower())
        mlflow.log_artifact(str(Path(spec.out_dir) / "history.json"))
        meta_path = _write_meta(
            Path(tmp) / "meta.json",
            {
                "model": "behaviour",
                "history_len": mcfg.history_len,
                "engagement_threshold": mcfg.engagement_threshold,
                "n_items": maps.n_items,
                "genres": maps.genres.tolist(),
                "config": mcfg.model_dump(),
                "features": feat_meta,
            },
        )
        artifacts = {
            "keras_model": str(Path(spec.out_dir) / "model.h5"),
            "meta": str(meta_path),
            "id_maps": str(storage.download(storage.join(feats, "id_maps.npz"), Path(tmp) / "id_maps.npz")),
        }
        wrapper = BehaviourPyfunc()
        wrapper.keras_model, wrapper.maps = model, maps
        wrapper.meta = json.loads(meta_path.read_text())
        sample = pd.DataFrame(
            {
                "hist_items": [maps.items[:3].astype(np.int64).tolist()],
                "hist_ratings": [[4.0, 3.5, 5.0]],
                "hist_gaps": [[2.0, 1.0, 0.0]],
                "cand_item": [int(maps.items[3])],
            }
        )
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=BehaviourPyfunc(),
            artifacts=artifacts,
            signature=mlflow.models.infer_signature(sample, wrapper.predict(None, sample)),
            pip_requirements=_pip_requirements(),
            registered_model_name=registered_name("behaviour"),
        )
        version = str(info.registered_model_version)
        champion = promote_if_better(client, "behaviour", version, "test_AUC", nn["AUC"])
    return {
        "mlflow_run_id": run.info.run_id,
        "registered_model": registered_name("behaviour"),
        "version": version,
        "champion": champion,
        "num_proc": num_proc,
        "backend": backend,
        "ranks": sorted(r["rank"] for r in results),
        "train_seconds": round(max(r["seconds"] for r in results), 2),
        "rows": rows,
        "history": results[0]["history"],
        "epochs_run": len(results[0]["history"].get("loss", [])),
        "best_epoch": _best_epoch(results[0]["history"]),
        "metrics": metrics,
        "logreg_grid": base["grid"],
        "beats_baselines": all(beats.values()),
        "beats": {**beats, "behaviour_logreg_logloss": beats_logloss},
    }

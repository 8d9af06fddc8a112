"""Train the sentiment CNN with Horovod, test it next to its MLlib baseline, log and register it in MLflow.

Reads ``features/sentiment/{train,val,test}`` and ``vocab.json`` (written by the ``features`` job). The CNN's
and the baseline's test accuracy, macro-F1 and per-class F1 are logged to one MLflow run with a confusion
matrix PNG each; the CNN is registered as ``smspark_sentiment`` (an MLflow pyfunc carrying the Keras model and
its vocabulary) and becomes ``champion`` only when it beats the current champion on test macro-F1.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from smspark import storage
from smspark.config import Settings
from smspark.metrics import classification_report, plot_confusion_matrix
from smspark.models.baselines import tfidf_logreg
from smspark.models.packaging import SentimentPyfunc
from smspark.models.sentiment import build_model
from smspark.schemas import SENTIMENT_CLASSES
from smspark.train.launcher import run_distributed
from smspark.train.registry import configure, promote_if_better, registered_name
from smspark.train.worker import KerasTrainSpec, keras_worker

log = logging.getLogger(__name__)

SELECTION_METRIC = "test_macro_f1"


def read_arrays(uri: str, feature_col: str, label_col: str) -> tuple[np.ndarray, np.ndarray]:
    """A features split read with pyarrow: ``X`` int32 ``[n, L]`` and ``y`` int64 ``[n]``."""
    table = storage.read_parquet(uri, columns=[feature_col, label_col])
    x = np.stack(table.column(feature_col).to_numpy(zero_copy_only=False)).astype(np.int32)
    return x, table.column(label_col).to_numpy().astype(np.int64)


def pip_requirements() -> list[str]:
    """What a serving environment needs to load the registered pyfunc (smspark itself must be installed)."""
    import tensorflow as tf
    import tf_keras

    return [
        f"tensorflow-cpu=={tf.__version__}",
        f"tf-keras=={tf_keras.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        "smspark",
    ]


def train_sentiment(spark: SparkSession, cfg: Settings, run_dir: Path, num_proc: int, backend: str) -> dict[str, Any]:
    """Train, test, compare, log, register. Returns the manifest record (metrics of both models, version, alias)."""
    mcfg = cfg.models.sentiment
    feats = storage.join(cfg.layout.features, "sentiment")
    meta = storage.read_json(storage.join(feats, "vocab.json"))
    rows = {
        s: storage.read_parquet(storage.join(feats, s), columns=["label"]).num_rows for s in ("train", "val", "test")
    }
    client = configure(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(run_name=f"sentiment-np{num_proc}") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                **mcfg.model_dump(),
                "num_proc": num_proc,
                "backend": backend,
                "lr_scaled": mcfg.learning_rate * num_proc,
                "vocab_size_actual": len(meta["vocab"]),
                **{f"rows_{k}": v for k, v in rows.items()},
            }
        )
        spec = KerasTrainSpec(
            model_fn=functools.partial(build_model, mcfg, len(meta["vocab"]), len(SENTIMENT_CLASSES)),
            train_url=storage.join(feats, "train"),
            val_url=storage.join(feats, "val"),
            feature_cols=["token_ids"],
            label_col="label",
            train_rows=rows["train"],
            val_rows=rows["val"],
            batch_size=mcfg.batch_size,
            epochs=mcfg.epochs,
            learning_rate=mcfg.learning_rate,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            out_dir=str(Path(tmp) / "out"),
            seed=cfg.train.seed,
            tracking_uri=mlflow.get_tracking_uri(),
            run_id=run.info.run_id,
            early_stopping_patience=mcfg.early_stopping_patience,
        )
        results = run_distributed(keras_worker, (spec,), num_proc=num_proc, backend=backend, spark=spark)
        import tf_keras

        model = tf_keras.models.load_model(str(Path(spec.out_dir) / "model.h5"), compile=False)
        x_test, y_test = read_arrays(storage.join(feats, "test"), "token_ids", "label")
        y_pred = model.predict(x_test, batch_size=1024, verbose=0).argmax(axis=1)
        cnn = classification_report(y_test, y_pred, SENTIMENT_CLASSES)
        spark_df = {s: spark.read.parquet(storage.spark_path(storage.join(feats, s))) for s in ("train", "val", "test")}
        base = tfidf_logreg(
            spark_df["train"], spark_df["val"], spark_df["test"], SENTIMENT_CLASSES, max_iter=mcfg.baseline_max_iter
        )
        mlflow.log_metrics({f"test_{k}": v for k, v in cnn.items()})
        mlflow.log_metrics({f"baseline_test_{k}": v for k, v in base["test"].items()})
        mlflow.log_param("baseline_reg_param", base["reg_param"])
        pngs = [
            plot_confusion_matrix(
                y_test, y_pred, SENTIMENT_CLASSES, "Kim CNN (test)", run_dir / "cm_sentiment_cnn.png"
            ),
            plot_confusion_matrix(
                base["y_true"],
                base["y_pred"],
                SENTIMENT_CLASSES,
                "TF-IDF + LogReg (test)",
                run_dir / "cm_sentiment_baseline.png",
            ),
        ]
        for png in pngs:
            mlflow.log_artifact(str(png), "plots")
        mlflow.log_artifact(str(Path(spec.out_dir) / "history.json"))
        beats = cnn["macro_f1"] > base["test"]["macro_f1"]
        mlflow.set_tag("beats_baseline", str(beats).lower())
        if not beats:
            log.warning(
                "The CNN does NOT beat its baseline on test macro-F1: %.4f vs TF-IDF+LogReg %.4f",
                cnn["macro_f1"],
                base["test"]["macro_f1"],
            )
        sample = pd.DataFrame({"text": ["what a great day", "this is awful"]})
        wrapper = SentimentPyfunc()
        wrapper.keras_model, wrapper.meta = model, meta
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=SentimentPyfunc(),
            artifacts={
                "keras_model": str(Path(spec.out_dir) / "model.h5"),
                "meta": str(storage.download(storage.join(feats, "vocab.json"), Path(tmp) / "vocab.json")),
            },
            signature=mlflow.models.infer_signature(sample, wrapper.predict(None, sample)),
            pip_requirements=pip_requirements(),
            registered_model_name=registered_name("sentiment"),
        )
        version = str(info.registered_model_version)
        champion = promote_if_better(client, "sentiment", version, SELECTION_METRIC, cnn["macro_f1"])
    hist = results[0]["history"]
    return {
        "mlflow_run_id": run.info.run_id,
        "registered_model": registered_name("sentiment"),
        "version": version,
        "champion": champion,
        "num_proc": num_proc,
        "backend": backend,
        "ranks": sorted(r["rank"] for r in results),
        "train_seconds": round(max(r["seconds"] for r in results), 2),
        "rows": rows,
        "history": hist,
        "metrics": {"cnn": cnn, "baseline_tfidf_logreg": {**base["test"], "reg_param": base["reg_param"]}},
        "beats_baseline": beats,
        "plots": [str(p) for p in pngs],
    }

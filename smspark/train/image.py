"""Train the image CNN with Horovod, test it next to its pixel LogisticRegression baseline, log and register it.

Reads ``features/image/{train,val,test}`` and ``meta.json`` (written by the ``features`` job: class names, input
shape, dataset). The CNN trains through the generic :func:`smspark.train.worker.keras_worker` (Petastorm shards,
``hvd.DistributedOptimizer``). On the driver, the CNN and Spark MLlib LogisticRegression on the pixels (scaled to
[0, 1]) are tested on the same test split: accuracy, macro-F1, per-class F1 and a confusion-matrix PNG each, in one
MLflow run and the run manifest. The CNN is registered as ``smspark_image`` (an MLflow pyfunc with the Keras model
and its meta) and becomes ``champion`` only when it beats the current champion on test macro-F1 (a champion
trained on another dataset is replaced: see :func:`promote_on_dataset`).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from smspark import storage
from smspark.config import Settings
from smspark.features.media import SPLITS
from smspark.metrics import classification_report, plot_confusion_matrix
from smspark.models.image import build_model
from smspark.models.media_packaging import ImagePyfunc
from smspark.models.pixel_baseline import pixel_logreg
from smspark.train.launcher import run_distributed
from smspark.train.registry import configure, registered_name
from smspark.train.sentiment import pip_requirements
from smspark.train.worker import KerasTrainSpec, keras_worker

log = logging.getLogger(__name__)

MODEL = "image"
SELECTION_METRIC = "test_macro_f1"


def mlflow_key(name: str) -> str:
    """A metric/param key MLflow accepts (letters, digits, ``_ - . /`` and spaces; anything else -> ``_``)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)


def read_pixels(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A features split read with pyarrow: ``X`` uint8 ``[n, L]``, ``y`` int64 ``[n]``, ``media_id`` object ``[n]``.

    Raises:
        ValueError: an empty split.
    """
    table = storage.read_parquet(path, columns=["media_id", "pixels", "label"])
    if table.num_rows == 0:
        raise ValueError(f"no rows in {path}")
    flat = table.column("pixels").combine_chunks()
    length = len(flat[0])
    x = flat.flatten().to_numpy(zero_copy_only=False).astype(np.uint8).reshape(table.num_rows, length)
    return x, table.column("label").to_numpy().astype(np.int64), table.column("media_id").to_numpy(zero_copy_only=False)


def features_meta(features_dir: str) -> dict[str, Any]:
    """``features/image/meta.json`` (``classes``, ``input_shape``, ``dataset``, ``rows``, ``class_counts``)."""
    return storage.read_json(storage.join(features_dir, "meta.json"))


def image_pyfunc(model: Any, meta: dict[str, Any]) -> ImagePyfunc:
    """An :class:`ImagePyfunc` around an in-memory Keras model (no MLflow round trip)."""
    wrapper = ImagePyfunc()
    wrapper.keras_model, wrapper.meta = model, meta
    return wrapper


def epochs_for(epochs: int, min_steps: int, rows: int, batch_size: int, num_proc: int) -> int:
    """``epochs``, raised so every worker runs at least ``min_steps`` optimizer steps on ``rows`` training rows
    (``steps_per_epoch = max(1, rows // (batch_size * num_proc))``, as in the worker)."""
    steps = max(1, rows // (batch_size * num_proc))
    return max(epochs, -(-min_steps // steps))


def promote_on_dataset(
    client: Any,
    model: str,
    version: str,
    metric: str,
    value: float,
    dataset: str,
    higher_is_better: bool = True,
    champion_value: float | None = None,
) -> dict[str, Any]:
    """:func:`smspark.train.registry.promote_if_better`, but only among versions trained on the same dataset.

    A champion trained on another dataset (its run's ``dataset`` tag) is replaced without comparison: figures on
    different datasets are not comparable, and the configured dataset is the one scoring should serve.
    ``champion_value``, when given, is the champion's figure re-measured by the caller on the same footing (it then
    replaces the figure recorded in the champion's run).
    """
    from smspark.train.registry import CHAMPION, NoChampionError, get_champion, promote_if_better

    try:
        current = get_champion(client, model)
    except NoChampionError:
        current = None
    if current is not None and current.run_id:
        previous_dataset = client.get_run(current.run_id).data.tags.get("dataset")
        if previous_dataset != dataset:
            client.set_registered_model_alias(registered_name(model), CHAMPION, version)
            log.warning(
                "%s v%s replaces champion v%s without comparison: trained on %s, the champion on %s",
                registered_name(model),
                version,
                current.version,
                dataset,
                previous_dataset,
            )
            return {
                "promoted": True,
                "champion_version": version,
                "previous_version": current.version,
                "previous_value": None,
                "previous_dataset": previous_dataset,
                "metric": metric,
                "value": value,
            }
        if champion_value is not None:
            better = value > champion_value if higher_is_better else value < champion_value
            if better:
                client.set_registered_model_alias(registered_name(model), CHAMPION, version)
            log.info(
                "%s v%s %s champion v%s (%s %.4f vs %.4f, both measured in this run)",
                registered_name(model),
                version,
                "replaces" if better else "does not beat",
                current.version,
                metric,
                value,
                champion_value,
            )
            return {
                "promoted": better,
                "champion_version": version if better else current.version,
                "previous_version": current.version,
                "previous_value": champion_value,
                "metric": metric,
                "value": value,
            }
    return promote_if_better(client, model, version, metric, value, higher_is_better=higher_is_better)


def train_image(spark: SparkSession, cfg: Settings, run_dir: Path, num_proc: int, backend: str) -> dict[str, Any]:
    """Train, test, compare, log, register. Returns the manifest record (metrics of both models, version, alias).

    Raises:
        FileNotFoundError: no ``features/image/meta.json`` (run the features job first).
    """
    mcfg = cfg.models.image
    feats = storage.join(cfg.layout.features, MODEL)
    meta = features_meta(feats)
    classes: list[str] = list(meta["classes"])
    input_shape = tuple(int(v) for v in meta["input_shape"])
    rows = {s: storage.read_parquet(storage.join(feats, s), columns=["label"]).num_rows for s in SPLITS}
    client = configure(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    model_meta = {"classes": classes, "input_shape": list(input_shape), "dataset": meta["dataset"]}
    epochs = epochs_for(mcfg.epochs, mcfg.min_train_steps, rows["train"], mcfg.batch_size, num_proc)
    if epochs != mcfg.epochs:
        log.info(
            "image CNN: %d epochs instead of %d so every worker runs >= %d steps",
            epochs,
            mcfg.epochs,
            mcfg.min_train_steps,
        )
    with (
        mlflow.start_run(run_name=f"image-{meta['dataset']}-np{num_proc}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.log_params(
            {
                **{k: v for k, v in mcfg.model_dump().items() if k != "dataset"},
                "dataset": meta["dataset"],
                "input_shape": "x".join(map(str, input_shape)),
                "num_classes": len(classes),
                "num_proc": num_proc,
                "backend": backend,
                "lr_scaled": mcfg.learning_rate * num_proc,
                "epochs_run": epochs,
                **{f"rows_{k}": v for k, v in rows.items()},
            }
        )
        mlflow.set_tag("dataset", meta["dataset"])
        spec = KerasTrainSpec(
            model_fn=functools.partial(build_model, mcfg, input_shape, len(classes)),
            train_url=storage.join(feats, "train"),
            val_url=storage.join(feats, "val"),
            feature_cols=["pixels"],
            label_col="label",
            train_rows=rows["train"],
            val_rows=rows["val"],
            batch_size=mcfg.batch_size,
            epochs=epochs,
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
        x_test, y_test, _ = read_pixels(storage.join(feats, "test"))
        wrapper = image_pyfunc(model, model_meta)
        _, probs = wrapper.embed_and_predict(x_test)
        y_pred = probs.argmax(axis=1)
        cnn = classification_report(y_test, y_pred, classes)
        splits = {s: spark.read.parquet(storage.spark_path(storage.join(feats, s))) for s in SPLITS}
        base = pixel_logreg(
            splits["train"],
            splits["val"],
            splits["test"],
            classes,
            reg_grid=mcfg.baseline_reg_grid,
            max_iter=mcfg.baseline_max_iter,
        )
        mlflow.log_metrics({mlflow_key(f"test_{k}"): v for k, v in cnn.items()})
        mlflow.log_metrics({mlflow_key(f"baseline_test_{k}"): v for k, v in base["test"].items()})
        mlflow.log_param("baseline_reg_param", base["reg_param"])
        pngs = [
            plot_confusion_matrix(
                y_test, y_pred, classes, f"CNN on {meta['dataset']} (test)", run_dir / "cm_image_cnn.png"
            ),
            plot_confusion_matrix(
                base["y_true"],
                base["y_pred"],
                classes,
                f"Pixel LogReg on {meta['dataset']} (test)",
                run_dir / "cm_image_baseline.png",
            ),
        ]
        for png in pngs:
            mlflow.log_artifact(str(png), "plots")
        mlflow.log_artifact(str(Path(spec.out_dir) / "history.json"))
        beats = cnn["macro_f1"] > base["test"]["macro_f1"]
        mlflow.set_tag("beats_baseline", str(beats).lower())
        if beats:
            log.info(
                "CNN test macro-F1 %.4f (accuracy %.4f) vs pixel LogReg %.4f (accuracy %.4f)",
                cnn["macro_f1"],
                cnn["accuracy"],
                base["test"]["macro_f1"],
                base["test"]["accuracy"],
            )
        else:
            log.warning(
                "The image CNN does NOT beat its baseline on test macro-F1: %.4f vs pixel LogReg %.4f",
                cnn["macro_f1"],
                base["test"]["macro_f1"],
            )
        meta_path = Path(tmp) / "image_meta.json"
        meta_path.write_text(json.dumps(model_meta, indent=2))
        sample = pd.DataFrame(
            {
                "pixels": [bytes(x_test[0].tobytes())],
                "height": [input_shape[0]],
                "width": [input_shape[1]],
                "channels": [input_shape[2]],
            }
        )
        import PIL

        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=ImagePyfunc(),
            artifacts={"keras_model": str(Path(spec.out_dir) / "model.h5"), "meta": str(meta_path)},
            signature=mlflow.models.infer_signature(sample, wrapper.predict(None, sample)),
            pip_requirements=[*pip_requirements(), f"pillow=={PIL.__version__}"],
            registered_model_name=registered_name(MODEL),
        )
        version = str(info.registered_model_version)
        champion = promote_on_dataset(client, MODEL, version, SELECTION_METRIC, cnn["macro_f1"], meta["dataset"])
    hist = results[0]["history"]
    return {
        "mlflow_run_id": run.info.run_id,
        "registered_model": registered_name(MODEL),
        "version": version,
        "champion": champion,
        "dataset": meta["dataset"],
        "input_shape": list(input_shape),
        "classes": classes,
        "num_proc": num_proc,
        "backend": backend,
        "ranks": sorted(r["rank"] for r in results),
        "train_seconds": round(max(r["seconds"] for r in results), 2),
        "epochs": epochs,
        "rows": rows,
        "history": hist,
        "metrics": {
            "cnn": cnn,
            "baseline_pixel_logreg": {
                **base["test"],
                "reg_param": base["reg_param"],
                "fit_seconds": base["fit_seconds"],
            },
        },
        "beats_baseline": beats,
        "plots": [str(p) for p in pngs],
    }

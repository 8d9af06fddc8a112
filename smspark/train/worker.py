"""The Horovod training function for tf_keras models that read Parquet through Petastorm.

It follows Horovod's Spark Keras recipe (``examples/spark/keras/keras_spark_rossmann_run.py``): ``hvd.init()``,
pin a GPU by local rank when there is one, scale the learning rate by the number of workers, wrap the optimizer
in ``hvd.DistributedOptimizer``, broadcast the initial variables from rank 0, average epoch metrics across
workers, each rank reads its own shard (``cur_shard=rank, shard_count=size``) for
``steps_per_epoch = rows // (batch_size * size)`` steps, and only rank 0 checkpoints, exports and logs.

Rank 0 writes its checkpoint (after every epoch), the exported model and the history under ``out_uri``, a storage URI
on the data root (:mod:`smspark.storage`), never into a directory of the driver: on a cluster the driver and the
workers are different hosts. The workers return only small values.

The same function runs under ``horovod.spark.run`` and ``horovodrun`` (see :mod:`smspark.train.launcher`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: Rank 0's checkpoint (the whole model, HDF5) and its side file (``epoch`` it holds, 1-based; ``model``; ``stage``),
#: both under ``KerasTrainSpec.out_uri``.
CHECKPOINT = "checkpoint.h5"
CHECKPOINT_META = "checkpoint.json"


@dataclass
class KerasTrainSpec:
    """Everything a worker needs; pickled to every rank.

    Attributes:
        model_fn: builds the uncompiled ``tf_keras.Model`` (same architecture on every rank).
        train_url, val_url: ``file:///...`` Parquet directories (Petastorm-readable).
        feature_cols: input columns (one -> a single tensor input, several -> a dict keyed by column).
        label_col: label column.
        train_rows, val_rows: row counts, for ``steps_per_epoch``/``validation_steps``.
        loss, metrics: passed to ``model.compile``.
        learning_rate: per-worker Adam learning rate; the optimizer gets ``learning_rate * size``.
        out_uri: rank 0 writes ``checkpoint.h5`` (every epoch), ``model.h5`` and ``history.json`` here (any storage
            URI the workers can reach).
        optimizer: ``adam`` or ``sgd`` (plain SGD, as NeuMF's fine-tuning after pre-training in He et al. 2017).
        lr_schedule: ``constant`` or ``cosine`` (from ``learning_rate * size`` to 0 over ``epochs``, set before
            every step: :class:`~smspark.train.hvd_callbacks.CosineDecayCallback`).
        precision: the Keras dtype policy the model is built and trained with, ``float32`` or ``mixed_bfloat16``
            (resolved by :func:`smspark.train.precision.resolve_precision`; the exported model keeps it).
        tracking_uri, run_id: when set, rank 0 logs per-epoch metrics (``<metric_prefix><name>``, step = epoch)
            to that MLflow run.
        early_stopping_patience: when set, stop after this many epochs without a lower ``val_loss`` and restore
            the best epoch's weights. Metrics are averaged across ranks first, so every rank stops at the same
            epoch (no rank is left waiting in an allreduce).
        model_name, stage: recorded in ``checkpoint.json`` beside the checkpoint.
        resume_uri, initial_epoch: continue a run: rank 0 loads the weights of the checkpoint at ``resume_uri``
            (then broadcast to every rank as usual) and training resumes after epoch ``initial_epoch`` (1-based
            epochs already done; ``epochs`` stays the total).
    """

    model_fn: Callable[[], Any]
    train_url: str
    val_url: str
    feature_cols: list[str]
    label_col: str
    train_rows: int
    val_rows: int
    batch_size: int
    epochs: int
    learning_rate: float
    loss: str
    metrics: list[str]
    out_uri: str
    seed: int = 42
    optimizer: str = "adam"
    lr_schedule: str = "constant"
    precision: str = "float32"
    tracking_uri: str | None = None
    run_id: str | None = None
    metric_prefix: str = ""
    early_stopping_patience: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    model_name: str = ""
    stage: str = ""
    resume_uri: str | None = None
    initial_epoch: int = 0


def _checkpoint_each_epoch(spec: KerasTrainSpec, local: str, rank: int):  # -> tf_keras.callbacks.Callback
    """At the end of every epoch: rank 0 copies its local checkpoint to ``<out_uri>/checkpoint.h5`` and records the
    epoch it holds in ``checkpoint.json`` (``epoch`` 1-based, ``model``, ``stage``); then every rank waits for it (a
    small allreduce) and passes the fault point ``hvd.epoch`` (target ``rank<r>/epoch<e>``, :mod:`smspark.faults`),
    so a rank killed there dies with the checkpoint of that epoch already on the data root."""
    import horovod.tensorflow as hvd
    import tensorflow as tf
    import tf_keras

    from smspark import faults, storage

    class _Checkpoint(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            if rank == 0 and os.path.exists(local):
                # uploaded beside, then moved into place (a rename on local disks and HDFS): a rank 0 that dies
                # mid-upload leaves the previous epoch's checkpoint whole, and checkpoint.json still names it
                partial = storage.upload(local, storage.join(spec.out_uri, CHECKPOINT + ".partial"))
                storage.move(partial, storage.join(spec.out_uri, CHECKPOINT))
                storage.write_json(
                    storage.join(spec.out_uri, CHECKPOINT_META),
                    {"epoch": epoch + 1, "model": spec.model_name, "stage": spec.stage, "epochs": spec.epochs},
                )
            hvd.allreduce(tf.constant(0.0), name="smspark.checkpoint_uploaded")
            faults.point("hvd.epoch", f"rank{rank}/epoch{epoch + 1}")

    return _Checkpoint()


def make_optimizer(name: str, learning_rate: float):  # -> tf_keras.optimizers.Optimizer
    """``adam`` or ``sgd`` at ``learning_rate``.

    Raises:
        ValueError: another name.
    """
    import tf_keras

    if name == "adam":
        return tf_keras.optimizers.Adam(learning_rate=learning_rate)
    if name == "sgd":
        return tf_keras.optimizers.SGD(learning_rate=learning_rate)
    raise ValueError(f"unknown optimizer {name!r}: adam or sgd")


def _mlflow_epoch_logger(spec: KerasTrainSpec):  # -> tf_keras.callbacks.Callback
    import tf_keras
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=spec.tracking_uri)

    class _Logger(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            for k, v in (logs or {}).items():
                client.log_metric(spec.run_id, f"{spec.metric_prefix}{k}", float(v), step=epoch)

    return _Logger()


def keras_worker(spec: KerasTrainSpec) -> dict[str, Any]:
    """Train on this rank's shard; returns ``{"rank", "size", "history", "seconds", "weight_checksum"}`` (history on
    every rank; ``weight_checksum`` the sum of the absolute values of the final weights)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.update(spec.env)
    import horovod.tensorflow as hvd
    import tensorflow as tf
    import tf_keras

    from smspark import storage
    from smspark.train.hvd_callbacks import (
        BroadcastGlobalVariablesCallback,
        CosineDecayCallback,
        MetricAverageCallback,
        distributed_optimizer,
    )
    from smspark.train.precision import dtype_policy
    from smspark.train.readers import petastorm_dataset, steps_per_epoch

    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        tf.config.experimental.set_memory_growth(gpus[hvd.local_rank()], True)
        tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")
    tf_keras.utils.set_random_seed(spec.seed)

    with dtype_policy(spec.precision):
        model = spec.model_fn()
    opt = distributed_optimizer(make_optimizer(spec.optimizer, spec.learning_rate * size))
    model.compile(optimizer=opt, loss=spec.loss, metrics=list(spec.metrics))
    if spec.resume_uri and rank == 0:
        with tempfile.TemporaryDirectory(prefix="smspark-resume-") as tmp:
            model.load_weights(str(storage.download(spec.resume_uri, os.path.join(tmp, CHECKPOINT))))
        log.info("rank 0 resumes from %s after epoch %d", spec.resume_uri, spec.initial_epoch)
    steps = steps_per_epoch(spec.train_rows, spec.batch_size, size)
    val_steps = steps_per_epoch(spec.val_rows, spec.batch_size, size)
    callbacks: list[Any] = [BroadcastGlobalVariablesCallback(0), MetricAverageCallback()]
    if spec.lr_schedule == "cosine":
        callbacks.append(CosineDecayCallback(spec.epochs, steps))
    elif spec.lr_schedule != "constant":
        raise ValueError(f"unknown lr_schedule {spec.lr_schedule!r}: constant or cosine")
    if spec.early_stopping_patience is not None:
        callbacks.append(
            tf_keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=spec.early_stopping_patience, restore_best_weights=True
            )
        )
    local_dir = tempfile.mkdtemp(prefix="smspark-rank0-") if rank == 0 else ""
    checkpoint = os.path.join(local_dir, CHECKPOINT)
    if rank == 0:
        callbacks.append(tf_keras.callbacks.ModelCheckpoint(checkpoint))
    callbacks.append(_checkpoint_each_epoch(spec, checkpoint, rank))
    if rank == 0 and spec.tracking_uri and spec.run_id:
        callbacks.append(_mlflow_epoch_logger(spec))
    common = dict(
        feature_cols=spec.feature_cols,
        label_col=spec.label_col,
        batch_size=spec.batch_size,
        cur_shard=rank,
        shard_count=size,
        num_epochs=None,
    )
    start = time.perf_counter()
    with (
        petastorm_dataset(spec.train_url, shuffle=True, seed=spec.seed + rank, **common) as train_ds,
        petastorm_dataset(spec.val_url, shuffle=False, **common) as val_ds,
    ):
        hist = model.fit(
            train_ds,
            steps_per_epoch=steps,
            epochs=spec.epochs,
            initial_epoch=spec.initial_epoch,
            validation_data=val_ds,
            validation_steps=val_steps,
            callbacks=callbacks,
            verbose=2 if rank == 0 else 0,
        )
    seconds = time.perf_counter() - start
    history = {k: [float(x) for x in v] for k, v in hist.history.items()}
    if rank == 0:
        model.save(os.path.join(local_dir, "model.h5"))
        storage.upload(os.path.join(local_dir, "model.h5"), storage.join(spec.out_uri, "model.h5"))
        storage.write_json(
            storage.join(spec.out_uri, "history.json"),
            {"history": history, "size": size, "steps_per_epoch": steps, "seconds": seconds},
        )
        shutil.rmtree(local_dir, ignore_errors=True)
    # equal on every rank when the initial broadcast and the gradient averaging worked
    checksum = float(sum(abs(w).sum() for w in model.get_weights()))
    return {"rank": rank, "size": size, "history": history, "seconds": seconds, "weight_checksum": checksum}

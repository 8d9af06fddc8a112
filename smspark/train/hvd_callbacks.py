"""Horovod helpers for ``tf_keras`` training.

Horovod's own ``horovod.tensorflow.keras.callbacks`` do ``from keras import backend``, which is Keras 3 on
TF >= 2.16, and fail with ``module 'keras.backend' has no attribute 'constant'``. The callbacks here do the same
job on ``horovod.tensorflow`` primitives and ``tf_keras``. ``hvd.DistributedOptimizer`` from
``horovod.tensorflow.keras`` works with ``tf_keras`` optimizers and is wrapped by :func:`distributed_optimizer`.

The usual recipe inside a worker function (after ``hvd.init()``)::

    opt = distributed_optimizer(tf_keras.optimizers.Adam(scale_learning_rate(1e-3)))
    model.compile(optimizer=opt, loss=..., metrics=[...])
    model.fit(ds, steps_per_epoch=steps, epochs=n, callbacks=[
        BroadcastGlobalVariablesCallback(root_rank=0),
        MetricAverageCallback(),          # before any callback that reads the logs (checkpoint, early stop)
        LearningRateWarmupCallback(warmup_epochs=1, steps_per_epoch=steps),
    ], verbose=1 if hvd.rank() == 0 else 0)

Every rank must call these the same number of times in the same order (they are collective operations).
"""

from __future__ import annotations

import math
import re
from typing import Any

import horovod.tensorflow as hvd  # noqa: E402  (after smspark)
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import smspark  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

__all__ = [
    "BroadcastGlobalVariablesCallback",
    "CosineDecayCallback",
    "LearningRateWarmupCallback",
    "MetricAverageCallback",
    "distributed_optimizer",
    "scale_learning_rate",
]


def _optimizer_variables(optimizer: Any) -> list[tf.Variable]:
    """Variables of a tf_keras optimizer (``variables`` is a callable list on new optimizers, a method on old)."""
    variables = optimizer.variables
    return list(variables() if callable(variables) else variables)


class BroadcastGlobalVariablesCallback(tf_keras.callbacks.Callback):
    """Broadcast model and optimizer variables from ``root_rank`` to every rank at the end of the first batch.

    Ranks start from different random weights; the first step's gradients are allreduced (so the optimizer state
    agrees), then this callback makes every rank hold ``root_rank``'s weights and optimizer slots. Broadcasting
    after the first batch rather than before training is what Horovod's own callback does: the optimizer creates
    its slot variables lazily in the first ``apply_gradients``. Also use it when resuming from a checkpoint loaded
    on ``root_rank`` only.

    Args:
        root_rank: rank whose variables win.
    """

    def __init__(self, root_rank: int = 0) -> None:
        super().__init__()
        self.root_rank = root_rank
        self.broadcast_done = False

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.broadcast_done:
            return
        hvd.broadcast_variables(self.model.variables, root_rank=self.root_rank)
        if self.model.optimizer is not None:
            hvd.broadcast_variables(_optimizer_variables(self.model.optimizer), root_rank=self.root_rank)
        self.broadcast_done = True


class MetricAverageCallback(tf_keras.callbacks.Callback):
    """Replace each numeric epoch-end log value (loss, metrics, ``val_*``) by its average over all ranks.

    Without it every rank reports the metrics of its own shard. Put it before callbacks that read the logs
    (``ModelCheckpoint``, ``EarlyStopping``, ``ReduceLROnPlateau``, MLflow logging) so they see the averages.
    Values are reduced in sorted-key order so all ranks issue the same allreduces.
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not logs:
            return
        for key in sorted(logs):
            value = logs[key]
            try:
                tensor = tf.constant(float(value), dtype=tf.float64)
            except (TypeError, ValueError):
                continue  # non-numeric entries are left as they are
            name = "MetricAverage." + re.sub(r"[^A-Za-z0-9_.\-]", "_", key)
            logs[key] = float(hvd.allreduce(tensor, op=hvd.Average, name=name).numpy())


def scale_learning_rate(base_lr: float, size: int | None = None) -> float:
    """Learning rate for ``size`` ranks (default ``hvd.size()``): ``base_lr * size``, since the global batch grows
    with the number of ranks (Goyal et al. 2017, and Horovod's examples)."""
    return base_lr * (hvd.size() if size is None else size)


def distributed_optimizer(optimizer: tf_keras.optimizers.Optimizer, **kwargs: Any) -> tf_keras.optimizers.Optimizer:
    """Wrap a tf_keras optimizer so gradients are averaged over all ranks before they are applied.

    Thin wrapper over ``horovod.tensorflow.keras.DistributedOptimizer`` (which, unlike Horovod's Keras callbacks,
    works with tf_keras). ``kwargs`` go through (``compression``, ``backward_passes_per_step``, ...). The wrapped
    optimizer keeps the class name of the original, so a saved model loads without Horovod.
    """
    from horovod.tensorflow.keras import DistributedOptimizer

    return DistributedOptimizer(optimizer, **kwargs)


class _PerStepRateCallback(tf_keras.callbacks.Callback):
    """Base of the callbacks that set the optimizer's learning rate before every batch from the epoch index ``fit``
    passes and the batch within it (so a run resumed with ``initial_epoch`` continues the same curve), and log the
    epoch's last rate as ``lr``.

    ``start_lr`` defaults to the optimizer's rate when training starts; subclasses give :meth:`rate` (``None``: leave
    the rate as it is).

    Raises:
        ValueError: ``steps_per_epoch < 1``, or (at train start) an optimizer whose learning rate is a schedule
            rather than a variable.
    """

    def __init__(self, steps_per_epoch: int, start_lr: float | None) -> None:
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.start_lr = start_lr
        self._epoch = 0

    def rate(self, epoch: int, batch: int) -> float | None:
        raise NotImplementedError

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        lr = self.model.optimizer.learning_rate
        if isinstance(lr, tf_keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(f"{type(self).__name__} needs a constant learning rate, not a schedule")
        if self.start_lr is None:
            self.start_lr = float(tf_keras.backend.get_value(lr))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        lr = self.rate(self._epoch, batch)
        if lr is not None:
            tf_keras.backend.set_value(self.model.optimizer.learning_rate, lr)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["lr"] = float(tf_keras.backend.get_value(self.model.optimizer.learning_rate))


class LearningRateWarmupCallback(_PerStepRateCallback):
    """Ramp the learning rate linearly from ``target_lr / size`` to ``target_lr`` over ``warmup_epochs``.

    Use with a learning rate already scaled by :func:`scale_learning_rate`: large scaled rates can diverge in the
    first steps, so training starts at the single-worker rate and reaches the scaled one after the warm-up
    (Goyal et al. 2017). Updated at every batch; afterwards the rate is left at ``target_lr``.

    Args:
        warmup_epochs: length of the ramp, in epochs.
        steps_per_epoch: the ``steps_per_epoch`` given to ``fit``.
        target_lr: rate at the end of the ramp; default: the optimizer's rate when training starts.
        size: number of ranks; default ``hvd.size()``.

    Raises:
        ValueError: non-positive ``warmup_epochs`` / ``steps_per_epoch``, or (at train start) an optimizer whose
            learning rate is a schedule rather than a variable.
    """

    def __init__(
        self, warmup_epochs: int, steps_per_epoch: int, target_lr: float | None = None, size: int | None = None
    ) -> None:
        if warmup_epochs < 1 or steps_per_epoch < 1:
            raise ValueError(
                f"need warmup_epochs >= 1 and steps_per_epoch >= 1, got {warmup_epochs}, {steps_per_epoch}"
            )
        super().__init__(steps_per_epoch, target_lr)
        self.warmup_epochs = warmup_epochs
        self.size = size

    @property
    def target_lr(self) -> float | None:
        """The rate at the end of the ramp (the optimizer's at train start unless given)."""
        return self.start_lr

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        if self.size is None:
            self.size = hvd.size()

    def rate(self, epoch: int, batch: int) -> float | None:
        if epoch >= self.warmup_epochs:
            return None
        progress = min(1.0, (epoch + (batch + 1) / self.steps_per_epoch) / self.warmup_epochs)
        return self.target_lr / self.size * (1.0 + progress * (self.size - 1))


def cosine_learning_rate(base_lr: float, step: int, total_steps: int) -> float:
    """Cosine decay without restarts (Loshchilov & Hutter 2017, SGDR): ``base_lr * (1 + cos(pi * t)) / 2`` with
    ``t = min(1, step / total_steps)``; ``base_lr`` at step 0, 0 from ``total_steps`` on.

    Raises:
        ValueError: ``total_steps < 1`` or ``step < 0``.
    """
    if total_steps < 1 or step < 0:
        raise ValueError(f"need total_steps >= 1 and step >= 0, got {total_steps}, {step}")
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, step / total_steps)))


class CosineDecayCallback(_PerStepRateCallback):
    """Set the learning rate before every batch to :func:`cosine_learning_rate` of the step counted from the start
    of training (``epoch * steps_per_epoch + batch``), so it falls from the optimizer's rate to 0 over ``epochs``.

    The step is derived from the epoch index ``fit`` passes, not from the optimizer's iteration counter, so a run
    resumed with ``initial_epoch`` continues the same curve. Every rank computes the same rate. The epoch's last rate
    is logged as ``lr``.

    Args:
        epochs: the planned number of epochs (the curve's length; early stopping may end training before).
        steps_per_epoch: the ``steps_per_epoch`` given to ``fit``.
        base_lr: rate at step 0; default: the optimizer's rate when training starts.

    Raises:
        ValueError: non-positive ``epochs`` / ``steps_per_epoch``, or (at train start) an optimizer whose learning
            rate is a schedule rather than a variable.
    """

    def __init__(self, epochs: int, steps_per_epoch: int, base_lr: float | None = None) -> None:
        if epochs < 1 or steps_per_epoch < 1:
            raise ValueError(f"need epochs >= 1 and steps_per_epoch >= 1, got {epochs}, {steps_per_epoch}")
        super().__init__(steps_per_epoch, base_lr)
        self.epochs = epochs

    def rate(self, epoch: int, batch: int) -> float | None:
        total = self.epochs * self.steps_per_epoch
        return cosine_learning_rate(self.start_lr, epoch * self.steps_per_epoch + batch, total)

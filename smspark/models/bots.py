"""The account bot classifier: a small dense network over standardised per-account features.

Input: float32 ``[B, F]`` (the features of :data:`smspark.features.bots.FEATURES` that the training split has,
nulls imputed with the training median, standardised with the training mean and standard deviation). Hidden:
``hidden_units`` ReLU layers, each followed by dropout. Output: float32 ``[B, 1]``, P(bot).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.config import BotsConfig


def build_model(cfg: BotsConfig, n_features: int) -> Any:  # -> tf_keras.Model
    """The uncompiled classifier for ``n_features`` inputs."""
    import tf_keras
    from tf_keras import layers

    inputs = tf_keras.Input(shape=(n_features,), dtype="float32", name="features")
    x = inputs
    for i, units in enumerate(cfg.hidden_units):
        x = layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        x = layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    out = layers.Dense(1, activation="sigmoid", name="bot")(x)
    return tf_keras.Model(inputs=inputs, outputs=out, name="bots")


def fit_predict(
    cfg: BotsConfig, seed: int, x_train: np.ndarray, y_train: np.ndarray, *others: np.ndarray
) -> tuple[list[np.ndarray], list[float]]:
    """Train the classifier on the driver and score ``others``.

    Args:
        cfg: the model's settings.
        seed: seeds TensorFlow, NumPy and Python (``tf_keras.utils.set_random_seed``).
        x_train: float32 ``[n, F]`` standardised features; y_train: 0/1 ``[n]``.
        others: float32 ``[m, F]`` arrays to score (e.g. validation and test).

    Returns:
        ``(probabilities, losses)``: P(bot) float64 ``[m]`` per array of ``others``, and the training loss per
        epoch. Classes are weighted by inverse frequency (bot datasets are rarely balanced).
    """
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    model = build_model(cfg, x_train.shape[1])
    model.compile(optimizer=tf_keras.optimizers.Adam(cfg.learning_rate), loss="binary_crossentropy")
    y = y_train.astype(np.float32)
    pos = float(y.mean()) if len(y) else 0.5
    weights = {0: 0.5 / max(1.0 - pos, 1e-6), 1: 0.5 / max(pos, 1e-6)} if 0.0 < pos < 1.0 else None
    hist = model.fit(
        x_train.astype(np.float32),
        y,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        class_weight=weights,
        shuffle=True,
        verbose=0,
    )
    probs = [model.predict(x.astype(np.float32), verbose=0).reshape(-1).astype(np.float64) for x in others]
    return probs, [float(v) for v in hist.history["loss"]]

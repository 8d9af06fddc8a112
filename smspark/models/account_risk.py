"""The account-risk model: a small dense autoencoder over account features, its pyfunc and the KMeans distance.

The autoencoder (:func:`build_model`) reads the standardised features of one account (float32 ``[n, d]``,
:func:`smspark.features.accounts.encode_risk`) and reconstructs them through a bottleneck (``d -> hidden -> code ->
hidden -> d``); an account whose behaviour the network cannot reconstruct from what most training accounts look
like gets a high reconstruction error. No labelled bots exist in the corpus: the score ranks unusual accounts, it is
not a detection probability.

:class:`AccountRiskPyfunc` (registered as ``smspark_account_risk``) takes raw account rows (the
:data:`~smspark.features.accounts.RISK_COLUMNS`, nulls allowed) and returns, per row:

- ``ae_score``: mean squared reconstruction error over the standardised features (float64, >= 0);
- ``kmeans_score``: Euclidean distance to the nearest KMeans centroid in the same standardised space (the baseline,
  centroids fitted with MLlib on the training accounts and kept in ``meta["centroids"]``);
- ``top_features``: the names of the ``meta["top_features"]`` columns with the largest squared reconstruction error,
  largest first (what drove the score).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from smspark.models.packaging import KerasPyfunc


def build_model(n_features: int, hidden: int, code: int) -> Any:
    """The autoencoder ``n_features -> hidden -> code -> hidden -> n_features`` (tanh hidden layers, linear
    output), uncompiled ``tf_keras.Model``; input and output float32 ``[batch, n_features]``."""
    import tf_keras

    inp = tf_keras.Input(shape=(n_features,), name="x")
    h = tf_keras.layers.Dense(hidden, activation="tanh", name="enc_hidden")(inp)
    z = tf_keras.layers.Dense(code, activation="tanh", name="code")(h)
    h = tf_keras.layers.Dense(hidden, activation="tanh", name="dec_hidden")(z)
    out = tf_keras.layers.Dense(n_features, activation=None, name="reconstruction")(h)
    return tf_keras.Model(inp, out, name="account_autoencoder")


def nearest_centroid_distance(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``x`` (``[n, d]``) to its nearest row of ``centroids`` (``[k, d]``),
    float64 ``[n]``."""
    if not len(x):
        return np.zeros(0)
    d2 = ((x[:, None, :].astype(np.float64) - centroids[None, :, :]) ** 2).sum(axis=2)
    return np.sqrt(d2.min(axis=1))


class AccountRiskPyfunc(KerasPyfunc):
    """Raw account features -> ``ae_score``, ``kmeans_score``, ``top_features`` (see the module docstring).

    ``meta``: ``columns``, the imputation and standardisation ``stats`` fitted on train
    (:func:`smspark.features.accounts.fit_risk_stats`), ``centroids`` (``[k, d]``), ``top_features`` (int),
    ``window`` (``all`` or ``month``), ``spam_share`` (whether ``gold/post_spam`` fed the training features)."""

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw rows -> standardised float32 ``[n, d]`` with the model's own training statistics."""
        from smspark.features.accounts import encode_risk

        return encode_risk(frame, self.meta["stats"])

    def reconstruct(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """The autoencoder's reconstruction of standardised rows, float64 ``[n, d]``."""
        if not len(x):
            return np.zeros((0, len(self.meta["columns"])))
        return self.infer(x, batch_size).astype(np.float64)

    def scores(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """``{"x": standardised [n, d], "recon": its reconstruction [n, d], "errors": squared errors [n, d],
        "ae_score": [n], "kmeans_score": [n]}`` (all in the model's own standardised space)."""
        x = self.encode(frame)
        recon = self.reconstruct(x)
        err = (recon - x.astype(np.float64)) ** 2
        return {
            "x": x,
            "recon": recon,
            "errors": err,
            "ae_score": err.mean(axis=1) if len(err) else np.zeros(0),
            "kmeans_score": nearest_centroid_distance(x, np.asarray(self.meta["centroids"], dtype=np.float64)),
        }

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        s = self.scores(model_input)
        names = np.asarray(self.meta["columns"], dtype=object)
        k = int(self.meta["top_features"])
        top = np.argsort(-s["errors"], axis=1, kind="stable")[:, :k]
        return pd.DataFrame(
            {
                "ae_score": s["ae_score"],
                "kmeans_score": s["kmeans_score"],
                "top_features": [list(names[row]) for row in top],
            }
        )


def write_meta(path: str, meta: dict[str, Any]) -> str:
    """Write the pyfunc's ``meta`` artifact (JSON); returns ``path``."""
    with open(path, "w") as fh:
        json.dump(meta, fh)
    return path

"""The synthetic-profile generator as an MLflow pyfunc (``smspark_profiles``): a CTGAN generator
(:mod:`smspark.synthetic.ctgan`) or the Gaussian-copula baseline behind one interface, :meth:`sample`.

Artifacts of a registered CTGAN: ``keras_model`` (the generator, HDF5 from ``model.save``), ``state`` (pickle of
the fitted :class:`~smspark.synthetic.ctgan.DataTransformer` and the training rows' conditional sampler) and
``meta`` (JSON: ``columns`` in order, ``categorical``, ``noise_dim``, ``source``, ``train_rows``).

Input of :meth:`predict`: a DataFrame with ``rows`` (int, how many rows to draw) and ``seed`` (int) per request;
output: the drawn rows (the profile columns of ``meta``), requests concatenated in order.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pandas as pd

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.models.packaging import KerasPyfunc


class ProfilesPyfunc(KerasPyfunc):
    """A trained CTGAN: ``sample(n, seed)`` -> ``n`` synthetic profiles (pandas, the ``meta["columns"]``)."""

    state: dict[str, Any]

    def load_context(self, context: Any) -> None:
        super().load_context(context)
        with open(context.artifacts["state"], "rb") as fh:
            self.state = pickle.load(fh)  # noqa: S301  (our own artifact, written by the trainer)

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` synthetic rows with the training table's columns (float64 continuous, str categorical).

        Raises:
            ValueError: ``n < 0``.
        """
        from smspark.synthetic.ctgan import Ctgan, CtganConfig

        if n < 0:
            raise ValueError(f"rows must be >= 0, got {n}")
        cols = list(self.meta["columns"])
        if n == 0:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
        cfg = CtganConfig(noise_dim=int(self.meta["noise_dim"]))
        gan = Ctgan(cfg, self.state["transformer"], self.state["sampler"], self.keras_model)
        return gan.sample(n, seed)[cols]

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        parts = [self.sample(int(n), int(s)) for n, s in zip(model_input["rows"], model_input["seed"], strict=True)]
        return pd.concat(parts, ignore_index=True) if parts else self.sample(0, 0)


class CopulaGenerator:
    """The baseline with the same ``sample(n, seed)`` interface: a Gaussian copula fitted once on the training rows
    (:func:`smspark.synthetic.metrics.fit_copula`)."""

    def __init__(self, train: pd.DataFrame, categorical: list[str]) -> None:
        from smspark.synthetic.metrics import fit_copula

        self.columns = list(train.columns)
        self.fitted = fit_copula(train, categorical)

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        from smspark.synthetic.metrics import sample_copula

        return sample_copula(self.fitted, n, seed)[self.columns]


def write_state(path: str, transformer: Any, sampler: Any) -> str:
    """Pickle the fitted transformer and conditional sampler to ``path`` (the ``state`` artifact)."""
    with open(path, "wb") as fh:
        pickle.dump({"transformer": transformer, "sampler": sampler}, fh)
    return path


def write_meta(path: str, meta: dict[str, Any]) -> str:
    """The ``meta`` artifact as JSON."""
    with open(path, "w") as fh:
        json.dump(meta, fh, indent=1, default=lambda v: v.item() if isinstance(v, np.generic) else str(v))
    return path

"""Fidelity and privacy of a synthetic table against real rows, with SDMetrics (DataCebo; no torch needed).

- ``quality_score``: the single-table Quality Report's overall score (mean of Column Shapes — KSComplement for
  numerical, TVComplement for categorical columns — and Column Pair Trends), in [0, 1].
- ``detection_score``: ``LogisticDetection`` (1 - (2 * max(ROC AUC, 0.5) - 1) of a logistic regression telling real
  from synthetic rows), in [0, 1].
- ``dcr_overfitting_protection``: ``DCROverfittingProtection`` (synthetic rows are no closer to the training rows
  than to a held-out part of the real rows), in [0, 1].

Higher is better for all three (SDMetrics' definitions).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

TABLE = "table"


def metadata(columns: Sequence[str], categorical: Sequence[str] = ()) -> dict[str, Any]:
    """SDMetrics single-table metadata: ``categorical`` columns as ``categorical``, the others ``numerical``."""
    cats = set(categorical)
    return {"columns": {c: {"sdtype": "categorical" if c in cats else "numerical"} for c in columns}}


def fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, categorical: Sequence[str] = ()) -> dict[str, float]:
    """``quality_score`` and ``detection_score`` of ``synthetic`` against ``real`` (same columns).

    Raises:
        ValueError: ``synthetic`` lacks a column of ``real``.
    """
    from sdmetrics.reports.single_table import QualityReport
    from sdmetrics.single_table import LogisticDetection

    synthetic = _columns_of(real, synthetic)
    meta = metadata(list(real.columns), categorical)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = QualityReport()
        report.generate(real, synthetic, meta, verbose=False)
        detection = LogisticDetection.compute(real, synthetic, meta)
    return {"quality_score": float(report.get_score()), "detection_score": float(detection)}


def dcr_protection(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, categorical: Sequence[str] = ()
) -> float:
    """``DCROverfittingProtection`` of ``synthetic`` rows drawn by a generator fitted on ``train``, with ``holdout``
    (real rows it never saw; SDMetrics recommends at least half as many as ``train``) as the reference.

    Raises:
        ValueError: ``synthetic`` lacks a column of ``train``.
    """
    from sdmetrics.single_table import DCROverfittingProtection

    synthetic = _columns_of(train, synthetic)
    meta = metadata(list(train.columns), categorical)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(DCROverfittingProtection.compute(train, synthetic, holdout, {"tables": {TABLE: meta}}, TABLE))


def _columns_of(reference: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    missing = set(reference.columns) - set(synthetic.columns)
    if missing:
        raise ValueError(f"synthetic rows lack columns {sorted(missing)}")
    return synthetic[list(reference.columns)]


def score(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, categorical: Sequence[str] = ()
) -> dict[str, float]:
    """The three scores of ``synthetic`` (same columns as ``train``): :func:`fidelity` against all real rows
    (``train`` and ``holdout``) and :func:`dcr_protection`.

    Raises:
        ValueError: ``synthetic`` lacks a column of ``train``.
    """
    real = pd.concat([train, holdout], ignore_index=True)
    return {
        **fidelity(real, synthetic, categorical),
        "dcr_overfitting_protection": dcr_protection(train, holdout, synthetic, categorical),
    }


def fit_copula(train: pd.DataFrame, categorical: Sequence[str] = ()) -> dict[str, Any]:
    """Baseline: a Gaussian copula (``copulas.multivariate.GaussianMultivariate``, best-fitting univariate marginals)
    fitted to ``train``. Categorical columns are coded as integers for the fit (decoded by :func:`sample_copula`).

    Returns:
        ``{"model": GaussianMultivariate, "codes": {column: categories}, "columns": [...]}``.
    """
    from copulas.multivariate import GaussianMultivariate

    data = train.copy()
    codes: dict[str, pd.Index] = {}
    for c in categorical:
        cat = pd.Categorical(data[c])
        codes[c] = cat.categories
        data[c] = cat.codes.astype(float)
    data = data.astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GaussianMultivariate()
        model.fit(data)
    return {"model": model, "codes": codes, "columns": list(train.columns)}


def sample_copula(fitted: dict[str, Any], n: int, seed: int) -> pd.DataFrame:
    """``n`` rows from a :func:`fit_copula` result (categorical codes rounded and clipped, then decoded)."""
    import numpy as np

    np.random.seed(seed)  # copulas samples through numpy's global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fitted["model"].sample(n)
    for c, cats in fitted["codes"].items():
        idx = np.clip(np.rint(out[c].to_numpy()), 0, len(cats) - 1).astype(int)
        out[c] = cats[idx]
    return out[fitted["columns"]].reset_index(drop=True)


def copula_sample(train: pd.DataFrame, n: int, seed: int, categorical: Sequence[str] = ()) -> pd.DataFrame:
    """:func:`fit_copula` on ``train`` and ``n`` rows of :func:`sample_copula`."""
    import numpy as np

    np.random.seed(seed)
    return sample_copula(fit_copula(train, categorical), n, seed)

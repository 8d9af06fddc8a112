"""The image model's classical baseline: Spark MLlib multinomial LogisticRegression on raw pixels scaled to [0, 1].

It reads the same ``features/image`` splits as the CNN (``pixels: array<int>`` 0..255, ``label: int``), so both
see identical images; the regularisation strength is picked on the validation split by macro-F1.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyspark.ml.classification import LogisticRegression, LogisticRegressionModel
from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark.metrics import classification_report

log = logging.getLogger(__name__)


def pixel_vectors(df: DataFrame) -> DataFrame:
    """``pixels`` int array 0..255 -> ``features`` dense vector of floats in [0, 1]; keeps ``label``."""
    scaled = F.transform(F.col("pixels"), lambda p: p.cast("double") / F.lit(255.0))
    return df.select(array_to_vector(scaled).alias("features"), F.col("label").cast("double").alias("label"))


def _labels_and_predictions(model: LogisticRegressionModel, df: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    rows = model.transform(df).select("label", "prediction").toPandas()
    return rows["label"].to_numpy(dtype=np.int64), rows["prediction"].to_numpy(dtype=np.int64)


def pixel_logreg(
    train: DataFrame,
    val: DataFrame,
    test: DataFrame,
    classes: Sequence[str],
    reg_grid: Sequence[float] = (1e-4, 1e-3),
    max_iter: int = 100,
) -> dict[str, Any]:
    """Fit LogisticRegression on ``train`` pixels for each ``regParam`` in ``reg_grid``; keep the best on ``val``.

    Args:
        train, val, test: ``features/image`` splits (``pixels: array<int>``, ``label: int``).
        classes: class names by index (for the per-class F1 keys).

    Returns:
        ``{"reg_param", "val": {...}, "test": {...}, "y_true", "y_pred", "fit_seconds"}``: metrics from
        :func:`smspark.metrics.classification_report`, test labels/predictions int64 ``[n]``.
    """
    import time

    tr = pixel_vectors(train).persist()
    va = pixel_vectors(val).persist()
    best: tuple[float, float, LogisticRegressionModel] | None = None
    val_metrics: dict[str, float] = {}
    start = time.perf_counter()
    for reg in reg_grid:
        lr = LogisticRegression(family="multinomial", regParam=float(reg), elasticNetParam=0.0, maxIter=max_iter)
        model = lr.fit(tr)
        m = classification_report(*_labels_and_predictions(model, va), classes)
        log.info("pixel LogReg regParam=%g: val macro-F1 %.4f", reg, m["macro_f1"])
        if best is None or m["macro_f1"] > best[0]:
            best, val_metrics = (m["macro_f1"], float(reg), model), m
    fit_seconds = time.perf_counter() - start
    tr.unpersist()
    va.unpersist()
    assert best is not None
    y_true, y_pred = _labels_and_predictions(best[2], pixel_vectors(test))
    return {
        "reg_param": best[1],
        "val": val_metrics,
        "test": classification_report(y_true, y_pred, classes),
        "y_true": y_true,
        "y_pred": y_pred,
        "fit_seconds": round(fit_seconds, 2),
    }

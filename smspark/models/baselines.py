"""Classical Spark MLlib baselines, trained and tested on the same split as the deep models.

``tfidf_logreg``: the sentiment baseline: TF-IDF over the same token sequences the CNN reads (its vocabulary,
so both see identical input) + multinomial LogisticRegression, the regularisation strength picked on the
validation split by macro-F1.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IDF, CountVectorizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark.metrics import classification_report

log = logging.getLogger(__name__)


def _with_terms(df: DataFrame) -> DataFrame:
    """``token_ids`` int array -> ``terms`` string array without padding (CountVectorizer input)."""
    return df.withColumn("terms", F.expr("transform(filter(token_ids, t -> t != 0), t -> cast(t as string))"))


def _labels_and_predictions(model: PipelineModel, df: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    rows = model.transform(_with_terms(df)).select("label", "prediction").toPandas()
    return rows["label"].to_numpy(dtype=np.int64), rows["prediction"].to_numpy(dtype=np.int64)


def tfidf_logreg(
    train: DataFrame,
    val: DataFrame,
    test: DataFrame,
    classes: Sequence[str],
    reg_grid: Sequence[float] = (0.001, 0.01, 0.1),
    max_iter: int = 100,
) -> dict[str, Any]:
    """Fit TF-IDF + LogisticRegression on ``train`` (columns ``token_ids: array<int>``, ``label: int``).

    Returns ``{"reg_param", "val": {...}, "test": {...}, "y_true", "y_pred"}`` with metrics from
    :func:`smspark.metrics.classification_report` and the test labels/predictions (int64 ``[n]``).
    """
    train_t = _with_terms(train).persist()
    best: tuple[float, float, PipelineModel] | None = None
    val_metrics: dict[str, float] = {}
    for reg in reg_grid:
        pipe = Pipeline(
            stages=[
                CountVectorizer(inputCol="terms", outputCol="tf", minDF=1.0),
                IDF(inputCol="tf", outputCol="features"),
                LogisticRegression(family="multinomial", regParam=float(reg), elasticNetParam=0.0, maxIter=max_iter),
            ]
        )
        model = pipe.fit(train_t)
        m = classification_report(*_labels_and_predictions(model, val), classes)
        log.info("TF-IDF+LogReg regParam=%g: val macro-F1 %.4f", reg, m["macro_f1"])
        if best is None or m["macro_f1"] > best[0]:
            best, val_metrics = (m["macro_f1"], float(reg), model), m
    train_t.unpersist()
    assert best is not None
    y_true, y_pred = _labels_and_predictions(best[2], test)
    return {
        "reg_param": best[1],
        "val": val_metrics,
        "test": classification_report(y_true, y_pred, classes),
        "y_true": y_true,
        "y_pred": y_pred,
    }

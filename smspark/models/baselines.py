"""Classical Spark MLlib baselines, trained and tested on the same split as the deep models.

``tfidf_logreg``: the sentiment baseline: TF-IDF over word n-grams (1..``ngram_max``) of the same token sequences
the CNN reads (its vocabulary and sequence length, so both see identical input) + multinomial LogisticRegression.
Its hyper-parameters are picked on the validation split by macro-F1 over a grid: CountVectorizer ``minDF`` (the
smallest number of training posts a feature must occur in; this sets the number of features),
LogisticRegression ``regParam`` and ``elasticNetParam`` (Zou & Hastie 2005: 0 = L2, 1 = L1).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import IDF, CountVectorizer, NGram
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark.metrics import classification_report

log = logging.getLogger(__name__)


def with_terms(df: DataFrame, ngram_max: int = 1) -> DataFrame:
    """Add ``terms: array<string>``: the non-padding ``token_ids`` as strings and, for ``ngram_max >= 2``, every
    n-gram of them up to that length (space-joined ids; Spark MLlib ``NGram``).

    Raises:
        ValueError: ``ngram_max < 1``.
    """
    if ngram_max < 1:
        raise ValueError(f"ngram_max must be >= 1, got {ngram_max}")
    out = df.withColumn("_t1", F.expr("transform(filter(token_ids, t -> t != 0), t -> cast(t as string))"))
    cols = ["_t1"]
    for n in range(2, ngram_max + 1):
        out = NGram(n=n, inputCol="_t1", outputCol=f"_t{n}").transform(out)
        cols.append(f"_t{n}")
    return out.withColumn("terms", F.concat(*[F.col(c) for c in cols])).drop(*cols)


def _labels_and_predictions(model: Any, df: DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels int64 ``[n]``, predicted classes int64 ``[n]`` and class probabilities float64 ``[n, k]``."""
    from pyspark.ml.functions import vector_to_array

    rows = model.transform(df).select("label", "prediction", vector_to_array("probability").alias("p")).toPandas()
    proba = np.stack(rows["p"].to_numpy()) if len(rows) else np.zeros((0, 0))
    return rows["label"].to_numpy(dtype=np.int64), rows["prediction"].to_numpy(dtype=np.int64), proba


def fit_grid(
    estimator: Any,
    train: DataFrame,
    param_maps: list[dict[Any, Any]],
    score: Callable[[Any], Any],
    parallelism: int,
) -> list[tuple[Any, Any, float]]:
    """Fit an MLlib estimator for every point of a grid: ``(model, score(model), seconds)`` per param map, in the
    order of ``param_maps`` (``seconds``: wall time of that point's fit and score, which overlap other points').

    ``parallelism`` fits (each with its scoring) run at once, in threads that pull from ``estimator.fitMultiple``
    (MLlib's thread-safe iterator, as ``TrainValidationSplit(parallelism=...)`` uses it); the threads keep the
    caller's Spark local properties and job tags (``inheritable_thread_target``). A fit on small data is a chain of
    short Spark jobs that mostly waits on job latency, so several fits share the cores; each fit is the one a
    sequential loop would make (up to the order in which Spark sums partial results). An exception in any fit or
    score propagates.

    Args:
        estimator: any ``pyspark.ml`` Estimator (a Pipeline too).
        train: its training DataFrame, read by every fit (persist it first).
        param_maps: ``{Param: value}`` per grid point.
        score: called once per fitted model, on the fitting thread; must be thread-safe.
        parallelism: fits at once (>= 1; 1 = one after the other).

    Raises:
        ValueError: ``parallelism < 1``.
    """
    from multiprocessing.pool import ThreadPool

    from pyspark import inheritable_thread_target

    if parallelism < 1:
        raise ValueError(f"parallelism must be >= 1, got {parallelism}")
    fits = estimator.fitMultiple(train, param_maps)

    def task(_: int) -> tuple[int, Any, Any, float]:
        start = time.perf_counter()
        index, model = next(fits)
        scored = score(model)
        return index, model, scored, time.perf_counter() - start

    with ThreadPool(max(1, min(parallelism, len(param_maps)))) as pool:
        done = pool.map(inheritable_thread_target(train.sparkSession)(task), range(len(param_maps)))
    by_index = {index: (model, scored, seconds) for index, model, scored, seconds in done}
    return [by_index[i] for i in range(len(param_maps))]


def _macro_f1(classes: Sequence[str]) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    return lambda y, pred, proba: classification_report(y, pred, classes)["macro_f1"]


def tfidf_logreg(
    train: DataFrame,
    val: DataFrame,
    test: DataFrame,
    classes: Sequence[str],
    reg_grid: Sequence[float] = (0.001, 0.01, 0.1),
    max_iter: int = 100,
    *,
    ngram_max: int = 1,
    min_df_grid: Sequence[float] = (1.0,),
    elastic_net_grid: Sequence[float] = (0.0,),
    standardization: bool = True,
    select: Callable[[np.ndarray, np.ndarray, np.ndarray], float] | None = None,
    select_name: str = "macro_f1",
    parallelism: int = 1,
) -> dict[str, Any]:
    """Fit TF-IDF + LogisticRegression on ``train`` (columns ``token_ids: array<int>``, ``label: int``) for every
    point of ``min_df_grid`` x ``reg_grid`` x ``elastic_net_grid``, keep the best on validation (macro-F1, or
    ``select``), test it.

    The ``reg_grid`` x ``elastic_net_grid`` points of one ``minDF`` are fitted ``parallelism`` at a time through
    MLlib's thread-safe ``Estimator.fitMultiple`` (as ``TrainValidationSplit(parallelism=...)`` does): each fit is
    a chain of small Spark jobs that mostly waits on job latency when the data are small, so several fits share the
    cores. A fit does not depend on what runs beside it: the models are those of fitting one after the other, up
    to the order in which Spark sums the tasks' partial gradients (as for any fit: ~1e-11).

    Args:
        train, val, test: the feature splits.
        classes: class names, by label index.
        reg_grid, elastic_net_grid: LogisticRegression ``regParam`` and ``elasticNetParam`` values.
        max_iter: LogisticRegression iterations.
        ngram_max: longest word n-gram (1 = words only, 2 = words and word pairs).
        min_df_grid: CountVectorizer ``minDF`` values (>= 1: a count of training posts; < 1: a fraction).
        standardization: LogisticRegression ``standardization``.
        select: ``(labels, predicted classes, class probabilities [n, k]) -> figure`` (higher is better) the grid is
            picked on, over the validation split; default macro-F1 of the predicted classes.
        select_name: its name in the grid records (``val_<select_name>``).
        parallelism: grid points fitted at once (>= 1).

    Returns:
        ``{"reg_param", "elastic_net", "min_df", "num_features", "val": {...}, "test": {...}, "grid": [...],
        "y_true", "y_pred", "val_proba", "test_proba"}``: metrics from
        :func:`smspark.metrics.classification_report` (arg-max class), the grid's validation figure per point, the
        test labels/predictions (int64 ``[n]``) of the chosen model and its ``(labels, probabilities [n, k])`` on
        validation and test.
    """
    select = select or _macro_f1(classes)
    splits = {name: with_terms(df, ngram_max) for name, df in (("train", train), ("val", val), ("test", test))}
    best: dict[str, Any] | None = None
    grid: list[dict[str, float]] = []
    for min_df in min_df_grid:
        cv = CountVectorizer(inputCol="terms", outputCol="tf", minDF=float(min_df)).fit(splits["train"])
        tf = {name: cv.transform(df) for name, df in splits.items()}
        idf = IDF(inputCol="tf", outputCol="features").fit(tf["train"])
        feats = {name: idf.transform(df).select("label", "features").persist() for name, df in tf.items()}
        points = list(itertools.product(reg_grid, elastic_net_grid))
        lr = LogisticRegression(family="multinomial", maxIter=max_iter, standardization=standardization)
        fits = fit_grid(
            lr,
            feats["train"],
            [{lr.regParam: float(reg), lr.elasticNetParam: float(en)} for reg, en in points],
            lambda model, val=feats["val"]: _labels_and_predictions(model, val),
            parallelism,
        )
        for (reg, en), (model, (y, pred, proba), _) in zip(points, fits, strict=True):
            figure = float(select(y, pred, proba))
            point = {
                "min_df": float(min_df),
                "reg_param": float(reg),
                "elastic_net": float(en),
                f"val_{select_name}": figure,
            }
            grid.append(point)
            log.info(
                "TF-IDF(1..%d-grams, minDF=%g, %d features)+LogReg regParam=%g elasticNet=%g: val %s %.4f",
                ngram_max,
                min_df,
                len(cv.vocabulary),
                reg,
                en,
                select_name,
                figure,
            )
            if best is None or figure > best["_figure"]:
                best = {
                    **{k: v for k, v in point.items() if k != f"val_{select_name}"},
                    "num_features": len(cv.vocabulary),
                    "val": classification_report(y, pred, classes),
                    "val_proba": (y, proba),
                    "model": PipelineModel(stages=[cv, idf, model]),
                    "_figure": figure,
                }
        for df in feats.values():
            df.unpersist()
    assert best is not None
    best.pop("_figure")
    y_true, y_pred, test_proba = _labels_and_predictions(best["model"], splits["test"])
    test = classification_report(y_true, y_pred, classes)
    return {
        **best,
        "test": test,
        "y_true": y_true,
        "y_pred": y_pred,
        "test_proba": (y_true, test_proba),
        "grid": grid,
        "ngram_max": ngram_max,
    }


def engagement_logreg(
    train: DataFrame,
    val: DataFrame,
    test: DataFrame,
    reg_grid: Sequence[float] = (0.0, 0.01),
    max_iter: int = 100,
    prior_weight: float = 5.0,
    items_from: str = "earlier",
    parallelism: int = 1,
) -> dict[str, Any]:
    """The behaviour baseline: MLlib LogisticRegression on the leak-free aggregates of
    :func:`smspark.models.behaviour.aggregate_features` (each row's from events before it), ``regParam`` picked on
    validation ROC AUC (scikit-learn).

    Args:
        train, val, test: behaviour feature splits (columns of
            :func:`smspark.features.interactions.behaviour_rows` without ``split``: ``user_idx``, ``cand_item``,
            ``cand_genres``, ``rating``, ``label``, ``pos``, ``event_ts``).
        reg_grid: ``regParam`` values.
        max_iter: LogisticRegression iterations.
        prior_weight, items_from: passed to :func:`smspark.models.behaviour.aggregate_features`.
        parallelism: grid points fitted at once (:func:`fit_grid`).

    Returns:
        ``{"reg_param", "grid": [{"reg_param", "val_AUC"}], "val": (y, p), "test": (y, p), "coefficients"}`` with
        labels float32 ``[n]`` and engagement probabilities float64 ``[n]`` of the chosen model per split.
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from sklearn.metrics import roc_auc_score

    from smspark.models.behaviour import AGGREGATES, aggregate_features

    cols = ["user_idx", "cand_item", "cand_genres", "rating", "label", "pos", "event_ts"]
    frames = {"train": train, "val": val, "test": test}
    rows = None
    for name, df in frames.items():
        part = df.select(*cols, F.lit(name).alias("split"))
        rows = part if rows is None else rows.unionByName(part)
    assert rows is not None
    agg = aggregate_features(rows, prior_weight=prior_weight, items_from=items_from)  # type: ignore[arg-type]
    agg = agg.select("split", "label", *AGGREGATES).persist()
    data = {name: agg.where(F.col("split") == name) for name in frames}

    def scores(model: PipelineModel, df: DataFrame) -> tuple[np.ndarray, np.ndarray]:
        pdf = model.transform(df).select("label", vector_to_array("probability").getItem(1).alias("p")).toPandas()
        return pdf["label"].to_numpy(dtype=np.float32), pdf["p"].to_numpy(dtype=np.float64)

    lr = LogisticRegression(maxIter=max_iter, labelCol="label")
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=list(AGGREGATES), outputCol="features"), lr])
    fits = fit_grid(
        pipeline,
        data["train"],
        [{lr.regParam: float(reg)} for reg in reg_grid],
        lambda model: scores(model, data["val"]),
        parallelism,
    )
    best: tuple[float, float, PipelineModel, tuple[np.ndarray, np.ndarray]] | None = None
    grid = []
    for reg, (model, val_scores, _) in zip(reg_grid, fits, strict=True):
        auc = float(roc_auc_score(*val_scores))
        grid.append({"reg_param": float(reg), "val_AUC": auc})
        log.info("LogisticRegression on aggregates regParam=%g: val AUC %.4f", reg, auc)
        if best is None or auc > best[0]:
            best = (auc, float(reg), model, val_scores)
    assert best is not None
    test_scores = scores(best[2], data["test"])
    coefficients = best[2].stages[-1].coefficients.toArray().tolist()
    agg.unpersist()
    return {
        "reg_param": best[1],
        "grid": grid,
        "val": best[3],
        "test": test_scores,
        "coefficients": dict(zip(AGGREGATES, coefficients, strict=True)),
    }

"""Scoring with pandas UDFs: the registered model is loaded once per Python worker and applied to Arrow batches.

The UDFs are of the iterator kind (``Iterator[pd.Series] -> Iterator[pd.DataFrame]``): the model is fetched
from the registry on the first batch a worker sees and cached in the worker process (Spark reuses Python
workers across tasks), then every Arrow batch is one vectorised ``predict`` call.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, FloatType, StringType, StructField, StructType

from smspark.schemas import SENTIMENT_CLASSES

log = logging.getLogger(__name__)

_MODELS: dict[str, Any] = {}


def load_python_model(model_uri: str, tracking_uri: str, registry_uri: str | None = None) -> Any:
    """The unwrapped pyfunc ``PythonModel`` behind ``model_uri``, cached per process."""
    if model_uri not in _MODELS:
        import mlflow

        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(registry_uri or tracking_uri)
        _MODELS[model_uri] = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    return _MODELS[model_uri]


SENTIMENT_STRUCT = StructType(
    [StructField("label", StringType())] + [StructField(f"prob_{c}", FloatType()) for c in SENTIMENT_CLASSES]
)
SPAM_STRUCT = StructType([StructField("spam_prob", FloatType()), StructField("is_spam", BooleanType())])


def text_model_udf(
    struct: StructType, model_uri: str, tracking_uri: str, registry_uri: str | None = None, batch_size: int = 1024
):
    """A pandas UDF: text column -> ``struct``, the output of a :class:`smspark.models.packaging.TextPyfunc`
    (``to_frame(predict_proba(texts))``) loaded once per Python worker."""

    @F.pandas_udf(struct)
    def score(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        model = load_python_model(model_uri, tracking_uri, registry_uri)
        for texts in batches:
            yield model.to_frame(model.predict_proba(texts.tolist(), batch_size=batch_size))

    return score


def sentiment_udf(model_uri: str, tracking_uri: str, registry_uri: str | None = None, batch_size: int = 1024):
    """A pandas UDF: text column -> struct ``label``, ``prob_negative``, ``prob_neutral``, ``prob_positive``."""
    return text_model_udf(SENTIMENT_STRUCT, model_uri, tracking_uri, registry_uri, batch_size)


def spam_udf(model_uri: str, tracking_uri: str, registry_uri: str | None = None, batch_size: int = 1024):
    """A pandas UDF: text column -> struct ``spam_prob`` (float), ``is_spam`` (bool)."""
    return text_model_udf(SPAM_STRUCT, model_uri, tracking_uri, registry_uri, batch_size)


def posts_scorer(make_udf: Callable[..., Any], schema: StructType) -> Callable[..., DataFrame]:
    """A scoring function ``(posts, champion, tracking_uri, registry_uri, run_date, batch_size=1024) -> gold rows``:
    ``make_udf(champion.uri, tracking_uri, registry_uri, batch_size)`` (e.g. :func:`spam_udf`) applied to ``posts``
    (``post_id``, ``text``) through :func:`gold_rows` into ``schema``, one row per post, ``dt = run_date``."""

    def score_posts(
        posts: DataFrame,
        champion: Any,
        tracking_uri: str,
        registry_uri: str | None,
        run_date: dt.date,
        batch_size: int = 1024,
    ) -> DataFrame:
        udf = make_udf(champion.uri, tracking_uri, registry_uri, batch_size)
        return gold_rows(posts, udf, champion, run_date, schema)

    return score_posts


def gold_rows(posts: DataFrame, udf: Any, champion: Any, run_date: dt.date, schema: StructType) -> DataFrame:
    """``posts`` (``post_id``, ``text``) -> one row per post: ``post_id``, the UDF's struct fields, ``model_name``,
    ``model_version`` (of ``champion``, a :class:`smspark.train.registry.Champion`), ``scored_at``,
    ``dt = run_date``, in ``schema``'s order and types."""
    scored = posts.select("post_id", udf(F.col("text")).alias("s"))
    return scored.select(
        "post_id",
        "s.*",
        F.lit(champion.name).alias("model_name"),
        F.lit(champion.version).alias("model_version"),
        F.current_timestamp().alias("scored_at"),
        F.lit(run_date).cast("date").alias("dt"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in schema.fields])

"""The topic model: Spark MLlib LDA with the online variational Bayes optimizer (Hoffman, Blei and Bach, NIPS 2010)
on pooled post documents, and its MLflow pyfunc.

The fitted model is one Spark ``PipelineModel``: ``StopWordsRemover`` (``terms`` -> ``kept``), ``CountVectorizerModel``
(``kept`` -> ``counts``, the vocabulary) and ``LocalLDAModel`` (``counts`` -> ``topic_distribution``). Its input is
the ``terms`` column of :func:`smspark.features.topics.terms_col`, so a single post and a pooled document go through
the same steps. The pyfunc keeps the saved pipeline as an artifact directory and the topics' description (top terms,
weights, coherence, labels) as ``meta.json``; :meth:`TopicsPyfunc.spark_model` loads the pipeline on a session for
distributed scoring (it is staged on the data root first, so executors on other hosts can read it).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from smspark import storage

log = logging.getLogger(__name__)

TERMS, KEPT, COUNTS, DIST = "terms", "kept", "counts", "topic_distribution"


def fit_vectorizer(train_docs: Any, vocab_size: int, min_df: float, max_df: float, extra_stop_words: list[str]) -> Any:
    """``PipelineModel([StopWordsRemover, CountVectorizerModel])`` fitted on the training documents' ``terms``.

    ``min_df``/``max_df``: MLlib ``CountVectorizer`` document-frequency bounds (a count when >= 1, else a fraction).
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import CountVectorizer

    from smspark.features.topics import stop_words_remover

    cv = CountVectorizer(inputCol=KEPT, outputCol=COUNTS, vocabSize=vocab_size, minDF=min_df, maxDF=max_df)
    return Pipeline(stages=[stop_words_remover(TERMS, KEPT, extra_stop_words), cv]).fit(train_docs)


def fit_lda(counts: Any, k: int, max_iter: int, subsampling_rate: float, seed: int) -> Any:
    """MLlib ``LDA(optimizer="online")`` with ``k`` topics fitted on a ``counts`` vector column -> ``LocalLDAModel``.

    The document concentration (alpha) is learned (``optimizeDocConcentration``), the priors start at MLlib's
    online defaults (symmetric ``1/k``).
    """
    from pyspark.ml.clustering import LDA

    lda = LDA(
        k=k,
        optimizer="online",
        maxIter=max_iter,
        subsamplingRate=subsampling_rate,
        optimizeDocConcentration=True,
        seed=seed,
        featuresCol=COUNTS,
        topicDistributionCol=DIST,
    )
    return lda.fit(counts)


def pipeline_of(vectorizer: Any, lda: Any) -> Any:
    """The scoring pipeline: the vectorizer's stages followed by the LDA model."""
    from pyspark.ml import PipelineModel

    return PipelineModel(stages=[*vectorizer.stages, lda])


def describe(pipeline: Any, top_n: int) -> pd.DataFrame:
    """Top ``top_n`` terms of every topic: ``topic_id`` (int), ``terms`` (list of str), ``weights`` (list of float,
    the topic's term probabilities, descending), from ``LocalLDAModel.describeTopics``."""
    vocab = pipeline.stages[-2].vocabulary
    rows = pipeline.stages[-1].describeTopics(top_n).collect()
    return pd.DataFrame(
        {
            "topic_id": [int(r["topic"]) for r in rows],
            "terms": [[vocab[i] for i in r["termIndices"]] for r in rows],
            "weights": [[float(w) for w in r["termWeights"]] for r in rows],
        }
    )


def label(terms: list[str], n: int = 3) -> str:
    """A topic's label: its top ``n`` terms joined by `` / ``."""
    return " / ".join(terms[:n])


def log_perplexity(pipeline: Any, docs: Any) -> float:
    """``LocalLDAModel.logPerplexity`` (an upper bound on the per-token negative log-likelihood, nats; lower is
    better) of ``docs`` (a ``terms`` column) under ``pipeline``'s vocabulary."""
    from pyspark.ml import PipelineModel

    counts = PipelineModel(stages=pipeline.stages[:-1]).transform(docs)
    return float(pipeline.stages[-1].logPerplexity(counts))


class TopicsPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc of the topic model.

    Artifacts: ``pipeline`` (the saved Spark ``PipelineModel`` directory) and ``meta`` (JSON: ``k``, ``topics`` with
    ``topic_id``, ``terms``, ``weights``, ``coherence``, ``label``; ``vocab_size``, ``min_term_len``).
    ``predict`` takes a DataFrame with a ``text`` column and needs an active SparkSession (the driver's);
    bulk scoring uses :meth:`spark_model` on the job's session instead.
    """

    def __init__(self) -> None:
        self.pipeline_dir: str | None = None
        self.meta: dict[str, Any] = {}
        self._pipeline: Any = None

    def load_context(self, context: Any) -> None:
        self.pipeline_dir = context.artifacts["pipeline"]
        with open(context.artifacts["meta"]) as fh:
            self.meta = json.load(fh)
        self._pipeline = None

    @property
    def k(self) -> int:
        return int(self.meta["k"])

    def spark_model(self, spark: Any, stage_uri: str | None = None) -> Any:
        """The ``PipelineModel``, loaded once. ``stage_uri``: a folder on the data root to copy the pipeline to
        first (on a cluster executors cannot read the driver's local copy); None loads the local copy."""
        if self._pipeline is None:
            from pyspark.ml import PipelineModel

            if self.pipeline_dir is None:
                raise RuntimeError("the topic model has no pipeline: load it through MLflow")
            src = self.pipeline_dir
            if stage_uri is not None:
                storage.upload(src, stage_uri)
                src = stage_uri
            self._pipeline = PipelineModel.load(storage.spark_path(src))
        return self._pipeline

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``text`` -> ``dominant_topic`` (int32, -1 when no term of the text is in the vocabulary), ``dominant_prob``
        (float32) and ``topic_distribution`` (list of ``k`` float)."""
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F

        from smspark.features.topics import terms_col

        spark = SparkSession.getActiveSession()
        if spark is None:
            raise RuntimeError("the topic model's predict needs an active SparkSession")
        texts = pd.DataFrame({"text": model_input["text"].astype(str).tolist()})
        sdf = spark.createDataFrame(texts, "text string").withColumn(
            TERMS, terms_col(F.col("text"), int(self.meta.get("min_term_len", 2)))
        )
        out = topic_columns(self.spark_model(spark).transform(sdf)).toPandas()
        return pd.DataFrame(
            {
                "dominant_topic": out["dominant_topic"].fillna(-1).astype(np.int32),
                "dominant_prob": out["dominant_prob"].fillna(0.0).astype(np.float32),
                "topic_distribution": [list(map(float, d)) for d in out["topic_distribution"]],
            }
        )


def topic_columns(transformed: Any) -> Any:
    """A transformed DataFrame (``counts``, ``topic_distribution`` vectors) with ``topic_distribution`` as
    ``array<float>``, ``dominant_topic`` (int, 0-based; null when the post has no term in the vocabulary, its
    distribution is then the prior) and ``dominant_prob`` (float; null likewise)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    dist = vector_to_array(F.col(DIST), "float32")
    known = F.size(F.col(KEPT)) > 0
    df = transformed.withColumn(DIST, dist).withColumn("_n", F.udf(lambda v: int(v.numNonzeros()), "int")(COUNTS))
    top = F.array_max(DIST)
    return df.select(
        "*",
        F.when(known & (F.col("_n") > 0), F.array_position(DIST, top) - 1).cast("int").alias("dominant_topic"),
        F.when(known & (F.col("_n") > 0), top).cast("float").alias("dominant_prob"),
    ).drop("_n")

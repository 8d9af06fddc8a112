"""The topic model: Spark MLlib LDA with the online variational Bayes optimizer (Hoffman, Blei and Bach, NIPS 2010)
on pooled post documents, and its MLflow pyfunc.

The fitted model is one Spark ``PipelineModel`` per corpus group (:func:`corpus_groups`): ``StopWordsRemover``
(``terms`` -> ``kept``), ``CountVectorizerModel`` (``kept`` -> ``counts``, the vocabulary) and ``LocalLDAModel``
(``counts`` -> ``topic_distribution``). Its input is the ``terms`` column of
:func:`smspark.features.topics.terms_col`, so a single post and a pooled document go through the same steps. The
pyfunc keeps the saved pipelines as an artifact directory and the topics' description (top terms, weights,
coherence, labels) as ``meta.json``; :meth:`TopicsPyfunc.transform` loads the pipelines on a session for distributed
scoring (staged on the data root first, so executors on other hosts can read them).
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


def lda_estimator(max_iter: int, subsampling_rate: float, seed: int) -> Any:
    """MLlib ``LDA(optimizer="online")`` (Hoffman, Blei, Bach 2010) over a ``counts`` vector column, its ``k`` set by
    the grid's param maps; fitted -> ``LocalLDAModel``.

    The document concentration (alpha) is learned (``optimizeDocConcentration``), the priors start at MLlib's
    online defaults (symmetric ``1/k``).
    """
    from pyspark.ml.clustering import LDA

    return LDA(
        optimizer="online",
        maxIter=max_iter,
        subsamplingRate=subsampling_rate,
        optimizeDocConcentration=True,
        seed=seed,
        featuresCol=COUNTS,
        topicDistributionCol=DIST,
    )


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


ALL = "all"  # the group name of a model fitted on every corpus at once


def corpus_groups(doc_counts: dict[str, int], per_corpus: bool, min_docs: int) -> dict[str, list[str]]:
    """Which corpora share a topic model: group name -> corpora (sorted).

    Args:
        doc_counts: corpus -> training documents.
        per_corpus: one group per corpus; otherwise one group :data:`ALL` with every corpus.
        min_docs: a corpus with fewer training documents joins the group of the largest corpus.

    Returns:
        Groups in name order (their topic ids follow that order).

    Raises:
        ValueError: no training documents at all.
    """
    if not doc_counts or sum(doc_counts.values()) == 0:
        raise ValueError("no topic training documents")
    if not per_corpus:
        return {ALL: sorted(doc_counts)}
    largest = max(sorted(doc_counts), key=lambda c: doc_counts[c])
    groups: dict[str, list[str]] = {}
    for corpus in sorted(doc_counts):
        owner = corpus if doc_counts[corpus] >= min_docs else largest
        groups.setdefault(owner, []).append(corpus)
    return {g: sorted(groups[g]) for g in sorted(groups)}


class TopicsPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc of the topic model: one Spark pipeline per corpus group (see :func:`corpus_groups`).

    Artifacts: ``pipelines`` (a directory with one saved Spark ``PipelineModel`` per group, named after it) and
    ``meta`` (JSON: ``k`` (all topics), ``groups`` (``name``, ``corpora``, ``k``, ``offset``), ``default_group``
    (the largest corpus's: posts of a corpus it has not seen), ``topics`` with ``topic_id`` (unique across groups),
    ``corpus`` (group), ``terms``, ``weights``, ``coherence``, ``label``; ``min_term_len``). A model saved with a
    single ``pipeline`` artifact is read as one group :data:`ALL`.
    ``predict`` takes a DataFrame with a ``text`` column (and optionally ``corpus``) and needs an active
    SparkSession (the driver's); bulk scoring uses :meth:`transform` on the job's session instead.
    """

    def __init__(self) -> None:
        self.pipeline_dirs: dict[str, str] = {}
        self.meta: dict[str, Any] = {}
        self._pipelines: dict[str, Any] = {}

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["meta"]) as fh:
            self.meta = json.load(fh)
        if "pipelines" in context.artifacts:
            self.pipeline_dirs = {g["name"]: f"{context.artifacts['pipelines']}/{g['name']}" for g in self.groups}
        else:  # a single-pipeline model
            self.pipeline_dirs = {ALL: context.artifacts["pipeline"]}
        self._pipelines = {}

    @property
    def k(self) -> int:
        return int(self.meta["k"])

    @property
    def groups(self) -> list[dict[str, Any]]:
        """``name``, ``corpora`` (None: every corpus), ``k``, ``offset`` (first topic id) of each group."""
        return self.meta.get("groups") or [{"name": ALL, "corpora": None, "k": self.k, "offset": 0}]

    @property
    def default_group(self) -> str:
        return str(self.meta.get("default_group", self.groups[0]["name"]))

    def spark_models(self, spark: Any, stage_uri: str | None = None) -> dict[str, Any]:
        """Group name -> ``PipelineModel``, loaded once. ``stage_uri``: a folder on the data root to copy the
        pipelines to first (on a cluster executors cannot read the driver's local copy); None loads the local copy.
        """
        if not self._pipelines:
            from pyspark.ml import PipelineModel

            if not self.pipeline_dirs:
                raise RuntimeError("the topic model has no pipeline: load it through MLflow")
            for name, src in self.pipeline_dirs.items():
                if stage_uri is not None:
                    dst = storage.join(stage_uri, name)
                    storage.upload(src, dst)
                    src = dst
                self._pipelines[name] = PipelineModel.load(storage.spark_path(src))
        return self._pipelines

    def group_filter(self, group: dict[str, Any]) -> Any:
        """Spark condition selecting the rows (``corpus`` column) of ``group``: its corpora, and for the default
        group also every corpus no group names (or a null corpus)."""
        from pyspark.sql import functions as F

        if group["corpora"] is None:
            return F.lit(True)
        cond = F.col("corpus").isin(group["corpora"])
        if group["name"] == self.default_group:
            known = [c for g in self.groups for c in (g["corpora"] or [])]
            cond = cond | ~F.coalesce(F.col("corpus").isin(known), F.lit(False))
        return cond

    def transform(self, spark: Any, df: Any, stage_uri: str | None = None) -> Any:
        """``df`` (``terms`` and, with several groups, ``corpus``) through its group's pipeline, then
        :func:`topic_columns` with ``dominant_topic`` shifted to the topic ids of the whole model; one output row
        per input row."""
        from pyspark.sql import functions as F

        pipes = self.spark_models(spark, stage_uri)
        if "corpus" not in df.columns:
            df = df.withColumn("corpus", F.lit(None).cast("string"))
        parts = []
        for g in self.groups:
            out = topic_columns(pipes[g["name"]].transform(df.where(self.group_filter(g))))
            parts.append(out.withColumn("dominant_topic", (F.col("dominant_topic") + F.lit(int(g["offset"])))))
        result = parts[0]
        for part in parts[1:]:
            result = result.unionByName(part)
        return result

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``text`` (and optionally ``corpus``) -> ``dominant_topic`` (int32, -1 when no term of the text is in the
        vocabulary), ``dominant_prob`` (float32) and ``topic_distribution`` (list of the group's ``k`` float), in
        input order."""
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F

        from smspark.features.topics import terms_col

        spark = SparkSession.getActiveSession()
        if spark is None:
            raise RuntimeError("the topic model's predict needs an active SparkSession")
        corpus = model_input["corpus"].astype(str) if "corpus" in model_input else [None] * len(model_input)
        texts = pd.DataFrame(
            {"_i": range(len(model_input)), "text": model_input["text"].astype(str).tolist(), "corpus": list(corpus)}
        )
        sdf = spark.createDataFrame(texts, "_i long, text string, corpus string").withColumn(
            TERMS, terms_col(F.col("text"), int(self.meta.get("min_term_len", 2)))
        )
        out = self.transform(spark, sdf).toPandas().sort_values("_i")
        return pd.DataFrame(
            {
                "dominant_topic": out["dominant_topic"].fillna(-1).astype(np.int32).to_numpy(),
                "dominant_prob": out["dominant_prob"].fillna(0.0).astype(np.float32).to_numpy(),
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

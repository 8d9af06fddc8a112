"""The sentiment model in the lifecycle: Kim (2014) CNN next to MLlib TF-IDF + LogisticRegression.

Reads ``features/sentiment/{train,val,test}`` (``post_id``, ``token_ids`` int32 ``[seq_len]``, ``label`` int32) and
``vocab.json``. Any version (the candidate or an older champion with its own vocabulary) is evaluated through its
pyfunc on the split's silver texts, so the figures of versions built on different vocabularies are comparable.
Selection metric: macro-F1 on validation.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark import storage, tables
from smspark.features.text import EMBEDDINGS_FILE
from smspark.metrics import classification_report, confusion_plots
from smspark.schemas import SENTIMENT_CLASSES
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, Package, pip_requirements


def build_with_vectors(cfg: Any, vocab_size: int, num_classes: int, vectors_uri: str | None) -> Any:
    """The Kim CNN (:func:`smspark.models.sentiment.build_model`), its embedding started from the word vectors at
    ``vectors_uri`` (``features/sentiment/embeddings.npy``, read on the worker that builds the model) or random."""
    from smspark.models.sentiment import build_model

    vectors = None
    if vectors_uri:
        vectors = np.load(io.BytesIO(storage.read_bytes(vectors_uri)))
    return build_model(cfg, vocab_size, num_classes, vectors)


class SentimentAdapter(ModelAdapter):
    """Kim CNN (``smspark_sentiment``): see :mod:`smspark.models.sentiment` and :mod:`smspark.models.baselines`."""

    name = "sentiment"
    features = "sentiment"
    candidate_name = "cnn"
    selection_metric = "macro_f1"
    resumable = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.meta = storage.read_json(ctx.features("vocab.json"))
        self._data: dict[str, tuple[list[str], np.ndarray]] = {}
        self._test_pred: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        vectors = self.cfg.models.sentiment.word_vectors and storage.exists(self.ctx.features(EMBEDDINGS_FILE))
        return {**super().params(), "vocab_size_actual": len(self.meta["vocab"]), "word_vectors_used": vectors}

    def train(self) -> Candidate:
        from smspark.models.packaging import SentimentPyfunc

        mcfg = self.cfg.models.sentiment
        vectors = self.ctx.features(EMBEDDINGS_FILE)
        run = self.train_keras(
            "cnn",
            functools.partial(
                build_with_vectors,
                mcfg,
                len(self.meta["vocab"]),
                len(SENTIMENT_CLASSES),
                vectors if mcfg.word_vectors and storage.exists(vectors) else None,
            ),
            ["token_ids"],
            "label",
            mcfg,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model = SentimentPyfunc()
        model.keras_model, model.meta = run.model, self.meta
        artifacts = {
            "keras_model": self.ctx.local(storage.join(run.out_uri, "model.h5")),
            "meta": self.ctx.local(self.ctx.features("vocab.json")),
        }
        return Candidate(model, artifacts, run.history, run.ranks, run.seconds, {"training": run.summary()})

    def split_data(self, split: str) -> tuple[list[str], np.ndarray]:
        """The silver texts of a features split and their labels (int64 ``[n]``), in ``post_id`` order."""
        if split not in self._data:
            from pyspark.sql import functions as F

            feats = tables.read(self.spark, self.ctx.features(split)).select("post_id", "label")
            silver = tables.read(self.spark, storage.join(self.cfg.layout.silver, "posts"))
            rows = (
                feats.join(silver.select("post_id", "text"), "post_id", "left")
                .orderBy("post_id")
                .select(F.coalesce("text", F.lit("")).alias("text"), "label")
                .toPandas()
            )
            self._data[split] = (rows["text"].tolist(), rows["label"].to_numpy(dtype=np.int64))
        return self._data[split]

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        texts, y = self.split_data(split)
        pred = model.predict_proba(texts).argmax(axis=1)
        return classification_report(y, pred, SENTIMENT_CLASSES)

    def baselines(self) -> list[Baseline]:
        from smspark.models.baselines import tfidf_logreg

        mcfg = self.cfg.models.sentiment
        splits = self.split_frames()
        base = tfidf_logreg(
            splits["train"],
            splits["val"],
            splits["test"],
            SENTIMENT_CLASSES,
            reg_grid=mcfg.baseline_reg_params,
            max_iter=mcfg.baseline_max_iter,
            ngram_max=mcfg.baseline_ngram_max,
            min_df_grid=mcfg.baseline_min_df,
            parallelism=self.cfg.train.grid_parallelism,
            elastic_net_grid=mcfg.baseline_elastic_net,
            standardization=mcfg.baseline_standardization,
        )
        return [
            Baseline(
                "tfidf_logreg",
                base["val"],
                base["test"],
                {k: base[k] for k in ("reg_param", "elastic_net", "min_df", "ngram_max", "num_features")},
                base["y_true"],
                base["y_pred"],
            )
        ]

    def package(self, candidate: Candidate) -> Package:
        from smspark.models.packaging import SentimentPyfunc

        sample = pd.DataFrame({"text": ["what a great day", "this is awful"]})
        return Package(SentimentPyfunc(), sample, pip_requirements())

    def plots(self, candidate: Candidate, baselines: list[Baseline], out_dir: Path) -> list[Path]:
        texts, y = self.split_data("test")
        pred = candidate.model.predict_proba(texts).argmax(axis=1)
        return confusion_plots(y, pred, SENTIMENT_CLASSES, "Kim CNN (test)", baselines, out_dir)

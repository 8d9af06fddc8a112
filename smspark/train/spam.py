"""The spam model in the lifecycle: a Kim (2014) CNN next to MLlib TF-IDF + LogisticRegression, on labelled mail.

Reads ``features/spam/{train,val,test}`` (``message_id``, ``source``, ``token_ids`` int32 ``[seq_len]``, ``label`` 0
ham / 1 spam) and ``vocab.json``. The CNN is the sentiment model's builder with 2 softmax outputs, embedding the
``cnn_vocab_size`` most frequent tokens (:func:`smspark.models.spam.build_model`), trained by Horovod workers through
Petastorm; the baseline reads word 1-2-grams of the same token ids (the whole vocabulary). The spam class is about
28% of the mail, so neither model gets class weights: each gets the decision threshold with the highest spam F1 on
validation, in the middle (log-odds) of the gap between the validation scores it separates
(:func:`smspark.metrics.best_threshold`), kept with the model (``meta.threshold`` of
:class:`smspark.models.packaging.SpamPyfunc`) and applied to the test split and to scoring.

Figures (:func:`smspark.metrics.binary_report`, spam class): precision, recall, F1, PR-AUC (average precision) and
ROC AUC. Selection metric: spam F1 on validation, the figure the nightly output's ``is_spam`` is judged on; PR-AUC
(threshold-free) is recorded beside it. Any version (the candidate, or an older champion with its own vocabulary and
threshold) is evaluated through its pyfunc on the split's silver mail text (``subject + "\\n" + body``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark import storage, tables
from smspark.features.spam import mail_text_col
from smspark.metrics import best_threshold, binary_report, confusion_plots
from smspark.schemas import MESSAGE_LABELS
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, Package, pip_requirements

SPAM = MESSAGE_LABELS.index("spam")


class SpamAdapter(ModelAdapter):
    """Kim CNN (``smspark_spam``) vs TF-IDF + LogisticRegression on ``features/spam``."""

    name = "spam"
    features = "spam"
    candidate_name = "cnn"
    selection_metric = "f1"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.meta = storage.read_json(ctx.features("vocab.json"))
        self._data: dict[str, tuple[list[str], np.ndarray]] = {}

    def params(self) -> dict[str, Any]:
        return {**super().params(), "vocab_size_actual": len(self.meta["vocab"])}

    def tags(self) -> dict[str, str]:
        return {"dataset": "silver/messages"}

    def train(self) -> Candidate:
        from smspark.models.packaging import SpamPyfunc
        from smspark.models.spam import build_model

        mcfg = self.cfg.models.spam
        run = self.train_keras(
            "cnn",
            functools.partial(build_model, mcfg, len(self.meta["vocab"])),
            ["token_ids"],
            "label",
            mcfg,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model = SpamPyfunc()
        model.keras_model, model.meta = run.model, {**self.meta, "threshold": 0.5}
        texts, y = self.split_data("val")
        threshold, val_f1 = best_threshold(y, model.spam_prob(texts))
        model.meta["threshold"] = threshold
        meta_file = Path(self.ctx.local_dir) / "spam_meta.json"
        meta_file.write_text(json.dumps(model.meta))
        artifacts = {"keras_model": self.ctx.local(storage.join(run.out_uri, "model.h5")), "meta": str(meta_file)}
        extra = {"training": run.summary(), "threshold": {"value": threshold, "val_f1": val_f1}}
        return Candidate(model, artifacts, run.history, run.ranks, run.seconds, extra)

    def split_data(self, split: str) -> tuple[list[str], np.ndarray]:
        """The silver mail texts (``subject + "\\n" + body``) of a features split and their labels (int64 ``[n]``),
        in ``(source, message_id)`` order."""
        if split not in self._data:
            from pyspark.sql import functions as F

            feats = tables.read(self.spark, self.ctx.features(split)).select("source", "message_id", "label")
            silver = tables.read(self.spark, storage.join(self.cfg.layout.silver, "messages"))
            silver = silver.select("source", "message_id", mail_text_col(F.col("subject"), F.col("text")).alias("t"))
            rows = (
                feats.join(silver, ["source", "message_id"], "left")
                .orderBy("source", "message_id")
                .select(F.coalesce("t", F.lit("")).alias("text"), "label")
                .toPandas()
            )
            self._data[split] = (rows["text"].tolist(), rows["label"].to_numpy(dtype=np.int64))
        return self._data[split]

    def incompatible(self, champion: Any) -> str | None:
        meta = getattr(champion, "meta", None) or {}
        if list(meta.get("classes", [])) != list(MESSAGE_LABELS) or "threshold" not in meta:
            return f"its classes are {meta.get('classes')} with threshold {meta.get('threshold')}, not ham/spam"
        return None

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        texts, y = self.split_data(split)
        return binary_report(y, model.spam_prob(texts), float(model.meta["threshold"]))

    def baselines(self) -> list[Baseline]:
        from smspark.models.baselines import tfidf_logreg

        mcfg = self.cfg.models.spam
        splits = self.split_frames()
        base = tfidf_logreg(
            splits["train"],
            splits["val"],
            splits["test"],
            MESSAGE_LABELS,
            reg_grid=mcfg.baseline_reg_params,
            max_iter=mcfg.baseline_max_iter,
            ngram_max=mcfg.baseline_ngram_max,
            min_df_grid=mcfg.baseline_min_df,
            parallelism=self.cfg.train.grid_parallelism,
            standardization=False,
            select=lambda y, pred, proba: best_threshold(y, proba[:, SPAM])[1],
            select_name="spam_f1",
        )
        (y_val, p_val), (y_test, p_test) = base["val_proba"], base["test_proba"]
        threshold, _ = best_threshold(y_val, p_val[:, SPAM])
        test = binary_report(y_test, p_test[:, SPAM], threshold)
        return [
            Baseline(
                "tfidf_logreg",
                binary_report(y_val, p_val[:, SPAM], threshold),
                test,
                {k: base[k] for k in ("reg_param", "min_df", "ngram_max", "num_features")} | {"threshold": threshold},
                y_test,
                (p_test[:, SPAM] >= threshold).astype(np.int64),
                {"grid": base["grid"]},
            )
        ]

    def package(self, candidate: Candidate) -> Package:
        from smspark.models.packaging import SpamPyfunc

        sample = pd.DataFrame({"text": ["Re: minutes of Tuesday's meeting", "You WIN $1,000,000 - click here now!!!"]})
        return Package(SpamPyfunc(), sample, pip_requirements())

    def plots(self, candidate: Candidate, baselines: list[Baseline], out_dir: Path) -> list[Path]:
        texts, y = self.split_data("test")
        pred = (candidate.model.spam_prob(texts) >= candidate.model.meta["threshold"]).astype(np.int64)
        return confusion_plots(y, pred, MESSAGE_LABELS, "Kim CNN (test)", baselines, out_dir)

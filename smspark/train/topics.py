"""The topic model in the lifecycle: MLlib online LDA on pooled post documents, k chosen by NPMI coherence.

Reads ``features/topics/{train,val,test}`` (``doc_id``, ``corpus``, ``pool``, ``terms``, ``posts``; see
:mod:`smspark.features.topics`). Training fits the vocabulary (stop words removed, ``CountVectorizer``) on the
training documents, then one LDA per ``k`` of ``models.topics.k_values``; the ``k`` whose topics are most coherent on
the validation documents (mean NPMI of each topic's top ``top_n`` terms, :mod:`smspark.topic_metrics`) is the
candidate, and its held-out log-perplexity is reported beside it. Any version (the candidate or an older champion with
its own vocabulary) is evaluated on the current split the same way, through its pyfunc's pipeline.

Selection metric: mean NPMI on validation (higher is better). The topic model has no baseline: ``k`` is the only
choice made, and it is made by coherence (``beats_baseline`` is ``None``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from smspark import storage, tables
from smspark.progress import progress
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, Package

log = logging.getLogger(__name__)


class TopicsAdapter(ModelAdapter):
    """MLlib LDA (``smspark_topics``): see :mod:`smspark.models.topics`."""

    name = "topics"
    features = "topics"
    candidate_name = "lda"
    selection_metric = "npmi"
    higher_is_better = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.mcfg = self.cfg.models.topics
        self._docs: dict[str, Any] = {}

    def docs(self, split: str) -> Any:
        """The documents of a features split (``terms`` ``array<string>``), cached."""
        if split not in self._docs:
            df = tables.read(self.spark, self.ctx.features(split)).select("doc_id", "terms")
            self._docs[split] = df.persist()
        return self._docs[split]

    def measure(self, pipeline: Any, split: str) -> dict[str, Any]:
        """NPMI coherence (mean and per topic) of ``pipeline``'s topics and its log-perplexity on ``split``."""
        from smspark.models.topics import describe, log_perplexity
        from smspark.topic_metrics import npmi_coherence

        topics = describe(pipeline, self.mcfg.top_n)
        tdf = self.spark.createDataFrame(topics[["topic_id", "terms"]], "topic_id int, terms array<string>")
        by_topic = {int(r["topic_id"]): float(r["npmi"]) for r in npmi_coherence(self.docs(split), tdf).collect()}
        return {
            "npmi": float(sum(by_topic.values()) / max(len(by_topic), 1)),
            "log_perplexity": log_perplexity(pipeline, self.docs(split)),
            "k": float(len(topics)),
            "npmi_by_topic": {str(t): v for t, v in sorted(by_topic.items())},
        }

    def train(self) -> Candidate:
        from smspark.models.topics import COUNTS, TopicsPyfunc, describe, fit_lda, fit_vectorizer, label, pipeline_of

        m = self.mcfg
        start = time.perf_counter()
        train = self.docs("train")
        vectorizer = fit_vectorizer(train, m.vocab_size, m.min_df, m.max_df, m.extra_stop_words)
        vocab_size = len(vectorizer.stages[-1].vocabulary)
        counts = vectorizer.transform(train).select(COUNTS).persist()
        log.info("topics: vocabulary of %d terms from %d training documents", vocab_size, counts.count())
        history: dict[str, list[float]] = {"k": [], "val_npmi": [], "val_log_perplexity": [], "seconds": []}
        best: tuple[float, Any, dict[str, Any]] | None = None
        for k in progress(m.k_values, "topics: LDA for k", log):
            t0 = time.perf_counter()
            pipeline = pipeline_of(vectorizer, fit_lda(counts, k, m.max_iter, m.subsampling_rate, self.cfg.train.seed))
            val = self.measure(pipeline, "val")
            secs = time.perf_counter() - t0
            for key, v in (("k", k), ("val_npmi", val["npmi"]), ("val_log_perplexity", val["log_perplexity"])):
                history[key].append(float(v))
            history["seconds"].append(round(secs, 2))
            log.info(
                "topics: k=%d val NPMI %.4f, val log-perplexity %.3f (%.0fs)",
                k,
                val["npmi"],
                val["log_perplexity"],
                secs,
            )
            if best is None or val["npmi"] > best[0]:
                best = (val["npmi"], pipeline, val)
        counts.unpersist()
        assert best is not None  # k_values has at least one entry (config validation)
        _, pipeline, val = best
        topics = describe(pipeline, m.top_n)
        meta = {
            "k": len(topics),
            "vocab_size": vocab_size,
            "min_term_len": m.min_term_len,
            "top_n": m.top_n,
            "coherence_split": "val",
            "topics": [
                {
                    "topic_id": int(r.topic_id),
                    "terms": list(r.terms),
                    "weights": list(r.weights),
                    "coherence": val["npmi_by_topic"].get(str(int(r.topic_id))),
                    "label": label(list(r.terms), m.label_terms),
                }
                for r in topics.itertuples()
            ],
        }
        pipe_uri, meta_uri = self.ctx.work("pipeline"), self.ctx.work("meta.json")
        pipeline.write().overwrite().save(storage.spark_path(pipe_uri))
        storage.write_json(meta_uri, meta)
        artifacts = {"pipeline": self.ctx.local(pipe_uri), "meta": self.ctx.local(meta_uri)}
        model = TopicsPyfunc()
        model.pipeline_dir, model.meta, model._pipeline = artifacts["pipeline"], meta, pipeline
        for t in meta["topics"]:
            log.info("topics: topic %2d (NPMI %+.3f) %s", t["topic_id"], t["coherence"] or float("nan"), t["label"])
        extra = {"selection_k": meta["k"], "k_values": list(m.k_values), "vocab_size": vocab_size}
        return Candidate(model, artifacts, history, [], time.perf_counter() - start, extra)

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        pipeline = model.spark_model(self.spark, self.ctx.work(f"staged_{id(model)}"))
        return self.measure(pipeline, split)

    def baselines(self) -> list[Baseline]:
        return []

    def package(self, candidate: Candidate) -> Package:
        import numpy as np
        import pyspark

        from smspark.models.topics import TopicsPyfunc

        sample = pd.DataFrame({"text": ["Crooked Hillary is a disaster", "Thank you Iowa! #MakeAmericaGreatAgain"]})
        reqs = [f"pyspark=={pyspark.__version__}", f"pandas=={pd.__version__}", f"numpy=={np.__version__}", "smspark"]
        return Package(TopicsPyfunc(), sample, reqs)

    def plots(self, candidate: Candidate, baselines: list[Baseline], out_dir: Path) -> list[Path]:
        from smspark.report.charts import k_selection_png

        h = candidate.history
        path = out_dir / "k_selection.png"
        path.write_bytes(
            k_selection_png(h["k"], h["val_npmi"], h["val_log_perplexity"], candidate.extra["selection_k"])
        )
        return [path]

"""The topic model in the lifecycle: MLlib online LDA on pooled post documents, k chosen by NPMI coherence.

Reads ``features/topics/{train,val,test}`` (``doc_id``, ``corpus``, ``pool``, ``terms``, ``posts``; see
:mod:`smspark.features.topics`). Per corpus group (:func:`smspark.models.topics.corpus_groups`: one per corpus by
default), training fits the vocabulary (stop words removed, ``CountVectorizer``) on the group's training documents,
then one LDA per ``k`` of ``models.topics.k_values`` (``train.grid_parallelism`` at once, through
:func:`smspark.models.baselines.fit_grid`); the ``k`` whose topics are most coherent on the group's
validation documents (mean NPMI of each topic's top ``top_n`` terms, :mod:`smspark.topic_metrics`) is kept, and the
held-out log-perplexity is reported beside it. Any version (the candidate or an older champion with its own
vocabularies) is evaluated on the current split the same way, through its pyfunc's pipelines.

Selection metric: mean NPMI over every topic of every group on validation (higher is better). The topic model has no
baseline: ``k`` (per group) is the only choice made, and it is made by coherence (``beats_baseline`` is ``None``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from smspark import storage, tables
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
        """The documents of a features split (``doc_id``, ``corpus``, ``terms`` ``array<string>``), cached."""
        if split not in self._docs:
            df = tables.read(self.spark, self.ctx.features(split)).select("doc_id", "corpus", "terms")
            self._docs[split] = df.persist()
        return self._docs[split]

    def measure(self, model: Any, split: str) -> dict[str, Any]:
        """NPMI coherence (mean over every topic, and per topic id) of ``model``'s topics, each group's on its own
        documents of ``split``, and the log-perplexity (documents-weighted mean of the groups'; per group too)."""
        from smspark.models.topics import describe, log_perplexity
        from smspark.topic_metrics import npmi_coherence

        pipes = model.spark_models(self.spark, self.ctx.work(f"staged_{id(model)}"))
        docs = self.docs(split)
        by_topic: dict[int, float] = {}
        perplexity: dict[str, float] = {}
        n_docs: dict[str, int] = {}
        for g in model.groups:
            gdocs = docs.where(model.group_filter(g))
            topics = describe(pipes[g["name"]], self.mcfg.top_n)
            topics["topic_id"] = topics["topic_id"] + int(g["offset"])
            tdf = self.spark.createDataFrame(topics[["topic_id", "terms"]], "topic_id int, terms array<string>")
            by_topic.update({int(r["topic_id"]): float(r["npmi"]) for r in npmi_coherence(gdocs, tdf).collect()})
            n_docs[g["name"]] = gdocs.count()
            perplexity[g["name"]] = log_perplexity(pipes[g["name"]], gdocs) if n_docs[g["name"]] else float("nan")
        weighted = [(perplexity[n], c) for n, c in n_docs.items() if c]
        return {
            "npmi": float(sum(by_topic.values()) / max(len(by_topic), 1)),
            "log_perplexity": float(sum(v * c for v, c in weighted) / max(sum(c for _, c in weighted), 1)),
            "k": float(len(by_topic)),
            "npmi_by_topic": {str(t): v for t, v in sorted(by_topic.items())},
            "log_perplexity_by_corpus": perplexity,
        }

    def _fit_group(self, name: str, corpora: list[str], history: dict[str, list[Any]]) -> tuple[Any, dict[str, Any]]:
        """Vocabulary and one LDA per ``k`` on the group's training documents; the most coherent on its validation
        documents -> ``(pipeline, {k, vocab_size, subsampling_rate})``."""
        from pyspark.sql import functions as F

        from smspark.models.baselines import fit_grid
        from smspark.models.topics import COUNTS, TopicsPyfunc, fit_vectorizer, lda_estimator, pipeline_of

        m = self.mcfg
        train = self.docs("train").where(F.col("corpus").isin(corpora))
        vectorizer = fit_vectorizer(train, m.vocab_size, m.min_df, m.max_df, m.extra_stop_words)
        vocab_size = len(vectorizer.stages[-1].vocabulary)
        counts = vectorizer.transform(train).select(COUNTS).persist()
        n_train = counts.count()
        rate = min(1.0, max(m.subsampling_rate, m.min_batch_docs / max(n_train, 1)))
        log.info(
            "topics %s: vocabulary of %d terms from %d training documents; LDA for k in %s, %d at once",
            name,
            vocab_size,
            n_train,
            list(m.k_values),
            min(self.cfg.train.grid_parallelism, len(m.k_values)),
        )
        lda = lda_estimator(m.max_iter, rate, self.cfg.train.seed)
        self.docs("val")  # cached before the threads measure on it

        def measure(model: Any) -> tuple[Any, dict[str, Any]]:
            k = model.getK()
            pipeline = pipeline_of(vectorizer, model)
            probe = TopicsPyfunc()
            probe.meta = {"k": k, "groups": [{"name": name, "corpora": corpora, "k": k, "offset": 0}]}
            probe._pipelines = {name: pipeline}
            val = self.measure(probe, "val")
            log.info(
                "topics %s: k=%d val NPMI %.4f, val log-perplexity %.3f", name, k, val["npmi"], val["log_perplexity"]
            )
            return pipeline, val

        fits = fit_grid(lda, counts, [{lda.k: k} for k in m.k_values], measure, self.cfg.train.grid_parallelism)
        best: tuple[float, Any, int] | None = None
        for k, (_, (pipeline, val), secs) in zip(m.k_values, fits, strict=True):
            for key, v in (("k", k), ("val_npmi", val["npmi"]), ("val_log_perplexity", val["log_perplexity"])):
                history[key].append(float(v))
            history["corpus"].append(name)
            history["seconds"].append(round(secs, 2))
            if best is None or val["npmi"] > best[0]:
                best = (val["npmi"], pipeline, k)
        counts.unpersist()
        assert best is not None  # k_values has at least one entry (config validation)
        return best[1], {"k": best[2], "vocab_size": vocab_size, "subsampling_rate": round(rate, 4)}

    def train(self) -> Candidate:
        from smspark.models.topics import TopicsPyfunc, corpus_groups, describe, label

        m = self.mcfg
        start = time.perf_counter()
        doc_counts = {r["corpus"]: int(r["count"]) for r in self.docs("train").groupBy("corpus").count().collect()}
        groups = corpus_groups(doc_counts, m.per_corpus, m.min_corpus_docs)
        history: dict[str, list[Any]] = {
            "corpus": [],
            "k": [],
            "val_npmi": [],
            "val_log_perplexity": [],
            "seconds": [],
        }
        pipes_uri = self.ctx.work("pipelines")
        model = TopicsPyfunc()
        meta: dict[str, Any] = {"groups": [], "topics": [], "min_term_len": m.min_term_len, "top_n": m.top_n}
        offset = 0
        for name, corpora in groups.items():
            pipeline, fit = self._fit_group(name, corpora, history)
            pipeline.write().overwrite().save(storage.spark_path(storage.join(pipes_uri, name)))
            meta["groups"].append({"name": name, "corpora": corpora, "offset": offset, **fit})
            for r in describe(pipeline, m.top_n).itertuples():
                meta["topics"].append(
                    {
                        "topic_id": offset + int(r.topic_id),
                        "corpus": name,
                        "terms": list(r.terms),
                        "weights": list(r.weights),
                        "label": label(list(r.terms), m.label_terms),
                    }
                )
            model._pipelines[name] = pipeline
            offset += fit["k"]
        meta["k"] = offset
        meta["default_group"] = max(groups, key=lambda g: sum(doc_counts[c] for c in groups[g]))
        meta["coherence_split"] = "val"
        model.meta = meta
        val = self.measure(model, "val")
        for t in meta["topics"]:
            t["coherence"] = val["npmi_by_topic"].get(str(t["topic_id"]))
            log.info("topics: topic %2d %s (NPMI %+.3f) %s", t["topic_id"], t["corpus"], t["coherence"], t["label"])
        meta_uri = self.ctx.work("meta.json")
        storage.write_json(meta_uri, meta)
        artifacts = {"pipelines": self.ctx.local(pipes_uri), "meta": self.ctx.local(meta_uri)}
        model.pipeline_dirs = {g: f"{artifacts['pipelines']}/{g}" for g in groups}
        extra = {
            "selection_k": {g["name"]: g["k"] for g in meta["groups"]},
            "k_values": list(m.k_values),
            "vocab_size": {g["name"]: g["vocab_size"] for g in meta["groups"]},
            "corpora": {g["name"]: g["corpora"] for g in meta["groups"]},
        }
        return Candidate(model, artifacts, history, [], time.perf_counter() - start, extra)

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        return self.measure(model, split)

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
        paths = []
        for name, chosen in candidate.extra["selection_k"].items():
            rows = [i for i, c in enumerate(h["corpus"]) if c == name]
            path = out_dir / f"k_selection_{name}.png"
            path.write_bytes(
                k_selection_png(
                    [h["k"][i] for i in rows],
                    [h["val_npmi"][i] for i in rows],
                    [h["val_log_perplexity"][i] for i in rows],
                    chosen,
                )
            )
            paths.append(path)
        return paths

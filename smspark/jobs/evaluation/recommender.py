"""``smspark evaluate recommender``: NeuMF, ALS and popularity, the behaviour model and its LogisticRegression on a
user's MovieLens export (either GroupLens format)."""

from __future__ import annotations

from pathlib import Path

from smspark import storage
from smspark.jobs.common import JobContext
from smspark.jobs.steps.interactions import LANDING_FOLDER, export_of

#: Figures ``smspark evaluate recommender`` reports per model (``{k}`` = ``models.recommender.top_k``).
RANKING_KEYS = ("HR@{k}", "NDCG@{k}", "HR@{k}_full", "NDCG@{k}_full")
BINARY_KEYS = ("AUC", "logloss")
#: ``evaluate recommender`` output name -> the behaviour lifecycle's model name
BEHAVIOUR_NAMES = {"behaviour": "behaviour", "behaviour_logreg": "logreg"}


def evaluate(ctx: JobContext, input_dir: Path) -> dict[str, dict[str, float]]:
    """``smspark evaluate recommender``: copy the MovieLens export in ``input_dir`` to this (temporary) data root's
    landing, run ingest -> etl -> features -> train for both models, and return the test figures:
    ``neumf``/``als``/``popularity`` -> HR@K, NDCG@K, HR@K_full, NDCG@K_full; ``behaviour``/``behaviour_logreg``
    -> AUC, logloss."""
    from smspark.jobs import etl as etl_job
    from smspark.jobs import features as features_job
    from smspark.jobs import ingest as ingest_job
    from smspark.jobs import train as train_job

    export = export_of(input_dir)
    landing = storage.join(ctx.layout.landing, LANDING_FOLDER)
    for path in (export.ratings, export.items, export.folder / "u.genre"):
        if path is not None and path.is_file():
            storage.upload(path, storage.join(landing, path.name))
    ingest_job.run(ctx, ["interactions"])
    etl_job.run(ctx, ["interactions"])
    features_job.run(ctx, ["recommender", "behaviour"])
    rec = train_job.run(ctx, "recommender")["metrics"]
    beh = train_job.run(ctx, "behaviour")["metrics"]
    keys = [key.format(k=ctx.cfg.models.recommender.top_k) for key in RANKING_KEYS]
    out = {name: {key: float(rec[name][key]) for key in keys} for name in ("neumf", "als", "popularity")}
    out.update({name: {key: float(beh[src][key]) for key in BINARY_KEYS} for name, src in BEHAVIOUR_NAMES.items()})
    return out

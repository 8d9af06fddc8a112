"""Job ``nightly``: ingest -> etl -> features -> train -> score -> analytics -> report, one run, one manifest.

Every table with landing data is ingested and cleaned and every model whose input exists gets features; the
models in ``nightly.train`` whose features exist are trained only when they have no champion yet (or with
``--retrain``); the ``nightly.score`` scorers whose silver input exists then write gold for ``--date`` (a scorer whose
model has no champion and no features to train one, e.g. spam without mail, is skipped). What is
skipped, and why, is recorded in the manifest. Analytics (keywords, daily sentiment, trend alerts) and the HTML
report (``<data.root>/reports/<date>/report.html``) come last. The manifest
(``<data.root>/runs/<run_id>/manifest.json``) is written last, with every stage's inputs, outputs, counts and
timings, the model versions and metrics.
"""

from __future__ import annotations

import argparse

from smspark import storage
from smspark.jobs import analytics, etl, features, ingest, purge, report, score, train
from smspark.jobs.common import JobContext, run_job
from smspark.jobs.steps import names_arg

NO_INPUT = "no input features under the data root"


def run(
    ctx: JobContext, retrain: bool = False, to_train: list[str] | None = None, to_score: list[str] | None = None
) -> None:
    if ctx.cfg.retention.raw_days is not None:
        purge.run(ctx)
    ingest.run(ctx)
    etl.run(ctx)
    trained = to_train if to_train is not None else ctx.cfg.nightly.train
    scorers = to_score if to_score is not None else ctx.cfg.nightly.score
    features.run(ctx, wanted=[*trained, *scorers])
    for model in trained:
        if not train.has_input(ctx, model):
            ctx.manifest.data["models"][model] = {"trained": False, "reason": NO_INPUT}
        elif retrain or not train.has_champion(ctx, model):
            train.run(ctx, model)
        else:
            ctx.manifest.data["models"][model] = {"trained": False, "reason": "a champion exists (use --retrain)"}
    present = [
        s
        for s in scorers
        if s not in score.SCORERS or storage.exists(storage.join(ctx.layout.silver, score.SCORERS[s][0]))
    ]
    for skipped in sorted(set(scorers) - set(present)):
        ctx.manifest.data.setdefault("skipped", {})[f"score.{skipped}"] = "no silver input under the data root"
    for s in list(present):  # a model trained on other data than it scores (spam: mail -> posts) may have none yet
        if ctx.manifest.data["models"].get(s, {}).get("reason") == NO_INPUT and not train.has_champion(ctx, s):
            present.remove(s)
            ctx.manifest.data.setdefault("skipped", {})[f"score.{s}"] = f"no champion: {NO_INPUT} to train one"
    if present:
        score.run(ctx, present)
    analytics.run(ctx)
    report.run(ctx)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retrain", action="store_true", help="train the nightly.train models even when a champion exists")
    p.add_argument(
        "--train", type=names_arg, default=None, help="comma-separated models to train (default: nightly.train)"
    )
    p.add_argument("--score", type=names_arg, default=None, help="comma-separated scorers (default: nightly.score)")


def main(argv: list[str] | None = None) -> int:
    return run_job("nightly", argv, __doc__, lambda ctx, a: run(ctx, a.retrain, a.train, a.score), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

"""Job ``nightly``: ingest -> etl -> features -> train -> score -> analytics -> report, one run, one manifest.

Every table with landing data is ingested and cleaned. Features are built for the models the night will train (those
in ``nightly.train`` with no champion yet, or all of them with ``--retrain``) and for ``profiles``, whose step also
writes ``silver/user_profiles`` for the analytics; a model that keeps its champion keeps its last features (its
scorer reads silver, not features), which is what makes a night with champions quick. The models in
``nightly.train`` whose features exist are then trained only when they have no champion yet (or with
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
from smspark.jobs.features import FEATURE_STEPS
from smspark.jobs.steps import names_arg

NO_INPUT = "no input features under the data root"
#: Feature steps built every night: ``profiles`` also writes ``silver/user_profiles``, which the analytics release.
ALWAYS_FEATURES = ("profiles",)


def feature_models(ctx: JobContext, training: list[str]) -> tuple[list[str], dict[str, str]]:
    """The feature steps tonight needs, in :data:`FEATURE_STEPS` order, among those whose silver input exists: the
    inputs of every model in ``training`` (those that train tonight) and :data:`ALWAYS_FEATURES`.
    Returns ``(steps to run, {skipped step: reason})``."""
    present = [m for m, (table, _) in FEATURE_STEPS.items() if storage.exists(storage.join(ctx.layout.silver, table))]
    needed = set(ALWAYS_FEATURES) | {train.TRAIN_INPUTS.get(model, model) for model in training}
    run = [m for m in present if m in needed]
    reason = "no model trained tonight reads them (a model with a champion retrains only with --retrain)"
    return run, {f"features.{m}": reason for m in present if m not in needed}


def run(
    ctx: JobContext,
    retrain: bool = False,
    to_train: list[str] | None = None,
    to_score: list[str] | None = None,
    rescore: bool = False,
) -> None:
    if rescore:  # before the features: the profiles are copied too when reuse is on
        ctx.cfg.scoring.reuse = False
    if ctx.cfg.retention.raw_days is not None:
        purge.run(ctx)
    ingest.run(ctx)
    etl.run(ctx)
    trainable = to_train if to_train is not None else ctx.cfg.nightly.train
    training = [m for m in trainable if retrain or not train.has_champion(ctx, m)]
    needed, skipped = feature_models(ctx, training)
    ctx.manifest.data.setdefault("skipped", {}).update(skipped)
    if needed:
        features.run(ctx, needed)
    for model in trainable:
        if not train.has_input(ctx, model):
            ctx.manifest.data["models"][model] = {"trained": False, "reason": NO_INPUT}
        elif model in training:
            train.run(ctx, model)
        else:
            ctx.manifest.data["models"][model] = {"trained": False, "reason": "a champion exists (use --retrain)"}
    scorers = to_score if to_score is not None else ctx.cfg.nightly.score
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
        score.run(ctx, present, rescore)
    analytics.run(ctx)
    report.run(ctx)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retrain", action="store_true", help="train the nightly.train models even when a champion exists")
    p.add_argument(
        "--train", type=names_arg, default=None, help="comma-separated models to train (default: nightly.train)"
    )
    p.add_argument("--score", type=names_arg, default=None, help="comma-separated scorers (default: nightly.score)")
    score.add_rescore(p)


def main(argv: list[str] | None = None) -> int:
    return run_job("nightly", argv, __doc__, lambda ctx, a: run(ctx, a.retrain, a.train, a.score, a.rescore), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

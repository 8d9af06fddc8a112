"""Job ``nightly``: ingest -> etl -> features -> train (only when a model has no champion, or with
``--retrain``) -> score, in one run with one manifest (``<data.root>/runs/<run_id>/manifest.json``, written last).
"""

from __future__ import annotations

import argparse

from smspark.jobs import etl, features, ingest, score, train
from smspark.jobs.common import JobContext, run_job

#: Models the nightly run trains when needed and scores with, in order.
NIGHTLY_MODELS = ["sentiment"]


def run(ctx: JobContext, retrain: bool = False, models: list[str] | None = None) -> None:
    chosen = models or NIGHTLY_MODELS
    ingest.run(ctx)
    etl.run(ctx)
    features.run(ctx, chosen)
    for model in chosen:
        if retrain or not train.has_champion(ctx, model):
            train.run(ctx, model)
        else:
            ctx.manifest.data["models"][model] = {"trained": False, "reason": "champion exists (use --retrain)"}
    score.run(ctx, chosen)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--retrain", action="store_true", help="train even when a champion exists")
    p.add_argument(
        "--models",
        type=lambda s: [t for t in s.split(",") if t],
        default=None,
        help=f"comma-separated models (default: {','.join(NIGHTLY_MODELS)})",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("nightly", argv, __doc__, lambda ctx, a: run(ctx, a.retrain, a.models), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

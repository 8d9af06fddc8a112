"""Job ``score``: apply champion models to the whole corpus with pandas UDFs, into gold.

Each output is partitioned by ``dt`` = ``--date``: re-running a date replaces that date, never duplicates it.
Each step reconciles ``rows in = rows scored``. A date whose champions, scored input columns and scoring settings
equal those of the latest earlier scored date copies that date's rows (``reused_from`` in the stage counts);
``--rescore`` (or ``scoring.reuse=false``) runs the models anyway.
"""

from __future__ import annotations

import argparse

from smspark.jobs.common import JobContext, run_job
from smspark.jobs.steps import names_arg, run_steps

#: model -> (silver table it scores, step)
SCORERS: dict[str, tuple[str, str]] = {
    "sentiment": ("posts", "smspark.jobs.steps.posts:score"),
    "spam": ("posts", "smspark.jobs.steps.spam:score"),
    "recommendations": ("interactions", "smspark.jobs.steps.interactions:score"),
    "media": ("media", "smspark.jobs.steps.media:score"),
    "topics": ("posts", "smspark.jobs.steps.topics:score"),
    "account_risk": ("posts", "smspark.jobs.steps.accounts:score"),
}


def run(ctx: JobContext, models: list[str] | None = None, rescore: bool = False) -> list[str]:
    """Run the scorers of ``models`` (default: every one whose silver input exists); ``rescore``: run the models
    even when a date's scores could be copied from the latest earlier date (``scoring.reuse`` off). Returns the
    scorers run."""
    if rescore:
        ctx.cfg.scoring.reuse = False
    return run_steps(ctx, "score", SCORERS, models, ctx.layout.silver)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        "--models",
        dest="models",
        type=names_arg,
        default=None,
        help=f"comma-separated models ({', '.join(SCORERS)}); default: all whose input exists",
    )
    add_rescore(p)


def add_rescore(p: argparse.ArgumentParser) -> None:
    """``--rescore``: run the models even when nothing changed since the last scored date (``scoring.reuse=false``)."""
    p.add_argument(
        "--rescore",
        action="store_true",
        help="score with the models even when champions, inputs and settings equal the last scored date's "
        "(default: copy that date's scores)",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("score", argv, __doc__, lambda ctx, a: run(ctx, a.models, a.rescore), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

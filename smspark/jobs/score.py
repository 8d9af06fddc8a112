"""Job ``score``: apply champion models to the whole corpus with pandas UDFs, into gold.

Each output is partitioned by ``dt`` = ``--date``: re-running a date replaces that date, never duplicates it.
Each step reconciles ``rows in = rows scored``.
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


def run(ctx: JobContext, models: list[str] | None = None) -> list[str]:
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


def main(argv: list[str] | None = None) -> int:
    return run_job("score", argv, __doc__, lambda ctx, a: run(ctx, a.models), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

"""Job ``etl``: bronze -> silver: clean, normalise, pseudonymise, de-duplicate, validate.

Each table is recomputed from all of bronze (de-duplication spans every ingest) and reconciles
``bronze rows = silver rows + quarantined + duplicates dropped``. Needs a pseudonymisation key (``privacy``
in the config: the environment variable, or the local profile's development key).
"""

from __future__ import annotations

import argparse

from smspark.jobs.common import JobContext, run_job
from smspark.jobs.steps import names_arg, run_steps

#: table -> (bronze folder, step)
ETL_STEPS: dict[str, tuple[str, str]] = {
    "posts": ("posts", "smspark.jobs.steps.posts:etl"),
    "interactions": ("interactions", "smspark.jobs.steps.interactions:etl"),
    "media": ("media", "smspark.jobs.steps.media:etl"),
    "messages": ("messages", "smspark.jobs.steps.messages:etl"),
}


def run(ctx: JobContext, tables: list[str] | None = None) -> list[str]:
    return run_steps(ctx, "etl", ETL_STEPS, tables, ctx.layout.bronze)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        type=names_arg,
        default=None,
        help=f"comma-separated tables ({', '.join(ETL_STEPS)}); default: all present in bronze",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("etl", argv, __doc__, lambda ctx, a: run(ctx, a.tables), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

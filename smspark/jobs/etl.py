"""Job ``etl``: bronze -> silver: clean, normalise, pseudonymise, de-duplicate, validate.

``silver/posts`` and ``silver/interactions`` are incremental: the bronze partitions not merged yet are merged by key
into the partitions they touch (months of posts, ``dt`` days of ratings; the merged partitions are recorded in the
table's commit, :mod:`smspark.jobs.merge_state`); ``--full`` (or ``etl.full``) rebuilds them from all of bronze, as
the first run does. The other tables (``silver/messages``, ``silver/media``) are recomputed from all of bronze
(de-duplication spans every ingest), unless no bronze date was added or the one new date re-delivers the latest built
one (:mod:`smspark.jobs.recompute`). Every table reconciles ``bronze rows read = silver rows added + quarantined +
duplicates dropped``. Needs a pseudonymisation key (``privacy`` in the config: the environment variable, or the local
profile's development key).
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


def run(ctx: JobContext, tables: list[str] | None = None, full: bool = False) -> list[str]:
    """Run the etl steps of ``tables`` (default: every table present in bronze); ``full``: rebuild from all of
    bronze instead of merging new partitions. Returns the tables run."""
    if full:
        ctx.cfg.etl.full = True
    return run_steps(ctx, "etl", ETL_STEPS, tables, ctx.layout.bronze)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        type=names_arg,
        default=None,
        help=f"comma-separated tables ({', '.join(ETL_STEPS)}); default: all present in bronze",
    )
    p.add_argument(
        "--full", action="store_true", help="rebuild silver from all of bronze (default: merge new partitions)"
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("etl", argv, __doc__, lambda ctx, a: run(ctx, a.tables, a.full), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

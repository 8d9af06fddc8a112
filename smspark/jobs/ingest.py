"""Job ``ingest``: landing -> bronze, with explicit schemas; malformed records go to quarantine with a reason.

Each table writes ``bronze/<table>/ingest_date=<--date>`` (re-running a date replaces it) and reconciles
``records read = bronze rows + quarantined``. With no ``--tables``, every table whose landing folder exists runs.
"""

from __future__ import annotations

import argparse

from smspark.jobs import dev_key
from smspark.jobs.common import JobContext, run_job
from smspark.jobs.steps import names_arg, run_steps

#: table -> (landing folder, step)
INGESTERS: dict[str, tuple[str, str]] = {
    "posts": ("posts", "smspark.jobs.steps.posts:ingest"),
    "interactions": ("movielens", "smspark.jobs.steps.interactions:ingest"),
    "media": ("images", "smspark.jobs.steps.media:ingest"),
    "messages": ("messages", "smspark.jobs.steps.messages:ingest"),
}


def run(ctx: JobContext, tables: list[str] | None = None) -> list[str]:
    dev_key.check(ctx)
    return run_steps(ctx, "ingest", INGESTERS, tables, ctx.layout.landing)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        type=names_arg,
        default=None,
        help=f"comma-separated tables ({', '.join(INGESTERS)}); default: all with landing data",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("ingest", argv, __doc__, lambda ctx, a: run(ctx, a.tables), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

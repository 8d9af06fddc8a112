"""Job ``etl``: bronze -> silver: clean, normalise, pseudonymise, de-duplicate, validate.

Tables: ``posts`` -> ``silver/posts`` (partitioned by ``dt``, key ``post_id``), recomputed in full from all of
bronze so de-duplication spans every ingest. Reconciles ``bronze rows = silver rows + quarantined +
duplicates dropped``. Needs a pseudonymisation key (see ``privacy`` in the config).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from pyspark.sql import functions as F

from smspark.etl.posts import clean_posts
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.io import read_table, write_quarantine, write_table
from smspark.manifest import reconcile
from smspark.schemas import BRONZE_POSTS


def etl_posts(ctx: JobContext) -> dict[str, Any]:
    """``bronze/posts`` -> ``silver/posts``; returns the stage record fields."""
    key = ctx.cfg.pseudonym_key()
    src = ctx.layout.bronze / "posts"
    bronze = read_table(ctx.spark, src, BRONZE_POSTS, "run `smspark ingest` first")
    n_in = bronze.count()
    silver, quarantine, dups = clean_posts(bronze, key)
    out = ctx.layout.silver / "posts"
    write_table(silver.repartition(F.col("dt")), out, "dt")
    n_q = write_quarantine(quarantine, ctx.layout, "posts", "etl")
    dup_counts = {r["reason"]: r["count"] for r in dups.groupBy("reason").count().collect()}
    n_out = ctx.spark.read.parquet(str(out)).count()
    ctx.output("silver/posts", out)
    return {
        "inputs": {"bronze": str(src)},
        "outputs": {"silver": str(out)},
        "counts": {**reconcile(n_in, n_out, n_q, sum(dup_counts.values())), "duplicates_by_reason": dup_counts},
    }


ETL_STEPS: dict[str, Callable[[JobContext], dict[str, Any]]] = {"posts": etl_posts}


def run(ctx: JobContext, tables: list[str] | None = None) -> None:
    """Run the ETL of the named tables (default: every table present in bronze)."""
    chosen = tables or [t for t in ETL_STEPS if (ctx.layout.bronze / t).exists()]
    if not chosen:
        raise UserError(f"nothing in {ctx.layout.bronze}: run `smspark ingest` first")
    for table in chosen:
        if table not in ETL_STEPS:
            raise UserError(f"unknown table {table!r}; known: {', '.join(ETL_STEPS)}")
        with ctx.manifest.stage(f"etl.{table}") as rec:
            rec.update(ETL_STEPS[table](ctx))


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        type=lambda s: [t for t in s.split(",") if t],
        default=None,
        help=f"comma-separated tables ({', '.join(ETL_STEPS)}); default: all present in bronze",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("etl", argv, __doc__, lambda ctx, a: run(ctx, a.tables), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

"""Job ``ingest``: landing -> bronze, with explicit schemas; malformed records go to quarantine.

Tables: ``posts`` (JSON lines under ``landing/posts/<corpus>/*.jsonl``). Each writes
``bronze/<table>/ingest_date=<date>`` (re-running a date replaces it) and reconciles
``lines read = bronze rows + quarantined``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from pyspark.sql import functions as F

from smspark.etl.posts import parse_posts
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.io import write_partitions, write_quarantine
from smspark.manifest import reconcile


def ingest_posts(ctx: JobContext) -> dict[str, Any]:
    """Landing JSON lines of posts -> ``bronze/posts``; returns the stage record fields."""
    src = ctx.layout.landing / "posts"
    files = sorted(str(p) for p in src.glob("**/*.jsonl")) + sorted(str(p) for p in src.glob("**/*.json"))
    if not files:
        raise UserError(f"no JSON-lines posts under {src}: run `smspark fetch-samples` or copy an export there")
    lines = ctx.spark.read.text(files).select("value", F.col("_metadata.file_path").alias("source_file"))
    lines = lines.persist()
    n_in = lines.count()
    bronze, quarantine = parse_posts(lines, ctx.run_date)
    out = ctx.layout.bronze / "posts"
    write_partitions(bronze, out, "ingest_date")
    n_q = write_quarantine(quarantine, ctx.layout, "posts", "ingest")
    n_out = ctx.spark.read.parquet(str(out)).where(F.col("ingest_date") == F.lit(ctx.run_date)).count()
    lines.unpersist()
    ctx.output("bronze/posts", out)
    return {
        "inputs": {"landing": str(src), "files": len(files)},
        "outputs": {"bronze": str(out), "quarantine": str(ctx.layout.quarantine / "posts")},
        "counts": reconcile(n_in, n_out, quarantined=n_q),
    }


#: Ingest steps by table name; a table runs when its landing folder exists (or when asked for by name).
INGESTERS: dict[str, tuple[str, Callable[[JobContext], dict[str, Any]]]] = {
    "posts": ("posts", ingest_posts),
}


def run(ctx: JobContext, tables: list[str] | None = None) -> None:
    """Ingest the named tables (default: every table whose landing folder exists)."""
    chosen = tables or [t for t, (folder, _) in INGESTERS.items() if (ctx.layout.landing / folder).exists()]
    if not chosen:
        raise UserError(f"nothing to ingest under {ctx.layout.landing}: run `smspark fetch-samples` first")
    for table in chosen:
        if table not in INGESTERS:
            raise UserError(f"unknown table {table!r}; known: {', '.join(INGESTERS)}")
        with ctx.manifest.stage(f"ingest.{table}") as rec:
            rec.update(INGESTERS[table][1](ctx))


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        type=lambda s: [t for t in s.split(",") if t],
        default=None,
        help=f"comma-separated tables to ingest ({', '.join(INGESTERS)}); default: all with landing data",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("ingest", argv, __doc__, lambda ctx, a: run(ctx, a.tables), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

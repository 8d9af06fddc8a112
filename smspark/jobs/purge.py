"""Job ``purge``: remove raw records past their retention.

Bronze tables (partitioned by ``ingest_date``) and quarantine tables (``stage``/``ingest_date``) hold platform
handles and post ids as exported. ``smspark purge --older-than DAYS`` (default ``retention.raw_days``) removes
their partitions whose ``ingest_date`` is more than ``DAYS`` days before ``--date``, each table in one atomic
commit; the run manifest records per table the partitions and rows removed. The nightly runs it first when
``retention.raw_days`` is set (the cluster and Databricks profiles: 90 days). Silver and gold are never touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.jobs.common import JobContext, UserError, run_job


def _tables(ctx: JobContext) -> list[str]:
    out = []
    for layer in (ctx.layout.bronze, ctx.layout.quarantine):
        if storage.exists(layer):
            out += [storage.join(layer, name) for name in sorted(storage.listdir(layer))]
    return [uri for uri in out if tables.exists(uri)]


def run(ctx: JobContext, older_than: int | None = None) -> dict[str, Any]:
    """Purge bronze and quarantine partitions older than ``older_than`` days (default ``retention.raw_days``).

    Returns:
        ``{"cutoff": date, "tables": {uri: {"partitions": [...], "rows": n}}}``, also the manifest stage record.

    Raises:
        UserError: no ``older_than`` and no ``retention.raw_days`` in the profile, or a value below 1.
    """
    days = older_than if older_than is not None else ctx.cfg.retention.raw_days
    if days is None or days < 1:
        raise UserError("nothing to purge by: pass --older-than DAYS (>= 1) or set retention.raw_days")
    cutoff = ctx.run_date - dt.timedelta(days=days)
    with ctx.manifest.stage("purge") as rec:
        rec.update({"cutoff": cutoff.isoformat(), "older_than_days": days, "tables": {}})
        for uri in _tables(ctx):
            if "ingest_date" not in (tables.current(uri).partition_by or []):
                continue
            old = [d for d in tables.partition_values(uri, "ingest_date") if dt.date.fromisoformat(d) < cutoff]
            if not old:
                continue
            df = tables.read(ctx.spark, uri)
            rows = df.where(F.col("ingest_date") < F.lit(cutoff)).count()
            commit = tables.current(uri)
            tables.write(
                df.limit(0), uri, commit.partition_by, mode="partitions", replace=[{"ingest_date": d} for d in old]
            )
            rec["tables"][uri] = {"partitions": old, "rows": rows}
        rec["counts"] = {"rows_purged": sum(t["rows"] for t in rec["tables"].values()), "tables": len(rec["tables"])}
        ctx.record_processes(rec)
    return rec


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--older-than", type=int, default=None, help="days to keep (default: retention.raw_days)")


def main(argv: list[str] | None = None) -> int:
    return run_job("purge", argv, __doc__, lambda ctx, a: run(ctx, a.older_than) and None, add_args)


if __name__ == "__main__":
    raise SystemExit(main())

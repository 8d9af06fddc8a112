"""The merge state of an incremental etl: which bronze ``ingest_date`` partitions a silver table holds.

A silver table written by an incremental etl (``silver/posts``, ``silver/interactions``) records in its commit
(:attr:`smspark.tables.Commit.meta`, key :data:`MERGED`) the bronze partitions it has merged: ISO ingest date ->
the bronze version directory that was merged. The next etl merges only the partitions missing there, or rebuilds
the table from all of bronze when a merge could differ from a rebuild (:func:`full_rebuild_reason`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from smspark import tables
from smspark.jobs.common import JobContext
from smspark.jobs.io import quarantine_path, read_table, write_quarantine
from smspark.jobs.landing import recorded_lines
from smspark.jobs.reuse import copy_quarantine, row_digest
from smspark.manifest import reconcile

log = logging.getLogger(__name__)

#: Key of the commit metadata of an incrementally merged silver table that records the merged bronze partitions
#: (ingest date -> the bronze version directory that was merged).
MERGED = "bronze_partitions"


def bronze_partitions(uri: str) -> dict[str, str]:
    """The committed ``ingest_date`` partitions of a bronze table: ISO date -> version directory (``{}`` when the
    table has no commit)."""
    commit = tables.current(uri)
    if commit is None:
        return {}
    return {part.split("=", 1)[1]: vdir for part, vdir in commit.partitions.items() if part.startswith("ingest_date=")}


def full_rebuild_reason(
    full: bool, silver: tables.Commit | None, bronze: dict[str, str], table: str, partition_by: Sequence[str]
) -> str | None:
    """Why etl must rebuild the silver table ``table`` from all of bronze, or None when merging the bronze
    partitions missing from its merge state is exact.

    Args:
        full: a full rebuild was asked for (``--full``).
        silver: the silver table's current commit (None: never written).
        bronze: the bronze table's partitions (:func:`bronze_partitions`).
        table: the silver table's name, for the reason (``silver/posts``).
        partition_by: the silver table's partition columns in the layout the merge writes.

    Returns:
        ``--full``; no merge state (first run, or another layout); a merged partition re-ingested since (its version
        directory changed); a new partition not later than the merged ones (the latest ingest wins: a merge would
        let an older date win); or None.
    """
    if full:
        return "--full"
    if silver is None or silver.partition_by != list(partition_by) or MERGED not in silver.meta:
        return f"{table} has no merge state (first run, or written in another layout)"
    merged: dict[str, str] = silver.meta[MERGED]
    changed = sorted(d for d, vdir in bronze.items() if d in merged and merged[d] != vdir)
    if changed:
        return f"bronze partition ingest_date={changed[0]} was re-ingested after it was merged"
    new = [d for d in bronze if d not in merged]
    if new and merged and min(new) <= max(merged):
        return f"bronze partition ingest_date={min(new)} is not later than the merged ones (up to {max(merged)})"
    return None


def new_partitions(silver: tables.Commit, bronze: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """``(the bronze ingest dates not merged yet, sorted; the merge state once they are merged)``; a merged date
    purged from bronze stays in the state."""
    merged: dict[str, str] = silver.meta[MERGED]
    new = sorted(d for d in bronze if d not in merged)
    return new, {**merged, **{d: bronze[d] for d in new}}


def etl_quarantine(ctx: JobContext, table: str, quarantine: Any, days: list[dt.date]) -> int:
    """Quarantine the merged days' rejects of ``table`` under ``stage=etl/ingest_date=<day>`` (a re-run of a day
    replaces its own rejects only); nothing to write (and no Spark job) when there are none and those partitions do
    not exist yet (new days: the usual case). Returns the rows quarantined for ``days``."""
    uri = quarantine_path(ctx.layout, table)
    existing = tables.partition_values(uri, "ingest_date") if tables.exists(uri) else []
    if not quarantine.limit(1).count() and not {d.isoformat() for d in days} & set(existing):
        return 0
    return write_quarantine(quarantine, ctx.layout, table, "etl", ingest_dates=days)


def digests(ctx: JobContext, uri: str, schema: StructType, days: Sequence[str]) -> dict[str, tuple[int, str]]:
    """``ingest date -> (rows, digest)`` of those partitions of the bronze table at ``uri``, in one scan: the digest
    is :func:`smspark.jobs.reuse.row_digest` over every column of ``schema`` but ``ingest_date``; a date without
    rows is absent."""
    cols = [c for c in schema.fieldNames() if c != "ingest_date"]
    dates = [F.lit(dt.date.fromisoformat(d)) for d in days]
    rows = (
        read_table(ctx.spark, uri, schema)
        .where(F.col("ingest_date").isin(*dates))
        .groupBy("ingest_date")
        .agg(F.count(F.lit(1)).alias("rows"), row_digest(cols).alias("digest"))
        .collect()
    )
    return {r["ingest_date"].isoformat(): (int(r["rows"]), str(r["digest"])) for r in rows}


def redelivered(ctx: JobContext, uri: str, schema: StructType, merged: Sequence[str], new: Sequence[str]) -> int | None:
    """The bronze rows of the one ``new`` ingest date when it delivers again the rows of the latest ``merged`` date
    (same count and :func:`digests`), else None (several new dates, nothing merged yet, or other rows).

    A night that lands an unchanged landing folder again adds a bronze partition equal to the last one; for a silver
    table whose rows do not depend on which ingest delivered them last (the first ingest of a key is kept), merging it
    changes nothing but the merge state and the day's etl rejects (:func:`commit_redelivery`). Checking costs one
    scan of the two dates' bronze rows, skipped when the ingest recorded different landing line counts for them (the
    usual night: then the rows are merged, which gives the same silver table in any case)."""
    if len(new) != 1 or not merged:
        return None
    day, last = new[0], max(merged)
    lines = recorded_lines(uri)
    if day in lines and last in lines and lines[day] != lines[last]:
        return None
    pair = digests(ctx, uri, schema, [last, day])
    if len(pair) != 2 or pair[last] != pair[day]:
        return None
    return pair[day][0]


def commit_redelivery(
    ctx: JobContext, table: str, out: str, day: str, source: str, n_in: int, meta: dict[str, Any]
) -> dict[str, Any]:
    """Record bronze date ``day`` (``n_in`` rows), a re-delivery of the merged date ``source`` (:func:`redelivered`),
    in the silver table at ``out`` without touching its data: ``source``'s etl rejects of ``table`` are quarantined
    again under ``day`` (as merging the same rows would), then a commit of ``meta`` alone (after the rejects: a run
    killed in between merges the date again).

    Returns:
        The stage record's ``counts``: ``n_in`` rows in = 0 silver rows + quarantined + the rest dropped as
        duplicates (reason ``re-delivery of ingest_date=<source>``), reconciled.
    """
    bronze_day = dt.date.fromisoformat(day)
    rejects = copy_quarantine(ctx, table, "etl", source, to=bronze_day)
    n_q = 0
    if rejects is not None:
        n_q = etl_quarantine(ctx, table, rejects.withColumn("quarantined_at", F.current_timestamp()), [bronze_day])
    tables.commit_meta(out, meta)
    log.info("silver/%s: ingest_date=%s delivers ingest_date=%s again: silver unchanged", table, day, source)
    n_dup = n_in - n_q
    reason = f"re-delivery of ingest_date={source}"
    return {**reconcile(n_in, 0, n_q, n_dup), "duplicates_by_reason": {reason: n_dup} if n_dup else {}}

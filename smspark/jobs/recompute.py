"""Silver tables recomputed from all of bronze (``silver/messages``, ``silver/media``): when a recompute can be skipped.

Such a table records in its commit the bronze ``ingest_date`` partitions it was built from
(:data:`smspark.jobs.merge_state.MERGED`, ISO date -> version directory) and the etl settings its rows depend on
(:data:`SETTINGS`). Its rows do not depend on which ingest delivered a key last (the content of the latest ingest is
kept, the date of the first), so a night whose one new bronze date delivers again the rows of the latest date built
(the nightly re-ingest of an unchanged landing folder; :func:`smspark.jobs.merge_state.redelivered`) would recompute
the same rows: :func:`skip_recompute` then commits the new state alone and quarantines that date's etl rejects again
(:func:`smspark.jobs.merge_state.commit_redelivery`). A night without a new bronze date commits nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql.types import StructType

from smspark import tables
from smspark.jobs.common import JobContext
from smspark.jobs.merge_state import (
    MERGED,
    bronze_partitions,
    commit_redelivery,
    full_rebuild_reason,
    new_partitions,
    redelivered,
)
from smspark.manifest import reconcile

log = logging.getLogger(__name__)

#: Key of the commit metadata of a recomputed silver table that records the etl settings its rows depend on (a
#: change forces a recompute).
SETTINGS = "etl_settings"


def build_meta(bronze: dict[str, str], settings: dict[str, Any]) -> dict[str, Any]:
    """The commit metadata a full recompute from the bronze partitions ``bronze`` (:func:`bronze_partitions`) with
    ``settings`` writes."""
    return {MERGED: bronze, SETTINGS: settings}


def skip_recompute(
    ctx: JobContext,
    table: str,
    src: str,
    schema: StructType,
    out: str,
    settings: dict[str, Any],
) -> tuple[dict[str, Any] | None, str, dict[str, str]]:
    """Whether the silver table ``out`` (``silver/<table>``, partition ``dt``) built from the bronze table ``src``
    (``schema``) needs a full recompute.

    Returns:
        ``(record, reason, bronze)``: ``record`` is the etl stage record when no recompute is needed (``mode``
        ``unchanged``: no new bronze date, nothing committed; ``redelivery``: the one new date re-delivers the latest
        built date, see the module doc; counts reconciled as ``bronze rows of the new date = 0 silver rows +
        quarantined + duplicates``), else None and ``reason`` says why the table is recomputed (``--full``, no
        build state, a built bronze partition re-ingested or purged, an earlier or a second new date, new rows,
        other settings). ``bronze`` is the bronze partitions map read (commit it with the recompute:
        :func:`build_meta`).
    """
    name = f"silver/{table}"
    bronze = bronze_partitions(src)
    silver = tables.current(out)
    reason = full_rebuild_reason(ctx.cfg.etl.full, silver, bronze, name, ["dt"])
    if reason is not None or silver is None:
        return None, reason or f"{name} has no build state", bronze
    built: dict[str, str] = silver.meta[MERGED]
    purged = sorted(set(built) - set(bronze))
    new, state = new_partitions(silver, bronze)
    if silver.meta.get(SETTINGS) != settings:
        return None, f"the etl settings changed ({silver.meta.get(SETTINGS)} -> {settings})", bronze
    if purged:
        return None, f"bronze partition ingest_date={purged[0]} was purged after {name} was built", bronze
    record: dict[str, Any] = {"inputs": {"bronze": src, "ingest_dates": new}, "outputs": {"silver": out}}
    if not new:
        log.info("%s: no new bronze partition, nothing to do", name)
        return {**record, "mode": "unchanged", "counts": {**reconcile(0, 0), "duplicates_by_reason": {}}}, "", bronze
    last = max(built)
    n_in = redelivered(ctx, src, schema, list(built), new)
    if n_in is None:
        what = f"{len(new)} new bronze partitions" if len(new) > 1 else f"bronze ingest_date={new[0]} has new rows"
        return None, f"{what} (not a re-delivery of ingest_date={last})", bronze
    counts = commit_redelivery(ctx, table, out, new[0], last, n_in, build_meta(state, settings))
    return {**record, "mode": "redelivery", "redelivery_of": last, "counts": counts}, "", bronze

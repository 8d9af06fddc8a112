"""Score reuse: a scorer copies its last scored date instead of running the models again when nothing it reads changed.

Every scorer writes one ``dt`` partition of its gold table(s) per run date. With it, the table's commit meta
(:attr:`smspark.tables.Commit.meta`, committed atomically with the data) records under :data:`META_KEY`, per date, the
*fingerprint* of what that date was scored from:

- ``models``: each champion used (``name``, ``version``, ``run_id``, ``uri``);
- ``inputs``: for each table read, its committed ``partitions`` map (partition path -> version directory), its
  ``rows`` and a ``digest`` of the columns the scorer reads (the sum of their ``xxhash64`` per row, which does not
  depend on row order or partitioning; a change detector, not a cryptographic hash: a changed input goes unnoticed
  only if the 64-bit sums coincide);
- ``config``: the settings that change the output (``recommend_k``, ``neighbours``, ...).

On a later date the scorer builds today's fingerprint and compares it with the one of the latest earlier date of its
table (:func:`decide`). They match when the models and the config are equal and every input either has the same
partitions map (every write makes new version directories, so equal maps mean equal data) or the same rows and
digest (an etl that rewrote a table with the same content, e.g. a full rebuild of ``silver/posts`` or a merge that
changed columns the scorer does not read). Then the earlier partition's rows are copied to the run date with ``dt``
replaced (:func:`copy_rows`: a read and a write, no model loaded; ``scored_at`` still says when they were scored), and
the stage records ``reused_from``. Anything else - another champion, changed input, changed config, no earlier date,
no fingerprint recorded for it, ``scoring.reuse`` off (``--rescore``) -
scores in full. Only earlier dates are candidates: a date is never copied onto itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from smspark import storage, tables

#: Key of a gold table's commit meta: ISO run date -> ``{"fingerprint", "reused_from", "extra"}``.
META_KEY = "scored_from"
#: Dates whose fingerprints a table's commit meta keeps (the newest ones): a date re-run after more later dates
#: than this scores in full.
KEEP_DATES = 8


@dataclass
class Decision:
    """Whether a scorer's run date copies an earlier date.

    Attributes:
        fingerprint: today's fingerprint (JSON values).
        source: the ISO date whose rows are copied, or None to score in full.
        reason: why (``same champions, inputs and config as 2026-11-21``, ``champions changed``, ...).
        extra: what the scorer recorded with the source date (:func:`table_meta`'s ``extra``), on reuse.
    """

    fingerprint: dict[str, Any]
    source: str | None
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The stage record fields: ``reuse`` (the reason) and, on reuse, ``counts.reused_from``."""
        return {"reuse": self.reason, **({"counts": {"reused_from": self.source}} if self.source else {})}


def champion_state(champ: Any) -> dict[str, Any]:
    """A registry champion (``name``, ``version``, ``run_id``, ``uri``) as fingerprint values."""
    return {"name": champ.name, "version": str(champ.version), "run_id": champ.run_id, "uri": champ.uri}


def row_digest(columns: Sequence[str]) -> Column:
    """An aggregate: the order-free digest of a group's rows over ``columns``, the sum of their ``xxhash64`` per row
    as ``decimal(38,0)`` (null for no rows). Equal rows give equal digests whatever their order or partitioning."""
    return F.sum(F.xxhash64(*[F.col(c) for c in columns]).cast("decimal(38,0)"))


def input_state(uri: str, df: DataFrame, columns: Sequence[str], partition: str | None = None) -> dict[str, Any]:
    """The fingerprint of one input table: its committed ``partitions`` map (only ``partition``'s entry when the
    scorer reads that one partition, e.g. ``dt=2026-11-21``), and ``rows`` and ``digest`` of ``df`` (the rows the
    scorer reads from ``uri``) over ``columns``, in one Spark aggregation (which also fills ``df``'s cache when it is
    persisted: the scorer's count of its input).

    Returns:
        ``{"partitions": {path: version dir} | None, "rows": int, "digest": str}`` (the digest: the decimal sum of
        ``xxhash64`` of ``columns`` per row, "0" for no rows).
    """
    row = df.agg(F.count(F.lit(1)).alias("rows"), row_digest(columns).alias("digest")).first()
    commit = tables.current(uri)
    parts = dict(commit.partitions) if commit is not None else None
    if parts is not None and partition is not None:
        parts = {partition: parts[partition]} if partition in parts else None
    return {
        "partitions": parts,
        "rows": int(row["rows"]),
        "digest": str(row["digest"] or 0),
    }


#: The input state of a table that does not exist (yet): compared like any other, so its later appearance is a change
#: of that input.
ABSENT: dict[str, Any] = {"partitions": None, "rows": 0, "digest": "0"}


def fingerprint(champions: Sequence[Any], inputs: Mapping[str, dict[str, Any]], config: Mapping[str, Any]) -> dict:
    """Today's fingerprint of a scorer: its champions, input states (:func:`input_state`) and output config, as
    JSON values (compared after a JSON round trip, so tuples and lists, dates and strings compare alike)."""
    data = {"models": [champion_state(c) for c in champions], "inputs": dict(inputs), "config": dict(config)}
    return json.loads(json.dumps(data, default=str, sort_keys=True))


def difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Why fingerprint ``new`` does not match ``old`` (see the module docstring), or None when it does."""
    if old.get("models") != new["models"]:
        return "champions changed"
    if old.get("config") != new["config"]:
        return "scoring config changed"
    was = old.get("inputs", {})
    if set(was) != set(new["inputs"]):
        return "inputs changed"
    for name, state in new["inputs"].items():
        before = was[name]
        if state["partitions"] is not None and before.get("partitions") == state["partitions"]:
            continue
        if (before.get("rows"), before.get("digest")) != (state["rows"], state["digest"]):
            return f"{name} changed"
    return None


def decide(
    ctx: Any,
    uris: Sequence[str],
    champions: Sequence[Any],
    inputs: Mapping[str, dict[str, Any]],
    config: Mapping[str, Any],
) -> Decision:
    """Whether the run date of the gold tables at ``uris`` (written together by one scorer) copies their latest
    earlier date: only when ``scoring.reuse`` is on, the first table has a date before the run date, and every
    table has that date with a recorded fingerprint that matches today's (:func:`difference`)."""
    fp = fingerprint(champions, inputs, config)
    if not ctx.cfg.scoring.reuse:
        return Decision(fp, None, "scoring.reuse is off (--rescore)")
    day = ctx.run_date.isoformat()
    earlier = [d for d in tables.partition_values(uris[0], "dt") if d < day] if tables.exists(uris[0]) else []
    if not earlier:
        return Decision(fp, None, "no earlier date scored")
    source = max(earlier)
    extra: dict[str, Any] = {}
    for uri in uris:
        commit = tables.current(uri)
        recorded = (commit.meta.get(META_KEY, {}) if commit is not None else {}).get(source)
        if recorded is None or source not in tables.partition_values(uri, "dt"):
            return Decision(fp, None, f"no fingerprint recorded for {storage.name(uri)} dt={source}")
        why = difference(recorded["fingerprint"], fp)
        if why:
            return Decision(fp, None, f"{why} since {source}")
        extra = extra or dict(recorded.get("extra") or {})
    return Decision(fp, source, f"same champions, inputs and config as {source}", extra)


#: Key of an unpartitioned derived table's commit meta: the fingerprint of what its current version was built from.
BUILT_FROM = "built_from"


def rebuild_reason(ctx: Any, uri: str, fp: Mapping[str, Any]) -> str | None:
    """Why the unpartitioned table at ``uri`` (a full recompute, e.g. ``gold/keywords``) must be built again for
    fingerprint ``fp`` (:func:`fingerprint`), or None when its committed version was built from the same inputs and
    config (recorded under :data:`BUILT_FROM` of its commit meta; compared by :func:`difference`) and
    ``scoring.reuse`` is on: then the committed table is already today's result and is kept as it is."""
    if not ctx.cfg.scoring.reuse:
        return "scoring.reuse is off (--rescore)"
    commit = tables.current(uri)
    recorded = commit.meta.get(BUILT_FROM) if commit is not None else None
    if recorded is None:
        return "no fingerprint recorded" if commit is not None else "no table yet"
    return difference(recorded, fp)


def copy_rows(ctx: Any, uri: str, source: str) -> DataFrame:
    """The rows of partition ``dt=source`` of the gold table at ``uri`` with ``dt`` = the run date (the other
    columns, ``scored_at`` included, as they were scored)."""
    rows = tables.read(ctx.spark, uri).where(F.col("dt") == F.lit(dt.date.fromisoformat(source)))
    return rows.withColumn("dt", F.lit(ctx.run_date).cast("date"))


def copy_quarantine(ctx: Any, table: str, stage: str, source: str, to: dt.date | None = None) -> DataFrame | None:
    """The rows ``stage`` quarantined for ``table`` on the date ``source`` (``quarantine/<table>``, partition
    ``stage=<stage>/ingest_date=<source>``) with ``ingest_date`` = ``to`` (default: the run date), or None when
    ``table`` has no quarantine (nothing to copy)."""
    uri = storage.join(ctx.layout.quarantine, table)
    if not tables.exists(uri):
        return None
    rows = tables.read(ctx.spark, uri).where(
        (F.col("stage") == F.lit(stage)) & (F.col("ingest_date") == F.lit(dt.date.fromisoformat(source)))
    )
    return rows.withColumn("ingest_date", F.lit(to or ctx.run_date).cast("date"))


def table_meta(ctx: Any, uri: str, decision: Decision, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The commit meta of the write of the run date's partition of ``uri``: the table's current meta with this
    date's fingerprint (and ``reused_from``, and the scorer's ``extra``: what a copy of this date needs to record,
    e.g. a summary) added, keeping the :data:`KEEP_DATES` newest dates that are partitions of the table."""
    commit = tables.current(uri)
    meta = dict(commit.meta) if commit is not None else {}
    day = ctx.run_date.isoformat()
    present = set(tables.partition_values(uri, "dt")) if commit is not None else set()
    dates = {d: r for d, r in meta.get(META_KEY, {}).items() if d in present and d != day}
    dates[day] = {"fingerprint": decision.fingerprint, "reused_from": decision.source, "extra": dict(extra or {})}
    meta[META_KEY] = {d: dates[d] for d in sorted(dates)[-KEEP_DATES:]}
    return meta

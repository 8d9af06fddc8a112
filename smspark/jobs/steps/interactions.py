"""Interactions (MovieLens ratings), the recommender and the behaviour model: ingest, etl, features, score.

- ingest: ``landing/movielens`` (ml-latest ``ratings.csv``/``movies.csv`` or ml-100k ``u.data``/``u.item``/
  ``u.genre``, detected from the files) -> ``bronze/interactions``, ``bronze/items`` (partition ``ingest_date``)
- etl: bronze -> ``silver/interactions`` (partition ``month``, column ``dt``, user ids pseudonymised, key (user, item,
  event time)): new bronze partitions merged into the months they add ratings to, or a full rebuild (``--full``); and
  ``silver/items``, rebuilt when ``bronze/items`` changed
- features: ``features/recommender/{train,val,test}`` and ``features/behaviour/{train,val,test}`` + ``id_maps.npz``
- (training: NeuMF next to ALS and popularity, :mod:`smspark.train.recommender`; the GRU engagement model next to
  LogisticRegression, :mod:`smspark.train.behaviour`; both through the lifecycle)
- score: every user -> ``gold/user_recommendations`` (NeuMF top items re-ranked by engagement) and
  ``gold/user_segments`` (KMeans on NeuMF user embeddings), partition ``dt`` = run date
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.etl.interactions import (
    DUPLICATE,
    KEY,
    clean_interactions,
    clean_items,
    decode_latin1,
    drop_header,
    items_from_interactions,
    merge_interactions,
    parse_items,
    parse_ratings,
    pseudonymise_interactions,
    quarantined_item_ids,
)
from smspark.etl.parsed import ParsedLines
from smspark.etl.partitions import MONTH
from smspark.features.interactions import (
    SPLITS,
    IdMaps,
    behaviour_rows,
    build_id_maps,
    id_frames,
    latest_per_pair,
    leave_last_out,
    recommender_rows,
    seeded_order,
    user_states,
)
from smspark.jobs import landing, reuse
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import (
    local_view,
    quarantine_path,
    read_parquet,
    read_table,
    write_json,
    write_partitions,
    write_quarantine,
    write_table,
)
from smspark.jobs.merge_state import (
    MERGED,
    bronze_partitions,
    commit_redelivery,
    etl_quarantine,
    full_rebuild_reason,
    new_partitions,
    redelivered,
)
from smspark.manifest import ReconciliationError, reconcile
from smspark.schemas import BRONZE_INTERACTIONS, BRONZE_ITEMS
from smspark.sources.movielens import ML_100K, ML_LATEST, MovieLensExport, detect_export

log = logging.getLogger(__name__)

LANDING_FOLDER = "movielens"
ID_MAPS = "id_maps.npz"


def _lines(ctx: JobContext, uri: str) -> DataFrame:
    return ctx.spark.read.text(storage.spark_path(uri)).select(
        "value", F.col("_metadata.file_path").alias("source_file")
    )


def export_of(folder: Path) -> MovieLensExport:
    """The MovieLens export in ``folder``; a missing or ambiguous one is a :class:`UserError`."""
    try:
        return detect_export(folder)
    except ValueError as exc:
        raise UserError(f"{exc} (run `smspark fetch-samples` or copy a GroupLens export there)") from exc


def _ingest_file(ctx: JobContext, parsed: ParsedLines, table: str, fp: dict[str, Any]) -> dict[str, Any]:
    """Write one parsed landing file's bronze rows and rejects (:func:`smspark.jobs.steps.write_parsed`); its counts
    with the quarantined lines by reason."""
    from smspark.jobs.steps import write_parsed

    n_in, n_out, n_q, reasons = write_parsed(ctx, parsed, table, fp, by_reason=True)
    ctx.output(f"bronze/{table}", storage.join(ctx.layout.bronze, table))
    return {**reconcile(n_in, n_out, quarantined=n_q), "quarantined_by_reason": reasons}


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Landing MovieLens export -> ``bronze/interactions`` (+ ``bronze/items`` when the export has an item file).

    Reconciles ``data lines = bronze rows + quarantined`` per file (CSV header lines are not records).
    """
    with local_view(storage.join(ctx.layout.landing, LANDING_FOLDER)) as (folder, to_uri):
        return _ingest_export(ctx, export_of(folder), to_uri)


def _ingest_export(ctx: JobContext, export: MovieLensExport, to_uri: Callable[[Path], str]) -> dict[str, Any]:
    log.info("MovieLens %s export in %s", export.format, to_uri(export.folder))
    files = {to_uri(f): f for f in sorted(export.folder.iterdir()) if f.is_file()}
    settings = {"format": export.format, "genres": list(export.genres or ())}
    fp = landing.fingerprint(list(files), settings, [__name__], digest=lambda uri: landing.local_sha256(files[uri]))
    names = ["interactions"] + (["items"] if export.items is not None else [])
    bronze = [storage.join(ctx.layout.bronze, t) for t in names]
    same = [landing.unchanged_since(uri, fp, ctx.run_date, ctx.cfg.ingest.reuse) for uri in bronze]
    dates = {earlier["date"] if earlier else None for earlier in same}
    reused = len(dates) == 1 and None not in dates  # every table holds that date, recorded with today's files
    counts: dict[str, Any] = {}
    if reused:
        for table, earlier in zip(names, same, strict=True):
            n_out, n_q = landing.copy_ingest(ctx, table, fp, earlier)
            ctx.output(f"bronze/{table}", storage.join(ctx.layout.bronze, table))
            counts[table] = {**reconcile(earlier["lines"], n_out, quarantined=n_q), "reused_from": earlier["date"]}
    else:
        lines = _lines(ctx, to_uri(export.ratings))
        if export.format == ML_LATEST:
            lines = drop_header(lines, "userId")
        parsed = parse_ratings(lines, export.format, ctx.run_date)
        counts["interactions"] = _ingest_file(ctx, parsed, "interactions", fp)
        if export.items is not None:
            item_lines = _lines(ctx, to_uri(export.items))
            item_lines = decode_latin1(item_lines) if export.format == ML_100K else drop_header(item_lines, "movieId")
            parsed = parse_items(item_lines, export.format, ctx.run_date, export.genres)
            counts["items"] = _ingest_file(ctx, parsed, "items", fp)
    if export.items is None:
        log.warning("%s has no item file: items get no titles or genres", to_uri(export.folder))
    return {
        "inputs": {
            "landing": to_uri(export.folder),
            "format": export.format,
            "ratings": export.ratings.name,
            "items": export.items.name if export.items else None,
            "genres": list(export.genres) if export.genres else None,
        },
        "outputs": {
            "bronze": [storage.join(ctx.layout.bronze, t) for t in counts],
            "quarantine": [storage.join(ctx.layout.quarantine, t) for t in counts],
        },
        "counts": {**counts["interactions"], "tables": counts},
    }


#: Key of the commit metadata of ``silver/interactions`` that records the ``bronze/items`` partitions (ingest date ->
#: version directory) of the catalogue silver was checked against.
ITEMS_MERGED = "bronze_items_partitions"


def etl(ctx: JobContext) -> dict[str, Any]:
    """``bronze/interactions`` (+ ``bronze/items``) -> ``silver/interactions`` (partition ``month``) and
    ``silver/items``.

    The bronze ``ingest_date`` partitions not merged yet are merged by key (:func:`merge_interactions`), rewriting
    only the months that receive new ratings; when they bring nothing new only a commit recording them is
    written (no data directory changes). ``silver/items`` is rebuilt when ``bronze/items`` changed and the rebuilt
    catalogue differs. A full rebuild from all of bronze runs when asked (``--full``), on the first run, or when a
    merge could differ from it (a merged partition re-ingested, an older date, a re-delivered rating whose value
    changed, a catalogue that lost items silver rates or gained items of quarantined ratings); the stage records
    ``mode`` and ``full_reason``. Both reconcile ``bronze rows read = silver rows added + quarantined + duplicates``.
    """
    src = storage.join(ctx.layout.bronze, "interactions")
    out = storage.join(ctx.layout.silver, "interactions")
    read_table(ctx.spark, src, BRONZE_INTERACTIONS, "run `smspark ingest` first")  # a missing bronze is a UserError
    bronze_parts = bronze_partitions(src)
    items_parts = bronze_partitions(storage.join(ctx.layout.bronze, "items"))
    silver = tables.current(out)
    reason = full_rebuild_reason(ctx.cfg.etl.full, silver, bronze_parts, "silver/interactions", [MONTH])
    if reason is None:
        record = _etl_merge(ctx, src, out, silver, bronze_parts, items_parts)
        if "full_reason" not in record:
            return record
        reason = record["full_reason"]
    log.info("silver/interactions: full rebuild (%s)", reason)
    return _etl_full(ctx, src, out, {MERGED: bronze_parts, ITEMS_MERGED: items_parts}, reason)


def _catalogue(ctx: JobContext, items_parts: dict[str, str]) -> tuple[DataFrame | None, DataFrame | None]:
    """``(silver items from all of bronze/items, persisted; the bronze rows they dropped as duplicates)``, or
    ``(None, None)`` without a catalogue (no committed ``bronze/items`` partition: ``items_parts`` empty)."""
    if not items_parts:
        return None, None
    bronze_items = read_table(ctx.spark, storage.join(ctx.layout.bronze, "items"), BRONZE_ITEMS)
    silver_items, item_dups = clean_items(bronze_items)
    return silver_items.persist(), item_dups


def _write_items(ctx: JobContext, items: DataFrame, dups: DataFrame) -> dict[str, Any]:
    """Write the catalogue to ``silver/items`` (one file) and reconcile it with its bronze rows (all of bronze/items:
    ``bronze = silver + duplicates``)."""
    items_out = storage.join(ctx.layout.silver, "items")
    write_table(items.coalesce(1), items_out)
    n_items_in = read_table(ctx.spark, storage.join(ctx.layout.bronze, "items"), BRONZE_ITEMS).count()
    n_items_out = read_parquet(ctx.spark, items_out).count()
    return {**reconcile(n_items_in, n_items_out, duplicates_dropped=dups.count()), "rewritten": True}


def _derived_items(ctx: JobContext, out: str) -> dict[str, Any]:
    """Without an item catalogue in bronze: ``silver/items`` lists the items of ``silver/interactions`` (no titles or
    genres), rewritten only when that list changed."""
    log.warning("no item catalogue in bronze: silver/items lists the rated items without titles or genres")
    items_out = storage.join(ctx.layout.silver, "items")
    derived = items_from_interactions(read_parquet(ctx.spark, out))
    same = tables.exists(items_out) and _same_rows(derived, read_parquet(ctx.spark, items_out))
    if not same:
        write_table(derived.coalesce(1), items_out)
    return {"derived_from_interactions": True, "rewritten": not same}


def _same_rows(a: DataFrame, b: DataFrame) -> bool:
    """Whether two small DataFrames hold the same rows (as multisets)."""
    b = b.select(*a.columns)
    return not a.exceptAll(b).limit(1).count() and not b.exceptAll(a).limit(1).count()


def _etl_full(ctx: JobContext, src: str, out: str, meta: dict[str, Any], reason: str) -> dict[str, Any]:
    """Rebuild ``silver/interactions`` and ``silver/items`` from every bronze partition (de-duplication spans every
    ingest); ``meta`` (the merge state) is committed with the interactions."""
    bronze = read_table(ctx.spark, src, BRONZE_INTERACTIONS)
    n_in = bronze.count()
    silver_items, item_dups = _catalogue(ctx, meta[ITEMS_MERGED])
    if silver_items is not None:  # before the interactions: their commit records the catalogue they were built with
        items_counts = _write_items(ctx, silver_items, item_dups)
    pseudonymised = pseudonymise_interactions(bronze, ctx.cfg.pseudonym_key()).persist()
    silver, quarantine, dups = clean_interactions(pseudonymised, silver_items)
    write_table(silver.repartition(MONTH), out, MONTH, meta=meta, max_records_per_file=ctx.cfg.etl.rows_per_file)
    n_q = write_quarantine(quarantine, ctx.layout, "interactions", "etl")
    n_dup = dups.count()
    written = read_parquet(ctx.spark, out)
    n_out = written.count()
    if silver_items is None:
        items_counts = _derived_items(ctx, out)
    else:
        silver_items.unpersist()
    users = written.select("user_id").distinct().count()
    pseudonymised.unpersist()
    ctx.output("silver/interactions", out)
    ctx.output("silver/items", storage.join(ctx.layout.silver, "items"))
    return {
        "inputs": {"bronze": src, "ingest_dates": sorted(meta[MERGED]), "bronze_items": bool(meta[ITEMS_MERGED])},
        "outputs": {"silver": out, "silver_items": storage.join(ctx.layout.silver, "items")},
        "mode": "full",
        "full_reason": reason,
        "counts": {
            **reconcile(n_in, n_out, n_q, n_dup),
            "duplicates_by_reason": {DUPLICATE: n_dup} if n_dup else {},
            "users": users,
            "items": items_counts,
        },
    }


def _unpersist(*frames: DataFrame | None) -> None:
    for df in frames:
        if df is not None:
            df.unpersist()


def _catalogue_change(ctx: JobContext, silver: DataFrame, items: DataFrame | None) -> str | None:
    """Why ``silver`` (with ``item_id``), built with the previous catalogue, would differ from a rebuild with
    ``items`` (None: no catalogue, every item known): silver rates items ``items`` lacks, or ratings quarantined as
    unknown items are of items it has. None when a merge stays exact."""
    if items is not None:
        rated = silver.select("item_id").distinct()
        if rated.join(items, "item_id", "left_anti").limit(1).count():
            return "the item catalogue lost items that silver ratings have"
    q_uri = quarantine_path(ctx.layout, "interactions")
    if not tables.exists(q_uri):
        return None
    unknown = quarantined_item_ids(read_parquet(ctx.spark, q_uri))
    if items is not None:
        unknown = unknown.join(items, "item_id", "left_semi")
    if unknown.limit(1).count():
        return "the item catalogue now has items of ratings quarantined as unknown"
    return None


def _etl_merge(
    ctx: JobContext,
    src: str,
    out: str,
    before: tables.Commit,
    bronze_parts: dict[str, str],
    items_parts: dict[str, str],
) -> dict[str, Any]:
    """Merge the bronze partitions not merged yet into ``silver/interactions``, rewriting only the months that receive
    new ratings, and rebuild ``silver/items`` when ``bronze/items`` changed and the catalogue differs.
    Returns the stage record, or ``{"full_reason": ...}`` when the merge would not equal a full rebuild."""
    new, state = new_partitions(before, bronze_parts)
    items_out = storage.join(ctx.layout.silver, "items")
    items_changed = before.meta.get(ITEMS_MERGED) != items_parts
    record: dict[str, Any] = {
        "inputs": {"bronze": src, "ingest_dates": new, "bronze_items": bool(items_parts)},
        "outputs": {"silver": out, "silver_items": items_out, "months_written": 0},
        "mode": "incremental",
    }
    ctx.output("silver/interactions", out)
    ctx.output("silver/items", items_out)
    if not new and not items_changed:
        return {**record, "counts": {**reconcile(0, 0), "duplicates_by_reason": {}, "items": {"rewritten": False}}}
    redelivery = _redelivery_of(ctx, src, before, new, items_parts)
    if redelivery is not None:
        meta = {MERGED: state, ITEMS_MERGED: items_parts}
        return _merge_redelivery(ctx, out, record, new[0], *redelivery, meta)
    silver = read_parquet(ctx.spark, out)  # listed once: a month partition each
    held = silver.select(*KEY, "rating").persist()  # what the merge reads of silver, scanned once
    catalogue, item_dups = _catalogue(ctx, items_parts) if items_changed else (None, None)
    if items_changed:
        reason = _catalogue_change(ctx, held, catalogue)
        if reason is not None:
            _unpersist(held, catalogue)
            return {"full_reason": reason}
    elif items_parts:
        catalogue = read_parquet(ctx.spark, items_out).select("item_id")
    days = [dt.date.fromisoformat(d) for d in new]
    bronze = read_table(ctx.spark, src, BRONZE_INTERACTIONS).where(F.col("ingest_date").isin(*days))
    pseudonymised = pseudonymise_interactions(bronze, ctx.cfg.pseudonym_key()).persist()  # the UDF runs once
    n_in = pseudonymised.count()
    merge = merge_interactions(held, pseudonymised, catalogue)
    if n_in and merge.changed.limit(1).count():
        _unpersist(held, catalogue, pseudonymised)
        return {"full_reason": "re-delivered ratings changed their value"}
    items_counts: dict[str, Any] = {"rewritten": False}
    if items_changed and catalogue is not None:  # before the interactions commit, which records bronze/items
        if not (tables.exists(items_out) and _same_rows(catalogue, read_parquet(ctx.spark, items_out))):
            items_counts = _write_items(ctx, catalogue, item_dups)
        catalogue.unpersist()
    added = merge.added.persist()
    n_added = added.count()
    meta = {MERGED: state, ITEMS_MERGED: items_parts}
    months = sorted({r[MONTH] for r in added.select(MONTH).distinct().collect()}) if n_added else []
    if months:
        rewrite = silver.where(F.col(MONTH).isin(*[F.lit(m) for m in months])).unionByName(added)
        write_partitions(
            rewrite.repartition(MONTH),
            out,
            MONTH,
            replace=[{MONTH: m} for m in months],
            meta=meta,
            max_records_per_file=ctx.cfg.etl.rows_per_file,
        )
    else:  # nothing new for silver: the data directories stay, the commit records the merged partitions
        tables.commit_meta(out, meta)
    if not items_parts:
        items_counts = _derived_items(ctx, out)
    n_q = etl_quarantine(ctx, "interactions", merge.quarantine, days) if days else 0
    dup_counts = {r["reason"]: r["count"] for r in merge.duplicates.groupBy("reason").count().collect()}
    _unpersist(added, pseudonymised, held)
    record["outputs"]["months_written"] = len(months)
    return {
        **record,
        "counts": {
            **reconcile(n_in, n_added, n_q, sum(dup_counts.values())),
            "duplicates_by_reason": dup_counts,
            "items": items_counts,
        },
    }


def _redelivery_of(
    ctx: JobContext, src: str, before: tables.Commit, new: list[str], items_parts: dict[str, str]
) -> tuple[str, int] | None:
    """``(the merged ingest date whose bronze partitions the one new date delivers again, the new date's bronze
    rows)``, or None.

    A night that lands the same export again (the nightly re-ingesting an unchanged landing folder) adds nothing to
    silver: when the one new ``ingest_date`` of ``bronze/interactions`` holds the same rows as the latest merged date
    (:func:`smspark.jobs.merge_state.redelivered`), and ``bronze/items`` changed only by a new partition of that date
    with the same rows as the latest merged date's (or neither date has items), merging it would find every rating
    in silver or quarantined for the same reasons as then. Checking that costs one scan of the two dates' bronze
    rows, not the pseudonymisation and the scan of silver a merge does."""
    merged: dict[str, str] = before.meta[MERGED]
    if len(new) != 1 or not merged:
        return None
    day, last = new[0], max(merged)
    items_before = before.meta.get(ITEMS_MERGED) or {}
    if {d: v for d, v in items_parts.items() if d != day} != items_before or (day in items_parts) != (
        last in items_parts
    ):
        return None
    n_in = redelivered(ctx, src, BRONZE_INTERACTIONS, list(merged), new)
    if n_in is None:
        return None
    if (
        day in items_parts
        and redelivered(ctx, storage.join(ctx.layout.bronze, "items"), BRONZE_ITEMS, [last], new) is None
    ):
        return None
    return last, n_in


def _merge_redelivery(
    ctx: JobContext, out: str, record: dict[str, Any], day: str, source: str, n_in: int, meta: dict[str, Any]
) -> dict[str, Any]:
    """Merge bronze date ``day`` (``n_in`` rows), a re-delivery of the merged date ``source``
    (:func:`_redelivery_of`): silver and ``silver/items`` keep their data
    (:func:`smspark.jobs.merge_state.commit_redelivery`), and the rest of ``day``'s rows are dropped duplicates."""
    counts = commit_redelivery(ctx, "interactions", out, day, source, n_in, meta)
    return {**record, "redelivery_of": source, "counts": {**counts, "items": {"rewritten": False}}}


# --- features -----------------------------------------------------------------------------------------------


def split_files(ctx: JobContext) -> int:
    """Files per features split: enough row groups for every Horovod worker's Petastorm shard (2 per worker)."""
    return max(4, 2 * ctx.cfg.train.num_proc)


def _silver(ctx: JobContext) -> tuple[DataFrame, DataFrame]:
    what = "run `smspark etl` first"
    events = read_table(ctx.spark, storage.join(ctx.layout.silver, "interactions"), what=what)
    items = read_table(ctx.spark, storage.join(ctx.layout.silver, "items"), what=what)
    return events.select("user_id", "item_id", "rating", "event_time"), items


def id_maps_of(events: DataFrame, items: DataFrame) -> IdMaps:
    """The id maps of the users and items in ``events``, with the genres of ``items`` (collected to the driver)."""
    users = [r[0] for r in events.select("user_id").distinct().collect()]
    item_ids = [r[0] for r in events.select("item_id").distinct().collect()]
    genres = {r["item_id"]: r["genres"] or [] for r in items.select("item_id", "genres").collect()}
    return build_id_maps(users, item_ids, genres)


def write_splits(ctx: JobContext, rows: DataFrame, out: str) -> dict[str, int]:
    """Write each split in :func:`split_files` files, rows in a seeded pseudo-random order
    (:func:`smspark.features.interactions.seeded_order`: the same rows give the same files on every run).

    The order matters for training: Petastorm shuffles row groups and a bounded row buffer only, and rows arrive
    grouped (positives before sampled negatives, one user's events together), so unshuffled files would feed
    long runs of one label or one user.
    """
    counts = {}
    for split in SPLITS:
        part = rows.where(F.col("split") == split).drop("split")
        write_table(seeded_order(part, split_files(ctx), ctx.cfg.train.seed), storage.join(out, split))
        counts[split] = read_parquet(ctx.spark, storage.join(out, split)).count()
    return counts


def features_recommender(ctx: JobContext) -> dict[str, Any]:
    """``silver/interactions`` -> ``features/recommender/{train,val,test}`` (``user_idx``, ``item_idx``, ``label``)
    with sampled negatives, ``id_maps.npz`` and ``meta.json``.

    Counts: ``events = pairs + repeated (user, item) events``, each side counted on its own rows; negatives are
    checked to be exactly ``num_negatives x train positives`` and ``eval_negatives`` per val/test user (else
    ReconciliationError).
    """
    mcfg = ctx.cfg.models.recommender
    events, items = _silver(ctx)
    events = events.persist()
    n_events = events.count()
    if n_events == 0:
        raise UserError("silver/interactions is empty: nothing to train the recommender on")
    maps = id_maps_of(events, items)
    users_df, items_df = id_frames(ctx.spark, maps)
    pairs = leave_last_out(latest_per_pair(events))
    pairs = (pairs.join(users_df, "user_id").join(items_df.select("item_id", "item_idx"), "item_id")).select(
        "user_idx", "item_idx", "split"
    )
    pairs = pairs.persist()
    n_pairs = pairs.count()
    # events of a (user, item) pair beyond its first (the pair is kept once, its latest event): counted on the
    # events themselves, so a pair lost between the events and the written rows breaks the reconciliation
    n_repeated = int(
        events.groupBy("user_id", "item_id").agg((F.count(F.lit(1)) - 1).alias("extra")).agg(F.sum("extra")).first()[0]
        or 0
    )
    try:
        rows = recommender_rows(
            pairs, maps.n_items, mcfg.num_negatives, mcfg.eval_negatives, ctx.cfg.train.seed, mcfg.negative_rounds
        )
        rows = rows.persist()
        out = storage.join(ctx.layout.features, "recommender")
        counts = write_splits(ctx, rows, out)
    except Exception as exc:
        if "unseen items" in str(exc):
            raise UserError(f"negative sampling impossible: {exc}; lower models.recommender.eval_negatives") from exc
        raise
    stats = {(r["split"], int(r["label"])): r["count"] for r in rows.groupBy("split", "label").count().collect()}
    users_per_split = {
        r["split"]: r["count"] for r in pairs.groupBy("split").agg(F.countDistinct("user_idx").alias("count")).collect()
    }
    positives = {s: stats.get((s, 1), 0) for s in SPLITS}
    negatives = {s: stats.get((s, 0), 0) for s in SPLITS}
    expected = {
        "train": mcfg.num_negatives * positives["train"],
        "val": mcfg.eval_negatives * users_per_split.get("val", 0),
        "test": mcfg.eval_negatives * users_per_split.get("test", 0),
    }
    if negatives != expected:
        raise ReconciliationError(f"negatives {negatives} differ from the protocol's {expected}")
    maps.save(storage.join(out, ID_MAPS))
    meta = {
        "rows": counts,
        "positives": positives,
        "negatives": negatives,
        "users_per_split": users_per_split,
        "n_users": maps.n_users,
        "n_items": maps.n_items,
        "num_negatives": mcfg.num_negatives,
        "negative_rounds": mcfg.negative_rounds,
        "eval_negatives": mcfg.eval_negatives,
        "seed": ctx.cfg.train.seed,
        "run_date": ctx.run_date.isoformat(),
    }
    write_json(storage.join(out, "meta.json"), meta)
    rows.unpersist()
    pairs.unpersist()
    events.unpersist()
    ctx.output("features/recommender", out)
    return {
        "inputs": {"silver": storage.join(ctx.layout.silver, "interactions")},
        "outputs": {"features": out, "id_maps": storage.join(out, ID_MAPS)},
        "counts": {
            **reconcile(n_events, n_pairs, duplicates_dropped=n_repeated),
            "splits": counts,
            "positives": positives,
            "negatives": negatives,
            "negatives_expected": expected,
            "users": maps.n_users,
            "items": maps.n_items,
        },
    }


def features_behaviour(ctx: JobContext) -> dict[str, Any]:
    """``silver/interactions`` -> ``features/behaviour/{train,val,test}`` (one row per event with its history),
    ``id_maps.npz`` and ``meta.json``. Reconciles ``events = train + val + test rows``."""
    mcfg = ctx.cfg.models.behaviour
    events, items = _silver(ctx)
    events = events.persist()
    n_events = events.count()
    if n_events == 0:
        raise UserError("silver/interactions is empty: nothing to train the behaviour model on")
    maps = id_maps_of(events, items)
    users_df, items_df = id_frames(ctx.spark, maps)
    indexed = events.join(users_df, "user_id").join(items_df.select("item_id", "item_idx"), "item_id")
    split = leave_last_out(indexed, user_col="user_idx", item_col="item_idx")
    rows = behaviour_rows(split, items_df, mcfg.history_len, mcfg.engagement_threshold).persist()
    out = storage.join(ctx.layout.features, "behaviour")
    counts = write_splits(ctx, rows, out)
    label_rate = {
        r["split"]: round(float(r["rate"]), 4)
        for r in rows.groupBy("split").agg(F.avg("label").alias("rate")).collect()
    }
    maps.save(storage.join(out, ID_MAPS))
    write_json(
        storage.join(out, "meta.json"),
        {
            "rows": counts,
            "engaged_rate": label_rate,
            "history_len": mcfg.history_len,
            "engagement_threshold": mcfg.engagement_threshold,
            "n_users": maps.n_users,
            "n_items": maps.n_items,
            "genres": maps.genres.tolist(),
            "run_date": ctx.run_date.isoformat(),
        },
    )
    rows.unpersist()
    events.unpersist()
    ctx.output("features/behaviour", out)
    return {
        "inputs": {"silver": storage.join(ctx.layout.silver, "interactions")},
        "outputs": {"features": out, "id_maps": storage.join(out, ID_MAPS)},
        "counts": {**reconcile(n_events, sum(counts.values())), "splits": counts, "engaged_rate": label_rate},
    }


# --- score --------------------------------------------------------------------------------------------------


def history_len_of(ctx: JobContext, beh: Any) -> int:
    """The history length the behaviour champion was trained with (its own metadata, not today's config)."""
    from smspark.scoring.udfs import load_python_model

    model = load_python_model(beh.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri)
    return int(model.meta["history_len"])


def score(ctx: JobContext) -> dict[str, Any]:
    """Every user of ``silver/interactions`` -> ``gold/user_recommendations``, exactly ``recommend_k`` distinct
    unrated items per user: the two-stage model list for users the recommender champion knows, a labelled popularity
    fallback for the others (``strategy``, :mod:`smspark.scoring.recommendations`); and ``gold/user_segments``.

    Reconciles, counting rows on both sides: ``silver users = users with recommend_k rows in gold (by strategy) +
    quarantined`` (a fallback user with fewer than ``recommend_k`` unrated items in the catalogue goes to
    ``quarantine/user_recommendations`` with the reason), and ``gold rows = recommend_k x users served``.

    Raises:
        ReconciliationError: a served user does not have exactly ``recommend_k`` distinct items, or the counts do
            not balance.
    """
    from smspark.jobs.steps import champion, merge_record, write_scores
    from smspark.scoring.recommendations import STRATEGIES, recommend, user_segments

    mcfg = ctx.cfg.models.recommender
    if mcfg.candidate_pool < mcfg.recommend_k:
        raise UserError("models.recommender.candidate_pool must be >= models.recommender.recommend_k")
    rec, beh = champion(ctx, "recommender"), champion(ctx, "behaviour")
    silver = storage.join(ctx.layout.silver, "interactions")
    events = read_table(ctx.spark, silver, what="run `smspark etl` first")
    events = events.select("user_id", "item_id", "rating", "event_time").persist()
    inputs = {"silver/interactions": reuse.input_state(silver, events, events.columns)}
    n_silver_users = events.select("user_id").distinct().count()
    seg_uri = storage.join(ctx.layout.gold, "user_segments")
    earlier = read_parquet(ctx.spark, seg_uri) if tables.exists(seg_uri) else None
    inputs["gold/user_segments"] = reuse.ABSENT
    if earlier is not None:
        # the fallback's segments: users the champion does not know are listed only by other champions' segments
        others = earlier.where(F.col("model_version") != F.lit(str(rec.version)))
        inputs["gold/user_segments"] = reuse.input_state(seg_uri, others, ["user_id", "segment", "dt"])
        earlier = earlier.select("user_id", "segment", "dt")
    config = {
        "recommend_k": mcfg.recommend_k,
        "candidate_pool": mcfg.candidate_pool,
        "segment_k": [mcfg.segment_k_min, mcfg.segment_k_max],
        "seed": ctx.cfg.train.seed,
    }
    k = mcfg.recommend_k
    out = storage.join(ctx.layout.gold, "user_recommendations")
    decision = reuse.decide(ctx, [out, seg_uri], [rec, beh], inputs, config)
    start = time.perf_counter()
    if decision.source:
        states, gold = None, reuse.copy_rows(ctx, out, decision.source)
        short = reuse.copy_quarantine(ctx, "user_recommendations", "score", decision.source)
    else:
        states = user_states(events, history_len_of(ctx, beh)).persist()
        result = recommend(ctx.spark, states, rec, beh, ctx.cfg, ctx.run_date, events, earlier)
        gold, short = (
            result.gold,
            result.short.select(
                F.lit("user_recommendations").alias("table"),
                F.lit("score").alias("stage"),
                F.lit(None).cast("string").alias("source_file"),
                F.lit(f"fewer than {k} unrated items to recommend").alias("reason"),
                F.to_json(F.struct("user_id", "rows")).alias("raw"),
                F.current_timestamp().alias("quarantined_at"),
                F.lit(ctx.run_date).cast("date").alias("ingest_date"),
            ),
        )
    _, _, committed = write_scores(ctx, gold, "user_recommendations", "recommender", rec, decision)
    seconds = committed - start
    n_q = write_quarantine(short, ctx.layout, "user_recommendations", "score", ctx.run_date) if short is not None else 0
    if states is not None:
        states.unpersist()
    events.unpersist()
    written = read_parquet(ctx.spark, out).where(F.col("dt") == F.lit(ctx.run_date))
    per_user = written.groupBy("user_id", "strategy").agg(
        F.count(F.lit(1)).alias("n"), F.countDistinct("item_id").alias("d")
    )
    by_strategy = {s: {"users": 0, "rows": 0} for s in STRATEGIES}
    for r in per_user.groupBy("strategy").agg(F.count(F.lit(1)).alias("users"), F.sum("n").alias("rows")).collect():
        by_strategy[r["strategy"]] = {"users": int(r["users"]), "rows": int(r["rows"])}
    bad = per_user.where((F.col("n") != k) | (F.col("d") != k)).count()
    n_served = per_user.select("user_id").distinct().count()
    n_rows = sum(v["rows"] for v in by_strategy.values())
    if bad or n_served != sum(v["users"] for v in by_strategy.values()):
        raise ReconciliationError(f"{bad} users do not have exactly {k} distinct items of one strategy")
    if n_rows != k * n_served:
        raise ReconciliationError(f"gold has {n_rows} rows for {n_served} users, expected {k} each")
    seg_start = time.perf_counter()
    if decision.source:
        segments, summary = reuse.copy_rows(ctx, seg_uri, decision.source), decision.extra["segments"]
    else:
        result_segments = user_segments(ctx.spark, rec, ctx.cfg, ctx.run_date)
        segments, summary = result_segments.gold, result_segments.summary
    write_scores(ctx, segments, "user_segments", "recommender", rec, decision, {"segments": summary})
    seg_seconds = time.perf_counter() - seg_start
    models = ctx.manifest.data["models"]
    models.setdefault("behaviour", {})["scored_with"] = {"name": beh.name, "version": beh.version}
    ctx.manifest.data["metrics"].setdefault("user_segments", {}).update(summary)
    record = {
        "inputs": {"silver": silver, "models": [rec.uri, beh.uri]},
        "outputs": {
            "gold": out,
            "segments": seg_uri,
            "dt": ctx.run_date.isoformat(),
            "segments_k": summary["k"],
            "segment_sizes": summary["sizes"],
        },
        "counts": {
            **reconcile(n_silver_users, n_served, quarantined=n_q),
            "users_by_strategy": {s: v["users"] for s, v in by_strategy.items()},
            "rows_by_strategy": {s: v["rows"] for s, v in by_strategy.items()},
            "rows": n_rows,
            "rows_expected": k * n_served,
            "recommend_k": k,
            "score_seconds": round(seconds, 2),
            "users_per_second": round(n_served / seconds, 1) if seconds and not decision.source else None,
            "segments_seconds": round(seg_seconds, 2),
        },
    }
    return merge_record(record, decision)

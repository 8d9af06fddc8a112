"""User profiles: ``silver/interactions`` + ``silver/items`` and ``silver/posts`` -> ``silver/user_profiles``.

One row per pseudonymised user of the interactions and per author of the posts (:mod:`smspark.features.profiles`),
recomputed in full and partitioned by ``dt`` = the run date. Counts reconcile per source: distinct users (authors)
in = profiles out; posts without an author or a timestamp are counted as ``posts_not_profiled``. When the silver
inputs (their committed partitions, or rows and digest: :mod:`smspark.jobs.reuse`) and the settings are those the
committed profiles were built from, the profiles are copied to the run date instead and the features kept
(``--rescore`` / ``scoring.reuse: false`` builds them again).

Then the profile generator's features, ``features/profiles/{train,val,test}``: the profiles of
``models.profiles.source`` (:func:`smspark.features.profiles.profile_splits`, users split by a keyed hash), each
split in several files for the Horovod workers' Petastorm shards, with ``meta.json`` (source, columns, rows per
split). Profiles with a missing value are not used and counted (``incomplete``).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.features.profiles import PROFILE_COLUMNS, author_profiles, interaction_profiles, profile_splits
from smspark.jobs import reuse
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_parquet, read_table, write_json, write_table
from smspark.jobs.steps.interactions import write_splits
from smspark.manifest import reconcile

TABLE = "user_profiles"


def build(ctx: JobContext) -> dict[str, Any]:
    """Write ``silver/user_profiles`` from whichever of ``silver/interactions`` and ``silver/posts`` exist.

    Raises:
        UserError: neither silver input exists, or ``silver/items`` is missing beside ``silver/interactions``.
    """
    silver = ctx.layout.silver
    ctx.spark  # noqa: B018  (a Column needs the session: start it before building one)
    inter_uri, posts_uri = (storage.join(silver, t) for t in ("interactions", "posts"))
    inputs = {name: uri for name, uri in (("interactions", inter_uri), ("posts", posts_uri)) if storage.exists(uri)}
    if not inputs:
        raise UserError(f"no silver/interactions nor silver/posts under {silver}: run `smspark etl` first")
    events = read_table(ctx.spark, inter_uri) if "interactions" in inputs else None
    posts = read_table(ctx.spark, posts_uri) if "posts" in inputs else None
    out = storage.join(silver, TABLE)
    fp = _fingerprint(ctx, inputs, events, posts)
    why = reuse.rebuild_reason(ctx, out, fp)
    source = ctx.cfg.models.profiles.source
    features_meta = storage.join(ctx.layout.features, "profiles", "meta.json")
    if why is None and (source not in inputs or storage.exists(features_meta)):
        return _copy(ctx, out, inputs, source in inputs)
    dt = F.lit(ctx.run_date)
    parts, counts = [], {}
    if events is not None:
        items = read_table(ctx.spark, storage.join(silver, "items"), what="run `smspark etl` first")
        counts["interactions_users_in"] = events.select("user_id").distinct().count()
        parts.append(interaction_profiles(events, items, dt))
    if posts is not None:
        profiled = F.col("author_id").isNotNull() & F.col("created_at").isNotNull()
        counts["posts_authors_in"] = posts.where(profiled).select("author_id").distinct().count()
        counts["posts_not_profiled"] = posts.where(~profiled).count()
        parts.append(author_profiles(posts, dt))
    profiles = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    write_table(profiles.coalesce(1), out, "dt")
    by_source = {r["source"]: r["count"] for r in read_parquet(ctx.spark, out).groupBy("source").count().collect()}
    if "interactions" in inputs:
        counts["interactions"] = reconcile(counts["interactions_users_in"], by_source.get("interactions", 0))
    if "posts" in inputs:
        counts["posts"] = reconcile(counts["posts_authors_in"], by_source.get("posts", 0))
    ctx.output(f"silver/{TABLE}", out)
    outputs = {"silver": out}
    if source in inputs:
        outputs["features"], counts["features"] = generator_features(ctx, out, source)
    tables.commit_meta(out, {reuse.BUILT_FROM: fp, COUNTS: counts})  # what a copy of these profiles reports
    return {"inputs": inputs, "outputs": outputs, "reuse": why, "counts": counts}


#: Key of ``silver/user_profiles``' commit meta: the counts of the build its rows come from.
COUNTS = "counts"


def _fingerprint(ctx: JobContext, inputs: dict[str, str], events: Any, posts: Any) -> dict[str, Any]:
    """What the profiles and their features are built from: every column of each silver input read
    (:func:`smspark.jobs.reuse.input_state`) and the settings of the features."""
    states = {}
    if events is not None:
        items_uri = storage.join(ctx.layout.silver, "items")
        items = read_table(ctx.spark, items_uri, what="run `smspark etl` first")
        states["silver/interactions"] = reuse.input_state(inputs["interactions"], events, events.columns)
        states["silver/items"] = reuse.input_state(items_uri, items, items.columns)
    if posts is not None:
        states["silver/posts"] = reuse.input_state(inputs["posts"], posts, posts.columns)
    mcfg = ctx.cfg.models.profiles
    config = {"source": mcfg.source, "train_share": mcfg.train_share, "seed": ctx.cfg.train.seed}
    return reuse.fingerprint([], states, {**config, "num_proc": ctx.cfg.train.num_proc})


def _copy(ctx: JobContext, out: str, inputs: dict[str, str], features: bool) -> dict[str, Any]:
    """Profiles built from today's inputs already: their rows get the run date's ``dt`` (nothing is written when
    they have it), ``features/profiles`` stays; the record repeats the counts of that build."""
    commit = tables.current(out)
    built = tables.partition_values(out, "dt")
    day = ctx.run_date.isoformat()
    if built != [day]:
        rows = tables.read(ctx.spark, out).withColumn("dt", F.lit(ctx.run_date).cast("date")).persist()
        rows.count()  # cached before the write replaces the files it was read from
        write_table(rows.coalesce(1), out, "dt", meta=dict(commit.meta))
        rows.unpersist()
    ctx.output(f"silver/{TABLE}", out)
    outputs = {"silver": out}
    if features:
        outputs["features"] = storage.join(ctx.layout.features, "profiles")
    counts = {**commit.meta.get(COUNTS, {}), "reused_from": built[0] if built else None}
    return {
        "inputs": inputs,
        "outputs": outputs,
        "reuse": f"inputs and settings unchanged since {built}",
        "counts": counts,
    }


def generator_features(ctx: JobContext, profiles_uri: str, source: str) -> tuple[str, dict[str, Any]]:
    """Write ``features/profiles/{train,val,test}`` and ``meta.json`` from the ``source`` rows of
    ``silver/user_profiles``; returns the folder and its counts (profiles in = rows written + incomplete)."""
    mcfg = ctx.cfg.models.profiles
    cols = list(PROFILE_COLUMNS[source])
    rows = profile_splits(read_parquet(ctx.spark, profiles_uri), source, mcfg.train_share, ctx.cfg.train.seed)
    n_in = rows.count()
    complete = rows.dropna(subset=cols)
    out = storage.join(ctx.layout.features, "profiles")
    by_split = write_splits(ctx, complete.drop("user_id"), out)
    if by_split["train"] == 0:
        raise UserError(f"no complete {source} profiles fall in the training split: nothing to train a generator on")
    write_json(storage.join(out, "meta.json"), {"source": source, "columns": cols, "rows": by_split})
    ctx.output("features/profiles", out)
    incomplete = n_in - complete.count()
    return out, {**reconcile(n_in, sum(by_split.values()) + incomplete), "incomplete": incomplete, "splits": by_split}

"""User profiles: ``silver/interactions`` + ``silver/items`` and ``silver/posts`` -> ``silver/user_profiles``.

One row per pseudonymised user of the interactions and per author of the posts (:mod:`smspark.features.profiles`),
recomputed in full and partitioned by ``dt`` = the run date. Counts reconcile per source: distinct users (authors)
in = profiles out; posts without an author or a timestamp are counted as ``posts_not_profiled``.

Then the profile generator's features, ``features/profiles/{train,val,test}``: the profiles of
``models.profiles.source`` (:func:`smspark.features.profiles.profile_splits`, users split by a keyed hash), each
split in several files for the Horovod workers' Petastorm shards, with ``meta.json`` (source, columns, rows per
split). Profiles with a missing value are not used and counted (``incomplete``).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.features.profiles import PROFILE_COLUMNS, author_profiles, interaction_profiles, profile_splits
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_parquet, read_table, write_json, write_table
from smspark.jobs.steps.interactions import write_splits
from smspark.manifest import reconcile

TABLE = "user_profiles"


def build(ctx: JobContext) -> dict[str, Any]:
    """Write ``silver/user_profiles`` from whichever of ``silver/interactions`` and ``silver/posts`` exist.

    Raises:
        UserError: neither silver input exists.
    """
    silver = ctx.layout.silver
    ctx.spark  # noqa: B018  (a Column needs the session: start it before building one)
    dt = F.lit(ctx.run_date)
    parts, counts, inputs = [], {}, {}
    inter_uri, items_uri, posts_uri = (storage.join(silver, t) for t in ("interactions", "items", "posts"))
    if storage.exists(inter_uri):
        events = read_table(ctx.spark, inter_uri)
        items = read_table(ctx.spark, items_uri, what="run `smspark etl` first")
        counts["interactions_users_in"] = events.select("user_id").distinct().count()
        parts.append(interaction_profiles(events, items, dt))
        inputs["interactions"] = inter_uri
    if storage.exists(posts_uri):
        posts = read_table(ctx.spark, posts_uri)
        profiled = F.col("author_id").isNotNull() & F.col("created_at").isNotNull()
        counts["posts_authors_in"] = posts.where(profiled).select("author_id").distinct().count()
        counts["posts_not_profiled"] = posts.where(~profiled).count()
        parts.append(author_profiles(posts, dt))
        inputs["posts"] = posts_uri
    if not parts:
        raise UserError(f"no silver/interactions nor silver/posts under {silver}: run `smspark etl` first")
    out = storage.join(silver, TABLE)
    profiles = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    write_table(profiles.coalesce(1), out, "dt")
    by_source = {r["source"]: r["count"] for r in read_parquet(ctx.spark, out).groupBy("source").count().collect()}
    if "interactions" in inputs:
        counts["interactions"] = reconcile(counts["interactions_users_in"], by_source.get("interactions", 0))
    if "posts" in inputs:
        counts["posts"] = reconcile(counts["posts_authors_in"], by_source.get("posts", 0))
    ctx.output(f"silver/{TABLE}", out)
    outputs = {"silver": out}
    source = ctx.cfg.models.profiles.source
    if source in inputs:
        outputs["features"], counts["features"] = generator_features(ctx, out, source)
    return {"inputs": inputs, "outputs": outputs, "counts": counts}


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

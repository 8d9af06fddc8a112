"""User profiles: ``silver/interactions`` + ``silver/items`` and ``silver/posts`` -> ``silver/user_profiles``.

One row per pseudonymised user of the interactions and per author of the posts (:mod:`smspark.features.profiles`),
recomputed in full and partitioned by ``dt`` = the run date. Counts reconcile per source: distinct users (authors)
in = profiles out; posts without an author or a timestamp are counted as ``posts_not_profiled``.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.features.profiles import author_profiles, interaction_profiles
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_parquet, read_table, write_table
from smspark.manifest import reconcile

TABLE = "user_profiles"


def build(ctx: JobContext) -> dict[str, Any]:
    """Write ``silver/user_profiles`` from whichever of ``silver/interactions`` and ``silver/posts`` exist.

    Raises:
        UserError: neither silver input exists.
    """
    silver = ctx.layout.silver
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
    return {"inputs": inputs, "outputs": {"silver": out}, "counts": counts}

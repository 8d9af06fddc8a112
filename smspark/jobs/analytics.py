"""Job ``analytics``: what the corpus talks about and how its sentiment moves, recomputed in full into gold.

Steps, in order (each a manifest stage ``analytics.<step>``; a step whose input is absent is skipped and the
manifest says why): ``keywords`` (silver posts -> ``gold/keywords``: TF-IDF across day and week windows and YAKE
within them), ``sentiment_daily`` (silver posts + the newest scoring date of ``gold/post_sentiment`` and
``gold/post_topics`` -> ``gold/sentiment_daily``), ``trend_alerts`` (-> ``gold/trend_alerts``: days whose topic
volume or negative share is more than ``analytics.trends.z_threshold`` trailing standard deviations away),
``profile_summaries`` (silver user profiles -> ``gold/profile_summaries``: users and mean profile per source and
activity band, groups smaller than ``privacy.min_group_size`` withheld).
"""

from __future__ import annotations

import argparse

from smspark import storage, tables
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.steps import names_arg, resolve

#: step -> (input under the data root it needs, step)
ANALYTICS: dict[str, tuple[str, str]] = {
    "keywords": ("silver/posts", "smspark.jobs.steps.analytics:keywords"),
    "sentiment_daily": ("gold/post_sentiment", "smspark.jobs.steps.analytics:sentiment_daily"),
    "trend_alerts": ("gold/sentiment_daily", "smspark.jobs.steps.analytics:trend_alerts"),
    "profile_summaries": ("silver/user_profiles", "smspark.jobs.steps.analytics:profile_summaries"),
}


def run(ctx: JobContext, steps: list[str] | None = None) -> list[str]:
    """Run ``steps`` (default all) in order; returns the steps run."""
    unknown = [s for s in steps or [] if s not in ANALYTICS]
    if unknown:
        raise UserError(f"unknown analytics step(s) {unknown}; known: {', '.join(ANALYTICS)}")
    done = []
    for name in steps or list(ANALYTICS):
        needs, ref = ANALYTICS[name]
        if not tables.exists(storage.join(ctx.layout.root, *needs.split("/"))):
            ctx.manifest.data.setdefault("skipped", {})[f"analytics.{name}"] = f"no {needs} under the data root"
            continue
        with ctx.manifest.stage(f"analytics.{name}") as rec:
            rec.update(resolve(ref)(ctx))
            ctx.record_processes(rec)
        done.append(name)
    return done


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--steps", type=names_arg, default=None, help=f"comma-separated ({', '.join(ANALYTICS)}); default all"
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("analytics", argv, __doc__, lambda ctx, a: run(ctx, a.steps), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

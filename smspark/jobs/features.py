"""Job ``features``: silver -> ``features/<model>/{train,val,test}`` as Petastorm-readable Parquet
(plain scalars and fixed-length int32/float32 arrays), each split in several files so every Horovod worker's
shard gets row groups. With no ``--models``, every model whose silver input exists runs (those of :data:`OPT_IN` only
when their model is trained or scored nightly).
"""

from __future__ import annotations

import argparse
from collections.abc import Collection

from smspark.jobs.common import JobContext, run_job
from smspark.jobs.steps import names_arg, run_steps

#: model -> (silver table it reads, step)
FEATURE_STEPS: dict[str, tuple[str, str]] = {
    "sentiment": ("posts", "smspark.jobs.steps.posts:features"),
    "spam": ("messages", "smspark.jobs.steps.spam:features"),
    "recommender": ("interactions", "smspark.jobs.steps.interactions:features_recommender"),
    "behaviour": ("interactions", "smspark.jobs.steps.interactions:features_behaviour"),
    "image": ("media", "smspark.jobs.steps.media:features_image"),
    "topics": ("posts", "smspark.jobs.steps.topics:features"),
    "profiles": ("interactions", "smspark.jobs.steps.profiles:build"),
    "accounts": ("posts", "smspark.jobs.steps.accounts:features"),
}


#: feature steps that a run without ``--models`` builds only when their model is wanted (in ``nightly.train`` or
#: ``nightly.score``, or the nightly's ``--train``/``--score``): the account features' MinHash pass over every post
#: is the costliest feature step on posts, paid only by a nightly that trains or scores account risk
OPT_IN: dict[str, str] = {"accounts": "account_risk"}


def run(ctx: JobContext, models: list[str] | None = None, wanted: Collection[str] | None = None) -> list[str]:
    registry = FEATURE_STEPS
    if models is None:
        wanted = set(ctx.cfg.nightly.train) | set(ctx.cfg.nightly.score) if wanted is None else set(wanted)
        registry = {k: v for k, v in FEATURE_STEPS.items() if k not in OPT_IN or OPT_IN[k] in wanted}
    return run_steps(ctx, "features", registry, models, ctx.layout.silver)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models",
        type=names_arg,
        default=None,
        help=f"comma-separated models ({', '.join(FEATURE_STEPS)}); default: all whose input exists",
    )


def main(argv: list[str] | None = None) -> int:
    return run_job("features", argv, __doc__, lambda ctx, a: run(ctx, a.models), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

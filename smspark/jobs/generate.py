"""Job ``generate``: synthetic images from the GAN champion -> ``gold/synthetic_media``.

``smspark generate --model gan --per-class 16``: ``--per-class`` images of every class the generator knows, each
row flagged ``is_synthetic = true`` with the generator's registered name and version and the requested class
(``label``/``label_name``); ``seed`` reproduces the latent vector. Written to ``gold/synthetic_media/dt=<--date>``
(re-running a date replaces it). Synthetic images are never written to silver, so they are never trained on or
scored as real media.
"""

from __future__ import annotations

import argparse
from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.io import read_parquet, write_partitions
from smspark.manifest import reconcile

#: model -> what it generates (only the GAN so far)
GENERATORS = ("gan",)


def generate(ctx: JobContext, model: str, per_class: int, seed: int | None = None) -> dict[str, Any]:
    """Generate ``per_class`` images per class with ``model``'s champion; returns the stage record.

    Raises:
        UserError: unknown model, ``per_class < 1``, or no champion.
    """
    from smspark.scoring.media import synthetic_media
    from smspark.scoring.udfs import load_python_model
    from smspark.train.registry import NoChampionError, configure, get_champion

    if model not in GENERATORS:
        raise UserError(f"unknown generator {model!r}; known: {', '.join(GENERATORS)}")
    if per_class < 1:
        raise UserError(f"--per-class must be at least 1, got {per_class}")
    try:
        champ = get_champion(configure(ctx.cfg), model)
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    meta = load_python_model(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri).meta
    classes = list(meta["classes"])
    seed = ctx.cfg.train.seed if seed is None else seed
    df = synthetic_media(
        ctx.spark,
        champ,
        ctx.cfg.tracking_uri(),
        ctx.cfg.mlflow.registry_uri,
        len(classes),
        per_class,
        seed,
        ctx.run_date,
        ctx.manifest.run_id,
    )
    out = storage.join(ctx.layout.gold, "synthetic_media")
    write_partitions(df, out, "dt")
    written = read_parquet(ctx.spark, out).where(F.col("dt") == F.lit(ctx.run_date))
    n_out = written.count()
    per_label = {r["label_name"]: r["count"] for r in written.groupBy("label_name").count().collect()}
    ctx.output("gold/synthetic_media", storage.join(out, f"dt={ctx.run_date.isoformat()}"))
    ctx.manifest.data["models"][model] = {"generated_with": {"name": champ.name, "version": champ.version}}
    return {
        "inputs": {"model": champ.uri, "dataset": meta.get("dataset"), "per_class": per_class, "seed": seed},
        "outputs": {"gold": out, "dt": ctx.run_date.isoformat(), "by_class": per_label},
        "counts": reconcile(len(classes) * per_class, n_out),
    }


def _body(ctx: JobContext, args: argparse.Namespace) -> None:
    with ctx.manifest.stage(f"generate.{args.model}") as rec:
        rec.update(generate(ctx, args.model, args.per_class, args.seed))


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="gan", choices=GENERATORS, help="which generator's champion to use")
    p.add_argument("--per-class", type=int, required=True, help="images to generate for every class")
    p.add_argument("--seed", type=int, default=None, help="latent seed base (default: train.seed)")


def main(argv: list[str] | None = None) -> int:
    return run_job("generate", argv, __doc__, _body, add_args)


if __name__ == "__main__":
    raise SystemExit(main())

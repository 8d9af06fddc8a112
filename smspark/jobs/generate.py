"""Job ``generate``: synthetic images from the GAN champion -> ``gold/synthetic_media``, synthetic user profiles
from the profile generator's champion -> ``gold/synthetic_profiles``.

``smspark generate --model gan --per-class 16``: ``--per-class`` images of every class the generator knows, each
row flagged ``is_synthetic = true`` with the generator's registered name and version and the requested class
(``label``/``label_name``); ``seed`` reproduces the latent vector.

``smspark generate --model profiles --rows 1000``: ``--rows`` synthetic user profiles (the columns the CTGAN
champion learned, :mod:`smspark.train.profiles`), each flagged ``is_synthetic = true`` with the generator's name and
version.

Written to ``gold/<table>/dt=<--date>`` (re-running a date replaces it). Synthetic rows are never written to silver,
so they are never trained on or scored as real data.
"""

from __future__ import annotations

import argparse
from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.io import read_parquet, write_partitions
from smspark.manifest import reconcile

#: model -> the gold table it writes
GENERATORS = {"gan": "synthetic_media", "profiles": "synthetic_profiles"}


def _champion(ctx: JobContext, model: str) -> tuple[Any, dict[str, Any]]:
    """``(champion, its pyfunc's meta)``; UserError when the model has no champion."""
    from smspark.scoring.udfs import load_python_model
    from smspark.train.registry import NoChampionError, configure, get_champion

    try:
        champ = get_champion(configure(ctx.cfg), model)
    except NoChampionError as exc:
        raise UserError(str(exc)) from exc
    return champ, load_python_model(champ.uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri).meta


def _written(ctx: JobContext, df: Any, table: str) -> tuple[str, Any]:
    out = storage.join(ctx.layout.gold, table)
    write_partitions(df, out, "dt")
    ctx.output(f"gold/{table}", storage.join(out, f"dt={ctx.run_date.isoformat()}"))
    return out, read_parquet(ctx.spark, out).where(F.col("dt") == F.lit(ctx.run_date))


def generate_profiles(ctx: JobContext, rows: int, seed: int | None = None) -> dict[str, Any]:
    """Draw ``rows`` synthetic profiles with the profile generator's champion; returns the stage record.

    Raises:
        UserError: ``rows < 1`` or no champion.
    """
    from smspark.scoring.profiles import synthetic_profiles

    if rows < 1:
        raise UserError(f"--rows must be at least 1, got {rows}")
    champ, meta = _champion(ctx, "profiles")
    seed = ctx.cfg.train.seed if seed is None else seed
    df = synthetic_profiles(
        ctx.spark,
        champ,
        ctx.cfg.tracking_uri(),
        ctx.cfg.mlflow.registry_uri,
        meta["columns"],
        meta["source"],
        rows,
        seed,
        ctx.run_date,
        ctx.manifest.run_id,
    )
    out, written = _written(ctx, df, GENERATORS["profiles"])
    ctx.manifest.data["models"]["profiles"] = {"generated_with": {"name": champ.name, "version": champ.version}}
    return {
        "inputs": {"model": champ.uri, "source": meta["source"], "rows": rows, "seed": seed},
        "outputs": {"gold": out, "dt": ctx.run_date.isoformat()},
        "counts": reconcile(rows, written.count()),
    }


def generate(ctx: JobContext, model: str, per_class: int, seed: int | None = None) -> dict[str, Any]:
    """Generate ``per_class`` images per class with ``model``'s champion; returns the stage record.

    Raises:
        UserError: unknown model, ``per_class < 1``, or no champion.
    """
    from smspark.scoring.media import synthetic_media

    if model != "gan":
        raise UserError(f"unknown image generator {model!r}; known: gan")
    if per_class < 1:
        raise UserError(f"--per-class must be at least 1, got {per_class}")
    champ, meta = _champion(ctx, model)
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
    out, written = _written(ctx, df, GENERATORS["gan"])
    n_out = written.count()
    per_label = {r["label_name"]: r["count"] for r in written.groupBy("label_name").count().collect()}
    ctx.manifest.data["models"][model] = {"generated_with": {"name": champ.name, "version": champ.version}}
    return {
        "inputs": {"model": champ.uri, "dataset": meta.get("dataset"), "per_class": per_class, "seed": seed},
        "outputs": {"gold": out, "dt": ctx.run_date.isoformat(), "by_class": per_label},
        "counts": reconcile(len(classes) * per_class, n_out),
    }


def _body(ctx: JobContext, args: argparse.Namespace) -> None:
    with ctx.manifest.stage(f"generate.{args.model}") as rec:
        if args.model == "profiles":
            if args.rows is None:
                raise UserError("--model profiles needs --rows N (how many synthetic profiles)")
            rec.update(generate_profiles(ctx, args.rows, args.seed))
        else:
            if args.per_class is None:
                raise UserError("--model gan needs --per-class N (images per class)")
            rec.update(generate(ctx, args.model, args.per_class, args.seed))


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="gan",
        choices=sorted(GENERATORS),
        help="which generator's champion to use: gan (images -> gold/synthetic_media) or profiles (user profiles "
        "-> gold/synthetic_profiles)",
    )
    p.add_argument("--per-class", type=int, default=None, help="gan: images to generate for every class")
    p.add_argument("--rows", type=int, default=None, help="profiles: synthetic profiles to draw")
    p.add_argument("--seed", type=int, default=None, help="seed base of the draws (default: train.seed)")


def main(argv: list[str] | None = None) -> int:
    return run_job("generate", argv, __doc__, _body, add_args)


if __name__ == "__main__":
    raise SystemExit(main())

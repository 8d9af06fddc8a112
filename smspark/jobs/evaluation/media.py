"""``smspark evaluate image|gan``: the image CNN beside pixel LogisticRegression, and the conditional GAN beside the
PCA-Gaussian baseline, on a user's IDX set or class-per-folder images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.features.media import choose_input_shape
from smspark.jobs.common import JobContext
from smspark.jobs.io import read_parquet
from smspark.jobs.steps.media import etl, features_image, ingest_sources


def _evaluation_source(ctx: JobContext, input_dir: Path) -> str:
    """Ingest ``input_dir`` (an IDX set or class-per-folder images) as the only source of the temporary data root,
    clean it and point ``models.image.dataset`` at it; returns the source name."""
    source = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in input_dir.name) or "input"
    cfg = ctx.cfg.model_copy(deep=True)
    cfg.models.image.dataset = source
    ctx.cfg = cfg
    with ctx.manifest.stage("ingest.media") as rec:
        rec.update(ingest_sources(ctx, {source: input_dir}))
    with ctx.manifest.stage("etl.media") as rec:
        rec.update(etl(ctx))
    return source


def evaluate_image(ctx: JobContext, input_dir: Path) -> dict[str, dict[str, Any]]:
    """``smspark evaluate image``: the CNN and the pixel LogisticRegression on ``input_dir``, same split.

    The split is the official one for an IDX set with train and t10k/test files, else stratified (``val_fraction``,
    ``test_fraction``); images are resized to ``models.image.image_size`` (default: the most common side, <= 64).

    Returns:
        ``{"cnn": {"accuracy", "macro_f1"}, "logreg": {"accuracy", "macro_f1"}}`` on the test split.
    """
    from smspark.jobs import train as train_job

    _evaluation_source(ctx, input_dir)
    with ctx.manifest.stage("features.image") as rec:
        rec.update(features_image(ctx))
    res = train_job.run(ctx, "image")
    cnn, base = res["metrics"]["cnn"], res["metrics"]["pixel_logreg"]
    return {
        "cnn": {"accuracy": cnn["accuracy"], "macro_f1": cnn["macro_f1"]},
        "logreg": {"accuracy": base["accuracy"], "macro_f1": base["macro_f1"]},
    }


def evaluate_gan(ctx: JobContext, input_dir: Path) -> dict[str, dict[str, Any]]:
    """``smspark evaluate gan``: the image CNN, then the conditional GAN on ``input_dir``; the GAN's Frechet
    distance next to the real-vs-real floor and the CNN's accuracy on generated vs real test images.

    With ``models.image.image_size`` unset, the automatic side is rounded down to a multiple of
    ``2 ** len(models.gan.gen_filters)`` so the generator's upsampling fits.

    Returns:
        ``{"gan"|"pca_gaussian": {"frechet_distance", "frechet_floor", "class_accuracy"}, "real_vs_real":
        {"frechet_distance", "class_accuracy"}, "cnn": {"accuracy", "macro_f1"}}`` on the test split.
    """
    from smspark.jobs import train as train_job

    source = _evaluation_source(ctx, input_dir)
    mcfg = ctx.cfg.models.image
    if mcfg.image_size is None:
        media = read_parquet(ctx.spark, storage.join(ctx.layout.silver, "media")).where(F.col("source") == source)
        shapes = [
            (r["height"], r["width"], r["channels"], r["count"])
            for r in media.groupBy("height", "width", "channels").count().collect()
        ]
        side, _ = choose_input_shape(shapes, None, mcfg.channels)
        step = 2 ** len(ctx.cfg.models.gan.gen_filters)
        mcfg.image_size = max(3 * step, side - side % step)
    with ctx.manifest.stage("features.image") as rec:
        rec.update(features_image(ctx))
    img = train_job.run(ctx, "image")
    gan = train_job.run(ctx, "gan")["metrics"]
    cnn = img["metrics"]["cnn"]
    g, base = gan["gan"], gan["pca_gaussian"]
    return {
        "gan": {key: g[key] for key in ("frechet_distance", "frechet_floor", "class_accuracy")},
        "pca_gaussian": {key: base[key] for key in ("frechet_distance", "frechet_floor", "class_accuracy")},
        "real_vs_real": {"frechet_distance": g["frechet_floor"], "class_accuracy": g["real_accuracy"]},
        "cnn": {"accuracy": cnn["accuracy"], "macro_f1": cnn["macro_f1"]},
    }

"""The class-conditional DCGAN in the lifecycle: Horovod training (custom loop), measured with the image model.

Workers (:func:`gan_worker`, launched by :func:`smspark.train.launcher.run_distributed`) read their Petastorm shard
of ``features/image/train`` (``cur_shard=rank``), broadcast the initial variables of both networks and both
optimizers from rank 0 (``hvd.broadcast_variables``), then alternate a discriminator and a generator step, each with
its gradients averaged across ranks by ``hvd.DistributedGradientTape``. Rank 0 logs per-epoch losses and a grid of
samples per class (PNG) to the driver's MLflow run and saves the generator.

The driver then measures any generator (the candidate, the GAN champion, the PCA-Gaussian baseline) with the image
model's champion (same dataset and input shape): the Frechet distance between the champion's penultimate-layer
features of generated images and of real images of a split, next to the real-vs-real floor (one half of the split
against the other, same sample sizes), and the champion's accuracy on generated images against the requested class.
Selection: the lower Frechet distance on validation (:mod:`smspark.train.lifecycle`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark import storage
from smspark.config import GanConfig, Settings
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, NotReady, Package

log = logging.getLogger(__name__)

MODEL = "gan"
SELECTION_METRIC = "frechet_distance"


@dataclass
class GanTrainSpec:
    """Everything a GAN worker needs; pickled to every rank.

    Attributes:
        cfg: the GAN hyper-parameters.
        image_shape: ``(H, W, C)`` of the training images.
        classes: class names by index.
        train_url: ``file:///...`` of ``features/image/train`` (``pixels`` int32 ``[H*W*C]``, ``label`` int32).
        train_rows: rows in the training split (the epoch length is ``min(train_rows, cfg.max_train_rows)``).
        out_uri: rank 0 writes ``generator.h5``, ``history.json`` and ``samples/epoch_NNN.png`` here (a storage URI on
            the data root, reachable by every worker and the driver).
        tracking_uri, run_id: when set, rank 0 logs per-epoch metrics and sample grids to that MLflow run.
    """

    cfg: GanConfig
    image_shape: tuple[int, int, int]
    classes: list[str]
    train_url: str
    train_rows: int
    out_uri: str
    seed: int = 42
    tracking_uri: str | None = None
    run_id: str | None = None


def _optimizer_variables(optimizer: Any) -> list[Any]:
    variables = optimizer.variables
    return list(variables() if callable(variables) else variables)


def fixed_latent(cfg: GanConfig, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample grid's inputs: ``z`` float32 ``[k * s, latent_dim]`` and labels int32 ``[k * s]`` (row = class)."""
    s = cfg.samples_per_class
    z = np.random.default_rng(seed).standard_normal((num_classes * s, cfg.latent_dim)).astype(np.float32)
    return z, np.repeat(np.arange(num_classes, dtype=np.int32), s)


def gan_worker(spec: GanTrainSpec) -> dict[str, Any]:
    """One Horovod rank of GAN training.

    Returns:
        ``{"rank", "size", "history", "seconds", "steps_per_epoch", "weight_checksums"}``; ``weight_checksums`` is
        the sum of absolute trainable weights of the generator and of the discriminator: equal on every rank when
        the initial broadcast and the gradient averaging worked (batchnorm moving statistics, not trainable, are
        per rank).
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import horovod.tensorflow as hvd
    import tensorflow as tf
    import tf_keras

    import smspark  # noqa: F401
    from smspark.models.gan import (
        build_discriminator,
        build_generator,
        discriminator_loss,
        generator_loss,
        sample_grid,
        to_uint8,
    )
    from smspark.train.readers import petastorm_dataset, steps_per_epoch

    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    if rank == 0 and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        tf.config.experimental.set_memory_growth(gpus[hvd.local_rank()], True)
        tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")
    cfg = spec.cfg
    h, w, c = spec.image_shape
    k = len(spec.classes)
    tf_keras.utils.set_random_seed(spec.seed + rank)

    gen = build_generator(cfg, spec.image_shape, k)
    disc = build_discriminator(cfg, spec.image_shape, k)
    g_opt = tf_keras.optimizers.Adam(learning_rate=cfg.learning_rate * size, beta_1=cfg.beta_1)
    d_lr = cfg.disc_learning_rate if cfg.disc_learning_rate is not None else cfg.learning_rate
    d_opt = tf_keras.optimizers.Adam(learning_rate=d_lr * size, beta_1=cfg.beta_1)
    g_opt.build(gen.trainable_variables)
    d_opt.build(disc.trainable_variables)
    # Every rank starts from rank 0's weights and optimizer state (slots built above, so they exist now).
    hvd.broadcast_variables(gen.variables, root_rank=0)
    hvd.broadcast_variables(disc.variables, root_rank=0)
    hvd.broadcast_variables(_optimizer_variables(g_opt), root_rank=0)
    hvd.broadcast_variables(_optimizer_variables(d_opt), root_rank=0)
    # The exported generator: an exponential moving average of the trained one's weights (Yazici et al. 2019)
    # when ema_decay is set, else the trained generator itself.
    ema = None
    if cfg.ema_decay is not None:
        ema = build_generator(cfg, spec.image_shape, k)
        ema.set_weights(gen.get_weights())
    step_counter = tf.Variable(0, dtype=tf.int64, trainable=False)

    xent = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    aux = cfg.aux_weight > 0

    def discriminate(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor | None]:
        out = disc([images, labels], training=True)
        return (out[0], out[1]) if aux else (out, None)

    @tf.function
    def train_step(real: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, ...]:
        n = tf.shape(real)[0]
        z = tf.random.normal([n, cfg.latent_dim])
        with tf.GradientTape() as tape:
            fake = gen([z, labels], training=True)
            real_logit, real_class = discriminate(real, labels)
            fake_logit, _ = discriminate(fake, labels)
            d_loss = discriminator_loss(cfg, real_logit, fake_logit)
            # AC-GAN (Odena et al. 2017): the discriminator also classifies; its classifier learns on real images
            # only, so the generator cannot make its own images easy to classify by teaching it.
            d_class = xent(labels, real_class) if aux else tf.constant(0.0)
            d_total = d_loss + cfg.aux_weight * d_class
        tape = hvd.DistributedGradientTape(tape)
        d_grads = tape.gradient(d_total, disc.trainable_variables)
        d_opt.apply_gradients(zip(d_grads, disc.trainable_variables, strict=True))
        z = tf.random.normal([n, cfg.latent_dim])
        with tf.GradientTape() as tape:
            fake = gen([z, labels], training=True)
            logit, fake_class = discriminate(fake, labels)
            g_loss = generator_loss(cfg, logit)
            g_class = xent(labels, fake_class) if aux else tf.constant(0.0)
            g_total = g_loss + cfg.aux_weight * g_class
        tape = hvd.DistributedGradientTape(tape)
        g_grads = tape.gradient(g_total, gen.trainable_variables)
        g_opt.apply_gradients(zip(g_grads, gen.trainable_variables, strict=True))
        step_counter.assign_add(1)
        if ema is not None:  # decay warms up as in tf.train.ExponentialMovingAverage(num_updates=step)
            t = tf.cast(step_counter, tf.float32)
            decay = tf.minimum(cfg.ema_decay, (1.0 + t) / (10.0 + t))
            for avg, w in zip(ema.weights, gen.weights, strict=True):
                avg.assign(decay * avg + (1.0 - decay) * w)
        return (
            d_loss,
            g_loss,
            tf.reduce_mean(tf.sigmoid(real_logit)),
            tf.reduce_mean(tf.sigmoid(fake_logit)),
            d_class,
            g_class,
        )

    def to_images(pixels: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.reshape(tf.cast(pixels, tf.float32) / 127.5 - 1.0, [-1, h, w, c])
        return x, tf.cast(labels, tf.int32)

    rows = min(spec.train_rows, cfg.max_train_rows or spec.train_rows)
    steps = steps_per_epoch(rows, cfg.batch_size, size)
    epochs = max(cfg.epochs, -(-cfg.min_train_steps // steps))  # small datasets: enough steps to learn anything
    client = None
    local_dir = tempfile.mkdtemp(prefix="smspark-gan-rank0-") if rank == 0 else ""
    if rank == 0:
        os.makedirs(os.path.join(local_dir, "samples"), exist_ok=True)
        if spec.tracking_uri and spec.run_id:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=spec.tracking_uri)
    z_fixed, l_fixed = fixed_latent(cfg, k, spec.seed)
    names = ["d_loss", "g_loss", "d_real", "d_fake", "d_class_loss", "g_class_loss"]
    exported = ema if ema is not None else gen
    history: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    with petastorm_dataset(
        spec.train_url,
        feature_cols=["pixels"],
        label_col="label",
        batch_size=cfg.batch_size,
        cur_shard=rank,
        shard_count=size,
        num_epochs=None,
        shuffle=True,
        seed=spec.seed + rank,
    ) as ds:
        batches = iter(ds.map(to_images))
        for epoch in range(epochs):
            sums = np.zeros(len(names))
            t0 = time.perf_counter()
            for _ in range(steps):
                real, labels = next(batches)
                sums += np.array([float(v) for v in train_step(real, labels)])
            means = sums / steps
            avg = hvd.allreduce(tf.constant(means, dtype=tf.float64), op=hvd.Average, name=f"gan_epoch_{epoch}")
            for n, v in zip(names, avg.numpy(), strict=True):
                history[n].append(float(v))
            if rank == 0:
                log.info(
                    "GAN epoch %d/%d: %s (%.1fs)",
                    epoch + 1,
                    epochs,
                    ", ".join(f"{n} {history[n][-1]:.4f}" for n in names),
                    time.perf_counter() - t0,
                )
                from PIL import Image

                imgs = to_uint8(exported.predict([z_fixed, l_fixed], batch_size=256, verbose=0))
                png = os.path.join(local_dir, "samples", f"epoch_{epoch + 1:03d}.png")
                Image.fromarray(sample_grid(imgs, k, cfg.samples_per_class)).save(png)
                if client is not None:
                    for n in names:
                        client.log_metric(spec.run_id, n, history[n][-1], step=epoch)
                    client.log_artifact(spec.run_id, png, "samples")
    seconds = time.perf_counter() - start
    if rank == 0:
        from smspark import storage

        exported.save(os.path.join(local_dir, "generator.h5"))
        with open(os.path.join(local_dir, "history.json"), "w") as fh:
            json.dump({"history": history, "size": size, "steps_per_epoch": steps, "seconds": seconds}, fh)
        storage.upload(local_dir, spec.out_uri)
        shutil.rmtree(local_dir, ignore_errors=True)
    checksums = [float(sum(np.abs(w.numpy()).sum() for w in m.trainable_weights)) for m in (exported, disc)]
    return {
        "rank": rank,
        "size": size,
        "history": history,
        "seconds": seconds,
        "steps_per_epoch": steps,
        "weight_checksums": checksums,
    }


def evaluate_generator(
    generate: Any,
    embed_and_predict: Any,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    seed: int,
    eval_rows: int | None = None,
) -> dict[str, Any]:
    """Frechet distance of generated vs real test images on the image model's features, its floor, class accuracy.

    The (optionally ``eval_rows``-subsampled) test set is shuffled with ``seed`` and cut into halves A and B. The
    floor is ``FD(features(B), features(A))``; the generator gets B's labels, one image each, and its distance is
    ``FD(features(generated), features(A))``: same sample sizes, so the two figures are comparable.

    Args:
        generate: ``(labels int [n], seeds int [n]) -> uint8 [n, H, W, C]``.
        embed_and_predict: ``uint8 [n, H*W*C] -> (features float32 [n, d], probs float32 [n, k])``.
        x_test: uint8 ``[n, H*W*C]`` real test images; ``y_test`` int ``[n]`` their classes.

    Returns:
        ``frechet_distance``, ``frechet_floor``, ``frechet_ratio`` (distance / floor), ``class_accuracy`` (image
        model's accuracy on generated images vs the requested class), ``class_accuracy_by_class``,
        ``real_accuracy`` (the image model on real half-B images, for reference), ``eval_rows``.

    Raises:
        ValueError: fewer than 4 test images.
    """
    from smspark.models.gan import frechet_distance

    if len(x_test) < 4:
        raise ValueError(f"need at least 4 test images for the Frechet distance, got {len(x_test)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_test))
    if eval_rows is not None:
        order = order[:eval_rows]
    half = len(order) // 2
    a, b = order[:half], order[half : 2 * half]
    feats_a, _ = embed_and_predict(x_test[a])
    feats_b, probs_b = embed_and_predict(x_test[b])
    labels = y_test[b].astype(np.int32)
    seeds = seed * 1_000_003 + np.arange(len(b))
    fake = generate(labels, seeds)
    feats_g, probs_g = embed_and_predict(fake.reshape(len(fake), -1))
    fd = frechet_distance(feats_g, feats_a)
    floor = frechet_distance(feats_b, feats_a)
    pred = probs_g.argmax(axis=1)
    by_class = {int(c): float((pred[labels == c] == c).mean()) for c in range(num_classes) if np.any(labels == c)}
    return {
        "frechet_distance": fd,
        "frechet_floor": floor,
        "frechet_ratio": fd / floor if floor > 0 else float("inf"),
        "class_accuracy": float((pred == labels).mean()),
        "class_accuracy_by_class": by_class,
        "real_accuracy": float((probs_b.argmax(axis=1) == y_test[b]).mean()),
        "eval_rows": int(2 * half),
    }


def image_feature_model(cfg: Settings, features_meta: dict[str, Any]) -> tuple[Any, Any]:
    """The image champion the GAN is measured with: ``(Champion, ImagePyfunc)``.

    Raises:
        NotReady: no image champion, or one trained on another dataset, classes or input shape than
            ``features/image`` (retrain the image model first).
    """
    from smspark.scoring.udfs import load_python_model
    from smspark.train.image import incompatible_image_model
    from smspark.train.registry import NoChampionError, configure, get_champion

    try:
        champ = get_champion(configure(cfg), "image")
    except NoChampionError as exc:
        raise NotReady(f"the GAN is measured with the image model: {exc}") from exc
    model = load_python_model(champ.uri, cfg.tracking_uri(), cfg.mlflow.registry_uri)
    why = incompatible_image_model(model, features_meta)
    if why:
        raise NotReady(
            f"the image champion {champ.name} v{champ.version} cannot measure these features ({why}): "
            "train the image model on them first (`smspark train --model image`)"
        )
    return champ, model


class GanAdapter(ModelAdapter):
    """The class-conditional DCGAN (``smspark_gan``), measured with the image champion's features; baseline: a
    class-conditional Gaussian in PCA space (:mod:`smspark.models.gan_baseline`). Selection metric: Frechet distance
    on validation (lower is better)."""

    name = MODEL
    features = "image"
    candidate_name = "gan"
    selection_metric = SELECTION_METRIC
    higher_is_better = False

    def __init__(self, ctx: Any) -> None:
        from smspark.models.gan import upsampling_steps
        from smspark.train.image import features_meta

        super().__init__(ctx)
        self.meta = features_meta(ctx.features_uri)
        self.classes: list[str] = list(self.meta["classes"])
        self.shape = tuple(int(v) for v in self.meta["input_shape"])
        upsampling_steps(min(self.shape[:2]), self.cfg.models.gan)
        self.feature_champion, self.image_model = image_feature_model(self.cfg, self.meta)
        self.gen_meta = {
            "classes": self.classes,
            "image_shape": list(self.shape),
            "latent_dim": self.cfg.models.gan.latent_dim,
            "dataset": self.meta["dataset"],
        }
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._baseline: Any = None

    def rows(self) -> dict[str, int]:
        return self.split_rows()

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "dataset": self.meta["dataset"],
            "image_shape": "x".join(map(str, self.shape)),
            "num_classes": len(self.classes),
            "feature_model": f"{self.feature_champion.name}/{self.feature_champion.version}",
        }

    def tags(self) -> dict[str, str]:
        return {"dataset": str(self.meta["dataset"])}

    def train(self) -> Candidate:
        from smspark.models.media_packaging import GeneratorPyfunc
        from smspark.train.launcher import run_distributed
        from smspark.train.lifecycle import load_keras

        ctx = self.ctx
        spec = GanTrainSpec(
            cfg=self.cfg.models.gan,
            image_shape=self.shape,
            classes=self.classes,
            train_url=ctx.features("train"),
            train_rows=self.rows()["train"],
            out_uri=ctx.work("gan"),
            seed=self.cfg.train.seed,
            tracking_uri=ctx.tracking_uri or None,
            run_id=ctx.mlflow_run_id or None,
        )
        results = run_distributed(gan_worker, (spec,), num_proc=ctx.num_proc, backend=ctx.backend, spark=ctx.spark)
        generator = GeneratorPyfunc()
        generator.keras_model = load_keras(storage.join(spec.out_uri, "generator.h5"))
        generator.meta = self.gen_meta
        meta_uri = storage.write_json(ctx.work("gan", "gan_meta.json"), self.gen_meta)
        artifacts = {
            "keras_model": ctx.local(storage.join(spec.out_uri, "generator.h5")),
            "meta": ctx.local(meta_uri),
        }
        return Candidate(
            generator,
            artifacts,
            results[0]["history"],
            sorted(r["rank"] for r in results),
            max(r["seconds"] for r in results),
            {
                "weight_checksums": {r["rank"]: r["weight_checksums"] for r in results},
                "steps_per_epoch": results[0]["steps_per_epoch"],
                "feature_model": {"name": self.feature_champion.name, "version": self.feature_champion.version},
                "dataset": self.meta["dataset"],
                "image_shape": list(self.shape),
            },
        )

    def split_data(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in self._data:
            from smspark.train.image import read_pixels

            x, y, _ = read_pixels(self.ctx.features(split))
            self._data[split] = (x, y)
        return self._data[split]

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        x, y = self.split_data(split)
        ev = evaluate_generator(
            model.generate,
            self.image_model.embed_and_predict,
            x,
            y,
            len(self.classes),
            self.cfg.train.seed,
            self.cfg.models.gan.eval_rows,
        )
        ev["class_accuracy_by_class"] = {self.classes[c]: v for c, v in ev["class_accuracy_by_class"].items()}
        return ev

    def incompatible(self, champion: Any) -> str | None:
        for key in ("dataset", "image_shape", "classes"):
            if champion.meta.get(key) != self.gen_meta[key]:
                return f"it generates {key}={champion.meta.get(key)}, these features have {self.gen_meta[key]}"
        return None

    def baselines(self) -> list[Baseline]:
        from smspark.models.gan_baseline import fit_pca_gaussian

        k = self.cfg.models.gan.baseline_components
        train = self.split_frames()["train"]
        self._baseline = fit_pca_gaussian(train, self.shape, len(self.classes), k)
        return [
            Baseline(
                "pca_gaussian",
                self.evaluate(self._baseline, "val"),
                self.evaluate(self._baseline, "test"),
                {"components": k},
            )
        ]

    def package(self, candidate: Candidate) -> Package:
        import PIL

        from smspark.models.media_packaging import GeneratorPyfunc
        from smspark.train.lifecycle import pip_requirements

        sample = pd.DataFrame({"label": [0, len(self.classes) - 1], "seed": [1, 2]})
        return Package(GeneratorPyfunc(), sample, pip_requirements(f"pillow=={PIL.__version__}"))

    def plots(self, candidate: Candidate, baselines: list[Baseline], out_dir: Path) -> list[Path]:
        from PIL import Image

        from smspark.models.gan import sample_grid

        s = self.cfg.models.gan.samples_per_class
        labels = np.repeat(np.arange(len(self.classes)), s)
        seeds = self.cfg.train.seed * 7919 + np.arange(len(labels))
        pngs = []
        for title, gen in (("gan_samples", candidate.model), ("pca_gaussian_samples", self._baseline)):
            if gen is None:
                continue
            path = out_dir / f"{title}.png"
            Image.fromarray(sample_grid(gen.generate(labels, seeds), len(self.classes), s)).save(path)
            pngs.append(path)
        return pngs

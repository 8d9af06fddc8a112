"""Train the class-conditional DCGAN with Horovod (custom loop), evaluate it with the image model, register it.

Workers (:func:`gan_worker`, launched by :func:`smspark.train.launcher.run_distributed`) read their Petastorm shard
of ``features/image/train`` (``cur_shard=rank``), broadcast the initial variables of both networks and both
optimizers from rank 0 (``hvd.broadcast_variables``), then alternate a discriminator and a generator step, each with
its gradients averaged across ranks by ``hvd.DistributedGradientTape``. Rank 0 logs per-epoch losses and a grid of
samples per class (PNG) to the driver's MLflow run and saves the generator.

The driver then evaluates the generator with the image model's champion (same dataset and input shape): the
Frechet distance between the champion's penultimate-layer features of generated images and of real test images,
next to the real-vs-real floor (one half of the test set against the other, same sample sizes), and the
champion's accuracy on generated images against the requested class. The generator is registered as
``smspark_gan`` and becomes ``champion`` only with a lower Frechet distance than the current champion, whose
distance is re-measured in the same run on the same features (a champion of another dataset is replaced).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smspark.config import GanConfig, Settings

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
        out_dir: rank 0 writes ``generator.h5``, ``history.json`` and ``samples/epoch_NNN.png`` here.
        tracking_uri, run_id: when set, rank 0 logs per-epoch metrics and sample grids to that MLflow run.
    """

    cfg: GanConfig
    image_shape: tuple[int, int, int]
    classes: list[str]
    train_url: str
    train_rows: int
    out_dir: str
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
    if rank == 0:
        os.makedirs(os.path.join(spec.out_dir, "samples"), exist_ok=True)
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
                png = os.path.join(spec.out_dir, "samples", f"epoch_{epoch + 1:03d}.png")
                Image.fromarray(sample_grid(imgs, k, cfg.samples_per_class)).save(png)
                if client is not None:
                    for n in names:
                        client.log_metric(spec.run_id, n, history[n][-1], step=epoch)
                    client.log_artifact(spec.run_id, png, "samples")
    seconds = time.perf_counter() - start
    if rank == 0:
        exported.save(os.path.join(spec.out_dir, "generator.h5"))
        with open(os.path.join(spec.out_dir, "history.json"), "w") as fh:
            json.dump({"history": history, "size": size, "steps_per_epoch": steps, "seconds": seconds}, fh)
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


def _champion_frechet(
    client: Any, cfg: Settings, gen_meta: dict[str, Any], image_model: Any, x_test: np.ndarray, y_test: np.ndarray
) -> float | None:
    """The current GAN champion's Frechet distance re-measured with this run's image model, test images and seeds.

    Frechet distances are only comparable on the same features, and the image model behind them may have changed
    since the champion was trained. None when there is no champion or it generates another dataset or shape.
    """
    from smspark.scoring.udfs import load_python_model
    from smspark.train.registry import NoChampionError, get_champion

    try:
        champ = get_champion(client, MODEL)
    except NoChampionError:
        return None
    previous = load_python_model(champ.uri, cfg.tracking_uri(), cfg.mlflow.registry_uri)
    same = all(previous.meta.get(k) == gen_meta[k] for k in ("dataset", "image_shape", "classes"))
    if not same:
        return None
    ev = evaluate_generator(
        previous.generate,
        image_model.embed_and_predict,
        x_test,
        y_test,
        len(gen_meta["classes"]),
        cfg.train.seed,
        cfg.models.gan.eval_rows,
    )
    log.info(
        "GAN champion v%s re-measured on this run's features: Frechet distance %.3f",
        champ.version,
        ev["frechet_distance"],
    )
    return float(ev["frechet_distance"])


def train_gan(spark: Any, cfg: Settings, run_dir: Path, num_proc: int, backend: str) -> dict[str, Any]:
    """Train, evaluate, log, register the GAN. Returns the manifest record.

    Raises:
        ValueError: the image champion was trained on another dataset or input shape than ``features/image``
            (retrain the image model first), or the image side does not suit ``models.gan.gen_filters``.
        smspark.train.registry.NoChampionError: no image model champion to evaluate with.
    """
    import mlflow
    import pyarrow.parquet as pq
    from PIL import Image

    from smspark.features.media import SPLITS
    from smspark.models.gan import sample_grid, upsampling_steps
    from smspark.models.media_packaging import GeneratorPyfunc
    from smspark.scoring.udfs import load_python_model
    from smspark.train.image import features_meta, mlflow_key, promote_on_dataset, read_pixels
    from smspark.train.launcher import run_distributed
    from smspark.train.registry import configure, get_champion, registered_name
    from smspark.train.sentiment import pip_requirements

    gcfg = cfg.models.gan
    feats = cfg.layout.features / "image"
    meta = features_meta(feats)
    classes = list(meta["classes"])
    shape = tuple(int(v) for v in meta["input_shape"])
    upsampling_steps(min(shape[:2]), gcfg)
    client = configure(cfg)
    champ = get_champion(client, "image")
    image_model = load_python_model(champ.uri, cfg.tracking_uri(), cfg.mlflow.registry_uri)
    if image_model.meta.get("dataset") != meta["dataset"] or list(image_model.input_shape) != list(shape):
        raise ValueError(
            f"the image champion {champ.name} v{champ.version} was trained on {image_model.meta.get('dataset')} "
            f"{list(image_model.input_shape)}, but features/image hold {meta['dataset']} {list(shape)}: "
            "train the image model on these features first (`smspark train --model image`)"
        )
    rows = {s: pq.read_table(str(feats / s), columns=["label"]).num_rows for s in SPLITS}
    run_dir.mkdir(parents=True, exist_ok=True)
    gen_meta = {
        "classes": classes,
        "image_shape": list(shape),
        "latent_dim": gcfg.latent_dim,
        "dataset": meta["dataset"],
    }
    with mlflow.start_run(run_name=f"gan-{meta['dataset']}-np{num_proc}") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                **gcfg.model_dump(),
                "dataset": meta["dataset"],
                "image_shape": "x".join(map(str, shape)),
                "num_classes": len(classes),
                "num_proc": num_proc,
                "backend": backend,
                "lr_scaled": gcfg.learning_rate * num_proc,
                "rows_train": rows["train"],
                "rows_test": rows["test"],
                "feature_model": f"{champ.name}/{champ.version}",
            }
        )
        mlflow.set_tag("dataset", meta["dataset"])
        spec = GanTrainSpec(
            cfg=gcfg,
            image_shape=shape,
            classes=classes,
            train_url=(feats / "train").as_uri(),
            train_rows=rows["train"],
            out_dir=str(Path(tmp) / "out"),
            seed=cfg.train.seed,
            tracking_uri=mlflow.get_tracking_uri(),
            run_id=run.info.run_id,
        )
        results = run_distributed(gan_worker, (spec,), num_proc=num_proc, backend=backend, spark=spark)
        import tf_keras

        generator = GeneratorPyfunc()
        generator.keras_model = tf_keras.models.load_model(str(Path(spec.out_dir) / "generator.h5"), compile=False)
        generator.meta = gen_meta
        x_test, y_test, _ = read_pixels(feats / "test")
        ev = evaluate_generator(
            generator.generate,
            image_model.embed_and_predict,
            x_test,
            y_test,
            len(classes),
            cfg.train.seed,
            gcfg.eval_rows,
        )
        mlflow.log_metrics({k: v for k, v in ev.items() if isinstance(v, float)})
        mlflow.log_metrics(
            {mlflow_key(f"class_accuracy_{classes[c]}"): v for c, v in ev["class_accuracy_by_class"].items()}
        )
        beats_floor_ratio = ev["frechet_ratio"]
        log.info(
            "GAN Frechet distance %.3f vs real-vs-real floor %.3f (x%.1f); image model accuracy on generated "
            "images %.4f (on real test images %.4f)",
            ev["frechet_distance"],
            ev["frechet_floor"],
            beats_floor_ratio,
            ev["class_accuracy"],
            ev["real_accuracy"],
        )
        final_z = np.random.default_rng(cfg.train.seed + 1).standard_normal(
            (len(classes) * gcfg.samples_per_class, gcfg.latent_dim)
        )
        final_labels = np.repeat(np.arange(len(classes)), gcfg.samples_per_class)
        final = generator.keras_model.predict([final_z.astype(np.float32), final_labels.astype(np.int32)], verbose=0)
        from smspark.models.gan import to_uint8

        grid_png = run_dir / "gan_samples.png"
        Image.fromarray(sample_grid(to_uint8(final), len(classes), gcfg.samples_per_class)).save(grid_png)
        mlflow.log_artifact(str(grid_png), "samples")
        mlflow.log_artifact(str(Path(spec.out_dir) / "history.json"))
        meta_path = Path(tmp) / "gan_meta.json"
        meta_path.write_text(json.dumps(gen_meta, indent=2))
        import pandas as pd
        import PIL

        sample = pd.DataFrame({"label": [0, len(classes) - 1], "seed": [1, 2]})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=GeneratorPyfunc(),
            artifacts={"keras_model": str(Path(spec.out_dir) / "generator.h5"), "meta": str(meta_path)},
            signature=mlflow.models.infer_signature(sample, generator.predict(None, sample)),
            pip_requirements=[*pip_requirements(), f"pillow=={PIL.__version__}"],
            registered_model_name=registered_name(MODEL),
        )
        version = str(info.registered_model_version)
        champion_fd = _champion_frechet(client, cfg, gen_meta, image_model, x_test, y_test)
        if champion_fd is not None:
            mlflow.log_metric("champion_frechet_distance", champion_fd)
        champion = promote_on_dataset(
            client,
            MODEL,
            version,
            SELECTION_METRIC,
            ev["frechet_distance"],
            meta["dataset"],
            higher_is_better=False,
            champion_value=champion_fd,
        )
    return {
        "mlflow_run_id": run.info.run_id,
        "registered_model": registered_name(MODEL),
        "version": version,
        "champion": champion,
        "dataset": meta["dataset"],
        "image_shape": list(shape),
        "feature_model": {"name": champ.name, "version": champ.version},
        "num_proc": num_proc,
        "backend": backend,
        "ranks": sorted(r["rank"] for r in results),
        "weight_checksums": {r["rank"]: r["weight_checksums"] for r in results},
        "train_seconds": round(max(r["seconds"] for r in results), 2),
        "steps_per_epoch": results[0]["steps_per_epoch"],
        "rows": {"train": rows["train"], "test": rows["test"]},
        "history": results[0]["history"],
        "metrics": {
            "gan": {
                "frechet_distance": ev["frechet_distance"],
                "frechet_ratio_to_floor": ev["frechet_ratio"],
                "class_accuracy": ev["class_accuracy"],
                "class_accuracy_by_class": {classes[c]: v for c, v in ev["class_accuracy_by_class"].items()},
                "eval_rows": ev["eval_rows"],
            },
            "real_vs_real_floor": {
                "frechet_distance": ev["frechet_floor"],
                "image_model_accuracy": ev["real_accuracy"],
            },
        },
        "plots": [str(grid_png)],
    }

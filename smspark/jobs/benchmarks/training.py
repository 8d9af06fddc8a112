"""Training-input benchmarks of ``smspark bench suite``: the sentiment CNN trained for a fixed number of steps on
``features/sentiment/train``, read through the Petastorm reader (:func:`smspark.train.readers.petastorm_dataset`) on
Horovod workers started by the real launcher (:func:`smspark.train.launcher.run_distributed`).

- ``petastorm_vs_memory``: on one worker, Petastorm-fed steps next to steps fed from the same rows held in memory as
  numpy arrays (``tf.data.Dataset.from_tensor_slices``), alternately in the same process.
- ``horovod_2v1``: samples/s of two workers next to one, every worker with one TensorFlow thread (inter- and
  intra-op) and the same steps and batch size per worker.

Times are measured inside the workers (the steps alone; worker start-up, TensorFlow import, the model build and
``warmup_steps`` steps are left out) and reported back to the driver, with the CPU seconds the worker process used
over the same steps (user + system, every thread: TensorFlow's, the reader's, Horovod's): a worker whose CPU
seconds fall short of its wall seconds waited (on the other rank or on its input).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from smspark import storage
from smspark.jobs.benchmarks.timing import Timed, side_by_side
from smspark.jobs.common import JobContext, UserError

#: One thread per worker for TensorFlow and for the BLAS/OpenMP pools below it.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}


@dataclass
class FeedSpec:
    """What every worker needs (pickled to each rank).

    Attributes:
        train_url: ``features/sentiment/train`` (``token_ids`` int32 ``[seq_len]``, ``label`` int32).
        model_cfg: ``models.sentiment`` config (architecture of the Kim CNN).
        vocab_size: rows of the embedding.
        batch_size: rows per step on each worker.
        steps: timed steps per worker and repetition.
        warmup_steps: untimed steps first (graph tracing, reader start).
        repeat: repetitions of each side (Petastorm-fed, in-memory) inside the worker.
        seed: shuffle seed.
    """

    train_url: str
    model_cfg: Any
    vocab_size: int
    batch_size: int
    steps: int
    warmup_steps: int
    repeat: int
    seed: int = 42


def _memory_arrays(url: str, rank: int, size: int) -> tuple[Any, Any]:
    """This rank's rows of the feature table as numpy arrays: ``token_ids`` int32 ``[n, seq_len]``, ``label`` int32
    ``[n]`` (every ``size``-th row from ``rank``)."""
    import numpy as np

    table = storage.read_parquet(url, columns=["token_ids", "label"])
    x = np.asarray(table.column("token_ids").to_pylist(), dtype=np.int32)[rank::size]
    y = table.column("label").to_numpy().astype(np.int32)[rank::size]
    return x, y


def feed_worker(spec: FeedSpec) -> dict[str, Any]:
    """One Horovod rank: build the CNN, run ``warmup_steps`` then time ``steps`` training steps per repetition
    reading Petastorm and steps fed from in-memory arrays, alternately.

    Returns ``{"rank", "size", "petastorm_seconds": [...], "memory_seconds": [...], "petastorm_cpu_seconds": [...],
    "memory_cpu_seconds": [...], "samples_per_step", "tf_threads_inter_intra"}`` (seconds per repetition; CPU
    seconds: user + system of the whole worker process over the same steps).
    """
    os.environ.update({"TF_USE_LEGACY_KERAS": "1", **ONE_THREAD_ENV})
    import horovod.tensorflow as hvd
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    import tf_keras

    from smspark.schemas import SENTIMENT_CLASSES
    from smspark.train.hvd_callbacks import distributed_optimizer
    from smspark.train.readers import petastorm_dataset, untuned_options
    from smspark.train.sentiment import build_with_vectors

    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    tf_keras.utils.set_random_seed(spec.seed)
    model = build_with_vectors(spec.model_cfg, spec.vocab_size, len(SENTIMENT_CLASSES), None)
    model.compile(
        optimizer=distributed_optimizer(tf_keras.optimizers.Adam(1e-3 * size)), loss="sparse_categorical_crossentropy"
    )

    def run_steps(it: Any, n: int) -> Timed:
        cpu, start = os.times(), time.perf_counter()
        for _ in range(n):
            x, y = next(it)
            model.train_on_batch(x, y)
        seconds, end = time.perf_counter() - start, os.times()
        return Timed(seconds, {"cpu": end.user - cpu.user + end.system - cpu.system})

    common = dict(batch_size=spec.batch_size, cur_shard=rank, shard_count=size, num_epochs=None, seed=spec.seed + rank)
    with petastorm_dataset(spec.train_url, feature_cols=["token_ids"], label_col="label", **common) as ds:
        from_reader = iter(ds)
        run_steps(from_reader, spec.warmup_steps)
        x, y = _memory_arrays(spec.train_url, rank, size)
        mem = tf.data.Dataset.from_tensor_slices((x, y)).repeat().shuffle(min(len(x), 10_000), seed=spec.seed)
        from_memory = iter(
            mem.batch(spec.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE).with_options(untuned_options())
        )
        run_steps(from_memory, spec.warmup_steps)
        pair = side_by_side(
            ("petastorm", lambda: run_steps(from_reader, spec.steps)),
            ("memory", lambda: run_steps(from_memory, spec.steps)),
            spec.repeat,
        )
    cpu = {name: [d["cpu"] for d in pair.details[name]] for name in ("petastorm", "memory")}
    return {
        "rank": rank,
        "size": size,
        "petastorm_seconds": pair.seconds["petastorm"],
        "memory_seconds": pair.seconds["memory"],
        "petastorm_cpu_seconds": cpu["petastorm"],
        "memory_cpu_seconds": cpu["memory"],
        "samples_per_step": spec.batch_size,
        "tf_threads_inter_intra": [
            tf.config.threading.get_inter_op_parallelism_threads(),
            tf.config.threading.get_intra_op_parallelism_threads(),
        ],
    }


def feed_spec(ctx: JobContext, steps: int, warmup_steps: int, repeat: int) -> FeedSpec:
    """The :class:`FeedSpec` for the data root's ``features/sentiment`` (``models.sentiment`` batch size).

    Raises:
        UserError: no ``features/sentiment`` (run ``smspark features --models sentiment``).
    """
    out = storage.join(ctx.layout.features, "sentiment")
    if not storage.exists(storage.join(out, "vocab.json")) or not storage.exists(storage.join(out, "train")):
        raise UserError(f"no sentiment features at {out}: run `smspark features --models sentiment`")
    mcfg = ctx.cfg.models.sentiment
    vocab = storage.read_json(storage.join(out, "vocab.json"))["vocab"]
    return FeedSpec(
        train_url=storage.join(out, "train"),
        model_cfg=mcfg,
        vocab_size=len(vocab),
        batch_size=mcfg.batch_size,
        steps=steps,
        warmup_steps=warmup_steps,
        repeat=repeat,
        seed=ctx.cfg.train.seed,
    )


def launch(ctx: JobContext, spec: FeedSpec, num_proc: int) -> Timed:
    """:func:`feed_worker` on ``num_proc`` Horovod workers (``train.backend``); the seconds are those of the
    slowest rank's median Petastorm repetition, the details every rank's result."""
    import statistics

    from smspark.train.launcher import run_distributed

    results = run_distributed(
        feed_worker, (spec,), num_proc=num_proc, backend=ctx.cfg.train.backend, spark=ctx.spark, env=ONE_THREAD_ENV
    )
    slowest = max(statistics.median(r["petastorm_seconds"]) for r in results)
    return Timed(slowest, {"ranks": results})

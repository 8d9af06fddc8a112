"""Training infrastructure: Petastorm readers, Horovod callbacks and the distributed launcher."""

from __future__ import annotations

import os
import sys

import cloudpickle
import numpy as np
import pytest

import smspark  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.train.readers import parquet_row_count, petastorm_dataset, steps_per_epoch

# pyarrow 14 deprecation warnings raised through Petastorm 0.13.1 are expected with this stack.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

# The worker function below is defined in this test module, which Horovod workers cannot import: ship it by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SEQ_LEN = 16
VOCAB = 40
ROWS = 480


@pytest.fixture(scope="session")
def _spark():
    from pyspark.sql import SparkSession

    # Spark's Python workers (which run Horovod's task code) must be this interpreter; a builder-side
    # spark.pyspark.python conf is ignored, only the environment variable counts.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("test_train_infra")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield spark
    spark.stop()


def _write_tokens(spark, path, rows: int = ROWS, files: int = 4) -> str:
    """A toy text-classification table: ``token_ids array<int>`` of length SEQ_LEN, ``label int`` in {0, 1, 2},
    ``weight float``, ``id int``; the label is learnable (it is the token range the ids come from)."""
    from pyspark.sql import functions as F

    label = (F.col("id") % 3).cast("int")
    tokens = [((label * 13 + (F.col("id") * (i + 7)) % 13) % VOCAB).cast("int") for i in range(SEQ_LEN)]
    df = spark.range(rows).select(
        F.col("id").cast("int").alias("id"),
        F.array(*tokens).alias("token_ids"),
        label.alias("label"),
        (F.col("id") / rows).cast("float").alias("weight"),
    )
    df.repartition(files).write.mode("overwrite").parquet(str(path))
    return path.resolve().as_uri()


@pytest.fixture(scope="module")
def tokens_url(_spark, tmp_path_factory):
    return _write_tokens(_spark, tmp_path_factory.mktemp("tokens") / "train")


def test_steps_per_epoch():
    assert steps_per_epoch(1000, 32, 2) == 15
    assert steps_per_epoch(10, 32, 2) == 1
    assert steps_per_epoch(64, 32, 1) == 2
    with pytest.raises(ValueError):
        steps_per_epoch(10, 0, 1)


def test_parquet_row_count(tokens_url):
    assert parquet_row_count(tokens_url) == ROWS


def test_reader_yields_dense_int32_arrays(tokens_url):
    import tensorflow as tf

    with petastorm_dataset(
        tokens_url, feature_cols=["token_ids"], label_col="label", batch_size=32, cur_shard=0, shard_count=1
    ) as ds:
        x_spec, y_spec = ds.element_spec
        assert x_spec.shape.as_list() == [32, SEQ_LEN] and x_spec.dtype == tf.int32
        # no autotune optimisation thread: destroying a training iterator must not wait for its sleep
        assert ds.options().autotune.enabled is False and ds.map(lambda x, y: x).options().autotune.enabled is False
        assert y_spec.shape.as_list() == [32] and y_spec.dtype == tf.int32
        x, y = next(iter(ds))
        assert x.shape == (32, SEQ_LEN) and x.dtype == tf.int32
        assert int(tf.reduce_max(x)) < VOCAB and set(np.unique(y.numpy())) <= {0, 1, 2}

    with petastorm_dataset(
        tokens_url,
        feature_cols=["token_ids", "weight"],
        label_col=None,
        batch_size=8,
        cur_shard=0,
        shard_count=1,
        num_epochs=1,
    ) as ds:
        spec = ds.element_spec
        assert set(spec) == {"token_ids", "weight"}
        assert spec["token_ids"].shape.as_list() == [None, SEQ_LEN] and spec["weight"].dtype == tf.float32


def test_two_shards_cover_every_row_once(tokens_url):
    seen = []
    for shard in range(2):
        with petastorm_dataset(
            tokens_url,
            feature_cols=["token_ids"],
            label_col="id",
            batch_size=50,
            cur_shard=shard,
            shard_count=2,
            num_epochs=1,
            shuffle=False,
        ) as ds:
            ids = np.concatenate([y.numpy() for _, y in ds])
        assert 0 < len(ids) < ROWS
        seen.append(ids)
    all_ids = np.concatenate(seen)
    assert len(all_ids) == ROWS
    assert sorted(all_ids.tolist()) == list(range(ROWS))


def test_too_few_row_groups_for_shards(_spark, tmp_path):
    url = _write_tokens(_spark, tmp_path / "one_file", rows=20, files=1)
    with pytest.raises(ValueError, match="row group"):
        with petastorm_dataset(
            url, feature_cols=["token_ids"], label_col="label", batch_size=4, cur_shard=1, shard_count=2
        ):
            pass


def test_unknown_column(tokens_url):
    with pytest.raises(ValueError, match="nope"):
        with petastorm_dataset(
            tokens_url, feature_cols=["nope"], label_col="label", batch_size=4, cur_shard=0, shard_count=1
        ):
            pass


def test_cosine_decay_falls_from_the_rate_to_zero_and_a_resumed_run_continues_the_curve():
    import tf_keras

    from smspark.train.hvd_callbacks import CosineDecayCallback, cosine_learning_rate

    assert cosine_learning_rate(0.1, 0, 10) == pytest.approx(0.1)
    assert cosine_learning_rate(0.1, 5, 10) == pytest.approx(0.05)
    assert cosine_learning_rate(0.1, 10, 10) == pytest.approx(0.0, abs=1e-12)
    assert cosine_learning_rate(0.1, 25, 10) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        cosine_learning_rate(0.1, 0, 0)
    with pytest.raises(ValueError):
        CosineDecayCallback(epochs=0, steps_per_epoch=3)

    x = np.arange(12, dtype="float32").reshape(12, 1) / 12
    y = (x[:, 0] > 0.5).astype("float32")

    def fit(initial_epoch: int) -> list[float]:
        seen: list[float] = []
        record = tf_keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda b, logs: seen.append(float(model.optimizer.learning_rate.numpy()))
        )
        model = tf_keras.Sequential([tf_keras.Input(shape=(1,)), tf_keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=tf_keras.optimizers.SGD(0.2), loss="binary_crossentropy")
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=2,
            initial_epoch=initial_epoch,
            shuffle=False,
            verbose=0,
            callbacks=[CosineDecayCallback(epochs=2, steps_per_epoch=3), record],
        )
        return seen

    full = fit(0)
    assert full == pytest.approx([cosine_learning_rate(0.2, s, 6) for s in range(6)], rel=1e-6)
    assert full[0] == pytest.approx(0.2) and all(a > b for a, b in zip(full[:-1], full[1:], strict=True))
    assert fit(1) == pytest.approx(full[3:], rel=1e-6)  # resumed after epoch 1: the same rates as steps 3..5


def _train_worker(url: str, rows: int, batch_size: int, epochs: int) -> dict:
    """Per-rank training: tiny embedding classifier over this rank's Petastorm shard."""
    import horovod.tensorflow as hvd
    import tensorflow as tf
    import tf_keras

    from smspark.train.hvd_callbacks import (
        BroadcastGlobalVariablesCallback,
        LearningRateWarmupCallback,
        MetricAverageCallback,
        distributed_optimizer,
        scale_learning_rate,
    )
    from smspark.train.readers import petastorm_dataset, steps_per_epoch

    hvd.init()
    tf.random.set_seed(1234 + hvd.rank())  # different initial weights per rank: the broadcast must fix them
    model = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(SEQ_LEN,), dtype="int32"),
            tf_keras.layers.Embedding(VOCAB, 8),
            tf_keras.layers.GlobalAveragePooling1D(),
            tf_keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=distributed_optimizer(tf_keras.optimizers.Adam(scale_learning_rate(0.01))),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    steps = steps_per_epoch(rows, batch_size, hvd.size())
    with petastorm_dataset(
        url,
        feature_cols=["token_ids"],
        label_col="label",
        batch_size=batch_size,
        cur_shard=hvd.rank(),
        shard_count=hvd.size(),
        seed=hvd.rank(),
    ) as ds:
        history = model.fit(
            ds,
            steps_per_epoch=steps,
            epochs=epochs,
            callbacks=[
                BroadcastGlobalVariablesCallback(0),
                MetricAverageCallback(),
                LearningRateWarmupCallback(warmup_epochs=1, steps_per_epoch=steps),
            ],
            verbose=0,
        )
    return {
        "rank": hvd.rank(),
        "size": hvd.size(),
        "weights": model.get_weights(),
        "history": history.history,
        "key": os.environ.get("SMSPARK_PSEUDONYM_KEY"),
    }


def _check_two_rank_results(results: list[dict]) -> None:
    assert [r["rank"] for r in results] == [0, 1]
    assert [r["size"] for r in results] == [2, 2]
    w0, w1 = results[0]["weights"], results[1]["weights"]
    assert len(w0) == len(w1) == 3
    for a, b in zip(w0, w1, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    # MetricAverageCallback: every rank reports the same (averaged) epoch metrics
    assert results[0]["history"]["loss"] == pytest.approx(results[1]["history"]["loss"])
    assert results[0]["history"]["accuracy"] == pytest.approx(results[1]["history"]["accuracy"])
    # warm-up ends at the scaled rate, 0.01 * size
    assert results[0]["history"]["lr"][-1] == pytest.approx(0.02)


@pytest.mark.slow
def test_run_distributed_spark_two_workers(_spark, tokens_url):
    from smspark.train.launcher import run_distributed

    results = run_distributed(_train_worker, (tokens_url, ROWS, 16, 2), num_proc=2, backend="spark", spark=_spark)
    _check_two_rank_results(results)
    assert [r["key"] for r in results] == ["", ""]  # the ranks' pseudonymisation key is blanked


@pytest.mark.slow
def test_run_distributed_spark_one_worker(_spark, tokens_url):
    from smspark.train.launcher import run_distributed

    results = run_distributed(_train_worker, (tokens_url, ROWS, 32, 1), num_proc=1, backend="spark", spark=_spark)
    assert [(r["rank"], r["size"]) for r in results] == [(0, 1)]


@pytest.mark.slow
def test_run_distributed_horovodrun_two_workers(tokens_url):
    from smspark.train.launcher import run_distributed

    results = run_distributed(_train_worker, (tokens_url, ROWS, 16, 2), num_proc=2, backend="horovodrun")
    _check_two_rank_results(results)


def test_run_distributed_rejects_bad_arguments():
    from smspark.train.launcher import run_distributed

    with pytest.raises(ValueError, match="backend"):
        run_distributed(print, num_proc=1, backend="mpi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_proc"):
        run_distributed(print, num_proc=0, backend="horovodrun")


def test_horovodrun_workers_never_get_the_pseudonymisation_key():
    from smspark.train.launcher import _horovodrun_env

    base = {"SMSPARK_PSEUDONYM_KEY": "secret", "PATH": "/usr/bin", "PYTHONPATH": "/x"}
    env = _horovodrun_env(base, {"TF_USE_LEGACY_KERAS": "1", "SMSPARK_PSEUDONYM_KEY": "again"})
    assert "SMSPARK_PSEUDONYM_KEY" not in env
    assert "secret" not in env.values() and "again" not in env.values()
    assert env["PATH"] == "/usr/bin" and env["TF_USE_LEGACY_KERAS"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep)[-1] == "/x"


def test_a_failed_launch_is_described_in_one_line():
    from smspark.train.launcher import describe_failure

    gloo = RuntimeError(
        "Horovod detected that one or more processes exited with non-zero status, thus causing the job to be "
        "terminated. The first process to do so was:\nProcess name: 1\nExit code: 137\n"
    )
    assert describe_failure(gloo) == "Horovod rank 1 died (exit code 137, SIGKILL)"
    raised = RuntimeError("... The first process to do so was:\nProcess name: 0\nExit code: 1\n")
    assert describe_failure(raised) == "Horovod rank 0 failed (exit code 1)"
    assert describe_failure(ValueError("\nno slots\nmore")) == "Horovod run failed (ValueError: no slots)"

"""End to end on a real Fashion-MNIST slice: the image CNN and the conditional GAN each trained by 2 Horovod workers
(Petastorm shards), registered and promoted; nightly scoring with embeddings and similar images; synthetic images
flagged and kept out of silver."""

from __future__ import annotations

import datetime as dt
import math

import mlflow
import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.config import load_config
from smspark.jobs import bench, train
from smspark.jobs.generate import generate
from smspark.jobs.steps import media as steps
from tests.test_media_ingest import emoji_slice, fashion_slice, make_context

pytestmark = pytest.mark.slow

DAY = dt.date(2026, 11, 22)
SMALL = [
    "train.num_proc=2",
    "models.image.epochs=2",
    "models.image.min_train_steps=120",  # 540 training images / (32 x 2 workers) = 8 steps per epoch: 15 epochs
    "models.image.batch_size=32",
    "models.image.filters=[16,32]",
    "models.image.embedding_dim=32",
    "models.image.baseline_max_iter=15",
    "models.image.baseline_reg_grid=[0.001]",
    "models.gan.epochs=1",
    "models.gan.min_train_steps=150",  # 6 steps per epoch: 25 epochs
    "models.gan.max_train_rows=384",
    "models.gan.batch_size=32",
    "models.gan.latent_dim=16",
    "models.gan.gen_filters=[32,16]",
    "models.gan.disc_filters=[16,32]",
    "models.gan.samples_per_class=2",
    # 150 steps of tiny networks: at the default rate (2e-4) the class conditioning is not learnt yet (class accuracy
    # 0.09-0.15, with or without the auxiliary classifier); at 1e-3 with the AC-GAN head it reached 0.71 (FD 6.1)
    "models.gan.learning_rate=0.001",
    "models.gan.aux_weight=1.0",
]


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    """ingest -> etl -> features -> train image -> train gan on 600 + 150 real images; returns (cfg, records)."""
    root = tmp_path_factory.mktemp("image_gan") / "data"
    fashion_slice(root / "landing" / "images" / "fashion_mnist", 600, 150)
    emoji_slice(root / "landing" / "images" / "emoji", {"flags": 12, "food_and_drink": 12})  # a source not trained on
    cfg = load_config(None, [f"data.root={root}", "spark.master=local[2]", *SMALL])
    ctx = make_context(cfg, spark, DAY)
    steps.ingest(ctx)
    steps.etl(ctx)
    steps.features_image(ctx)
    image = train.run(ctx, "image")
    gan = train.run(ctx, "gan")
    return cfg, ctx, image, gan


def test_image_cnn_trained_by_two_workers_next_to_its_baseline(trained):
    cfg, ctx, image, _ = trained
    rows = image["rows"]
    assert image["ranks"] == [0, 1] and rows["test"] == 150 and rows["train"] + rows["val"] == 600
    assert 50 <= rows["val"] <= 70  # about 10% of every class, carved from the official training split
    assert image["registered_model"] == "smspark_image" and image["version"] == "1"
    assert image["champion"]["promoted"] and image["selection"]["metric"] == "macro_f1"
    assert image["selection"]["split"] == "val"
    assert image["training"]["epochs_max"] == 15 and 1 <= len(image["history"]["loss"]) <= 15
    cnn, base = image["metrics"]["cnn"], image["metrics"]["pixel_logreg"]
    for m in (cnn, base):
        assert {f"f1_{c}" for c in image["classes"]} <= set(m)
    # the trivial reference: 1 / classes (10 balanced classes); a CNN whose batch-norm statistics never settled
    # predicted one class for everything (accuracy about 0.1)
    assert cnn["accuracy"] > 0.5 and cnn["macro_f1"] > 0.4, cnn
    assert base["accuracy"] > 0.5  # LogisticRegression on real pixels learns even from 540 images
    assert ctx.manifest.data["metrics"]["image"]["cnn"] == cnn
    run = mlflow.get_run(image["mlflow_run_id"])
    assert run.data.metrics["test_macro_f1"] == pytest.approx(cnn["macro_f1"])
    assert run.data.metrics["baseline_pixel_logreg_test_macro_f1"] == pytest.approx(base["macro_f1"])
    assert run.data.tags["dataset"] == "fashion_mnist"
    plots = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/cm_cnn.png", "plots/cm_pixel_logreg.png"}
    # the registered pyfunc scores silver rows of any size: label, confidence, embedding
    model = mlflow.pyfunc.load_model("models:/smspark_image@champion")
    rgb = np.full((40, 30, 3), 200, np.uint8).tobytes()
    out = model.predict(pd.DataFrame({"pixels": [rgb], "height": [40], "width": [30], "channels": [3]}))
    assert out.loc[0, "label"] in image["classes"] and 0 < out.loc[0, "confidence"] <= 1
    assert len(out.loc[0, "embedding"]) == cfg.models.image.embedding_dim


def test_gan_trained_by_two_workers_with_identical_weights(trained):
    _, _, _, gan = trained
    assert gan["ranks"] == [0, 1] and gan["version"] == "1" and gan["champion"]["promoted"]
    assert gan["steps_per_epoch"] == 384 // (32 * 2)  # max_train_rows caps the epoch
    assert len(gan["history"]["d_loss"]) == 25  # raised to min_train_steps
    a, b = gan["weight_checksums"][0], gan["weight_checksums"][1]
    assert a == pytest.approx(b, rel=1e-6)  # broadcast start + averaged gradients: the ranks never diverge
    m = gan["metrics"]
    fd, floor = m["gan"]["frechet_distance"], m["gan"]["frechet_floor"]
    assert math.isfinite(fd) and math.isfinite(floor) and fd >= 0 and floor > 0
    # generated images are recognised as the requested class far above chance (1 / 10)
    assert m["gan"]["class_accuracy"] > 0.3, m["gan"]
    assert m["gan"]["eval_rows"] == 150
    base = m["pca_gaussian"]
    assert math.isfinite(base["frechet_distance"]) and base["class_accuracy"] > 0.1  # the PCA Gaussian knows classes
    assert gan["selection"] == {
        "metric": "frechet_distance",
        "split": "val",
        "higher_is_better": False,
        "candidate": gan["val"]["gan"]["frechet_distance"],
        "champion": None,
        "baselines": {"pca_gaussian": gan["val"]["pca_gaussian"]["frechet_distance"]},
    }
    client = mlflow.MlflowClient()
    samples = {x.path for x in client.list_artifacts(gan["mlflow_run_id"], "samples")}
    assert "samples/epoch_001.png" in samples
    plots = {x.path for x in client.list_artifacts(gan["mlflow_run_id"], "plots")}
    assert plots == {"plots/gan_samples.png", "plots/pca_gaussian_samples.png"}
    run = client.get_run(gan["mlflow_run_id"])
    assert run.data.metrics["test_frechet_distance"] == pytest.approx(fd)
    assert run.data.params["feature_model"] == "smspark_image/1"


def test_nightly_scoring_labels_embeds_and_finds_neighbours(spark, trained):
    cfg, ctx, _, _ = trained
    rec = steps.score(ctx)
    silver = tables.read(spark, storage.join(cfg.layout.silver, "media"))
    n = silver.where(F.col("source") == "fashion_mnist").count()
    n_emoji = silver.where(F.col("source") == "emoji").count()
    counts = rec["counts"]
    assert counts["reconciled"] and counts["scored"] == n == 750
    assert counts["not_labelled_other_source"] == n_emoji == 24 and counts["not_labelled_by_source"] == {"emoji": 24}
    assert counts["rows_in"] == counts["rows_out"] == n + n_emoji
    labels = tables.read(spark, storage.join(cfg.layout.gold, "media_labels")).where(F.col("dt") == F.lit(DAY))
    # the emoji: no labels of the Fashion-MNIST classes, no embedding, the reason instead
    emoji = labels.where(F.col("source") == "emoji")
    assert emoji.count() == 24
    empty = F.col("label").isNull() & F.col("confidence").isNull() & F.col("embedding").isNull()
    assert emoji.where(empty).count() == 24
    assert {r[0] for r in emoji.select("reason").distinct().collect()} == {"no model trained on source emoji"}
    labels = labels.where(F.col("source") == "fashion_mnist")
    assert labels.where(F.col("reason").isNotNull() | F.col("label").isNull()).count() == 0
    row = labels.first()
    assert len(row["embedding"]) == cfg.models.image.embedding_dim and 0 < row["confidence"] <= 1
    assert row["model_name"] == "smspark_image" and row["model_version"] == "1"
    similar = tables.read(spark, storage.join(cfg.layout.gold, "media_similar")).where(F.col("dt") == F.lit(DAY))
    assert similar.count() == n * cfg.models.image.neighbours and similar.where(F.col("source") == "emoji").count() == 0
    assert similar.where(F.col("media_id") == F.col("neighbour_id")).count() == 0
    assert similar.groupBy("media_id").agg(F.max("rank").alias("k")).where(F.col("k") != 5).count() == 0
    # the next date, same champion and images: both tables are copied, no model loaded
    nxt = make_context(cfg, spark, DAY + dt.timedelta(days=1))
    again = steps.score(nxt)
    assert again["counts"]["reused_from"] == DAY.isoformat() and again["counts"]["reconciled"]
    assert again["counts"]["scored"] == n and again["counts"]["neighbour_rows"] == similar.count()
    assert nxt.manifest.data["models"]["image"]["scored_with"]["dataset"] == "fashion_mnist"
    res = bench.run(ctx, "media", 200, 1)  # the scoring benchmark on the same rows through both sides
    assert res["rows"] == 200 and res["spark_udf_rows_per_second"] > 0 and res["plain_predict_rows_per_second"] > 0


def test_generated_images_are_flagged_and_never_enter_silver(spark, trained):
    cfg, ctx, _, _ = trained
    silver_before = tables.read(spark, storage.join(cfg.layout.silver, "media")).count()
    rec = generate(ctx, "gan", per_class=2, seed=7)
    assert rec["counts"]["reconciled"] and rec["counts"]["rows_out"] == 20
    gold = (
        tables.read(spark, storage.join(cfg.layout.gold, "synthetic_media")).where(F.col("dt") == F.lit(DAY)).toPandas()
    )
    assert gold["is_synthetic"].all() and set(gold["source"]) == {"synthetic"}
    assert set(gold["generator_name"]) == {"smspark_gan"} and set(gold["generator_version"]) == {"1"}
    assert gold.groupby("label").size().to_dict() == {c: 2 for c in range(10)}
    assert gold["pixels"].map(len).eq(28 * 28).all()
    silver = tables.read(spark, storage.join(cfg.layout.silver, "media"))
    assert silver.count() == silver_before and silver.where(F.col("source") == "synthetic").count() == 0
    # same seed, same images
    again = generate(ctx, "gan", per_class=2, seed=7)
    assert again["counts"]["rows_out"] == 20
    second = (
        tables.read(spark, storage.join(cfg.layout.gold, "synthetic_media")).where(F.col("dt") == F.lit(DAY)).toPandas()
    )
    assert sorted(map(bytes, second["pixels"])) == sorted(map(bytes, gold["pixels"]))

"""Media ingest and ETL on real slices: IDX (Fashion-MNIST) and class-per-folder PNGs (Twemoji), a corrupt file,
quarantine reasons, reconciled counts, de-duplication, and the image features read back through Petastorm."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.config import load_config
from smspark.jobs.common import JobContext
from smspark.jobs.steps import media as steps
from smspark.manifest import RunManifest
from smspark.schemas import BRONZE_MEDIA, SILVER_MEDIA
from smspark.sources.idx import read_idx
from tests.conftest import local, require_landing

DAY = dt.date(2026, 11, 21)
N_TRAIN, N_TEST = 160, 40
EMOJI = {"flags": 6, "food_and_drink": 6, "component": 3}


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 array as a gzip IDX file (the format :func:`smspark.sources.idx.read_idx` reads)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as fh:
        fh.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return path


def fashion_slice(dst: Path, n_train: int, n_test: int) -> Path:
    """The first ``n_train`` / ``n_test`` real Fashion-MNIST records as IDX files + classes.json under ``dst``."""
    src = require_landing("images", "fashion_mnist", "train-images-idx3-ubyte.gz").parent
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(dst / f"{prefix}-images-idx3-ubyte.gz", read_idx(src / f"{prefix}-images-idx3-ubyte.gz")[:n])
        write_idx(dst / f"{prefix}-labels-idx1-ubyte.gz", read_idx(src / f"{prefix}-labels-idx1-ubyte.gz")[:n])
    shutil.copy(src / "classes.json", dst / "classes.json")
    return dst


def emoji_slice(dst: Path, per_class: dict[str, int]) -> list[Path]:
    """The first PNGs (by name) of some real emoji category folders, copied under ``dst/<category>/``."""
    root = require_landing("images", "emoji", "index.csv").parent
    copied = []
    for category, n in per_class.items():
        for png in sorted((root / category).glob("*.png"))[:n]:
            target = dst / category / png.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(png, target)
            copied.append(target)
    return copied


def make_context(cfg, spark, day: dt.date = DAY) -> JobContext:
    return JobContext(
        cfg=cfg, run_date=day, manifest=RunManifest("test", cfg.layout.runs, day, cfg.profile), _spark=spark
    )


@pytest.fixture(scope="module")
def landed(spark, tmp_path_factory):
    """Ingest + ETL of a real slice with extra bad and duplicate files; returns (cfg, ingest and etl records, PNGs)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("media") / "data"
    images = root / "landing" / "images"
    fashion_slice(images / "fashion_mnist", N_TRAIN, N_TEST)
    pngs = emoji_slice(images / "emoji", EMOJI)
    emoji = images / "emoji"
    (emoji / "flags" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a png at all")  # corrupt
    (emoji / "flags" / "truncated.png").write_bytes(pngs[0].read_bytes()[:60])  # cut short
    (emoji / "flags" / "empty.png").write_bytes(b"")
    shutil.copy(pngs[1], emoji / "flags" / "copy_of_second.png")  # an exact duplicate image
    shutil.copy(pngs[2], emoji / "stray.png")  # not inside a class folder
    shutil.copy(pngs[3], emoji / "flags" / "_draft.png")  # a name Spark's file sources skip
    # a grayscale JPEG and a large RGB JPEG (downscaled to 256 in silver), in a new class folder
    gray = read_idx(images / "fashion_mnist" / "t10k-images-idx3-ubyte.gz")[0]
    (emoji / "drawings").mkdir()
    Image.fromarray(gray, "L").save(emoji / "drawings" / "shirt.jpg", quality=95)
    big = np.zeros((300, 400, 3), np.uint8)
    big[:, :200] = (255, 0, 0)
    Image.fromarray(big, "RGB").save(emoji / "drawings" / "big.jpeg")
    (emoji / "notes.txt").write_text("not an image: filtered out by the glob")
    jpeg = io.BytesIO()
    Image.fromarray(big, "RGB").save(jpeg, "JPEG")
    (emoji / "drawings" / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])  # cut short
    Image.fromarray(big[:1, :1], "RGB").save(emoji / "drawings" / "pixel.png")  # a 1x1 image
    # an IDX source whose images file has a wrong magic number (the real file, first 4 bytes replaced)
    scans = images / "scans"
    scans.mkdir()
    real = gzip.decompress((images / "fashion_mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    (scans / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x12\x34\x08\x03" + real[4:]))
    shutil.copy(images / "fashion_mnist" / "t10k-labels-idx1-ubyte.gz", scans / "t10k-labels-idx1-ubyte.gz")
    cfg = load_config(None, [f"data.root={root}", "spark.master=local[2]", "train.num_proc=2"])
    ctx = make_context(cfg, spark)
    ing = steps.ingest(ctx)
    etl = steps.etl(ctx)
    return cfg, ing, etl, pngs


def test_ingest_reconciles_and_quarantines_bad_files(spark, landed):
    cfg, ing, _, pngs = landed
    # slice + broken/truncated/empty/copy + stray/_draft + 2 jpegs + truncated jpeg/1x1 png + the bad IDX file
    files = len(pngs) + 4 + 2 + 2 + 2 + 1
    counts = ing["counts"]
    assert counts["rows_in"] == N_TRAIN + N_TEST + files
    assert counts["quarantined"] == 8
    assert counts["reconciled"] and counts["rows_in"] == counts["rows_out"] + counts["quarantined"]
    assert ing["inputs"]["sources"]["fashion_mnist"]["layout"] == "idx"
    assert ing["inputs"]["sources"]["emoji"]["layout"] == "class folders"
    q = tables.read(spark, storage.join(cfg.layout.quarantine, "media")).where(F.col("stage") == "ingest").toPandas()
    reasons = {Path(f).name: r for f, r in zip(q["source_file"], q["reason"], strict=True)}
    assert reasons["broken.png"].startswith("undecodable image")
    assert reasons["truncated.png"].startswith("undecodable image")
    assert reasons["empty.png"] == "empty file"
    assert reasons["stray.png"] == "not inside a class folder"
    assert reasons["_draft.png"] == "not read by the file source (hidden name)"
    assert reasons["truncated.jpg"].startswith("undecodable image")
    assert reasons["pixel.png"] == "image too small (1x1, shortest side < 8)"
    assert (
        reasons["t10k-images-idx3-ubyte.gz"].startswith("unreadable IDX file")
        and "magic" in reasons["t10k-images-idx3-ubyte.gz"]
    )
    assert len(q) == counts["quarantined"]
    bronze = tables.read(spark, storage.join(cfg.layout.bronze, "media"), schema=BRONZE_MEDIA)
    ids = {r["media_id"] for r in bronze.select("media_id").collect()}
    assert "fashion_mnist:train:00000" in ids and "fashion_mnist:test:00039" in ids
    assert "emoji:drawings/shirt.jpg" in ids
    # re-running the same date replaces its partition: nothing is duplicated
    steps.ingest(make_context(cfg, spark))
    assert tables.read(spark, storage.join(cfg.layout.bronze, "media")).count() == len(ids)


def test_etl_decodes_dedupes_and_labels(spark, landed):
    cfg, ing, etl, pngs = landed
    c = etl["counts"]
    assert c["reconciled"] and c["rows_in"] == ing["counts"]["rows_out"]
    assert c["duplicates_by_reason"] == {"duplicate image": 1}
    silver = tables.read(spark, storage.join(cfg.layout.silver, "media"))
    assert [f.name for f in silver.schema.fields] == [f.name for f in SILVER_MEDIA.fields]
    rows = {r["media_id"]: r for r in silver.collect()}
    # IDX records keep their pixels byte for byte, labels and the official split
    first = rows["fashion_mnist:train:00000"]
    src = read_idx(local(cfg.layout.landing) / "images" / "fashion_mnist" / "train-images-idx3-ubyte.gz")[0]
    assert bytes(first["pixels"]) == src.tobytes() and (first["height"], first["width"], first["channels"]) == (
        28,
        28,
        1,
    )
    assert (
        first["label_name"]
        == json.loads((local(cfg.layout.landing) / "images/fashion_mnist/classes.json").read_text())[first["label"]]
    )
    assert first["split"] == "train" and rows["fashion_mnist:test:00000"]["split"] == "test"
    # folder classes are indexed by name order; RGBA emoji become RGB, the JPEGs gray / downscaled RGB
    names = sorted({r["label_name"] for r in rows.values() if r["source"] == "emoji"})
    assert names == ["component", "drawings", "flags", "food_and_drink"]
    assert all(r["label"] == names.index(r["label_name"]) for r in rows.values() if r["source"] == "emoji")
    flag = next(r for r in rows.values() if r["label_name"] == "flags")
    assert (flag["height"], flag["width"], flag["channels"]) == (64, 64, 3)
    assert len(flag["pixels"]) == 64 * 64 * 3
    shirt = rows["emoji:drawings/shirt.jpg"]
    assert shirt["channels"] == 1 and (shirt["height"], shirt["width"]) == (28, 28)
    big = rows["emoji:drawings/big.jpeg"]
    assert (big["height"], big["width"], big["channels"]) == (192, 256, 3)
    # of two identical files the smaller media_id survives
    assert f"emoji:flags/{pngs[1].name}" in rows and "emoji:flags/copy_of_second.png" not in rows


def test_image_features_through_petastorm(spark, landed):
    from smspark.train.readers import petastorm_dataset

    cfg, _, _, _ = landed
    ctx = make_context(cfg, spark)
    rec = steps.features_image(ctx)
    feats = local(cfg.layout.features) / "image"
    meta = json.loads((feats / "meta.json").read_text())
    assert meta["input_shape"] == [28, 28, 1] and meta["official_test"] and len(meta["classes"]) == 10
    assert rec["counts"]["splits"]["test"] == N_TEST  # the official test set, whole
    assert rec["counts"]["splits"]["train"] + rec["counts"]["splits"]["val"] == N_TRAIN
    train_uri = tables.data_uri((feats / "train").as_uri())
    assert len(list(local(train_uri).glob("*.parquet"))) >= 4
    with petastorm_dataset(
        (feats / "train").as_uri(),
        feature_cols=["pixels"],
        label_col="label",
        batch_size=16,
        cur_shard=1,
        shard_count=2,
    ) as ds:
        x, y = next(iter(ds))
    assert x.dtype.name == "int32" and tuple(x.shape) == (16, 28 * 28)
    assert y.dtype.name == "int32" and tuple(y.shape) == (16,)
    assert 0 <= int(np.min(x)) and int(np.max(x)) <= 255

    # the emoji classes (RGB, unbalanced, a stratified split) resized to 32x32x3
    emoji_cfg = cfg.model_copy(deep=True)
    emoji_cfg.models.image.dataset = "emoji"
    emoji_cfg.models.image.image_size = 32
    rec = steps.features_image(make_context(emoji_cfg, spark))
    meta = json.loads((feats / "meta.json").read_text())
    assert meta["input_shape"] == [32, 32, 3] and not meta["official_test"]
    counts = meta["class_counts"]
    assert counts["component"] == {"train": 1, "val": 1, "test": 1}  # 3 images: one in each split
    assert all(v["test"] >= 1 for v in counts.values())
    with petastorm_dataset(
        (feats / "test").as_uri(), feature_cols=["pixels"], label_col="label", batch_size=4, cur_shard=0, shard_count=1
    ) as ds:
        x, _ = next(iter(ds))
    assert tuple(x.shape) == (4, 32 * 32 * 3)


def test_decode_composites_alpha_and_preprocess_converts_channels():
    from PIL import Image

    from smspark.etl.media import decode_image, probe_image
    from smspark.features.media import preprocess_one

    rgba = Image.new("RGBA", (4, 2), (0, 0, 255, 0))  # fully transparent blue -> white
    rgba.putpixel((0, 0), (255, 0, 0, 255))  # one opaque red pixel
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    pixels, h, w, c = decode_image(buf.getvalue())
    arr = np.frombuffer(pixels, np.uint8).reshape(h, w, c)
    assert (h, w, c) == (2, 4, 3)
    assert tuple(arr[0, 0]) == (255, 0, 0) and tuple(arr[1, 3]) == (255, 255, 255)
    assert probe_image(b"\x89PNG\r\n\x1a\n")["error"].startswith("undecodable image")
    gray = preprocess_one(bytes(range(16)), 4, 4, 1, 4, 3)
    assert gray.shape == (48,) and np.array_equal(gray.reshape(4, 4, 3)[..., 0], gray.reshape(4, 4, 3)[..., 2])
    small = preprocess_one(arr.tobytes(), 2, 4, 3, 8, 1)
    assert small.shape == (64,) and small.dtype == np.uint8
    with pytest.raises(ValueError):
        preprocess_one(b"\x00" * 5, 2, 2, 1, 2, 1)

"""Image features: silver pixels -> fixed-size uint8 tensors (as int32 arrays) and a stratified split.

The same :func:`preprocess` turns silver pixels into model input at training time (the ``features`` job) and at
scoring time (the registered pyfunc), so both see identical tensors: each image is resized to ``size x size``
(Pillow bilinear with antialiasing; non-square images are stretched) and converted to ``channels`` (RGB -> luma
with ITU-R 601-2 weights, gray -> replicated to 3 channels), then flattened row-major (HWC) to ``size*size*channels``
values in 0..255.

Split: a dataset with an official test set (IDX ``t10k``/``test`` files) keeps it as ``test`` and carves ``val``
from the rest; any other dataset gets a stratified ``train``/``val``/``test`` split. Within a class, rows are
ordered by ``xxhash64(media_id)`` (Spark's fixed seed), so the split is the same on every run and machine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, IntegerType

SPLITS = ("train", "val", "test")
#: Upper bound on the side chosen automatically (``image_size: null``).
MAX_AUTO_SIDE = 64


def preprocess_one(pixels: bytes, height: int, width: int, channels: int, size: int, out_channels: int) -> np.ndarray:
    """One silver image -> uint8 ``[size * size * out_channels]`` (row-major HWC).

    Args:
        pixels: uint8 bytes of ``height x width x channels`` (row-major).
        channels: 1 (gray) or 3 (RGB); ``out_channels`` likewise.

    Raises:
        ValueError: ``len(pixels) != height * width * channels`` or an unsupported channel count.
    """
    from PIL import Image

    if channels not in (1, 3) or out_channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels} -> {out_channels}")
    arr = np.frombuffer(pixels, dtype=np.uint8)
    if arr.size != height * width * channels:
        raise ValueError(f"{arr.size} bytes for a {height}x{width}x{channels} image")
    if (height, width, channels) == (size, size, out_channels):
        return arr.copy()
    img = Image.fromarray(arr.reshape(height, width) if channels == 1 else arr.reshape(height, width, 3))
    if channels == 3 and out_channels == 1:
        img = img.convert("L")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    out = np.asarray(img, dtype=np.uint8)
    if out.ndim == 2 and out_channels == 3:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out).reshape(-1)


def preprocess(
    pixels: Sequence[bytes],
    heights: Sequence[int],
    widths: Sequence[int],
    channels: Sequence[int],
    size: int,
    out_channels: int,
) -> np.ndarray:
    """A batch of silver images -> uint8 ``[n, size * size * out_channels]`` (see :func:`preprocess_one`)."""
    n = len(pixels)
    out = np.empty((n, size * size * out_channels), dtype=np.uint8)
    for i, (p, h, w, c) in enumerate(zip(pixels, heights, widths, channels, strict=True)):
        out[i] = preprocess_one(p, int(h), int(w), int(c), size, out_channels)
    return out


def pixels_col(pixels: Column, height: Column, width: Column, channels: Column, size: int, out_channels: int) -> Column:
    """Spark column ``array<int>`` of length ``size * size * out_channels``: :func:`preprocess` of silver columns."""

    @F.pandas_udf(ArrayType(IntegerType(), False))
    def _udf(p: pd.Series, h: pd.Series, w: pd.Series, c: pd.Series) -> pd.Series:
        x = preprocess(p.tolist(), h.tolist(), w.tolist(), c.tolist(), size, out_channels).astype(np.int32)
        return pd.Series(list(x))

    return _udf(pixels, height, width, channels)


def choose_input_shape(
    sizes: Iterable[tuple[int, int, int, int]], image_size: int | None, channels: int | None
) -> tuple[int, int]:
    """The CNN's ``(side, channels)`` for a dataset.

    Args:
        sizes: ``(height, width, channels, count)`` per distinct image shape of the dataset.
        image_size, channels: configured values; None = decided from the data: the most common side (the larger of
            height and width; ties to the smaller side) capped at :data:`MAX_AUTO_SIDE`, and 1 channel when every
            image is grayscale, else 3.

    Raises:
        ValueError: no images.
    """
    counts: Counter[int] = Counter()
    gray_only = True
    any_rows = False
    for h, w, c, n in sizes:
        any_rows = True
        counts[max(int(h), int(w))] += int(n)
        gray_only = gray_only and int(c) == 1
    if not any_rows:
        raise ValueError("no images to choose an input shape from")
    if image_size is None:
        top = max(counts.values())
        image_size = min(min(s for s, n in counts.items() if n == top), MAX_AUTO_SIDE)
    if channels is None:
        channels = 1 if gray_only else 3
    return int(image_size), int(channels)


def split_col(official_test: bool, val_fraction: float, test_fraction: float) -> Column:
    """Column ``split`` (``train``/``val``/``test``) for labelled silver rows (``media_id``, ``label``, ``split``).

    Stratified by ``label``: of a class's ``n`` rows (ordered by ``xxhash64(media_id)``, then ``media_id``), the
    first ``round(n * test_fraction)`` go to ``test`` and the next ``round(n * val_fraction)`` to ``val``, each at
    least 1 when the class has enough rows (test needs ``n >= 2``, val ``n >= 3``), the rest to ``train``. With
    ``official_test`` the rows whose source split is ``test`` are the test set and ``val`` is carved the
    same way from the others.
    """
    if official_test:
        part = F.when(F.col("split") == "test", F.lit("test")).otherwise(F.lit("rest"))
    else:
        part = F.lit("all")
    w = Window.partitionBy(part, F.col("label")).orderBy(F.xxhash64(F.col("media_id")), F.col("media_id"))
    rn = F.row_number().over(w)
    n = F.count(F.lit(1)).over(Window.partitionBy(part, F.col("label")))

    def at_least_one(frac: float, min_n: int) -> Column:
        return F.when(n >= min_n, F.greatest(F.lit(1), F.round(n * F.lit(frac)).cast("int"))).otherwise(F.lit(0))

    if official_test:
        n_val = at_least_one(val_fraction, 2)
        return F.when(part == "test", F.lit("test")).when(rn <= n_val, F.lit("val")).otherwise(F.lit("train"))
    n_test = at_least_one(test_fraction, 2)
    n_val = at_least_one(val_fraction, 3)
    return F.when(rn <= n_test, F.lit("test")).when(rn <= n_test + n_val, F.lit("val")).otherwise(F.lit("train"))


def image_features(
    media: DataFrame, size: int, channels: int, val_fraction: float, test_fraction: float, official_test: bool
) -> DataFrame:
    """Labelled silver images of one source -> ``(media_id, pixels, label, split)``.

    ``pixels`` is ``array<int>`` of length ``size * size * channels`` (values 0..255), ``label`` the int32 class
    index; unlabelled rows are left out. See :func:`split_col` for the split.
    """
    labelled = media.where(F.col("label").isNotNull())
    return labelled.select(
        "media_id",
        pixels_col(F.col("pixels"), F.col("height"), F.col("width"), F.col("channels"), size, channels).alias("pixels"),
        F.col("label").cast("int").alias("label"),
        split_col(official_test, val_fraction, test_fraction).alias("split"),
    )

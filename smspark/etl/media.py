"""Media: landing images -> bronze (probe, type, quarantine) -> silver (decode, normalise, de-duplicate).

Two landing layouts, one folder per *source* under ``landing/images/<source>/``:

- **IDX** (MNIST / Fashion-MNIST): ``<prefix>-images-idx3-ubyte[.gz]`` + ``<prefix>-labels-idx1-ubyte[.gz]`` pairs
  (prefix ``train``; ``t10k``/``test`` = the official test split) and optionally ``classes.json`` (a JSON list of
  class names, index = label). Every record becomes one row, ``media_id = <source>:<split>:<index>``.
- **class-per-folder**: ``<source>/<class name>/**/*.png|jpg|jpeg`` read with Spark's ``binaryFile`` source;
  ``media_id = <source>:<path relative to the source folder>``.

Pure functions: the ``ingest``/``etl`` steps (:mod:`smspark.jobs.steps.media`) do the reading and writing. Decoding
uses Pillow inside pandas UDFs, so it runs on the executors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, IntegerType, StringType, StructField, StructType

from smspark.schemas import BRONZE_MEDIA, QUARANTINE, SILVER_MEDIA

log = logging.getLogger(__name__)

#: File name patterns of the class-per-folder layout (Hadoop glob, for ``pathGlobFilter``).
IMAGE_GLOB = "*.{png,PNG,jpg,JPG,jpeg,JPEG}"
#: Longest side kept in silver; larger images are downscaled (aspect kept) when decoded.
MAX_SIDE = 256
#: Shortest side an image needs to be kept (a 1x1 or 4x4 "image" is a tracking pixel or a broken export, not a
#: picture any model can label); smaller ones are quarantined at ingest.
MIN_SIDE = 8
#: Default limit on an image's pixels (width x height, from its header; ``config.ingest.max_image_pixels``): larger
#: images are quarantined before they are decoded (decompression-bomb guard).
MAX_PIXELS = 50_000_000
#: IDX split names by file prefix; other prefixes are used as they are.
IDX_SPLITS = {"train": "train", "t10k": "test", "test": "test"}

_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"}

PROBE_STRUCT = StructType(
    [
        StructField("format", StringType()),
        StructField("width", IntegerType()),
        StructField("height", IntegerType()),
        StructField("mode", StringType()),
        StructField("error", StringType()),
    ]
)

DECODE_STRUCT = StructType(
    [
        StructField("pixels", BinaryType()),
        StructField("height", IntegerType()),
        StructField("width", IntegerType()),
        StructField("channels", IntegerType()),
        StructField("error", StringType()),
    ]
)


# --- single images (plain Python, used inside the UDFs and by the pyfunc) -------------------------------------


class ImageTooLarge(ValueError):
    """An image whose header declares more pixels than the limit; it is refused before any pixel is decoded."""


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an image of ``width`` x ``height`` pixels (from its header) above ``max_pixels``.

    Raises:
        ImageTooLarge: ``width * height > max_pixels``, with the reason ``image too large (WxH = N pixels > max)``.
    """
    if width * height > max_pixels:
        raise ImageTooLarge(f"image too large ({width}x{height} = {width * height} pixels > {max_pixels})")


@contextlib.contextmanager
def _open_image(content: bytes, max_pixels: int) -> Iterator[Any]:
    """Pillow's lazy ``Image.open`` (the header only), refusing an image above ``max_pixels`` before any decoding.

    Pillow's own decompression-bomb guard is set to the same limit (it also checks the frames of animated images
    while they load); its warning is silenced (the check here decides) and its error (twice the limit), raised
    when opening or inside the ``with`` block, becomes :class:`ImageTooLarge`.
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(content)) as img:
                check_size(img.width, img.height, max_pixels)
                yield img
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(f"image too large (more than {max_pixels} pixels; Pillow: {exc})") from exc


def probe_image(content: bytes | None, max_pixels: int = MAX_PIXELS) -> dict[str, Any]:
    """Check one encoded image: read its header, refuse it when too large, else decode it fully; return
    ``format``, ``width``, ``height``, ``mode``, ``error``.

    ``error`` is None for a good image, else the reason (``empty file``, ``image too large (WxH = N pixels >
    max_pixels)`` from the header, before decoding, so a 10,000 x 10,000 image costs no memory, ``undecodable
    image: <Pillow's message>``, ``image too small (WxH, shortest side < MIN_SIDE)``); the other fields are then
    None. Decoding (not only the header) catches truncated and corrupt files.
    """
    none = {"format": None, "width": None, "height": None, "mode": None}
    if not content:
        return {**none, "error": "empty file"}
    try:
        with _open_image(content, max_pixels) as img:
            img.load()
            if img.width < 1 or img.height < 1:
                raise ValueError(f"image has no pixels ({img.width}x{img.height})")
            if min(img.width, img.height) < MIN_SIDE:
                return {**none, "error": f"image too small ({img.width}x{img.height}, shortest side < {MIN_SIDE})"}
            return {
                "format": (img.format or "unknown").lower(),
                "width": int(img.width),
                "height": int(img.height),
                "mode": img.mode,
                "error": None,
            }
    except ImageTooLarge as exc:
        return {**none, "error": str(exc)}
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        return {**none, "error": f"undecodable image: {exc}"}


def to_gray_or_rgb(img: Any) -> Any:
    """A Pillow image -> mode ``L`` (grayscale sources) or ``RGB`` (everything else), alpha composited over white."""
    from PIL import Image

    if img.mode in _GRAY_MODES:
        if img.mode in {"LA", "La"}:
            white = Image.new("L", img.size, 255)
            white.paste(img.convert("L"), mask=img.getchannel("A"))
            return white
        if img.mode in {"I", "I;16", "I;16B", "I;16L", "F"}:
            arr = np.asarray(img, dtype=np.float64)
            top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
            return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        return img.convert("L")
    if img.mode == "RGB":
        return img
    has_alpha = img.mode in {"RGBA", "RGBa", "PA"} or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGB", img.size, (255, 255, 255))
        white.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
        return white
    return img.convert("RGB")


def decode_image(content: bytes, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS) -> tuple[bytes, int, int, int]:
    """Encoded image -> ``(pixels, height, width, channels)``: uint8 row-major HWC bytes, 1 or 3 channels.

    Alpha is composited over white, palette images expanded, 16-bit/float grayscale scaled to 0..255; an image
    whose longest side exceeds ``max_side`` is downscaled (Lanczos, aspect kept).

    Raises:
        ImageTooLarge: the header declares more than ``max_pixels`` pixels (nothing is decoded).
        Exception: whatever Pillow raises for an undecodable image.
    """
    from PIL import Image

    with _open_image(content, max_pixels) as img:
        img.load()
        out = to_gray_or_rgb(img)
        if max(out.size) > max_side:
            out.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        arr = np.asarray(out, dtype=np.uint8)
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    return arr.tobytes(), int(arr.shape[0]), int(arr.shape[1]), int(channels)


def raw_channels(mode: str) -> int:
    """Channels of raw IDX pixels by the bronze ``mode`` (``L`` -> 1, ``RGB`` -> 3).

    Raises:
        ValueError: another mode.
    """
    if mode == "L":
        return 1
    if mode == "RGB":
        return 3
    raise ValueError(f"raw pixels in mode {mode!r}: only L and RGB are stored raw")


# --- IDX ------------------------------------------------------------------------------------------------------


def idx_split(file_name: str) -> str:
    """Split name of an IDX file from its prefix: ``train-images-idx3-ubyte.gz`` -> ``train``, ``t10k-`` -> ``test``."""
    prefix = file_name.split("-images-")[0].split("-labels-")[0]
    return IDX_SPLITS.get(prefix, prefix)


def idx_frame(
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str] | None,
    source: str,
    split: str,
    source_file: str,
    ingest_date: dt.date,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """IDX arrays -> bronze rows (pandas, :data:`BRONZE_MEDIA` columns) and rejected records (:data:`QUARANTINE`).

    Args:
        images: uint8 ``[n, h, w]`` (grayscale) or ``[n, h, w, 3]`` (RGB).
        labels: integer ``[n]``.
        classes: class names by label (``classes.json``); None names classes by their number.
        source, split: the media source and split (``train``/``test``).
        source_file: the images file, recorded on every row.
        ingest_date: the bronze partition.

    Returns:
        ``(bronze, quarantine)``: a label outside ``classes`` (or negative) is quarantined with the reason
        ``label <v> not in classes.json (<k> classes)``; every record is in exactly one of them.

    Raises:
        ValueError: non-uint8 images, an unsupported shape, or image and label counts that differ.
    """
    if images.dtype != np.uint8:
        raise ValueError(f"IDX images must be unsigned bytes, got {images.dtype}")
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] != 3):
        raise ValueError(f"IDX images must be [n, h, w] or [n, h, w, 3], got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{len(images)} images but labels of shape {labels.shape}")
    n = len(images)
    mode = "L" if images.ndim == 3 else "RGB"
    lab = labels.astype(np.int64)
    names = list(classes) if classes is not None else None
    if names is None:
        ok = lab >= 0
        label_names = np.array([str(v) for v in lab], dtype=object)
    else:
        ok = (lab >= 0) & (lab < len(names))
        label_names = np.array([names[v] if 0 <= v < len(names) else None for v in lab], dtype=object)
    flat = np.ascontiguousarray(images).reshape(n, -1)
    content = [row.tobytes() for row in flat]
    ids = [f"{source}:{split}:{i:05d}" for i in range(n)]
    day = pd.Timestamp(ingest_date).date()
    bronze = pd.DataFrame(
        {
            "media_id": ids,
            "source": source,
            "split": split,
            "label_index": lab.astype(np.int32),
            "label_name": label_names,
            "format": "raw",
            "height": np.int32(images.shape[1]),
            "width": np.int32(images.shape[2]),
            "mode": mode,
            "content": content,
            "content_sha256": [hashlib.sha256(c).hexdigest() for c in content],
            "source_file": source_file,
            "ingest_date": day,
        }
    )
    bad = bronze[~ok]
    k = len(names) if names is not None else 0
    quarantine = pd.DataFrame(
        {
            "table": "media",
            "stage": "ingest",
            "source_file": source_file,
            "reason": [f"label {v} not in classes.json ({k} classes)" for v in lab[~ok]],
            "raw": [
                json.dumps({"media_id": m, "label": int(v)}) for m, v in zip(bad["media_id"], lab[~ok], strict=True)
            ],
            "quarantined_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
            "ingest_date": day,
        },
        columns=[f.name for f in QUARANTINE.fields],
    )
    return bronze[ok].reset_index(drop=True), quarantine


def file_quarantine_row(source_file: str, reason: str, ingest_date: dt.date) -> dict[str, Any]:
    """One :data:`QUARANTINE` record for a whole landing file that could not be read (e.g. a corrupt IDX file)."""
    return {
        "table": "media",
        "stage": "ingest",
        "source_file": source_file,
        "reason": reason,
        "raw": json.dumps({"file": source_file}),
        "quarantined_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "ingest_date": ingest_date,
    }


# --- class-per-folder -------------------------------------------------------------------------------------------


def relative_path(path: str, root: str) -> str:
    """Path of a ``binaryFile`` row (``file:/abs/a%20b/x.png``) relative to ``root`` (a local path), posix.

    Raises:
        ValueError: ``path`` is not under ``root``.
    """
    p = unquote(urlparse(path).path) if "://" in path or path.startswith("file:") else path
    r = root.rstrip("/") + "/"
    if not p.startswith(r):
        raise ValueError(f"{path} is not under {root}")
    return p[len(r) :]


def _probe_udf(max_pixels: int) -> Any:
    @F.pandas_udf(PROBE_STRUCT)
    def probe(content: pd.Series) -> pd.DataFrame:
        rows = [probe_image(c, max_pixels) for c in content]
        return pd.DataFrame(rows, columns=[f.name for f in PROBE_STRUCT.fields])

    return probe


def probe_files(files: DataFrame, root: str, max_pixels: int = MAX_PIXELS) -> DataFrame:
    """Add ``rel`` (path relative to ``root``), ``probe`` (:data:`PROBE_STRUCT`) and ``reason`` (why the file is
    rejected, or null) to ``binaryFile`` rows (``path`` string URI, ``content`` binary, ...).

    Reasons: ``not inside a class folder``, then those of :func:`probe_image` (``empty file``, ``image too large
    ...`` above ``max_pixels``, ``undecodable image: ...``, ``image too small ...``). Persist the result when both
    outputs of :func:`split_probed` are used: the probe decodes every image.
    """
    rel_root = root.rstrip("/")

    @F.udf(StringType())
    def rel(path: str) -> str | None:
        try:
            return relative_path(path, rel_root)
        except ValueError:
            return None

    p = files.select("path", "content", rel(F.col("path")).alias("rel")).withColumn(
        "probe", _probe_udf(max_pixels)(F.col("content"))
    )
    in_class = F.coalesce(F.instr(F.col("rel"), "/") > 0, F.lit(False))
    return p.withColumn("reason", F.when(~in_class, F.lit("not inside a class folder")).otherwise(F.col("probe.error")))


def split_probed(probed: DataFrame, source: str, ingest_date: dt.date) -> tuple[DataFrame, DataFrame]:
    """Probed files (:func:`probe_files`) -> ``(bronze, quarantine)`` with schemas :data:`BRONZE_MEDIA` /
    :data:`QUARANTINE`; every file is in exactly one of them."""
    p = probed
    day = F.lit(ingest_date).cast("date")
    quarantine = p.where(F.col("reason").isNotNull()).select(
        F.lit("media").alias("table"),
        F.lit("ingest").alias("stage"),
        F.col("path").alias("source_file"),
        "reason",
        F.to_json(
            F.struct(
                F.col("rel").alias("path"),
                F.length("content").alias("bytes"),
                F.sha2(F.col("content"), 256).alias("sha256"),
            )
        ).alias("raw"),
        F.current_timestamp().alias("quarantined_at"),
        day.alias("ingest_date"),
    )
    bronze = p.where(F.col("reason").isNull()).select(
        F.concat(F.lit(f"{source}:"), F.col("rel")).alias("media_id"),
        F.lit(source).alias("source"),
        F.lit(None).cast("string").alias("split"),
        F.lit(None).cast("int").alias("label_index"),
        F.substring_index(F.col("rel"), "/", 1).alias("label_name"),
        F.col("probe.format").alias("format"),
        F.col("probe.height").alias("height"),
        F.col("probe.width").alias("width"),
        F.col("probe.mode").alias("mode"),
        "content",
        F.sha2(F.col("content"), 256).alias("content_sha256"),
        F.col("path").alias("source_file"),
        day.alias("ingest_date"),
    )
    return conform(bronze, BRONZE_MEDIA), conform(quarantine, QUARANTINE)


def parse_image_files(
    files: DataFrame, source: str, root: str, ingest_date: dt.date, max_pixels: int = MAX_PIXELS
) -> tuple[DataFrame, DataFrame]:
    """``binaryFile`` rows of one class-per-folder source -> ``(bronze, quarantine)``.

    Args:
        files: Spark's ``binaryFile`` rows (``path`` string URI, ``content`` binary, ...) under ``root``.
        source: the source name (the folder under ``landing/images``).
        root: the source folder, an absolute local path (as the paths in ``files`` are).
        ingest_date: the bronze partition.
        max_pixels: images whose header declares more pixels are quarantined (``image too large ...``).

    Returns:
        See :func:`probe_files` (reasons) and :func:`split_probed` (schemas).
    """
    return split_probed(probe_files(files, root, max_pixels), source, ingest_date)


# --- bronze -> silver -------------------------------------------------------------------------------------------


def _decode_udf(max_side: int, max_pixels: int) -> Any:
    cols = [f.name for f in DECODE_STRUCT.fields]

    @F.pandas_udf(DECODE_STRUCT)
    def decode(
        content: pd.Series, fmt: pd.Series, height: pd.Series, width: pd.Series, mode: pd.Series
    ) -> pd.DataFrame:
        rows = []
        for c, f, h, w, m in zip(content, fmt, height, width, mode, strict=True):
            try:
                if f == "raw":
                    ch = raw_channels(m)
                    if len(c) != int(h) * int(w) * ch:
                        raise ValueError(f"{len(c)} bytes for {h}x{w}x{ch} raw pixels")
                    rows.append({"pixels": bytes(c), "height": int(h), "width": int(w), "channels": ch})
                else:
                    px, hh, ww, ch = decode_image(c, max_side, max_pixels)
                    rows.append({"pixels": px, "height": hh, "width": ww, "channels": ch})
            except ImageTooLarge as exc:
                rows.append({"error": str(exc)})
            except Exception as exc:
                rows.append({"error": f"undecodable image: {exc}"})
        return pd.DataFrame(rows, columns=cols)

    return decode


#: The bronze columns :func:`decode_media` decodes an image from: two rows equal on them decode alike.
IMAGE_INPUT = ("content_sha256", "format", "height", "width", "mode")


def latest_by_id(bronze: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Keep the latest ingest of every ``media_id`` (ties by ``source_file``, then by content), with the date of the
    key's first ingest.

    Returns:
        ``(latest, older)``: bronze rows, one per ``media_id``, plus ``first_ingest_date`` (date: the earliest
        ``ingest_date`` of the ``media_id`` in ``bronze``); the other bronze rows (:data:`BRONZE_MEDIA` columns),
        which :func:`curate_media` counts as duplicates (or quarantines with their kept row).
    """
    key = Window.partitionBy("media_id")
    by_id = key.orderBy(F.col("ingest_date").desc(), F.col("source_file").desc(), *IMAGE_INPUT)
    df = bronze.withColumn("_id_rank", F.row_number().over(by_id))
    df = df.withColumn("first_ingest_date", F.min("ingest_date").over(key))
    older = df.where(F.col("_id_rank") > 1).select(*bronze.columns)
    return df.where(F.col("_id_rank") == 1).drop("_id_rank"), older


def decode_media(bronze: DataFrame, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS) -> DataFrame:
    """Add ``d`` (:data:`DECODE_STRUCT`): uint8 pixels, size and channels (see :func:`decode_image`), or ``error``
    (``undecodable image: ...``, or ``image too large ...`` above ``max_pixels``).

    Persist the result when several outputs of :func:`curate_media` are used: this decodes every image.
    """
    dec = _decode_udf(max_side, max_pixels)(
        F.col("content"), F.col("format"), F.col("height"), F.col("width"), F.col("mode")
    )
    return bronze.withColumn("d", dec)


def _etl_rejects(df: DataFrame, reason: Column) -> DataFrame:
    """:data:`QUARANTINE` rows (stage ``etl``) of bronze image rows, ``reason`` a column; each under its own
    ``ingest_date``."""
    return df.select(
        F.lit("media").alias("table"),
        F.lit("etl").alias("stage"),
        "source_file",
        reason.alias("reason"),
        F.to_json(F.struct("media_id", "source", "format")).alias("raw"),
        F.current_timestamp().alias("quarantined_at"),
        "ingest_date",
    )


def curate_media(decoded: DataFrame, older: DataFrame | None = None) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Decoded bronze rows (:func:`decode_media` of :func:`latest_by_id`) -> ``(silver, quarantine, duplicates)``.

    Images that failed to decode are quarantined (stage ``etl``), and so is every ``older`` row of the same
    ``media_id`` that delivered the same image (:data:`IMAGE_INPUT`: it would fail alike), each under its own
    ``ingest_date``; the other ``older`` rows are dropped as ``duplicate id``. Exact duplicate images within a source
    (same decoded pixels and size) are dropped, keeping the ``test`` split before any other (so an official test set
    stays whole), then the smallest ``media_id``; folder sources get their class index (:func:`with_class_index`).
    Silver's ``ingest_date`` and ``dt`` are ``first_ingest_date`` (the key's first ingest; ``ingest_date`` when the
    column is absent): no silver column depends on which ingest delivered the kept image, so delivering the latest
    ingest's rows again (a nightly re-ingest of an unchanged landing folder) changes no silver row.

    Returns:
        :data:`SILVER_MEDIA` rows; :data:`QUARANTINE` rows; dropped rows as ``media_id`` + ``reason``
        (``duplicate id`` / ``duplicate image``).
    """
    df = decoded
    if "first_ingest_date" not in df.columns:
        df = df.withColumn("first_ingest_date", F.col("ingest_date"))
    quarantine = _etl_rejects(df.where(F.col("d.error").isNotNull()), F.col("d.error"))
    dup_id = None
    if older is not None:
        failed = df.where(F.col("d.error").isNotNull()).select("media_id", *IMAGE_INPUT, F.col("d.error").alias("_e"))
        again = older.join(F.broadcast(failed), ["media_id", *IMAGE_INPUT], "left")
        quarantine = quarantine.unionByName(_etl_rejects(again.where(F.col("_e").isNotNull()), F.col("_e")))
        dup_id = again.where(F.col("_e").isNull()).select("media_id", F.lit("duplicate id").alias("reason"))
    df = df.where(F.col("d.error").isNull()).select(
        "media_id",
        "source",
        "split",
        "label_index",
        "label_name",
        F.col("d.height").alias("height"),
        F.col("d.width").alias("width"),
        F.col("d.channels").alias("channels"),
        F.col("d.pixels").alias("pixels"),
        F.sha2(F.col("d.pixels"), 256).alias("pixels_sha256"),
        "source_file",
        F.col("first_ingest_date").alias("ingest_date"),
    )
    split_order = F.when(F.col("split") == "test", 0).otherwise(1)
    by_image = Window.partitionBy("source", "pixels_sha256", "height", "width", "channels").orderBy(
        split_order, F.col("media_id")
    )
    df = df.withColumn("_img_rank", F.row_number().over(by_image))
    dup_img = df.where(F.col("_img_rank") > 1).select("media_id", F.lit("duplicate image").alias("reason"))
    df = df.where(F.col("_img_rank") == 1).drop("_img_rank")
    silver = with_class_index(df).withColumn("dt", F.col("ingest_date"))
    dups = dup_img if dup_id is None else dup_id.unionByName(dup_img)
    return conform(silver, SILVER_MEDIA), conform(quarantine, QUARANTINE), dups


def clean_media(
    bronze: DataFrame, max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Bronze images -> silver images: :func:`latest_by_id`, :func:`decode_media`, :func:`curate_media`.

    Returns:
        ``(silver, quarantine, duplicates)``: :data:`SILVER_MEDIA` rows; images that fail to decode
        (:data:`QUARANTINE`, stage ``etl``); dropped rows with ``media_id`` and ``reason`` (``duplicate id`` /
        ``duplicate image``). ``rows(bronze) == rows(silver) + rows(quarantine) + rows(duplicates)``.
    """
    latest, older = latest_by_id(bronze)
    return curate_media(decode_media(latest, max_side, max_pixels), older)


def with_class_index(df: DataFrame) -> DataFrame:
    """Add ``label`` (int): the IDX ``label_index`` when there is one, else the rank (from 0) of ``label_name``
    among the distinct class names of the row's source, in name order; null for rows without a label name."""
    names = (
        df.where(F.col("label_index").isNull() & F.col("label_name").isNotNull())
        .select("source", "label_name")
        .distinct()
    )
    names = names.withColumn(
        "_cls", (F.dense_rank().over(Window.partitionBy("source").orderBy("label_name")) - 1).cast("int")
    )
    out = df.join(F.broadcast(names), ["source", "label_name"], "left")
    return out.withColumn("label", F.coalesce(F.col("label_index"), F.col("_cls"))).drop("_cls")


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select and cast ``df`` to ``schema``'s columns, in order (nullability is the writer's concern)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])

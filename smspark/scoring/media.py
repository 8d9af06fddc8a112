"""Media scoring: image labels and embeddings, similar-image retrieval, synthetic images.

- :func:`score_media`: silver ``media`` -> ``gold/media_labels`` rows through ``mapInArrow`` (:func:`media_scorer`,
  Arrow batches in and out, no pandas conversion of the embedding column) that loads the ``smspark_image`` champion
  once per Python worker (:func:`smspark.scoring.udfs.load_python_model`).
- :func:`similar_media`: embeddings -> top-k neighbours by cosine similarity within each source, computed in
  blocks: the L2-normalised embedding matrix of each source is broadcast once, and a ``mapInPandas`` task per block
  of ``block_rows`` query rows multiplies that block by the matrix (``[b, d] x [d, n]``) and keeps its top k
  (``tf.math.top_k``). Memory per task is ``block_rows * n`` floats; no cross join is ever formed. The broadcast
  matrix is ``n * d * 4`` bytes per source (70,000 x 128 -> 36 MB).
- :func:`synthetic_media`: ``per_class`` generated images per class from the ``smspark_gan`` champion, also through
  a pandas UDF, flagged ``is_synthetic``; they go to gold only, never to silver.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from smspark.models.media_packaging import IMAGE_INPUT
from smspark.schemas import GOLD_MEDIA_LABELS, GOLD_MEDIA_SIMILAR, GOLD_SYNTHETIC_MEDIA
from smspark.scoring.udfs import load_python_model
from smspark.train.registry import Champion

log = logging.getLogger(__name__)

MEDIA_STRUCT = StructType(
    [
        StructField("label", StringType()),
        StructField("label_index", IntegerType()),
        StructField("confidence", FloatType()),
        StructField("embedding", ArrayType(FloatType(), False)),
    ]
)

NEIGHBOUR_SCHEMA = StructType(
    [
        StructField("media_id", StringType()),
        StructField("source", StringType()),
        StructField("rank", IntegerType()),
        StructField("neighbour_id", StringType()),
        StructField("similarity", FloatType()),
    ]
)

GENERATED_SCHEMA = StructType(
    [
        StructField("row", LongType()),
        StructField("label", IntegerType()),
        StructField("label_name", StringType()),
        StructField("height", IntegerType()),
        StructField("width", IntegerType()),
        StructField("channels", IntegerType()),
        StructField("pixels", BinaryType()),
        StructField("seed", LongType()),
    ]
)


def media_scorer(
    model_uri: str,
    tracking_uri: str,
    registry_uri: str | None = None,
    batch_size: int = 1024,
    keep: tuple[str, ...] = (),
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A ``mapInArrow`` function: Arrow batches with the ``keep`` columns and ``pixels``, ``height``, ``width``,
    ``channels`` -> batches of the ``keep`` columns (unchanged) followed by :data:`MEDIA_STRUCT`'s fields ``label``,
    ``label_index``, ``confidence``, ``embedding`` (:meth:`smspark.models.media_packaging.ImagePyfunc.score_arrow`),
    one row per input row. The champion is loaded once per Python worker. Use with :func:`media_scored_schema`.

    Why not a pandas UDF: Spark turns a pandas column of type ``array<float>`` into Arrow one value at a time in
    Python (``list(value)`` per row in ``pyspark.sql.pandas.types._create_converter_from_pandas``), 128 float objects
    per image here, about 0.5 s per 36,000 images; the embedding matrix goes to Arrow here without them.
    """

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from smspark.models.media_packaging import IMAGE_OUTPUT

        model = load_python_model(model_uri, tracking_uri, registry_uri)
        for batch in batches:
            kept = [batch.column(c) for c in keep]
            fields = [batch.schema.field(c) for c in keep] + list(IMAGE_OUTPUT)
            yield pa.RecordBatch.from_arrays(kept + model.score_arrow(batch, batch_size), schema=pa.schema(fields))

    return score


def media_scored_schema(frame: DataFrame, keep: tuple[str, ...]) -> StructType:
    """The output schema of :func:`media_scorer` over ``frame``: its ``keep`` fields, then :data:`MEDIA_STRUCT`'s."""
    return StructType([frame.schema[c] for c in keep] + MEDIA_STRUCT.fields)


def score_media(
    media: DataFrame,
    champion: Champion,
    tracking_uri: str,
    registry_uri: str | None,
    run_date: dt.date,
    batch_size: int = 1024,
    model_dataset: str | None = None,
) -> DataFrame:
    """Silver ``media`` (``media_id``, ``source``, ``pixels``, ``height``, ``width``, ``channels``) ->
    :data:`GOLD_MEDIA_LABELS` rows, one per image, ``dt = run_date``.

    Only images of ``model_dataset`` (the source the champion was trained on; None = every source) go through the
    model. The others are written with null ``label``, ``label_index``, ``confidence`` and ``embedding`` and
    ``reason = "no model trained on source <source>"``: the model's classes are another dataset's, and its
    embedding of them is left out too, because nothing measures what distances between embeddings of a source the
    network never saw mean (so ``gold/media_similar`` holds no neighbours for them either).
    """
    keep = ("media_id", "source")
    if model_dataset is None:
        known, other = media, None
    else:
        known = media.where(F.col("source") == F.lit(model_dataset))
        other = media.where(F.col("source") != F.lit(model_dataset))
    known = known.select(*keep, *IMAGE_INPUT)
    scorer = media_scorer(champion.uri, tracking_uri, registry_uri, batch_size, keep)
    scored = known.mapInArrow(scorer, media_scored_schema(known, keep)).select(
        "*", F.lit(None).cast("string").alias("reason")
    )
    if other is not None:
        scored = scored.unionByName(
            other.select(
                "media_id",
                "source",
                F.lit(None).cast("string").alias("label"),
                F.lit(None).cast("int").alias("label_index"),
                F.lit(None).cast("float").alias("confidence"),
                F.lit(None).cast(ArrayType(FloatType(), False)).alias("embedding"),
                F.concat(F.lit("no model trained on source "), F.col("source")).alias("reason"),
            )
        )
    return scored.select(
        "*",
        F.lit(champion.name).alias("model_name"),
        F.lit(champion.version).alias("model_version"),
        F.current_timestamp().alias("scored_at"),
        F.lit(run_date).cast("date").alias("dt"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in GOLD_MEDIA_LABELS.fields])


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32 ``[n, d]``; all-zero rows stay zero (their similarities are 0)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def topk_block(block: np.ndarray, matrix: np.ndarray, offset: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` most similar rows of ``matrix`` for each row of ``block``, excluding the row itself.

    The ``[b, n]`` similarity block is one matrix product; the selection is ``tf.math.top_k`` (multi-threaded,
    about 5x faster than ``numpy.argpartition`` here; TensorFlow is already loaded in a scoring worker).

    Args:
        block: unit-norm float32 ``[b, d]``: rows ``offset .. offset + b - 1`` of ``matrix``.
        matrix: unit-norm float32 ``[n, d]``.
        k: neighbours wanted; ``min(k, n - 1)`` are returned.

    Returns:
        ``(indices int64 [b, k'], similarities float32 [b, k'])``, each row by similarity descending, ties by the
        lower index.
    """
    import tensorflow as tf

    n, b = len(matrix), len(block)
    kk = min(k, n - 1)
    if kk <= 0 or b == 0:
        return np.zeros((b, max(kk, 0)), np.int64), np.zeros((b, max(kk, 0)), np.float32)
    sims = tf.matmul(tf.constant(block, tf.float32), tf.constant(matrix, tf.float32), transpose_b=True)
    own = np.stack([np.arange(b), offset + np.arange(b)], axis=1)
    sims = tf.tensor_scatter_nd_update(sims, own, tf.fill([b], -np.inf))
    values, indices = tf.math.top_k(sims, k=kk, sorted=True)
    return indices.numpy().astype(np.int64), values.numpy().astype(np.float32)


def similar_media(embeddings: DataFrame, k: int = 5, block_rows: int = 1024) -> DataFrame:
    """Top-``k`` nearest other images of the same source by cosine similarity, for every image.

    Args:
        embeddings: ``media_id`` (unique), ``source``, ``embedding`` (``array<float>``, same length per source).
        k: neighbours per image (fewer when a source has ``<= k`` images).
        block_rows: query rows per task (each task holds a ``block_rows x n`` similarity block).

    Returns:
        :data:`NEIGHBOUR_SCHEMA` rows (``media_id``, ``source``, ``rank`` 1..k, ``neighbour_id``, ``similarity``).
        The embedding matrices are collected to the driver and broadcast (see the module docstring).
    """
    spark = embeddings.sparkSession
    pdf = embeddings.select("source", "media_id", "embedding").toPandas()
    matrices: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    blocks = []
    for source, group in pdf.groupby("source", sort=True):
        group = group.sort_values("media_id")
        ids = group["media_id"].to_numpy(dtype=object)
        mat = l2_normalise(np.stack(group["embedding"].to_numpy()))
        matrices[str(source)] = (ids, mat)
        blocks += [(str(source), s, min(s + block_rows, len(ids))) for s in range(0, len(ids), block_rows)]
    if not blocks:
        return spark.createDataFrame([], NEIGHBOUR_SCHEMA)
    bc = spark.sparkContext.broadcast(matrices)
    block_df = spark.createDataFrame(pd.DataFrame(blocks, columns=["source", "start", "end"]))
    block_df = block_df.repartition(min(len(blocks), max(1, spark.sparkContext.defaultParallelism * 2)))

    def neighbours(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        data = bc.value
        for part in parts:
            for source, start, end in part.itertuples(index=False):
                ids, mat = data[source]
                idx, sims = topk_block(mat[start:end], mat, int(start), k)
                b, kk = idx.shape
                yield pd.DataFrame(
                    {
                        "media_id": np.repeat(ids[start:end], kk),
                        "source": source,
                        "rank": np.tile(np.arange(1, kk + 1, dtype=np.int32), b),
                        "neighbour_id": ids[idx.reshape(-1)],
                        "similarity": sims.reshape(-1),
                    }
                )

    return block_df.mapInPandas(neighbours, NEIGHBOUR_SCHEMA)


def gold_similar(neighbours: DataFrame, champion: Champion, run_date: dt.date) -> DataFrame:
    """Neighbour rows -> :data:`GOLD_MEDIA_SIMILAR` (model name/version, ``dt = run_date``)."""
    return neighbours.select(
        "media_id",
        "source",
        "rank",
        "neighbour_id",
        "similarity",
        F.lit(champion.name).alias("model_name"),
        F.lit(champion.version).alias("model_version"),
        F.lit(run_date).cast("date").alias("dt"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in GOLD_MEDIA_SIMILAR.fields])


def synthetic_media(
    spark: SparkSession,
    champion: Champion,
    tracking_uri: str,
    registry_uri: str | None,
    num_classes: int,
    per_class: int,
    seed: int,
    run_date: dt.date,
    run_id: str,
) -> DataFrame:
    """``per_class`` generated images for each of ``num_classes`` classes -> :data:`GOLD_SYNTHETIC_MEDIA` rows.

    Row ``i`` asks for class ``i // per_class`` with latent seed ``seed * 1_000_003 + i`` (reproducible);
    ``media_id`` is ``synthetic:<generator name>:v<version>:<run_id>:<i>``, ``source`` is ``synthetic`` and
    ``is_synthetic`` is true. The generator is loaded once per Python worker.
    """
    n = num_classes * per_class
    rows = spark.range(n).select(
        F.col("id").alias("row"),
        (F.col("id") / F.lit(per_class)).cast("int").alias("label"),
        (F.lit(seed * 1_000_003) + F.col("id")).alias("seed"),
    )
    rows = rows.repartition(max(1, min(n // 256 + 1, spark.sparkContext.defaultParallelism)))
    uri, name, version = champion.uri, champion.name, champion.version

    def generate(parts: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = load_python_model(uri, tracking_uri, registry_uri)
        for part in parts:
            out = model.predict(None, part[["label", "seed"]])
            out.insert(0, "row", part["row"].to_numpy())
            out["seed"] = part["seed"].to_numpy()
            yield out

    gen = rows.mapInPandas(generate, GENERATED_SCHEMA)
    return gen.select(
        F.concat_ws(":", F.lit("synthetic"), F.lit(name), F.lit(f"v{version}"), F.lit(run_id), F.col("row")).alias(
            "media_id"
        ),
        F.lit("synthetic").alias("source"),
        F.lit(True).alias("is_synthetic"),
        "label",
        "label_name",
        "height",
        "width",
        "channels",
        "pixels",
        "seed",
        F.lit(name).alias("generator_name"),
        F.lit(version).alias("generator_version"),
        F.current_timestamp().alias("generated_at"),
        F.lit(run_date).cast("date").alias("dt"),
    ).select(*[F.col(f.name).cast(f.dataType) for f in GOLD_SYNTHETIC_MEDIA.fields])

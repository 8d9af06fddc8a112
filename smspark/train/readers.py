"""Petastorm reading of feature tables for Horovod workers.

Feature tables are plain Parquet written by Spark: scalar columns (int32, int64, float32, ...) and
fixed-length array columns (``array<int>`` token ids, ``array<int>`` image pixels, ...). Each Horovod rank
reads its own shard with :func:`petastorm.make_batch_reader` (``cur_shard=rank, shard_count=size``) and feeds
Keras a ``tf.data.Dataset``.

What ``make_batch_reader`` yields (petastorm 0.13.1, pyarrow 14): one namedtuple per Parquet row-group chunk,
each field a numpy array. A scalar column comes out as shape ``[n]`` of its Parquet dtype. A Spark
``array<int>`` column (Parquet ``list<int32>``) is stacked with ``np.vstack`` into a dense ``int32`` array of
shape ``[n, L]`` (rows of unequal length raise ``RuntimeError`` inside the reader), but the inferred schema only
knows the shape ``(None,)``, so ``make_petastorm_dataset`` gives a ``TensorSpec(shape=(None, None))``. This module
reads ``L`` from the first row of the Parquet data and pins the static shape to ``[batch, L]``; it also casts the
values back to the column's element dtype (an element null would have turned the row into float64).

Sharding traps handled here:

* Petastorm shards by *row groups* (``row_group_index % shard_count == cur_shard``). A table with fewer non-empty
  row groups than shards leaves a rank with nothing to read; :func:`petastorm_dataset` checks this up front and
  raises ``ValueError`` (write the table with more files / row groups, e.g. ``repartition``).
* Row groups differ in size, so shards are uneven. For training read with ``num_epochs=None`` (infinite) and pass
  ``steps_per_epoch(rows, batch_size, hvd.size())`` to ``fit``: every rank then runs the same number of steps and
  no rank waits forever in an allreduce. For evaluation read finitely on one shard (``cur_shard=0,
  shard_count=1``) on rank 0.

Autotuning is off for these datasets (``tf.data.Options().autotune.enabled = False``). Its optimisation thread
sleeps between passes for a period that doubles up to 60 s, and destroying an iterator waits for that thread
(``RootDataset::Iterator::~Iterator`` joins it) without waking it (TensorFlow 2.18; a native stack of the waiting
rank shows the thread in ``Model::OptimizeLoop``'s timed wait). The driver waits for the rank meanwhile: 5 of 9
four-epoch GAN trainings ended 34-43 s after their last epoch instead of 6-7 s, a nightly's 20-epoch one 51 s.
The prefetch keeps ``tf.data.AUTOTUNE`` as its buffer size, which then falls back to the prefetch op's own
(legacy) buffer tuner, which needs no thread.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

import smspark  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from smspark import storage

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)

# Petastorm 0.13.1 still uses pyarrow's legacy ParquetDataset API: pyarrow 14 emits a FutureWarning for every
# reader and row group (expected with this stack, see DESIGN.md section 3). Silence exactly those.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"petastorm(\.|$)")

#: Reader threads per rank. Each rank is one process; with several ranks per machine a few threads suffice.
READER_WORKERS = 2
#: Upper bound on the row-level shuffle buffer (rows), on top of Petastorm's row-group shuffling.
MAX_SHUFFLE_BUFFER_ROWS = 10_000


def petastorm_url(uri: str) -> str:
    """The URL Petastorm opens for a storage URI: ``file:///...`` (unencoded) for whatever this host mounts
    (local paths, ``/Volumes``, ``dbfs:`` through ``/dbfs``), the URI itself for object stores and HDFS (Petastorm
    serves those through fsspec / pyarrow)."""
    local = storage.local_path(uri)
    return "file://" + local if local is not None else storage.resolve_root(uri)


def data_location(url_or_path: str) -> str:
    """Where a feature table's rows are: the committed data directory of a table written with an atomic commit
    (:mod:`smspark.tables`), else the location itself."""
    from smspark import tables

    return tables.data_uri(url_or_path) if tables.current(url_or_path) is not None else url_or_path


def _open_dataset(url_or_path: str) -> pads.Dataset:
    """Open a Parquet directory (or file) with hive partition discovery; files named ``_*`` / ``.*`` are skipped.
    A committed table (:mod:`smspark.tables`) is opened at its current data directory."""
    try:
        fs, path = storage.arrow_filesystem(data_location(url_or_path))
        return pads.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    except (FileNotFoundError, pa.ArrowInvalid) as exc:
        raise ValueError(f"cannot open Parquet data at {url_or_path!r}: {exc}") from exc


def _non_empty_row_groups(dataset: pads.Dataset) -> list[tuple[pads.ParquetFileFragment, int, int]]:
    """``(fragment, row_group_index, num_rows)`` for every row group holding at least one row."""
    out = []
    for fragment in dataset.get_fragments():
        metadata = fragment.metadata
        for i in range(metadata.num_row_groups):
            n = metadata.row_group(i).num_rows
            if n > 0:
                out.append((fragment, i, n))
    return out


def parquet_row_count(path: str) -> int:
    """Number of rows in a Parquet file or directory, from the footers only (no data is read).

    Args:
        path: a storage URI or local path (see :mod:`smspark.storage`).

    Raises:
        ValueError: when nothing readable is at ``path``.
    """
    dataset = _open_dataset(path)
    return sum(fragment.metadata.num_rows for fragment in dataset.get_fragments())


def steps_per_epoch(rows: int, batch_size: int, size: int) -> int:
    """Steps each of ``size`` ranks runs per epoch: ``max(1, rows // (batch_size * size))``.

    Raises:
        ValueError: for a negative ``rows`` or a non-positive ``batch_size`` / ``size``.
    """
    if rows < 0 or batch_size < 1 or size < 1:
        raise ValueError(f"need rows >= 0, batch_size >= 1, size >= 1; got {rows=}, {batch_size=}, {size=}")
    return max(1, rows // (batch_size * size))


def _list_column_lengths(
    rowgroups: list[tuple[pads.ParquetFileFragment, int, int]], columns: list[str]
) -> dict[str, int]:
    """Length ``L`` of each fixed-length array column, read from the first row of the first non-empty row group."""
    if not columns:
        return {}
    fragment, rg_index, _ = rowgroups[0]
    with fragment.filesystem.open_input_file(fragment.path) as handle:
        table = pq.ParquetFile(handle).read_row_group(rg_index, columns=columns)
    lengths = {}
    for name in columns:
        first = table.column(name).slice(0, 1).to_pylist()[0]
        if first is None:
            raise ValueError(f"array column {name!r} has a null first row; feature arrays must be non-null")
        lengths[name] = len(first)
    return lengths


def untuned_options():  # -> tf.data.Options
    """``tf.data.Options`` with autotuning off (see the module docstring: no optimisation thread whose join can
    hold up an iterator's destruction for up to 60 s)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


@contextlib.contextmanager
def petastorm_dataset(
    url: str,
    *,
    feature_cols: list[str],
    label_col: str | None,
    batch_size: int,
    cur_shard: int,
    shard_count: int,
    num_epochs: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
) -> Iterator[tf.data.Dataset]:
    """Read this rank's shard of a Parquet feature table as a batched ``tf.data.Dataset``.

    Use as a context manager; the Petastorm reader (and its threads) stop when the block exits, so consume the
    dataset inside the block::

        with petastorm_dataset(url, feature_cols=["token_ids"], label_col="label", batch_size=64,
                               cur_shard=hvd.rank(), shard_count=hvd.size()) as ds:
            model.fit(ds, steps_per_epoch=steps_per_epoch(rows, 64, hvd.size()), epochs=3)

    Elements are ``(features, label)``, or just ``features`` when ``label_col`` is None. ``features`` is a single
    tensor when there is one feature column, else a dict ``{column: tensor}`` in ``feature_cols`` order. Shapes and
    dtypes per batch of ``B`` rows:

    * scalar column: ``[B]`` with the Parquet dtype (int32 -> tf.int32, float -> tf.float32, bigint -> tf.int64);
    * fixed-length array column of length ``L``: dense ``[B, L]`` with the element dtype (``array<int>`` ->
      tf.int32);
    * binary / string column: ``[B]`` tf.string (decode it in the model or a ``map``).

    Args:
        url: storage URI of the Parquet directory (``file:///...``, ``s3a://...``, a plain path, ...).
        feature_cols: model input columns.
        label_col: target column, or None for unlabelled data.
        batch_size: rows per batch on this rank.
        cur_shard: this reader's shard, usually ``hvd.rank()``.
        shard_count: number of shards, usually ``hvd.size()``.
        num_epochs: None reads forever (training: pair with ``steps_per_epoch``); an int reads that many passes and
            keeps the last partial batch (evaluation).
        shuffle: shuffle row groups in Petastorm and rows in a buffer of up to ``MAX_SHUFFLE_BUFFER_ROWS``.
        seed: seed for both shuffles (row order is still not fully deterministic with several reader threads).

    Raises:
        ValueError: bad arguments, unknown columns, an empty table, or fewer non-empty row groups than
            ``shard_count`` (some shard would be empty and its rank would hang the allreduce).
        RuntimeError: (from the reader, while iterating) an array column whose rows have different lengths.
    """
    import tensorflow as tf
    from petastorm import make_batch_reader
    from petastorm.tf_utils import make_petastorm_dataset

    if not feature_cols:
        raise ValueError("feature_cols must name at least one column")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if shard_count < 1 or not 0 <= cur_shard < shard_count:
        raise ValueError(f"need 0 <= cur_shard < shard_count, got cur_shard={cur_shard}, shard_count={shard_count}")
    if num_epochs is not None and num_epochs < 1:
        raise ValueError(f"num_epochs must be None (infinite) or >= 1, got {num_epochs}")

    dataset = _open_dataset(url)
    schema = dataset.schema
    columns = list(dict.fromkeys([*feature_cols, *([label_col] if label_col is not None else [])]))
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise ValueError(f"columns {missing} not in {url}; available: {schema.names}")

    rowgroups = _non_empty_row_groups(dataset)
    if not rowgroups:
        raise ValueError(f"no rows in {url}")
    if len(rowgroups) < shard_count:
        raise ValueError(
            f"{url} has {len(rowgroups)} non-empty Parquet row group(s) but {shard_count} shards were requested; "
            "Petastorm shards by row group, so some rank would get no data and hang. Write the table with at least "
            f"{shard_count} files/row groups (e.g. df.repartition(n) with n >= {shard_count}) or use fewer workers."
        )

    list_cols = [c for c in columns if pa.types.is_list(schema.field(c).type)]
    lengths = _list_column_lengths(rowgroups, list_cols)
    target_dtypes = {c: tf.dtypes.as_dtype(schema.field(c).type.value_type.to_pandas_dtype()) for c in list_cols}
    logger.info(
        "petastorm_dataset %s shard %d/%d: %d row groups in table, array lengths %s, num_epochs=%s",
        url,
        cur_shard,
        shard_count,
        len(rowgroups),
        lengths,
        num_epochs,
    )

    def _dense(name: str, tensor: tf.Tensor) -> tf.Tensor:
        if name in lengths:
            if tensor.dtype != target_dtypes[name]:
                tensor = tf.cast(tensor, target_dtypes[name])
            tensor = tf.ensure_shape(tensor, [None, lengths[name]])
        return tensor

    def _to_example(batch):  # namedtuple of [n, ...] tensors -> (features, label)
        fields = batch._asdict()
        feats = {c: _dense(c, fields[c]) for c in feature_cols}
        x = feats[feature_cols[0]] if len(feature_cols) == 1 else feats
        if label_col is None:
            return x
        return x, _dense(label_col, fields[label_col])

    training = num_epochs is None
    with make_batch_reader(
        petastorm_url(data_location(url)),
        schema_fields=columns,
        cur_shard=cur_shard,
        shard_count=shard_count,
        num_epochs=num_epochs,
        shuffle_row_groups=shuffle,
        seed=seed,
        workers_count=READER_WORKERS,
    ) as reader:
        ds = make_petastorm_dataset(reader).map(_to_example).unbatch()
        if shuffle:
            buffer = min(MAX_SHUFFLE_BUFFER_ROWS, max(1024, 16 * batch_size))
            ds = ds.shuffle(buffer, seed=seed)
        ds = ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
        yield ds.with_options(untuned_options())

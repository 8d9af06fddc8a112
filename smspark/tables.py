"""Atomic table commits for Parquet tables written by Spark: readers see the previous version or the new one,
never a part of a write.

A table at URI ``T`` keeps its data in version directories and one commit file that says which are current::

    T/_smspark_commit.json                  the commit: version, transaction, partition -> version directory
    T/dt=2026-11-21/.v-<txn>/part-*.parquet  a partition's data as written by transaction <txn>
    T/.v-<txn>/part-*.parquet               an unpartitioned table's data
    T/_staging/<txn>/                       Spark's output while a write runs

A write (:func:`write`) lets Spark write the whole DataFrame under ``T/_staging/<txn>``, moves every written
partition directory to its ``.v-<txn>`` place (a rename on a local disk, HDFS or DBFS), and then publishes the new
commit file in one atomic step (a rename over the old one). That rename is the commit: until it happens readers
resolve the old commit and read the old version directories, which the write never touches; a job killed before it
leaves only staging and unreferenced version directories behind, which the next write removes (:func:`vacuum`).
Version directories start with ``.`` and the commit and staging with ``_``, so Spark's own file listing skips them
all: a table is read through :func:`read`, which lists exactly the committed directories
(``spark.read.option("basePath", T).parquet(*dirs)``: partition columns are still discovered from the paths).

Two write modes, as Spark's partition overwrite modes: ``overwrite`` replaces the whole table; ``partitions``
replaces only the partitions present in the DataFrame, plus partitions named in ``replace`` even when the DataFrame
has no rows for them (a re-run that quarantines nothing must clear that date's quarantine), and keeps the others.
Superseded version directories are kept for ``keep_versions`` commits (readers that resolved the previous commit
just before a write can finish) and removed afterwards.

This is the single-writer protocol of a nightly batch job; it is not a multi-writer table format (use Delta Lake
where one is available: the table format is a setting of the deployment, Parquet with this commit locally).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smspark import faults, storage

log = logging.getLogger(__name__)

COMMIT_FILE = "_smspark_commit.json"
STAGING = "_staging"
VERSION_PREFIX = ".v-"
FORMAT = "smspark-table/1"
#: The key of an unpartitioned table's single "partition".
WHOLE = ""


class TableNotFound(FileNotFoundError):
    """Nothing was ever committed (or written) at a table location."""


@dataclass
class Commit:
    """One committed version of a table.

    Attributes:
        version: 1, 2, ... (one per successful write).
        txn: the transaction that wrote it (names its version directories).
        partition_by: partition columns, in directory order.
        partitions: partition path (``dt=2026-11-21``, ``stage=etl/ingest_date=...``; ``""`` unpartitioned) ->
            version directory name (``.v-<txn>``).
        schema: the table's Spark schema as JSON (so an empty table can still be read).
        rows: rows written by this transaction per partition path.
        previous: the partitions map of the commit before (kept for ``keep_versions``).
        meta: what the writer records with this version (JSON values), committed atomically with the data: e.g.
            the bronze partitions an incremental etl has merged (:mod:`smspark.jobs.steps.posts`).
    """

    version: int
    txn: str
    partition_by: list[str]
    partitions: dict[str, str]
    schema: str
    rows: dict[str, int] = field(default_factory=dict)
    previous: list[dict[str, str]] = field(default_factory=list)
    committed_at: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **self.__dict__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Commit:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} commit: {data.get('format')!r}")
        return cls(**{k: v for k, v in data.items() if k != "format"})


def commit_uri(uri: str) -> str:
    return storage.join(uri, COMMIT_FILE)


def current(uri: str) -> Commit | None:
    """The table's current commit, or None when it has none (never written, or written before commits existed)."""
    try:
        return Commit.from_json(storage.read_json(commit_uri(uri)))
    except FileNotFoundError:
        return None


def exists(uri: str) -> bool:
    """Whether the table has a commit (or, for a table written without commits, any data)."""
    return current(uri) is not None or (storage.exists(uri) and _has_plain_data(uri))


def _has_plain_data(uri: str) -> bool:
    return any(not n.startswith(("_", ".")) for n in storage.listdir(uri))


def data_uris(uri: str) -> list[str]:
    """URIs of the committed data directories (one per partition; one for an unpartitioned table).

    A table without a commit but with plain Parquet data (written by Spark directly) is its own data directory.

    Raises:
        TableNotFound: nothing at ``uri``.
    """
    commit = current(uri)
    if commit is None:
        if storage.exists(uri) and _has_plain_data(uri):
            return [uri]
        raise TableNotFound(f"no table at {uri}")
    return [
        storage.join(uri, part, vdir) if part else storage.join(uri, vdir) for part, vdir in commit.partitions.items()
    ]


def data_uri(uri: str) -> str:
    """The one committed data directory of an unpartitioned table (what Petastorm and pyarrow open).

    Raises:
        TableNotFound: nothing at ``uri``.
        ValueError: the table is partitioned.
    """
    uris = data_uris(uri)
    commit = current(uri)
    if commit is not None and commit.partition_by:
        raise ValueError(f"{uri} is partitioned by {commit.partition_by}: read it with tables.read")
    return uris[0]


def partition_values(uri: str, column: str) -> list[str]:
    """The committed values of the partition column ``column`` (``dt`` -> ``["2026-11-21", ...]``), sorted;
    ``[]`` when the table does not exist or is empty.

    Raises:
        ValueError: the table is not partitioned by ``column``.
    """
    commit = current(uri)
    if commit is None:
        if not storage.exists(uri):
            return []
        names = [n for n in storage.listdir(uri) if n.startswith(f"{column}=")]
        return sorted(n.split("=", 1)[1] for n in names)
    if column not in commit.partition_by:
        raise ValueError(f"{uri} is not partitioned by {column} (partitions: {commit.partition_by})")
    values = {dict(kv.split("=", 1) for kv in part.split("/"))[column] for part in commit.partitions if part}
    return sorted(values)


def read(spark: Any, uri: str, schema: Any = None) -> Any:
    """The committed version of the table at ``uri`` as a DataFrame (partition columns discovered from the paths).

    Args:
        spark: the session.
        uri: the table location.
        schema: an explicit ``StructType`` to read with (default: the Parquet footers').

    Raises:
        TableNotFound: nothing at ``uri``.
    """
    from pyspark.sql.types import StructType

    commit = current(uri)
    if commit is None:
        reader = spark.read if schema is None else spark.read.schema(schema)
        if not (storage.exists(uri) and _has_plain_data(uri)):
            raise TableNotFound(f"no table at {uri}")
        return reader.parquet(storage.spark_path(uri))
    if not commit.partitions:
        return spark.createDataFrame([], schema or StructType.fromJson(_json(commit.schema)))
    reader = spark.read.option("basePath", storage.spark_path(uri))
    if schema is not None:
        reader = reader.schema(schema)
    return reader.parquet(*(storage.spark_path(u) for u in data_uris(uri)))


def read_arrow(uri: str, columns: Sequence[str] | None = None) -> Any:
    """The committed version of the table at ``uri`` as a ``pyarrow.Table`` read on this process (no Spark):
    what a driver-side check or a test reads. Partition columns come last, as strings (``dt`` -> ``"2026-11-21"``).

    Args:
        uri: the table location.
        columns: the columns to read (data or partition columns; default all).

    Raises:
        TableNotFound: nothing at ``uri``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    commit = current(uri)
    if commit is None:
        if not (storage.exists(uri) and _has_plain_data(uri)):
            raise TableNotFound(f"no table at {uri}")
        fs, path = storage.arrow_filesystem(uri)
        return pq.read_table(path, columns=list(columns) if columns else None, filesystem=fs)
    wanted_parts = [c for c in commit.partition_by if columns is None or c in columns]
    data_cols = None if columns is None else [c for c in columns if c not in commit.partition_by]
    pieces = []
    for part, vdir in sorted(commit.partitions.items()):
        fs, path = storage.arrow_filesystem(storage.join(uri, part, vdir) if part else storage.join(uri, vdir))
        t = pq.read_table(path, columns=data_cols, filesystem=fs)
        values = dict(kv.split("=", 1) for kv in part.split("/") if "=" in kv)
        for col in wanted_parts:
            t = t.append_column(col, pa.array([values[col]] * t.num_rows, pa.string()))
        pieces.append(t)
    if not pieces:
        raise TableNotFound(f"the table at {uri} is committed empty; read it with tables.read for its schema")
    return pa.concat_tables(pieces, promote_options="default")


def _json(text: str) -> dict[str, Any]:
    import json

    return json.loads(text)


def partition_path(values: Mapping[str, Any], partition_by: Sequence[str]) -> str:
    """``{"stage": "etl", "ingest_date": date(2026, 11, 21)}`` -> ``stage=etl/ingest_date=2026-11-21`` (Hive style,
    the way Spark names partition directories; dates as ISO strings)."""
    parts = []
    for col in partition_by:
        v = values[col]
        text = v.isoformat() if isinstance(v, dt.date) else str(v)
        parts.append(f"{col}={text}")
    return "/".join(parts)


def _matches_any(part: str, specs: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the partition path ``part`` has the values of one of ``specs`` (a spec names some partition columns;
    the others match anything)."""
    values = dict(kv.split("=", 1) for kv in part.split("/") if "=" in kv)
    for spec in specs:
        if all(values.get(col) == partition_path({col: v}, [col]).split("=", 1)[1] for col, v in spec.items()):
            return True
    return False


def _written_partitions(staging: str, depth: int) -> list[str]:
    """Partition paths Spark wrote under ``staging`` (``depth`` levels of ``col=value`` directories)."""
    paths = [""]
    for _ in range(depth):
        paths = [
            f"{p}/{n}".lstrip("/")
            for p in paths
            for n in storage.listdir(storage.join(staging, p) if p else staging)
            if "=" in n and not n.startswith(("_", "."))
        ]
    return paths


def write(
    df: Any,
    uri: str,
    partition_by: Sequence[str] = (),
    mode: str = "overwrite",
    replace: Iterable[Mapping[str, Any]] = (),
    keep_versions: int = 1,
    meta: Mapping[str, Any] | None = None,
    max_records_per_file: int | None = None,
) -> Commit:
    """Write ``df`` to the table at ``uri`` and commit it atomically.

    Args:
        df: the rows to write.
        uri: the table location (a storage URI).
        partition_by: partition columns (none: an unpartitioned table).
        mode: ``overwrite`` (the table becomes exactly ``df``) or ``partitions`` (the partitions present in ``df``
            and those in ``replace`` are replaced; the others are kept).
        replace: partition values (``{column: value}``, naming some or all partition columns) whose partitions are
            replaced even if ``df`` has no row for them (mode ``partitions``): ``{"stage": "etl"}`` clears every
            ``stage=etl/...`` partition.
        keep_versions: superseded commits whose version directories are kept for readers still on them.
        meta: recorded in the new commit (:attr:`Commit.meta`), published by the same rename as the data.
        max_records_per_file: rows per Parquet file at most (Spark's ``maxRecordsPerFile``; None: Spark's
            setting): with one write task per partition, a partition is ``ceil(rows / max)`` files.

    Returns:
        The new :class:`Commit` (``rows`` per written partition).

    Raises:
        ValueError: an unknown ``mode``, ``partitions`` mode without partition columns, or a partitioning that
            differs from the table's.
    """
    if mode not in ("overwrite", "partitions"):
        raise ValueError(f"unknown write mode {mode!r}: overwrite or partitions")
    partition_by = list(partition_by)
    if mode == "partitions" and not partition_by:
        raise ValueError("mode 'partitions' needs partition columns")
    before = current(uri)
    if before is not None and mode == "partitions" and before.partition_by != partition_by:
        raise ValueError(f"{uri} is partitioned by {before.partition_by}, not {partition_by}")
    vacuum(uri, keep_versions)  # leftovers of a write that died
    txn = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    staging = storage.join(uri, STAGING, txn)
    vdir = VERSION_PREFIX + txn
    writer = df.write.mode("overwrite")
    if max_records_per_file:
        writer = writer.option("maxRecordsPerFile", int(max_records_per_file))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(storage.spark_path(staging))
    faults.point("table.staged", uri)

    written: dict[str, str] = {}
    if partition_by:
        for part in _written_partitions(staging, len(partition_by)):
            storage.move(storage.join(staging, part), storage.join(uri, part, vdir))
            written[part] = vdir
    else:
        storage.move(staging, storage.join(uri, vdir))
        written[WHOLE] = vdir
    storage.remove(storage.join(uri, STAGING, txn))
    faults.point("table.moved", uri)

    if mode == "partitions" and before is not None:
        partitions = {p: v for p, v in before.partitions.items() if not _matches_any(p, replace)}
        partitions.update(written)
    else:
        partitions = written
    previous = ([before.partitions] + before.previous)[:keep_versions] if before is not None else []
    commit = Commit(
        version=(before.version + 1) if before is not None else 1,
        txn=txn,
        partition_by=partition_by,
        partitions=dict(sorted(partitions.items())),
        schema=df.schema.json(),
        previous=previous,
        committed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        meta=dict(meta or {}),
    )
    storage.write_json(commit_uri(uri), commit.to_json())  # the commit: one atomic rename
    vacuum(uri, keep_versions)
    return commit


def commit_meta(uri: str, meta: Mapping[str, Any], keep_versions: int = 1) -> Commit:
    """Commit a new version of the table at ``uri`` with the same data and new :attr:`Commit.meta`: what a writer
    records when it has no rows to change (an incremental etl whose new bronze rows are all in silver already).
    No data directory is written or moved; version directories no commit within ``keep_versions`` references any
    more are removed (:func:`vacuum`), as after a write.

    Raises:
        TableNotFound: the table has no commit.
    """
    before = current(uri)
    if before is None:
        raise TableNotFound(f"no committed table at {uri}")
    txn = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    commit = Commit(
        version=before.version + 1,
        txn=txn,
        partition_by=before.partition_by,
        partitions=dict(before.partitions),
        schema=before.schema,
        previous=([before.partitions] + before.previous)[:keep_versions],
        committed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        meta=dict(meta),
    )
    storage.write_json(commit_uri(uri), commit.to_json())
    vacuum(uri, keep_versions)
    return commit


def vacuum(uri: str, keep_versions: int = 1) -> list[str]:
    """Remove what no reader can need: staging of writes that did not commit, and version directories referenced
    neither by the current commit nor by the ``keep_versions`` commits before it. Returns the removed URIs.

    A table without a commit is left alone (it may be plain Parquet written by another tool).
    """
    commit = current(uri)
    if commit is None:
        return []
    removed = []
    staging = storage.join(uri, STAGING)
    if storage.exists(staging):
        storage.remove(staging)
        removed.append(staging)
    keep: set[tuple[str, str]] = {(p, v) for p, v in commit.partitions.items()}
    for older in commit.previous[:keep_versions]:
        keep |= {(p, v) for p, v in older.items()}
    depth = len(commit.partition_by)
    for part in _written_partitions(uri, depth) if depth else [WHOLE]:
        base = storage.join(uri, part) if part else uri
        for name in storage.listdir(base):
            if name.startswith(VERSION_PREFIX) and (part, name) not in keep:
                storage.remove(storage.join(base, name))
                removed.append(storage.join(base, name))
    if removed:
        log.debug("%s: removed %d superseded or uncommitted version(s)", uri, len(removed))
    return removed

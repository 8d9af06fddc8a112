"""Unchanged landing deliveries: an ingest that would parse the same files again copies the bronze partition instead.

A nightly job re-ingests its landing folder every night; most nights the files are those of the night before. An
ingest records in the bronze table's commit meta (key :data:`META_KEY`, per ingest date) the *landing fingerprint* of
what it parsed (:func:`fingerprint`): the SHA-256 of every landing file read (by path), the SHA-256 of the parsing
code (the sources of :mod:`smspark.etl` and :mod:`smspark.schemas`) and the ingest settings, with the number of
lines read. When the fingerprint of a new date equals the latest earlier date's, parsing would produce the same rows
and rejects: the ingest copies that date's bronze rows and ingest rejects to the new date (``ingest_date`` replaced;
``source_file`` names the same files) and reconciles with the recorded line count. A re-run of a date, another file,
changed content, parsing code or settings, or ``ingest.reuse: false`` parse the files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from smspark import storage, tables

#: Key of a bronze table's commit meta: ISO ingest date -> ``{"fingerprint", "lines"}``.
META_KEY = "landing"
#: Ingest dates whose fingerprints the meta keeps (the newest that are partitions of the table).
KEEP_DATES = 8


def parser_digest(modules: Sequence[str] = ()) -> str:
    """SHA-256 (hex) of the sources of every module of :mod:`smspark.etl`, of :mod:`smspark.schemas` and of
    ``modules`` (dotted names, e.g. the ingest step's own module): the code that turns landing files into bronze rows
    (a change anywhere there parses the files again)."""
    import importlib

    import smspark.etl

    paths = sorted(Path(smspark.etl.__file__).parent.glob("*.py"))
    paths += [Path(importlib.import_module(m).__file__) for m in ("smspark.schemas", *modules)]
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def sha256_of(fh: BinaryIO, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of what is left to read in the binary file ``fh``, read ``chunk`` bytes at a time (memory stays
    bounded whatever the file's size)."""
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(chunk), b""):
        h.update(block)
    return h.hexdigest()


def file_sha256(uri: str) -> str:
    """SHA-256 (hex) of the file at storage URI ``uri`` (:func:`smspark.storage.filesystem`), streamed.

    Raises:
        FileNotFoundError: nothing at ``uri``.
    """
    fs, path = storage.filesystem(uri)
    with fs.open(path, "rb") as fh:
        return sha256_of(fh)


def local_sha256(path: Path) -> str:
    """SHA-256 (hex) of the local file ``path``, streamed."""
    with path.open("rb") as fh:
        return sha256_of(fh)


def fingerprint(
    files: Sequence[str],
    settings: Mapping[str, Any],
    modules: Sequence[str] = (),
    digest: Callable[[str], str] = file_sha256,
) -> dict[str, Any]:
    """The landing fingerprint of an ingest reading ``files`` (storage URIs; ``digest`` gives a file's SHA-256, by
    default streamed through :mod:`smspark.storage`) with ``settings`` (JSON values) and the parsing code of
    :func:`parser_digest` (``modules``).

    Returns:
        ``{"files": {uri: sha256 hex of its bytes}, "parser": sha256 hex, "settings": settings}`` as JSON values.
    """
    digests = {f: digest(f) for f in sorted(files)}
    data = {"files": digests, "parser": parser_digest(modules), "settings": dict(settings)}
    return json.loads(json.dumps(data, default=str, sort_keys=True))


def unchanged_since(uri: str, fp: Mapping[str, Any], run_date: dt.date, enabled: bool = True) -> dict[str, Any] | None:
    """The latest earlier ingest date of the bronze table at ``uri`` recorded with fingerprint ``fp``, as
    ``{"date": ISO date, "lines": lines read then}``, or None (reuse off, no earlier date, another fingerprint, or
    that partition no longer in the table). Only the latest earlier date is a candidate."""
    recorded = _recorded(uri) if enabled else {}
    if not recorded:
        return None
    day = run_date.isoformat()
    present = set(tables.partition_values(uri, "ingest_date"))
    earlier = [d for d in recorded if d < day and d in present]
    if not earlier or recorded[max(earlier)]["fingerprint"] != fp:
        return None
    return {"date": max(earlier), "lines": int(recorded[max(earlier)]["lines"])}


def _recorded(uri: str) -> dict[str, dict[str, Any]]:
    """ISO ingest date -> ``{"fingerprint", "lines"}`` as the bronze table at ``uri`` records them in its commit (the
    :data:`KEEP_DATES` newest ingests; empty for a table without a commit or written before fingerprints)."""
    commit = tables.current(uri)
    return (commit.meta or {}).get(META_KEY, {}) if commit is not None else {}


def recorded_lines(uri: str) -> dict[str, int]:
    """ISO ingest date -> landing lines read, for the dates the bronze table at ``uri`` records (:func:`_recorded`)."""
    return {d: int(r["lines"]) for d, r in _recorded(uri).items()}


def meta_with(uri: str, fp: Mapping[str, Any], run_date: dt.date, lines: int) -> dict[str, Any]:
    """The bronze table's commit meta for the write of ``run_date``'s partition: its current meta with this date's
    fingerprint and line count added, keeping the :data:`KEEP_DATES` newest dates that are partitions."""
    commit = tables.current(uri)
    meta = dict(commit.meta) if commit is not None else {}
    present = set(tables.partition_values(uri, "ingest_date")) if commit is not None else set()
    day = run_date.isoformat()
    dates = {d: r for d, r in meta.get(META_KEY, {}).items() if d in present and d != day}
    dates[day] = {"fingerprint": dict(fp), "lines": lines}
    meta[META_KEY] = {d: dates[d] for d in sorted(dates)[-KEEP_DATES:]}
    return meta


def copy_partition(spark: Any, uri: str, source: str, run_date: dt.date) -> DataFrame:
    """The rows of bronze partition ``ingest_date=source`` of the table at ``uri`` with ``ingest_date`` = ``run_date``
    (every other column as it was parsed)."""
    rows = tables.read(spark, uri).where(F.col("ingest_date") == F.lit(dt.date.fromisoformat(source)))
    return rows.withColumn("ingest_date", F.lit(run_date).cast("date"))


def copy_ingest(ctx: Any, table: str, fp: Mapping[str, Any], same: Mapping[str, Any]) -> tuple[int, int]:
    """Ingest ``table`` for the run date as a copy of the earlier date ``same`` (:func:`unchanged_since`): its bronze
    partition (:func:`copy_partition`, committed with fingerprint ``fp``) and its ingest rejects (``quarantined_at``
    now). Returns ``(bronze rows written, rows quarantined)``; the lines read are ``same["lines"]``."""
    from smspark.jobs.io import read_parquet, write_partitions, write_quarantine
    from smspark.jobs.reuse import copy_quarantine

    out = storage.join(ctx.layout.bronze, table)
    rows = copy_partition(ctx.spark, out, same["date"], ctx.run_date)
    write_partitions(rows, out, "ingest_date", meta=meta_with(out, fp, ctx.run_date, same["lines"]))
    rejects = copy_quarantine(ctx, table, "ingest", same["date"])
    n_q = 0
    if rejects is not None:
        rejects = rejects.withColumn("quarantined_at", F.current_timestamp())
        n_q = write_quarantine(rejects, ctx.layout, table, "ingest", ctx.run_date)
    n_out = read_parquet(ctx.spark, out).where(F.col("ingest_date") == F.lit(ctx.run_date)).count()
    return n_out, n_q

"""Atomic table commits: both write modes, empty tables, retention, and a write that dies before its commit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from smspark import storage, tables

D1, D2, D3 = dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)


def _df(spark, rows):
    return spark.createDataFrame([Row(x=x, dt=d) for x, d in rows], "x int, dt date")


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return storage.join(storage.resolve_root(tmp_path / "a table"), "gold", "t")


def test_overwrite_commits_a_new_version_and_hides_its_files(spark, uri):
    with pytest.raises(tables.TableNotFound):
        tables.read(spark, uri)
    first = tables.write(_df(spark, [(1, D1), (2, D2)]), uri, ["dt"])
    assert first.version == 1 and set(first.partitions) == {"dt=2026-11-20", "dt=2026-11-21"}
    assertDataFrameEqual(tables.read(spark, uri), _df(spark, [(1, D1), (2, D2)]))
    second = tables.write(_df(spark, [(3, D3)]), uri, ["dt"])
    assert second.version == 2 and list(second.partitions) == ["dt=2026-11-22"]
    assertDataFrameEqual(tables.read(spark, uri), _df(spark, [(3, D3)]))
    # Spark's own listing sees none of it: only committed directories are read, through the commit
    assert all(n.startswith(("_", ".", "dt=")) for n in storage.listdir(uri))


def test_partitions_mode_replaces_only_what_it_names(spark, uri):
    tables.write(_df(spark, [(1, D1), (2, D2)]), uri, ["dt"])
    tables.write(_df(spark, [(20, D2), (30, D3)]), uri, ["dt"], mode="partitions")
    assertDataFrameEqual(tables.read(spark, uri), _df(spark, [(1, D1), (20, D2), (30, D3)]))
    # a re-run that produced nothing for D1 still clears D1
    empty = _df(spark, []).where("x > 0")
    commit = tables.write(empty, uri, ["dt"], mode="partitions", replace=[{"dt": D1}])
    assert "dt=2026-11-20" not in commit.partitions
    assertDataFrameEqual(tables.read(spark, uri), _df(spark, [(20, D2), (30, D3)]))
    with pytest.raises(ValueError, match="partitioned by"):
        tables.write(_df(spark, [(1, D1)]).drop("dt"), uri, ["x"], mode="partitions")


def test_an_empty_table_reads_with_its_schema(spark, uri):
    tables.write(_df(spark, []), uri, ["dt"])
    got = tables.read(spark, uri)
    assert got.count() == 0 and got.columns == ["x", "dt"]


def test_unpartitioned_table_has_one_data_directory(spark, uri):
    tables.write(_df(spark, [(1, D1)]), uri)
    data = tables.data_uri(uri)
    assert storage.name(data).startswith(".v-")
    import pyarrow.parquet as pq

    fs, path = storage.arrow_filesystem(data)
    assert pq.read_table(path, filesystem=fs).num_rows == 1


def test_superseded_versions_are_removed_after_retention(spark, uri):
    for i in range(4):
        tables.write(_df(spark, [(i, D1)]), uri, ["dt"], keep_versions=1)
    versions = storage.listdir(storage.join(uri, "dt=2026-11-20"))
    assert len(versions) == 2  # the current one and the one before it


def test_a_write_that_dies_before_its_commit_leaves_the_previous_version(spark, uri, monkeypatch):
    tables.write(_df(spark, [(1, D1), (2, D2)]), uri, ["dt"])
    real = storage.write_json

    def crash(target, data):
        if target.endswith(tables.COMMIT_FILE):
            raise OSError("No space left on device")
        return real(target, data)

    monkeypatch.setattr(storage, "write_json", crash)
    with pytest.raises(OSError, match="No space left"):
        tables.write(_df(spark, [(9, D2), (9, D3)]), uri, ["dt"], mode="partitions")
    monkeypatch.setattr(storage, "write_json", real)
    assertDataFrameEqual(tables.read(spark, uri), _df(spark, [(1, D1), (2, D2)]))  # the previous version, whole
    orphans = storage.listdir(storage.join(uri, "dt=2026-11-22"))
    assert orphans  # the dead write's moved partition is there, but not committed
    tables.write(_df(spark, [(5, D3)]), uri, ["dt"], mode="partitions")  # the next run completes and cleans up
    assertDataFrameEqual(tables.read(spark, uri), _df(spark, [(1, D1), (2, D2), (5, D3)]))
    assert len(storage.listdir(storage.join(uri, "dt=2026-11-22"))) == 1
    assert not storage.exists(storage.join(uri, tables.STAGING))


def test_a_replace_spec_may_name_some_partition_columns(spark, uri):
    rows = [Row(x=1, stage="ingest", dt=D1), Row(x=2, stage="etl", dt=D1), Row(x=3, stage="etl", dt=D2)]
    schema = "x int, stage string, dt date"
    tables.write(spark.createDataFrame(rows, schema), uri, ["stage", "dt"])
    empty = spark.createDataFrame([], schema)
    commit = tables.write(empty, uri, ["stage", "dt"], mode="partitions", replace=[{"stage": "etl"}])
    assert list(commit.partitions) == ["stage=ingest/dt=2026-11-20"]
    assert [r.x for r in tables.read(spark, uri).collect()] == [1]


def test_partition_values_come_from_the_commit_not_the_directories(spark, uri):
    assert tables.partition_values(uri, "dt") == []
    tables.write(_df(spark, [(1, D1), (2, D2)]), uri, ["dt"])
    tables.write(_df(spark, [(3, D3)]), uri, ["dt"])  # D1 and D2 stay on disk as superseded versions
    assert {"dt=2026-11-20", "dt=2026-11-21"} <= set(storage.listdir(uri))
    assert tables.partition_values(uri, "dt") == ["2026-11-22"]
    tables.write(_df(spark, [(4, D1)]), uri, ["dt"], mode="partitions")
    assert tables.partition_values(uri, "dt") == ["2026-11-20", "2026-11-22"]
    with pytest.raises(ValueError, match="not partitioned by x"):
        tables.partition_values(uri, "x")

"""The storage module: root resolution for every accepted form, joins, and side files on a path with a space."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smspark import storage


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/tmp/a b/data", "file:///tmp/a b/data"),
        ("/tmp/data/", "file:///tmp/data"),
        ("file:///tmp/a%20b/data", "file:///tmp/a b/data"),
        ("file:/tmp/x", "file:///tmp/x"),
        ("/dbfs/smspark", "dbfs:/smspark"),
        ("dbfs:/smspark/", "dbfs:/smspark"),
        ("/Volumes/main/default/raw/smspark", "/Volumes/main/default/raw/smspark"),
        ("s3a://bucket/smspark/", "s3a://bucket/smspark"),
        ("abfss://c@acct.dfs.core.windows.net/smspark", "abfss://c@acct.dfs.core.windows.net/smspark"),
        ("gs://bucket/p", "gs://bucket/p"),
        ("hdfs://nn:8020/user/smspark", "hdfs://nn:8020/user/smspark"),
    ],
)
def test_resolve_root(given: str, expected: str) -> None:
    assert storage.resolve_root(given) == expected


def test_relative_root_resolves_against_base(tmp_path: Path) -> None:
    assert storage.resolve_root("data", base=tmp_path) == f"file://{tmp_path}/data"


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(storage.StorageError, match="unsupported storage scheme 'ftp'"):
        storage.resolve_root("ftp://host/x")


def test_join_name_parent() -> None:
    uri = storage.join("s3a://b/root/", "features", "sentiment/")
    assert uri == "s3a://b/root/features/sentiment"
    assert storage.name(uri) == "sentiment"
    assert storage.parent(uri) == "s3a://b/root/features"


def test_local_path_only_for_hosts_filesystem() -> None:
    assert storage.local_path("file:///tmp/a b") == "/tmp/a b"
    assert storage.local_path("s3a://bucket/x") is None


def test_side_files_on_a_path_with_a_space(tmp_path: Path) -> None:
    root = storage.resolve_root(tmp_path / "with space" / "data")
    doc = storage.join(root, "features", "sentiment", "meta.json")
    assert not storage.exists(doc)
    storage.write_json(doc, {"rows": {"train": 3}})
    assert storage.exists(doc) and storage.read_json(doc) == {"rows": {"train": 3}}
    assert storage.listdir(storage.parent(doc)) == ["meta.json"]  # no temporary file left behind
    assert storage.glob(root, "**/*.json") == [doc]
    assert (tmp_path / "with space" / "data" / "features" / "sentiment" / "meta.json").is_file()

    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"\x00\x01")
    out = storage.join(root, "runs", "r1", "model")
    storage.upload(src, out)
    back = storage.download(out, tmp_path / "back")
    assert (back / "sub" / "w.bin").read_bytes() == b"\x00\x01"
    storage.remove(out)
    assert not storage.exists(out)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.read_text(storage.resolve_root(os.fspath(tmp_path / "nope.txt")))


def test_spark_reads_and_writes_a_uri_with_a_space(spark, tmp_path: Path) -> None:
    uri = storage.join(storage.resolve_root(tmp_path / "a b"), "silver", "t")
    spark.range(5).write.mode("overwrite").parquet(storage.spark_path(uri))
    assert (tmp_path / "a b" / "silver" / "t").is_dir()
    assert spark.read.parquet(storage.spark_path(uri)).count() == 5
    import pyarrow.parquet as pq

    fs, path = storage.arrow_filesystem(uri)
    assert pq.read_table(path, filesystem=fs).num_rows == 5

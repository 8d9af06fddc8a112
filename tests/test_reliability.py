"""Crash safety and repeatable stages on real slices: a job killed with SIGKILL in the middle of each kind of table
write leaves the previous version readable and whole, and the next run completes and cleans up; re-running a stage
for the same date leaves every table identical."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from smspark import storage, tables
from smspark.config import load_config
from tests.conftest import require_landing

pytestmark = pytest.mark.slow

DAY = "2026-11-21"


def _posts_slice(root: Path, n: int = 400) -> None:
    for corpus, step in (("labelled_tweets", 50), ("trump_archive", 30)):
        src = require_landing("posts", corpus, "posts.jsonl")
        dst = root / "landing" / "posts" / corpus / "p.jsonl"
        dst.parent.mkdir(parents=True, exist_ok=True)
        with src.open() as fh, dst.open("w") as out:
            out.writelines(islice((ln for i, ln in enumerate(fh) if i % step == 0), n // 2))
    bad = root / "landing" / "posts" / "broken" / "p.jsonl"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("{not json\n")


def _job(root: Path, *argv: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("SMSPARK_FAULTS", None)
    if fault:
        env["SMSPARK_FAULTS"] = fault
    cmd = [sys.executable, "-m", "smspark.cli", *argv, "--date", DAY, "--set", f"data.root={root}"]
    cmd += ["--set", "spark.master=local[1]", "--set", "models.sentiment.word_vectors=false"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash") / "data"
    _posts_slice(root)
    for job in ("ingest", "etl", "features"):
        proc = _job(root, job)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def _rows(spark, uri: str):
    """A table's committed rows, collected (a snapshot that outlives the files), without the run-time stamp of
    quarantine rows (the only column a re-run changes); compared with ``assertDataFrameEqual`` in any row order."""
    df = tables.read(spark, uri).drop("quarantined_at")
    return spark.createDataFrame(df.collect(), df.schema)


#: kind -> (the job's arguments, the table it writes); etl merges only new bronze partitions, so the silver write is
#: a full rebuild (``--full``) that writes whatever bronze holds
TABLES = {
    "bronze": (("ingest",), "bronze/posts"),
    "quarantine": (("ingest",), "quarantine/posts"),
    "silver": (("etl", "--full"), "silver/posts"),
    "features": (("features",), "features/sentiment/train"),
}


@pytest.mark.parametrize("point", ["table.staged", "table.moved"])
@pytest.mark.parametrize("kind", list(TABLES))
def test_sigkill_mid_write_keeps_the_previous_version(spark, root, kind, point):
    job, table = TABLES[kind]
    uri = storage.resolve_root(root / table)
    before = _rows(spark, uri)
    commit = tables.current(uri)
    killed = _job(root, *job, fault=f"kill:{point}@/{table}")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert tables.current(uri) == commit  # the commit never moved
    assertDataFrameEqual(_rows(spark, uri), before)  # the previous version, whole
    assert storage.exists(storage.join(uri, tables.STAGING)) or point == "table.moved"
    again = _job(root, *job)
    assert again.returncode == 0, again.stderr[-3000:]
    assert tables.current(uri).version == commit.version + 1
    assertDataFrameEqual(_rows(spark, uri), before)  # same date, same input: the same rows
    assert not storage.exists(storage.join(uri, tables.STAGING))  # leftovers cleaned by the next run
    versions = [n for p in tables.data_uris(uri) for n in [storage.name(p)]]
    assert all(n.startswith(tables.VERSION_PREFIX) for n in versions)


def test_rerunning_a_stage_leaves_every_table_identical(spark, root):
    cfg = load_config(None, [f"data.root={root}"])
    names = ["bronze/posts", "quarantine/posts", "silver/posts", "features/sentiment/train", "features/sentiment/test"]
    snapshot = {n: _rows(spark, storage.join(cfg.layout.root, n)) for n in names}
    for job in ("ingest", "etl", "features"):
        assert _job(root, job).returncode == 0
    for n in names:
        after = _rows(spark, storage.join(cfg.layout.root, n))
        assert after.count() == snapshot[n].count(), n
        assertDataFrameEqual(after, snapshot[n])
    # a re-run date that quarantines nothing clears that date's quarantine
    (root / "landing" / "posts" / "broken" / "p.jsonl").unlink()
    assert _job(root, "ingest").returncode == 0
    q = tables.read(spark, storage.join(cfg.layout.root, "quarantine/posts")).where("stage = 'ingest'")
    assert q.where(f"ingest_date = date'{dt.date.fromisoformat(DAY)}'").count() == 0

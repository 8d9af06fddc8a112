"""Crash safety on real slices: a job killed with SIGKILL in the middle of each kind of table write leaves the previous
version readable and whole, and the next run completes and cleans up; a Python worker that fails once per partition is
retried by Spark to the same output; a full or read-only output location fails in one line and loses nothing committed.
(Re-running stages: tests/test_idempotency.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from smspark import storage, tables
from tests.conftest import require_landing

pytestmark = pytest.mark.slow

DAY = "2026-11-21"
#: A gold write that needs no model: the keywords of the silver posts.
GOLD_JOB = ("analytics", "--steps", "keywords")


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


def _job(
    root: Path, *argv: str, fault: str | None = None, master: str = "local[1]", env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable, **(env or {})}
    env.pop("SMSPARK_FAULTS", None)
    if fault:
        env["SMSPARK_FAULTS"] = fault
    cmd = [sys.executable, "-m", "smspark.cli", *argv, "--date", DAY, "--set", f"data.root={root}"]
    cmd += ["--set", f"spark.master={master}", "--set", "models.sentiment.word_vectors=false"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash") / "data"
    _posts_slice(root)
    for job in (("ingest",), ("etl",), ("features",), GOLD_JOB):
        proc = _job(root, *job)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def _rows(spark, uri: str):
    """A table's committed rows, collected (a snapshot that outlives the files), without the run-time stamp of
    quarantine rows (the only column a re-run changes); compared with ``assertDataFrameEqual`` in any row order."""
    df = tables.read(spark, uri).drop("quarantined_at")
    return spark.createDataFrame(df.collect(), df.schema)


#: kind -> (the job's arguments, the table it writes); etl merges only new bronze partitions, so the silver write is
#: a full rebuild (``--full``) that writes whatever bronze holds; the keywords are kept as committed while silver is
#: unchanged, so their write is forced (``scoring.reuse=false``, what ``--rescore`` sets)
TABLES = {
    "bronze": (("ingest",), "bronze/posts"),
    "quarantine": (("ingest",), "quarantine/posts"),
    "silver": (("etl", "--full"), "silver/posts"),
    "features": (("features",), "features/sentiment/train"),
    "gold": ((*GOLD_JOB, "--set", "scoring.reuse=false"), "gold/keywords"),
}


#: Every kind of table write, killed at one of the two points of a commit (silver at both).
KILLS = [
    ("bronze", "table.moved"),
    ("quarantine", "table.staged"),
    ("silver", "table.staged"),
    ("silver", "table.moved"),
    ("features", "table.moved"),
    ("gold", "table.staged"),
]


@pytest.mark.parametrize(("kind", "point"), KILLS)
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


def test_a_python_worker_failing_once_per_partition_is_retried_to_the_same_silver(spark, root, tmp_path):
    uri = storage.resolve_root(root / "silver/posts")
    before = _rows(spark, uri)
    markers = tmp_path / "markers"
    proc = _job(
        root,
        "etl",
        "--full",  # a rebuild from all of bronze: every post goes through the UDF
        fault="raise_once:udf.batch@clean_text",
        master="local[1,4]",  # up to 4 attempts per task, as a cluster's spark.task.maxFailures
        env={"SMSPARK_FAULTS_DIR": str(markers)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "InjectedFault" in proc.stderr  # the fault fired and Spark retried the task
    assert len(list(markers.iterdir())) >= 1
    assertDataFrameEqual(_rows(spark, uri), before)


def test_a_full_output_location_fails_in_one_line_and_keeps_the_committed_version(spark, root):
    uri = storage.resolve_root(root / "silver/posts")
    before, commit = _rows(spark, uri), tables.current(uri)
    proc = _job(root, "etl", "--full", fault="enospc:table.staged@/silver/posts")
    assert proc.returncode == 3, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot write") and "No space left on device" in last, last
    assert "Traceback" not in proc.stderr
    assert tables.current(uri) == commit
    assertDataFrameEqual(_rows(spark, uri), before)
    manifest = max((root / "runs").glob("*-etl-*/manifest.json"), key=lambda p: p.stat().st_mtime)
    assert '"status": "failed"' in manifest.read_text()
    again = _job(root, "etl", "--full")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not storage.exists(storage.join(uri, tables.STAGING))


def test_a_read_only_data_root_is_refused_in_one_line(capsys):
    from smspark import cli

    ro = Path("/sys/fs/smspark-read-only-root")  # sysfs: no file can be created there, not even by root
    try:
        ro.mkdir()
    except OSError:
        pass
    else:
        ro.rmdir()
        pytest.skip(f"{ro.parent} is writable on this machine")
    assert cli.main(["etl", "--set", f"data.root={ro}"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot write {ro}"), err

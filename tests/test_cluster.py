"""The nightly slice on a real Spark standalone cluster: a Master and two Workers (1 core each) on 127.0.0.1,
spark-submit from a working directory outside the repository with the packed environment as ``--archives``,
Horovod with one rank on each Worker's executor. Asserts what the local run asserts (every silver post scored
once, counts reconciled) and that the executors and the ranks imported smspark from the unpacked archive."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from itertools import islice
from pathlib import Path

import pyarrow.compute as pc
import pytest

from smspark import tables
from smspark.config import PROJECT_ROOT
from tests.conftest import require_landing

pytestmark = pytest.mark.slow

DAY = "2026-11-21"
STAGES = [
    "purge",  # the cluster profile keeps raw (bronze, quarantine) partitions for retention.raw_days
    "ingest.posts",
    "etl.posts",
    "features.sentiment",
    "train.sentiment",
    "score.sentiment",
    "analytics.keywords",
    "analytics.sentiment_daily",
    "analytics.trend_alerts",
    "report",
]


def _cluster_module():
    spec = importlib.util.spec_from_file_location("smspark_cluster_script", PROJECT_ROOT / "scripts" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """Pack (cached), start the cluster, submit the slice, stop exactly the cluster's pids; returns what it saw."""
    cluster = _cluster_module()
    if os.environ.get("SMSPARK_SKIP_PACK") != "1":
        subprocess.run(["bash", "scripts/pack.sh"], cwd=PROJECT_ROOT, check=True, capture_output=True)
    base = tmp_path_factory.mktemp("cluster")
    landing = base / "landing" / "posts"
    for corpus, step, limit in (("labelled_tweets", 25, 1200), ("trump_archive", 40, 400)):
        (landing / corpus).mkdir(parents=True)
        with require_landing("posts", corpus, "posts.jsonl").open() as src:
            lines = islice((ln for i, ln in enumerate(src) if i % step == 0), limit)
            (landing / corpus / "p.jsonl").write_text("".join(lines))
    root = base / "data"
    submit_dir = base / "submit"  # the working directory: outside the repository
    submit_dir.mkdir()
    job_args = ["--conf", "cluster", "--date", DAY]
    for kv in (
        f"data.root=file://{root}",
        f"data.landing={base / 'landing'}",
        "privacy.dev_key=cluster-test-key-not-secret",
        "train.num_proc=2",
        "models.sentiment.epochs=1",
        "models.sentiment.vocab_size=3000",
        "spark.conf.spark.sql.shuffle.partitions=4",
    ):
        job_args += ["--set", kv]
    job_args += ["--train", "sentiment", "--score", "sentiment"]
    ports = {"port": cluster.free_port(), "webui_port": cluster.free_port()}
    with cluster.running(base / "cluster", workers=2, worker_memory="3g", **ports) as state:
        cmd = cluster.submit_command(state, "nightly", job_args)
        proc = subprocess.run(
            cmd, cwd=submit_dir, env=cluster.clean_env(), capture_output=True, text=True, timeout=2400
        )
        pids = dict(state["pids"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    (manifest_path,) = (root / "runs").glob("*-nightly-*/manifest.json")
    return {"root": root, "manifest": json.loads(manifest_path.read_text()), "state": state, "pids": pids}


def test_cluster_processes_are_stopped(cluster_run):
    assert set(cluster_run["pids"]) == {"master", "worker-1", "worker-2"}
    for pid in cluster_run["pids"].values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]


def test_slice_ran_on_the_standalone_master_and_reconciled(cluster_run):
    manifest = cluster_run["manifest"]
    assert manifest["status"] == "ok" and manifest["profile"] == "cluster"
    assert manifest["spark"]["master"] == cluster_run["state"]["master_url"]
    assert list(manifest["stages"]) == STAGES
    for name, st in manifest["stages"].items():
        if "reconciled" in st["counts"]:
            assert st["counts"]["reconciled"], name
    root = cluster_run["root"]
    silver = tables.read_arrow(str(root / "silver" / "posts"), ["post_id"]).column("post_id").to_pylist()
    gold = tables.read_arrow(str(root / "gold" / "post_sentiment"), ["post_id", "label", "dt"])
    gold = gold.filter(pc.equal(gold.column("dt"), str(DAY)))
    scored = gold.column("post_id").to_pylist()
    assert len(scored) == len(set(scored)) == len(silver) and set(scored) == set(silver)
    assert manifest["stages"]["score.sentiment"]["counts"]["scored"] == len(silver)
    assert set(gold.column("label").to_pylist()) <= {"negative", "neutral", "positive"}


def test_executors_and_ranks_ran_from_the_unpacked_archive(cluster_run):
    manifest = cluster_run["manifest"]
    work_dirs = [os.path.realpath(d) for d in cluster_run["state"]["work_dirs"].values()]
    pack_venv = str(PROJECT_ROOT / "dist" / "pack-venv")
    for name, stage in manifest["stages"].items():
        if name == "purge" and not stage["tables"]:
            continue  # a fresh data root has nothing older than the retention: no Spark work
        procs = stage["processes"]
        assert procs["driver"]["smspark"].startswith(pack_venv), (name, procs["driver"])
        assert procs["driver"]["pid"] != os.getpid()
        assert procs["executors"], name
        for p in procs["executors"]:
            cwd = os.path.realpath(p["cwd"])
            assert any(cwd.startswith(w + os.sep) for w in work_dirs), (name, p)  # an executor's directory
            assert os.path.realpath(p["smspark"]).startswith(cwd + os.sep), (name, p)  # ... its unpacked archive
            assert "/environment/" in p["smspark"] and not p["smspark"].startswith(str(PROJECT_ROOT) + os.sep)
    seen = {os.path.realpath(p["cwd"]) for st in manifest["stages"].values() for p in st["processes"]["executors"]}
    assert len({next(w for w in work_dirs if c.startswith(w + os.sep)) for c in seen}) == 2  # both Workers
    ranks = manifest["stages"]["train.sentiment"]["processes"]["horovod_ranks"]
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    rank_workers = {next(w for w in work_dirs if os.path.realpath(r["cwd"]).startswith(w + os.sep)) for r in ranks}
    assert len(rank_workers) == 2  # one rank on each Worker's executor
    for r in ranks:
        home = next(w for w in work_dirs if os.path.realpath(r["cwd"]).startswith(w + os.sep))
        assert "/environment/" in r["smspark"] and os.path.realpath(r["smspark"]).startswith(home + os.sep), r
    assert manifest["models"]["sentiment"]["ranks"] == [0, 1]

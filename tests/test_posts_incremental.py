"""Silver posts by month with an incremental etl, on a slice of the real posts: replayed copies of the scaled corpus
stay posts of their own, a day merged into silver equals a full rebuild, re-running a date changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from itertools import islice
from pathlib import Path

import pytest

from smspark import storage, tables
from smspark.config import load_config
from smspark.etl.pseudonymise import post_pseudonym
from smspark.jobs import etl as etl_job
from smspark.jobs import ingest as ingest_job
from smspark.jobs.common import JobContext
from smspark.jobs.steps.posts import MERGED, full_rebuild_reason
from smspark.manifest import RunManifest
from smspark.sources.scale import scale_posts
from tests.conftest import require_landing

DAY1, DAY2, DAY3 = dt.date(2026, 11, 20), dt.date(2026, 12, 3), dt.date(2026, 12, 4)


def _records(corpus: str, step: int, offset: int, limit: int) -> list[dict]:
    path = require_landing("posts", corpus, "posts.jsonl")
    with path.open(encoding="utf-8") as fh:
        return [json.loads(ln) for i, ln in islice(enumerate(fh), offset, None, step)][:limit]


def _write(landing: Path, corpus: str, records: list[dict]) -> None:
    (landing / "posts" / corpus).mkdir(parents=True, exist_ok=True)
    with open(landing / "posts" / corpus / "posts.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> tuple[Path, Path, dict]:
    """Two landing exports of real posts. Day 1: 120 archive posts with one replayed copy each (``replica`` 1) and
    80 labelled tweets (undated). Day 2: 40 other archive posts and 40 other labelled tweets, 10 day-1 posts delivered
    again unchanged, one with a new favourite count, and a day-1 archive text under a new id one hour earlier (it takes
    the text from the day-1 post)."""
    base = tmp_path_factory.mktemp("incremental")
    trump1 = _records("trump_archive", 40, 0, 120)
    tweets1 = _records("labelled_tweets", 1, 0, 80)
    _write(base / "day1", "trump_archive", list(scale_posts(trump1, 2, seed=3)))
    _write(base / "day1", "labelled_tweets", tweets1)
    earlier = dict(trump1[7], id=trump1[7]["id"] + "-early")
    stamp = dt.datetime.fromisoformat(trump1[7]["created_at"].replace("Z", "+00:00")) - dt.timedelta(hours=1)
    earlier["created_at"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    counted = dict(trump1[5], favorite_count=(trump1[5].get("favorite_count") or 0) + 1)
    _write(base / "day2", "trump_archive", _records("trump_archive", 40, 20, 40) + trump1[:5] + [counted, earlier])
    _write(base / "day2", "labelled_tweets", _records("labelled_tweets", 1, 80, 40) + tweets1[:5])
    return (
        base / "day1",
        base / "day2",
        {
            "day2_records": 40 + 5 + 1 + 1 + 40 + 5,
            "beaten": trump1[7]["id"],
            "counted": (trump1[5]["id"], counted["favorite_count"]),
            "tweets_again": [t["id"] for t in tweets1[:5]],
        },
    )


def _ctx(spark, root: Path, landing: Path, day: dt.date) -> JobContext:
    cfg = load_config(None, [f"data.root={root}", f"data.landing={landing}", "spark.master=local[2]"])
    return JobContext(
        cfg=cfg, run_date=day, manifest=RunManifest("test", cfg.layout.runs, day, cfg.profile), _spark=spark
    )


def _step(spark, root: Path, landing: Path, day: dt.date, ingest: bool = True, full: bool = False) -> dict:
    """Optionally ingest ``landing`` as ``day``, then etl posts; returns the etl stage record (with the ingest stage
    record under ``_ingest``)."""
    ctx = _ctx(spark, root, landing, day)
    if ingest:
        ingest_job.run(ctx, ["posts"])
    etl_job.run(ctx, ["posts"], full=full)
    stages = ctx.manifest.data["stages"]
    return {**stages["etl.posts"], "_ingest": stages.get("ingest.posts")}


def _silver(root: Path) -> list[dict]:
    rows = tables.read_arrow(storage.join(storage.resolve_root(str(root)), "silver", "posts")).to_pylist()
    return sorted(rows, key=lambda r: r["post_id"])


def test_merged_day_equals_full_rebuild_and_rerun_is_idempotent(spark, days, tmp_path):
    day1, day2, expected = days
    root = tmp_path / "data"
    first = _step(spark, root, day1, DAY1)
    assert first["mode"] == "full" and first["counts"]["reconciled"]
    silver1 = _silver(root)
    # replayed copies are posts of their own: as many replica-1 rows as real archive rows they copy
    archive = [r for r in silver1 if r["corpus"] == "trump_archive"]
    real = [r for r in archive if r["replica"] == 0]
    assert len(real) > 100 and len([r for r in archive if r["replica"] == 1]) == len(real)
    # the monthly layout: one partition per month (first day), dt kept as a column
    uri = storage.join(storage.resolve_root(str(root)), "silver", "posts")
    commit = tables.current(uri)
    assert commit.partition_by == ["month"]
    assert {r["month"] for r in silver1} == set(tables.partition_values(uri, "month"))
    assert all(r["month"] == r["dt"].replace(day=1).isoformat() for r in silver1)
    assert commit.meta[MERGED] == {DAY1.isoformat(): commit_dir(uri, DAY1)}

    merged = _step(spark, root, day2, DAY2)
    assert merged["mode"] == "incremental" and merged["inputs"]["ingest_dates"] == [DAY2.isoformat()]
    counts = merged["counts"]
    assert counts["reconciled"] and counts["rows_in"] == expected["day2_records"]
    # 11 re-deliveries (10 unchanged, left in place; 1 with a new count, replacing its row), the earlier copy beats
    # one day-1 post
    assert counts["duplicates_by_reason"]["duplicate id"] == 11
    assert counts["duplicates_by_reason"]["duplicate text"] >= 1
    assert 0 < merged["outputs"]["months_written"] < len(tables.partition_values(uri, "month"))
    incremental = _silver(root)
    assert len(incremental) == len(silver1) + counts["rows_out"]
    key = load_config(None, []).pseudonym_key()
    ids = {r["post_id"] for r in incremental}
    beaten, earlier = (post_pseudonym(expected["beaten"] + tail, key) for tail in ("", "-early"))
    assert beaten in {r["post_id"] for r in silver1} and beaten not in ids and earlier in ids
    # a re-delivered post takes the new row but keeps its first ingest (an undated post keeps its dt)
    by_id = {r["post_id"]: r for r in incremental}
    counted = by_id[post_pseudonym(expected["counted"][0], key)]
    assert counted["favorite_count"] == expected["counted"][1] and counted["ingest_date"] == DAY1
    again = [by_id[post_pseudonym(i, key)] for i in expected["tweets_again"]]
    assert {(r["ingest_date"], r["dt"]) for r in again} == {(DAY1, DAY1)}

    assert _step(spark, root, day2, DAY2, ingest=False)["counts"]["rows_in"] == 0  # nothing new: nothing done
    assert _silver(root) == incremental

    rerun = _step(spark, root, day2, DAY2)  # the date ingested again: its bronze partition changed -> full rebuild
    assert rerun["mode"] == "full" and "re-ingested" in rerun["full_reason"]
    assert _silver(root) == incremental

    # the next night lands the same export: ingest copies the bronze partition (same files, parser and settings),
    # etl recognises the re-delivery by its digest, no data file changes
    assert "reused_from" not in merged["_ingest"]["counts"]  # other files than day 1's: parsed
    before = tables.current(uri)
    again = _step(spark, root, day2, DAY3)
    ingested = again["_ingest"]["counts"]
    assert ingested["reused_from"] == DAY2.isoformat() and ingested["reconciled"]
    assert ingested["rows_in"] == rerun["_ingest"]["counts"]["rows_in"] == expected["day2_records"]
    assert again["mode"] == "incremental" and again["redelivery_of"] == DAY2.isoformat()
    assert again["outputs"]["months_written"] == 0 and again["counts"]["reconciled"]
    assert again["counts"]["rows_in"] == expected["day2_records"] and again["counts"]["rows_out"] == 0
    after = tables.current(uri)
    assert after.partitions == before.partitions and after.meta[MERGED][DAY3.isoformat()]
    assert _silver(root) == incremental
    assert _step(spark, root, day2, DAY3, ingest=False, full=True)["mode"] == "full"
    assert _silver(root) == incremental  # the full rebuild over three ingests agrees


def test_full_rebuild_when_a_merge_could_differ():
    bronze = {"2026-11-20": ".v-a", "2026-12-03": ".v-b"}

    def commit(merged: dict[str, str], partition_by: tuple[str, ...] = ("month",)) -> tables.Commit:
        return tables.Commit(1, "t", list(partition_by), {}, "{}", meta={MERGED: merged})

    assert full_rebuild_reason(False, commit({"2026-11-20": ".v-a"}), bronze) is None
    assert full_rebuild_reason(True, commit({"2026-11-20": ".v-a"}), bronze) == "--full"
    assert "no merge state" in full_rebuild_reason(False, None, bronze)
    assert "no merge state" in full_rebuild_reason(False, commit({"2026-11-20": ".v-a"}, ("dt",)), bronze)
    assert "re-ingested" in full_rebuild_reason(False, commit({"2026-11-20": ".v-old"}), bronze)
    assert "not later" in full_rebuild_reason(False, commit({"2026-12-03": ".v-b"}), bronze)
    assert full_rebuild_reason(False, commit({"2026-11-20": ".v-a", "2026-12-03": ".v-b"}), bronze) is None


def commit_dir(uri: str, day: dt.date) -> str:
    """The bronze version directory of ``day`` beside the silver table at ``uri``."""
    bronze = tables.current(uri.replace("/silver/posts", "/bronze/posts"))
    return bronze.partitions[f"ingest_date={day.isoformat()}"]

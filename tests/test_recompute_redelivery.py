"""The recomputed silver tables (messages, media) on real slices: a night that re-ingests an unchanged landing folder
skips the recompute (silver's data files stay, the day's etl rejects are quarantined again, counts reconcile) and
equals ``etl --full`` on the same bronze; a night with a new record recomputes, and silver keeps first ingest dates."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smspark import storage, tables
from smspark.config import load_config
from smspark.jobs.common import JobContext
from smspark.jobs.merge_state import MERGED
from smspark.jobs.recompute import skip_recompute
from smspark.jobs.steps import media as media_steps
from smspark.jobs.steps import messages as message_steps
from smspark.manifest import RunManifest
from smspark.schemas import BRONZE_MEDIA
from tests.conftest import require_landing
from tests.test_interactions_etl import _files, _table_rows
from tests.test_media_ingest import emoji_slice, fashion_slice
from tests.test_messages_etl import _body, _declares_unknown_charset, _known_charset, parsed

DAY1, DAY2, DAY3 = dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23)
Q_DROP = ("quarantined_at",)


def _ctx(spark, root: Path, landing: Path, day: dt.date, *overrides: str) -> JobContext:
    cfg = load_config(None, [f"data.root={root}", f"data.landing={landing}", "spark.master=local[2]", *overrides])
    return JobContext(
        cfg=cfg, run_date=day, manifest=RunManifest("test", cfg.layout.runs, day, cfg.profile), _spark=spark
    )


def _night(spark, steps: Any, root: Path, landing: Path | None, day: dt.date, *etl_overrides: str) -> dict:
    """Ingest ``landing`` as ``day`` (unless None), then etl (``etl_overrides`` on the etl's config only); the etl
    record, with the ingest record under ``_ingest``."""
    ingested = steps.ingest(_ctx(spark, root, landing, day)) if landing is not None else None
    return {**steps.etl(_ctx(spark, root, landing or root, day, *etl_overrides)), "_ingest": ingested}


def _etl_rejects(root: Path, table: str, day: dt.date) -> list[dict]:
    rows = _table_rows(root, "quarantine", table, drop=Q_DROP)
    return [{**r, "ingest_date": None} for r in rows if r["stage"] == "etl" and str(r["ingest_date"]) == str(day)]


def _check_redelivery_equals_full(
    spark,
    steps: Any,
    table: str,
    tmp_path: Path,
    landing: Path,
    change: Callable[[], None] | None,
    *etl_overrides: str,
) -> tuple[list[dict], list[dict]]:
    """Nights 1 and 2 ingest ``landing`` unchanged, night 3 (unless ``change`` is None) after ``change`` (a landing
    edit); returns ``(silver rows after night 2, after night 3)``."""
    root = tmp_path / "data"
    uri = storage.join(storage.resolve_root(str(root)), "silver", table)
    first = _night(spark, steps, root, landing, DAY1, *etl_overrides)
    assert first["mode"] == "full" and "no merge state" in first["full_reason"] and first["counts"]["reconciled"]
    rejects = _etl_rejects(root, table, DAY1)
    assert rejects and first["counts"]["quarantined"] == len(rejects)
    built, files, rows = tables.current(uri).partitions, _files(uri), _table_rows(root, "silver", table)

    again = _night(spark, steps, root, landing, DAY2, *etl_overrides)
    c = again["counts"]
    assert again["mode"] == "redelivery" and again["redelivery_of"] == DAY1.isoformat()
    # the same landing files: ingest copied day 1's bronze partition and rejects
    assert again["_ingest"]["counts"]["reused_from"] == DAY1.isoformat() and again["_ingest"]["counts"]["reconciled"]
    assert "reused_from" not in first["_ingest"]["counts"]
    assert c["reconciled"] and c["rows_in"] == first["counts"]["rows_in"] and c["rows_out"] == 0
    assert c["quarantined"] == len(rejects) and c["duplicates_dropped"] == c["rows_in"] - len(rejects)
    assert tables.current(uri).partitions == built and _files(uri) == files  # no data file written or moved
    assert sorted(tables.current(uri).meta[MERGED]) == [DAY1.isoformat(), DAY2.isoformat()]
    assert _etl_rejects(root, table, DAY2) == rejects
    assert _table_rows(root, "silver", table) == rows

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    full = _night(spark, steps, copy, None, DAY2, "etl.full=true", *etl_overrides)
    assert full["mode"] == "full" and full["full_reason"] == "--full" and full["counts"]["reconciled"]
    assert _table_rows(copy, "silver", table) == rows  # a recompute over the re-delivered date: the same rows
    assert _table_rows(copy, "quarantine", table, drop=Q_DROP) == _table_rows(root, "quarantine", table, drop=Q_DROP)

    version = tables.current(uri).version
    idle = _night(spark, steps, root, None, DAY2, *etl_overrides)
    assert idle["mode"] == "unchanged" and idle["counts"]["rows_in"] == 0 and tables.current(uri).version == version

    if change is None:
        return rows, rows
    change()
    changed = _night(spark, steps, root, landing, DAY3, *etl_overrides)
    assert "reused_from" not in changed["_ingest"]["counts"]  # a changed file: parsed again
    assert changed["mode"] == "full" and "has new rows" in changed["full_reason"] and changed["counts"]["reconciled"]
    return rows, _table_rows(root, "silver", table)


def test_messages_redelivery_skips_the_recompute(spark, tmp_path):
    export = require_landing("messages", "spam_assassin", "messages.jsonl")
    with export.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    lines = [json.dumps(r) for r in records[::200]]  # 31 real mails
    unknown = next(
        r
        for r in records
        if _declares_unknown_charset(r["raw"])
        and any(p.get_content_maintype() == "text" and not _known_charset(p) for p in parsed(r).walk())
        and not _body(parsed(r)).isascii()
    )
    landing = tmp_path / "landing"
    path = landing / "messages" / "spam_assassin" / "m.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(line + "\n" for line in [*lines, json.dumps(unknown), lines[5]]), encoding="utf-8")
    added, edited = records[1], {**records[0], "label": "spam" if records[0]["label"] == "ham" else "ham"}

    def change() -> None:  # a new mail, and the first one delivered again with the other label
        text = path.read_text(encoding="utf-8").replace(lines[0], json.dumps(edited), 1)
        path.write_text(text + json.dumps(added) + "\n", encoding="utf-8")

    rows, after = _check_redelivery_equals_full(spark, message_steps, "messages", tmp_path, landing, change)
    day1 = {r["message_id"]: r for r in after if str(r["dt"]) == str(DAY1)}
    assert [(r["message_id"], str(r["dt"])) for r in after if r["message_id"] not in day1] == [
        (added["message_id"].strip(), str(DAY3))
    ]
    # every message delivered on day 1 keeps day 1; the edited one takes the latest content
    first = edited["message_id"].strip()
    assert {k: v for k, v in day1.items() if k != first} == {
        r["message_id"]: r for r in rows if r["message_id"] != first
    }
    old_label = next(r["label"] for r in rows if r["message_id"] == first)
    assert day1[first] == {**next(r for r in rows if r["message_id"] == first), "label": 1 - old_label}


def test_media_redelivery_skips_the_recompute(spark, tmp_path):
    landing = tmp_path / "landing"
    images = landing / "images"
    fashion_slice(images / "fashion_mnist", 8, 4)
    pngs = emoji_slice(images / "emoji", {"flags": 1, "component": 1})
    # the etl refuses images above 4,000 pixels: the 64x64 emoji become its rejects (ingest allows them)
    _check_redelivery_equals_full(spark, media_steps, "media", tmp_path, landing, None, "ingest.max_image_pixels=4000")
    root = tmp_path / "data"
    silver = tables.read_arrow(storage.join(storage.resolve_root(str(root)), "silver", "media"))
    # another pixel limit could reject other images: no skip (decided before any Spark job)
    ctx = _ctx(spark, root, landing, DAY2, "ingest.max_image_pixels=5000")
    src, out = (storage.join(ctx.layout.bronze, "media"), storage.join(ctx.layout.silver, "media"))
    record, reason, _ = skip_recompute(ctx, "media", src, BRONZE_MEDIA, out, {"max_image_pixels": 5000})
    assert record is None and reason.startswith("the etl settings changed")
    assert sorted(silver.column("media_id").to_pylist()) == [
        f"fashion_mnist:{s}:{i:05d}" for s in ("test", "train") for i in range(4 if s == "test" else 8)
    ]
    assert len(pngs) == 2

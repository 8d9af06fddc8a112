"""The public development key warns when it meets landing data that is not the fetched samples."""

from __future__ import annotations

import datetime as dt
import json

from smspark.jobs import dev_key
from smspark.jobs.common import JobContext
from smspark.manifest import RunManifest

DAY = dt.date(2026, 1, 1)


def _ctx(cfg):
    return JobContext(cfg=cfg, run_date=DAY, manifest=RunManifest("test", cfg.layout.runs, DAY, cfg.profile))


def test_warns_on_non_sample_files_only_under_the_dev_key(make_cfg, tmp_path, monkeypatch):
    landing = tmp_path / "data" / "landing"
    (landing / "posts" / "labelled_tweets").mkdir(parents=True)
    (landing / "posts" / "labelled_tweets" / "posts.jsonl").write_text("{}\n")
    (landing / "images" / "emoji" / "a").mkdir(parents=True)
    (landing / "images" / "emoji" / "a" / "x.png").write_bytes(b"")
    outputs = {
        "t": {"outputs": [{"path": "posts/labelled_tweets/posts.jsonl"}]},
        "e": {"outputs": [{"path": "images/emoji"}]},
    }
    (landing / "_SOURCES.json").write_text(json.dumps({"datasets": outputs}))
    cfg = make_cfg()
    monkeypatch.delenv(cfg.privacy.key_env, raising=False)
    assert dev_key.uses_dev_key(cfg)
    ctx = _ctx(cfg)
    assert dev_key.check(ctx) == [] and "warnings" not in ctx.manifest.data

    (landing / "movielens").mkdir()
    (landing / "movielens" / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    assert dev_key.check(ctx) == ["movielens/ratings.csv"]
    assert "not the fetched sample data" in ctx.manifest.data["warnings"][0]

    monkeypatch.setenv(cfg.privacy.key_env, "a-real-secret")
    assert not dev_key.uses_dev_key(cfg) and dev_key.check(_ctx(cfg)) == []

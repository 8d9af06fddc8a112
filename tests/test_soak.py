"""The soak: the whole nightly (purge -> ingest -> etl -> features -> train -> score -> analytics -> report) three times
in a row on one data root, dates D, D, D+1.

Run 1 is the session's posts pipeline (:mod:`tests.pipeline_roots`: it trains the sentiment champion and scores every
post). Runs 2 and 3 go on a copy of that root, so the other tests keep reading run 1's outputs. The copy's model
registry still points at run 1's model artifacts, which nothing here writes. Repeating D must leave every table
identical, silver to gold, with no duplicates; D+1 must add only that date's scores and keep no more than the current
and one previous version of any table, with no staging left behind. D+1 changes neither the champion nor the scored
posts (the same landing files are ingested again: silver/posts is rewritten with the same ``post_id`` and ``text``),
so its sentiment scores are a copy of D's (:mod:`smspark.jobs.reuse`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from smspark import tables
from smspark.config import Settings
from smspark.jobs import nightly, reuse
from smspark.train.registry import Champion
from tests.pipeline_roots import DAY
from tests.table_snapshots import VOLATILE, assert_versions_bounded, layer_bytes, snapshot

pytestmark = pytest.mark.slow

LAYERS = ("bronze", "silver", "features", "quarantine", "gold")
#: Besides the volatile times: the landing file a bronze or quarantine row came from names the root (the copy moved it).
DROP = VOLATILE | {"source_file"}
NEXT_DAY = (dt.date.fromisoformat(DAY) + dt.timedelta(days=1)).isoformat()


def _args(args: list[str], root: Path, day: str) -> list[str]:
    out = [f"data.root=file://{root}" if a.startswith("data.root=") else a for a in args]
    return [day if i > 0 and out[i - 1] == "--date" else a for i, a in enumerate(out)]


def _manifest(root: Path, day: str) -> dict:
    runs = [json.loads(p.read_text()) for p in (root / "runs").glob("*nightly*/manifest.json")]
    return max((m for m in runs if m["run_date"] == day), key=lambda m: m["run_id"])


@pytest.fixture(scope="module")
def soaked(posts_nightly, tmp_path_factory):
    first_root, args, _, _ = posts_nightly
    root = tmp_path_factory.mktemp("soak") / "data"
    shutil.copytree(first_root, root)
    first = snapshot(first_root, LAYERS, DROP)
    first_bytes = layer_bytes(first_root, LAYERS)
    assert nightly.main(_args(args, root, DAY)) == 0
    again = snapshot(root, LAYERS, DROP)
    assert nightly.main(_args(args, root, NEXT_DAY)) == 0
    return root, first, first_bytes, again


def test_repeating_a_date_leaves_every_table_identical(soaked):
    _, first, _, again = soaked
    assert any(k.startswith("gold/") for k in first)
    assert sorted(again) == sorted(first)
    for name, rows in first.items():
        assert again[name] == rows, name
        if isinstance(rows, list) and name.startswith(("silver/", "gold/")):
            assert len(set(rows)) == len(rows), f"duplicates in {name}"


def test_repeated_and_next_runs_train_nothing_and_succeed(soaked):
    root, _, _, _ = soaked
    for day in (DAY, NEXT_DAY):
        m = _manifest(root, day)
        assert m["status"] == "ok", m.get("error")
        assert m["models"]["sentiment"]["trained"] is False  # the champion of run 1 scores; nothing retrains


def test_the_next_date_adds_its_scores_and_keeps_disk_bounded(soaked):
    root, first, first_bytes, _ = soaked
    scores = tables.read_arrow(f"file://{root}/gold/post_sentiment").to_pylist()
    by_day: dict[str, int] = {}
    for r in scores:
        by_day[str(r["dt"])] = by_day.get(str(r["dt"]), 0) + 1
    silver = len(first["silver/posts"])
    assert by_day == {DAY: silver, NEXT_DAY: silver}  # every silver post scored once per date
    silver_after = tables.read_arrow(f"file://{root}/silver/posts").num_rows
    assert silver_after == silver  # same landing data: D+1 adds no post (re-seen posts keep their first ingest)
    assert_versions_bounded(root)
    grown = layer_bytes(root, LAYERS)
    assert grown["bronze"] <= 2.2 * first_bytes["bronze"]  # one more ingest date of the same landing files
    for layer in ("silver", "features", "quarantine"):
        assert grown[layer] <= 2.5 * first_bytes[layer], (layer, grown[layer], first_bytes[layer])
    assert grown["gold"] <= 3.5 * first_bytes["gold"]  # one more date of scores, plus D's previous version


def _scores(root: Path, day: str) -> list[str]:
    t = tables.read_arrow(f"file://{root}/gold/post_sentiment")
    return sorted(repr({k: v for k, v in r.items() if k != "dt"}) for r in t.to_pylist() if str(r["dt"]) == day)


def test_the_next_date_copies_the_scores_when_nothing_changed(soaked):
    root, _, _, _ = soaked
    repeat, following = _manifest(root, DAY)["stages"]["score.sentiment"], _manifest(root, NEXT_DAY)["stages"]
    assert "reused_from" not in repeat["counts"] and repeat["reuse"] == "no earlier date scored"
    sentiment = following["score.sentiment"]
    assert sentiment["counts"]["reused_from"] == DAY, sentiment.get("reuse")
    assert sentiment["counts"]["reconciled"] and sentiment["counts"]["rows_out"] == sentiment["counts"]["rows_in"]
    assert _manifest(root, NEXT_DAY)["models"]["sentiment"]["scored_with"]["version"] == "1"
    assert _scores(root, NEXT_DAY) == _scores(root, DAY)  # the same rows (scored_at included), dt aside
    # D+1 lands the same export: the posts etl recognises the re-delivery and keeps every month of silver/posts (a
    # re-delivered post keeps its first ingest, so no post moves dt); gold/keywords (a full recompute) is kept on the
    # repeat of D and on D+1
    assert following["etl.posts"]["redelivery_of"] == DAY and following["etl.posts"]["counts"]["reconciled"]
    for d in (DAY, NEXT_DAY):
        kept = _manifest(root, d)["stages"]["analytics.keywords"]
        assert kept["reuse"].startswith("kept version") and kept["counts"]["rows_out"] > 0, kept.get("reuse")
    recorded = tables.current(f"file://{root}/gold/post_sentiment").meta[reuse.META_KEY]
    before, after = (recorded[d]["fingerprint"]["inputs"]["silver/posts"] for d in (DAY, NEXT_DAY))
    assert before == after


def test_a_changed_fingerprint_scores_again(soaked):
    """The decision of the date after D+1 on the soak's gold/post_sentiment, against D+1's recorded fingerprint."""
    root, _, _, _ = soaked
    uri = f"file://{root}/gold/post_sentiment"
    recorded = tables.current(uri).meta[reuse.META_KEY][NEXT_DAY]["fingerprint"]
    champ = Champion(**{k: recorded["models"][0][k] for k in ("name", "version", "uri", "run_id")})
    posts = recorded["inputs"]["silver/posts"]
    later = dt.date.fromisoformat(NEXT_DAY) + dt.timedelta(days=1)

    def decide(champion=champ, state=posts, reuse_on=True, day=later):
        cfg = Settings()
        cfg.scoring.reuse = reuse_on
        ctx = type("Ctx", (), {"cfg": cfg, "run_date": day})()
        return reuse.decide(ctx, [uri], [champion], {"silver/posts": state}, {})

    assert decide().source == NEXT_DAY
    rewritten = {**posts, "partitions": {p: ".v-other" for p in posts["partitions"]}}
    assert decide(state=rewritten).source == NEXT_DAY  # rewritten with the same content
    changed = {**rewritten, "digest": str(int(posts["digest"]) + 1)}
    assert (decide(state=changed).source, decide(state=changed).reason) == (
        None,
        f"silver/posts changed since {NEXT_DAY}",
    )
    newer = Champion(champ.name, str(int(champ.version) + 1), f"models:/{champ.name}/2", None)
    assert decide(champion=newer).reason == f"champions changed since {NEXT_DAY}"
    assert decide(reuse_on=False).source is None  # --rescore
    assert decide(day=dt.date.fromisoformat(DAY)).reason == "no earlier date scored"

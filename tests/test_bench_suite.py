"""``smspark bench suite --quick`` on the shared posts root (a sentiment champion and its features, see
:mod:`tests.pipeline_roots`): every key is written, measured and positive, except the few this root has no input
for, which say why. The goals themselves are judged on the full run (docs/RESULTS.md), not here."""

from __future__ import annotations

import json
import os

import pytest

from smspark.jobs import bench
from smspark.jobs.benchmarks import suite

pytestmark = pytest.mark.slow

#: Table rows the test root cannot measure (it trains the sentiment model only), and the reason they must give.
NOT_HERE = {
    "score_udf_vs_plain.recommendations": "No champion for model 'recommender'",
    "score_udf_vs_plain.media": "No champion for model 'image'",
}
if not suite.etl_has_full():  # the incremental etl (`smspark etl --full` beside plain incremental runs) is not there
    NOT_HERE["incremental_vs_full"] = "etl has no --full"


def test_quick_suite_writes_every_key_positive_or_with_a_reason(posts_nightly, tmp_path, capsys):
    root = posts_nightly[0]
    out = tmp_path / "bench.json"
    argv = ["suite", "--quick", "--output", str(out), "--work-dir", str(tmp_path / "work")]
    assert bench.main([*argv, "--set", f"data.root=file://{root}"]) == 0
    printed = capsys.readouterr().out
    res = json.loads(out.read_text())
    assert list(res["results"]) == list(suite.GOALS)
    for name, entry in suite.rows_of(res["results"]):
        assert f"{name} " in printed, name
        if name in NOT_HERE:
            assert entry["value"] is None and NOT_HERE[name] in entry["reason"], (name, entry)
            assert entry["met"] is None
        else:
            assert entry["value"] > 0 and entry["reason"] is None, (name, entry)
            assert isinstance(entry["met"], bool)
    assert "not measured: No champion for model 'image'" in printed

    scale = res["results"]["scale_10x_time_ratio"]["details"]
    assert scale["scale"] == 2 and scale["posts"]["x2"] == 2 * scale["posts"]["x1"] > 0
    for size in ("x1", "x2"):
        run = scale["runs"][size][0]
        assert set(run["stage_seconds"]) == {"ingest", "etl", "features", "score"}
        assert run["driver_python_peak_rss_mb"] > 100 and run["driver_jvm_peak_rss_mb"] > 100
        assert 0 < run["silver_posts"] <= scale["posts"][size]
    scan = res["results"]["etl_vs_json_scan"]["details"]
    assert scan["rows"] == scale["posts"]["x2"] and scan["ingest_etl_seconds"][0] > 0
    horovod = res["results"]["horovod_2v1"]["details"]
    ranks = horovod["two_workers_seconds"], horovod["one_worker_seconds"]
    assert all(len(r) == 1 for r in ranks) and horovod["steps_per_worker"] == 4
    profile = horovod["profile"]
    assert profile["memory_fed_ratio"] > 0
    for side, size in (("one_worker", 1), ("two_workers", 2)):
        for feed in ("petastorm", "memory"):
            shares = profile[side][f"{feed}_cpu_busy_share"]
            assert len(shares) == size and all(0 < x < 4 for x in shares), (side, feed, shares)  # a few threads
    feed = res["results"]["petastorm_vs_memory"]["details"]
    assert feed["petastorm_samples_per_second"] > 0 and feed["memory_samples_per_second"] > 0
    assert feed["tf_threads_inter_intra"] == [1, 1]
    row = res["results"]["udf_vs_row_udf"]["details"]
    assert row["rows"] == 300 and row["row_udf_rows"] == 100
    env = res["environment"]
    assert env["cores"] == os.cpu_count() and env["versions"]["pyspark"].startswith("4.")
    manifest = json.loads(max((root / "runs").glob("*-bench-*/manifest.json")).read_text())
    assert manifest["metrics"]["bench_suite"]["results"] == res["results"]


def test_only_measures_the_chosen_key_and_the_added_day_rewrites_one_month(posts_nightly, tmp_path):
    root = posts_nightly[0]
    out = tmp_path / "bench.json"
    argv = ["suite", "--quick", "--only", "incremental_vs_full", "--output", str(out), "--work-dir", str(tmp_path)]
    assert bench.main([*argv, "--set", f"data.root=file://{root}"]) == 0
    res = json.loads(out.read_text())
    for name, entry in suite.rows_of(res["results"]):
        if name != "incremental_vs_full":
            assert entry["value"] is None and entry["reason"] == "not selected (--only)", (name, entry)
    entry = res["results"]["incremental_vs_full"]
    assert entry["value"] > 0 and entry["reason"] is None, entry
    details = entry["details"]
    assert details["added_day_posts"] > 0
    # posts created on the added day land in one month: the merge rewrites that month, the rebuild every month
    assert details["runs"]["incremental"] == [{"mode": "incremental", "months_written": 1}]
    assert details["runs"]["full"][0]["mode"] == "full" and details["runs"]["full"][0]["months_written"] > 1

"""``smspark evaluate``: dispatch, isolation of the work area, the JSON and the table (the recommender target's
chain itself runs in tests/test_recommender_pipeline.py through nightly)."""

from __future__ import annotations

import json
from pathlib import Path

from smspark.jobs import evaluate
from smspark.jobs.common import JobContext
from tests.conftest import local

SEEN: dict[str, str] = {}


def fake_target(ctx: JobContext, input_dir: Path) -> dict[str, dict[str, float]]:
    """Stands in for a target: records where it ran and returns fixed-shape figures."""
    SEEN.update(root=local(ctx.layout.root).as_posix(), tracking=ctx.cfg.tracking_uri(), input=str(input_dir))
    (local(ctx.layout.root) / "marker").write_text("x")
    return {"neumf": {"HR@10": 0.5, "NDCG@10": 0.25}, "behaviour": {"AUC": 0.75, "logloss": 0.6}}


def test_format_table_aligns_models_and_metrics():
    table = evaluate.format_table({"neumf": {"HR@10": 0.5}, "behaviour_logreg": {"AUC": 0.7}})
    lines = table.splitlines()
    assert lines[0].split() == ["model", "HR@10", "AUC"]
    assert lines[1].split() == ["neumf", "0.5000"] and lines[2].split() == ["behaviour_logreg", "0.7000"]


def test_evaluate_runs_in_an_isolated_work_area(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setitem(evaluate.TARGETS, "recommender", "tests.test_recommender_evaluate:fake_target")
    data = tmp_path / "input"
    data.mkdir()
    out = tmp_path / "out" / "metrics.json"
    main_root = tmp_path / "main-root"
    argv = ["recommender", "--input", str(data), "--output", str(out), "--set", f"data.root={main_root}"]
    assert evaluate.main(argv) == 0
    assert json.loads(out.read_text()) == {
        "neumf": {"HR@10": 0.5, "NDCG@10": 0.25},
        "behaviour": {"AUC": 0.75, "logloss": 0.6},
    }
    # the user's --set data.root is overridden: the main root stays untouched, the work area is removed
    assert not main_root.exists()
    assert SEEN["root"] != str(main_root) and not Path(SEEN["root"]).exists()
    assert SEEN["tracking"].startswith(f"sqlite:///{SEEN['root']}")
    assert SEEN["input"] == str(data.resolve())
    manifest = json.loads((out.parent / "metrics.manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["metrics"]["evaluate"]["behaviour"]["AUC"] == 0.75
    printed = capsys.readouterr().out
    assert "neumf" in printed and "0.2500" in printed and "work area (removed)" in printed


def test_evaluate_keeps_a_given_workdir_and_rejects_a_missing_input(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(evaluate.TARGETS, "recommender", "tests.test_recommender_evaluate:fake_target")
    work = tmp_path / "work"
    out = tmp_path / "m.json"
    argv = ["recommender", "--input", str(tmp_path), "--output", str(out), "--workdir", str(work)]
    assert evaluate.main(argv) == 0
    assert (work / "marker").exists() and SEEN["root"] == str(work.resolve())
    assert evaluate.main(["recommender", "--input", str(tmp_path / "nope"), "--output", str(out)]) == 2

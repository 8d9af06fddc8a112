"""``smspark evaluate``: the table, and the real chains of the ``recommender`` and ``image`` targets on small slices
of real data, each in an isolated work area."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smspark.jobs import evaluate
from tests.test_media_ingest import emoji_slice
from tests.test_recommender_pipeline import write_slice

#: Few epochs, one ALS grid point, small behaviour model: the real chain, fast.
FAST_RECOMMENDER = [
    "train.num_proc=2",
    "models.recommender.als_ranks=[8]",
    "models.recommender.als_reg_params=[0.1]",
    "models.behaviour.epochs=1",
    "models.behaviour.history_len=10",
    "models.behaviour.rnn_units=8",
]


def _sets(values: list[str]) -> list[str]:
    return [arg for v in values for arg in ("--set", v)]


def test_format_table_aligns_models_and_metrics():
    table = evaluate.format_table({"neumf": {"HR@10": 0.5}, "behaviour_logreg": {"AUC": 0.7}})
    lines = table.splitlines()
    assert lines[0].split() == ["model", "HR@10", "AUC"]
    assert lines[1].split() == ["neumf", "0.5000"] and lines[2].split() == ["behaviour_logreg", "0.7000"]


def test_a_missing_input_is_one_line(tmp_path: Path, capsys):
    out = tmp_path / "m.json"
    assert evaluate.main(["recommender", "--input", str(tmp_path / "nope"), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any("is not a folder" in line for line in err) and not out.exists()


@pytest.mark.slow
def test_evaluate_recommender_on_a_movielens_slice(tmp_path: Path, capsys):
    data = tmp_path / "ml"
    write_slice(data, 40)
    out = tmp_path / "out" / "metrics.json"
    main_root = tmp_path / "main-root"
    argv = ["recommender", "--input", str(data), "--output", str(out), "--set", f"data.root={main_root}"]
    assert evaluate.main(argv + _sets([*FAST_RECOMMENDER, "models.recommender.epochs=2"])) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"neumf", "als", "popularity", "behaviour", "behaviour_logreg"}
    for name in ("neumf", "als", "popularity"):
        assert set(metrics[name]) == {"HR@10", "NDCG@10", "HR@10_full", "NDCG@10_full"}
        assert metrics[name]["HR@10"] > 10 / 101, name  # better than a random ranking of 1 + 100 items
    for name in ("behaviour", "behaviour_logreg"):
        assert set(metrics[name]) == {"AUC", "logloss"}
    # the user's --set data.root is overridden: the main root stays untouched and the work area is removed
    assert not main_root.exists()
    manifest = json.loads((out.parent / "metrics.manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["metrics"]["evaluate"] == metrics
    assert manifest["models"]["recommender"]["selection"]["split"] == "val"
    printed = capsys.readouterr().out
    assert "neumf" in printed and "work area (removed)" in printed


@pytest.mark.slow
def test_evaluate_image_on_a_small_class_folder_keeps_a_given_workdir(tmp_path: Path):
    folder = tmp_path / "icons"
    emoji_slice(folder, {"activities": 40, "flags": 40, "food_and_drink": 40})
    out, work = tmp_path / "m.json", tmp_path / "work"
    fast = [
        "train.num_proc=2",
        "models.image.filters=[16,32]",
        "models.image.embedding_dim=16",
        "models.image.batch_size=16",
        "models.image.min_train_steps=60",
        "models.image.baseline_max_iter=30",
    ]
    argv = ["image", "--input", str(folder), "--output", str(out), "--workdir", str(work)]
    assert evaluate.main(argv + _sets(fast)) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"cnn", "logreg"}
    for name, m in metrics.items():
        assert m["accuracy"] > 1 / 3, (name, m)  # 3 classes
    manifest = json.loads(max((work / "runs").glob("*-evaluate-*/manifest.json")).read_text())
    image = manifest["models"]["image"]
    steps_per_epoch = max(1, image["rows"]["train"] // (16 * 2))
    assert image["training"]["epochs_max"] * steps_per_epoch >= 60  # the budget follows the data: >= 60 steps


def write_100k_ratings(folder: Path, users: int) -> int:
    """The real ratings of users ``1..users`` in the MovieLens 100K layout: ``u.data`` only (tab-separated user,
    item, rating, unix time; no ``u.item``, so no titles or genres). Returns the lines written."""
    latest = folder.parent / f"{folder.name}-latest"
    n = write_slice(latest, users)
    folder.mkdir(parents=True, exist_ok=True)
    lines = (latest / "ratings.csv").read_text().splitlines()[1:]
    (folder / "u.data").write_text("".join("\t".join(line.split(",")) + "\n" for line in lines))
    return n


@pytest.mark.slow
def test_evaluate_recommender_without_an_item_file_trains_without_genres(tmp_path: Path):
    """A 100K export with ``u.data`` but no ``u.item``: no genre features (a zero column), every model still trains
    through Horovod and is measured."""
    data = tmp_path / "ml-100k"
    write_100k_ratings(data, 30)
    out, work = tmp_path / "m.json", tmp_path / "work"
    argv = ["recommender", "--input", str(data), "--output", str(out), "--workdir", str(work)]
    fast = [*FAST_RECOMMENDER, "models.recommender.epochs=1", "models.recommender.pretrain_epochs=1"]
    assert evaluate.main(argv + _sets(fast)) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"neumf", "als", "popularity", "behaviour", "behaviour_logreg"}
    assert 0 < metrics["behaviour"]["AUC"] <= 1 and metrics["behaviour"]["logloss"] > 0
    manifest = json.loads(max((work / "runs").glob("*-evaluate-*/manifest.json")).read_text())
    assert manifest["stages"]["ingest.interactions"]["inputs"]["items"] is None
    meta = json.loads((work / "features" / "behaviour" / "meta.json").read_text())
    assert meta["genres"] == []


def test_a_catalogue_without_genres_feeds_the_behaviour_model():
    """No item file -> no genre names; the genre matrix keeps one all-zero column so ``cand_genres`` matches the
    model's input (a 0-wide column failed inside the Horovod workers with a shape error)."""
    import numpy as np

    from smspark.config import load_config
    from smspark.features.interactions import build_id_maps
    from smspark.models.behaviour import build_model

    maps = build_id_maps(["a", "b"], [31, 10, 1029], {})
    assert maps.genres.tolist() == [] and maps.item_genres.shape == (4, 1) and not maps.item_genres.any()
    cfg = load_config(None, ["models.behaviour.history_len=5", "models.behaviour.rnn_units=4"]).models.behaviour
    model = build_model(cfg, maps.n_items, len(maps.genres))
    cand = np.array([1, 3], dtype=np.int32)
    x = {
        "hist_items": np.array([[0, 0, 0, 1, 2], [0, 0, 0, 0, 3]], dtype=np.int32),
        "hist_ratings": np.full((2, 5), 4.0, dtype=np.float32),
        "hist_gaps": np.zeros((2, 5), dtype=np.float32),
        "cand_item": cand,
        "cand_genres": maps.item_genres[cand],
    }
    assert model.predict(x, verbose=0).shape == (2, 1)


def test_latest_export_without_movies_csv_builds_features_without_genres(spark, make_cfg):
    """ml-latest ``ratings.csv`` alone: ingest -> etl -> both feature sets run; silver items are the rated ids and
    the behaviour features carry one all-zero genre column."""
    from smspark import storage, tables
    from smspark.jobs.steps import interactions as steps
    from tests.conftest import local
    from tests.test_interactions_etl import make_ctx

    cfg = make_cfg("train.num_proc=1", "models.recommender.eval_negatives=20")
    folder = local(cfg.layout.landing) / "movielens"
    n = write_slice(folder, 5)
    (folder / "movies.csv").unlink()
    ctx = make_ctx(cfg, spark)
    ing = steps.ingest(ctx)
    assert ing["inputs"]["items"] is None and ing["counts"]["rows_in"] == n and ing["counts"]["reconciled"]
    etl = steps.etl(ctx)["counts"]
    assert etl["reconciled"] and etl["items"]["derived_from_interactions"] and etl["items"]["rewritten"]
    rec = steps.features_recommender(ctx)["counts"]
    beh = steps.features_behaviour(ctx)["counts"]
    assert rec["reconciled"] and beh["reconciled"] and beh["rows_out"] == etl["rows_out"]
    meta = json.loads((local(cfg.layout.features) / "behaviour" / "meta.json").read_text())
    assert meta["genres"] == []
    train = storage.join(cfg.layout.features, "behaviour", "train")
    genres = tables.read_arrow(train, ["cand_genres"]).column("cand_genres").to_pylist()
    assert len(genres) > 0 and all(g == [0.0] for g in genres)

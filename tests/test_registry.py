"""The champion rule: the first version becomes champion; a later one only if it beats it on the metric."""

from __future__ import annotations

import mlflow
import pytest

from smspark.train.registry import NoChampionError, configure, get_champion, promote_if_better, registered_name


@pytest.fixture
def client(make_cfg):
    return configure(make_cfg())


def _version(client, value: float, metric: str = "test_macro_f1") -> str:
    with mlflow.start_run() as run:
        mlflow.log_metric(metric, value)
    name = registered_name("demo")
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException:
        pass
    return str(client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id).version)


def test_no_champion_is_a_clear_error(client):
    with pytest.raises(NoChampionError, match="smspark train --model demo"):
        get_champion(client, "demo")


def test_champion_moves_only_when_beaten(client):
    v1 = _version(client, 0.60)
    first = promote_if_better(client, "demo", v1, "test_macro_f1", 0.60)
    assert first["promoted"] and get_champion(client, "demo").version == v1
    v2 = _version(client, 0.55)
    worse = promote_if_better(client, "demo", v2, "test_macro_f1", 0.55)
    assert not worse["promoted"] and worse["previous_value"] == pytest.approx(0.60)
    assert get_champion(client, "demo").version == v1
    v3 = _version(client, 0.70)
    assert promote_if_better(client, "demo", v3, "test_macro_f1", 0.70)["promoted"]
    champ = get_champion(client, "demo")
    assert champ.version == v3 and champ.uri == f"models:/smspark_demo/{v3}"


def test_lower_is_better_metrics(client):
    v1 = _version(client, 12.0, "fid")
    assert promote_if_better(client, "demo", v1, "fid", 12.0, higher_is_better=False)["promoted"]
    v2 = _version(client, 15.0, "fid")
    assert not promote_if_better(client, "demo", v2, "fid", 15.0, higher_is_better=False)["promoted"]

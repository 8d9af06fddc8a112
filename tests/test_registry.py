"""The registry: champion lookup with a clear error, and moving the alias."""

from __future__ import annotations

import mlflow
import pytest

from smspark.train.registry import NoChampionError, configure, get_champion, registered_name, set_champion


@pytest.fixture
def client(make_cfg):
    return configure(make_cfg())


def _version(client) -> str:
    with mlflow.start_run() as run:
        mlflow.log_metric("val_macro_f1", 0.5)
    name = registered_name("demo")
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException:
        pass
    return str(client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id).version)


def test_no_champion_is_a_clear_error(client):
    with pytest.raises(NoChampionError, match="smspark train --model demo"):
        get_champion(client, "demo")


def test_set_champion_moves_the_alias(client):
    v1, v2 = _version(client), _version(client)
    set_champion(client, "demo", v1)
    assert get_champion(client, "demo").version == v1
    set_champion(client, "demo", v2)
    champ = get_champion(client, "demo")
    assert champ.version == v2 and champ.uri == f"models:/smspark_demo/{v2}"

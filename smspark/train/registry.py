"""MLflow tracking and the model registry: where runs are logged and which version is the champion.

Registered models are named ``smspark_<model>`` (``smspark_sentiment``). The alias ``champion`` is what scoring
loads; :mod:`smspark.train.lifecycle` decides when it moves (on the validation selection metric, with the champion
re-measured on the same split).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from smspark.config import Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"


class NoChampionError(RuntimeError):
    """No registered version carries the ``champion`` alias yet."""


@dataclass(frozen=True)
class Champion:
    """A resolved champion: registered name, version and the ``models:/`` URI pinned to that version."""

    name: str
    version: str
    uri: str
    run_id: str | None


def configure(cfg: Settings) -> MlflowClient:
    """Point MLflow at the configured tracking/registry store and experiment; return a client.

    The local default is a sqlite store under ``<data.root>/mlflow`` with artifacts next to it.
    """
    uri = cfg.tracking_uri()
    if uri.startswith("sqlite:///"):
        cfg.layout.mlflow.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(cfg.mlflow.registry_uri or uri)
    exp = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is None:
        location = (cfg.layout.mlflow / "artifacts").as_uri() if uri.startswith("sqlite:///") else None
        mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=location)
    mlflow.set_experiment(cfg.mlflow.experiment)
    return MlflowClient(tracking_uri=uri, registry_uri=cfg.mlflow.registry_uri or uri)


def registered_name(model: str) -> str:
    """Registry name of a model (``sentiment`` -> ``smspark_sentiment``)."""
    return f"smspark_{model}"


def get_champion(client: MlflowClient, model: str) -> Champion:
    """The version that carries the ``champion`` alias.

    Raises:
        NoChampionError: the model is not registered or has no champion.
    """
    name = registered_name(model)
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        raise NoChampionError(
            f"No champion for model '{model}' ({name}) in {mlflow.get_tracking_uri()}: "
            f"train one first with `smspark train --model {model}`"
        ) from exc
    return Champion(name=name, version=str(mv.version), uri=f"models:/{name}/{mv.version}", run_id=mv.run_id)


def set_champion(client: MlflowClient, model: str, version: str) -> None:
    """Point the ``champion`` alias of ``smspark_<model>`` at ``version`` (the lifecycle decides when)."""
    client.set_registered_model_alias(registered_name(model), CHAMPION, version)

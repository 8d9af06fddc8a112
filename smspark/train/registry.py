"""MLflow tracking and the model registry: where runs are logged and which version is the champion.

Registered models are named ``<mlflow.registered_model_prefix><model>`` (``smspark_sentiment``), or with Unity
Catalog's three levels (``main.smspark.smspark_sentiment``) when ``mlflow.registry_catalog``/``registry_schema`` are
set; :func:`configure` makes that the naming of the process. The alias ``champion`` is
what scoring loads. A new version takes the alias only when it beats the current champion on the model's
selection metric (the first version becomes champion); the decision and both figures are returned so the run
manifest can record them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from smspark import storage
from smspark.config import Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
_NAMING: list[Any] = [lambda model: f"smspark_{model}"]  # set by configure() from mlflow.* settings


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
    _NAMING[0] = cfg.mlflow.registered_model_name
    if uri.startswith("sqlite:///"):
        storage.makedirs(cfg.layout.mlflow)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(cfg.mlflow.registry_uri or uri)
    exp = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is None:
        location = (
            Path(uri[len("sqlite:///") :]).parent.joinpath("artifacts").as_uri()
            if uri.startswith("sqlite:///")
            else None
        )
        mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=location)
    mlflow.set_experiment(cfg.mlflow.experiment)
    return MlflowClient(tracking_uri=uri, registry_uri=cfg.mlflow.registry_uri or uri)


def registered_name(model: str) -> str:
    """Registry name of a model: ``smspark_sentiment``, or ``<catalog>.<schema>.smspark_sentiment`` (Unity Catalog)."""
    return _NAMING[0](model)


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


def promote_if_better(
    client: MlflowClient, model: str, version: str, metric: str, value: float, higher_is_better: bool = True
) -> dict[str, Any]:
    """Move ``champion`` to ``version`` if it beats the current champion on ``metric`` (or there is none).

    The champion's figure is read from its training run's metrics. Returns ``{"promoted", "champion_version",
    "previous_version", "previous_value", "metric", "value"}``.
    """
    name = registered_name(model)
    previous_version = previous_value = None
    try:
        current = get_champion(client, model)
        previous_version = current.version
        if current.run_id:
            previous_value = client.get_run(current.run_id).data.metrics.get(metric)
    except NoChampionError:
        current = None
    if current is None or previous_value is None:
        better = True
    else:
        better = value > previous_value if higher_is_better else value < previous_value
    if better:
        client.set_registered_model_alias(name, CHAMPION, version)
        log.info("%s v%s is the new champion (%s %.4f vs %s)", name, version, metric, value, previous_value)
    else:
        log.info(
            "%s v%s does not beat champion v%s (%s %.4f vs %.4f)",
            name,
            version,
            previous_version,
            metric,
            value,
            previous_value,
        )
    return {
        "promoted": better,
        "champion_version": version if better else previous_version,
        "previous_version": previous_version,
        "previous_value": previous_value,
        "metric": metric,
        "value": value,
    }

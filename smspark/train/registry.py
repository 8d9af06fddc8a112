"""MLflow tracking and the model registry: where runs are logged and which version is the champion.

Registered models are named ``<mlflow.registered_model_prefix><model>`` (``smspark_sentiment``), or with Unity
Catalog's three levels (``main.smspark.smspark_sentiment``) when ``mlflow.registry_catalog``/``registry_schema`` are
set; :func:`configure` makes that the naming of the process. The alias ``champion`` is what scoring loads;
:mod:`smspark.train.lifecycle` decides when it moves (on the validation selection metric, with the champion
re-measured on the same split).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
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


#: MLflow notices that each model logged here triggers and that the lifecycle answers by design: the pyfunc wrappers
#: are Python objects on purpose, their signatures are inferred from an input example of integer ids.
_KNOWN_NOTICES = (
    "Hint: Inferred schema contains integer column",
    "An input example was not provided",
    "Passing a Python object as `python_model`",
)


class _DropKnownNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in record.getMessage() for n in _KNOWN_NOTICES)


def quiet_known_notices() -> None:
    """Silence :data:`_KNOWN_NOTICES` (Python warnings and MLflow log lines), and MLflow's artifact-download progress
    bars when stderr is not a terminal (a log file would get one line per redraw). Other warnings pass."""
    from smspark.console import stderr_is_tty

    for notice in _KNOWN_NOTICES:
        warnings.filterwarnings("ignore", message=f".*{re.escape(notice)}")
    for name in ("mlflow.pyfunc", "mlflow.models.model", "mlflow.types.utils"):
        logging.getLogger(name).addFilter(_DropKnownNotices())
    if not stderr_is_tty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def configure(cfg: Settings) -> MlflowClient:
    """Point MLflow at the configured tracking/registry store and experiment; return a client.

    The local default is a sqlite store under ``<data.root>/mlflow`` with artifacts next to it.
    """
    quiet_known_notices()
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


def set_champion(client: MlflowClient, model: str, version: str) -> None:
    """Point the ``champion`` alias of the model's registered name at ``version`` (the lifecycle decides when)."""
    client.set_registered_model_alias(registered_name(model), CHAMPION, version)

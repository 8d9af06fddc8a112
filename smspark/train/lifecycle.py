"""The one lifecycle every model goes through: train, select on validation, test beside the baseline and the
champion, log, register, promote.

A model supplies an adapter, a subclass of :class:`ModelAdapter` in its own module of this package
(``smspark/train/<model>.py``): its data, how it trains (Horovod workers through Petastorm), how any version of it
is evaluated on a split of the *current* features, its classical baseline, and its MLflow pyfunc. The template,
:func:`run_lifecycle`, does the rest, the same way for every model:

1. **train** -- the adapter's distributed run(s). Workers write checkpoints and the exported model under the run's
   work area on the data root (``runs/<run_id>/train/<model>``, through :mod:`smspark.storage`) and return only small
   values; the driver reads the model back from there. Early stopping on the averaged validation loss keeps the
   best epoch's weights; epochs are raised so that every worker runs at least a minimum number of steps.
2. **select on validation** -- the candidate's selection metric on the validation split.
3. **test** -- the candidate, the baseline (fitted on train, its hyper-parameters chosen on validation) and the
   current champion, re-measured now on the same current validation and test splits (features are rebuilt every
   night, so a figure stored with an old version is not comparable). A champion that cannot be measured on these
   features (another dataset, other classes) is reported with the reason.
4. **log** -- parameters, the features' fingerprint, every metric with a prefix (``val_``, ``test_``,
   ``baseline_<name>_val_``, ``baseline_<name>_test_``, ``champion_val_``, ``champion_test_``), curves and plots.
5. **register** -- a pyfunc version of ``smspark_<model>``, tagged with the features' fingerprint.
6. **promote** -- ``champion`` moves to the new version only when it beats the re-measured champion on the
   validation selection metric (or there is none, or it cannot be measured); the reason is recorded.

The run manifest gets, per model, the selection metric and split, the test figures of candidate, baseline(s) and
old champion, ``beats_baseline`` (the candidate against every baseline on the test split) and why the alias moved
or not. A candidate that loses to its baseline is registered and reported as such, never hidden.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from smspark import storage
from smspark.config import Settings

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class NotReady(RuntimeError):
    """A model cannot be trained yet: its features are missing, or a model it depends on is (the GAN is measured
    with the image champion). The message says what to run first."""


@dataclass(frozen=True)
class ResumePoint:
    """Where a Keras stage continues from: the checkpoint of run ``run_id``'s stage ``stage`` (the sub-folder of its
    work area), which holds the weights after ``epoch`` (1-based) epochs."""

    run_id: str
    stage: str
    epoch: int
    checkpoint_uri: str

    def record(self) -> dict[str, Any]:
        """The manifest's ``resumed_from``: run id, stage, epoch, checkpoint URI."""
        return {"run_id": self.run_id, "stage": self.stage, "epoch": self.epoch, "checkpoint": self.checkpoint_uri}


class TrainingInterrupted(RuntimeError):
    """A distributed Keras stage failed (a rank died or raised). ``checkpoint`` is the last checkpoint rank 0
    uploaded (``{"uri", "stage", "epoch"}``), or None when no epoch finished; the cause is chained."""

    def __init__(self, model: str, stage: str, cause: str, checkpoint: dict[str, Any] | None) -> None:
        self.model, self.stage, self.cause, self.checkpoint = model, stage, cause, checkpoint
        super().__init__(f"training of {model} failed: {cause}")


# --- values passed between the template and the adapters ---------------------------------------------------------


@dataclass
class TrainContext:
    """What an adapter gets: the session, the config, where its features are and where its workers write.

    Attributes:
        spark: the job's SparkSession (also hosts ``horovod.spark.run``).
        cfg: the run's settings.
        features_uri: ``<data.root>/features/<adapter.features>``.
        work_uri: the run's work area for this model (``<data.root>/runs/<run_id>/train/<model>``): workers write
            checkpoints and exported models here.
        num_proc: Horovod workers.
        backend: ``spark`` (``horovod.spark.run``) or ``horovodrun``.
        local_dir: a driver-local temporary directory for the run (files handed to MLflow).
        mlflow_run_id, tracking_uri: the driver's MLflow run, for rank 0's per-epoch metrics.
        resume: when set, the Keras stage it names continues from its checkpoint (:meth:`ModelAdapter.train_keras`).
    """

    spark: Any
    cfg: Settings
    features_uri: str
    work_uri: str
    num_proc: int
    backend: str
    local_dir: Path
    mlflow_run_id: str = ""
    tracking_uri: str = ""
    resume: ResumePoint | None = None

    def features(self, *parts: str) -> str:
        """URI of a file or split under the features folder."""
        return storage.join(self.features_uri, *parts)

    def work(self, *parts: str) -> str:
        """URI under the work area."""
        return storage.join(self.work_uri, *parts)

    def local(self, uri: str) -> str:
        """Copy the file at ``uri`` into :attr:`local_dir` (e.g. for ``mlflow.pyfunc.log_model(artifacts=...)``)."""
        return str(storage.download(uri, self.local_dir / storage.name(uri)))


@dataclass
class KerasRun:
    """One distributed Keras training run: the model read back from the work area, where it was written, the
    workers' results (``rank``, ``size``, ``history``, ``seconds``), the epochs it was allowed and the Keras dtype
    policy it trained with."""

    model: Any
    out_uri: str
    results: list[dict[str, Any]]
    epochs: int
    precision: str = "float32"

    @property
    def history(self) -> dict[str, list[float]]:
        return self.results[0]["history"]

    @property
    def seconds(self) -> float:
        return max(r["seconds"] for r in self.results)

    @property
    def ranks(self) -> list[int]:
        return sorted(r["rank"] for r in self.results)

    def summary(self) -> dict[str, Any]:
        """Epochs allowed and run, the best epoch (lowest ``val_loss``, 1-based), seconds, precision."""
        val = self.history.get("val_loss") or []
        return {
            "epochs_max": self.epochs,
            "epochs_run": len(self.history.get("loss", [])),
            "best_epoch": int(np.argmin(val)) + 1 if val else None,
            "seconds": round(self.seconds, 2),
            "precision": self.precision,
        }


@dataclass
class Candidate:
    """A freshly trained model.

    Attributes:
        model: the in-memory pyfunc ``PythonModel`` (the same class that scoring loads), ready to ``predict``.
        artifacts: local files for ``mlflow.pyfunc.log_model(artifacts=...)`` (``keras_model``, ``meta``, ...).
        history: per-epoch metrics of the (last) distributed run, averaged over the workers.
        ranks: the Horovod ranks that returned.
        seconds: wall time of the distributed training, seconds (the slowest rank; summed over stages).
        extra: anything else the manifest should keep (stages, epochs, weight checksums ...).
    """

    model: Any
    artifacts: dict[str, str]
    history: dict[str, list[float]] = field(default_factory=dict)
    ranks: list[int] = field(default_factory=list)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Baseline:
    """A classical baseline fitted on train with its hyper-parameters chosen on validation, measured on val and test.

    ``y_true``/``y_pred`` (test split, optional) feed a confusion-matrix plot.
    """

    name: str
    val: dict[str, Any]
    test: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    y_true: np.ndarray | None = None
    y_pred: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Package:
    """How a candidate is registered: a fresh (unloaded) pyfunc ``PythonModel``, an input example for the signature
    and the pip requirements of a serving environment."""

    python_model: Any
    input_example: pd.DataFrame
    pip_requirements: list[str]


class ModelAdapter(ABC):
    """What one model supplies to :func:`run_lifecycle`.

    Class attributes:
        name: model name (``sentiment``): the registry name is ``smspark_<name>``, the manifest key ``<name>``.
        features: the features folder it reads (``features/<features>``).
        candidate_name: the manifest's name for the deep model's figures (``cnn``, ``neumf``, ...).
        selection_metric: the key of :meth:`evaluate`'s result the champion rule compares on validation.
        higher_is_better: direction of ``selection_metric``.
        resumable: whether a failed run can be continued from its checkpoint (``train --resume``): models trained
            through :meth:`train_keras`; custom training loops are not.
    """

    name: ClassVar[str]
    features: ClassVar[str]
    candidate_name: ClassVar[str]
    selection_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    resumable: ClassVar[bool] = False

    def __init__(self, ctx: TrainContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.spark = ctx.spark

    # -- required ------------------------------------------------------------------------------------------------

    @abstractmethod
    def train(self) -> Candidate:
        """Train with Horovod through Petastorm; return the candidate read back from the work area."""

    @abstractmethod
    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        """Metrics of a pyfunc ``PythonModel`` (the candidate or a champion) on ``split`` of the current features.

        Must score the candidate and an older version the same way, through the pyfunc's raw-input path, so that
        their figures are comparable. Values are floats (nested dicts allowed for per-class figures).
        """

    @abstractmethod
    def baselines(self) -> list[Baseline]:
        """The classical baseline(s), fitted on train, chosen on val, measured on val and test (``[]`` for a model
        without one: ``beats_baseline`` is then ``None``)."""

    @abstractmethod
    def package(self, candidate: Candidate) -> Package:
        """The pyfunc to register for ``candidate``."""

    # -- optional ------------------------------------------------------------------------------------------------

    def rows(self) -> dict[str, int]:
        """Rows per split of the features (default: from the Parquet footers of ``train``/``val``/``test``)."""
        return self.split_rows()

    def params(self) -> dict[str, Any]:
        """Hyper-parameters to log (default: the model's config section)."""
        section = getattr(self.cfg.models, self.name, None)
        return section.model_dump() if section is not None else {}

    def tags(self) -> dict[str, str]:
        """Extra MLflow tags of the run and the model version (e.g. the dataset)."""
        return {}

    def incompatible(self, champion: Any) -> str | None:
        """Why a champion cannot be measured on the current features (another dataset, other classes), or None."""
        return None

    def beats(self, candidate: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict[str, bool]:
        """Per comparison, whether the candidate beats a baseline on test (default: the selection metric, strictly)."""
        m = self.selection_metric
        return {name: _better(candidate[m], b[m], self.higher_is_better) for name, b in baselines.items()}

    def plots(self, candidate: Candidate, baselines: list[Baseline], out_dir: Path) -> list[Path]:
        """PNG files to log (confusion matrices, ranking curves, sample grids); default none."""
        return []

    # -- shared machinery ----------------------------------------------------------------------------------------

    def split_rows(self) -> dict[str, int]:
        """Rows per split from the Parquet footers of ``features/<features>/{train,val,test}``."""
        from smspark.train.readers import parquet_row_count

        return {s: parquet_row_count(self.ctx.features(s)) for s in SPLITS}

    def split_frames(self) -> dict[str, Any]:
        """The features splits as Spark DataFrames (for the MLlib baselines)."""
        from smspark import tables

        return {s: tables.read(self.spark, self.ctx.features(s)) for s in SPLITS}

    def train_keras(
        self,
        stage: str,
        model_fn: Callable[[], Any],
        feature_cols: list[str],
        label_col: str,
        budget: Any,
        *,
        loss: str,
        metrics: list[str],
        optimizer: str = "adam",
        **overrides: Any,
    ) -> KerasRun:
        """Train ``model_fn()`` on ``num_proc`` Horovod workers reading this model's train/val splits through
        Petastorm (:func:`smspark.train.worker.keras_worker`), then read the exported model back.

        ``budget`` is the model's config section: its ``batch_size``, ``epochs``, ``learning_rate`` (per worker),
        ``early_stopping_patience``, ``min_train_steps``, ``lr_schedule`` and ``precision`` (``overrides`` replace
        any of them for this stage; a section without ``lr_schedule`` trains at a constant rate, one without
        ``precision`` in float32; ``auto`` is resolved here, :func:`smspark.train.precision.resolve_precision`).
        ``stage`` names the sub-folder of the work area (``<work>/<stage>``) and prefixes the per-epoch MLflow
        metrics (``<stage>_loss``, ...); epochs are raised to reach ``min_train_steps`` steps per worker. An
        ``epoch_rows`` override sets the rows of one epoch (default: the training split's), e.g. one of several
        independent negative draws written side by side.

        When :attr:`TrainContext.resume` names this stage, rank 0 starts from its checkpoint's weights and training
        continues after the checkpoint's epoch. Raises :class:`TrainingInterrupted` (naming the last checkpoint
        uploaded under ``<work>/<stage>``) when a worker dies or fails.
        """
        fields = (
            "batch_size",
            "epochs",
            "learning_rate",
            "early_stopping_patience",
            "min_train_steps",
            "lr_schedule",
            "precision",
        )
        b = {f: overrides.get(f, getattr(budget, f, None)) for f in fields}
        batch_size, epochs = int(b["batch_size"]), int(b["epochs"])
        from smspark.train.launcher import DistributedRunError, run_distributed
        from smspark.train.precision import resolve_precision
        from smspark.train.worker import KerasTrainSpec, keras_worker

        ctx = self.ctx
        rows = self.split_rows()
        epoch_rows = int(overrides.get("epoch_rows") or rows["train"])
        min_train_steps = int(b["min_train_steps"] or 0)
        n_epochs = epochs_for(epochs, min_train_steps, epoch_rows, batch_size, ctx.num_proc)
        if n_epochs != epochs:
            log.info(
                "%s/%s: %d epochs at most instead of %d, so every worker runs >= %d steps",
                self.name,
                stage,
                n_epochs,
                epochs,
                min_train_steps,
            )
        spec = KerasTrainSpec(
            model_fn=model_fn,
            train_url=ctx.features("train"),
            val_url=ctx.features("val"),
            feature_cols=feature_cols,
            label_col=label_col,
            train_rows=epoch_rows,
            val_rows=rows["val"],
            batch_size=batch_size,
            epochs=n_epochs,
            learning_rate=float(b["learning_rate"]),
            loss=loss,
            metrics=metrics,
            out_uri=ctx.work(stage),
            seed=ctx.cfg.train.seed,
            tracking_uri=ctx.tracking_uri or None,
            run_id=ctx.mlflow_run_id or None,
            metric_prefix=f"{stage}_",
            early_stopping_patience=b["early_stopping_patience"],
            optimizer=optimizer,
            lr_schedule=str(b["lr_schedule"] or "constant"),
            precision=resolve_precision(str(b["precision"] or "float32")),
            model_name=self.name,
            stage=stage,
        )
        if ctx.resume is not None and ctx.resume.stage == stage:
            spec.resume_uri, spec.initial_epoch = ctx.resume.checkpoint_uri, min(ctx.resume.epoch, n_epochs)
        try:
            results = run_distributed(
                keras_worker, (spec,), num_proc=ctx.num_proc, backend=ctx.backend, spark=ctx.spark
            )
        except DistributedRunError as exc:
            raise TrainingInterrupted(self.name, stage, str(exc), last_checkpoint(spec.out_uri)) from exc
        model = load_keras(storage.join(spec.out_uri, "model.h5"))
        return KerasRun(model=model, out_uri=spec.out_uri, results=results, epochs=n_epochs, precision=spec.precision)


def last_checkpoint(out_uri: str) -> dict[str, Any] | None:
    """The checkpoint rank 0 left under ``out_uri`` (a stage's work folder): ``{"uri", "stage", "epoch"}`` from its
    ``checkpoint.json``, or None when there is none (no epoch finished)."""
    from smspark.train.worker import CHECKPOINT, CHECKPOINT_META

    meta_uri, uri = storage.join(out_uri, CHECKPOINT_META), storage.join(out_uri, CHECKPOINT)
    if not (storage.exists(meta_uri) and storage.exists(uri)):
        return None
    meta = storage.read_json(meta_uri)
    return {"uri": uri, "stage": meta.get("stage") or storage.name(out_uri), "epoch": int(meta["epoch"])}


# --- small pure pieces ---------------------------------------------------------------------------------------------


def _better(a: float, b: float, higher_is_better: bool) -> bool:
    return a > b if higher_is_better else a < b


def epochs_for(epochs: int, min_steps: int, rows: int, batch_size: int, num_proc: int) -> int:
    """``epochs``, raised so that every one of ``num_proc`` workers runs at least ``min_steps`` optimizer steps on
    ``rows`` training rows (``steps_per_epoch = max(1, rows // (batch_size * num_proc))``, as the workers compute it).

    A small dataset thus trains for more epochs (early stopping on validation still ends it), a large one keeps
    ``epochs``.
    """
    steps = max(1, rows // (batch_size * num_proc))
    return max(epochs, math.ceil(min_steps / steps))


def mlflow_key(name: str) -> str:
    """A metric or parameter key MLflow accepts: ``@`` -> ``_at_``, other characters outside ``[A-Za-z0-9_-./ ]``
    -> ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name.replace("@", "_at_"))


def flat_metrics(prefix: str, metrics: dict[str, Any]) -> dict[str, float]:
    """``{"macro_f1": 0.7, "by_class": {"a": 0.5}}`` -> ``{"<prefix>macro_f1": 0.7, "<prefix>by_class.a": 0.5}``
    with MLflow-safe keys; non-numeric values are left out."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update(flat_metrics(f"{prefix}{k}.", v))
        elif isinstance(v, int | float | np.floating | np.integer) and not isinstance(v, bool):
            if math.isfinite(float(v)):
                out[mlflow_key(f"{prefix}{k}")] = float(v)
    return out


def fingerprint(features_uri: str) -> str:
    """A short digest of a features folder: every file's relative path and size, and the content of its JSON side
    files (vocabulary, meta). Two builds with the same rows give the same fingerprint; a rebuild that changed a
    split, the vocabulary or the id maps gives another. 16 hex characters of SHA-256."""
    h = hashlib.sha256()
    fs, root = storage.filesystem(features_uri)
    root = root.rstrip("/")
    for path in sorted(fs.find(root)):
        rel = str(path)[len(root) :].lstrip("/")
        if rel.rsplit("/", 1)[-1].startswith((".", "_")) and not rel.endswith("_SUCCESS"):
            continue
        h.update(f"{rel}\0{fs.size(path)}\0".encode())
        if rel.endswith(".json"):
            h.update(fs.cat_file(path))
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    """The champion rule's verdict: whether the alias moves, and why."""

    promote: bool
    reason: str


def champion_decision(
    metric: str,
    candidate: float,
    champion: float | None,
    higher_is_better: bool,
    champion_version: str | None = None,
    incompatible: str | None = None,
) -> Decision:
    """The champion rule on the validation selection metric (both figures measured in this run on the same split).

    The alias moves when there is no champion, when the champion cannot be measured on the current features
    (``incompatible`` says why), or when the candidate is strictly better; a tie keeps the champion.
    """
    if champion_version is None:
        return Decision(True, "first version: no champion yet")
    if incompatible:
        return Decision(True, f"champion v{champion_version} cannot be measured on these features: {incompatible}")
    if champion is None or not math.isfinite(champion):
        return Decision(True, f"champion v{champion_version} has no val {metric} on these features")
    word = "higher" if higher_is_better else "lower"
    if _better(candidate, champion, higher_is_better):
        return Decision(
            True, f"val {metric} {candidate:.4f} is {word} than champion v{champion_version}'s {champion:.4f}"
        )
    return Decision(
        False, f"val {metric} {candidate:.4f} is not {word} than champion v{champion_version}'s {champion:.4f}"
    )


def pip_requirements(*extra: str) -> list[str]:
    """What a serving environment needs to load a registered smspark pyfunc (smspark itself must be installed).
    TensorFlow is named by the distribution installed here (``tensorflow`` or ``tensorflow-cpu``), so loading the
    model in this environment reports no mismatch."""
    from importlib import metadata

    import tensorflow as tf
    import tf_keras

    try:
        metadata.version("tensorflow-cpu")
        tf_dist = "tensorflow-cpu"
    except metadata.PackageNotFoundError:
        tf_dist = "tensorflow"
    return [
        f"{tf_dist}=={tf.__version__}",
        f"tf-keras=={tf_keras.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        "smspark",
        *extra,
    ]


def load_keras(uri: str) -> Any:
    """A tf_keras model saved with ``model.save`` (HDF5) at ``uri`` (any storage URI), uncompiled."""
    import tf_keras

    with tempfile.TemporaryDirectory() as tmp:
        local = storage.download(uri, Path(tmp) / storage.name(uri))
        return tf_keras.models.load_model(str(local), compile=False)


def fetch(uri: str, local_dir: str | Path) -> str:
    """Copy the file at ``uri`` into ``local_dir`` (for MLflow artifacts); returns the local path."""
    return str(storage.download(uri, Path(local_dir) / storage.name(uri)))


# --- the template ----------------------------------------------------------------------------------------------------


def run_lifecycle(
    adapter_cls: type[ModelAdapter],
    spark: Any,
    cfg: Settings,
    run_id: str,
    num_proc: int,
    backend: str,
    report_uri: str | None = None,
    resume: ResumePoint | None = None,
) -> dict[str, Any]:
    """Train, select on validation, test beside baseline and champion, log, register and promote one model.

    Args:
        adapter_cls: the model's adapter.
        spark: the job's session.
        cfg: the run's settings.
        run_id: the run manifest's id (names the work area ``runs/<run_id>/train/<model>``).
        num_proc, backend: Horovod workers and how they are launched.
        report_uri: where plots are copied for the run manifest (default ``runs/<run_id>``).
        resume: continue the Keras stage it names from its checkpoint (the record gets ``resumed_from``).

    Returns:
        The manifest record (see the module docstring): ``registered_model``, ``version``, ``champion``,
        ``selection``, ``val``, ``test``, ``beats_baseline``, ``beats``, ``features_fingerprint``, ``rows``,
        ``history``, ``metrics`` (test figures by model name), ...

    Raises:
        NotReady: the features folder is missing, or the adapter cannot start (see its docstring).
        ValueError: ``resume`` for an adapter that is not :attr:`ModelAdapter.resumable`.
        TrainingInterrupted: a Horovod worker died or failed (nothing registered, the champion unchanged).
    """
    import mlflow

    from smspark.scoring.udfs import load_python_model
    from smspark.train.registry import (
        CHAMPION,
        NoChampionError,
        configure,
        get_champion,
        registered_name,
        set_champion,
    )

    name = adapter_cls.name
    features_uri = storage.join(cfg.layout.features, adapter_cls.features)
    if not storage.exists(features_uri):
        raise NotReady(f"no {name} features at {features_uri}: run `smspark features` first")
    report_uri = report_uri or storage.join(cfg.layout.runs, run_id)
    client = configure(cfg)
    tmp_dir = tempfile.TemporaryDirectory(prefix=f"smspark-{name}-")
    tmp = tmp_dir.name
    ctx = TrainContext(
        spark=spark,
        cfg=cfg,
        features_uri=features_uri,
        work_uri=storage.join(cfg.layout.runs, run_id, "train", name),
        num_proc=num_proc,
        backend=backend,
        local_dir=Path(tmp),
        tracking_uri=mlflow.get_tracking_uri(),
        resume=resume,
    )
    if resume is not None and not adapter_cls.resumable:
        raise ValueError(f"{name} cannot resume from a checkpoint: it trains with its own loop")
    adapter = adapter_cls(ctx)
    fp = fingerprint(features_uri)
    rows = adapter.rows()
    metric = adapter.selection_metric
    reg_name = registered_name(name)
    log.info("%s: features %s (fingerprint %s, rows %s)", name, features_uri, fp, rows)

    with tmp_dir, mlflow.start_run(run_name=f"{name}-np{num_proc}") as run:
        ctx.mlflow_run_id = run.info.run_id
        tags = {"features_fingerprint": fp, "selection_metric": metric, **adapter.tags()}
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                mlflow_key(k): v
                for k, v in {
                    **adapter.params(),
                    "num_proc": num_proc,
                    "backend": backend,
                    "features_uri": features_uri,
                    **{f"rows_{s}": n for s, n in rows.items()},
                }.items()
            }
        )

        # 1. train
        candidate = adapter.train()
        # 2-3. evaluate candidate, baselines and the re-measured champion on the current val and test splits
        cand_val = adapter.evaluate(candidate.model, "val")
        cand_test = adapter.evaluate(candidate.model, "test")
        log.info("%s candidate: val %s %.4f, test %s %.4f", name, metric, cand_val[metric], metric, cand_test[metric])
        baselines = adapter.baselines()
        for b in baselines:
            log.info("%s baseline %s: val %s %.4f, test %.4f", name, b.name, metric, b.val[metric], b.test[metric])
        champion_version = champion_reason = None
        champ_val = champ_test = None
        try:
            champ = get_champion(client, name)
            champion_version = champ.version
            champion_model = load_python_model(champ.uri, cfg.tracking_uri(), cfg.mlflow.registry_uri)
            champion_reason = adapter.incompatible(champion_model)
            if champion_reason is None:
                champ_val = adapter.evaluate(champion_model, "val")
                champ_test = adapter.evaluate(champion_model, "test")
                log.info(
                    "%s champion v%s re-measured: val %s %.4f, test %.4f",
                    name,
                    champ.version,
                    metric,
                    champ_val[metric],
                    champ_test[metric],
                )
        except NoChampionError:
            pass
        except Exception as exc:  # an old version that no longer loads is reported, not fatal
            champion_reason = f"it could not be loaded ({type(exc).__name__}: {exc})"
            log.warning("%s champion v%s: %s", name, champion_version, champion_reason)

        base_test = {b.name: b.test for b in baselines}
        beats = adapter.beats(cand_test, base_test)
        beats_baseline = all(beats.values()) if beats else None  # None: the model has no baseline
        for comparison, ok in beats.items():
            if not ok:
                log.warning("%s does NOT beat its baseline on test: %s", name, comparison)

        # 4. log
        mlflow.log_metrics(flat_metrics("val_", cand_val))
        mlflow.log_metrics(flat_metrics("test_", cand_test))
        for b in baselines:
            mlflow.log_metrics(flat_metrics(f"baseline_{b.name}_val_", b.val))
            mlflow.log_metrics(flat_metrics(f"baseline_{b.name}_test_", b.test))
            mlflow.log_params({mlflow_key(f"baseline_{b.name}_{k}"): v for k, v in b.params.items()})
        if champ_val is not None and champ_test is not None:
            mlflow.log_metrics(flat_metrics("champion_val_", champ_val))
            mlflow.log_metrics(flat_metrics("champion_test_", champ_test))
        mlflow.set_tag("beats_baseline", "n/a" if beats_baseline is None else str(beats_baseline).lower())
        plot_dir = Path(tmp) / "plots"
        plot_dir.mkdir()
        plots = adapter.plots(candidate, baselines, plot_dir)
        history_file = Path(tmp) / "history.json"
        history_file.write_text(json.dumps(candidate.history, indent=2))
        mlflow.log_artifact(str(history_file))
        plot_uris = []
        for png in plots:
            mlflow.log_artifact(str(png), "plots")
            plot_uris.append(storage.upload(png, storage.join(report_uri, f"{name}_{png.name}")))

        # 5. register
        pkg = adapter.package(candidate)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pkg.python_model,
            artifacts=candidate.artifacts,
            signature=mlflow.models.infer_signature(
                pkg.input_example, candidate.model.predict(None, pkg.input_example)
            ),
            pip_requirements=pkg.pip_requirements,
            registered_model_name=reg_name,
        )
        version = str(info.registered_model_version)
        for k, v in tags.items():
            client.set_model_version_tag(reg_name, version, k, str(v))

        # 6. promote on the validation selection metric
        decision = champion_decision(
            metric,
            float(cand_val[metric]),
            None if champ_val is None else float(champ_val[metric]),
            adapter.higher_is_better,
            champion_version,
            champion_reason,
        )
        if decision.promote:
            set_champion(client, name, version)
        log.info("%s v%s: %s -> %s", reg_name, version, decision.reason, "champion" if decision.promote else "kept")
        mlflow.set_tags({"promoted": str(decision.promote).lower(), "promotion_reason": decision.reason})

    return {
        "mlflow_run_id": run.info.run_id,
        "registered_model": reg_name,
        "version": version,
        "champion": {
            "promoted": decision.promote,
            "champion_version": version if decision.promote else champion_version,
            "previous_version": champion_version,
            "reason": decision.reason,
            "alias": CHAMPION,
        },
        "selection": {
            "metric": metric,
            "split": "val",
            "higher_is_better": adapter.higher_is_better,
            "candidate": cand_val[metric],
            "champion": None if champ_val is None else champ_val[metric],
            "baselines": {b.name: b.val.get(metric) for b in baselines},
        },
        "val": {
            adapter.candidate_name: cand_val,
            **{b.name: b.val for b in baselines},
            "champion": champ_val,
        },
        "test": {
            adapter.candidate_name: cand_test,
            **{b.name: b.test for b in baselines},
            "champion": champ_test,
        },
        "champion_not_measured": champion_reason,
        "beats_baseline": beats_baseline,
        "beats": beats,
        "baseline_params": {b.name: b.params for b in baselines},
        "baseline_details": {b.name: b.extra for b in baselines if b.extra},
        "features_uri": features_uri,
        "features_fingerprint": fp,
        "work_uri": ctx.work_uri,
        "num_proc": num_proc,
        "backend": backend,
        "ranks": candidate.ranks,
        "train_seconds": round(candidate.seconds, 2),
        "rows": rows,
        "history": candidate.history,
        "epochs_run": len(candidate.history.get("loss", candidate.history.get("d_loss", []))),
        "plots": plot_uris,
        **candidate.extra,
        **({"resumed_from": resume.record()} if resume is not None else {}),
        "metrics": {adapter.candidate_name: cand_test, **base_test, "champion": champ_test},
    }

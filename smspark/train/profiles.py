"""The synthetic-profile generator in the lifecycle: a CTGAN trained with Horovod next to a Gaussian-copula baseline.

Reads ``features/profiles/{train,val,test}`` (one row per user of ``models.profiles.source``: the float64 columns of
:data:`smspark.features.profiles.PROFILE_COLUMNS`) and ``meta.json``. The driver fits CTGAN's mode-specific
normalisation once on the training rows (:class:`smspark.synthetic.ctgan.DataTransformer`), so that every rank
encodes rows the same way; the workers (:func:`profiles_worker`, launched by
:func:`smspark.train.launcher.run_distributed`) read their Petastorm shard of the training split, train generator and
critic with ``hvd.DistributedGradientTape`` (:func:`smspark.synthetic.ctgan.fit`), and rank 0 exports the generator.

Any generator (the candidate, the champion, the copula baseline) is measured the same way on a split: as many
synthetic rows as the split's real rows, scored by SDMetrics against that split
(:func:`smspark.synthetic.metrics.fidelity`: quality report, logistic detection); and distance-to-closest-record
protection (:func:`smspark.synthetic.metrics.dcr_protection`) of as many synthetic rows as there are held-out users,
against all training rows with all held-out rows (validation and test, about as many as the training rows) as the
reference, the same figure for both splits. Selection metric: ``quality_score`` on validation.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from smspark import storage
from smspark.config import ProfilesConfig
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, Package, epochs_for

log = logging.getLogger(__name__)

MODEL = "profiles"


@dataclass
class ProfilesTrainSpec:
    """Everything a profiles worker needs; pickled to every rank.

    Attributes:
        cfg: the generator's settings.
        columns: the profile columns, in order.
        train_url: storage URI of ``features/profiles/train``.
        train_rows: rows of the training split (every rank runs ``train_rows // (batch * size)`` steps per epoch).
        transformer: pickled :class:`~smspark.synthetic.ctgan.DataTransformer` fitted on all training rows.
        out_uri: rank 0 writes ``generator.h5`` and ``history.json`` here.
        seed: base seed (rank ``r`` draws its batches with ``seed + r``).
    """

    cfg: ProfilesConfig
    columns: list[str]
    train_url: str
    train_rows: int
    transformer: bytes
    out_uri: str
    seed: int = 42


def ctgan_config(cfg: ProfilesConfig, seed: int) -> Any:
    """The :class:`~smspark.synthetic.ctgan.CtganConfig` of the profile settings."""
    from smspark.synthetic.ctgan import CtganConfig

    return CtganConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        noise_dim=cfg.noise_dim,
        pac=cfg.pac,
        lr=cfg.learning_rate,
        max_modes=cfg.max_modes,
        seed=seed,
        atom_share=cfg.atom_share,
        log_skew=cfg.log_skew,
        ema_decay=cfg.ema_decay,
    )


def read_shard(url: str, columns: list[str], rank: int, size: int) -> pd.DataFrame:
    """This rank's Petastorm shard of a profiles split as pandas (float64 ``columns``)."""
    from smspark.train.readers import petastorm_dataset

    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    with petastorm_dataset(
        url,
        feature_cols=columns,
        label_col=None,
        batch_size=1024,
        cur_shard=rank,
        shard_count=size,
        num_epochs=1,
        shuffle=False,
    ) as ds:
        for batch in ds:
            batch = batch if isinstance(batch, dict) else {columns[0]: batch}
            for c in columns:
                parts[c].append(batch[c].numpy())
    return pd.DataFrame({c: np.concatenate(parts[c]).astype(np.float64) for c in columns})


def profiles_worker(spec: ProfilesTrainSpec) -> dict[str, Any]:
    """One Horovod rank of CTGAN training on its Petastorm shard.

    Returns:
        ``{"rank", "size", "rows", "history", "seconds", "steps_per_epoch", "weight_checksums"}``;
        ``weight_checksums`` is the sum of absolute trainable weights of the generator: equal on every rank when the
        broadcast and the gradient averaging worked.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import horovod.tensorflow as hvd

    import smspark  # noqa: F401
    from smspark.synthetic.ctgan import fit

    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    shard = read_shard(spec.train_url, spec.columns, rank, size)
    cfg = ctgan_config(spec.cfg, spec.seed)
    batch = max(cfg.pac, cfg.batch_size // cfg.pac * cfg.pac)
    steps = max(1, spec.train_rows // (batch * size))
    cfg.epochs = epochs_for(cfg.epochs, spec.cfg.min_train_steps, spec.train_rows, batch, size)
    transformer = pickle.loads(spec.transformer)  # noqa: S301  (the driver's own object)
    start = time.perf_counter()
    gan = fit(shard, (), cfg, hvd=hvd, transformer=transformer, steps_per_epoch=steps)
    seconds = time.perf_counter() - start
    history = {k: [float(h[k]) for h in gan.history] for k in ("d_loss", "g_loss")}
    if rank == 0:
        local_dir = tempfile.mkdtemp(prefix="smspark-profiles-rank0-")
        gan.generator.save(os.path.join(local_dir, "generator.h5"))
        with open(os.path.join(local_dir, "history.json"), "w") as fh:
            json.dump({"history": history, "size": size, "steps_per_epoch": steps, "seconds": seconds}, fh)
        storage.upload(local_dir, spec.out_uri)
        shutil.rmtree(local_dir, ignore_errors=True)
    checksum = float(sum(np.abs(w.numpy()).sum() for w in gan.generator.trainable_weights))
    return {
        "rank": rank,
        "size": size,
        "rows": len(shard),
        "history": history,
        "seconds": seconds,
        "steps_per_epoch": steps,
        "weight_checksums": [checksum],
    }


class ProfilesAdapter(ModelAdapter):
    """The CTGAN profile generator (``smspark_profiles``) next to a Gaussian copula; selection on validation
    ``quality_score`` (SDMetrics quality report, higher is better)."""

    name = MODEL
    features = "profiles"
    candidate_name = "ctgan"
    selection_metric = "quality_score"

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.meta = storage.read_json(ctx.features("meta.json"))
        self.columns: list[str] = list(self.meta["columns"])
        self.mcfg: ProfilesConfig = self.cfg.models.profiles
        self._data: dict[str, pd.DataFrame] = {}

    def params(self) -> dict[str, Any]:
        return {**self.mcfg.model_dump(), "source": self.meta["source"], "columns": len(self.columns)}

    def tags(self) -> dict[str, str]:
        return {"dataset": f"user_profiles/{self.meta['source']}"}

    def split_data(self, split: str) -> pd.DataFrame:
        """A split as pandas, the profile columns in order."""
        if split not in self._data:
            table = storage.read_parquet(self.ctx.features(split), columns=self.columns)
            self._data[split] = table.to_pandas()[self.columns].astype(np.float64)
        return self._data[split]

    def train(self) -> Candidate:
        from smspark.models.profiles import ProfilesPyfunc, write_meta, write_state
        from smspark.synthetic.ctgan import ConditionalSampler, DataTransformer
        from smspark.train.launcher import run_distributed
        from smspark.train.lifecycle import load_keras

        ctx, seed = self.ctx, self.cfg.train.seed
        train = self.split_data("train")
        transformer = DataTransformer(self.mcfg.max_modes, seed, self.mcfg.atom_share, self.mcfg.log_skew).fit(train)
        spec = ProfilesTrainSpec(
            cfg=self.mcfg,
            columns=self.columns,
            train_url=ctx.features("train"),
            train_rows=len(train),
            transformer=pickle.dumps(transformer),
            out_uri=ctx.work("ctgan"),
            seed=seed,
        )
        results = run_distributed(profiles_worker, (spec,), num_proc=ctx.num_proc, backend=ctx.backend, spark=ctx.spark)
        sampler = ConditionalSampler(transformer, transformer.transform(train, np.random.default_rng(seed)))
        meta = {
            "model": MODEL,
            "source": self.meta["source"],
            "columns": self.columns,
            "categorical": [],
            "noise_dim": self.mcfg.noise_dim,
            "train_rows": len(train),
            "config": self.mcfg.model_dump(),
        }
        model = ProfilesPyfunc()
        model.keras_model = load_keras(storage.join(spec.out_uri, "generator.h5"))
        model.meta = meta
        model.state = {"transformer": transformer, "sampler": sampler}
        artifacts = {
            "keras_model": ctx.local(storage.join(spec.out_uri, "generator.h5")),
            "state": write_state(str(ctx.local_dir / "profiles_state.pkl"), transformer, sampler),
            "meta": write_meta(str(ctx.local_dir / "profiles_meta.json"), meta),
        }
        first = results[0]
        return Candidate(
            model,
            artifacts,
            first["history"],
            sorted(r["rank"] for r in results),
            max(r["seconds"] for r in results),
            {
                "weight_checksums": {r["rank"]: r["weight_checksums"] for r in results},
                "rows_per_rank": {r["rank"]: r["rows"] for r in results},
                "steps_per_epoch": first["steps_per_epoch"],
                "epochs": len(first["history"]["d_loss"]),
            },
        )

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        from smspark.synthetic.metrics import dcr_protection, fidelity

        seed = self.cfg.train.seed
        real = self.split_data(split)
        n = min(len(real), self.mcfg.eval_rows or len(real))
        real = real.sample(n=n, random_state=seed).reset_index(drop=True)
        train = self.split_data("train")
        holdout = pd.concat([self.split_data("val"), self.split_data("test")], ignore_index=True)
        synthetic = model.sample(max(n, len(holdout)), seed + 2)
        return {
            **fidelity(real, synthetic.iloc[:n]),
            "dcr_overfitting_protection": dcr_protection(train, holdout, synthetic.iloc[: len(holdout)]),
            "rows": n,
            "dcr_rows": {"train": len(train), "holdout": len(holdout)},
        }

    def incompatible(self, champion: Any) -> str | None:
        cols = list(champion.meta.get("columns", []))
        if cols != self.columns:
            return f"it generates columns {cols}, these features have {self.columns}"
        return None

    def baselines(self) -> list[Baseline]:
        from smspark.models.profiles import CopulaGenerator

        copula = CopulaGenerator(self.split_data("train"), [])
        return [Baseline("copula", self.evaluate(copula, "val"), self.evaluate(copula, "test"))]

    def package(self, candidate: Candidate) -> Package:
        import sklearn

        from smspark.models.profiles import ProfilesPyfunc
        from smspark.train.lifecycle import pip_requirements

        sample = pd.DataFrame({"rows": [3], "seed": [1]})
        return Package(ProfilesPyfunc(), sample, pip_requirements(f"scikit-learn=={sklearn.__version__}"))

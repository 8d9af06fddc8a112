"""``smspark evaluate profiles --input FILE.csv``: the CTGAN and the Gaussian-copula baseline on a user table.

The table (one row per user, a few hundred rows and up) is split in half at random (seeded): both generators are
trained on the first half and sample as many rows; :func:`smspark.synthetic.metrics.score` compares each sample
with the training half and the held-out half (an equal-sized hold-out, as ``DCROverfittingProtection`` assumes).
Columns: given ``categorical`` names are categorical, the other numeric columns continuous; without names, text
and boolean columns are categorical. Identifier-like text columns (a distinct value in every row) are dropped: no
generator ever sees an identifier. Rows with a missing value are dropped and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark.config import ProfilesConfig
from smspark.jobs.common import JobContext, UserError

log = logging.getLogger(__name__)

MIN_ROWS = 200


def prepare(df: pd.DataFrame, categorical: list[str] | None = None) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """``(model table, categorical columns, column report)`` of a user table (see the module text).

    Raises:
        UserError: an unknown ``categorical`` name, no usable column, or fewer than :data:`MIN_ROWS` complete rows.
    """
    unknown = sorted(set(categorical or ()) - set(df.columns))
    if unknown:
        raise UserError(f"--categorical names columns the table lacks: {unknown}")
    if categorical is None:
        categorical = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c]) or df[c].dtype == bool]
    ids = [c for c in categorical if df[c].nunique() == len(df) and len(df) > 1]
    keep = [c for c in df.columns if c not in ids and (c in categorical or pd.api.types.is_numeric_dtype(df[c]))]
    if not keep:
        raise UserError("no numeric or categorical column to model")
    table = df[keep].dropna().reset_index(drop=True)
    cats = [c for c in keep if c in categorical]
    for c in cats:
        table[c] = table[c].astype(str)
    report = {"rows_in": len(df), "rows_incomplete": len(df) - len(table), "dropped_identifier_columns": ids}
    if len(table) < MIN_ROWS:
        raise UserError(f"{len(table)} complete rows: at least {MIN_ROWS} are needed")
    return table, cats, report


def compare(
    table: pd.DataFrame, categorical: list[str], seed: int, cfg: ProfilesConfig, epochs: int | None = None
) -> dict[str, dict[str, Any]]:
    """``{"gan": scores, "copula": scores}`` on a seeded half/half split of ``table`` (see the module text); the CTGAN
    with the profile generator's settings (``models.profiles``: batch, pac, EMA, at least ``min_train_steps`` steps)
    unless ``epochs`` is given."""
    from smspark.synthetic.ctgan import fit
    from smspark.synthetic.metrics import copula_sample, score
    from smspark.train.lifecycle import epochs_for
    from smspark.train.profiles import ctgan_config

    order = np.random.default_rng(seed).permutation(len(table))
    half = len(table) // 2
    train = table.iloc[order[:half]].reset_index(drop=True)
    holdout = table.iloc[order[half : 2 * half]].reset_index(drop=True)
    gan_cfg = ctgan_config(cfg, seed)
    gan_cfg.batch_size = min(gan_cfg.batch_size, max(gan_cfg.pac, half // 2))
    gan_cfg.epochs = epochs or epochs_for(cfg.epochs, cfg.min_train_steps, half, gan_cfg.batch_size, 1)
    gan = fit(train, categorical, gan_cfg)
    samples = {"gan": gan.sample(len(train), seed + 1), "copula": copula_sample(train, len(train), seed, categorical)}
    out = {name: score(train, holdout, s, categorical) for name, s in samples.items()}
    out["gan"].update({"final_d_loss": gan.history[-1]["d_loss"], "epochs": gan_cfg.epochs})
    for name in out:
        out[name].update({"train_rows": len(train), "holdout_rows": len(holdout)})
    return out


def evaluate(
    ctx: JobContext, input_file: Path, categorical: list[str] | None = None, epochs: int | None = None
) -> dict[str, dict[str, Any]]:
    """Read ``input_file`` (CSV), compare the CTGAN with the copula baseline; the column report goes to the manifest."""
    try:
        df = pd.read_csv(input_file)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {input_file} as CSV: {exc}") from exc
    table, cats, report = prepare(df, categorical)
    log.info("profiles: %d rows, categorical %s, report %s", len(table), cats, report)
    ctx.manifest.data["metrics"]["profiles_columns"] = {**report, "categorical": cats}
    return compare(table, cats, ctx.cfg.train.seed, ctx.cfg.models.profiles, epochs)

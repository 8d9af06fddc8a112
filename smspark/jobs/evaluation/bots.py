"""``smspark evaluate bots --input DIR``: a bot classifier and its MLlib baselines on a labelled bot dataset.

``DIR`` holds either the cresci-2017 layout, one folder per class (``genuine_accounts[.csv]/`` = human, any other
folder = bot) each with ``users.csv`` and, usually, ``tweets.csv``; or TwiBot-style JSON files (``*.json``: arrays of
``{"ID", "profile", "tweet", "label"}``; records without a 0/1 label, as in TwiBot-20's ``support.json``, are
counted and left out). See :mod:`smspark.etl.bots` for the columns read.

Chain: read every CSV/JSON with Spark (all columns as text; a CSV row with the wrong number of fields, a missing id,
an unparseable ``created_at`` or a tweet of an unknown user is counted with its reason, never fatal) -> posts in
the silver posts' terms -> per-account features (:mod:`smspark.features.bots`) -> an account-level split by keyed
hash, stratified by class (``models.bots``) -> the dense classifier (:mod:`smspark.models.bots`, on the driver)
beside MLlib ``GBTClassifier`` and ``LogisticRegression`` on the same imputed features. Each model's decision
threshold is the one with the best F1 on validation; precision, recall, F1 (bot = positive class), ROC-AUC and
PR-AUC are measured on test. The figures are logged as one MLflow run (``evaluate-bots``) in the work area's store.

TwiBot-20 has no tweet timestamps: the cadence features are null there (imputed), so its figures rest on the text
and profile features only. A class with ``users.csv`` only (several cresci spambot classes) has null behaviour
features, which makes it easy to tell apart: a property of such a dataset, not of the models.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from smspark.etl.bots import (
    CORRUPT,
    HUMAN_CLASS,
    account_posts,
    account_profiles,
    class_name,
    twibot_frames,
)
from smspark.features.bots import FEATURES, account_split_col, bot_features
from smspark.jobs.common import JobContext, UserError
from smspark.manifest import reconcile
from smspark.metrics import best_threshold, binary_report

log = logging.getLogger(__name__)

#: Figures of each model in the output, all in [0, 1].
REPORTED = ("precision", "recall", "f1", "auc", "pr_auc", "accuracy", "threshold")
SPLITS = ("train", "val", "test")


def class_folders(input_dir: Path) -> dict[str, Path]:
    """``{class: folder}`` of the cresci layout: the sub-folders of ``input_dir`` that hold a ``users.csv`` (class =
    folder name without a ``.csv`` suffix).

    Raises:
        UserError: two folders give the same class (``x`` and ``x.csv``).
    """
    out: dict[str, Path] = {}
    for sub in sorted(p for p in input_dir.iterdir() if p.is_dir() and (p / "users.csv").is_file()):
        cls = class_name(sub.name)
        if cls in out:
            raise UserError(f"class {cls!r} appears twice in {input_dir}: {out[cls].name} and {sub.name}")
        out[cls] = sub
    return out


def _header(path: Path) -> list[str]:
    """The column names of a CSV file's first line (byte-order mark and surrounding space removed)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        first = next(csv.reader(fh), [])
    names = [c.strip().lstrip("\ufeff").strip() for c in first]
    if not names or not any(names):
        raise UserError(f"{path} has no header line")
    return [n or f"_c{i}" for i, n in enumerate(names)]


def read_class_csv(ctx: JobContext, folders: dict[str, Path], name: str) -> DataFrame | None:
    """Every ``<class folder>/<name>`` as one DataFrame: the file's own columns as text, :data:`CORRUPT` (the raw
    record of a row with the wrong number of fields) and ``class``; None when no folder has the file.

    Quoted fields may hold commas, doubled quotes and line breaks (Spark's CSV reader, ``multiLine``)."""
    frames = []
    for cls, folder in folders.items():
        path = folder / name
        if not path.is_file():
            continue
        schema = StructType(
            [StructField(c, StringType()) for c in _header(path)] + [StructField(CORRUPT, StringType())]
        )
        df = ctx.spark.read.csv(
            str(path),
            schema=schema,
            header=True,
            multiLine=True,
            escape='"',
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT,
            enforceSchema=True,
        )
        frames.append(df.withColumn("class", F.lit(cls)))
    if not frames:
        return None
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df, allowMissingColumns=True)
    return out.cache()  # Spark refuses queries that read only the corrupt-record column of an uncached CSV scan


def read_inputs(ctx: JobContext, input_dir: Path) -> tuple[DataFrame, DataFrame, DataFrame | None, bool, str]:
    """``(users, tweets, unlabelled, timestamps, layout)`` of ``input_dir`` (see the module text).

    Raises:
        UserError: no class folder with ``users.csv`` and no ``*.json``; both layouts at once; fewer than two
            classes; no human (``genuine_accounts``) or no bot class.
    """
    folders = class_folders(input_dir)
    jsons = sorted(p for p in input_dir.glob("*.json") if p.is_file())
    if folders and jsons:
        raise UserError(f"{input_dir} mixes cresci class folders and JSON files: give one layout per folder")
    if not folders and not jsons:
        raise UserError(
            f"{input_dir} has no class folder with a users.csv (cresci-2017 layout: <class>[.csv]/users.csv + "
            "tweets.csv) and no TwiBot-style *.json file"
        )
    if folders:
        users = read_class_csv(ctx, folders, "users.csv")
        tweets = read_class_csv(ctx, folders, "tweets.csv")
        if tweets is None:
            tweets = ctx.spark.createDataFrame([], "id string, user_id string, text string, class string")
        unlabelled, timestamps, layout = None, True, "cresci"
        classes = sorted(folders)
    else:
        records = ctx.spark.read.json([str(p) for p in jsons], multiLine=True)
        if "ID" not in records.columns:
            raise UserError(f'the JSON files in {input_dir} hold no TwiBot-style records (objects with an "ID")')
        users, tweets, unlabelled = twibot_frames(records)
        users, tweets = users.cache(), tweets.cache()
        classes = sorted(r["class"] for r in users.select("class").distinct().collect())
        timestamps, layout = False, "twibot"
    if HUMAN_CLASS not in classes or len(classes) < 2:
        raise UserError(
            f"{input_dir} has classes {classes}: a human class ({HUMAN_CLASS}) and at least one bot class are needed"
        )
    return users, tweets, unlabelled, timestamps, layout


def _tally(tagged: DataFrame) -> tuple[int, dict[str, int]]:
    """``(kept rows, {reason: rejected rows})`` of a frame tagged with ``reason`` (null = kept), in one Spark job."""
    by_reason = {r["reason"]: int(r["count"]) for r in tagged.groupBy("reason").count().collect()}
    return by_reason.pop(None, 0), by_reason


def prepare(ctx: JobContext, input_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read, clean and featurise ``input_dir``: ``(accounts, counts)``.

    ``accounts`` holds one row per account (``author_id``, ``class``, ``label``, ``split`` and the
    :data:`smspark.features.bots.FEATURES`); ``counts`` the reconciled row counts of users and tweets, with the
    reasons of every rejected row (also recorded in the run manifest's stages ``etl.bots.users``/``.tweets``).
    """
    key, mcfg = ctx.cfg.pseudonym_key(), ctx.cfg.models.bots
    users, tweets, unlabelled, timestamps, layout = read_inputs(ctx, input_dir)
    with ctx.manifest.stage("etl.bots.users") as rec:
        tagged = account_profiles(users, key).cache()
        kept, reasons = _tally(tagged)
        rows_in = users.count()
        if unlabelled is not None:
            rows_in += unlabelled.count()
            reasons.update(_tally(unlabelled)[1])
        n_dup = reasons.pop("duplicate id", 0)
        profiles = tagged.where(F.col("reason").isNull()).drop("reason", "_raw")
        users_counts = {**reconcile(rows_in, kept, sum(reasons.values()), n_dup), "reasons": reasons}
        rec["counts"] = users_counts
        rec["inputs"] = {"input": str(input_dir), "layout": layout}
    with ctx.manifest.stage("etl.bots.tweets") as rec:
        tagged_posts = account_posts(tweets, profiles, key, timestamps).cache()
        kept, reasons = _tally(tagged_posts)
        posts = tagged_posts.where(F.col("reason").isNull()).select(
            "post_id", "author_id", "created_at", "text", "client"
        )
        tweets_counts = {**reconcile(tweets.count(), kept, sum(reasons.values())), "reasons": reasons}
        rec["counts"] = tweets_counts
    with ctx.manifest.stage("features.bots") as rec:
        feats = bot_features(posts, profiles, timestamps, mcfg.near_duplicates)
        split = account_split_col(ctx.cfg.train.seed, mcfg.val_fraction, mcfg.test_fraction)
        accounts = feats.withColumn("split", split).toPandas()
        rec["counts"] = {"accounts": len(accounts), "accounts_without_posts": int(accounts["log_posts"].isna().sum())}
    counts = {
        "layout": layout,
        "users": users_counts,
        "tweets": tweets_counts,
        "accounts": len(accounts),
        "accounts_without_posts": int(accounts["log_posts"].isna().sum()),
    }
    return accounts, counts


def design(accounts: pd.DataFrame) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(features used, {split: X float32 [n, F]}, {split: y int [n]})``: the features with a value in some training
    row, nulls imputed with the training median, standardised with the training mean and standard deviation (a
    constant column is only centred)."""
    train = accounts[accounts["split"] == "train"]
    used = [c for c in FEATURES if train[c].notna().any()]
    median = train[used].astype("float64").median()
    filled = {s: accounts.loc[accounts["split"] == s, used].astype("float64").fillna(median) for s in SPLITS}
    mean, sd = filled["train"].mean(), filled["train"].std(ddof=0).replace(0.0, 1.0)
    xs = {s: ((filled[s] - mean) / sd).to_numpy(dtype=np.float32) for s in SPLITS}
    ys = {s: accounts.loc[accounts["split"] == s, "label"].to_numpy(dtype=np.int64) for s in SPLITS}
    return used, xs, ys


def _figures(y_val: np.ndarray, p_val: np.ndarray, y_test: np.ndarray, p_test: np.ndarray) -> dict[str, Any]:
    """Test figures at the validation's best-F1 threshold (``auc`` = ROC-AUC; None when the test split has one
    class only)."""
    threshold, val_f1 = best_threshold(y_val, p_val)
    rep = binary_report(y_test, p_test, threshold)
    rep["auc"] = rep.pop("roc_auc")
    out: dict[str, Any] = {k: rep[k] for k in REPORTED}
    out.update({"val_f1": val_f1, "test_accounts": rep["rows"]})
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


def mllib_probabilities(
    ctx: JobContext, used: list[str], xs: dict[str, np.ndarray], ys: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """``{"gbt"|"logreg": {split: P(bot) [n]}}``: MLlib ``GBTClassifier`` and ``LogisticRegression`` (with its own
    standardisation) trained on the training split of the same features, scoring validation and test."""
    from pyspark.ml.classification import GBTClassifier, LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array

    mcfg, seed = ctx.cfg.models.bots, ctx.cfg.train.seed
    assembler = VectorAssembler(inputCols=used, outputCol="features")
    frames = {}
    for s in SPLITS:
        pdf = pd.DataFrame(xs[s].astype(np.float64), columns=used).assign(label=ys[s].astype(np.float64))
        frames[s] = assembler.transform(ctx.spark.createDataFrame(pdf)).select("features", "label")
    models = {
        "gbt": GBTClassifier(maxIter=mcfg.gbt_max_iter, maxDepth=mcfg.gbt_max_depth, seed=seed),
        "logreg": LogisticRegression(regParam=mcfg.logreg_reg_param, maxIter=100),
    }
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, est in models.items():
        model = est.fit(frames["train"])
        out[name] = {}
        for s in ("val", "test"):
            p = model.transform(frames[s]).select(vector_to_array("probability")[1].alias("p")).toPandas()["p"]
            out[name][s] = p.to_numpy(dtype=np.float64)
    return out


def _log_mlflow(ctx: JobContext, metrics: dict[str, Any], params: dict[str, Any]) -> str:
    """One MLflow run ``evaluate-bots`` with ``params`` and every model's numeric figures; returns its run id."""
    import mlflow

    from smspark.train.lifecycle import flat_metrics
    from smspark.train.registry import configure

    configure(ctx.cfg)
    with mlflow.start_run(run_name="evaluate-bots") as run:
        mlflow.log_params(params)
        for name in ("mlp", "gbt", "logreg"):
            mlflow.log_metrics(flat_metrics(f"{name}_test_", metrics[name]))
    return run.info.run_id


def evaluate(ctx: JobContext, input_dir: Path) -> dict[str, Any]:
    """``smspark evaluate bots``: see the module text.

    Returns:
        ``{"mlp"|"gbt"|"logreg": {precision, recall, f1, auc, pr_auc, accuracy, threshold, val_f1, test_accounts},
        "n_accounts": {class: {split: accounts}}, "counts": {layout, users, tweets, accounts, accounts_without_posts,
        features, features_missing}}``.

    Raises:
        UserError: an unusable folder (see :func:`read_inputs`), or a split without both classes.
    """
    from smspark.models.bots import fit_predict

    mcfg = ctx.cfg.models.bots
    accounts, counts = prepare(ctx, input_dir)
    n_accounts = {
        str(cls): {s: int((g["split"] == s).sum()) for s in SPLITS} for cls, g in accounts.groupby("class", sort=True)
    }
    for s in SPLITS:
        labels = set(accounts.loc[accounts["split"] == s, "label"])
        if labels != {0, 1}:
            raise UserError(f"the {s} split holds labels {sorted(labels)}: each class needs at least 3 accounts")
    used, xs, ys = design(accounts)
    counts.update({"features": used, "features_missing": [c for c in FEATURES if c not in used]})
    with ctx.manifest.stage("train.bots") as rec:
        start = time.perf_counter()
        (p_val, p_test), losses = fit_predict(mcfg, ctx.cfg.train.seed, xs["train"], ys["train"], xs["val"], xs["test"])
        mlp_seconds = time.perf_counter() - start
        probs = {"mlp": {"val": p_val, "test": p_test}, **mllib_probabilities(ctx, used, xs, ys)}
        rec["counts"] = {s: len(ys[s]) for s in SPLITS}
        rec["final_loss"] = losses[-1]
        rec["seconds_by_model"] = {
            "mlp": round(mlp_seconds, 3),
            "mllib": round(time.perf_counter() - start - mlp_seconds, 3),
        }
    metrics: dict[str, Any] = {name: _figures(ys["val"], p["val"], ys["test"], p["test"]) for name, p in probs.items()}
    metrics.update({"n_accounts": n_accounts, "counts": counts})
    params = {
        "layout": counts["layout"],
        "hidden_units": ",".join(map(str, mcfg.hidden_units)),
        "epochs": mcfg.epochs,
        "gbt_max_iter": mcfg.gbt_max_iter,
        "gbt_max_depth": mcfg.gbt_max_depth,
        "features": len(used),
        "accounts": counts["accounts"],
    }
    ctx.manifest.data["metrics"]["bots_mlflow_run"] = _log_mlflow(ctx, metrics, params)
    return metrics

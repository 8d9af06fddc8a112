"""Job ``evaluate``: reproduce a model family's test figures on your own copy of a public dataset.

``smspark evaluate <target> --input DIR --output metrics.json`` runs the target's whole chain (ingest -> etl ->
features -> train -> test, with the configured Horovod workers) in a temporary work area: a fresh data root with
its own MLflow store, so the main data root and registry are never touched. The figures go to ``--output`` as
JSON (``{model: {metric: value}}``) and are printed as a table; the run manifest is copied next to the output
(``<output stem>.manifest.json``). ``--workdir DIR`` keeps the work area in ``DIR`` (a path or a storage URI)
instead of a temporary local one.

targets:
  recommender   a GroupLens MovieLens folder (ml-latest(-small) ratings.csv + movies.csv, or ml-100k u.data +
                u.item + u.genre): NeuMF, ALS and popularity (HR@10, NDCG@10 on 100 sampled negatives and on full
                ranking), the behaviour model and its LogisticRegression baseline (AUC, log-loss)
  image         an IDX set (MNIST-style *-images-idx3-ubyte[.gz] + *-labels-idx1-ubyte[.gz], optional
                classes.json) or a class-per-folder image tree (<class>/**/*.png|jpg|jpeg, any size, RGB/RGBA/
                grayscale, unbalanced): the image CNN and Spark MLlib LogisticRegression on the pixels, same split
                (official test set when there is one, else stratified): accuracy, macro-F1
  gan           the same inputs: the image CNN, then the class-conditional DCGAN: Frechet distance on the CNN's
                penultimate features next to the real-vs-real floor, CNN accuracy on generated images
  bots          a labelled bot dataset: cresci-2017 class folders (<class>[.csv]/users.csv + tweets.csv, class
                genuine_accounts = human, any other = bot) or TwiBot-style *.json: a dense classifier, MLlib GBT and
                LogisticRegression on per-account features, account-level split (precision, recall, F1, AUC)
  profiles      a CSV user table (one row per user): the CTGAN and a Gaussian-copula baseline trained on one half,
                scored on both halves with SDMetrics (quality_score, detection_score, dcr_overfitting_protection)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smspark import storage
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.steps import resolve

#: target -> step ``(ctx, input_dir) -> {model: {metric: value}}``, run on a temporary data root
TARGETS: dict[str, str] = {
    "recommender": "smspark.jobs.evaluation.recommender:evaluate",
    "image": "smspark.jobs.evaluation.media:evaluate_image",
    "gan": "smspark.jobs.evaluation.media:evaluate_gan",
    "profiles": "smspark.jobs.evaluation.profiles:evaluate",
    "bots": "smspark.jobs.evaluation.bots:evaluate",
}


def format_table(metrics: dict[str, dict[str, Any]]) -> str:
    """``{model: {metric: value}}`` as an aligned text table (one row per model, blank where a metric is absent)."""
    columns = list(dict.fromkeys(m for values in metrics.values() for m in values))
    width = max([len("model"), *(len(name) for name in metrics)])
    lines = [f"{'model':<{width}}  " + "  ".join(f"{c:>12}" for c in columns)]
    for name, values in metrics.items():
        cells = [
            f"{values[c]:>12.4f}" if isinstance(values.get(c), float) else f"{values.get(c, ''):>12}" for c in columns
        ]
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=sorted(TARGETS), help="what to evaluate")
    p.add_argument("--input", type=Path, required=True, help="folder holding the dataset (profiles: a CSV file)")
    p.add_argument("--output", type=Path, required=True, help="JSON file for the figures")
    p.add_argument(
        "--workdir", default=None, help="keep the work area here, a path or URI (default: a temporary local one)"
    )
    p.add_argument("--categorical", default=None, help="profiles: comma-separated categorical columns (default: text)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="profiles: CTGAN epochs (default: models.profiles, raised to min_train_steps steps)",
    )


def _body(ctx: JobContext, args: argparse.Namespace) -> None:
    step: Callable[..., dict[str, dict[str, Any]]] = resolve(TARGETS[args.target])
    if args.target == "profiles":
        if not args.input.is_file():
            raise UserError(f"--input {args.input} is not a file")
        cats = args.categorical.split(",") if args.categorical else None
        metrics = step(ctx, args.input.resolve(), categorical=cats, epochs=args.epochs)
    else:
        if not args.input.is_dir():
            raise UserError(f"--input {args.input} is not a folder")
        metrics = step(ctx, args.input.resolve())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(metrics, indent=2) + "\n")
    ctx.manifest.data["metrics"]["evaluate"] = metrics
    ctx.output("metrics", args.output.resolve())
    print(format_table({name: v for name, v in metrics.items() if not _is_record(v)}))


def _is_record(values: Any) -> bool:
    """A side record of the output (``bots``: ``n_accounts``, ``counts``), not a model's figures."""
    return not isinstance(values, dict) or any(isinstance(v, dict | list) for v in values.values())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--workdir", default=None)
    pre.add_argument("--output", type=Path, default=None)
    known, _ = pre.parse_known_args(argv)
    try:
        root = storage.resolve_root(known.workdir or tempfile.mkdtemp(prefix="smspark-evaluate-"))
    except storage.StorageError as exc:
        print(f"error: --workdir: {exc}", file=sys.stderr)
        return 2
    storage.makedirs(root)
    # the work area's own data root and MLflow store win over any profile or --set
    isolated = [f"data.root={root}", "data.landing=null"]
    isolated += [
        f"mlflow.{key}=null" for key in ("tracking_uri", "registry_uri", "registry_catalog", "registry_schema")
    ]
    isolated = [arg for pair in zip(["--set"] * len(isolated), isolated, strict=True) for arg in pair]
    try:
        code = run_job("evaluate", argv + isolated, __doc__, _body, add_args)
        manifests = storage.glob(storage.join(root, "runs"), "*-evaluate-*/manifest.json")
        if manifests and known.output is not None:
            dst = known.output.with_name(known.output.stem + ".manifest.json")
            storage.download(manifests[-1], dst)
            print(f"{'run manifest (copy)':<28} {dst}")
        return code
    finally:
        if known.workdir is None:
            storage.remove(root)
            print(f"{'work area (removed)':<28} {root}  (keep it with --workdir DIR)")


if __name__ == "__main__":
    raise SystemExit(main())

"""Job ``train``: one model through the lifecycle (:mod:`smspark.train.lifecycle`).

Horovod workers (``--num-proc``, each reading its own Petastorm shard; launched by ``horovod.spark.run`` on this
job's session, or ``--backend horovodrun``) train the model; it is selected on the validation split, tested next to
its MLlib baseline(s) and the current champion (re-measured on today's splits), logged to MLflow and registered;
the ``champion`` alias moves only when the new version wins on the validation selection metric. The run manifest
records the figures and why the alias moved or not.

models: sentiment (Kim CNN vs TF-IDF + LogisticRegression), spam (Kim CNN vs TF-IDF + LogisticRegression on labelled
mail, spam F1 at a threshold chosen on validation), recommender (NeuMF vs ALS and popularity), behaviour
(GRU engagement model vs LogisticRegression), image (CNN vs pixel LogisticRegression), gan (conditional DCGAN vs a
class-conditional PCA Gaussian, measured with the image champion), topics (MLlib online LDA on pooled posts, k
chosen by NPMI coherence; no baseline), profiles (CTGAN synthetic user profiles vs a Gaussian copula, SDMetrics
quality on validation), account_risk (dense autoencoder reconstruction error vs KMeans distance on account features;
no labels, validation reconstruction MSE).
"""

from __future__ import annotations

import argparse
from typing import Any

from smspark import storage
from smspark.jobs.common import JobContext, UserError, run_job
from smspark.jobs.steps import resolve
from smspark.train.launcher import last_rank_processes
from smspark.train.lifecycle import ResumePoint
from smspark.train.registry import NoChampionError, configure, get_champion

#: model -> its lifecycle adapter (:class:`smspark.train.lifecycle.ModelAdapter`)
TRAINERS: dict[str, str] = {
    "sentiment": "smspark.train.sentiment:SentimentAdapter",
    "spam": "smspark.train.spam:SpamAdapter",
    "recommender": "smspark.train.recommender:RecommenderAdapter",
    "behaviour": "smspark.train.behaviour:BehaviourAdapter",
    "image": "smspark.train.image:ImageAdapter",
    "gan": "smspark.train.gan:GanAdapter",
    "topics": "smspark.train.topics:TopicsAdapter",
    "profiles": "smspark.train.profiles:ProfilesAdapter",
    "account_risk": "smspark.train.account_risk:AccountRiskAdapter",
}


#: model -> the features folder its trainer reads (nightly skips a model whose input is absent)
TRAIN_INPUTS: dict[str, str] = {
    "sentiment": "sentiment",
    "spam": "spam",
    "recommender": "recommender",
    "behaviour": "behaviour",
    "image": "image",
    "gan": "image",
    "topics": "topics",
    "profiles": "profiles",
    "account_risk": "accounts",
}


def has_input(ctx: JobContext, model: str) -> bool:
    """Whether the features a model trains on exist under the data root."""
    return storage.exists(storage.join(ctx.layout.features, TRAIN_INPUTS.get(model, model)))


def has_champion(ctx: JobContext, model: str) -> bool:
    try:
        get_champion(configure(ctx.cfg), model)
        return True
    except NoChampionError:
        return False


def find_resume_point(ctx: JobContext, model: str, run_id: str | None = None) -> ResumePoint:
    """The checkpoint to continue ``model`` from: that of train run ``run_id``, or of the newest failed train run of
    ``model`` under ``<data.root>/runs`` whose manifest records one (``models.<model>.checkpoint``) and that no later
    successful run resumed already.

    Raises:
        UserError: no such run, or it left no checkpoint.
    """
    runs = ctx.layout.runs
    names = [run_id] if run_id else sorted((n for n in storage.listdir(runs) if "-train-" in n), reverse=True)
    resumed: set[str] = set()  # failed runs a later run already resumed and finished
    for name in names:
        path = storage.join(runs, name, "manifest.json")
        if not storage.exists(path):
            continue
        data = storage.read_json(path)
        if data.get("job") != "train":
            continue
        if data.get("status") == "ok" and data.get("resumed_from"):
            resumed.add(data["resumed_from"]["run_id"])
        point = (data.get("models", {}).get(model) or {}).get("checkpoint")
        if point and (run_id or (data.get("status") == "failed" and name not in resumed)):
            return ResumePoint(name, point["stage"], int(point["epoch"]), point["uri"])
    if run_id:
        raise UserError(f"nothing to resume: train run {run_id} under {runs} has no checkpoint of {model}")
    raise UserError(f"nothing to resume: no failed train run of {model} with a checkpoint under {runs}")


def run(
    ctx: JobContext,
    model: str,
    num_proc: int | None = None,
    backend: str | None = None,
    resume: ResumePoint | None = None,
) -> dict[str, Any]:
    """Train ``model`` (continuing from ``resume`` when given); record it under ``models.<model>`` and its metrics
    under ``metrics.<model>``. A worker that dies fails the job in one line that names the checkpoint kept (also
    recorded as ``models.<model>.checkpoint``) and how to resume."""
    if model not in TRAINERS:
        raise UserError(f"unknown model {model!r}; known: {', '.join(TRAINERS)}")
    from smspark.train.lifecycle import NotReady, TrainingInterrupted, run_lifecycle

    n = num_proc or ctx.cfg.train.num_proc
    if resume is not None:
        ctx.manifest.data["resumed_from"] = resume.record()
    with ctx.manifest.stage(f"train.{model}") as rec:
        try:
            result = run_lifecycle(
                resolve(TRAINERS[model]),
                ctx.spark,
                ctx.cfg,
                ctx.manifest.run_id,
                n,
                backend or ctx.cfg.train.backend,
                resume=resume,
            )
        except NotReady as exc:
            raise UserError(str(exc)) from exc
        except TrainingInterrupted as exc:
            ctx.manifest.data["models"][model] = {"trained": False, "checkpoint": exc.checkpoint}
            kept = (
                f"checkpoint of epoch {exc.checkpoint['epoch']} kept at {exc.checkpoint['uri']}; rerun with "
                f"`smspark train --model {model} --resume`"
                if exc.checkpoint
                else "no epoch finished, so no checkpoint to resume from"
            )
            raise UserError(f"{exc}; {kept}") from exc
        rec["outputs"] = {"registered_model": result.get("registered_model"), "version": result.get("version")}
        rec["counts"] = result.get("rows", {})
        ctx.record_processes(rec, horovod_ranks=last_rank_processes())
    ctx.manifest.data["models"][model] = {k: v for k, v in result.items() if k != "metrics"}
    ctx.manifest.data["metrics"][model] = result.get("metrics", {})
    ctx.output(
        f"model {model}",
        f"{result.get('registered_model')} v{result.get('version')} "
        f"(champion: v{result.get('champion', {}).get('champion_version')})",
    )
    return result


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, choices=sorted(TRAINERS), help="which model to train")
    p.add_argument("--num-proc", type=int, default=None, help="Horovod workers (default: train.num_proc)")
    p.add_argument(
        "--if-no-champion",
        action="store_true",
        help="train only when the model has no champion yet (the nightly's rule; a scheduled job's train task)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="",
        default=None,
        metavar="RUN_ID",
        help="continue from the checkpoint of the newest failed train run of the model (or of RUN_ID): weights and "
        "epoch restored, a new run that records resumed_from (Keras-trained models only)",
    )
    p.add_argument(
        "--backend",
        choices=["spark", "horovodrun"],
        default=None,
        help="how workers are launched (default: train.backend, 'spark' = horovod.spark.run)",
    )


def _body(ctx: JobContext, args: argparse.Namespace) -> None:
    if args.if_no_champion and has_champion(ctx, args.model):
        ctx.manifest.data["models"][args.model] = {"trained": False, "reason": "a champion exists (--if-no-champion)"}
        ctx.output(f"model {args.model}", "not trained: a champion exists")
        return
    resume = None
    if args.resume is not None:
        if not resolve(TRAINERS[args.model]).resumable:
            raise UserError(
                f"--resume is not available for {args.model}: it trains with its own loop, not from a checkpoint"
            )
        resume = find_resume_point(ctx, args.model, args.resume or None)
    run(ctx, args.model, args.num_proc, args.backend, resume)


def main(argv: list[str] | None = None) -> int:
    return run_job("train", argv, __doc__, _body, add_args)


if __name__ == "__main__":
    raise SystemExit(main())

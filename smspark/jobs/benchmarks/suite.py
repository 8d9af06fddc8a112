"""``smspark bench suite``: every ratio of the project's performance goals, each measured side by side in one run
(:func:`smspark.jobs.benchmarks.timing.side_by_side`), printed as a table with its goal and written as JSON.

Keys (a ratio, higher is better unless noted):

- ``etl_vs_json_scan``: ingest + etl rows/s over Spark's bare scan (explicit schema, ``noop`` sink) of the same
  landing JSON lines (the Nx corpus below).
- ``scale_10x_time_ratio`` (lower is better): ingest -> etl -> features -> score wall time (posts and the sentiment
  model) on an N-fold replay (:mod:`smspark.sources.scale`) over the same on the 1x corpus, each in its own data root
  under the work directory, with the driver's peak resident memory at both sizes (this process, and this process
  with the Spark JVM and its Python workers).
- ``incremental_vs_full`` (lower is better): on the Nx root with one more day of posts in bronze (posts created that
  day: :func:`smspark.sources.scale.posts_on_day`), ``etl --tables posts`` (incremental) over ``etl --tables posts
  --full``, both from the same snapshot of the root.
- ``petastorm_vs_memory``, ``horovod_2v1``: see :mod:`smspark.jobs.benchmarks.training`.
- ``score_udf_vs_plain``: per scorer (``sentiment``, ``recommendations``, ``media``), rows/s of the scorer's Spark UDF
  (pandas UDFs; ``mapInArrow`` for media) over plain ``predict`` in one process (the ``smspark bench <scorer>``
  modules).
- ``udf_vs_row_udf``: the sentiment pandas UDF over a row-at-a-time Python UDF with the same model.

The 1x corpus is the data root's landing posts (``--posts`` of them, spread evenly over the corpora; default all).
The scoring and training pieces run on the data root itself and need its champions and ``features/sentiment``
(``make run`` / ``smspark nightly``). A piece that cannot run (no champion, no features, a job option that does not
exist yet) gets ``value: null`` and a ``reason``, and the table says so. ``--only KEY ...`` measures just those keys
(``incremental_vs_full`` alone then builds the Nx root's silver posts itself).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import io
import json
import logging
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smspark import storage
from smspark.jobs.benchmarks.timing import PeakRss, SideBySide, Timed, side_by_side
from smspark.jobs.common import JobContext, UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Goal:
    """A key's goal: ``value op target`` (``op`` ``>=``: higher is better, ``<=``: lower is better)."""

    op: str
    target: float
    what: str

    def met(self, value: float) -> bool:
        return value >= self.target if self.op == ">=" else value <= self.target

    def text(self) -> str:
        return f"{self.op} {self.target:g}"


GOALS: dict[str, Goal] = {
    "etl_vs_json_scan": Goal(">=", 0.25, "ingest+etl rows/s / Spark's bare scan of the same landing JSON"),
    "scale_10x_time_ratio": Goal("<=", 11, "ingest->etl->features->score wall time at Nx / at 1x"),
    "incremental_vs_full": Goal("<=", 0.10, "etl of one added day / full rebuild, on the Nx corpus"),
    "petastorm_vs_memory": Goal(">=", 0.9, "training samples/s through Petastorm / from in-memory arrays"),
    "horovod_2v1": Goal(">=", 1.7, "samples/s with 2 Horovod workers / 1 worker, one thread each"),
    "score_udf_vs_plain": Goal(">=", 0.8, "Spark UDF rows/s / plain predict in one process (each scorer)"),
    "udf_vs_row_udf": Goal(">=", 20, "sentiment pandas-UDF rows/s / row-at-a-time Python UDF"),
}
SCORERS = ("sentiment", "recommendations", "media")
#: Posts files of the landing sample (relative to the landing root) the 1x corpus is sliced from.
POST_FILES = ("posts/labelled_tweets/posts.jsonl", "posts/trump_archive/posts.jsonl")
#: The added day of ``incremental_vs_full``: every DAY_EVERY-th post of one more replay copy (a copy spans the
#: archive's years), moved onto the added day.
DAY_EVERY = 30
#: Layers the pipeline writes in a scale root (wiped before every repetition; ``landing`` stays).
WRITTEN = ("bronze", "silver", "features", "gold", "quarantine", "runs", "reports")


@dataclass
class SuiteArgs:
    """Options of the suite (see :func:`add_args`)."""

    output: str | None
    scale: int
    rows: int | None
    posts: int | None
    repeat: int
    pipeline_repeat: int
    steps: int
    quick: bool
    work_dir: str | None
    only: tuple[str, ...] = tuple(GOALS)


def add_args(p: argparse.ArgumentParser) -> None:
    """Options of ``smspark bench suite`` (ignored by the other targets)."""
    g = p.add_argument_group("suite")
    g.add_argument("--output", default=None, help="write the results as JSON here (e.g. bench.json)")
    g.add_argument("--scale", type=int, default=None, help="N of the Nx replay (default 10; 2 with --quick)")
    g.add_argument("--posts", type=int, default=None, help="landing posts in the 1x corpus (default: all)")
    g.add_argument("--pipeline-repeat", type=int, default=1, help="repetitions of the pipeline and etl timings")
    g.add_argument("--steps", type=int, default=None, help="timed training steps per worker (default 60)")
    g.add_argument("--work-dir", default=None, help="where the scale data roots go (default: a temporary directory)")
    g.add_argument(
        "--only",
        nargs="+",
        choices=list(GOALS),
        metavar="KEY",
        default=None,
        help=f"measure only these keys (the others are written as not selected); one or more of: {', '.join(GOALS)}",
    )
    g.add_argument(
        "--quick",
        action="store_true",
        help="a small run for tests: N=2, 300 posts, 300 rows, 1 repetition, few steps",
    )


def suite_args(a: argparse.Namespace) -> SuiteArgs:
    """The parsed options with the ``--quick`` defaults applied.

    Raises:
        UserError: a non-positive ``--scale``, ``--posts``, ``--rows``, ``--repeat`` or ``--steps``.
    """
    quick = bool(a.quick)
    s = SuiteArgs(
        output=a.output,
        scale=a.scale or (2 if quick else 10),
        rows=a.rows or (300 if quick else None),
        posts=a.posts or (300 if quick else None),
        repeat=1 if quick else a.repeat,
        pipeline_repeat=1 if quick else a.pipeline_repeat,
        steps=a.steps or (4 if quick else 60),
        quick=quick,
        work_dir=a.work_dir,
        only=tuple(getattr(a, "only", None) or GOALS),
    )
    for name in ("scale", "rows", "posts", "repeat", "pipeline_repeat", "steps"):
        value = getattr(s, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    return s


# --- results -------------------------------------------------------------------------------------------------------


def entry(goal: Goal, value: float | None, reason: str | None = None, details: Any = None) -> dict[str, Any]:
    """One key's result: ``value`` (None when not measured, then ``reason`` says why), its goal and whether it is
    met (None when not measured) and the sub-measurements."""
    return {
        "value": value,
        "goal": goal.text(),
        "better": "higher" if goal.op == ">=" else "lower",
        "met": None if value is None else goal.met(value),
        "reason": reason,
        "details": details,
    }


def measured(goal: Goal, fn: Callable[[], tuple[float, Any]]) -> dict[str, Any]:
    """:func:`entry` of ``fn() -> (value, details)``; a piece that fails gives ``value: null`` with the reason (a
    missing champion, features or job option is an expected one; anything else is also logged with its
    traceback)."""
    try:
        value, details = fn()
    except UserError as exc:
        return entry(goal, None, str(exc))
    except Exception as exc:  # a benchmark run keeps going and reports what failed
        log.exception("benchmark piece failed")
        return entry(goal, None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return entry(goal, value, None, details)


def rows_of(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(name, entry)`` per table row: one per key, one per scorer for ``score_udf_vs_plain``."""
    out = []
    for key in GOALS:
        res = results[key]
        if key == "score_udf_vs_plain":
            out += [(f"{key}.{name}", res["targets"][name]) for name in SCORERS]
        else:
            out.append((key, res))
    return out


def table(results: dict[str, Any], markdown: bool = False) -> list[str]:
    """The results as text lines (or a Markdown table): key, value, goal, met / missed / not measured + reason."""
    lines = []
    if markdown:
        lines += ["| key | value | goal | status |", "|---|---|---|---|"]
    else:
        lines.append(f"{'key':<36} {'value':>9}  {'goal':<8}  status")
    for name, res in rows_of(results):
        value = "-" if res["value"] is None else f"{res['value']:.3f}"
        status = "not measured: " + str(res["reason"]) if res["value"] is None else ("met" if res["met"] else "missed")
        if markdown:
            lines.append(f"| `{name}` | {value} | {res['goal']} | {status} |")
        else:
            lines.append(f"{name:<36} {value:>9}  {res['goal']:<8}  {status}")
    return lines


def environment(ctx: JobContext) -> dict[str, Any]:
    """Cores, memory, load, Python, package versions and the Spark settings the ratios depend on."""
    import psutil

    from smspark.train.readers import READER_WORKERS

    versions = {}
    for pkg in ("pyspark", "tensorflow-cpu", "tensorflow", "tf-keras", "horovod", "petastorm", "pyarrow", "mlflow"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[pkg] = importlib.metadata.version(pkg)
    sc = ctx.spark.sparkContext
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "spark_master": sc.master,
        "spark_default_parallelism": sc.defaultParallelism,
        "spark_sql_shuffle_partitions": ctx.spark.conf.get("spark.sql.shuffle.partitions"),
        "arrow_max_records_per_batch": ctx.cfg.scoring.batch_size,
        "petastorm_reader_workers": READER_WORKERS,
    }


# --- corpora and jobs ----------------------------------------------------------------------------------------------


def slice_landing(src: str, dst: Path, posts: int | None) -> int:
    """Write ``posts`` landing posts of ``src`` under ``dst`` at :data:`POST_FILES` (the paths the scale-up reads):
    every k-th line of each corpus (``posts/<corpus>/*.jsonl``), in proportion to the corpora's sizes (all when
    None). Returns the lines written.

    Raises:
        UserError: ``src`` is not a local landing root with posts of those corpora.
    """
    local = storage.local_path(src)
    corpora = {}
    for rel in POST_FILES:
        folder = Path(local or "/nonexistent") / Path(rel).parent
        lines = [ln for f in sorted(folder.glob("*.jsonl")) for ln in f.open(encoding="utf-8") if ln.strip()]
        if lines:
            corpora[rel] = lines
    if not corpora:
        raise UserError(f"no landing posts under {src}: run `smspark fetch-samples`")
    total = sum(len(v) for v in corpora.values())
    written = 0
    for rel, lines in corpora.items():
        want = len(lines) if posts is None else max(1, round(posts * len(lines) / total))
        kept = lines[:: max(1, len(lines) // want)][:want]
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(kept), encoding="utf-8")
        written += len(kept)
    return written


def job_argv(root: Path, ctx: JobContext, day: dt.date, landing: Path | None = None) -> list[str]:
    """Common arguments of a stage job on the scale root ``root``: its date, data root, landing, and the data
    root's MLflow store (where the champions are)."""
    argv = [
        "--date",
        day.isoformat(),
        "--set",
        f"data.root={root}",
        "--set",
        f"mlflow.tracking_uri={ctx.cfg.tracking_uri()}",
    ]
    if ctx.cfg.mlflow.registry_uri:
        argv += ["--set", f"mlflow.registry_uri={ctx.cfg.mlflow.registry_uri}"]
    if landing is not None:
        argv += ["--set", f"data.landing={landing}"]
    return argv


def run_stage(job: str, args: list[str], common: list[str]) -> float:
    """``smspark <job> <args>`` in this process (its ``main(argv)``, on this process's SparkSession); returns its
    seconds.

    Raises:
        UserError: the job exited non-zero.
    """
    import importlib

    main = importlib.import_module(f"smspark.jobs.{job}").main
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main([*args, *common])
    if code != 0:
        raise UserError(f"`smspark {job} {' '.join(args)}` exited with {code} (see its run manifest)")
    return time.perf_counter() - start


def latest_stage(root: Path, job: str, stage: str) -> dict[str, Any]:
    """The record of ``stage`` in the newest run manifest of ``job`` under the scale root ``root`` (``runs/``).

    Raises:
        UserError: no such manifest or stage.
    """
    manifests = sorted((root / "runs").glob(f"*-{job}-*/manifest.json"))
    stages = json.loads(manifests[-1].read_text(encoding="utf-8"))["stages"] if manifests else {}
    if stage not in stages:
        raise UserError(f"no {stage} record in a run manifest under {root / 'runs'}")
    return stages[stage]


def wipe(root: Path, layers: tuple[str, ...] = WRITTEN) -> None:
    """Remove what the pipeline wrote under a scale root (``landing`` stays)."""
    for layer in layers:
        shutil.rmtree(root / layer, ignore_errors=True)


PIPELINE: tuple[tuple[str, list[str]], ...] = (
    ("ingest", ["--tables", "posts"]),
    ("etl", ["--tables", "posts"]),
    ("features", ["--models", "sentiment"]),
    ("score", ["--model", "sentiment"]),
)


def pipeline(ctx: JobContext, root: Path) -> Timed:
    """ingest -> etl -> features -> score (posts, sentiment) on the scale root ``root``; the wall time, each stage's
    seconds and the driver's peak memory."""
    common = job_argv(root, ctx, ctx.run_date)
    stages = {}
    with PeakRss() as peak:
        for job, args in PIPELINE:
            stages[job] = round(run_stage(job, args, common), 2)
    # the replay's copies repeat real texts, and etl keeps one post per normalised text and corpus: silver (and so
    # features and score) can hold far fewer rows than landing
    silver = storage.read_parquet(str(root / "silver" / "posts"), columns=["post_id"]).num_rows
    return Timed(sum(stages.values()), {"stage_seconds": stages, "silver_posts": silver, **peak.result()})


def require_champion(ctx: JobContext, model: str) -> None:
    """Raises :class:`UserError` when ``model`` has no champion on the data root."""
    from smspark.train.registry import NoChampionError, configure, get_champion

    try:
        get_champion(configure(ctx.cfg), model)
    except NoChampionError as exc:
        raise UserError(f"no {model} champion on {ctx.layout.root}: run `make run` / `smspark nightly` first") from exc


# --- the keys ------------------------------------------------------------------------------------------------------


def etl_vs_json_scan(ctx: JobContext, s: SuiteArgs, work: Path, posts: dict[str, int]) -> tuple[float, Any]:
    """On the Nx corpus (job start-up and per-job fixed costs weigh less than on the 1x one)."""
    from smspark.schemas import LANDING_POST

    landing, n = work / f"x{s.scale}" / "landing", posts[f"x{s.scale}"]
    root = work / "etl"
    root.mkdir(parents=True, exist_ok=True)
    common = job_argv(root, ctx, ctx.run_date, landing)
    files = [str(landing / rel) for rel in POST_FILES if (landing / rel).exists()]

    def pipeline_side() -> Timed:
        secs = {job: run_stage(job, ["--tables", "posts"], common) for job in ("ingest", "etl")}
        return Timed(sum(secs.values()), {k: round(v, 2) for k, v in secs.items()})

    def scan_side() -> None:
        ctx.spark.read.schema(LANDING_POST).json(files).write.format("noop").mode("overwrite").save()

    pair = side_by_side(
        ("ingest_etl", pipeline_side), ("json_scan", scan_side), s.pipeline_repeat, {"ingest_etl": lambda: wipe(root)}
    )
    sm = pair.summary(n, n)
    return sm["ratio"], {"rows": n, "corpus": f"x{s.scale}", **sm, "stage_seconds": pair.details["ingest_etl"]}


def corpora(ctx: JobContext, s: SuiteArgs, work: Path) -> dict[str, int]:
    """The 1x corpus (``--posts`` landing posts, :func:`slice_landing`) in ``work/x1/landing`` and its N-fold replay
    (:func:`smspark.sources.scale.scale_landing`) in ``work/x<N>/landing``; returns the posts of each
    (``{"x1": n, "x<N>": N * n}``)."""
    from smspark.sources.scale import scale_landing

    one, many = work / "x1", work / f"x{s.scale}"
    for root in (one, many):
        shutil.rmtree(root, ignore_errors=True)
    n = slice_landing(ctx.layout.landing, one / "landing", s.posts)
    info = scale_landing(one / "landing", many / "landing", s.scale)
    return {"x1": n, f"x{s.scale}": sum(c for p, c in info["outputs"].items() if p.startswith("posts/"))}


def scale_ratio(ctx: JobContext, s: SuiteArgs, work: Path, posts: dict[str, int]) -> tuple[float, Any]:
    require_champion(ctx, "sentiment")
    one, many = work / "x1", work / f"x{s.scale}"
    big, small = f"x{s.scale}", "x1"
    pair = side_by_side(
        (big, lambda: pipeline(ctx, many)),
        (small, lambda: pipeline(ctx, one)),
        s.pipeline_repeat,
        {big: lambda: wipe(many), small: lambda: wipe(one)},
    )
    sm = pair.summary(1, 1, unit="runs")
    return sm["time_ratio"], {
        "scale": s.scale,
        "posts": posts,
        f"{big}_seconds": sm[f"{big}_seconds"],
        f"{small}_seconds": sm[f"{small}_seconds"],
        "runs": {big: pair.details[big], small: pair.details[small]},
        "root": str(many),
    }


def etl_has_full() -> bool:
    """Whether ``smspark etl`` takes ``--full`` (its help text names it)."""
    from smspark.jobs import etl

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        etl.main(["--help"])
    return "--full" in out.getvalue()


def incremental_vs_full(ctx: JobContext, s: SuiteArgs, work: Path) -> tuple[float, Any]:
    from smspark.sources.common import write_jsonl
    from smspark.sources.scale import posts_on_day, scale_posts

    if not etl_has_full():
        raise UserError("etl has no --full")
    root = work / f"x{s.scale}"
    if not (root / "silver" / "posts").exists():
        if "scale_10x_time_ratio" in s.only:
            raise UserError(f"no silver posts in {root}: the scale pipeline did not run")
        for job in ("ingest", "etl"):  # measured alone: the Nx root's silver posts first
            run_stage(job, ["--tables", "posts"], job_argv(root, ctx, ctx.run_date))
    day = ctx.run_date + dt.timedelta(days=1)
    day_landing = work / "added_day" / "landing"
    n_day = 0
    for index, rel in enumerate(POST_FILES):
        src = work / "x1" / "landing" / rel
        if src.exists():
            with src.open(encoding="utf-8") as fh:
                real = [json.loads(line) for line in fh if line.strip()]
            copy = list(scale_posts(real, s.scale + 1, seed=index, first_copy=s.scale))
            dest = day_landing / rel.replace("posts/", "posts/day_", 1)
            n_day += write_jsonl(posts_on_day(copy[::DAY_EVERY], day), dest)
    run_stage("ingest", ["--tables", "posts"], job_argv(root, ctx, day, day_landing))
    snapshot = work / "snapshot"
    shutil.rmtree(snapshot, ignore_errors=True)
    kept = [p.name for p in root.iterdir() if p.is_dir() and p.name not in ("landing", "features", "gold", "reports")]
    for name in kept:
        shutil.copytree(root / name, snapshot / name)

    def restore() -> None:
        for name in kept:
            shutil.rmtree(root / name, ignore_errors=True)
            shutil.copytree(snapshot / name, root / name)

    common = job_argv(root, ctx, day)

    def etl_side(*args: str) -> Timed:
        seconds = run_stage("etl", ["--tables", "posts", *args], common)
        rec = latest_stage(root, "etl", "etl.posts")
        return Timed(seconds, {"mode": rec.get("mode"), "months_written": rec["outputs"].get("months_written")})

    pair = side_by_side(
        ("incremental", etl_side),
        ("full", lambda: etl_side("--full")),
        s.pipeline_repeat,
        {"incremental": restore, "full": restore},
    )
    shutil.rmtree(snapshot, ignore_errors=True)
    sm = pair.summary(1, 1, unit="runs")
    return sm["time_ratio"], {
        "added_day": day.isoformat(),
        "added_day_posts": n_day,
        "incremental_seconds": sm["incremental_seconds"],
        "full_seconds": sm["full_seconds"],
        "runs": {"incremental": pair.details["incremental"], "full": pair.details["full"]},
    }


def score_udf_vs_plain(ctx: JobContext, s: SuiteArgs) -> dict[str, Any]:
    from smspark.jobs.bench import TARGETS
    from smspark.jobs.steps import resolve

    goal = GOALS["score_udf_vs_plain"]
    targets = {}
    for name in SCORERS:

        def one(name: str = name) -> tuple[float, Any]:
            res = resolve(TARGETS[name])(ctx, s.rows, s.repeat)
            return res["ratio_spark_over_plain"], res

        targets[name] = measured(goal, one)
    return scorers_entry(targets)


def scorers_entry(targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``score_udf_vs_plain``'s entry from one :func:`entry` per scorer: met when every scorer is measured and
    meets the goal."""
    goal = GOALS["score_udf_vs_plain"]
    values = {k: v["value"] for k, v in targets.items()}
    known = [v for v in values.values() if v is not None]
    return {
        "value": values,
        "goal": f"{goal.text()} each",
        "better": "higher",
        "met": all(goal.met(v) for v in known) if len(known) == len(values) else None,
        "reason": None if len(known) == len(values) else "not every scorer measured (see targets)",
        "details": None,
        "targets": targets,
    }


def udf_vs_row_udf(ctx: JobContext, s: SuiteArgs) -> tuple[float, Any]:
    from smspark.jobs.benchmarks.sentiment import bench_row_udf

    res = bench_row_udf(ctx, s.rows, s.repeat, 100 if s.quick else 1000)
    return res["ratio_pandas_over_row"], res


def training(ctx: JobContext, s: SuiteArgs) -> tuple[dict[str, Any], dict[str, Any]]:
    """``petastorm_vs_memory`` and ``horovod_2v1`` entries: launches of 1 worker and of 2 workers, alternately,
    ``repeat`` each; inside every worker Petastorm-fed and in-memory steps alternate.

    ``horovod_2v1`` counts the Petastorm-fed steps (the slowest rank's median); its details add the same ratio with
    both sides fed from memory (``memory_fed_ratio``: is the reader what limits the second worker?) and, per side,
    each rank's median CPU seconds over its median wall seconds (``cpu_busy_share``: below 1, the rank waited)."""
    from smspark.jobs.benchmarks.training import feed_spec, launch

    warmup = 2 if s.quick else 10
    inner = 1 if s.quick else 3
    spec = feed_spec(ctx, s.steps, warmup, inner)
    pair: SideBySide = side_by_side(
        ("two_workers", lambda: launch(ctx, spec, 2)), ("one_worker", lambda: launch(ctx, spec, 1)), s.repeat
    )
    samples = s.steps * spec.batch_size
    sm = pair.summary(2 * samples, samples, unit="samples")
    h_value, h_details = sm["ratio"], {"steps_per_worker": s.steps, "batch_size": spec.batch_size, **sm}
    h_details["profile"] = worker_profile(pair.details, samples)

    rank0 = [d["ranks"][0] for d in pair.details["one_worker"]]
    pet = statistics.median(x for r in rank0 for x in r["petastorm_seconds"])
    mem = statistics.median(x for r in rank0 for x in r["memory_seconds"])
    p_details = {
        "steps": s.steps,
        "batch_size": spec.batch_size,
        "petastorm_seconds": [x for r in rank0 for x in r["petastorm_seconds"]],
        "memory_seconds": [x for r in rank0 for x in r["memory_seconds"]],
        "petastorm_samples_per_second": round(samples / pet, 1),
        "memory_samples_per_second": round(samples / mem, 1),
        "tf_threads_inter_intra": rank0[0]["tf_threads_inter_intra"],
    }
    return (
        entry(GOALS["petastorm_vs_memory"], round(mem / pet, 3), None, p_details),
        entry(GOALS["horovod_2v1"], h_value, None, h_details),
    )


def worker_profile(details: dict[str, list[dict[str, Any]]], samples: int) -> dict[str, Any]:
    """Where the time of the ``one_worker`` and ``two_workers`` launches went: per side, every rank's median CPU
    seconds over its median wall seconds per feed (``cpu_busy_share``), and the two-worker over one-worker
    samples/s ratio when both are fed from memory (``memory_fed_ratio``; ``samples`` per worker and repetition)."""

    def med(ranks: list[dict[str, Any]], key: str, rank: int) -> float:
        return statistics.median(x for r in ranks if r["rank"] == rank for x in r[key])

    out: dict[str, Any] = {}
    memory_seconds = {}
    for side, runs in details.items():
        ranks = [r for d in runs for r in d["ranks"]]
        size = ranks[0]["size"]
        out[side] = {
            f"{feed}_cpu_busy_share": [
                round(med(ranks, f"{feed}_cpu_seconds", k) / med(ranks, f"{feed}_seconds", k), 3) for k in range(size)
            ]
            for feed in ("petastorm", "memory")
        }
        memory_seconds[size] = max(med(ranks, "memory_seconds", k) for k in range(size))
    if {1, 2} <= memory_seconds.keys():
        out["memory_fed_ratio"] = round((2 * samples / memory_seconds[2]) / (samples / memory_seconds[1]), 3)
    return out


def not_selected(key: str) -> dict[str, Any]:
    """The entry of a key left out by ``--only``."""
    reason = "not selected (--only)"
    if key == "score_udf_vs_plain":
        return scorers_entry({name: entry(GOALS[key], None, reason) for name in SCORERS})
    return entry(GOALS[key], None, reason)


def run(ctx: JobContext, a: argparse.Namespace) -> dict[str, Any]:
    """The whole suite (or the ``--only`` keys) on ``ctx``'s data root; returns ``{"command", "environment",
    "goals", "results", ...}``, prints the table and writes ``--output``."""
    s = suite_args(a)
    started = time.perf_counter()
    env = environment(ctx)
    results: dict[str, Any] = {key: not_selected(key) for key in GOALS if key not in s.only}
    on_corpus = {
        "etl_vs_json_scan": lambda work, posts: etl_vs_json_scan(ctx, s, work, posts),
        "scale_10x_time_ratio": lambda work, posts: scale_ratio(ctx, s, work, posts),
        "incremental_vs_full": lambda work, posts: incremental_vs_full(ctx, s, work),
    }
    with contextlib.ExitStack() as stack:
        work = (
            Path(s.work_dir)
            if s.work_dir
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smspark-bench-")))
        )
        work.mkdir(parents=True, exist_ok=True)
        posts, missing = {}, None
        if any(key in s.only for key in on_corpus):
            try:
                posts = corpora(ctx, s, work)
            except UserError as exc:
                missing = str(exc)

        for key, fn in on_corpus.items():
            if key in s.only:

                def checked(fn: Callable[[Path, dict[str, int]], tuple[float, Any]] = fn) -> tuple[float, Any]:
                    if missing:
                        raise UserError(missing)
                    return fn(work, posts)

                results[key] = measured(GOALS[key], checked)
    if "score_udf_vs_plain" in s.only:
        results["score_udf_vs_plain"] = score_udf_vs_plain(ctx, s)
    if "udf_vs_row_udf" in s.only:
        results["udf_vs_row_udf"] = measured(GOALS["udf_vs_row_udf"], lambda: udf_vs_row_udf(ctx, s))
    trained = [key for key in ("petastorm_vs_memory", "horovod_2v1") if key in s.only]
    if trained:
        try:
            pair = training(ctx, s)
        except UserError as exc:
            pair = (entry(GOALS["petastorm_vs_memory"], None, str(exc)), entry(GOALS["horovod_2v1"], None, str(exc)))
        except Exception as exc:
            log.exception("training benchmarks failed")
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            pair = (entry(GOALS["petastorm_vs_memory"], None, reason), entry(GOALS["horovod_2v1"], None, reason))
        named = zip(("petastorm_vs_memory", "horovod_2v1"), pair, strict=True)
        results.update({key: res for key, res in named if key in trained})
    out = {
        "data_root": ctx.layout.root,
        "options": vars(s),
        "environment": env,
        "goals": {k: {"goal": g.text(), "what": g.what} for k, g in GOALS.items()},
        "results": {k: results[k] for k in GOALS},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print("\n".join(table(out["results"])))
    if s.output:
        storage.write_json(s.output, out)
        print(f"{'bench results':<28} {s.output}")
    return out

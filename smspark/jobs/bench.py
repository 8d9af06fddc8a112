"""Job ``bench``: scoring throughput through the Spark UDFs of the nightly run (pandas UDFs; ``mapInArrow`` for media)
next to the same model's ``predict`` in one plain Python process, on the same rows, in the same run (a ratio means
more than a time on a noisy machine).

``smspark bench sentiment|recommendations|media [--rows N] [--repeat R]``: the champion(s) over silver rows. The
Spark side times the scoring UDF written to the ``noop`` sink over cached input (model loading included: once per
Python worker); the plain side times loading the same pyfunc once and predicting the same rows. One module per
target in :mod:`smspark.jobs.benchmarks`. Results go to the run manifest under ``metrics.bench_<target>`` and are
printed.

``smspark bench suite [--output bench.json] [--scale N] [--rows N] [--posts N] [--quick]``: every ratio of the
performance goals side by side in one run, as a table with the goals (:mod:`smspark.jobs.benchmarks.suite`).
"""

from __future__ import annotations

import argparse
from typing import Any

from smspark.jobs.common import JobContext, run_job
from smspark.jobs.steps import resolve

#: bench target -> ``smspark.jobs.benchmarks.<target>:bench`` ``(ctx, rows, repeat) -> results``
TARGETS: dict[str, str] = {
    name: f"smspark.jobs.benchmarks.{name}:bench" for name in ("sentiment", "recommendations", "media")
}


def run_suite(ctx: JobContext, args: argparse.Namespace) -> dict[str, Any]:
    """``smspark bench suite``: the results go to the run manifest under ``metrics.bench_suite``."""
    from smspark.jobs.benchmarks import suite

    with ctx.manifest.stage("bench.suite") as rec:
        res = suite.run(ctx, args)
        measured = sum(1 for _, r in suite.rows_of(res["results"]) if r["value"] is not None)
        rec["counts"] = {"measured": measured, "not_measured": len(suite.rows_of(res["results"])) - measured}
    ctx.manifest.data["metrics"]["bench_suite"] = res
    return res


def run(ctx: JobContext, target: str, rows: int | None, repeat: int) -> dict[str, Any]:
    with ctx.manifest.stage(f"bench.{target}") as rec:
        res = resolve(TARGETS[target])(ctx, rows, repeat)
        rec["counts"] = {"rows": res["rows"]}
    ctx.manifest.data["metrics"][f"bench_{target}"] = res
    for k, v in res.items():
        print(f"{k:<32} {v}")
    return res


def add_args(p: argparse.ArgumentParser) -> None:
    from smspark.jobs.benchmarks import suite

    p.add_argument("target", choices=[*sorted(TARGETS), "suite"], help="what to benchmark (suite: every ratio)")
    p.add_argument("--rows", type=int, default=None, help="rows to score (default: all)")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions of each side; the median is reported")
    suite.add_args(p)


def _body(ctx: JobContext, a: argparse.Namespace) -> None:
    if a.target == "suite":
        run_suite(ctx, a)
    else:
        run(ctx, a.target, a.rows, a.repeat)


def main(argv: list[str] | None = None) -> int:
    return run_job("bench", argv, __doc__, _body, add_args)


if __name__ == "__main__":
    raise SystemExit(main())

"""Job ``bench``: scoring throughput through Spark pandas UDFs next to the same model's ``predict`` in one plain
Python process, on the same rows, in the same run (a ratio means more than a time on a noisy machine).

``smspark bench sentiment|recommendations|media [--rows N] [--repeat R]``: the champion(s) over silver rows. The
Spark side times the scoring UDF written to the ``noop`` sink over cached input (model loading included: once per
Python worker); the plain side times loading the same pyfunc once and predicting the same rows. One module per
target in :mod:`smspark.jobs.benchmarks`. Results go to the run manifest under ``metrics.bench_<target>`` and are
printed.
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


def run(ctx: JobContext, target: str, rows: int | None, repeat: int) -> dict[str, Any]:
    with ctx.manifest.stage(f"bench.{target}") as rec:
        res = resolve(TARGETS[target])(ctx, rows, repeat)
        rec["counts"] = {"rows": res["rows"]}
    ctx.manifest.data["metrics"][f"bench_{target}"] = res
    for k, v in res.items():
        print(f"{k:<32} {v}")
    return res


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=sorted(TARGETS), help="what to benchmark")
    p.add_argument("--rows", type=int, default=None, help="rows to score (default: all)")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions of each side; the median is reported")


def main(argv: list[str] | None = None) -> int:
    return run_job("bench", argv, __doc__, lambda ctx, a: run(ctx, a.target, a.rows, a.repeat), add_args)


if __name__ == "__main__":
    raise SystemExit(main())

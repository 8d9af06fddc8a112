"""Side-by-side timing, shared by every benchmark: two sides run alternately in the same run (A B, then B A, ...),
each ``repeat`` times; medians and their ratio are reported. A ratio of two sides measured together means more than a
time on a shared, noisy machine.

A side is a callable. Its wall-clock time is measured here unless it returns :class:`Timed`, whose ``seconds`` then
count instead (a time measured inside remote workers, without their start-up) and whose ``details`` are kept.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timed:
    """What a side may return: the seconds to count (instead of the wall clock) and details to keep."""

    seconds: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SideBySide:
    """The timings of two sides: ``seconds[name]`` (one per repetition, in run order) and ``details[name]`` (what
    each repetition returned in :class:`Timed`, else ``{}``)."""

    a: str
    b: str
    seconds: dict[str, list[float]]
    details: dict[str, list[dict[str, Any]]]

    def median(self, side: str, skip: int = 0) -> float:
        """Median seconds of ``side`` without its first ``skip`` repetitions (all of them when fewer remain)."""
        values = self.seconds[side]
        return statistics.median(values[skip:] if len(values) > skip else values)

    def summary(
        self, units_a: float, units_b: float, unit: str = "rows", skip: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """Both sides' seconds, their rates (``units / median seconds``) and ``ratio`` = rate of A / rate of B
        (> 1: A is faster per unit); ``time_ratio`` = median seconds of A / of B.

        Args:
            units_a, units_b: work done by one repetition of each side (rows, samples, users, ...).
            unit: name of the unit in the keys (``<side>_<unit>_per_second``).
            skip: repetitions to leave out of a side's median (e.g. ``{"spark": 1}``: a cold first run).
        """
        skip = skip or {}
        med_a, med_b = self.median(self.a, skip.get(self.a, 0)), self.median(self.b, skip.get(self.b, 0))
        rate_a, rate_b = units_a / med_a, units_b / med_b
        return {
            f"{self.a}_seconds": [round(s, 3) for s in self.seconds[self.a]],
            f"{self.b}_seconds": [round(s, 3) for s in self.seconds[self.b]],
            f"{self.a}_{unit}_per_second": round(rate_a, 1),
            f"{self.b}_{unit}_per_second": round(rate_b, 1),
            "ratio": round(rate_a / rate_b, 3),
            "time_ratio": round(med_a / med_b, 3),
        }


def side_by_side(
    a: tuple[str, Callable[[], Any]],
    b: tuple[str, Callable[[], Any]],
    repeat: int,
    before: dict[str, Callable[[], Any]] | None = None,
) -> SideBySide:
    """Run the sides ``(name, callable)`` alternately, ``repeat`` times each (order A B, B A, A B, ...).

    Args:
        a, b: the two sides; a callable returning :class:`Timed` reports its own seconds.
        repeat: repetitions of each side (>= 1).
        before: per side name, a callable run untimed before every repetition of that side (clear a model cache,
            restore a snapshot of a data root).

    Raises:
        ValueError: ``repeat < 1`` or two sides of the same name.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    if a[0] == b[0]:
        raise ValueError(f"the two sides need different names, got {a[0]!r} twice")
    sides = dict([a, b])
    before = before or {}
    seconds: dict[str, list[float]] = {a[0]: [], b[0]: []}
    details: dict[str, list[dict[str, Any]]] = {a[0]: [], b[0]: []}
    for i in range(repeat):
        for name in (a[0], b[0]) if i % 2 == 0 else (b[0], a[0]):
            if name in before:
                before[name]()
            start = time.perf_counter()
            out = sides[name]()
            wall = time.perf_counter() - start
            seconds[name].append(out.seconds if isinstance(out, Timed) else wall)
            details[name].append(out.details if isinstance(out, Timed) else {})
    return SideBySide(a[0], b[0], seconds, details)


class PeakRss:
    """Peak resident memory of a local Spark driver while the block runs, sampled every ``interval`` seconds
    (psutil): this Python process, its JVM (the child process named ``java``) and the sum over the other descendants
    (Spark's Python workers; shared pages count once per process, so that sum over-states what they hold together).

    ``with PeakRss() as peak: ...`` then ``peak.result()`` -> ``{"driver_python_peak_rss_mb",
    "driver_jvm_peak_rss_mb", "python_workers_peak_rss_sum_mb", "sampled_every_s"}`` (MiB).
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peaks = {"python": 0, "jvm": 0, "workers": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _once(self, me: Any) -> None:
        import psutil

        now = {"python": me.memory_info().rss, "jvm": 0, "workers": 0}
        for child in me.children(recursive=True):
            try:
                now["jvm" if child.name() == "java" else "workers"] += child.memory_info().rss
            except psutil.Error:
                continue
        for k, v in now.items():
            self.peaks[k] = max(self.peaks[k], v)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process(os.getpid())
        while True:
            with contextlib.suppress(psutil.Error):
                self._once(me)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def result(self) -> dict[str, float]:
        mib = 1024 * 1024
        return {
            "driver_python_peak_rss_mb": round(self.peaks["python"] / mib, 1),
            "driver_jvm_peak_rss_mb": round(self.peaks["jvm"] / mib, 1),
            "python_workers_peak_rss_sum_mb": round(self.peaks["workers"] / mib, 1),
            "sampled_every_s": self.interval,
        }


def ratio_result(
    pair: SideBySide,
    units_a: float,
    units_b: float,
    ratio_key: str,
    unit: str = "rows",
    skip: dict[str, int] | None = None,
    **head: Any,
) -> dict[str, Any]:
    """``head`` then :meth:`SideBySide.summary` with its ``ratio`` under the name ``ratio_key`` (and no
    ``time_ratio``): the result dict of a throughput benchmark."""
    s = pair.summary(units_a, units_b, unit, skip)
    return {**head, **{k: v for k, v in s.items() if k not in ("ratio", "time_ratio")}, ratio_key: s["ratio"]}


def udf_vs_plain(
    ctx: Any, model_uri: str, scored: Any, rows: int, plain: Callable[[Any], Any], repeat: int
) -> dict[str, Any]:
    """A scorer's pandas UDF next to its plain ``predict``: side ``spark_udf`` writes the DataFrame ``scored`` (the
    UDF over cached rows) to the ``noop`` sink; side ``plain_predict`` loads the pyfunc at ``model_uri`` afresh in
    this process and calls ``plain(model)`` on the same ``rows`` rows.

    Returns ``rows``, ``model``, both sides' seconds and rows/s, ``ratio_spark_over_plain`` (> 1: Spark is faster).
    """
    from smspark.scoring.udfs import _MODELS, load_python_model

    def spark_side() -> None:
        scored.write.format("noop").mode("overwrite").save()

    def plain_side() -> None:
        plain(load_python_model(model_uri, ctx.cfg.tracking_uri(), ctx.cfg.mlflow.registry_uri))

    pair = side_by_side(
        ("spark_udf", spark_side), ("plain_predict", plain_side), repeat, {"plain_predict": _MODELS.clear}
    )
    return ratio_result(
        pair,
        rows,
        rows,
        "ratio_spark_over_plain",
        rows=rows,
        model=model_uri,
        spark_parallelism=ctx.spark.sparkContext.defaultParallelism,
    )

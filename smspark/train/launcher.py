"""Run one training function on N Horovod workers and collect what each rank returns.

One entry point, :func:`run_distributed`, with interchangeable backends:

* ``"spark"`` (default): ``horovod.spark.run`` on the active SparkSession. Each rank is a Spark task (the job
  needs ``num_proc`` free task slots; ``local[2]`` has 2) that starts a Gloo worker process running ``fn``.
* ``"horovodrun"``: ``horovodrun -np N -H localhost:N --gloo`` on this machine, no Spark involved. ``fn`` and
  ``args`` are cloudpickled to a temporary directory, every rank runs :mod:`smspark.train._hvd_entry`, which
  pickles its return value back next to them.

``fn`` runs in fresh Python processes, so it must be picklable with cloudpickle: a function of an importable
module (``smspark...``) or a closure / ``__main__`` function (pickled by value). It should ``hvd.init()`` itself
and return something small and picklable (metrics, weights as numpy arrays, a model path), not a Keras model.
The workers get ``TF_USE_LEGACY_KERAS=1`` in their environment so TensorFlow picks tf_keras.

On a cluster the ranks run the executors' interpreter (``spark.pyspark.python``, e.g. the shipped environment's
``./environment/bin/python``), not the driver's. Every rank also reports :func:`smspark.processes.process_info`;
:func:`last_rank_processes` returns those of the latest run (rank order) for the run manifest.

A ``tf.distribute`` backend can be added later as another entry in ``_BACKENDS`` with the same signature.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

T = TypeVar("T")
Backend = Literal["spark", "horovodrun"]

#: Environment every worker gets (callers' ``env`` entries win).
WORKER_ENV: dict[str, str] = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
#: File names exchanged with :mod:`smspark.train._hvd_entry`.
PAYLOAD_FILE = "payload.pkl"
RESULT_FILE = "result-{rank}.pkl"
ERROR_FILE = "error-{rank}.txt"

_SETUP_HINT = "run `make setup` (or scripts/build_horovod.sh) to build Horovod with TensorFlow and Gloo"

_RANK_PROCESSES: list[dict[str, Any]] = []


def last_rank_processes() -> list[dict[str, Any]]:
    """:func:`smspark.processes.process_info` of every rank of the latest :func:`run_distributed` call, by rank
    (with ``rank`` added); empty before the first call."""
    return list(_RANK_PROCESSES)


def _reporting(fn: Callable[..., T]) -> Callable[..., tuple[dict[str, Any], T]]:
    """``fn`` that also returns the process it ran in (``HOROVOD_RANK`` is set by both backends)."""

    def run(*args: Any) -> tuple[dict[str, Any], T]:
        result = fn(*args)
        from smspark.processes import process_info

        return {"rank": int(os.environ.get("HOROVOD_RANK", "-1")), **process_info()}, result

    return run


class DistributedRunError(RuntimeError):
    """The distributed run failed: a worker raised, exited non-zero, or returned nothing. ``str()`` is one line
    (which rank failed and how); the launcher's full report is the exception it was raised from."""


_FIRST_FAILED = re.compile(r"Process name:\s*(\d+)\s+Exit code:\s*(-?\d+)")


def describe_failure(exc: BaseException) -> str:
    """One line on a failed Horovod launch: ``Horovod rank 1 died (exit code 137, SIGKILL)`` from the report of
    Horovod's Gloo launcher (the first rank that exited non-zero; codes above 128 are killed by signal
    ``code - 128``), else the exception's first line."""
    text = str(exc)
    found = _FIRST_FAILED.search(text)
    if found is None:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return f"Horovod run failed ({type(exc).__name__}: {first[:200]})"
    rank, code = found.group(1), int(found.group(2))
    how = ""
    if code > 128 or code < 0:
        try:
            how = f", {signal.Signals(abs(code) - 128 if code > 128 else -code).name}"
        except ValueError:
            how = ""
    verb = "died" if how else "failed"
    return f"Horovod rank {rank} {verb} (exit code {code}{how})"


def _require_horovod() -> None:
    """Fail early and clearly when Horovod is missing or was built without TensorFlow/Gloo."""
    try:
        import horovod.tensorflow as hvd
    except ImportError as exc:
        raise RuntimeError(f"horovod.tensorflow is not importable ({exc}); {_SETUP_HINT}") from exc
    if not hvd.gloo_built():
        raise RuntimeError(f"Horovod was built without Gloo; {_SETUP_HINT}")


def _worker_env(env: dict[str, str] | None) -> dict[str, str]:
    """The variables set for every rank: :data:`WORKER_ENV`, ``env`` on top, and the pseudonymisation key blanked
    (``horovod.spark.run`` starts ranks from the executor's environment, which holds the key for the etl's UDFs;
    ranks read pseudonymised features only and never need it)."""
    from smspark.config import PrivacyConfig

    merged = dict(WORKER_ENV)
    merged.update(env or {})
    merged[PrivacyConfig().key_env] = ""
    return merged


def _run_spark(
    fn: Callable[..., T], args: tuple, num_proc: int, spark: SparkSession | None, env: dict[str, str]
) -> list[T]:
    from pyspark.sql import SparkSession

    try:
        import horovod.spark
    except ImportError as exc:
        raise RuntimeError(f"horovod.spark is not importable ({exc}); {_SETUP_HINT}") from exc

    session = spark or SparkSession.getActiveSession()
    if session is None:
        raise ValueError("backend 'spark' needs a SparkSession: pass spark=... or create one first")
    sc = session.sparkContext
    slots = sc.defaultParallelism
    if num_proc > slots:
        logger.warning(
            "num_proc=%d exceeds spark.default.parallelism=%d; Horovod waits (HOROVOD_SPARK_START_TIMEOUT, default "
            "600 s) for enough concurrent task slots and fails if they never come",
            num_proc,
            slots,
        )
    if sc.master.startswith("local"):
        worker_python = shutil.which(sc.pythonExec) or sc.pythonExec
        if os.path.realpath(worker_python) != os.path.realpath(sys.executable):
            logger.warning(
                "Spark Python workers run %s but the driver runs %s; Horovod must be importable there "
                "(set PYSPARK_PYTHON to the driver's interpreter before the SparkContext starts: the "
                "spark.pyspark.python conf is ignored when a session is built from Python)",
                sc.pythonExec,
                sys.executable,
            )
    # Ranks are started by the executors' task services: with a shipped environment they must run its interpreter
    # (spark.pyspark.python, relative to the executor's work directory), not the driver's.
    executable = None if sc.master.startswith("local") else sc.pythonExec
    logger.info("horovod.spark.run: %d workers (gloo) on %s, python %s", num_proc, sc.master, executable or "driver's")
    try:
        return horovod.spark.run(
            fn, args=args, num_proc=num_proc, env=env, use_gloo=True, verbose=1, executable=executable
        )
    except RuntimeError as exc:
        # Gloo's launcher reports a rank that exited non-zero (killed, out of memory, raised); the surviving ranks
        # fail fast in their next collective ("Horovod has been shut down"), so this returns in bounded time.
        _wait_for_idle(sc)
        raise DistributedRunError(describe_failure(exc)) from exc


def _wait_for_idle(sc: Any, timeout: float = 60.0) -> None:
    """Wait (at most ``timeout`` seconds) until the cancelled Spark job of a failed Horovod run has no active job or
    stage left, so the executors' last words on the killed tasks come before the job's error, not after it."""
    tracker = sc.statusTracker()
    deadline = time.monotonic() + timeout
    while (tracker.getActiveJobsIds() or tracker.getActiveStageIds()) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # the executor logs a killed task just after the scheduler lets it go


def _horovodrun_path() -> str:
    candidate = Path(sys.executable).parent / "horovodrun"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("horovodrun")
    if found is None:
        raise RuntimeError(f"horovodrun not found next to {sys.executable} nor on PATH; {_SETUP_HINT}")
    return found


def _package_root() -> str:
    """Directory containing the ``smspark`` package, so workers import the same code as the driver."""
    return str(Path(__file__).resolve().parents[2])


def _horovodrun_env(base: Mapping[str, str], env: dict[str, str]) -> dict[str, str]:
    """The rank processes' environment: ``base`` (the driver's) with ``env`` on top and the package on PYTHONPATH,
    minus the pseudonymisation key (the variable named by ``privacy.key_env``'s default): ranks read pseudonymised
    features only and never need it."""
    from smspark.config import PrivacyConfig

    secret = PrivacyConfig().key_env
    proc_env = {k: v for k, v in {**base, **env}.items() if k != secret}
    pythonpath = [_package_root(), *filter(None, proc_env.get("PYTHONPATH", "").split(os.pathsep))]
    proc_env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(pythonpath))
    return proc_env


def _run_horovodrun(fn: Callable[..., T], args: tuple, num_proc: int, env: dict[str, str]) -> list[T]:
    import cloudpickle

    horovodrun = _horovodrun_path()
    workdir = Path(tempfile.mkdtemp(prefix="smspark-hvd-"))
    try:
        with open(workdir / PAYLOAD_FILE, "wb") as f:
            cloudpickle.dump((fn, tuple(args)), f)
        cmd = [
            horovodrun,
            "-np",
            str(num_proc),
            "-H",
            f"localhost:{num_proc}",
            "--gloo",
            sys.executable,
            "-m",
            "smspark.train._hvd_entry",
            str(workdir),
        ]
        proc_env = _horovodrun_env(os.environ, env)
        logger.info("running: %s", " ".join(cmd))
        tail: deque[str] = deque(maxlen=40)
        with subprocess.Popen(
            cmd, env=proc_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                logger.info("%s", line)
            returncode = proc.wait()

        errors = [
            f"rank {rank}:\n{(workdir / ERROR_FILE.format(rank=rank)).read_text()}"
            for rank in range(num_proc)
            if (workdir / ERROR_FILE.format(rank=rank)).exists()
        ]
        if returncode != 0 or errors:
            detail = "\n".join(errors) if errors else "\n".join(tail)
            raise DistributedRunError(describe_failure(RuntimeError(detail))) from RuntimeError(
                f"horovodrun exited with code {returncode}:\n{detail}"
            )

        results = []
        for rank in range(num_proc):
            path = workdir / RESULT_FILE.format(rank=rank)
            if not path.exists():
                raise DistributedRunError(f"rank {rank} finished without writing {path.name}")
            with open(path, "rb") as f:
                results.append(cloudpickle.load(f))
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


_BACKENDS: dict[str, Callable[..., list[Any]]] = {
    "spark": lambda fn, args, num_proc, spark, env: _run_spark(fn, args, num_proc, spark, env),
    "horovodrun": lambda fn, args, num_proc, spark, env: _run_horovodrun(fn, args, num_proc, env),
}


def run_distributed(
    fn: Callable[..., T],
    args: tuple = (),
    *,
    num_proc: int,
    backend: Backend = "spark",
    spark: SparkSession | None = None,
    env: dict[str, str] | None = None,
) -> list[T]:
    """Run ``fn(*args)`` on ``num_proc`` Horovod workers (Gloo, CPU or GPU) and return their results.

    Args:
        fn: the per-rank function; it calls ``hvd.init()`` and reads its shard (``cur_shard=hvd.rank()``).
            Must be cloudpickle-able; its return value must be picklable.
        args: positional arguments for ``fn`` (pickled and shipped to every worker).
        num_proc: number of workers (Horovod ``size``), >= 1.
        backend: ``"spark"`` (``horovod.spark.run`` on ``spark`` / the active session, one Spark task per rank) or
            ``"horovodrun"`` (local processes via ``horovodrun --gloo``).
        spark: session for the ``"spark"`` backend; default the active one. Ignored by ``"horovodrun"``.
        env: extra environment variables for the workers (``TF_USE_LEGACY_KERAS=1`` is always set).

    Returns:
        ``[result of rank 0, result of rank 1, ...]``, length ``num_proc``.

    Raises:
        ValueError: unknown backend, ``num_proc < 1``, or no SparkSession for the ``"spark"`` backend.
        RuntimeError: Horovod not built (run ``make setup``).
        DistributedRunError: a worker failed or died (one line: which rank and how, :func:`describe_failure`).
    """
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {sorted(_BACKENDS)}")
    if num_proc < 1:
        raise ValueError(f"num_proc must be >= 1, got {num_proc}")
    _require_horovod()
    reported = _BACKENDS[backend](_reporting(fn), tuple(args), num_proc, spark, _worker_env(env))
    if len(reported) != num_proc:
        raise DistributedRunError(f"expected {num_proc} results, got {len(reported)}")
    _RANK_PROCESSES[:] = [process for process, _ in reported]
    return [result for _, result in reported]

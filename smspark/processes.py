"""Which processes run a job: the driver, the Spark executors' Python workers and the Horovod ranks.

Each is described by :func:`process_info` (host, pid, interpreter, where ``smspark`` was imported from, working
directory, and for a Python worker the pid of the executor JVM it belongs to). The run manifest records them per
stage, so a run on a cluster shows that executors imported smspark from the shipped environment and not from a
checkout.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable, Iterator
from typing import Any


def _executor_pid() -> int | None:
    """Pid of the nearest ``java`` ancestor (the Spark executor or the local-mode driver JVM), or None."""
    try:
        import psutil

        parent = psutil.Process().parent()
        while parent is not None:
            if parent.name() == "java":
                return parent.pid
            parent = parent.parent()
    except Exception:  # psutil missing or a process vanished: the other fields still say enough
        return None
    return None


def process_info() -> dict[str, Any]:
    """This process: ``host``, ``pid``, ``python`` (``sys.executable``), ``smspark`` (``smspark.__file__``),
    ``cwd`` and ``executor_pid`` (the JVM this Python process serves, None outside Spark)."""
    import smspark

    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "python": sys.executable,
        "smspark": smspark.__file__,
        "cwd": os.getcwd(),
        "executor_pid": _executor_pid(),
    }


def _probe(_: Iterable[Any]) -> Iterator[dict[str, Any]]:
    yield process_info()


def executor_processes(spark: Any, tasks: int | None = None) -> list[dict[str, Any]]:
    """The Python workers that run tasks on the executors, one entry per ``(host, pid)``, sorted.

    Runs a small job of ``tasks`` tasks (default: twice the default parallelism, so every executor gets some)
    whose only work is :func:`process_info`; the function is imported by the workers from their own environment.
    """
    sc = spark.sparkContext
    n = tasks or max(2, 2 * sc.defaultParallelism)
    found = sc.parallelize(range(n), n).mapPartitions(_probe).collect()
    unique = {(p["host"], p["pid"]): p for p in found}
    return [unique[k] for k in sorted(unique)]

"""Fault injection for tests: a switch, read from the environment, that makes a process die or fail at a named
point, so that tests can show a crash never leaves a table half written.

``SMSPARK_FAULTS`` holds ``;``-separated rules ``<action>:<point>@<substring>``: when code reaches
:func:`point` with that point name and a target containing the substring, the action runs:

* ``kill`` -- the process sends itself SIGKILL (no cleanup, no ``finally``, as the OOM killer or a lost node would);
* ``raise`` -- :class:`InjectedFault` is raised;
* ``raise_once`` -- :class:`InjectedFault` is raised the first time a Spark task of a partition reaches the point
  (a marker per point, target and partition under ``SMSPARK_FAULTS_DIR``), so that Spark's task retry succeeds;
* ``enospc`` / ``erofs`` -- ``OSError`` "No space left on device" / "Read-only file system" is raised, as a full or
  read-only output location would.

Points: ``table.staged`` (Spark finished writing a table's staging data), ``table.moved`` (its partitions moved to
their version directories, the commit not yet published), ``udf.batch`` (a batch reached a pandas UDF in a Python
worker; targets name the UDF, e.g. ``clean_text``), ``hvd.epoch`` (a Horovod rank of the Keras worker at the end of
an epoch, after rank 0 uploaded that epoch's checkpoint; targets ``rank<r>/epoch<e>``, 1-based epoch). Production
never sets the variable.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

ENV = "SMSPARK_FAULTS"
#: Where ``raise_once`` keeps its markers (must be set for that action).
MARKERS_ENV = "SMSPARK_FAULTS_DIR"
_ERRNOS = {"enospc": errno.ENOSPC, "erofs": errno.EROFS}


class InjectedFault(RuntimeError):
    """A failure injected by ``SMSPARK_FAULTS`` (tests only)."""


def point(name: str, target: str) -> None:
    """Run the injected action for ``name`` if a rule matches ``target``; otherwise nothing."""
    rules = os.environ.get(ENV)
    if not rules:
        return
    for rule in rules.split(";"):
        action, _, rest = rule.partition(":")
        where, _, substring = rest.partition("@")
        if where == name and substring in target:
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if action == "raise_once" and not _first_time(name, substring):
                continue
            if action in _ERRNOS:
                code = _ERRNOS[action]
                raise OSError(code, f"{os.strerror(code)} (injected)", target)
            raise InjectedFault(f"injected fault at {name} for {target}")


def _first_time(name: str, substring: str) -> bool:
    """Whether this is the first time the current Spark partition (or process, outside a task) reaches the point:
    creates the marker atomically (``O_EXCL``)."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        part = f"p{ctx.partitionId()}-s{ctx.stageId()}" if ctx is not None else f"pid{os.getpid()}"
    except ImportError:
        part = f"pid{os.getpid()}"
    folder = Path(os.environ[MARKERS_ENV])
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{name}-{substring.replace('/', '_')}-{part}"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True

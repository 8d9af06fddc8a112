"""The run manifest: what a run read, wrote, counted, timed and trained, as ``runs/<run_id>/manifest.json``.

It is written last, after every stage, and also when a stage fails (with ``status: failed`` and the error),
so a broken run still leaves a record. Each stage reconciles its counts::

    rows_in == rows_out + quarantined + duplicates_dropped

and a stage whose counts do not reconcile fails the run (rows would have been lost).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from smspark import storage

log = logging.getLogger(__name__)


class ReconciliationError(RuntimeError):
    """A stage's row counts do not add up: rows would have been lost or invented."""


def new_run_id(job: str) -> str:
    """A sortable unique id: ``20261121T230501Z-nightly-1a2b3c``."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{job}-{uuid.uuid4().hex[:6]}"


def reconcile(rows_in: int, rows_out: int, quarantined: int = 0, duplicates_dropped: int = 0) -> dict[str, Any]:
    """Check ``rows_in == rows_out + quarantined + duplicates_dropped`` and return the counts.

    Raises:
        ReconciliationError: the counts do not add up.
    """
    counts = {
        "rows_in": int(rows_in),
        "rows_out": int(rows_out),
        "quarantined": int(quarantined),
        "duplicates_dropped": int(duplicates_dropped),
    }
    counts["reconciled"] = (
        counts["rows_in"] == counts["rows_out"] + counts["quarantined"] + counts["duplicates_dropped"]
    )
    if not counts["reconciled"]:
        raise ReconciliationError(f"Counts do not reconcile: {counts}")
    return counts


class RunManifest:
    """Collects a run's record; :meth:`write` puts it at ``<runs_dir>/<run_id>/manifest.json`` (a URI, written
    through :mod:`smspark.storage`)."""

    def __init__(self, job: str, runs_dir: str, run_date: dt.date, profile: str, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id(job)
        self.path = storage.join(runs_dir, self.run_id, "manifest.json")
        self.data: dict[str, Any] = {
            "run_id": self.run_id,
            "job": job,
            "run_date": run_date.isoformat(),
            "profile": profile,
            "status": "running",
            "started_at": _now(),
            "stages": {},
            "models": {},
            "metrics": {},
        }

    @property
    def dir(self) -> str:
        """URI of the run's folder (plots and reports go next to the manifest)."""
        return storage.parent(self.path)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a stage; the yielded dict is the stage's record (fill ``inputs``, ``outputs``, ``counts``)."""
        record: dict[str, Any] = {"inputs": {}, "outputs": {}, "counts": {}}
        self.data["stages"][name] = record
        start = time.perf_counter()
        log.info("stage %s: started", name)
        try:
            yield record
            record["status"] = "ok"
        except BaseException as exc:
            record["status"] = "failed"
            record["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            record["seconds"] = round(time.perf_counter() - start, 3)
            log.info("stage %s: %s in %.1fs%s", name, record.get("status"), record["seconds"], rows_text(record))

    def write(self, status: str = "ok", error: str | None = None) -> str:
        """Write the manifest (pretty JSON, atomically) and return its URI."""
        self.data["status"] = status
        self.data["finished_at"] = _now()
        if error:
            self.data["error"] = error
        return storage.write_json(self.path, self.data)


def rows_text(record: dict[str, Any]) -> str:
    """``", rows 58,919 in -> 58,011 out, 3 quarantined, 905 duplicates"`` from a stage record's counts (other
    integer counts when it has no ``rows_in``/``rows_out``; "" when it has none)."""
    c = record.get("counts") or {}
    if isinstance(c.get("rows_in"), int) and isinstance(c.get("rows_out"), int):
        text = f", rows {c['rows_in']:,} in -> {c['rows_out']:,} out"
        for key, word in (("quarantined", "quarantined"), ("duplicates_dropped", "duplicates")):
            if c.get(key):
                text += f", {c[key]:,} {word}"
        return text
    sized = [f"{k} {v:,}" for k, v in c.items() if isinstance(v, int) and not isinstance(v, bool)]
    return (", " + ", ".join(sized[:4])) if sized else ""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

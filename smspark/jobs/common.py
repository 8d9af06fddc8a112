"""What every job shares: the common arguments, config loading, the session, the run manifest, error handling.

Every job is ``main(argv)``: ``--conf local|cluster|databricks|FILE.yaml --date YYYY-MM-DD --set key.path=value``.
A job writes its run manifest last (``<data.root>/runs/<run_id>/manifest.json``), also when it fails, and prints
where its outputs went. Each stage's record names the processes that ran it: the driver, the executors' Python
workers and, for training, the Horovod ranks. Expected failures (bad config, missing input, no champion) end with
a one-line ``error:`` and exit code 2; anything else propagates with its traceback after the manifest is written.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smspark import storage
from smspark.config import DEFAULT_PROFILE, ConfigError, Settings, load_config, profile_names
from smspark.jobs.scorecard import scorecard
from smspark.manifest import ReconciliationError, RunManifest
from smspark.processes import executor_processes, process_info

log = logging.getLogger(__name__)


class UserError(RuntimeError):
    """An expected, explainable failure: the message says what to do. Exit code 2, no traceback."""


@dataclass
class JobContext:
    """A running job: its config, date, manifest and (lazily built) SparkSession."""

    cfg: Settings
    run_date: dt.date
    manifest: RunManifest
    _spark: Any = field(default=None, repr=False)

    @property
    def spark(self):  # -> SparkSession
        if self._spark is None:
            from smspark.session import get_session

            self._spark = get_session(self.cfg)
            sc = self._spark.sparkContext
            self.manifest.data["spark"] = {"master": sc.master, "app_id": sc.applicationId, "version": sc.version}
        return self._spark

    @property
    def layout(self):
        return self.cfg.layout

    def output(self, name: str, uri: str) -> None:
        """Record an output location to print at the end and keep in the manifest."""
        self.manifest.data.setdefault("outputs", {})[name] = str(uri)

    def record_processes(self, record: dict[str, Any], **extra: Any) -> None:
        """Put the processes that ran a stage into its manifest ``record``: ``driver`` (this process),
        ``executors`` (the Python workers of the executors, probed with a small Spark job; empty when the stage
        used no Spark) and any ``extra`` lists (``horovod_ranks``)."""
        record["processes"] = {
            "driver": process_info(),
            "executors": executor_processes(self._spark) if self._spark is not None else [],
            **extra,
        }

    @contextlib.contextmanager
    def local_run_dir(self) -> Iterator[Path]:
        """A local directory for files a library writes with local-file APIs (plots): the run folder itself when
        the data root is on this host, else a temporary directory whose files are uploaded to the run folder."""
        local = storage.local_path(self.manifest.dir)
        if local is not None:
            Path(local).mkdir(parents=True, exist_ok=True)
            yield Path(local)
            return
        with tempfile.TemporaryDirectory(prefix="smspark-run-") as tmp:
            yield Path(tmp)
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    storage.upload(path, storage.join(self.manifest.dir, path.relative_to(tmp).as_posix()))


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """Parser with the arguments every job takes."""
    p = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--conf",
        default=None,
        metavar="PROFILE",
        help=f"a packaged profile ({', '.join(profile_names())}; default {DEFAULT_PROFILE}: embedded local Spark) "
        "or the path of your own profile YAML, merged over the packaged base.yaml",
    )
    p.add_argument(
        "--date",
        type=_date,
        default=dt.datetime.now(dt.UTC).date(),
        help="logical run date YYYY-MM-DD: the bronze ingest partition and the gold dt partition (default: today, UTC)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.num_proc=1 --set data.root=/tmp/d (repeatable)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def setup_logging(level: str) -> None:
    from smspark.console import HandledPy4jRetry, filter_native_stderr

    filter_native_stderr()
    # other libraries' INFO lines (Horovod's launcher alone logs hundreds of rendezvous lines) stay out of the
    # console; smspark's own loggers log at ``level``
    logging.basicConfig(
        level=max(logging.WARNING, logging.getLevelName(level.upper())),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("smspark").setLevel(level.upper())
    for handler in logging.getLogger().handlers:
        handler.addFilter(HandledPy4jRetry())
    for noisy in ("py4j", "urllib3", "alembic", "mlflow.store", "petastorm", "h5py", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_job(
    job: str,
    argv: list[str] | None,
    description: str,
    body: Callable[[JobContext, argparse.Namespace], None],
    add_args: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse ``argv``, build the context, run ``body``, write the manifest, print the outputs. Returns the exit code."""
    parser = base_parser(f"smspark {job}", description)
    if add_args:
        add_args(parser)
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        cfg = load_config(args.conf, args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cause = local_root_unwritable(cfg.layout.root)
    if cause:
        print(f"error: {cause}: the data root must be writable; nothing was changed", file=sys.stderr)
        return 3
    manifest = RunManifest(job, cfg.layout.runs, args.date, cfg.profile)
    manifest.data["config"] = cfg.model_dump(mode="json", exclude={"privacy": {"dev_key"}})
    manifest.data["data_root"] = cfg.layout.root
    ctx = JobContext(cfg=cfg, run_date=args.date, manifest=manifest)
    try:
        body(ctx, args)
    except (UserError, ConfigError, ReconciliationError) as exc:
        path = manifest.write("failed", f"{type(exc).__name__}: {exc}")
        print(f"run manifest: {path}", file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)  # the last line
        return 2
    except BaseException as exc:
        cause = storage_failure(exc)
        if cause is None:
            path = manifest.write("failed", f"{type(exc).__name__}: {exc}")
            print(f"run manifest (failed run): {path}", file=sys.stderr)
            raise
        try:
            where = manifest.write("failed", cause)
        except Exception as exc2:  # the manifest lives on the same root: it may not be writable either
            where = f"not written ({storage_failure(exc2) or exc2})"
        print(f"error: {cause}; committed tables are unchanged. Run manifest: {where}", file=sys.stderr)
        return 3
    path = manifest.write("ok")
    for name, out in manifest.data.get("outputs", {}).items():
        print(f"{name:<28} {out}")
    print(f"{'run manifest':<28} {path}")
    lines = scorecard(manifest.data.get("models", {}))
    if lines:
        print("\nmodels (selection on val, figures on test):")
        print("\n".join(lines))
    return 0


#: Messages of full or read-only storage, as Python (``OSError``) and the JVM (``IOException``) word them.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}
_STORAGE_MESSAGES = (
    "No space left on device",
    "Read-only file system",
    "Permission denied",
    "AccessDeniedException",
    "Mkdirs failed to create",
)


def storage_failure(exc: BaseException) -> str | None:
    """One line when ``exc`` (or an exception it was raised from) is a full, read-only or forbidden output location:
    ``cannot write <path>: <reason>``; otherwise None.

    Recognises ``OSError`` with errno ENOSPC, EROFS, EACCES, EPERM or EDQUOT, and Spark's Java exceptions whose
    message names one of those conditions (``No space left on device``, ``Read-only file system``, ...).
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in _STORAGE_ERRNOS:
            where = cur.filename or "the output location"
            return f"cannot write {where}: {cur.strerror or os.strerror(cur.errno)}"
        text = str(cur)
        for message in _STORAGE_MESSAGES:
            if message in text and type(cur).__name__ in ("Py4JJavaError", "IOException", "SparkException"):
                line = next((ln.strip() for ln in text.splitlines() if message in ln), message)
                for prefix in ("Caused by:", "java.io.IOException:", "org.apache.spark.SparkException:"):
                    line = line.removeprefix(prefix).strip()
                return f"cannot write to the data root: {line[:240]}"
        cur = cur.__cause__ or cur.__context__
    return None


def local_root_unwritable(root: str) -> str | None:
    """Why a local data root (``file://``) cannot be written (:func:`storage_failure` of a probe that creates the root
    and a small file in it, then removes the file), or None; remote roots are not probed."""
    local = storage.local_path(root)
    if local is None:
        return None
    probe = Path(local) / f".smspark-write-probe-{os.getpid()}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return storage_failure(exc) or str(exc)
    return None

"""A Spark standalone cluster on this machine, and a job spark-submitted to it with the packed environment.

    python scripts/cluster.py start --dir DIR [--workers 2] [--worker-memory 3g] [--port 7077] [--webui-port 8080]
    python scripts/cluster.py stop --dir DIR
    python scripts/cluster.py run [--job nightly] [--date D] [--data-root URI] [--landing DIR] [--set k=v ...]
                                  [-- job arguments]

``start`` launches one Master and N Workers (1 core each) on 127.0.0.1 with ``spark-class
org.apache.spark.deploy.master.Master`` / ``...deploy.worker.Worker`` from the pyspark installed next to this
interpreter, waits until every Worker has registered, and records the pids, ports and log files in
``DIR/cluster.json``. ``stop`` stops exactly those pids (Workers first; SIGTERM, then SIGKILL after 30 s), and only
while they still run a Spark deploy class, so a reused pid is never touched.

``run`` (``make cluster-run``) packs the environment if needed (``scripts/pack.sh``), starts a cluster in a new
temporary directory, spark-submits ``jobs/<job>.py --conf cluster`` from a working directory outside the
repository with ``--archives dist/smspark-env.tar.gz#environment`` and
``spark.pyspark.python=./environment/bin/python`` (the driver runs the packed venv ``dist/pack-venv``, where smspark
is installed from the wheel), then stops the cluster, also when the job fails. It prints the job's outputs, its
wall time and which processes ran each stage (from the run manifest), and exits with the job's exit code.
The pseudonymisation key comes from ``SMSPARK_PSEUDONYM_KEY``; without it the local profile's development key is
used (the sample data is public; never do that with real user data).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT / "dist" / "smspark-env.tar.gz"
PACK_PYTHON = ROOT / "dist" / "pack-venv" / "bin" / "python"
HOST = "127.0.0.1"
STATE = "cluster.json"


def spark_home() -> Path:
    """The pyspark installation next to this interpreter (its ``bin/spark-class``, ``bin/spark-submit``)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for cluster processes: this machine's basics, none of a virtualenv's or a checkout's."""
    keep = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "JAVA_HOME", "TMPDIR", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin)
    env.update(SPARK_HOME=str(spark_home()), SPARK_LOCAL_IP=HOST, SPARK_LOCAL_HOSTNAME="localhost")
    env.update(extra)
    return env


def _wait_for(log: Path, needle: str, count: int, seconds: float, pids: list[int]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if text.count(needle) >= count:
            return
        dead = [p for p in pids if not _alive(p)]
        if dead:
            raise RuntimeError(f"cluster process(es) {dead} exited; see {log}:\n{text[-2000:]}")
        time.sleep(0.5)
    raise TimeoutError(f"no {count} x {needle!r} in {log} after {seconds:.0f} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) counts as stopped
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def start(
    directory: Path, workers: int = 2, worker_memory: str = "3g", port: int = 7077, webui_port: int = 8080
) -> dict[str, Any]:
    """Start a Master and ``workers`` Workers (1 core, ``worker_memory`` each) on 127.0.0.1; returns the state
    written to ``directory/cluster.json`` (``master_url``, ``pids``, ``logs``, ``work_dirs``).

    Raises:
        RuntimeError, TimeoutError: a process died or did not come up (whatever was started is stopped first).
    """
    directory.mkdir(parents=True, exist_ok=True)
    spark_class = str(spark_home() / "bin" / "spark-class")
    state: dict[str, Any] = {
        "master_url": f"spark://{HOST}:{port}",
        "webui": f"http://{HOST}:{webui_port}",
        "pids": {},
        "logs": {},
        "work_dirs": {},
    }
    env = clean_env()

    def launch(name: str, args: list[str]) -> int:
        log = directory / f"{name}.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(
                [spark_class, *args],
                cwd=directory,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        state["pids"][name] = proc.pid
        state["logs"][name] = str(log)
        (directory / STATE).write_text(json.dumps(state, indent=2) + "\n")
        return proc.pid

    try:
        master = launch(
            "master",
            [
                "org.apache.spark.deploy.master.Master",
                *("--host", HOST, "--port", str(port), "--webui-port", str(webui_port)),
            ],
        )
        _wait_for(directory / "master.log", "I have been elected leader", 1, 120, [master])
        for i in range(1, workers + 1):
            work = directory / f"worker-{i}"
            work.mkdir(exist_ok=True)
            state["work_dirs"][f"worker-{i}"] = str(work)
            launch(
                f"worker-{i}",
                [
                    "org.apache.spark.deploy.worker.Worker",
                    *("--host", HOST, "--cores", "1", "--memory", worker_memory),
                    *("--work-dir", str(work), "--webui-port", str(free_port())),
                    state["master_url"],
                ],
            )
        _wait_for(directory / "master.log", "Registering worker", workers, 180, list(state["pids"].values()))
    except BaseException:
        stop(directory)
        raise
    return state


def _is_spark_deploy(pid: int) -> bool:
    try:
        return b"org.apache.spark.deploy." in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop(directory: Path, grace: float = 30.0) -> list[int]:
    """Stop the pids recorded in ``directory/cluster.json`` (Workers, then the Master); returns those signalled."""
    path = directory / STATE
    if not path.exists():
        return []
    pids: dict[str, int] = json.loads(path.read_text())["pids"]
    order = sorted(pids, key=lambda name: name == "master")
    stopped = []
    for name in order:
        pid = pids[name]
        if _alive(pid) and _is_spark_deploy(pid):
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in stopped):
        time.sleep(0.5)
    for pid in stopped:
        if _alive(pid) and _is_spark_deploy(pid):
            os.kill(pid, signal.SIGKILL)
    return stopped


@contextlib.contextmanager
def running(directory: Path, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """A cluster for the block's duration; its pids are stopped on the way out, whatever happened."""
    try:
        yield start(directory, **kwargs)
    finally:
        stop(directory)


def submit_command(
    state: dict[str, Any], job: str, job_args: list[str], archive: Path = ARCHIVE, driver_python: Path = PACK_PYTHON
) -> list[str]:
    """The spark-submit command line of ``jobs/<job>.py`` on the cluster with the packed environment."""
    return [
        str(spark_home() / "bin" / "spark-submit"),
        *("--master", state["master_url"], "--deploy-mode", "client"),
        *("--archives", f"{archive}#environment"),
        *("--conf", "spark.pyspark.python=./environment/bin/python"),
        *("--conf", f"spark.pyspark.driver.python={driver_python}"),
        *("--driver-memory", "2g", "--executor-memory", "2g", "--total-executor-cores", str(len(state["work_dirs"]))),
        *("--conf", "spark.ui.showConsoleProgress=false"),
        str(ROOT / "jobs" / f"{job}.py"),
        *job_args,
    ]


def stage_processes(manifest: dict[str, Any]) -> list[str]:
    """One line per stage: where the driver, the executors' Python workers and the Horovod ranks ran."""

    def where(p: dict[str, Any]) -> str:
        env = p["smspark"].split("/lib/python")[0]
        return f"pid {p['pid']} (executor jvm {p.get('executor_pid')}, cwd {p['cwd']}, smspark under {env})"

    lines = []
    for name, st in manifest.get("stages", {}).items():
        procs = st.get("processes", {})
        lines.append(f"{name}:")
        if procs.get("driver"):
            lines.append(f"    driver    {where(procs['driver'])}")
        for p in procs.get("executors", []):
            lines.append(f"    executor  {where(p)}")
        for p in procs.get("horovod_ranks", []):
            lines.append(f"    rank {p['rank']}    {where(p)}")
    return lines


def run(args: argparse.Namespace) -> int:
    if not args.no_pack:
        subprocess.run(["bash", str(ROOT / "scripts" / "pack.sh")], check=True)
    for needed in (ARCHIVE, PACK_PYTHON):
        if not needed.exists():
            print(f"error: {needed} is missing: run `make pack`", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="smspark-cluster-"))
    submit_dir = work / "submit"
    submit_dir.mkdir()
    data_root = args.data_root or f"file://{ROOT / 'data' / 'cluster'}"
    job_args = ["--conf", "cluster", "--set", f"data.root={data_root}"]
    if args.date:
        job_args += ["--date", args.date]
    if args.landing or not args.data_root:
        job_args += ["--set", f"data.landing={Path(args.landing or ROOT / 'data' / 'landing').resolve()}"]
    job_args += ["--set", "spark.conf.spark.sql.shuffle.partitions=8", "--set", "train.num_proc=2"]
    extra = {}
    if not os.environ.get("SMSPARK_PSEUDONYM_KEY"):
        print("note: SMSPARK_PSEUDONYM_KEY is not set: pseudonymising with the local profile's development key")
        job_args += ["--set", "privacy.dev_key=smspark-local-development-key-not-secret"]
    else:
        extra["SMSPARK_PSEUDONYM_KEY"] = os.environ["SMSPARK_PSEUDONYM_KEY"]
    for override in args.overrides:
        job_args += ["--set", override]
    job_args += args.job_args
    with running(
        work / "cluster",
        workers=args.workers,
        worker_memory=args.worker_memory,
        port=args.port,
        webui_port=args.webui_port,
    ) as state:
        print(f"cluster {state['master_url']} pids {state['pids']} logs under {work / 'cluster'}")
        cmd = submit_command(state, args.job, job_args)
        print("submitting from", submit_dir, ":\n  " + " ".join(cmd))
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=submit_dir, env=clean_env(**extra))
        seconds = time.perf_counter() - started
    print(f"{'wall time (spark-submit)':<28} {seconds:.1f} s, exit code {proc.returncode}")
    runs = Path(data_root.removeprefix("file://")) / "runs"
    manifests = sorted(runs.glob(f"*-{args.job}-*/manifest.json"), key=lambda p: p.stat().st_mtime)
    if manifests:
        manifest = json.loads(manifests[-1].read_text())
        print(f"{'run manifest':<28} {manifests[-1]}")
        print("\n".join(stage_processes(manifest)))
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("start", "run"):
        sp = sub.add_parser(name)
        sp.add_argument("--workers", type=int, default=2)
        sp.add_argument("--worker-memory", default="3g")
        sp.add_argument("--port", type=int, default=int(os.environ.get("SMSPARK_MASTER_PORT", 7077)))
        sp.add_argument("--webui-port", type=int, default=int(os.environ.get("SMSPARK_MASTER_WEBUI_PORT", 8080)))
        if name == "start":
            sp.add_argument("--dir", type=Path, required=True)
    sp = sub.add_parser("stop")
    sp.add_argument("--dir", type=Path, required=True)
    rp = sub.choices["run"]
    rp.add_argument("--job", default="nightly")
    rp.add_argument("--date", default=None)
    rp.add_argument("--data-root", default=None, help="default: file://<repo>/data/cluster")
    rp.add_argument("--landing", default=None, help="default: <repo>/data/landing (with the default data root)")
    rp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    rp.add_argument("--no-pack", action="store_true", help="use dist/ as it is")
    rp.add_argument("--keep", action="store_true", help="keep the cluster's logs and work directories")
    rp.add_argument("job_args", nargs="*", help="arguments after -- go to the job")
    args = p.parse_args(argv)
    if args.command == "start":
        state = start(args.dir, args.workers, args.worker_memory, args.port, args.webui_port)
        print(json.dumps(state, indent=2))
        return 0
    if args.command == "stop":
        print("stopped", stop(args.dir))
        return 0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())

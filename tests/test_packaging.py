"""The packaged smspark: the wheel installed (not editable) in the fresh venv ``make pack`` builds with the exact
pins, its console script, a job on a small landing folder with a packaged profile by name, the declared
dependencies (every imported library; pyspark and Petastorm only as extras), and the packed archive."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tarfile
from itertools import islice
from pathlib import Path

import pytest

from smspark.config import PROJECT_ROOT
from tests.conftest import require_landing

DIST = PROJECT_ROOT / "dist"
PACK_VENV = DIST / "pack-venv"
ARCHIVE = DIST / "smspark-env.tar.gz"
#: import name -> distribution, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "yaml": "PyYAML", "PIL": "Pillow", "tf_keras": "tf-keras"}


@pytest.fixture(scope="module")
def packed() -> Path:
    """``make pack``'s output (built here when missing or stale; quick when up to date)."""
    if os.environ.get("SMSPARK_SKIP_PACK") != "1":
        proc = subprocess.run(["bash", "scripts/pack.sh"], cwd=PROJECT_ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if not (PACK_VENV / "bin" / "smspark").exists():
        pytest.fail("dist/pack-venv is missing: run `make pack`")
    return PACK_VENV


def _run(venv: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYSPARK_PYTHON")}
    clean.update(env, PYSPARK_PYTHON=str(venv / "bin" / "python"), PYSPARK_DRIVER_PYTHON=str(venv / "bin" / "python"))
    return subprocess.run(list(args), cwd=cwd, env=clean, capture_output=True, text=True, timeout=1800)


def test_wheel_installed_not_editable_and_the_profiles_travel_inside(packed: Path, tmp_path: Path) -> None:
    code = (
        "import json, importlib.metadata as md, smspark; from smspark.config import load_config; "
        "print(json.dumps({'file': smspark.__file__, 'direct': md.distribution('smspark').read_text('direct_url.json'),"
        " 'profile': load_config('cluster').profile, 'root': load_config('databricks').layout.root}))"
    )
    proc = _run(packed, str(packed / "bin" / "python"), "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(str(packed)) and "site-packages" in info["file"]
    assert not json.loads(info["direct"] or "{}").get("dir_info", {}).get("editable", False)
    assert info["profile"] == "cluster" and info["root"] == "dbfs:/smspark"


def test_console_script_and_ingest_with_the_local_profile(packed: Path, tmp_path: Path) -> None:
    smspark = str(packed / "bin" / "smspark")
    helped = _run(packed, smspark, "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "nightly" in helped.stdout and "--conf local|cluster|databricks" in helped.stdout
    landing = tmp_path / "data" / "landing" / "posts" / "sample"
    landing.mkdir(parents=True)
    with require_landing("posts", "labelled_tweets", "posts.jsonl").open() as src:
        (landing / "p.jsonl").write_text("".join(islice(src, 300)))
    proc = _run(
        packed, smspark, "ingest", "--conf", "local", "--date", "2026-11-21",
        "--set", "spark.master=local[1]", "--set", "spark.conf.spark.driver.memory=1g", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bronze/posts" in proc.stdout
    (manifest,) = (tmp_path / "data" / "runs").glob("*-ingest-*/manifest.json")
    record = json.loads(manifest.read_text())
    assert record["stages"]["ingest.posts"]["counts"] == {
        "rows_in": 300, "rows_out": 300, "quarantined": 0, "duplicates_dropped": 0, "reconciled": True,
    }  # fmt: skip
    workers = record["stages"]["ingest.posts"]["processes"]["executors"]
    assert workers and all(w["smspark"].startswith(str(packed)) for w in workers)


def _imported_top_level() -> set[str]:
    names: set[str] = set()
    for path in (PROJECT_ROOT / "smspark").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"smspark", "__future__"}


def test_every_imported_library_is_declared_and_pyspark_is_an_extra(packed: Path) -> None:
    code = (
        "import json, importlib.metadata as md; print(json.dumps(md.distribution('smspark').metadata"
        ".get_all('Requires-Dist')))"
    )
    proc = _run(packed, str(packed / "bin" / "python"), "-I", "-c", code, cwd=PROJECT_ROOT)  # -I: not the checkout
    assert proc.returncode == 0, proc.stderr[-2000:]
    requires = json.loads(proc.stdout)
    core = {r.split(";")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() for r in requires if ";" not in r}
    extras = {r.split(";")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() for r in requires if ";" in r}
    assert "pyspark" not in core and "petastorm" not in core and {"pyspark", "petastorm"} <= extras
    assert not {"pytest", "ruff"} & core
    for name in sorted(_imported_top_level()):
        dist = DISTRIBUTION.get(name, name).lower()
        assert dist in core | extras, f"{name} is imported but {dist} is not declared"


def test_archive_holds_the_stack_and_smspark_but_not_pyspark(packed: Path) -> None:
    assert ARCHIVE.exists() and ARCHIVE.stat().st_size > 50 * 2**20
    with tarfile.open(ARCHIVE) as tar:
        names = tar.getnames()
    site = "lib/python3.11/site-packages/"
    for package in ("smspark/__init__.py", "smspark/conf/cluster.yaml", "horovod/__init__.py", "petastorm/__init__.py"):
        assert site + package in names, package
    assert not any(n.startswith(site + "pyspark/") for n in names)
    assert "bin/python" in names and "bin/activate" in names

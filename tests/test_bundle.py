"""The Databricks Asset Bundle: every job loads through ``databricks-bundles`` (which rejects unknown fields), each
wheel task's entry point exists in the built wheel, each notebook task's parameters are that notebook's widgets,
and the nightly runs on a UTC schedule with the run date in UTC."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from configparser import ConfigParser
from pathlib import Path

import pytest
import yaml

from smspark.config import PROJECT_ROOT

RESOURCES = sorted((PROJECT_ROOT / "resources").glob("*.yml"))


def _jobs() -> dict[str, dict]:
    jobs: dict[str, dict] = {}
    for path in RESOURCES:
        jobs.update(yaml.safe_load(path.read_text())["resources"]["jobs"])
    return jobs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(out), "."]
    subprocess.run(cmd, cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=600)
    (found,) = out.glob("smspark-*.whl")
    return found


def test_bundle_includes_the_resources_and_builds_the_wheel() -> None:
    bundle = yaml.safe_load((PROJECT_ROOT / "databricks.yml").read_text())
    assert bundle["bundle"]["name"] == "smspark" and bundle["include"] == ["resources/*.yml"]
    assert bundle["artifacts"]["smspark_wheel"]["type"] == "whl"
    assert RESOURCES and set(_jobs()) == {"smspark_nightly", "smspark_nightly_notebook", "smspark_train_notebooks"}
    used = {m for path in RESOURCES for m in re.findall(r"\$\{var\.(\w+)\}", path.read_text())}
    assert used <= set(bundle["variables"]), used - set(bundle["variables"])


def test_every_job_loads_through_databricks_bundles() -> None:
    from databricks.bundles.jobs import Job

    for name, spec in _jobs().items():
        job = Job.from_dict(spec)
        assert job.as_dict()["name"] == spec["name"], name
    with pytest.raises(ValueError, match="Unexpected field"):
        Job.from_dict({**_jobs()["smspark_nightly"], "not_a_job_field": 1})


def test_wheel_tasks_entry_points_exist_in_the_built_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (ep_file,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = ConfigParser()
        entry_points.read_string(whl.read(ep_file).decode())
        assert "smspark/conf/databricks.yaml" in names and "smspark/conf/base.yaml" in names
        from smspark.cli import COMMANDS

        tasks = [t for job in _jobs().values() for t in job["tasks"] if "python_wheel_task" in t]
        assert len(tasks) >= 5
        for task in tasks:
            wt = task["python_wheel_task"]
            assert wt["package_name"] == "smspark"
            target = entry_points["console_scripts"][wt["entry_point"]]
            module, func = target.split(":")
            source = whl.read(module.replace(".", "/") + ".py").decode()
            assert re.search(rf"^def {func}\(", source, re.M), target
            command = wt["parameters"][0]
            assert command in COMMANDS and COMMANDS[command][0].replace(".", "/") + ".py" in names
            params = wt["parameters"]
            assert params[params.index("--conf") + 1] == "databricks"
            assert params[params.index("--date") + 1] == "{{job.start_time.iso_date}}"  # UTC date of the run
            assert any(lib.get("whl") == "../dist/*.whl" for lib in task["libraries"])
            assert any("horovod_wheel" in str(lib.get("whl")) for lib in task["libraries"])


def test_nightly_schedule_is_utc_and_orders_the_stages() -> None:
    nightly = _jobs()["smspark_nightly"]
    assert nightly["schedule"]["timezone_id"] == "UTC"
    keys = [t["task_key"] for t in nightly["tasks"]]
    assert keys[:4] == ["purge", "ingest", "etl", "features"] and keys[-3:] == ["score", "analytics", "report"]
    assert {"train_topics", "train_sentiment"} <= set(keys)
    for task in nightly["tasks"][1:]:
        assert task["depends_on"], task["task_key"]
    cluster = nightly["job_clusters"][0]["new_cluster"]
    assert "-ml-" in cluster["spark_version"] or "var.spark_version" in cluster["spark_version"]
    assert cluster["spark_env_vars"]["SMSPARK_PSEUDONYM_KEY"].startswith("{{secrets/")


def test_notebook_tasks_pass_exactly_the_notebooks_widgets() -> None:
    for job in _jobs().values():
        for task in job["tasks"]:
            if "notebook_task" not in task:
                continue
            nb = task["notebook_task"]
            source = (PROJECT_ROOT / "resources" / nb["notebook_path"]).resolve()
            text = source.read_text()
            assert text.startswith("# Databricks notebook source")
            widgets = set(re.findall(r'dbutils\.widgets\.\w+\("(\w+)"', text))
            assert set(nb["base_parameters"]) == widgets, source.name
            assert '"--conf",\n    "databricks"' in text or '"databricks",' in text
            assert "dt.date.today()" not in text  # the run date is UTC, as the CLI's

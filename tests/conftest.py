"""Shared fixtures: one session-scoped local[2] SparkSession for the whole suite, and configs on a temp data root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from smspark import storage
from smspark.config import PROJECT_ROOT, Settings, load_config

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

#: The real sample data written by `smspark fetch-samples` (tests slice it; `make test` fetches it first).
LANDING = Path(os.environ.get("SMSPARK_TEST_LANDING", PROJECT_ROOT / "data" / "landing"))


@pytest.fixture(scope="session")
def spark():
    """The suite's one SparkSession: local[2], built by the project's own factory."""
    from smspark.session import get_session

    cfg = load_config(
        None,
        ["spark.master=local[2]", "spark.conf.spark.sql.shuffle.partitions=4", "spark.conf.spark.driver.memory=4g"],
    )
    session = get_session(cfg)
    yield session
    session.stop()


@pytest.fixture
def make_cfg(tmp_path: Path):
    """``make_cfg(*overrides)`` -> Settings on a fresh data root under ``tmp_path`` (local profile)."""

    def _make(*overrides: str) -> Settings:
        return load_config(None, [f"data.root={tmp_path / 'data'}", "spark.master=local[2]", *overrides])

    return _make


def local(uri: str) -> Path:
    """The local path of a ``file://`` layout URI (test roots are local)."""
    path = storage.local_path(uri)
    assert path is not None, f"not a local URI: {uri}"
    return Path(path)


def require_landing(*parts: str) -> Path:
    """Path of a landing sample file; skip loudly when the samples were not fetched."""
    path = LANDING.joinpath(*parts)
    if not path.exists():
        message = f"sample data missing: {path} (run `smspark fetch-samples`)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI fetches the samples first: missing data there is a failure, not a skip
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def posts_nightly(spark, tmp_path_factory):
    """The posts pipeline's data root with a sentiment champion, built once per session (see
    :mod:`tests.pipeline_roots`): (root as a local path, nightly args, nightly manifest, landing lines)."""
    from tests.pipeline_roots import build_posts_nightly

    return build_posts_nightly(tmp_path_factory)

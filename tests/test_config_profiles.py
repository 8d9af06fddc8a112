"""Profiles by name from the package, a profile file by path, data roots as URIs, Unity Catalog model names."""

from __future__ import annotations

from pathlib import Path

import pytest

from smspark.config import ConfigError, load_config, profile_names
from smspark.jobs.common import base_parser


def test_packaged_profiles_load_by_name_and_a_file_by_path(tmp_path: Path) -> None:
    assert profile_names() == ["cluster", "databricks", "local"]
    assert load_config(None).profile == "local" and load_config("local").spark.master == "local[*]"
    cluster = load_config("cluster")
    assert cluster.profile == "cluster" and cluster.spark.master is None and cluster.models.sentiment.seq_len == 64
    own = tmp_path / "mine.yaml"
    own.write_text("profile: mine\ntrain:\n  num_proc: 3\n")
    cfg = load_config(str(own))
    assert cfg.profile == "mine" and cfg.train.num_proc == 3 and cfg.scoring.batch_size == 1024  # over base.yaml
    with pytest.raises(ConfigError, match=r"neither a packaged profile \(cluster, databricks, local\) nor a YAML"):
        load_config("conf/local.yaml")
    assert base_parser("smspark x", "").parse_args(["--conf", "cluster"]).conf == "cluster"


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("dbfs:/smspark", "dbfs:/smspark/silver"),
        ("/dbfs/smspark", "dbfs:/smspark/silver"),
        ("/Volumes/main/smspark/data/smspark", "/Volumes/main/smspark/data/smspark/silver"),
        ("s3a://bucket/smspark/", "s3a://bucket/smspark/silver"),
        ("abfss://c@acct.dfs.core.windows.net/smspark", "abfss://c@acct.dfs.core.windows.net/smspark/silver"),
        ("gs://bucket/smspark", "gs://bucket/smspark/silver"),
        ("hdfs:///user/smspark", "hdfs:///user/smspark/silver"),
    ],
)
def test_layout_is_uris_under_any_root(root: str, expected: str) -> None:
    cfg = load_config("databricks", [f"data.root={root}"])
    assert cfg.layout.silver == expected


def test_databricks_profile_writes_to_dbfs_and_names_models_in_unity_catalog() -> None:
    cfg = load_config("databricks")
    assert cfg.layout.root == "dbfs:/smspark" and cfg.layout.runs == "dbfs:/smspark/runs"
    assert cfg.mlflow.registry_uri == "databricks-uc" and cfg.tracking_uri() == "databricks"
    assert cfg.mlflow.registered_model_name("sentiment") == "main.smspark.smspark_sentiment"
    legacy = load_config("databricks", ["mlflow.registry_catalog=null", "mlflow.registry_schema=null"])
    assert legacy.mlflow.registered_model_name("sentiment") == "smspark_sentiment"
    with pytest.raises(ConfigError, match="registry_catalog and mlflow.registry_schema"):
        load_config("databricks", ["mlflow.registry_schema=null"])


def test_remote_root_needs_a_tracking_server_and_landing_can_live_elsewhere(tmp_path: Path) -> None:
    cfg = load_config("cluster", ["data.root=s3a://bucket/smspark", f"data.landing={tmp_path / 'drop'}"])
    assert cfg.layout.bronze == "s3a://bucket/smspark/bronze"
    assert cfg.layout.landing == f"file://{tmp_path}/drop"
    with pytest.raises(ConfigError, match="set mlflow.tracking_uri"):
        cfg.tracking_uri()
    with pytest.raises(ConfigError, match="unsupported storage scheme 'ftp'"):
        load_config(None, ["data.root=ftp://host/x"])


def test_registered_names_follow_the_configured_registry(tmp_path: Path) -> None:
    from smspark.train import registry

    uc = load_config(None, [f"data.root={tmp_path}", "mlflow.registry_catalog=main", "mlflow.registry_schema=social"])
    try:
        registry.configure(uc)
        assert registry.registered_name("sentiment") == "main.social.smspark_sentiment"
    finally:
        registry.configure(load_config(None, [f"data.root={tmp_path}"]))
    assert registry.registered_name("sentiment") == "smspark_sentiment"


def test_spark_conf_overrides_keep_dotted_option_names() -> None:
    cfg = load_config(
        None,
        [
            "spark.conf.spark.driver.memory=4g",
            "spark.conf.spark.sql.shuffle.partitions=8",
            "spark.app_name=smspark-test",
            "models.topics.k_values=[4,6]",
        ],
    )
    assert cfg.spark.conf["spark.driver.memory"] == "4g"
    assert cfg.spark.conf["spark.sql.shuffle.partitions"] == "8"  # typed by YAML, passed to Spark as a string
    assert not any(k == "spark" or isinstance(v, dict) for k, v in cfg.spark.conf.items())
    assert cfg.spark.app_name == "smspark-test" and cfg.models.topics.k_values == [4, 6]
    with pytest.raises(ConfigError, match="empty key part"):
        load_config(None, ["spark..master=local[1]"])

"""The one SparkSession factory: builder options come from config (``spark.*``), nothing else.

On a cluster or Databricks an active session already exists (spark-submit / the notebook made it);
``get_session`` returns it and only applies runtime SQL options. Locally it builds an embedded
``local[*]`` session with the profile's options.
"""

from __future__ import annotations

import logging
import os
import sys

from pyspark.sql import SparkSession

from smspark.config import Settings

log = logging.getLogger(__name__)


def get_session(cfg: Settings) -> SparkSession:
    """Return the active SparkSession or build one from ``cfg.spark``.

    Python workers use this interpreter (``PYSPARK_PYTHON``) and get ``TF_USE_LEGACY_KERAS=1`` so that
    TensorFlow inside pandas UDFs and Horovod tasks runs tf_keras.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in cfg.spark.conf.items():
            if key.startswith("spark.sql."):
                active.conf.set(key, value)
        _quiet_hidden_path_warning(active)
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(cfg.spark.app_name)
    if cfg.spark.master:
        builder = builder.master(cfg.spark.master)
    builder = builder.config("spark.executorEnv.TF_USE_LEGACY_KERAS", "1")
    for key, value in cfg.spark.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _quiet_hidden_path_warning(spark)
    log.info("Spark %s session '%s' on %s", spark.version, cfg.spark.app_name, spark.sparkContext.master)
    return spark


#: JVM loggers set to ERROR: warnings the pipeline handles or that say nothing on this kind of input.
QUIET_LOGGERS = (
    # committed tables are read through hidden version directories (see below)
    "org.apache.spark.sql.execution.datasources.DataSource",
    # MLlib's online LDA checks the storage level of an RDD it derives itself from the (persisted) DataFrame
    "org.apache.spark.mllib.clustering.OnlineLDAOptimizer",
    # "Broadcasting large task binary": MLlib's TF-IDF baselines ship their vocabulary with every task, by design
    "org.apache.spark.scheduler.DAGScheduler",
)


def _quiet_hidden_path_warning(spark: SparkSession) -> None:
    """Committed tables are read by naming their hidden version directories (``dt=.../.v-<txn>``, see
    :mod:`smspark.tables`); Spark reads them but logs "All paths were ignored" for every such read, because the
    names start with ``.``. That logger (``DataSource``) and the others of :data:`QUIET_LOGGERS` are set to ERROR;
    without a JVM gateway (Spark Connect) nothing is changed."""
    try:
        jvm = spark.sparkContext._jvm
        for logger in QUIET_LOGGERS:
            jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
                logger, jvm.org.apache.logging.log4j.Level.ERROR
            )
    except Exception as exc:  # no JVM access (Spark Connect, serverless): the warning stays
        log.debug("could not lower the log level of %s: %s", QUIET_LOGGERS, exc)

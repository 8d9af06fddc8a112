# Databricks notebook source
# MAGIC %md
# MAGIC # smspark nightly
# MAGIC ingest -> etl -> features -> train (when no champion, or with retrain) -> score -> analytics -> report,
# MAGIC on the notebook's cluster.
# MAGIC The widgets map to the same config keys as the CLI (`smspark nightly --date ... --set key=value`).
# MAGIC Needs the smspark wheel on the cluster (with Horovod built for its runtime) and a secret holding the
# MAGIC pseudonymisation key.

# COMMAND ----------

dbutils.widgets.text("date", "", "Run date (YYYY-MM-DD, empty = today in UTC)")  # noqa: F821
dbutils.widgets.text("data_root", "dbfs:/smspark", "data.root (dbfs:/... or /Volumes/...)")  # noqa: F821
dbutils.widgets.text("num_proc", "2", "train.num_proc")  # noqa: F821
dbutils.widgets.dropdown("retrain", "false", ["false", "true"], "Retrain even if a champion exists")  # noqa: F821
dbutils.widgets.text("secret_scope", "smspark", "Secret scope of the pseudonymisation key")  # noqa: F821
dbutils.widgets.text("registry_catalog", "main", "mlflow.registry_catalog (Unity Catalog)")  # noqa: F821
dbutils.widgets.text("registry_schema", "smspark", "mlflow.registry_schema (Unity Catalog)")  # noqa: F821

# COMMAND ----------

import datetime as dt
import os

os.environ["SMSPARK_PSEUDONYM_KEY"] = dbutils.secrets.get(dbutils.widgets.get("secret_scope"), "pseudonym-key")  # noqa: F821
run_date = dbutils.widgets.get("date") or dt.datetime.now(dt.UTC).date().isoformat()  # noqa: F821  (UTC, as the CLI)
argv = [
    "--conf",
    "databricks",
    "--date",
    run_date,
    "--set",
    f"data.root={dbutils.widgets.get('data_root')}",  # noqa: F821
    "--set",
    f"train.num_proc={dbutils.widgets.get('num_proc')}",  # noqa: F821
    "--set",
    f"mlflow.registry_catalog={dbutils.widgets.get('registry_catalog')}",  # noqa: F821
    "--set",
    f"mlflow.registry_schema={dbutils.widgets.get('registry_schema')}",  # noqa: F821
]
if dbutils.widgets.get("retrain") == "true":  # noqa: F821
    argv.append("--retrain")

# COMMAND ----------

from smspark.jobs import nightly

exit_code = nightly.main(argv)
assert exit_code == 0, f"nightly failed with exit code {exit_code}; see the run manifest printed above"

# Databricks notebook source
# MAGIC %md
# MAGIC # Train the sentiment CNN
# MAGIC Kim (2014) CNN with Horovod through Petastorm on `features/sentiment`, next to TF-IDF + LogisticRegression;
# MAGIC both land in the workspace's MLflow; the new version becomes `champion` only if it wins on test macro-F1.

# COMMAND ----------

dbutils.widgets.text("data_root", "dbfs:/smspark", "data.root (dbfs:/... or /Volumes/...)")  # noqa: F821
dbutils.widgets.text("num_proc", "2", "Horovod workers")  # noqa: F821
dbutils.widgets.text("epochs", "4", "models.sentiment.epochs")  # noqa: F821
dbutils.widgets.text("registry_catalog", "main", "mlflow.registry_catalog (Unity Catalog)")  # noqa: F821
dbutils.widgets.text("registry_schema", "smspark", "mlflow.registry_schema (Unity Catalog)")  # noqa: F821

# COMMAND ----------

from smspark.jobs import train

exit_code = train.main(
    [
        "--conf",
        "databricks",
        "--model",
        "sentiment",
        "--num-proc",
        dbutils.widgets.get("num_proc"),  # noqa: F821
        "--set",
        f"data.root={dbutils.widgets.get('data_root')}",  # noqa: F821
        "--set",
        f"models.sentiment.epochs={dbutils.widgets.get('epochs')}",  # noqa: F821
        "--set",
        f"mlflow.registry_catalog={dbutils.widgets.get('registry_catalog')}",  # noqa: F821
        "--set",
        f"mlflow.registry_schema={dbutils.widgets.get('registry_schema')}",  # noqa: F821
    ]
)
assert exit_code == 0, f"training failed with exit code {exit_code}"

# Databricks notebook source
# MAGIC %md
# MAGIC # Train the image classifier and the conditional GAN
# MAGIC The CNN on `features/image` (Fashion-MNIST by default, or any source under `landing/images`) with Horovod
# MAGIC through Petastorm, next to LogisticRegression on the pixels; then the class-conditional DCGAN, evaluated
# MAGIC with the CNN's features (Frechet distance next to its real-vs-real floor). Both land in the workspace's MLflow.

# COMMAND ----------

from smspark.jobs import features, train

dbutils.widgets.text("data_root", "dbfs:/smspark", "data.root (dbfs:/... or /Volumes/...)")  # noqa: F821
dbutils.widgets.text("num_proc", "2", "Horovod workers")  # noqa: F821
dbutils.widgets.text("dataset", "fashion_mnist", "models.image.dataset")  # noqa: F821
dbutils.widgets.text("image_epochs", "3", "models.image.epochs")  # noqa: F821
dbutils.widgets.text("gan_epochs", "5", "models.gan.epochs")  # noqa: F821
dbutils.widgets.text("registry_catalog", "main", "mlflow.registry_catalog (Unity Catalog)")  # noqa: F821
dbutils.widgets.text("registry_schema", "smspark", "mlflow.registry_schema (Unity Catalog)")  # noqa: F821

# COMMAND ----------

sets = [
    "--set",
    f"data.root={dbutils.widgets.get('data_root')}",  # noqa: F821
    "--set",
    f"models.image.dataset={dbutils.widgets.get('dataset')}",  # noqa: F821
    "--set",
    f"models.image.epochs={dbutils.widgets.get('image_epochs')}",  # noqa: F821
    "--set",
    f"models.gan.epochs={dbutils.widgets.get('gan_epochs')}",  # noqa: F821
    "--set",
    f"mlflow.registry_catalog={dbutils.widgets.get('registry_catalog')}",  # noqa: F821
    "--set",
    f"mlflow.registry_schema={dbutils.widgets.get('registry_schema')}",  # noqa: F821
]
assert features.main(["--conf", "databricks", "--models", "image", *sets]) == 0, "features failed"
for model in ("image", "gan"):
    code = train.main(
        [
            "--conf",
            "databricks",
            "--model",
            model,
            "--num-proc",
            dbutils.widgets.get("num_proc"),  # noqa: F821
            *sets,
        ]
    )
    assert code == 0, f"training {model} failed with exit code {code}"

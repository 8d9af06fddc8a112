"""Retention of raw records: ``smspark purge`` drops old bronze and quarantine partitions, nothing else."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from smspark import storage, tables
from smspark.jobs import purge
from smspark.jobs.io import write_table

DAY = dt.date(2026, 3, 31)


def test_purge_drops_only_partitions_past_retention(spark, make_cfg):
    cfg = make_cfg("retention.raw_days=30")
    dates = [dt.date(2026, 1, 1), dt.date(2026, 3, 1), dt.date(2026, 3, 30)]
    raw = spark.createDataFrame(
        [(f"@handle{i}", d) for i, d in enumerate(dates) for _ in range(i + 1)], "raw string, ingest_date date"
    )
    bronze, quarantine = storage.join(cfg.layout.bronze, "posts"), storage.join(cfg.layout.quarantine, "posts")
    silver = storage.join(cfg.layout.silver, "posts")
    write_table(raw, bronze, "ingest_date")
    write_table(raw.withColumn("stage", F.lit("ingest")), quarantine, "stage", "ingest_date")
    write_table(raw.withColumn("dt", F.col("ingest_date")), silver, "dt")
    args = ["--date", DAY.isoformat(), "--set", f"data.root={cfg.data.root}", "--set", "spark.master=local[2]"]
    assert purge.main(args + ["--set", "retention.raw_days=30"]) == 0
    for uri in (bronze, quarantine):
        assert tables.partition_values(uri, "ingest_date") == ["2026-03-01", "2026-03-30"]
        assert tables.read(spark, uri).count() == 5
    assert tables.read(spark, silver).count() == 6  # silver is never purged
    manifest = storage.read_json(max(storage.glob(cfg.layout.runs, "*-purge-*/manifest.json")))
    rec = manifest["stages"]["purge"]
    assert rec["cutoff"] == "2026-03-01" and rec["counts"]["rows_purged"] == 2  # one row in each of the two tables
    assert purge.main(args + ["--older-than", "1"]) == 0
    assert tables.partition_values(bronze, "ingest_date") == ["2026-03-30"]


def test_purge_needs_a_retention(make_cfg):
    cfg = make_cfg()
    assert cfg.retention.raw_days is None
    assert purge.main(["--date", DAY.isoformat(), "--set", f"data.root={cfg.data.root}"]) == 2

"""Messages (e-mail, the spam model's data): the ingest and etl steps.

- ingest: ``landing/messages/<source>/*.jsonl`` -> ``bronze/messages`` (partition ``ingest_date``)
- etl: ``bronze/messages`` -> ``silver/messages`` (partition ``dt``, key ``message_id`` within ``source``): MIME
  decoding in a pandas UDF (:mod:`smspark.etl.messages`), sender pseudonymised, mails without decodable text
  quarantined with the reason, duplicate ids and bodies dropped and counted
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.etl.messages import decode_messages, dedupe_messages, parse_messages
from smspark.jobs.common import JobContext, UserError
from smspark.jobs.io import read_parquet, read_table, write_partitions, write_quarantine, write_table
from smspark.manifest import reconcile
from smspark.schemas import BRONZE_MESSAGES


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Landing JSON lines of mails -> ``bronze/messages``; reconciles ``lines = bronze rows + quarantined``."""
    src = storage.join(ctx.layout.landing, "messages")
    files = storage.glob(src, "**/*.jsonl") + storage.glob(src, "**/*.json")
    if not files:
        raise UserError(f"no JSON-lines messages under {src}: run `smspark fetch-samples` or copy an export there")
    lines = ctx.spark.read.text([storage.spark_path(f) for f in files]).select(
        "value", F.col("_metadata.file_path").alias("source_file")
    )
    lines = lines.persist()
    n_in = lines.count()
    bronze, quarantine = parse_messages(lines, ctx.run_date)
    out = storage.join(ctx.layout.bronze, "messages")
    write_partitions(bronze, out, "ingest_date")
    n_q = write_quarantine(quarantine, ctx.layout, "messages", "ingest", ctx.run_date)
    n_out = read_parquet(ctx.spark, out).where(F.col("ingest_date") == F.lit(ctx.run_date)).count()
    lines.unpersist()
    ctx.output("bronze/messages", out)
    return {
        "inputs": {"landing": src, "files": len(files)},
        "outputs": {"bronze": out, "quarantine": storage.join(ctx.layout.quarantine, "messages")},
        "counts": reconcile(n_in, n_out, quarantined=n_q),
    }


def etl(ctx: JobContext) -> dict[str, Any]:
    """``bronze/messages`` -> ``silver/messages``, recomputed in full so de-duplication spans every ingest;
    reconciles ``bronze rows = silver + quarantined + duplicates`` and records quarantine and duplicates by reason
    and silver rows by label."""
    key = ctx.cfg.pseudonym_key()
    src = storage.join(ctx.layout.bronze, "messages")
    bronze = read_table(ctx.spark, src, BRONZE_MESSAGES, "run `smspark ingest` first")
    decoded = decode_messages(bronze, key).persist()  # the UDF runs once for the three outputs below
    n_in = decoded.count()
    silver, quarantine, dups = dedupe_messages(decoded)
    out = storage.join(ctx.layout.silver, "messages")
    write_table(silver.repartition(F.col("dt")), out, "dt")
    n_q = write_quarantine(quarantine, ctx.layout, "messages", "etl")
    q_reasons = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    dup_counts = {r["reason"]: r["count"] for r in dups.groupBy("reason").count().collect()}
    written = read_parquet(ctx.spark, out)
    labels = {str(r["label"]): r["count"] for r in written.groupBy("label").count().collect()}
    n_out = sum(labels.values())
    decoded.unpersist()
    ctx.output("silver/messages", out)
    return {
        "inputs": {"bronze": src},
        "outputs": {"silver": out, "quarantine": storage.join(ctx.layout.quarantine, "messages")},
        "counts": {
            **reconcile(n_in, n_out, n_q, sum(dup_counts.values())),
            "quarantined_by_reason": q_reasons,
            "duplicates_by_reason": dup_counts,
            "labels": labels,
        },
    }

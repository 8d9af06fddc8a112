"""Messages (e-mail, the spam model's data): the ingest and etl steps.

- ingest: ``landing/messages/<source>/*.jsonl`` -> ``bronze/messages`` (partition ``ingest_date``)
- etl: ``bronze/messages`` -> ``silver/messages`` (partition ``dt``, key ``message_id`` within ``source``): MIME
  decoding in a pandas UDF (:mod:`smspark.etl.messages`), sender pseudonymised, mails without decodable text
  quarantined with the reason, duplicate ids and bodies dropped and counted; skipped when bronze brought nothing new
  (no new date, or one re-delivering the latest)
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import functions as F

from smspark import storage
from smspark.etl.messages import decode_messages, dedupe_messages, parse_messages
from smspark.etl.pseudonymise import pseudonym
from smspark.jobs.common import JobContext
from smspark.jobs.io import read_parquet, read_table, write_quarantine, write_table
from smspark.jobs.recompute import build_meta, skip_recompute
from smspark.jobs.steps import ingest_json_lines
from smspark.manifest import reconcile
from smspark.schemas import BRONZE_MESSAGES

log = logging.getLogger(__name__)


def ingest(ctx: JobContext) -> dict[str, Any]:
    """Landing JSON lines of mails -> ``bronze/messages``; reconciles ``lines = bronze rows + quarantined``."""
    return ingest_json_lines(ctx, "messages", parse_messages)


def etl(ctx: JobContext) -> dict[str, Any]:
    """``bronze/messages`` -> ``silver/messages``, recomputed from every ingest so de-duplication spans them all;
    reconciles ``bronze rows = silver + quarantined + duplicates`` and records quarantine and duplicates by reason
    and silver rows by label.

    The recompute is skipped (:func:`smspark.jobs.recompute.skip_recompute`, record ``mode`` ``unchanged`` or
    ``redelivery``) when no bronze date was added since silver was built, or when the one added date delivers again
    the latest built date's rows (silver keeps the first ingest's date of a message, so it would not change; that
    date's etl rejects are quarantined again under the new date) and the pseudonymisation key is the one silver was
    built with (recorded as the keyed pseudonym of a constant, not the key). Otherwise ``mode`` is ``full`` with
    ``full_reason``.
    """
    src = storage.join(ctx.layout.bronze, "messages")
    out = storage.join(ctx.layout.silver, "messages")
    bronze = read_table(ctx.spark, src, BRONZE_MESSAGES, "run `smspark ingest` first")
    ctx.output("silver/messages", out)
    key = ctx.cfg.pseudonym_key()
    settings = {"key_check": pseudonym("silver/messages", key)}  # another key pseudonymises otherwise: recompute
    record, reason, parts = skip_recompute(ctx, "messages", src, BRONZE_MESSAGES, out, settings)
    if record is not None:
        return record
    log.info("silver/messages: full recompute (%s)", reason)
    decoded = decode_messages(bronze, key).persist()  # the UDF runs once for the three outputs below
    n_in = decoded.count()
    silver, quarantine, dups = dedupe_messages(decoded)
    write_table(silver.repartition(F.col("dt")), out, "dt", meta=build_meta(parts, settings))
    n_q = write_quarantine(quarantine, ctx.layout, "messages", "etl")
    q_reasons = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    dup_counts = {r["reason"]: r["count"] for r in dups.groupBy("reason").count().collect()}
    written = read_parquet(ctx.spark, out)
    labels = {str(r["label"]): r["count"] for r in written.groupBy("label").count().collect()}
    n_out = sum(labels.values())
    decoded.unpersist()
    return {
        "inputs": {"bronze": src, "ingest_dates": sorted(parts)},
        "outputs": {"silver": out, "quarantine": storage.join(ctx.layout.quarantine, "messages")},
        "mode": "full",
        "full_reason": reason,
        "counts": {
            **reconcile(n_in, n_out, n_q, sum(dup_counts.values())),
            "quarantined_by_reason": q_reasons,
            "duplicates_by_reason": dup_counts,
            "labels": labels,
        },
    }

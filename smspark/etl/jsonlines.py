"""Landing JSON lines (posts, messages): parse every line against an explicit schema, reject with a reason.

Pure DataFrame functions shared by the ingest of every JSON-lines table: :func:`parse_json_lines` (the parsed object
as column ``j``), :func:`line_checks` (the checks every line needs), :func:`first_reason` (the first failing check
names the reason), :func:`rejected_lines` (quarantine rows), :func:`source_of` (the export a file belongs to),
:func:`conform` (select and cast to a schema); a table's parser returns a
:class:`smspark.etl.parsed.ParsedLines`.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from smspark.schemas import QUARANTINE

#: Field of ``j`` holding a line Spark could not parse as the schema's JSON object.
CORRUPT = "_corrupt_record"
#: The UTF-8 byte-order mark some editors write at the start of a file; not part of the first record.
BOM = "\ufeff"


def source_of(path: Column) -> Column:
    """The export a landing file belongs to: its parent folder (``landing/<table>/<source>/part.jsonl``)."""
    return F.element_at(F.split(path, "/"), -2)


def first_reason(*checks: tuple[Column, str]) -> Column:
    """The reason of the first true check (``(condition, reason)`` pairs, in order), else null."""
    expr = F.lit(None).cast("string")
    for cond, reason in reversed(checks):
        expr = F.when(cond, F.lit(reason)).otherwise(expr)
    return expr


def parse_json_lines(lines: DataFrame, schema: StructType) -> DataFrame:
    """``lines`` (``value``: the raw line, ``source_file``) with ``line`` (the line without a leading byte-order
    mark) and ``j``: ``line`` parsed as a JSON object of ``schema`` (Spark's ``from_json``, permissive: a line that
    does not parse has ``j.`` :data:`CORRUPT` set; control characters such as NUL written raw inside a JSON string
    are accepted, as exporters write them)."""
    parse_schema = StructType([*schema.fields, StructField(CORRUPT, StringType())])
    line = F.regexp_replace(F.col("value"), f"^{BOM}", "")
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT, "allowUnquotedControlChars": "true"}
    return lines.select("value", "source_file", line.alias("line")).withColumn(
        "j", F.from_json("line", parse_schema, options)
    )


def checked_lines(parsed: DataFrame, reason: Column) -> DataFrame:
    """The output of :func:`parse_json_lines` with ``reason`` (:func:`first_reason` of the table's checks) and
    without ``line`` (the raw ``value`` stays for the quarantine): :attr:`smspark.etl.parsed.ParsedLines.checked`."""
    return parsed.withColumn("reason", reason).drop("line")


def line_checks() -> tuple[tuple[Column, str], ...]:
    """The checks every landing line gets first, on the output of :func:`parse_json_lines`: ``not valid UTF-8``,
    ``empty line``, ``malformed JSON``."""
    return (
        (~F.is_valid_utf8(F.col("value")), "not valid UTF-8"),
        (F.trim(F.col("line")) == "", "empty line"),
        (F.col("j").isNull() | F.col(f"j.{CORRUPT}").isNotNull(), "malformed JSON"),
    )


def rejected_lines(parsed: DataFrame, table: str, ingest_date: dt.date) -> DataFrame:
    """Quarantine rows (:data:`QUARANTINE`, stage ``ingest``) of the lines of ``parsed`` that have a ``reason``: the
    line as read in ``raw`` (invalid bytes as U+FFFD)."""
    return conform(
        parsed.where(F.col("reason").isNotNull()).select(
            F.lit(table).alias("table"),
            F.lit("ingest").alias("stage"),
            "source_file",
            "reason",
            F.make_valid_utf8(F.col("value")).alias("raw"),
            F.current_timestamp().alias("quarantined_at"),
            F.lit(ingest_date).cast("date").alias("ingest_date"),
        ),
        QUARANTINE,
    )


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Select and cast ``df`` to ``schema``'s columns, in order (nullability is the writer's concern)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])

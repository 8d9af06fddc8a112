"""What a landing parser returns (posts and messages JSON lines, MovieLens ratings and items CSV lines)."""

from __future__ import annotations

from typing import NamedTuple

from pyspark.sql import DataFrame


class ParsedLines(NamedTuple):
    """A table's landing lines parsed: ``bronze`` (the valid lines as bronze rows) and ``quarantine`` (the rejected
    lines, :data:`smspark.schemas.QUARANTINE` rows), both derived from ``checked``: every line once, with its parsed
    fields and ``reason`` (string, null for a valid line).

    Persist ``checked`` before using both outputs: Spark pushes the ``reason`` filter below the projection that
    parses, inlining the parse (``from_json``, ``from_csv``) into the filter once per field a check reads
    (interpreted, no common subexpression elimination: about ten parses per line). Spark's cache is matched on the
    plan, so persisting ``checked`` after the outputs were built still makes both read the parsed lines from memory.
    """

    bronze: DataFrame
    quarantine: DataFrame
    checked: DataFrame

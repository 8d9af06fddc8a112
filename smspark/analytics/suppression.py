"""Released aggregates without small groups: the threshold rule of statistical disclosure control (primary cell
suppression; Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, section 5.2): a group of fewer than
``k`` people is not published, so no released figure describes one or a handful of identifiable users.

:func:`suppress_small_groups` flags such groups and blanks their count and measures; :func:`profile_summaries` is
the released summary of ``silver/user_profiles`` (``gold/profile_summaries``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

#: Activity bands of ``n_events`` (ratings or posts): label -> [lowest, highest] (None: no upper bound).
ACTIVITY_BANDS: dict[str, tuple[int, int | None]] = {
    "1-19": (1, 19),
    "20-49": (20, 49),
    "50-99": (50, 99),
    "100-249": (100, 249),
    "250+": (250, None),
}


def suppress_small_groups(df: DataFrame, count_col: str, k: int, measure_cols: Sequence[str] = ()) -> DataFrame:
    """Flag groups whose ``count_col`` is below ``k`` and blank what they would reveal.

    Args:
        df: one row per group with its size in ``count_col`` (integer people, not rows of events).
        count_col: the group-size column.
        k: the smallest group that may be released (>= 1).
        measure_cols: columns describing the group (means, shares), set to null when it is suppressed.

    Returns:
        ``df`` with ``suppressed`` (boolean, non-null) added; in suppressed rows ``count_col`` and ``measure_cols``
        are null, the grouping columns are kept (the group exists, its figures are withheld).

    Raises:
        ValueError: ``k < 1`` or an unknown column.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    unknown = [c for c in (count_col, *measure_cols) if c not in df.columns]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; available: {df.columns}")
    small = F.col(count_col) < F.lit(k)
    out = df.withColumn("suppressed", F.coalesce(small, F.lit(False)))
    for c in (*measure_cols, count_col):
        out = out.withColumn(c, F.when(F.col("suppressed"), F.lit(None)).otherwise(F.col(c)))
    return out


def activity_band(n_events: F.Column) -> F.Column:
    """The :data:`ACTIVITY_BANDS` label of an event count (null for a count below 1)."""
    expr = F.lit(None).cast("string")
    for label, (lo, hi) in reversed(ACTIVITY_BANDS.items()):
        cond = n_events >= lo if hi is None else n_events.between(lo, hi)
        expr = F.when(cond, F.lit(label)).otherwise(expr)
    return expr


def profile_summaries(profiles: DataFrame, columns: Sequence[str], k: int) -> DataFrame:
    """Per ``source`` and activity band of ``silver/user_profiles``: ``users`` and the mean of each of ``columns``
    (``mean_<column>``, float64), small groups suppressed with :func:`suppress_small_groups`.

    Returns:
        Rows ``source``, ``activity_band``, ``users`` (long; null when suppressed), ``mean_<c>`` ..., ``suppressed``.
    """
    means = [F.avg(c).alias(f"mean_{c}") for c in columns]
    grouped = profiles.groupBy("source", activity_band(F.col("n_events")).alias("activity_band")).agg(
        F.count(F.lit(1)).alias("users"), *means
    )
    return suppress_small_groups(grouped, "users", k, [f"mean_{c}" for c in columns])

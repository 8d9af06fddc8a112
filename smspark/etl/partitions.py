"""Partition columns of the silver tables that are merged incrementally (``silver/posts``, ``silver/interactions``).

A day partition of a social archive holds a few dozen rows (the 100,004 sample ratings span 3,841 days, the 59,000
sample posts about 2,340), so a day-partitioned table is thousands of tiny files that every write creates and every
read lists and opens. These tables are partitioned by ``month`` (the first day of the month), with the day ``dt``
kept as a column.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

#: The partition column of ``silver/posts`` and ``silver/interactions``.
MONTH = "month"


def month_col(day: Column) -> Column:
    """The first day of ``day``'s month (date column): the :data:`MONTH` partition of a row dated ``day``."""
    return F.trunc(day, "month").cast("date")

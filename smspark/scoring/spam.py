"""Spam scoring of posts: silver posts -> gold ``post_spam`` rows (pure DataFrame function)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame

from smspark.schemas import GOLD_POST_SPAM
from smspark.scoring.udfs import gold_rows, spam_udf
from smspark.train.registry import Champion


def score_posts(
    posts: DataFrame,
    champion: Champion,
    tracking_uri: str,
    registry_uri: str | None,
    run_date: dt.date,
    batch_size: int = 1024,
) -> DataFrame:
    """``posts`` (``post_id``, ``text``) -> :data:`GOLD_POST_SPAM` rows (``spam_prob``, ``is_spam`` at the model's
    threshold), one per post, ``dt = run_date``."""
    udf = spam_udf(champion.uri, tracking_uri, registry_uri, batch_size)
    return gold_rows(posts, udf, champion, run_date, GOLD_POST_SPAM)

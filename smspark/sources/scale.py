"""Scale-up of the real landing corpus: the sample posts and ratings replayed ``n`` times under new keys.

Copy 0 is the real data unchanged; copy ``k`` (1 <= k < n) replays every real record with:

* posts: a new id (``<id>-x<k>``), the copy number as ``replica`` (= ``k``; real posts carry none, so etl keeps a
  replayed text as a post of its own instead of dropping it as a duplicate of the real one), ``created_at``
  shifted by a seeded offset of whole seconds in ``[0, max_shift_days)`` days, the copy's authors
  (``<author>~<k>``) shuffled across its posts; text, labels, counts and clients are the real ones, so the text
  distribution (the multiset of texts) stays real;
* ratings: new users (ids after the real maximum) each a copy of one real user's history (a seeded one-to-one
  mapping), timestamps shifted by the copy's offset; movies unchanged.

Everything is pure and seeded: the same ``(records, n, seed)`` gives the same output. ``n`` = 10 gives about 590 K
posts and 1 M ratings from the sample. The output is not new data: it is the real corpus repeated, for measuring
how cost grows with size, and :func:`scale_landing` records that in ``_SCALE.json``.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark.sources.common import atomic_path, write_jsonl

#: Posts files of the sample, relative to the landing root.
POST_FILES: tuple[str, ...] = ("posts/labelled_tweets/posts.jsonl", "posts/trump_archive/posts.jsonl")
RATINGS_FILE = "movielens/ratings.csv"
MOVIES_FILE = "movielens/movies.csv"
SCALE_FILE = "_SCALE.json"
_ISO = "%Y-%m-%dT%H:%M:%SZ"


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"scale must be a whole number >= 1, got {n!r}")


def _shift_iso(value: str | None, seconds: int) -> str | None:
    if value is None:
        return None
    stamp = datetime.strptime(value, _ISO).replace(tzinfo=UTC) + timedelta(seconds=seconds)
    return stamp.strftime(_ISO)


def scale_posts(
    records: Iterable[dict[str, Any]], n: int, seed: int = 0, max_shift_days: int = 30, first_copy: int = 0
) -> Iterator[dict[str, Any]]:
    """The real posts followed by ``n - 1`` replayed copies (see the module docstring).

    Args:
        records: landing posts (keys of :data:`~smspark.sources.common.POST_KEYS`; ``created_at`` ISO-8601 UTC
            ``YYYY-MM-DDTHH:MM:SSZ`` or ``None``); read once into memory.
        n: total copies including the real one (>= 1).
        seed: seed of the per-post time offsets and the author shuffle.
        max_shift_days: time offsets are drawn uniformly in ``[0, max_shift_days)`` days, in whole seconds.
        first_copy: yield only copies ``k >= first_copy`` (0 = the real posts too); the earlier copies' random
            draws are still made, so each yielded copy is the one the whole output holds.

    Yields:
        ``len(records) * (n - first_copy)`` dicts: the real ones unchanged, the copies with the same keys plus
        ``replica`` (int ``k``); ids are unique when the input ids are.

    Raises:
        ValueError: for ``n < 1`` or a ``created_at`` not in the format above.
    """
    _check_n(n)
    real = list(records)
    if first_copy == 0:
        yield from real
    rng = np.random.default_rng(seed)
    for k in range(1, n):
        offsets = rng.integers(0, max_shift_days * 86_400, size=len(real))
        order = rng.permutation(len(real))
        if k < first_copy:
            continue
        authors = [None if r["author"] is None else f"{r['author']}~{k}" for r in real]
        for i, record in enumerate(real):
            copy = dict(record)
            copy["id"] = None if record["id"] is None else f"{record['id']}-x{k}"
            copy["created_at"] = _shift_iso(record["created_at"], int(offsets[i]))
            copy["author"] = authors[order[i]]
            copy["replica"] = k
            yield copy


def posts_on_day(records: Iterable[dict[str, Any]], day: date) -> Iterator[dict[str, Any]]:
    """The posts as if created on ``day``: each keeps its UTC time of day, ``created_at`` moves to ``day`` (a post
    without one keeps ``None``); every other key is unchanged. A nightly delivery of a live feed holds the posts
    written that day, so this is how the benchmarks add "one day of posts" to a replayed corpus.

    Args:
        records: landing posts (``created_at`` ISO-8601 UTC ``YYYY-MM-DDTHH:MM:SSZ`` or ``None``).
        day: the UTC date the posts move to.

    Yields:
        One dict per record (copies; the input is not changed).

    Raises:
        ValueError: a ``created_at`` not in the format above.
    """
    for record in records:
        copy = dict(record)
        if record["created_at"] is not None:
            stamp = datetime.strptime(record["created_at"], _ISO)
            copy["created_at"] = datetime.combine(day, stamp.time()).strftime(_ISO)
        yield copy


def scale_ratings(ratings: pd.DataFrame, n: int, seed: int = 0, max_shift_days: int = 30) -> pd.DataFrame:
    """The real ratings followed by ``n - 1`` copies whose users are new users replaying real users' histories.

    Args:
        ratings: GroupLens ratings, columns ``userId`` (int), ``movieId`` (int), ``rating`` (float),
            ``timestamp`` (int, unix seconds).
        n: total copies including the real one (>= 1).
        seed: seed of the user mapping and the per-copy time offset.
        max_shift_days: each copy's timestamps move by one offset drawn in ``[0, max_shift_days)`` days.

    Returns:
        ``len(ratings) * n`` rows, same columns and dtypes; copy ``k`` maps the real users one-to-one (seeded
        permutation) onto ids ``k * max(userId) + 1 ..``, so every new user's history is one real user's.

    Raises:
        ValueError: for ``n < 1``.
    """
    _check_n(n)
    rng = np.random.default_rng(seed)
    users = np.sort(ratings["userId"].unique())
    top = int(users.max()) if len(users) else 0
    parts = [ratings]
    for k in range(1, n):
        new_ids = k * top + 1 + rng.permutation(len(users))
        mapping = pd.Series(new_ids, index=users)
        copy = ratings.copy()
        copy["userId"] = ratings["userId"].map(mapping).astype(ratings["userId"].dtype)
        copy["timestamp"] = ratings["timestamp"] + int(rng.integers(0, max_shift_days * 86_400))
        parts.append(copy)
    return pd.concat(parts, ignore_index=True)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def scale_landing(src: Path, dst: Path, n: int, seed: int = 0) -> dict[str, Any]:
    """Write the ``n``-fold scale-up of the landing root ``src`` (posts and MovieLens) into ``dst``.

    Reads :data:`POST_FILES`, :data:`RATINGS_FILE` and :data:`MOVIES_FILE` where present (a missing one is
    skipped), writes the same paths under ``dst`` atomically, and ``dst/_SCALE.json`` with the factor, the seed
    and the record counts. Images are not scaled.

    Returns:
        The ``_SCALE.json`` content: ``{"scale", "seed", "source", "outputs": {path: records}}``.

    Raises:
        ValueError: for ``n < 1`` or ``src == dst``.
    """
    _check_n(n)
    if Path(src).resolve() == Path(dst).resolve():
        raise ValueError("the scaled copy needs its own landing root")
    outputs: dict[str, int] = {}
    for index, rel in enumerate(POST_FILES):
        if (src / rel).exists():
            outputs[rel] = write_jsonl(scale_posts(_read_jsonl(src / rel), n, seed + index), dst / rel)
    if (src / RATINGS_FILE).exists():
        ratings = pd.read_csv(src / RATINGS_FILE)
        scaled = scale_ratings(ratings, n, seed)
        with atomic_path(dst / RATINGS_FILE) as tmp:
            scaled.to_csv(tmp, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        outputs[RATINGS_FILE] = len(scaled)
    if (src / MOVIES_FILE).exists():
        with atomic_path(dst / MOVIES_FILE) as tmp:
            shutil.copyfile(src / MOVIES_FILE, tmp)
        outputs[MOVIES_FILE] = len(pd.read_csv(src / MOVIES_FILE))
    info = {"scale": n, "seed": seed, "source": str(src), "outputs": outputs}
    with atomic_path(dst / SCALE_FILE) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info

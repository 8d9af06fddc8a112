"""Which corpora share a topic model (pure function, no Spark)."""

from __future__ import annotations

import pytest

from smspark.models.topics import ALL, corpus_groups


def test_one_group_per_corpus_and_small_corpora_join_the_largest():
    counts = {"b_tweets": 5000, "a_archive": 900, "c_tiny": 40}
    assert corpus_groups(counts, per_corpus=True, min_docs=200) == {
        "a_archive": ["a_archive"],
        "b_tweets": ["b_tweets", "c_tiny"],
    }


def test_one_group_for_every_corpus_when_not_per_corpus():
    assert corpus_groups({"x": 3, "y": 1}, per_corpus=False, min_docs=1) == {ALL: ["x", "y"]}


def test_no_documents_is_an_error():
    with pytest.raises(ValueError, match="no topic training documents"):
        corpus_groups({}, per_corpus=True, min_docs=1)

"""NPMI coherence from document co-occurrence counts against a case computed by hand."""

from __future__ import annotations

import math

import pytest

from smspark.topic_metrics import npmi_coherence


def test_npmi_matches_hand_computation(spark):
    # 4 documents: P(a) = 3/4, P(b) = 2/4, P(c) = 2/4, P(a,b) = 2/4, P(a,c) = 1/4, P(b,c) = 1/4
    docs = spark.createDataFrame(
        [(["a", "b", "x"],), (["a", "b", "c", "a"],), (["a"],), (["c", "y"],)], "terms array<string>"
    )
    topics = spark.createDataFrame(
        [(0, ["a", "b"]), (1, ["b", "c"]), (2, ["a", "z"]), (3, ["a", "b", "c"]), (4, ["a"])],
        "topic_id int, terms array<string>",
    )
    got = {r["topic_id"]: (r["npmi"], r["pairs"]) for r in npmi_coherence(docs, topics).collect()}

    def npmi(p12: float, p1: float, p2: float) -> float:
        return math.log(p12 / (p1 * p2)) / -math.log(p12)

    ab, ac, bc = npmi(0.5, 0.75, 0.5), npmi(0.25, 0.75, 0.5), npmi(0.25, 0.5, 0.5)
    assert ab == pytest.approx(math.log(4 / 3) / math.log(2))
    assert bc == pytest.approx(0.0)
    assert got[0] == (pytest.approx(ab), 1)
    assert got[1] == (pytest.approx(bc, abs=1e-12), 1)
    assert got[2] == (pytest.approx(-1.0), 1)  # "z" is in no document: the pair never co-occurs
    assert got[3] == (pytest.approx((ab + ac + bc) / 3), 3)
    assert 4 not in got  # one term: no pair


def test_npmi_is_one_when_terms_always_co_occur(spark):
    docs = spark.createDataFrame([(["a", "b"],), (["b", "a", "q"],)], "terms array<string>")
    topics = spark.createDataFrame([(0, ["a", "b"])], "topic_id int, terms array<string>")
    assert npmi_coherence(docs, topics).first()["npmi"] == pytest.approx(1.0)

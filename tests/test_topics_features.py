"""Topic-model documents: terms, stop words, and pooling by author-day and hashtag (Mehrotra et al. 2013), on a
hand-made case and on slices of the real sample posts."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from smspark.etl.text import normalise_text
from smspark.features.topics import hashtags, pool_documents, post_terms, topic_terms
from tests.conftest import require_landing

POSTS_SCHEMA = "post_id string, corpus string, author_id string, dt date, text string"


def test_terms_drop_url_user_numbers_and_hashes():
    text = normalise_text("Thank you @u_1a2b! #MAGA https://t.co/x Trump's 2016 rally, 8pm ?")
    assert topic_terms(text) == ["thank", "you", "maga", "trump", "rally", "8pm"]
    assert hashtags("#Iowa and #MAGA, #iowa again") == ["iowa", "maga"]
    assert topic_terms(None) == []


def test_stop_words_are_removed(spark):
    posts = spark.createDataFrame(
        [("1", "c", None, dt.date(2016, 1, 1), "We will make America great again via <url> RT")], POSTS_SCHEMA
    )
    row = post_terms(posts, ["rt", "via"]).first()
    assert row["terms"] == ["make", "america", "great"]  # we/will/again: MLlib's English list; rt/via: extra


def test_pooling_hand_case(spark):
    d1, d2 = dt.date(2016, 2, 1), dt.date(2016, 2, 2)
    posts = spark.createDataFrame(
        [
            ("p1", "c", "u_a", d1, "iowa caucus tonight #iowa"),
            ("p2", "c", "u_a", d1, "big crowds iowa"),
            ("p3", "c", "u_a", d2, "new hampshire next"),
            ("p4", "c", None, d1, "driverless cars #driverless #future"),
            ("p5", "c", None, d2, "future of cars #future"),
            ("p6", "c", None, d2, "plain post without tags"),
            ("p7", "c", None, d2, "the and of"),  # only stop words: no term, in no document
        ],
        POSTS_SCHEMA,
    )
    docs = pool_documents(post_terms(posts), ["author_day", "hashtag"])
    expected = spark.createDataFrame(
        [
            ("author_day|c|u_a|2016-02-01", "author_day", 2),
            ("author_day|c|u_a|2016-02-02", "author_day", 1),
            ("hashtag|c|driverless", "hashtag", 1),
            ("hashtag|c|future", "hashtag", 2),
            ("post|c|p6", "post", 1),
        ],
        "doc_id string, pool string, posts int",
    )
    assertDataFrameEqual(docs.select("doc_id", "pool", "posts"), expected)
    terms = {r["doc_id"]: sorted(r["terms"]) for r in docs.collect()}
    assert terms["author_day|c|u_a|2016-02-01"] == sorted(
        ["iowa", "caucus", "tonight", "iowa", "big", "crowds", "iowa"]
    )
    assert terms["hashtag|c|future"] == sorted(
        ["driverless", "cars", "driverless", "future", "future", "cars", "future"]
    )
    alone = pool_documents(post_terms(posts), [])
    assert alone.count() == 6 and {r["pool"] for r in alone.collect()} == {"post"}
    with pytest.raises(ValueError, match="unknown pooling"):
        pool_documents(post_terms(posts), ["burst"])


def _landing_posts(spark, corpus: str, n: int):
    path = require_landing("posts", corpus, "posts.jsonl")
    rows = [json.loads(line) for line, _ in zip(path.open(), range(n), strict=False)]
    pdf = pd.DataFrame(
        {
            "post_id": [r["id"] for r in rows],
            "corpus": corpus,
            "author_id": [r["author"] for r in rows],
            "dt": [pd.Timestamp(r["created_at"]).date() if r["created_at"] else dt.date(2026, 11, 22) for r in rows],
            "text": [normalise_text(r["text"]) for r in rows],
        }
    )
    return spark.createDataFrame(pdf, POSTS_SCHEMA)


def test_author_day_pooling_on_the_archive(spark):
    posts = post_terms(_landing_posts(spark, "trump_archive", 600)).persist()
    docs = pool_documents(posts, ["author_day", "hashtag"])
    with_terms = posts.where(F.size("terms") > 0)
    # one document per author and day; every post with a term is in exactly one
    assert docs.count() == with_terms.select("author_id", "dt").distinct().count()
    assert docs.agg(F.sum("posts")).first()[0] == with_terms.count()
    assert {r["pool"] for r in docs.select("pool").distinct().collect()} == {"author_day"}
    assert docs.agg(F.sum(F.size("terms"))).first()[0] == with_terms.agg(F.sum(F.size("terms"))).first()[0]
    # a one-author archive is not pooled by day once author pooling asks for several authors
    assert with_terms.select("author_id").distinct().count() == 1
    by_post = pool_documents(posts, ["author_day", "hashtag"], author_day_min_authors=2)
    assert {r["pool"] for r in by_post.select("pool").distinct().collect()} == {"hashtag", "post"}
    assert (
        by_post.where(F.col("pool") == "post").agg(F.sum("posts")).first()[0]
        == with_terms.where(F.size("hashtags") == 0).count()
    )
    posts.unpersist()


def test_hashtag_pooling_on_authorless_posts(spark):
    posts = post_terms(_landing_posts(spark, "labelled_tweets", 1500)).persist()
    docs = pool_documents(posts, ["author_day", "hashtag"])
    pdf = posts.where(F.size("terms") > 0).toPandas()
    tagged = pdf[pdf["hashtags"].map(len) > 0]
    assert len(tagged) > 50  # the slice has hashtags to pool
    by_pool = {
        r["pool"]: (r["docs"], r["posts"])
        for r in docs.groupBy("pool").agg(F.count("*").alias("docs"), F.sum("posts").alias("posts")).collect()
    }
    # a post joins the pool of each of its hashtags; the others stay alone
    assert by_pool["hashtag"][1] == int(tagged["hashtags"].map(len).sum())
    assert by_pool["hashtag"][0] == len({t for tags in tagged["hashtags"] for t in tags})
    assert by_pool["post"] == (len(pdf) - len(tagged), len(pdf) - len(tagged))
    assert by_pool["hashtag"][0] < by_pool["hashtag"][1]  # pools do pool several posts
    posts.unpersist()

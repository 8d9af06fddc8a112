"""The sentiment split hashes the text the model reads: near-duplicates share a side; word vectors; the CNN's
initial embedding. Real labelled tweets, slices."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from smspark.config import SentimentConfig
from smspark.etl.pseudonymise import pseudonymise_mentions
from smspark.etl.text import normalise_text, tokenize
from smspark.features.text import (
    OOV,
    PAD,
    sentiment_features,
    sentiment_vocabulary,
    text_split_col,
    tokens_col,
    word2vec_embeddings,
)
from tests.conftest import require_landing

KEY = b"test-key"


def silver_like(n: int) -> pd.DataFrame:
    """The first ``n`` labelled tweets as silver rows: text normalised and mentions pseudonymised like the etl."""
    rows = []
    with require_landing("posts", "labelled_tweets", "posts.jsonl").open() as fh:
        for line in fh:
            rec = json.loads(line)
            text = pseudonymise_mentions(normalise_text(rec["text"]), KEY)
            if text:
                rows.append({"post_id": rec["id"], "text": text, "label": rec["label"]})
            if len(rows) == n:
                break
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def posts(spark):
    return spark.createDataFrame(silver_like(3000)).persist()


def test_posts_the_model_reads_alike_share_a_split(spark):
    base = silver_like(400)
    variants = []
    for r in base.itertuples():
        # what the etl leaves different but the model reads the same: another mention, letter case, another URL
        for i, text in enumerate(
            (
                pseudonymise_mentions(normalise_text(f"@alice {r.text} http://t.co/a1"), KEY),
                pseudonymise_mentions(normalise_text(f"@Bob_99 {r.text.upper()} https://bit.ly/zz"), KEY),
            )
        ):
            variants.append({"post_id": f"{r.post_id}-v{i}", "group": r.post_id, "text": text, "label": r.label})
    df = spark.createDataFrame(pd.DataFrame(variants))
    got = df.select("group", "text", text_split_col(F.col("text")).alias("split")).toPandas()
    # the variants really differ as text, and read the same as tokens
    assert (got.groupby("group").text.nunique() == 2).all()
    assert (got.groupby("group").text.agg(lambda t: len({" ".join(tokenize(x)) for x in t})) == 1).all()
    assert (got.groupby("group").split.nunique() == 1).all()
    # ... while the groups themselves spread over all three splits
    assert set(got.split) == {"train", "val", "test"}


def test_features_split_by_text_whatever_the_partitioning(spark, posts):
    vocab = sentiment_vocabulary(posts, 2000)
    a = sentiment_features(posts.repartition(1), vocab, 32)
    b = sentiment_features(posts.repartition(7, "label"), vocab, 32)
    assertDataFrameEqual(a, b)
    pdf = a.toPandas()
    assert len(pdf) == posts.count()
    share = pdf.split.value_counts(normalize=True)
    assert share["train"] == pytest.approx(0.8, abs=0.03) and share["test"] == pytest.approx(0.1, abs=0.03)
    # identical token sequences (what the model reads, before out-of-vocabulary words collapse) never straddle splits
    toks = posts.select("post_id", tokens_col(F.col("text")).alias("t")).toPandas()
    keyed = pdf.merge(toks, on="post_id").assign(key=lambda d: d.t.map(tuple))
    assert len(keyed) == len(pdf) and keyed.key.duplicated().any()  # the slice does hold repeated sequences
    assert (keyed.groupby("key").split.nunique() == 1).all()


def test_vocabulary_comes_from_the_training_split_only(spark, posts):
    vocab = sentiment_vocabulary(posts, 50000)
    assert vocab[:2] == [PAD, OOV] and len(vocab) == len(set(vocab))
    toks = posts.select(tokens_col(F.col("text")).alias("t"), text_split_col(F.col("text")).alias("s")).toPandas()
    train_tokens = {t for ts in toks.t[toks.s == "train"] for t in ts}
    held_out_only = {t for ts in toks.t[toks.s != "train"] for t in ts} - train_tokens
    assert held_out_only, "the slice should hold words seen only in val/test"
    assert set(vocab[2:]) == train_tokens and not held_out_only & set(vocab)


def test_word2vec_embeddings_are_seeded_and_aligned_with_the_vocabulary(spark, posts):
    tokens = posts.select(tokens_col(F.col("text")).alias("tokens"))
    vocab = sentiment_vocabulary(posts, 3000)
    m1 = word2vec_embeddings(tokens.repartition(3), vocab, 16, seed=7, min_count=3)
    m2 = word2vec_embeddings(tokens.repartition(1), vocab, 16, seed=7, min_count=3)
    assert m1.shape == (len(vocab), 16) and m1.dtype == np.float32
    np.testing.assert_array_equal(m1, m2)
    assert not m1[0].any()  # padding
    # frequent words get learnt vectors that differ from one another; the learnt table has structure
    i, j = vocab.index("the"), vocab.index("!")
    assert np.linalg.norm(m1[i] - m1[j]) > 0
    assert not np.array_equal(m1, word2vec_embeddings(tokens, vocab, 16, seed=8, min_count=3))
    with pytest.raises(ValueError, match="<pad>"):
        word2vec_embeddings(tokens, vocab[2:], 16, seed=7)


def test_cnn_starts_from_the_given_embeddings():
    from smspark.models.sentiment import build_model

    cfg = SentimentConfig(seq_len=8, embed_dim=4, num_filters=3, filter_sizes=[2, 3])
    table = np.arange(40, dtype=np.float32).reshape(10, 4) / 40
    model = build_model(cfg, 10, 3, embeddings=table)
    np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0], table)
    assert model.get_layer("embedding").trainable
    assert model.predict(np.zeros((2, 8), dtype=np.int32), verbose=0).shape == (2, 3)
    with pytest.raises(ValueError, match="embed_dim"):
        build_model(cfg, 10, 3, embeddings=table[:, :3])

"""Sentiment classifier: the Kim (2014) CNN for sentence classification, in tf_keras.

Kim, Y. (2014). *Convolutional Neural Networks for Sentence Classification*. EMNLP. Embedding -> parallel
Conv1D (widths 3/4/5, ReLU) -> global max-pool over time -> concatenate -> dropout -> softmax. The embedding
starts either random (Kim's CNN-rand) or from word vectors learnt on the corpus's own posts
(:func:`smspark.features.text.word2vec_embeddings`) and is fine-tuned (Kim's CNN-non-static).

Input: int32 token ids ``[batch, seq_len]`` (0 = padding). Output: float32 class probabilities
``[batch, 3]`` in :data:`smspark.schemas.SENTIMENT_CLASSES` order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.config import SentimentConfig, SpamConfig


def build_model(
    cfg: SentimentConfig | SpamConfig, vocab_size: int, num_classes: int = 3, embeddings: np.ndarray | None = None
) -> Any:  # tf_keras.Model
    """The uncompiled Kim CNN for ``vocab_size`` token ids of length ``cfg.seq_len`` (the sentiment model with 3
    classes, the spam model with 2).

    Args:
        cfg: hyper-parameters (``embed_dim``, ``filter_sizes``, ``num_filters``, ``dropout``, ``seq_len``).
        vocab_size: rows of the embedding table (token ids ``0..vocab_size - 1``).
        num_classes: softmax outputs.
        embeddings: optional initial embedding table, float ``[vocab_size, cfg.embed_dim]`` (row ``i`` = token id
            ``i``); it stays trainable. ``None``: random initialisation.

    Raises:
        ValueError: ``embeddings`` of another shape.
    """
    import tf_keras as keras

    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.shape != (vocab_size, cfg.embed_dim):
            raise ValueError(
                f"embeddings must be [vocab_size, embed_dim] = [{vocab_size}, {cfg.embed_dim}], got {embeddings.shape}"
            )
    tokens = keras.Input(shape=(cfg.seq_len,), dtype="int32", name="token_ids")
    embedding = keras.layers.Embedding(vocab_size, cfg.embed_dim, name="embedding")
    x = embedding(tokens)
    pooled = []
    for width in cfg.filter_sizes:
        c = keras.layers.Conv1D(cfg.num_filters, width, activation="relu", name=f"conv{width}")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"maxpool{width}")(c))
    h = keras.layers.Concatenate(name="concat")(pooled) if len(pooled) > 1 else pooled[0]
    h = keras.layers.Dropout(cfg.dropout, name="dropout")(h)
    # float32 probabilities whatever the global policy (smspark.train.precision)
    out = keras.layers.Dense(num_classes, activation="softmax", name="probs", dtype="float32")(h)
    model = keras.Model(tokens, out, name="kim_cnn")
    if embeddings is not None:  # set, not an initializer: the saved model config stays small
        embedding.set_weights([embeddings])
    return model

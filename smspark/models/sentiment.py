"""Sentiment classifier: the Kim (2014) CNN for sentence classification, in tf_keras.

Kim, Y. (2014). *Convolutional Neural Networks for Sentence Classification*. EMNLP. Embedding -> parallel
Conv1D (widths 3/4/5, ReLU) -> global max-pool over time -> concatenate -> dropout -> softmax. The
embedding is trained from scratch here (the CNN-rand variant): no pre-trained vectors are available offline.

Input: int32 token ids ``[batch, seq_len]`` (0 = padding). Output: float32 class probabilities
``[batch, 3]`` in :data:`smspark.schemas.SENTIMENT_CLASSES` order.
"""

from __future__ import annotations

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.config import SentimentConfig


def build_model(cfg: SentimentConfig, vocab_size: int, num_classes: int = 3):  # -> tf_keras.Model
    """The uncompiled Kim CNN for ``vocab_size`` token ids of length ``cfg.seq_len``."""
    import tf_keras as keras

    tokens = keras.Input(shape=(cfg.seq_len,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, cfg.embed_dim, name="embedding")(tokens)
    pooled = []
    for width in cfg.filter_sizes:
        c = keras.layers.Conv1D(cfg.num_filters, width, activation="relu", name=f"conv{width}")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"maxpool{width}")(c))
    h = keras.layers.Concatenate(name="concat")(pooled) if len(pooled) > 1 else pooled[0]
    h = keras.layers.Dropout(cfg.dropout, name="dropout")(h)
    out = keras.layers.Dense(num_classes, activation="softmax", name="probs")(h)
    return keras.Model(tokens, out, name="kim_cnn")

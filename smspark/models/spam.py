"""Spam classifier: the Kim (2014) CNN of :mod:`smspark.models.sentiment` with 2 classes, embedding only the most
frequent tokens of the spam features' vocabulary.

The spam features' vocabulary (``models.spam.vocab_size`` tokens, ids ordered by training-split frequency) is what
the TF-IDF + LogisticRegression baseline reads as word n-grams. The CNN gives an own embedding vector only to the
first ``models.spam.cnn_vocab_size`` ids; rarer ids (tokens seen a few times in the training mails, whose vectors
the CNN would fit to those few mails) are read as ``<oov>`` inside the model, so the baseline's input is not cut
to the CNN's choice and the pyfunc (which encodes with the full vocabulary) needs nothing else.

Input: int32 token ids ``[batch, seq_len]`` (0 = padding, 1 = ``<oov>``). Output: float32 probabilities
``[batch, 2]`` in :data:`smspark.schemas.MESSAGE_LABELS` order (ham, spam).
"""

from __future__ import annotations

from typing import Any

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.config import SpamConfig
from smspark.schemas import MESSAGE_LABELS

#: The id of ``<oov>`` in every vocabulary built by :func:`smspark.features.text.full_vocab`.
OOV_ID = 1


def build_model(cfg: SpamConfig, vocab_size: int) -> Any:  # tf_keras.Model
    """The uncompiled spam CNN for token ids ``0..vocab_size - 1`` of length ``cfg.seq_len``.

    Ids ``>= min(cfg.cnn_vocab_size, vocab_size)`` become :data:`OOV_ID` (a ``tf.where`` layer, saved with the
    model), then :func:`smspark.models.sentiment.build_model` with that many embedding rows and 2 classes.

    Args:
        cfg: the spam hyper-parameters (``cnn_vocab_size``, ``embed_dim``, ``filter_sizes``, ``num_filters``,
            ``dropout``, ``seq_len``).
        vocab_size: entries of the features' vocabulary (``<pad>``, ``<oov>`` included).
    """
    import tensorflow as tf
    import tf_keras as keras

    from smspark.models.sentiment import build_model as kim_cnn

    rows = min(cfg.cnn_vocab_size, vocab_size)
    tokens = keras.Input(shape=(cfg.seq_len,), dtype="int32", name="token_ids")
    ids = tf.where(tokens < rows, tokens, tf.fill(tf.shape(tokens), OOV_ID))
    return keras.Model(tokens, kim_cnn(cfg, rows, len(MESSAGE_LABELS))(ids), name="spam_cnn")

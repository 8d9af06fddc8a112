"""MLflow pyfunc packaging of the tf_keras models: the Keras weights and the model's own preprocessing
artifacts (e.g. the sentiment vocabulary) travel together as one registered model.

Artifacts: ``keras_model`` (an HDF5 file written by ``model.save(path)``), ``meta`` (a JSON file: class names,
vocabulary, sequence length and whatever the model needs to turn raw input into tensors).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)


class KerasPyfunc(mlflow.pyfunc.PythonModel):
    """Base: loads the Keras model and the ``meta`` JSON once, in :meth:`load_context`; :meth:`infer` runs it."""

    keras_model: Any = None
    meta: dict[str, Any]
    _traced: dict[tuple[int, str], Any] | None = None

    def load_context(self, context: Any) -> None:
        import tf_keras

        self.keras_model = tf_keras.models.load_model(context.artifacts["keras_model"], compile=False)
        with open(context.artifacts["meta"]) as fh:
            self.meta = json.load(fh)

    def infer(self, x: Any, batch_size: int = 1024, model: Any = None) -> Any:
        """``model(x, training=False)`` (default :attr:`keras_model`) over ``x`` in chunks of ``batch_size`` rows.

        The same computation as ``model.predict(x, batch_size)`` (``predict_step`` is that call; the outputs are
        equal), through one ``tf.function`` traced once per model and input signature (``[None, ...]`` in the
        arrays' dtypes) and kept on this object. ``predict`` sets up a data adapter and callbacks on every call,
        about 40 ms on this kind of machine, which a scoring UDF calling it once per Arrow batch would pay per batch.

        Args:
            x: a NumPy array ``[n, ...]``, or a dict / list of them (one per model input, same ``n``).
            batch_size: rows per call of the traced function.
            model: a tf_keras model (default :attr:`keras_model`).

        Returns:
            The model's output(s) as NumPy arrays ``[n, ...]`` in the model's output dtype: one array, or a list in
            the model's output order.

        Raises:
            ValueError: ``n == 0`` (callers return their own empty shapes) or ``batch_size < 1``.
        """
        import tensorflow as tf

        model = self.keras_model if model is None else model
        arrays = tf.nest.flatten(x)
        n = len(arrays[0])
        if n == 0 or batch_size < 1:
            raise ValueError(f"infer needs rows and a batch size >= 1, got {n} rows, batch_size {batch_size}")
        spec = tf.nest.map_structure(lambda a: tf.TensorSpec([None, *a.shape[1:]], tf.as_dtype(a.dtype)), x)
        key = (id(model), repr(spec))
        if self._traced is None:
            self._traced = {}
        if key not in self._traced:
            self._traced[key] = tf.function(lambda v: model(v, training=False), input_signature=[spec])
        fn = self._traced[key]
        chunks = [
            tf.nest.flatten(fn(tf.nest.map_structure(lambda a, s=start: a[s : s + batch_size], x)))
            for start in range(0, n, batch_size)
        ]
        outs = [np.concatenate([c[i].numpy() for c in chunks]) for i in range(len(chunks[0]))]
        return outs[0] if len(outs) == 1 else outs


class TextPyfunc(KerasPyfunc):
    """Base of the text models (Kim CNNs): raw text -> token ids with the model's own vocabulary -> class
    probabilities -> :meth:`to_frame`. Input: a DataFrame with a ``text`` column (str)."""

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """Texts -> int32 ``[n, seq_len]`` with the model's own vocabulary (normalise, tokenize, encode)."""
        from smspark.etl.text import normalise_text, tokenize
        from smspark.features.text import encode

        index = getattr(self, "_index", None)
        if index is None:
            index = self._index = {t: i for i, t in enumerate(self.meta["vocab"])}
        seq_len = int(self.meta["seq_len"])
        if not len(texts):
            return np.zeros((0, seq_len), dtype=np.int32)
        return np.stack([encode(tokenize(normalise_text(t)), index, seq_len) for t in texts])

    def predict_proba(self, texts: Sequence[str | None], batch_size: int = 1024) -> np.ndarray:
        """Class probabilities, float32 ``[n, n_classes]``."""
        ids = self.encode(texts)
        if not len(ids):
            return np.zeros((0, len(self.meta["classes"])), dtype=np.float32)
        return self.infer(ids, batch_size).astype(np.float32)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.to_frame(self.predict_proba(model_input["text"].tolist()))

    def to_frame(self, probs: np.ndarray) -> pd.DataFrame:
        """Probabilities ``[n, n_classes]`` -> the model's output columns."""
        raise NotImplementedError


class SentimentPyfunc(TextPyfunc):
    """Raw text -> ``label`` + ``prob_<class>`` columns. Input: a DataFrame with a ``text`` column (str)."""

    def to_frame(self, probs: np.ndarray) -> pd.DataFrame:
        """Probabilities -> DataFrame ``label`` (class name) + ``prob_<class>`` (float32)."""
        classes = self.meta["classes"]
        out = pd.DataFrame({f"prob_{c}": probs[:, i] for i, c in enumerate(classes)})
        out.insert(0, "label", np.asarray(classes, dtype=object)[probs.argmax(axis=1)] if len(probs) else [])
        return out


class SpamPyfunc(TextPyfunc):
    """Raw text (a mail's ``subject + "\n" + body``, or a post) -> ``spam_prob`` (float32) and ``is_spam`` (bool:
    ``spam_prob >= meta["threshold"]``, the threshold chosen on the validation mails' spam F1). Input: a DataFrame
    with a ``text`` column (str). ``meta``: ``vocab``, ``seq_len``, ``classes`` (``ham``, ``spam``), ``threshold``."""

    def spam_prob(self, texts: Sequence[str | None], batch_size: int = 1024) -> np.ndarray:
        """Spam probabilities, float32 ``[n]``."""
        return self.predict_proba(texts, batch_size)[:, self.meta["classes"].index("spam")]

    def to_frame(self, probs: np.ndarray) -> pd.DataFrame:
        """Probabilities ``[n, 2]`` -> DataFrame ``spam_prob`` (float32), ``is_spam`` (bool)."""
        p = probs[:, self.meta["classes"].index("spam")].astype(np.float32)
        return pd.DataFrame({"spam_prob": p, "is_spam": p >= float(self.meta["threshold"])})

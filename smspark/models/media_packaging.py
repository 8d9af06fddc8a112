"""MLflow pyfunc packaging of the image models: ``smspark_image`` (the CNN) and ``smspark_gan`` (the generator).

Artifacts, as for :class:`smspark.models.packaging.SentimentPyfunc`: ``keras_model`` (HDF5 from ``model.save``) and
``meta`` (JSON). The image model's meta: ``classes`` (names by index), ``input_shape`` ``[H, W, C]``, ``dataset``
(the silver source it was trained on). The generator's: ``classes``, ``image_shape`` ``[H, W, C]``,
``latent_dim``, ``dataset``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.models.packaging import KerasPyfunc

#: Input columns of the image pyfunc (silver ``media`` columns).
IMAGE_INPUT = ("pixels", "height", "width", "channels")
#: Output columns of the image pyfunc, as Arrow fields (:meth:`ImagePyfunc.score_arrow`).
IMAGE_OUTPUT = (
    pa.field("label", pa.string()),
    pa.field("label_index", pa.int32()),
    pa.field("confidence", pa.float32()),
    pa.field("embedding", pa.list_(pa.field("element", pa.float32(), nullable=False))),
)


class ImagePyfunc(KerasPyfunc):
    """Silver images -> ``label`` (class name), ``label_index`` (int32), ``confidence`` (float32 probability of
    the label) and ``embedding`` (float32 ``[embedding_dim]``, the penultimate layer).

    Input: a DataFrame with ``pixels`` (uint8 HWC bytes), ``height``, ``width``, ``channels`` (1 or 3); any size
    (resized to the model's ``input_shape`` by :func:`smspark.features.media.preprocess`, as in training).
    """

    _both: Any = None

    def _model_with_embedding(self) -> Any:
        if self._both is None:
            from smspark.models.image import with_embedding

            self._both = with_embedding(self.keras_model)
        return self._both

    @property
    def input_shape(self) -> tuple[int, int, int]:
        h, w, c = self.meta["input_shape"]
        return int(h), int(w), int(c)

    def preprocess(
        self, pixels: Sequence[bytes], heights: Sequence[int], widths: Sequence[int], channels: Sequence[int]
    ) -> np.ndarray:
        """Silver images -> uint8 ``[n, H * W * C]`` model input."""
        from smspark.features.media import preprocess

        size, _, c = self.input_shape
        return preprocess(pixels, heights, widths, channels, size, c)

    def embed_and_predict(self, x: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Model input ``[n, H * W * C]`` (0..255, any integer dtype) -> ``(embedding float32 [n, d], probs float32
        [n, k])``."""
        h, w, c = self.input_shape
        if len(x) == 0:
            d = int(self.keras_model.get_layer("embedding").output.shape[-1])
            return np.zeros((0, d), np.float32), np.zeros((0, len(self.meta["classes"])), np.float32)
        emb, probs = self.infer(
            np.asarray(x, dtype=np.int32).reshape(len(x), h * w * c), batch_size, self._model_with_embedding()
        )
        return emb.astype(np.float32), probs.astype(np.float32)

    def score(
        self,
        pixels: Sequence[bytes],
        heights: Sequence[int],
        widths: Sequence[int],
        channels: Sequence[int],
        batch_size: int = 1024,
    ) -> pd.DataFrame:
        """Silver images -> DataFrame ``label``, ``label_index``, ``confidence``, ``embedding`` (one row each)."""
        emb, probs = self.embed_and_predict(self.preprocess(pixels, heights, widths, channels), batch_size)
        return self.to_frame(emb, probs)

    def score_arrow(self, batch: pa.RecordBatch, batch_size: int = 1024) -> list[pa.Array]:
        """An Arrow batch with the :data:`IMAGE_INPUT` columns (``binary``, ``int32`` x 3) -> the output columns as
        Arrow arrays, in :data:`IMAGE_OUTPUT` order: ``label`` (string), ``label_index`` (int32), ``confidence``
        (float32), ``embedding`` (``list<float32>``, no null elements, built from the ``[n, d]`` matrix without a
        Python object per row). What :meth:`score` computes, for ``mapInArrow``."""
        emb, probs = self.embed_and_predict(
            self.preprocess(*(batch.column(c).to_pylist() for c in IMAGE_INPUT)), batch_size
        )
        n, d = emb.shape
        labels, idx, confidence = self.top_class(probs)
        offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
        return [
            pa.array(labels, pa.string()),
            pa.array(idx, pa.int32()),
            pa.array(confidence, pa.float32()),
            pa.ListArray.from_arrays(offsets, pa.array(emb.reshape(-1), pa.float32()), IMAGE_OUTPUT[3].type),
        ]

    def top_class(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities ``[n, k]`` -> the most probable class of each row: ``(label`` object ``[n]`` (class
        names), ``label_index`` int32 ``[n]``, ``confidence`` float32 ``[n]`` (its probability)``)``."""
        idx = probs.argmax(axis=1).astype(np.int32) if len(probs) else np.zeros(0, np.int32)
        classes = np.asarray(self.meta["classes"], dtype=object)
        return classes[idx], idx, probs[np.arange(len(idx)), idx].astype(np.float32)

    def to_frame(self, emb: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
        """Embeddings ``[n, d]`` and probabilities ``[n, k]`` -> the output DataFrame."""
        labels, idx, confidence = self.top_class(probs)
        return pd.DataFrame({"label": labels, "label_index": idx, "confidence": confidence, "embedding": list(emb)})

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        out = self.score(*(model_input[c].tolist() for c in IMAGE_INPUT))
        out["embedding"] = out["embedding"].map(lambda v: v.tolist())
        return out


class GeneratorPyfunc(KerasPyfunc):
    """Requested classes -> generated images. Input: a DataFrame with ``label`` (int class index) and ``seed`` (int,
    seeds the latent vector: the same seed and label give the same image). Output: ``label``, ``label_name``,
    ``height``, ``width``, ``channels`` and ``pixels`` (uint8 row-major HWC bytes, like silver ``media``)."""

    def latent(self, seeds: Sequence[int]) -> np.ndarray:
        """One standard-normal latent vector per seed, float32 ``[n, latent_dim]`` (numpy PCG64 per seed)."""
        d = int(self.meta["latent_dim"])
        if not len(seeds):
            return np.zeros((0, d), np.float32)
        return np.stack([np.random.default_rng(int(s)).standard_normal(d) for s in seeds]).astype(np.float32)

    def generate(self, labels: Sequence[int], seeds: Sequence[int], batch_size: int = 256) -> np.ndarray:
        """uint8 images ``[n, H, W, C]`` for the requested class indices.

        Raises:
            ValueError: a label outside ``0 .. len(classes) - 1``.
        """
        from smspark.models.gan import to_uint8

        lab = np.asarray(labels, dtype=np.int32)
        k = len(self.meta["classes"])
        if len(lab) and (lab.min() < 0 or lab.max() >= k):
            raise ValueError(f"labels must be class indices 0..{k - 1}")
        h, w, c = (int(v) for v in self.meta["image_shape"])
        if not len(lab):
            return np.zeros((0, h, w, c), np.uint8)
        out = self.keras_model.predict([self.latent(seeds), lab], batch_size=batch_size, verbose=0)
        return to_uint8(out)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        labels = model_input["label"].astype(int).tolist()
        images = self.generate(labels, model_input["seed"].astype(int).tolist())
        n, h, w, c = images.shape
        return pd.DataFrame(
            {
                "label": np.asarray(labels, dtype=np.int32),
                "label_name": [self.meta["classes"][i] for i in labels],
                "height": np.full(n, h, np.int32),
                "width": np.full(n, w, np.int32),
                "channels": np.full(n, c, np.int32),
                "pixels": [img.tobytes() for img in images],
            }
        )

"""The image CNN and its pyfunc wrapper (any input size -> label, confidence, embedding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smspark.config import ImageConfig
from smspark.models.image import build_model, with_embedding
from smspark.models.media_packaging import ImagePyfunc


@pytest.fixture(scope="module")
def small_cnn():
    cfg = ImageConfig(filters=[8, 16], embedding_dim=12)
    return build_model(cfg, (16, 16, 3), 4)


def test_cnn_shapes_and_embedding_layer(small_cnn):
    x = np.random.default_rng(0).integers(0, 256, (5, 16 * 16 * 3)).astype(np.int32)
    probs = small_cnn.predict(x, verbose=0)
    assert probs.shape == (5, 4) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    emb, probs2 = with_embedding(small_cnn).predict(x, verbose=0)
    assert emb.shape == (5, 12) and emb.min() >= 0.0  # ReLU embedding
    assert np.allclose(probs, probs2, atol=1e-6)
    layers = {layer.name for layer in small_cnn.layers}
    assert {"conv1", "bn1", "relu1", "conv2", "global_pool", "embedding"} <= layers
    with pytest.raises(ValueError):
        build_model(ImageConfig(), (16, 16, 3), 1)


def test_pyfunc_scores_silver_rows_of_any_size(small_cnn):
    model = ImagePyfunc()
    model.keras_model = small_cnn
    model.meta = {"classes": ["a", "b", "c", "d"], "input_shape": [16, 16, 3], "dataset": "toy"}
    gray = np.arange(30 * 20, dtype=np.uint8).tobytes()  # 30x20 grayscale: resized and replicated to RGB
    rgb = np.full((16, 16, 3), 7, np.uint8).tobytes()
    frame = pd.DataFrame({"pixels": [gray, rgb], "height": [30, 16], "width": [20, 16], "channels": [1, 3]})
    out = model.predict(None, frame)
    assert list(out.columns) == ["label", "label_index", "confidence", "embedding"]
    assert set(out["label"]) <= {"a", "b", "c", "d"}
    assert out["confidence"].between(0, 1).all() and all(len(e) == 12 for e in out["embedding"])
    empty = model.score([], [], [], [])
    assert len(empty) == 0

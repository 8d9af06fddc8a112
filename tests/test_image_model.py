"""The image CNN and its pyfunc wrapper (any input size -> label, confidence, embedding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import tf_keras

from smspark.config import ImageConfig
from smspark.models.image import build_model, early_stopping_patience, with_embedding
from smspark.models.media_packaging import IMAGE_INPUT, IMAGE_OUTPUT, ImagePyfunc


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


def test_cnn_options_two_convs_per_block_flatten_head_and_augmentation():
    cfg = ImageConfig(
        filters=[8, 16], convs_per_block=2, pooling="flatten", augment_flip=True, augment_shift=0.2, embedding_dim=6
    )
    model = build_model(cfg, (16, 16, 1), 3)
    names = {layer.name for layer in model.layers}
    assert {"conv1", "conv1_2", "bn1_2", "conv2", "conv2_2", "flatten", "augment_flip", "augment_shift"} <= names
    x = np.random.default_rng(1).integers(0, 256, (6, 16 * 16)).astype(np.int32)
    # augmentation is random while training and the identity at inference (scoring, evaluation)
    assert np.allclose(model(x, training=False).numpy(), model.predict(x, verbose=0), atol=1e-6)
    augmenter = tf_keras.Model(model.input, model.get_layer("augment_shift").output)
    image = tf_keras.Model(model.input, model.get_layer("image").output)
    assert np.array_equal(augmenter(x, training=False).numpy(), image(x).numpy())
    assert not np.array_equal(augmenter(x, training=True).numpy(), image(x).numpy())


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


def test_early_stopping_patience_spans_a_minimum_number_of_steps():
    cfg = ImageConfig(batch_size=128, early_stopping_patience=2, early_stopping_min_steps=100)
    assert early_stopping_patience(cfg, 54_000, 2) == 2  # 210 steps per epoch: 2 epochs are 420 steps
    assert early_stopping_patience(cfg, 1_407, 2) == 20  # 5 steps per epoch: 20 epochs for 100 steps
    assert early_stopping_patience(cfg, 10, 2) == 100  # 1 step per epoch
    assert early_stopping_patience(cfg.model_copy(update={"early_stopping_patience": None}), 1_407, 2) is None


def test_traced_inference_and_the_arrow_path_give_what_keras_predict_and_score_give(small_cnn):
    model = ImagePyfunc()
    model.keras_model = small_cnn
    model.meta = {"classes": ["a", "b", "c", "d"], "input_shape": [16, 16, 3], "dataset": "toy"}
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (7, 16 * 16 * 3)).astype(np.int32)
    # chunks of 3 rows through one traced function: the numbers Keras' predict gives, both outputs in order
    emb, probs = model.infer(x, 3, with_embedding(small_cnn))
    emb_k, probs_k = with_embedding(small_cnn).predict(x, batch_size=3, verbose=0)
    assert np.array_equal(emb, emb_k) and np.array_equal(probs, probs_k)
    assert np.array_equal(model.infer(x, 4), small_cnn.predict(x, batch_size=4, verbose=0))
    assert len(model._traced) == 2  # one trace per model; another batch size or row count reuses it
    with pytest.raises(ValueError, match="rows"):
        model.infer(x[:0])
    # the Arrow batch mapInArrow scores: the columns score() gives, the embedding as list<float32> without nulls
    pixels = [rng.integers(0, 256, 16 * 16 * 3).astype(np.uint8).tobytes() for _ in range(5)]
    pixels.append(np.arange(30 * 20, dtype=np.uint8).tobytes())
    cols = {"pixels": pixels, "height": [16] * 5 + [30], "width": [16] * 5 + [20], "channels": [3] * 5 + [1]}
    batch = pa.RecordBatch.from_pydict(
        cols, schema=pa.schema([("pixels", pa.binary())] + [(c, pa.int32()) for c in IMAGE_INPUT[1:]])
    )
    arrays = model.score_arrow(batch, 4)
    out = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(IMAGE_OUTPUT)).to_pandas()
    ref = model.score(*(cols[c] for c in IMAGE_INPUT), 4)
    assert out["label"].tolist() == ref["label"].tolist()
    assert np.array_equal(out["label_index"].to_numpy(), ref["label_index"].to_numpy())
    assert np.array_equal(out["confidence"].to_numpy(), ref["confidence"].to_numpy())
    assert np.array_equal(np.stack(out["embedding"].to_numpy()), np.stack(ref["embedding"].to_numpy()))
    assert arrays[3].type == IMAGE_OUTPUT[3].type and arrays[3].null_count == 0 and len(arrays[3]) == 6
    empty = model.score_arrow(batch.slice(0, 0))
    assert [len(a) for a in empty] == [0, 0, 0, 0]

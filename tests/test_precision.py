"""Training precision: the ``auto`` setting follows the CPU, and a model built under ``mixed_bfloat16`` computes in
bfloat16, keeps float32 weights and outputs, and keeps its policy through the saved file the driver reads back."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras

from smspark.config import ImageConfig, SentimentConfig
from smspark.models.image import EMBEDDING_LAYER, build_model, with_embedding
from smspark.models.sentiment import build_model as kim_cnn
from smspark.train.precision import cpu_flags, dtype_policy, resolve_precision


def test_auto_takes_bfloat16_only_on_a_cpu_with_amx_and_explicit_settings_pass_through(tmp_path):
    assert resolve_precision("auto", frozenset({"avx2", "avx512f", "amx_bf16"})) == "mixed_bfloat16"
    assert resolve_precision("auto", frozenset({"avx2", "avx512_bf16"})) == "float32"
    assert resolve_precision("auto", frozenset()) == "float32"
    assert resolve_precision("float32", frozenset({"amx_bf16"})) == "float32"
    assert resolve_precision("mixed_bfloat16", frozenset()) == "mixed_bfloat16"
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        resolve_precision("float16")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.fixture()
def bfloat16_policy():
    before = tf_keras.mixed_precision.global_policy().name
    with dtype_policy("mixed_bfloat16"):
        yield
    assert tf_keras.mixed_precision.global_policy().name == before  # restored


def test_a_bfloat16_image_cnn_outputs_float32_and_keeps_its_policy_when_saved(bfloat16_policy, tmp_path):
    model = build_model(ImageConfig(filters=[8, 16], embedding_dim=12), (16, 16, 1), 4)
    conv = model.get_layer("conv1")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert model.get_layer(EMBEDDING_LAYER).compute_dtype == "float32"
    x = np.random.default_rng(0).integers(0, 256, (6, 16 * 16)).astype(np.int32)
    emb, probs = with_embedding(model).predict(x, verbose=0)
    assert probs.dtype == np.float32 and emb.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    path = str(tmp_path / "model.h5")
    model.save(path)
    tf_keras.mixed_precision.set_global_policy("float32")  # the driver reads models back under its own policy
    loaded = tf_keras.models.load_model(path)
    assert loaded.get_layer("conv1").compute_dtype == "bfloat16"
    assert np.array_equal(loaded.predict(x, verbose=0), probs)


def test_a_bfloat16_kim_cnn_gives_float32_probabilities_close_to_float32_compute(bfloat16_policy):
    cfg = SentimentConfig(vocab_size=50, seq_len=12, embed_dim=8, num_filters=6)
    model = kim_cnn(cfg, 50, 3)
    assert model.get_layer("conv3").compute_dtype == "bfloat16"
    tf_keras.mixed_precision.set_global_policy("float32")
    reference = kim_cnn(cfg, 50, 3)
    reference.set_weights(model.get_weights())  # the same float32 weights, float32 compute
    x = np.random.default_rng(1).integers(0, 50, (8, 12)).astype(np.int32)
    probs, exact = model.predict(x, verbose=0), reference.predict(x, verbose=0)
    assert probs.dtype == np.float32
    assert np.abs(probs - exact).max() < 0.02  # bfloat16 keeps 8 bits of mantissa: ~3 significant digits

"""NeuMF pre-training (He et al. 2017, section 3.4.1): GMF and MLP weights carried into NeuMF, the output layer as
the alpha-weighted concatenation of the two towers' output layers."""

from __future__ import annotations

import numpy as np
import pytest

from smspark.config import RecommenderConfig
from smspark.models.recommender import (
    GMF_USER,
    MLP_USER,
    PREDICTION,
    build_model,
    build_tower_model,
    neumf_initial_weights,
    predict_pairs,
)

CFG = RecommenderConfig(gmf_dim=4, mlp_embed_dim=6, mlp_layers=[8, 4])
USERS, ITEMS = 7, 11


def _logit(p: np.ndarray) -> np.ndarray:
    p = p.astype(np.float64)
    return np.log(p / (1 - p))


def _trained_like(kind: str, seed: int):
    """A tower with its weights drawn wide (an untrained tower scores ~0.5 everywhere and hides mistakes)."""
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    model = build_tower_model(CFG, USERS, ITEMS, kind)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.7, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_pretrained_neumf_mixes_the_towers_logits(alpha):
    gmf, mlp = _trained_like("gmf", 1), _trained_like("mlp", 2)
    neumf = build_model(CFG, USERS, ITEMS, neumf_initial_weights(gmf, mlp, alpha))
    users = np.repeat(np.arange(USERS), ITEMS)
    items = np.tile(np.arange(1, ITEMS + 1), USERS)
    got = _logit(predict_pairs(neumf, users, items))
    want = alpha * _logit(predict_pairs(gmf, users, items)) + (1 - alpha) * _logit(predict_pairs(mlp, users, items))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(neumf.get_layer(GMF_USER).get_weights()[0], gmf.get_layer(GMF_USER).get_weights()[0])
    np.testing.assert_array_equal(neumf.get_layer(MLP_USER).get_weights()[0], mlp.get_layer(MLP_USER).get_weights()[0])


def test_initial_weights_shapes_and_errors():
    gmf, mlp = _trained_like("gmf", 3), _trained_like("mlp", 4)
    init = neumf_initial_weights(gmf, mlp)
    assert init[PREDICTION][0].shape == (CFG.gmf_dim + CFG.mlp_layers[-1], 1)
    assert set(init) == {
        "gmf_user_embedding",
        "gmf_item_embedding",
        "mlp_user_embedding",
        "mlp_item_embedding",
        "mlp_0",
        "mlp_1",
        PREDICTION,
    }
    with pytest.raises(ValueError, match="alpha"):
        neumf_initial_weights(gmf, mlp, 1.5)
    with pytest.raises(ValueError, match="no layer"):
        build_model(CFG, USERS, ITEMS, {"not_a_layer": []})
    with pytest.raises(ValueError, match="kind"):
        build_tower_model(CFG, USERS, ITEMS, "ncf")
    # a NeuMF without initial weights is the from-scratch model: both towers, one output over both
    scratch = build_model(CFG, USERS, ITEMS)
    assert scratch.get_layer(PREDICTION).get_weights()[0].shape == init[PREDICTION][0].shape

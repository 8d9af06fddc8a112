"""The conditional DCGAN's networks, the Frechet distance and the evaluation against the real-vs-real floor."""

from __future__ import annotations

import numpy as np
import pytest

from smspark.config import GanConfig
from smspark.models.gan import (
    build_discriminator,
    build_generator,
    discriminator_loss,
    frechet_distance,
    generator_loss,
    sample_grid,
    to_uint8,
)
from smspark.train.gan import evaluate_generator


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, 2.0, 0.0, 0.0])
    # same covariance, shifted mean: the distance is |shift|^2 (5) up to sampling noise
    assert frechet_distance(a, rng.standard_normal((4000, 4)) + shift) == pytest.approx(5.0, abs=0.3)
    # N(0, I) vs N(0, 4I) in 4-D: 4 * (1 + 4 - 2 * 2) = 4
    assert frechet_distance(a, 2.0 * rng.standard_normal((4000, 4))) == pytest.approx(4.0, abs=0.4)
    with pytest.raises(ValueError):
        frechet_distance(a, a[:, :3])


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_networks_shapes_and_ranges(shape):
    cfg = GanConfig(latent_dim=8, gen_filters=[16, 8], disc_filters=[8, 16])
    gen, disc = build_generator(cfg, shape, 3), build_discriminator(cfg, shape, 3)
    z = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1], np.int32)
    images = gen([z, labels]).numpy()
    assert images.shape == (5, *shape) and images.min() >= -1.0 and images.max() <= 1.0
    assert disc([images, labels]).shape == (5, 1)
    grid = sample_grid(to_uint8(images[:3]), 1, 3, scale=1)
    assert grid.shape == (shape[0] + 2, 3 * (shape[1] + 2), 3) and grid.dtype == np.uint8


@pytest.mark.parametrize(
    "options",
    [
        {"conditioning": "projection"},
        {"conditioning": "projection", "aux_weight": 1.0, "spectral_norm": True},
        {"conditioning": "concat", "aux_weight": 0.5},
    ],
)
def test_discriminator_variants(options):
    cfg = GanConfig(latent_dim=8, gen_filters=[16, 8], disc_filters=[8, 16], **options)
    disc = build_discriminator(cfg, (28, 28, 1), 3)
    images = np.random.default_rng(1).uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32)
    out = disc([images, np.array([0, 1, 2, 0], np.int32)], training=True)
    if cfg.aux_weight > 0:
        assert out[0].shape == (4, 1) and out[1].shape == (4, 3)  # real/fake logit and class logits
    else:
        assert out.shape == (4, 1)
    layers = {layer.name for layer in disc.layers}
    assert ("label_projection" in layers) == (cfg.conditioning == "projection")
    assert ("label_plane" in layers) == (cfg.conditioning == "concat")
    assert any(name.endswith("_sn") for name in layers) == cfg.spectral_norm
    # the same image scored under another label gets another logit: the label reaches the output
    logit = out[0] if cfg.aux_weight > 0 else out
    other = disc([images, np.array([1, 2, 0, 1], np.int32)], training=False)
    other = other[0] if cfg.aux_weight > 0 else other
    assert not np.allclose(np.asarray(logit), np.asarray(other))


def test_adversarial_losses():
    real, fake = np.array([[3.0], [2.0]], np.float32), np.array([[-2.0], [0.5]], np.float32)
    hinge = GanConfig(loss="hinge")
    # mean(relu(1 - [3, 2])) + mean(relu(1 + [-2, 0.5])) = 0 + (0 + 1.5) / 2
    assert float(discriminator_loss(hinge, real, fake)) == pytest.approx(0.75)
    assert float(generator_loss(hinge, fake)) == pytest.approx(0.75)  # -mean([-2, 0.5])
    bce = GanConfig(loss="bce", real_label=1.0)

    def softplus(v):
        return np.log1p(np.exp(v))

    assert float(discriminator_loss(bce, real, fake)) == pytest.approx(
        softplus(-real).mean() + softplus(fake).mean(), rel=1e-5
    )
    assert float(generator_loss(bce, fake)) == pytest.approx(softplus(-fake).mean(), rel=1e-5)


def test_generator_rejects_sizes_its_upsampling_cannot_reach():
    with pytest.raises(ValueError, match="divisible"):
        build_generator(GanConfig(gen_filters=[16, 8]), (30, 30, 1), 3)


def test_evaluation_puts_a_perfect_generator_at_the_floor_and_a_constant_one_far_above():
    rng = np.random.default_rng(3)
    k, d, n = 3, 6, 1200
    centres = rng.normal(0, 4, (k, d))
    y = rng.integers(0, k, n)
    x = centres[y] + rng.standard_normal((n, d))

    def features(batch):  # the "image model": identity features, nearest-centre class
        dist = ((batch[:, None, :] - centres[None]) ** 2).sum(-1)
        return batch.astype(np.float32), np.eye(k, dtype=np.float32)[dist.argmin(1)]

    def perfect(labels, seeds):  # fresh samples of the requested class
        r = np.random.default_rng(int(seeds[0]))
        return (centres[labels] + r.standard_normal((len(labels), d)))[:, :, None, None]

    def constant(labels, seeds):
        return np.zeros((len(labels), d, 1, 1))

    good = evaluate_generator(perfect, features, x, y, k, seed=0)
    bad = evaluate_generator(constant, features, x, y, k, seed=0)
    assert good["eval_rows"] == n and good["frechet_floor"] == bad["frechet_floor"]
    assert good["frechet_distance"] < 3 * good["frechet_floor"]
    assert bad["frechet_distance"] > 20 * bad["frechet_floor"]
    assert good["class_accuracy"] > 0.9 and bad["class_accuracy"] < 0.6
    assert set(good["class_accuracy_by_class"]) == set(range(k))

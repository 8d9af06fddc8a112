"""The conditional DCGAN's networks, the Frechet distance and the evaluation against the real-vs-real floor."""

from __future__ import annotations

import numpy as np
import pytest

from smspark.config import GanConfig
from smspark.models.gan import build_discriminator, build_generator, frechet_distance, sample_grid, to_uint8
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

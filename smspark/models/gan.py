"""Class-conditional DCGAN (Radford et al. 2016; conditioning as in Mirza & Osindero 2014), in tf_keras, and the
Frechet distance used to evaluate it.

Generator: ``[z float32 [n, latent_dim], label int32 [n]]`` -> images float32 ``[n, H, W, C]`` in [-1, 1] (tanh).
The label is embedded, concatenated with ``z``, projected by a dense layer to ``(H / 2^k) x (W / 2^k) x
gen_filters[0]`` and upsampled by ``k`` stride-2 transposed convolutions (batchnorm + ReLU), the last to ``C``
channels; ``k`` is the number of ``gen_filters`` entries, so ``H`` and ``W`` must be divisible by ``2^k``.

Discriminator: ``[image float32 [n, H, W, C] in [-1, 1], label int32 [n]]`` -> logit float32 ``[n, 1]``. The label
is embedded to an ``H x W`` plane and stacked on the image as an extra channel; stride-2 4x4 convolutions with
LeakyReLU(0.2) (batchnorm after the first) and dropout, then a dense logit.

Frechet distance (Heusel et al. 2017): ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between Gaussians fitted
to two feature sets; here the features are the image classifier's penultimate layer (not Inception).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import smspark  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from smspark.config import GanConfig


def upsampling_steps(size: int, cfg: GanConfig) -> int:
    """Number of stride-2 upsampling steps: ``len(cfg.gen_filters)``.

    Raises:
        ValueError: ``size`` not divisible by ``2 ** len(gen_filters)`` or the start grid smaller than 3.
    """
    k = len(cfg.gen_filters)
    if k < 1 or size % (2**k) != 0 or size // (2**k) < 3:
        raise ValueError(
            f"image side {size} is not divisible by 2^{k} with a start grid of at least 3 "
            f"(models.gan.gen_filters has {k} entries); use an image_size such as 28, 32 or 64"
        )
    return k


def build_generator(cfg: GanConfig, image_shape: tuple[int, int, int], num_classes: int) -> Any:  # -> tf_keras.Model
    """The uncompiled conditional generator for ``image_shape = (H, W, C)`` (see the module docstring)."""
    import tf_keras as keras

    h, w, c = image_shape
    k = upsampling_steps(min(h, w), cfg)
    h0, w0 = h // 2**k, w // 2**k
    z = keras.Input(shape=(cfg.latent_dim,), name="z")
    label = keras.Input(shape=(), dtype="int32", name="label")
    emb = keras.layers.Embedding(num_classes, 32, name="label_embedding")(label)
    x = keras.layers.Concatenate(name="z_label")([z, emb])
    x = keras.layers.Dense(h0 * w0 * cfg.gen_filters[0], use_bias=False, name="project")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    x = keras.layers.Reshape((h0, w0, cfg.gen_filters[0]), name="grid")(x)
    for i, filters in enumerate(cfg.gen_filters[1:], start=1):
        x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False, name=f"up{i}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"up{i}_bn")(x)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    img = keras.layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="tanh", name="image")(x)
    return keras.Model([z, label], img, name="generator")


def build_discriminator(
    cfg: GanConfig, image_shape: tuple[int, int, int], num_classes: int
) -> Any:  # -> tf_keras.Model
    """The uncompiled conditional discriminator for ``image_shape = (H, W, C)`` (see the module docstring).

    Outputs the real/fake logit float32 ``[n, 1]``; with ``cfg.aux_weight > 0`` a list ``[logit, class_logits
    float32 [n, num_classes]]`` (the auxiliary classifier of AC-GAN, Odena et al. 2017).
    """
    import tf_keras as keras

    def sn(layer: Any) -> Any:
        return keras.layers.SpectralNormalization(layer, name=f"{layer.name}_sn") if cfg.spectral_norm else layer

    h, w, c = image_shape
    image = keras.Input(shape=(h, w, c), name="image")
    label = keras.Input(shape=(), dtype="int32", name="label")
    x = image
    if cfg.conditioning == "concat":
        plane = keras.layers.Embedding(num_classes, h * w, name="label_embedding")(label)
        plane = keras.layers.Reshape((h, w, 1), name="label_plane")(plane)
        x = keras.layers.Concatenate(name="image_label")([image, plane])
    for i, filters in enumerate(cfg.disc_filters):
        x = sn(keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=f"down{i + 1}"))(x)
        if i > 0 and not cfg.spectral_norm:
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"down{i + 1}_bn")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i + 1}_lrelu")(x)
        x = keras.layers.Dropout(0.3, name=f"down{i + 1}_dropout")(x)
    features = keras.layers.Flatten(name="flatten")(x)
    logit = sn(keras.layers.Dense(1, name="logit"))(features)
    if cfg.conditioning == "projection":
        # Miyato & Koyama (2018): logit = psi(phi(x)) + <embed(y), phi(x)>
        embedded = keras.layers.Embedding(num_classes, int(features.shape[-1]), name="label_projection")(label)
        projection = keras.layers.Dot(axes=1, name="projection")([embedded, features])
        logit = keras.layers.Add(name="logit_projected")([logit, projection])
    if cfg.aux_weight > 0:
        class_logits = sn(keras.layers.Dense(num_classes, name="class_logits"))(features)
        return keras.Model([image, label], [logit, class_logits], name="discriminator")
    return keras.Model([image, label], logit, name="discriminator")


def discriminator_loss(cfg: GanConfig, real_logit: Any, fake_logit: Any) -> Any:  # tf.Tensor scalar
    """The discriminator's adversarial loss from its logits on real and generated images (float32 ``[n, 1]``).

    ``cfg.loss == "bce"``: binary cross-entropy with one-sided label smoothing (real target ``cfg.real_label``,
    Salimans et al. 2016); ``"hinge"``: ``mean(relu(1 - real)) + mean(relu(1 + fake))`` (Lim & Ye 2017, as used
    by Miyato et al. 2018).
    """
    import tensorflow as tf

    if cfg.loss == "hinge":
        return tf.reduce_mean(tf.nn.relu(1.0 - real_logit)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logit))
    bce = tf.nn.sigmoid_cross_entropy_with_logits
    real = bce(labels=tf.fill(tf.shape(real_logit), float(cfg.real_label)), logits=real_logit)
    fake = bce(labels=tf.zeros_like(fake_logit), logits=fake_logit)
    return tf.reduce_mean(real) + tf.reduce_mean(fake)


def generator_loss(cfg: GanConfig, fake_logit: Any) -> Any:  # tf.Tensor scalar
    """The generator's adversarial loss from the discriminator's logits on generated images (float32 ``[n, 1]``):
    the non-saturating ``-log D(G(z))`` for ``"bce"`` (Goodfellow et al. 2014), ``-mean(logit)`` for ``"hinge"``."""
    import tensorflow as tf

    if cfg.loss == "hinge":
        return -tf.reduce_mean(fake_logit)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(fake_logit), logits=fake_logit))


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1] (float, any shape) -> uint8 0..255 (rounded, clipped)."""
    return np.clip(np.rint((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_unit_range(pixels: np.ndarray) -> np.ndarray:
    """uint8/int pixel values 0..255 -> float32 in [-1, 1] (the generator's range)."""
    return np.asarray(pixels, dtype=np.float32) / 127.5 - 1.0


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``[n_a, d]`` and ``[n_b, d]`` (float64 math).

    Uses ``scipy.linalg.sqrtm`` for the matrix square root; a tiny imaginary part from numerical error is dropped
    and, when the product is near-singular (fewer samples than dimensions), ``1e-6`` is added to both diagonals.

    Raises:
        ValueError: fewer than 2 rows in a set or different feature dimensions.
    """
    from scipy import linalg

    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be [n, d] with the same d, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least 2 rows")
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # singular products are handled just below
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            eps = np.eye(s1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)))


def sample_grid(images: np.ndarray, rows: int, cols: int, scale: int = 2) -> np.ndarray:
    """``rows * cols`` uint8 images ``[n, H, W, C]`` (row-major: one row per class) -> one uint8 grid image
    ``[rows * (H + 2), cols * (W + 2), 3]`` with a 2-pixel white gutter, each pixel repeated ``scale`` times."""
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images for a {rows}x{cols} grid")
    rgb = images if c == 3 else np.repeat(images, 3, axis=3)
    grid = np.full((rows * (h + 2), cols * (w + 2), 3), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, cols)
        grid[r * (h + 2) + 1 : r * (h + 2) + 1 + h, col * (w + 2) + 1 : col * (w + 2) + 1 + w] = rgb[i]
    return grid.repeat(scale, axis=0).repeat(scale, axis=1)

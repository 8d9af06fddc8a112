"""The GAN's classical baseline: a class-conditional Gaussian in PCA space (probabilistic PCA per class, in the
spirit of Tipping & Bishop 1999), fitted with Spark MLlib.

Pixels scaled to [0, 1] are centred (MLlib ``StandardScaler(withMean=True, withStd=False)``) and projected on the
top ``k`` principal components (MLlib ``PCA``); per class a full-covariance Gaussian is fitted to the projections.
A sample of class ``c`` is ``mean + z @ components.T`` with ``z ~ N(mu_c, Sigma_c)``, clipped to [0, 1]. It is the
simplest generator that knows the classes: it reproduces each class's average shape and its main modes of variation
but no fine detail, so a GAN should reach a lower Frechet distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame


@dataclass
class PcaGaussian:
    """A fitted class-conditional PCA Gaussian.

    Attributes:
        image_shape: ``(H, W, C)`` of generated images.
        mean: float64 ``[H*W*C]`` pixel mean (in [0, 1]).
        components: float64 ``[H*W*C, k]`` principal components.
        class_means: float64 ``[num_classes, k]``; ``class_chol``: float64 ``[num_classes, k, k]``, the Cholesky
            factors of the per-class covariances (a class without rows gets the overall mean and covariance).
    """

    image_shape: tuple[int, int, int]
    mean: np.ndarray
    components: np.ndarray
    class_means: np.ndarray
    class_chol: np.ndarray

    def generate(self, labels: Sequence[int], seeds: Sequence[int]) -> np.ndarray:
        """uint8 images ``[n, H, W, C]`` of the requested classes; row ``i`` is drawn with ``seeds[i]`` (numpy PCG64).

        Raises:
            ValueError: a label outside ``0 .. num_classes - 1``.
        """
        lab = np.asarray(labels, dtype=np.int64)
        k = self.components.shape[1]
        if len(lab) and (lab.min() < 0 or lab.max() >= len(self.class_means)):
            raise ValueError(f"labels must be class indices 0..{len(self.class_means) - 1}")
        h, w, c = self.image_shape
        if not len(lab):
            return np.zeros((0, h, w, c), np.uint8)
        eps = np.stack([np.random.default_rng(int(s)).standard_normal(k) for s in seeds])
        z = self.class_means[lab] + np.einsum("nij,nj->ni", self.class_chol[lab], eps)
        x = np.clip(self.mean + z @ self.components.T, 0.0, 1.0)
        return np.round(x * 255.0).astype(np.uint8).reshape(len(lab), h, w, c)


def fit_pca_gaussian(train: DataFrame, image_shape: tuple[int, int, int], num_classes: int, k: int) -> PcaGaussian:
    """Fit the baseline on a ``features/image`` split (``pixels: array<int>`` 0..255, ``label: int``).

    Raises:
        ValueError: ``k`` not in ``1 .. H*W*C``.
    """
    from pyspark.ml.feature import PCA, StandardScaler
    from pyspark.ml.functions import vector_to_array

    from smspark.models.pixel_baseline import pixel_vectors

    d = int(np.prod(image_shape))
    if not 1 <= k <= d:
        raise ValueError(f"PCA components must be in 1..{d}, got {k}")
    vec = pixel_vectors(train).persist()
    scaler = StandardScaler(inputCol="features", outputCol="centred", withMean=True, withStd=False).fit(vec)
    centred = scaler.transform(vec)
    pca = PCA(k=k, inputCol="centred", outputCol="z").fit(centred)
    proj = pca.transform(centred).select(vector_to_array("z").alias("z"), "label").toPandas()
    vec.unpersist()
    z = np.stack(proj["z"].to_numpy()) if len(proj) else np.zeros((0, k))
    y = proj["label"].to_numpy(dtype=np.int64)
    overall_mu, overall_cov = z.mean(axis=0), np.cov(z, rowvar=False) + 1e-6 * np.eye(k)
    means, chols = [], []
    for cls in range(num_classes):
        zc = z[y == cls]
        mu, cov = (
            (zc.mean(axis=0), np.cov(zc, rowvar=False) + 1e-6 * np.eye(k)) if len(zc) > k else (overall_mu, overall_cov)
        )
        means.append(mu)
        chols.append(np.linalg.cholesky(np.atleast_2d(cov)))
    return PcaGaussian(
        image_shape=tuple(int(v) for v in image_shape),
        mean=scaler.mean.toArray(),
        components=pca.pc.toArray(),
        class_means=np.stack(means),
        class_chol=np.stack(chols),
    )

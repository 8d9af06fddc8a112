"""Synthetic user tables: the conditional tabular GAN (CTGAN), its Gaussian-copula baseline and their metrics."""

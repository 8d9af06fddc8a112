"""Conditional tabular GAN in tf_keras after CTGAN (Xu, Skoularidou, Cuesta-Infante, Veeramachaneni, "Modeling
Tabular Data using Conditional GAN", NeurIPS 2019).

- Mode-specific normalisation (section 4.2): each continuous column gets a variational Gaussian mixture
  (:class:`sklearn.mixture.BayesianGaussianMixture`, Dirichlet-process prior, at most ``max_modes`` modes, modes
  weighing under 0.005 dropped); a value ``x`` becomes a mode ``k`` drawn from its posterior and the scalar
  ``alpha = (x - mu_k) / (4 sigma_k)`` clipped to [-0.99, 0.99]: ``[alpha, one-hot(k)]``. Categorical columns are
  one-hot. On the way back, values are clipped to the training column's range and integer-valued columns are
  rounded (SDV's ``enforce_min_max_values`` and ``enforce_rounding``, on by default in its CTGAN synthesizer).
  Two additions for per-user aggregates (:class:`DataTransformer`): values held by many training rows (shares of
  exactly 0 or 1) are point-mass modes decoded to exactly that value, and heavily right-skewed non-negative
  columns (counts) are modelled as ``log1p``.
- Conditional vector and training-by-sampling (section 4.3): per batch row a discrete column is drawn uniformly and
  a category with probability proportional to ``log(1 + frequency)``; the real row is drawn among rows with that
  category; the generator pays a cross-entropy for not producing the asked category.
- Networks (section 4.4): generator of two residual blocks (Dense 256 + BatchNorm + ReLU, concatenated to its
  input), ``tanh`` for alphas and Gumbel-softmax (tau 0.2) for one-hots; PacGAN discriminator (Lin et al. 2018)
  judging ``pac`` rows at once (two Dense 256 + LeakyReLU 0.2 + Dropout 0.5); WGAN-GP loss (gradient penalty 10),
  Adam 2e-4, betas (0.5, 0.9), weight decay of the generator omitted. Optionally the exported generator is an
  exponential moving average of the trained one's weights (``ema_decay``; Yazici et al., ICLR 2019), as for the
  image GAN.

Distributed training: both networks' gradients go through ``hvd.DistributedGradientTape`` when a Horovod module is
given (one process is Horovod of size 1); every rank draws its own batches.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ColumnInfo:
    """One column's encoding: ``kind`` ``continuous`` or ``discrete`` (``categories``); ``width`` = encoded width
    (1 + modes, or categories). A continuous column's modes are its ``atoms`` first (point masses: ``means`` = the
    value, ``stds`` = 0), then the kept Gaussian modes of ``gmm`` (``keep`` masks its components); ``log``: the
    mixture models ``log1p`` of the value; ``low``/``high``: the training range; ``integer``: integer-valued."""

    name: str
    kind: str
    width: int
    means: np.ndarray | None = None
    stds: np.ndarray | None = None
    categories: list[Any] = field(default_factory=list)
    gmm: Any = None
    keep: np.ndarray | None = None
    low: float | None = None
    high: float | None = None
    integer: bool = False
    atoms: np.ndarray | None = None
    log: bool = False


class DataTransformer:
    """Mode-specific normalisation of continuous columns and one-hot discrete columns (CTGAN section 4.2), with two
    additions for tables of per-user aggregates (both off with ``atom_share=None, log_skew=None``):

    - Point masses (``atom_share``): a value held by at least that share of the training rows and by two rows at
      least (a share of exactly 0 or 1, a single active day, zero entropy) becomes a mode of its own with zero
      spread, decoded to exactly that value. A Gaussian mode fitted to it has the mixture's minimum variance, so
      half of the decoded values land just beside it and the column's cumulative distribution (what KSComplement
      compares) misses the jump. The Gaussian mixture models the remaining values; when fewer than two distinct
      values remain, every value of the column is an atom.
    - Heavy right tails (``log_skew``): a non-negative column whose sample skewness exceeds ``log_skew`` (rating
      counts, events per day: a few users with thousands of events) is modelled as ``log1p(x)`` and decoded with
      ``expm1``, so the mixture's modes cover the bulk of the users rather than the handful of extreme ones.

    Decoded values are clipped to the training range and integer-valued columns rounded either way.
    """

    def __init__(
        self, max_modes: int = 10, seed: int = 0, atom_share: float | None = 0.05, log_skew: float | None = 2.0
    ) -> None:
        self.max_modes, self.seed, self.atom_share, self.log_skew = max_modes, seed, atom_share, log_skew
        self.columns: list[ColumnInfo] = []

    def fit(self, df: pd.DataFrame, discrete: Sequence[str] = ()) -> DataTransformer:
        """Fit every column of ``df`` (numeric columns continuous unless named in ``discrete``); returns ``self``."""
        self.columns = []
        for name in df.columns:
            if name in discrete:
                cats = sorted(df[name].astype(str).unique().tolist())
                self.columns.append(ColumnInfo(name, "discrete", len(cats), categories=cats))
            else:
                self.columns.append(self._fit_continuous(name, df[name].to_numpy(float)))
        return self

    def _fit_continuous(self, name: str, x: np.ndarray) -> ColumnInfo:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import BayesianGaussianMixture

        values, counts = np.unique(x, return_counts=True)
        atoms = values[counts >= max(2, self.atom_share * len(x))] if self.atom_share else values[:0]
        skew = float(pd.Series(x).skew()) if len(values) > 2 else 0.0
        log = self.log_skew is not None and x.min() >= 0 and skew > self.log_skew
        rest = x[~np.isin(x, atoms)]
        if len(np.unique(rest)) < 2:  # too few other values for a mixture: every value is an atom
            atoms, rest = values, x[:0]
        rest = np.log1p(rest) if log else rest
        info = ColumnInfo(name, "continuous", 1, atoms=atoms, log=log)
        means, stds = [atoms.astype(float)], [np.zeros(len(atoms))]
        if len(rest):
            gmm = BayesianGaussianMixture(
                n_components=max(1, min(self.max_modes, len(np.unique(rest)))),
                weight_concentration_prior_type="dirichlet_process",
                weight_concentration_prior=0.001,
                max_iter=100,
                random_state=self.seed,
            )
            with warnings.catch_warnings():  # a mixture that stops at max_iter is still a usable normalisation
                warnings.simplefilter("ignore", ConvergenceWarning)
                gmm.fit(rest.reshape(-1, 1))
            info.gmm, info.keep = gmm, gmm.weights_ > 0.005
            means.append(gmm.means_.reshape(-1)[info.keep])
            stds.append(np.sqrt(gmm.covariances_.reshape(-1))[info.keep])
        info.means, info.stds = np.concatenate(means), np.concatenate(stds)
        info.width = 1 + len(info.means)
        info.low, info.high = float(x.min()), float(x.max())
        info.integer = bool(np.all(np.mod(x, 1) == 0))
        return info

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    def discrete_columns(self) -> list[ColumnInfo]:
        return [c for c in self.columns if c.kind == "discrete"]

    def transform(self, df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """``(rows, width)`` float32: per continuous column ``[alpha, one-hot mode]`` (an atom's rows: its mode and
        alpha 0; other rows: a Gaussian mode drawn from the posterior), per discrete column a one-hot."""
        parts = []
        for c in self.columns:
            if c.kind == "discrete":
                idx = np.array([c.categories.index(v) for v in df[c.name].astype(str)])
                parts.append(np.eye(c.width, dtype=np.float32)[idx])
                continue
            x = df[c.name].to_numpy(float)
            atoms = c.atoms if c.atoms is not None else x[:0]
            mode = np.zeros(len(x), dtype=np.int64)
            alpha = np.zeros(len(x))
            at = np.isin(x, atoms)
            mode[at] = np.searchsorted(atoms, x[at])
            if c.gmm is not None and (~at).any():
                y = np.log1p(x[~at]) if c.log else x[~at]
                probs = c.gmm.predict_proba(y.reshape(-1, 1))[:, c.keep] + 1e-6
                probs /= probs.sum(axis=1, keepdims=True)
                k = len(atoms) + (probs.cumsum(axis=1) > rng.random((len(y), 1))).argmax(axis=1)
                mode[~at] = k
                alpha[~at] = np.clip((y - c.means[k]) / (4 * c.stds[k]), -0.99, 0.99)
            elif (~at).any():  # every training value was an atom: the nearest one
                mode[~at] = np.abs(x[~at, None] - atoms[None, :]).argmin(axis=1)
            parts.append(np.column_stack([alpha, np.eye(c.width - 1)[mode]]).astype(np.float32))
        return np.concatenate(parts, axis=1)

    def inverse(self, data: np.ndarray) -> pd.DataFrame:
        """Rows of the original columns from encoded rows (argmax of each one-hot block); an atom's mode decodes to
        its value, a Gaussian mode to ``mean + 4 std alpha`` (``expm1`` of it for a ``log`` column); continuous
        values clipped to the training range, integer-valued columns rounded."""
        out, pos = {}, 0
        for c in self.columns:
            block = data[:, pos : pos + c.width]
            pos += c.width
            if c.kind == "discrete":
                out[c.name] = np.array(c.categories, dtype=object)[block.argmax(axis=1)]
                continue
            mode = block[:, 1:].argmax(axis=1)
            x = np.clip(block[:, 0], -1, 1) * 4 * c.stds[mode] + c.means[mode]
            n_atoms = 0 if c.atoms is None else len(c.atoms)
            if c.log:
                x = np.where(mode < n_atoms, x, np.expm1(np.minimum(x, 700.0)))
            if c.low is not None and c.high is not None:
                x = np.clip(x, c.low, c.high)
            out[c.name] = np.rint(x) if c.integer else x
        return pd.DataFrame(out)


class ConditionalSampler:
    """Conditional vectors and training-by-sampling (CTGAN section 4.3) over the discrete columns of encoded rows."""

    def __init__(self, transformer: DataTransformer, data: np.ndarray) -> None:
        self.spans: list[tuple[int, int]] = []  # (start in the data row, width) of each discrete column
        self.rows_by_cat: list[list[np.ndarray]] = []
        self.probs: list[np.ndarray] = []
        pos = 0
        for c in transformer.columns:
            if c.kind == "discrete":
                block = data[:, pos : pos + c.width]
                self.spans.append((pos, c.width))
                self.rows_by_cat.append([np.flatnonzero(block[:, k] > 0.5) for k in range(c.width)])
                freq = np.log1p(block.sum(axis=0))
                self.probs.append(freq / freq.sum())
            pos += c.width
        self.width = sum(w for _, w in self.spans)
        self.n = len(data)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(cond (batch, width), mask (batch, discrete columns), real row indices (batch,))``; with no discrete
        column, empty conditions and uniformly drawn rows."""
        if not self.spans:
            return np.zeros((batch, 0), np.float32), np.zeros((batch, 0), np.float32), rng.integers(0, self.n, batch)
        cond = np.zeros((batch, self.width), np.float32)
        mask = np.zeros((batch, len(self.spans)), np.float32)
        rows = np.empty(batch, dtype=np.int64)
        col = rng.integers(0, len(self.spans), batch)
        offsets = np.cumsum([0] + [w for _, w in self.spans])
        for i, j in enumerate(col):
            k = rng.choice(len(self.probs[j]), p=self.probs[j])
            cond[i, offsets[j] + k] = 1.0
            mask[i, j] = 1.0
            rows[i] = rng.choice(self.rows_by_cat[j][k])
        return cond, mask, rows

    def sample_original(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """Conditions for generation: a discrete column drawn uniformly, a category by its empirical frequency."""
        cond = np.zeros((batch, self.width), np.float32)
        if not self.spans:
            return cond
        offsets = np.cumsum([0] + [w for _, w in self.spans])
        for i, j in enumerate(rng.integers(0, len(self.spans), batch)):
            counts = np.array([len(r) for r in self.rows_by_cat[j]], float)
            cond[i, offsets[j] + rng.choice(len(counts), p=counts / counts.sum())] = 1.0
        return cond


def build_generator(noise_dim: int, cond_dim: int, transformer: DataTransformer, hidden: int = 256) -> Any:
    """Generator ``[z, cond] -> encoded row`` (raw logits; :func:`activate` applies tanh / Gumbel-softmax)."""
    import tf_keras as keras

    inp = keras.Input((noise_dim + cond_dim,))
    h = inp
    for _ in range(2):
        r = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Dense(hidden)(h)))
        h = keras.layers.Concatenate()([r, h])
    return keras.Model(inp, keras.layers.Dense(transformer.width)(h), name="ctgan_generator")


def build_discriminator(data_dim: int, cond_dim: int, pac: int, hidden: int = 256) -> Any:
    """PacGAN critic: ``(batch / pac, pac * (data_dim + cond_dim)) -> (batch / pac, 1)`` scores."""
    import tf_keras as keras

    inp = keras.Input((pac * (data_dim + cond_dim),))
    h = inp
    for _ in range(2):
        h = keras.layers.Dropout(0.5)(keras.layers.LeakyReLU(0.2)(keras.layers.Dense(hidden)(h)))
    return keras.Model(inp, keras.layers.Dense(1)(h), name="ctgan_discriminator")


def activate(logits: Any, transformer: DataTransformer, tau: float = 0.2) -> Any:
    """tanh on alphas, Gumbel-softmax (temperature ``tau``) on every one-hot block (CTGAN's output layer)."""
    import tensorflow as tf

    parts, pos = [], 0
    for c in transformer.columns:
        if c.kind == "continuous":
            parts.append(tf.tanh(logits[:, pos : pos + 1]))
            pos += 1
        width = c.width - 1 if c.kind == "continuous" else c.width
        block = logits[:, pos : pos + width]
        u = tf.random.uniform(tf.shape(block), 1e-10, 1.0)
        parts.append(tf.nn.softmax((block - tf.math.log(-tf.math.log(u))) / tau))
        pos += width
    return tf.concat(parts, axis=1)


@dataclass
class CtganConfig:
    """Training settings (CTGAN's defaults except ``epochs``/``batch_size`` for small tables); ``atom_share`` and
    ``log_skew`` are the :class:`DataTransformer`'s (None turns either off)."""

    epochs: int = 30
    batch_size: int = 100
    noise_dim: int = 128
    pac: int = 10
    lr: float = 2e-4
    gp_weight: float = 10.0
    max_modes: int = 10
    seed: int = 0
    ema_decay: float | None = None
    atom_share: float | None = 0.05
    log_skew: float | None = 2.0


class Ctgan:
    """A fitted CTGAN: transformer, conditional sampler and generator; :meth:`sample` draws synthetic rows."""

    def __init__(self, cfg: CtganConfig, transformer: DataTransformer, sampler: ConditionalSampler, generator: Any):
        self.cfg, self.transformer, self.sampler, self.generator = cfg, transformer, sampler, generator
        self.history: list[dict[str, float]] = []

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        """``n`` synthetic rows with the training table's columns."""
        import tensorflow as tf

        rng = np.random.default_rng(seed)
        tf.random.set_seed(seed)
        z = rng.standard_normal((n, self.cfg.noise_dim)).astype(np.float32)
        cond = self.sampler.sample_original(n, rng)
        logits = self.generator(np.concatenate([z, cond], axis=1), training=False)
        return self.transformer.inverse(activate(logits, self.transformer).numpy())


def fit(
    df: pd.DataFrame,
    discrete: Sequence[str] = (),
    cfg: CtganConfig | None = None,
    hvd: Any = None,
    transformer: DataTransformer | None = None,
    steps_per_epoch: int | None = None,
) -> Ctgan:
    """Train a CTGAN on ``df`` (numeric columns continuous, ``discrete`` categorical).

    Args:
        df: training rows (pandas; at least ``batch_size`` rows).
        discrete: categorical column names.
        cfg: settings; ``batch_size`` is rounded down to a multiple of ``pac``.
        hvd: ``horovod.tensorflow`` (initialised) to average gradients across ranks; ``None`` trains alone.
        transformer: an already fitted :class:`DataTransformer` (with Horovod, every rank must encode rows the same
            way: fit it once on all training rows and hand it to every rank); ``None`` fits one on ``df``.
        steps_per_epoch: optimizer steps per epoch (default ``len(df) // batch``); with Horovod every rank must
            run the same number, so pass one computed from all training rows.

    Raises:
        ValueError: fewer rows than one batch.
    """
    import tensorflow as tf
    import tf_keras as keras

    cfg = cfg or CtganConfig()
    batch = max(cfg.pac, cfg.batch_size // cfg.pac * cfg.pac)
    if len(df) < batch:
        raise ValueError(f"{len(df)} rows: CTGAN needs at least one batch of {batch}")
    rng = np.random.default_rng(cfg.seed + (hvd.rank() if hvd else 0))
    tf.random.set_seed(cfg.seed)
    if transformer is None:
        transformer = DataTransformer(cfg.max_modes, cfg.seed, cfg.atom_share, cfg.log_skew).fit(df, discrete)
    data = transformer.transform(df, rng)
    sampler = ConditionalSampler(transformer, data)
    gen = build_generator(cfg.noise_dim, sampler.width, transformer)
    disc = build_discriminator(transformer.width, sampler.width, cfg.pac)
    g_opt = keras.optimizers.Adam(cfg.lr, beta_1=0.5, beta_2=0.9)
    d_opt = keras.optimizers.Adam(cfg.lr, beta_1=0.5, beta_2=0.9)
    spans = sampler.spans
    wrap = hvd.DistributedGradientTape if hvd else (lambda t: t)

    def packed(rows: tf.Tensor, cond: tf.Tensor) -> tf.Tensor:
        return tf.reshape(tf.concat([rows, cond], axis=1), (batch // cfg.pac, -1))

    def cond_loss(logits: tf.Tensor, cond: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        if not spans:
            return tf.constant(0.0)
        losses, cpos = [], 0
        for start, width in spans:
            target = cond[:, cpos : cpos + width]
            losses.append(tf.nn.softmax_cross_entropy_with_logits(target, logits[:, start : start + width]))
            cpos += width
        return tf.reduce_mean(tf.reduce_sum(tf.stack(losses, axis=1) * mask, axis=1))

    @tf.function
    def step(real: tf.Tensor, cond: tf.Tensor, mask: tf.Tensor, z: tf.Tensor, z2: tf.Tensor) -> tuple[tf.Tensor, ...]:
        with tf.GradientTape() as tape:
            fake = activate(gen(tf.concat([z, cond], 1), training=True), transformer)
            real_s = disc(packed(real, cond), training=True)
            fake_s = disc(packed(fake, cond), training=True)
            eps = tf.random.uniform((batch // cfg.pac, 1))
            mix_in = eps * packed(real, cond) + (1 - eps) * packed(fake, cond)
            with tf.GradientTape() as gp_tape:
                gp_tape.watch(mix_in)
                mix_s = disc(mix_in, training=True)
            grad = gp_tape.gradient(mix_s, mix_in)
            gp = tf.reduce_mean((tf.norm(grad + 1e-12, axis=1) - 1.0) ** 2)
            d_loss = tf.reduce_mean(fake_s) - tf.reduce_mean(real_s) + cfg.gp_weight * gp
        tape = wrap(tape)
        d_opt.apply_gradients(
            zip(tape.gradient(d_loss, disc.trainable_variables), disc.trainable_variables, strict=True)
        )
        with tf.GradientTape() as tape:
            logits = gen(tf.concat([z2, cond], 1), training=True)
            fake = activate(logits, transformer)
            g_loss = -tf.reduce_mean(disc(packed(fake, cond), training=True)) + cond_loss(logits, cond, mask)
        tape = wrap(tape)
        g_opt.apply_gradients(zip(tape.gradient(g_loss, gen.trainable_variables), gen.trainable_variables, strict=True))
        return d_loss, g_loss

    ema = None
    if cfg.ema_decay is not None:
        ema = build_generator(cfg.noise_dim, sampler.width, transformer)
        ema.set_weights(gen.get_weights())

    @tf.function
    def ema_update() -> None:
        for e, w in zip(ema.weights, gen.weights, strict=True):
            e.assign(cfg.ema_decay * e + (1.0 - cfg.ema_decay) * w)

    model = Ctgan(cfg, transformer, sampler, ema if ema is not None else gen)
    steps = steps_per_epoch or max(1, len(df) // batch)
    for epoch in range(cfg.epochs):
        d_sum = g_sum = 0.0
        for s in range(steps):
            cond, mask, rows = sampler.sample(batch, rng)
            z = rng.standard_normal((2, batch, cfg.noise_dim)).astype(np.float32)
            if hvd and epoch == 0 and s == 0:
                step(data[rows], cond, mask, z[0], z[1])
                hvd.broadcast_variables(gen.variables + disc.variables, root_rank=0)
                if ema is not None:
                    ema.set_weights(gen.get_weights())
                continue
            d_loss, g_loss = step(data[rows], cond, mask, z[0], z[1])
            if ema is not None:
                ema_update()
            d_sum, g_sum = d_sum + float(d_loss), g_sum + float(g_loss)
        model.history.append({"epoch": epoch, "d_loss": d_sum / steps, "g_loss": g_sum / steps})
    return model

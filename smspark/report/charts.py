"""The report's charts: matplotlib (Agg backend) figures returned as PNG bytes, ready to embed.

Every function takes small pandas/NumPy inputs (already aggregated) and returns the PNG file's bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

SENTIMENT_COLOURS = {"negative": "#d62728", "neutral": "#7f7f7f", "positive": "#2ca02c"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def k_selection_png(ks: Sequence[float], npmi: Sequence[float], log_perplexity: Sequence[float], chosen: int) -> bytes:
    """Mean NPMI (left axis) and log-perplexity (right axis) on validation for every k tried; the chosen k marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ks, npmi, "o-", color="#1f77b4", label="NPMI (val)")
    ax.set_xlabel("k (topics)")
    ax.set_ylabel("mean NPMI (higher is better)", color="#1f77b4")
    ax.axvline(chosen, color="grey", linestyle=":", linewidth=1)
    ax2 = ax.twinx()
    ax2.plot(ks, log_perplexity, "s--", color="#ff7f0e", label="log-perplexity (val)")
    ax2.set_ylabel("log-perplexity (lower is better)", color="#ff7f0e")
    ax.set_title(f"Topic model: k chosen by coherence (k = {chosen})")
    return _png(fig)


def sentiment_share_png(shares: pd.DataFrame, title: str) -> bytes:
    """Stacked area of the share of each predicted label over time.

    ``shares``: index ``dt`` (dates), columns ``negative``, ``neutral``, ``positive`` (fractions summing to 1).
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    cols = [c for c in SENTIMENT_COLOURS if c in shares.columns]
    ax.stackplot(
        pd.to_datetime(shares.index),
        *[shares[c].to_numpy(dtype=float) for c in cols],
        labels=cols,
        colors=[SENTIMENT_COLOURS[c] for c in cols],
        alpha=0.85,
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of posts")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    return _png(fig)


def topic_share_png(shares: pd.DataFrame, title: str) -> bytes:
    """Stacked area of topic shares over time: index periods (dates), one column per topic label."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    colours = plt.get_cmap("tab20").colors
    ax.stackplot(
        pd.to_datetime(shares.index),
        *[shares[c].to_numpy(dtype=float) for c in shares.columns],
        labels=list(shares.columns),
        colors=colours[: len(shares.columns)],
        alpha=0.9,
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of posts")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    return _png(fig)


def history_png(history: dict[str, Sequence[float]], title: str) -> bytes:
    """Training curves: every per-epoch series of ``history`` (losses on the left, other metrics on the right)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax2 = None
    for name, values in sorted(history.items()):
        vals = [float(v) for v in values if v is not None]
        if not vals:
            continue
        epochs = np.arange(1, len(vals) + 1)
        if "loss" in name:
            ax.plot(epochs, vals, marker=".", label=name)
        else:
            ax2 = ax2 or ax.twinx()
            ax2.plot(epochs, vals, marker=".", linestyle="--", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    if ax2 is not None:
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    if handles:
        ax.legend(handles, labels, fontsize=7)
    return _png(fig)


def bar_png(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str) -> bytes:
    """Horizontal bars, one per label, in the order given (top to bottom), each annotated with its value."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.32 * max(len(labels), 1)))
    y = np.arange(len(labels))
    ax.barh(y, values, color="#1f77b4")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    top = max([float(v) for v in values] or [0.0])
    for yi, v in zip(y, values, strict=True):
        ax.text(float(v) + top * 0.01, yi, f"{v:,.4g}" if isinstance(v, float) else f"{v:,}", va="center", fontsize=7)
    return _png(fig)


def image_grid_png(images: Sequence[np.ndarray], captions: Sequence[str], title: str, cols: int = 10) -> bytes:
    """A grid of images (uint8 ``H x W`` or ``H x W x C``), each captioned."""
    plt = _plt()
    n = max(len(images), 1)
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, cap in zip(axes.ravel(), images, captions, strict=False):
        ax.imshow(img.squeeze(), cmap="gray" if img.ndim == 2 or img.shape[-1] == 1 else None, vmin=0, vmax=255)
        ax.set_title(cap, fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _png(fig)

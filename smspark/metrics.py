"""Classification metrics shared by the models and their baselines (scikit-learn underneath).

Both a model and its baseline are scored by these same functions on the same split, so their figures
are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro-F1 and per-class F1 (``f1_<class>``) for integer class labels ``[n]``."""
    labels = list(range(len(classes)))
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }
    out.update({f"f1_{c}": float(v) for c, v in zip(classes, per_class, strict=True)})
    return out


def best_threshold(y_true: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """The decision threshold with the highest F1 of the positive class, and that F1.

    The best F1 is reached on an interval: every cut between the lowest score it flags and the next lower score
    flags the same rows. Taking the interval's top end (the lowest flagged score itself, as scikit-learn's
    ``precision_recall_curve`` lists it) puts the cut right on a validation example, so an unseen positive that
    scores a little lower is missed; the threshold returned is the interval's middle in log-odds (the scale of the
    logistic/softmax output layer's linear score), the cut with the widest margin to both sides. The F1 on ``p``
    is the same for every cut of the interval.

    Args:
        y_true: 0/1 labels ``[n]``.
        p: positive-class probabilities ``[n]``; a row is positive when ``p >= threshold``.

    Returns:
        ``(threshold, f1)``: the lowest of equally good cuts, moved to the middle of its interval (the flagged
        score itself when no score lies below it); ``(0.5, 0.0)`` when ``y_true`` holds no positive.
    """
    y_true = np.asarray(y_true)
    if not (y_true == 1).any():
        return 0.5, 0.0
    p = np.asarray(p, dtype=np.float64)
    precision, recall, thresholds = precision_recall_curve(y_true, p)
    precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))
    top = float(thresholds[best])
    below = p[p < top]
    if not below.size:
        return top, float(f1[best])
    lo = float(below.max())
    eps = 1e-12
    logit = np.log(np.clip([lo, top], eps, 1 - eps)) - np.log1p(-np.clip([lo, top], eps, 1 - eps))
    mid = float(1.0 / (1.0 + np.exp(-logit.mean())))
    return (mid if lo < mid <= top else top), float(f1[best])


def binary_report(y_true: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Figures of the positive class (spam) for probabilities ``p`` ``[n]`` and 0/1 labels ``y_true`` ``[n]``.

    ``precision``, ``recall``, ``f1`` and ``accuracy`` of ``p >= threshold``; ``pr_auc`` (average precision, the
    step-wise area under the precision-recall curve) and ``roc_auc``, threshold-free (NaN when only one class is
    present); ``threshold``, ``rows`` and ``positive_rate`` beside them.
    """
    y_true = np.asarray(y_true).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    pred = (p >= threshold).astype(np.int64)
    both = len(np.unique(y_true)) == 2
    return {
        "precision": float(precision_score(y_true, pred, zero_division=0)),
        "recall": float(recall_score(y_true, pred, zero_division=0)),
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, pred)),
        "pr_auc": float(average_precision_score(y_true, p)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(y_true, p)) if both else float("nan"),
        "threshold": float(threshold),
        "rows": int(len(y_true)),
        "positive_rate": float(y_true.mean()) if len(y_true) else 0.0,
    }


def plot_confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], title: str, path: Path
) -> Path:
    """Write a confusion-matrix PNG (rows true, columns predicted, counts annotated) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(classes))))
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(classes), 1.0 + 0.8 * len(classes)))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black"
            )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def confusion_plots(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: Sequence[str],
    title: str,
    baselines: Sequence[Any],
    out_dir: Path,
) -> list[Path]:
    """Confusion-matrix PNGs of a model (``cm_cnn.png``, titled ``title``) and of every baseline that kept its test
    labels and predictions (``y_true``/``y_pred`` of :class:`smspark.train.lifecycle.Baseline`,
    ``cm_<name>.png``)."""
    pngs = [plot_confusion_matrix(y_true, y_pred, classes, title, out_dir / "cm_cnn.png")]
    for b in baselines:
        if b.y_true is not None:
            pngs.append(
                plot_confusion_matrix(b.y_true, b.y_pred, classes, f"{b.name} (test)", out_dir / f"cm_{b.name}.png")
            )
    return pngs

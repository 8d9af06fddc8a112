"""Classification metrics shared by the models and their baselines (scikit-learn underneath).

Both a model and its baseline are scored by these same functions on the same split, so their figures
are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


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

"""Sample source ``fashion_mnist`` (:mod:`smspark.sources.fashion_mnist`) and the IDX reader on its real files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from smspark.sources import fashion_mnist
from smspark.sources.common import SourceUnavailable
from smspark.sources.idx import read_idx

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Fashion-MNIST files: installed, already in the project's landing, or fetched now (apt-get)."""
    for candidate in (fashion_mnist.FASHION_DIR, REPO / "data/landing/images/fashion_mnist"):
        if all((candidate / name).is_file() for name in fashion_mnist.FASHION_FILES):
            return candidate
    landing = tmp_path_factory.mktemp("fashion-landing")
    try:
        fashion_mnist.fetch_fashion_mnist(landing)
    except SourceUnavailable as exc:
        pytest.skip(f"Fashion-MNIST not obtainable: {exc}")
    return landing / "images/fashion_mnist"


def test_read_idx_real_fashion_mnist(fashion_dir: Path) -> None:
    images = read_idx(fashion_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28)
    assert images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert labels.dtype == np.uint8
    assert labels.min() == 0 and labels.max() == 9
    assert set(Counter(labels.tolist()).values()) == {1000}
    assert read_idx(fashion_dir / "train-labels-idx1-ubyte.gz").shape == (60000,)


def test_fetch_fashion_mnist_layout(fashion_dir: Path) -> None:
    classes = fashion_dir / "classes.json"
    if classes.is_file():  # a landing copy, not the installed package
        assert json.loads(classes.read_text(encoding="utf-8"))[0] == "T-shirt/top"
        assert len(json.loads(classes.read_text(encoding="utf-8"))) == 10

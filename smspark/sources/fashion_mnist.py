"""Sample source ``fashion_mnist``: Zalando's Fashion-MNIST IDX files from the Debian package.

Source: Debian ``dataset-fashion-mnist``, ``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,
labels-idx1}-ubyte.gz`` (IDX format, read with :mod:`smspark.sources.idx`). Taken from the installed package when
present, otherwise downloaded with ``apt-get download`` and unpacked with ``dpkg-deb -x`` in a temporary directory
(:func:`~smspark.sources.common.apt_get_download`); nothing is installed system-wide.

Output: the four files byte for byte in ``images/fashion_mnist/`` under the landing root (60,000 training and
10,000 test images of 28x28 uint8, labels 0..9) and ``classes.json``, the 10 class names in label order.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from smspark.sources.common import (
    Output,
    SourceUnavailable,
    apt_get_download,
    atomic_path,
    check_count,
    installed_deb_version,
    sha256_file,
    source_entry,
)
from smspark.sources.idx import read_idx

log = logging.getLogger(__name__)

FASHION_DEB = "dataset-fashion-mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: Fashion-MNIST class names, index = label.
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
#: Images of the pinned splits; a different count is logged as a warning.
EXPECTED_TRAIN = 60_000
EXPECTED_TEST = 10_000


def _debian_fashion_files(workdir: Path) -> tuple[Path, str, dict[str, Any]]:
    """The directory holding the four Fashion-MNIST files, the Debian package version, and archive details."""
    if all((FASHION_DIR / name).is_file() for name in FASHION_FILES):
        version = installed_deb_version(FASHION_DEB, workdir)
        log.info("fashion_mnist: using the installed package at %s", FASHION_DIR)
        return FASHION_DIR, version, {"installed": str(FASHION_DIR)}

    how = (
        f"install it with `apt-get install {FASHION_DEB}` (Debian/Ubuntu), or copy {', '.join(FASHION_FILES)} "
        f"into {FASHION_DIR}"
    )
    deb, extracted, version = apt_get_download(FASHION_DEB, workdir, how, installed_dir=FASHION_DIR)
    directory = extracted / FASHION_DIR.relative_to("/")
    missing = [name for name in FASHION_FILES if not (directory / name).is_file()]
    if missing:
        raise SourceUnavailable(f"{deb.name} does not contain {missing} under {FASHION_DIR}")
    log.info("fashion_mnist: downloaded %s", deb.name)
    return directory, version, {"archive": deb.name, "archive_sha256": sha256_file(deb)}


def fetch_fashion_mnist(landing: Path) -> dict[str, Any]:
    """Copy the Fashion-MNIST IDX files to ``images/fashion_mnist/`` and write ``classes.json``.

    Source: Debian package ``dataset-fashion-mnist``, files ``/usr/share/datasets/fashion-mnist/{train,t10k}-
    {images-idx3,labels-idx1}-ubyte.gz``. When that directory is absent the package is fetched with
    ``apt-get download`` (after ``apt-get update`` if needed) into a temporary directory and unpacked with
    ``dpkg-deb -x``: nothing is installed system-wide. The files are copied byte for byte and checked with
    :func:`~smspark.sources.idx.read_idx`: 60,000 training and 10,000 test images of 28x28 uint8, labels 0..9.
    ``classes.json`` is the JSON list of the 10 class names in label order (:data:`FASHION_CLASSES`).

    Returns:
        The dataset's ``_SOURCES.json`` entry.

    Raises:
        SourceUnavailable: when the files are not installed and apt-get/dpkg-deb are missing or fail.
        ValueError: when a file is not the expected IDX content.
    """
    dst_dir = landing / "images/fashion_mnist"
    with tempfile.TemporaryDirectory(prefix="smspark-fashion-") as tmp:
        src_dir, version, archive = _debian_fashion_files(Path(tmp))
        sources: list[tuple[str, Path]] = []
        outputs: list[Output] = []
        counts: dict[str, int] = {}
        for split in ("train", "t10k"):
            images = read_idx(src_dir / f"{split}-images-idx3-ubyte.gz")
            labels = read_idx(src_dir / f"{split}-labels-idx1-ubyte.gz")
            if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
                raise ValueError(f"{split} images: expected uint8 (n, 28, 28), got {images.dtype} {images.shape}")
            if labels.shape != (images.shape[0],) or labels.min() < 0 or labels.max() >= len(FASHION_CLASSES):
                raise ValueError(f"{split} labels: expected {images.shape[0]} labels in 0..9, got {labels.shape}")
            counts[split] = int(images.shape[0])
        check_count("fashion_train", counts["train"], EXPECTED_TRAIN)
        check_count("fashion_test", counts["t10k"], EXPECTED_TEST)
        for name in FASHION_FILES:
            with atomic_path(dst_dir / name) as out:
                shutil.copyfile(src_dir / name, out)
            sources.append((f"{FASHION_DIR}/{name}", src_dir / name))
            outputs.append(
                Output(f"images/fashion_mnist/{name}", counts["train" if name.startswith("train") else "t10k"])
            )
        with atomic_path(dst_dir / "classes.json") as out:
            out.write_text(json.dumps(list(FASHION_CLASSES), indent=2) + "\n", encoding="utf-8")
        outputs.append(Output("images/fashion_mnist/classes.json", len(FASHION_CLASSES)))
        log.info("fashion_mnist: %d train + %d test images -> %s", counts["train"], counts["t10k"], dst_dir)
        return source_entry(
            registry="debian",
            package=FASHION_DEB,
            version=version,
            sources=sources,
            outputs=outputs,
            landing=landing,
            details={"train": counts["train"], "test": counts["t10k"], "classes": list(FASHION_CLASSES), **archive},
            notes="Fashion-MNIST by Zalando Research (MIT licence), as packaged by Debian. IDX format, gzip.",
        )

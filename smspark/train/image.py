"""The image classifier in the lifecycle: the conv-BN-ReLU CNN next to MLlib LogisticRegression on the pixels.

Reads ``features/image/{train,val,test}`` (``media_id``, ``pixels`` int32 ``[H*W*C]`` 0..255, ``label`` int32) and
``meta.json`` (``classes``, ``input_shape``, ``dataset``). Selection metric: macro-F1 on validation. A champion
trained on another dataset, other classes or another input shape cannot be measured on these features: it is
replaced, and the manifest says why.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smspark import storage
from smspark.metrics import classification_report, plot_confusion_matrix
from smspark.train.lifecycle import Baseline, Candidate, ModelAdapter, Package, pip_requirements

MODEL = "image"


def read_pixels(uri: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A features split read with pyarrow: ``X`` uint8 ``[n, L]``, ``y`` int64 ``[n]``, ``media_id`` object ``[n]``.

    Raises:
        ValueError: an empty split.
    """

    table = storage.read_parquet(uri, columns=["media_id", "pixels", "label"])
    if table.num_rows == 0:
        raise ValueError(f"no rows in {uri}")
    flat = table.column("pixels").combine_chunks()
    length = len(flat[0])
    x = flat.flatten().to_numpy(zero_copy_only=False).astype(np.uint8).reshape(table.num_rows, length)
    return x, table.column("label").to_numpy().astype(np.int64), table.column("media_id").to_numpy(zero_copy_only=False)


def features_meta(features_uri: str) -> dict[str, Any]:
    """``features/image/meta.json`` (``classes``, ``input_shape``, ``dataset``, ``rows``, ``class_counts``)."""
    return storage.read_json(storage.join(features_uri, "meta.json"))


def image_pyfunc(model: Any, meta: dict[str, Any]) -> Any:
    """An :class:`~smspark.models.media_packaging.ImagePyfunc` around an in-memory Keras model."""
    from smspark.models.media_packaging import ImagePyfunc

    wrapper = ImagePyfunc()
    wrapper.keras_model, wrapper.meta = model, meta
    return wrapper


def incompatible_image_model(model: Any, meta: dict[str, Any]) -> str | None:
    """Why an image pyfunc cannot be measured on features described by ``meta`` (``features/image/meta.json``)."""
    theirs = model.meta
    for key in ("dataset", "classes", "input_shape"):
        if list(np.atleast_1d(theirs.get(key))) != list(np.atleast_1d(meta.get(key))):
            return f"it was trained with {key}={theirs.get(key)}, these features have {meta.get(key)}"
    return None


class ImageAdapter(ModelAdapter):
    """The image CNN (``smspark_image``): see :mod:`smspark.models.image` and :mod:`smspark.models.pixel_baseline`."""

    name = MODEL
    features = "image"
    candidate_name = "cnn"
    selection_metric = "macro_f1"
    resumable = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.meta = features_meta(ctx.features_uri)
        self.classes: list[str] = list(self.meta["classes"])
        self.input_shape = tuple(int(v) for v in self.meta["input_shape"])
        self.model_meta = {
            "classes": self.classes,
            "input_shape": list(self.input_shape),
            "dataset": self.meta["dataset"],
        }
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def params(self) -> dict[str, Any]:
        p = {k: v for k, v in super().params().items() if k != "dataset"}
        return {
            **p,
            "dataset": self.meta["dataset"],
            "input_shape": "x".join(map(str, self.input_shape)),
            "num_classes": len(self.classes),
        }

    def tags(self) -> dict[str, str]:
        return {"dataset": str(self.meta["dataset"])}

    def train(self) -> Candidate:
        from smspark.models.image import build_model, early_stopping_patience

        mcfg = self.cfg.models.image
        run = self.train_keras(
            "cnn",
            functools.partial(build_model, mcfg, self.input_shape, len(self.classes)),
            ["pixels"],
            "label",
            mcfg,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            early_stopping_patience=early_stopping_patience(mcfg, self.split_rows()["train"], self.ctx.num_proc),
        )
        meta_uri = storage.write_json(self.ctx.work("cnn", "image_meta.json"), self.model_meta)
        artifacts = {
            "keras_model": self.ctx.local(storage.join(run.out_uri, "model.h5")),
            "meta": self.ctx.local(meta_uri),
        }
        model = image_pyfunc(run.model, self.model_meta)
        extra = {"training": run.summary(), **self.model_meta}
        return Candidate(model, artifacts, run.history, run.ranks, run.seconds, extra)

    def split_data(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(pixels uint8 [n, H*W*C], labels int64 [n])`` of a features split."""
        if split not in self._data:
            x, y, _ = read_pixels(self.ctx.features(split))
            self._data[split] = (x, y)
        return self._data[split]

    def predictions(self, model: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.split_data(split)
        _, probs = model.embed_and_predict(x)
        return y, probs.argmax(axis=1)

    def evaluate(self, model: Any, split: str) -> dict[str, Any]:
        return classification_report(*self.predictions(model, split), self.classes)

    def incompatible(self, champion: Any) -> str | None:
        return incompatible_image_model(champion, self.model_meta)

    def baselines(self) -> list[Baseline]:
        from smspark.models.pixel_baseline import pixel_logreg

        mcfg = self.cfg.models.image
        splits = self.split_frames()
        base = pixel_logreg(
            splits["train"],
            splits["val"],
            splits["test"],
            self.classes,
            reg_grid=mcfg.baseline_reg_grid,
            max_iter=mcfg.baseline_max_iter,
        )
        return [
            Baseline(
                "pixel_logreg",
                base["val"],
                base["test"],
                {"reg_param": base["reg_param"], "fit_seconds": base["fit_seconds"]},
                base["y_true"],
                base["y_pred"],
            )
        ]

    def package(self, candidate: Candidate) -> Package:
        import PIL

        from smspark.models.media_packaging import ImagePyfunc

        x, _ = self.split_data("test")
        h, w, c = self.input_shape
        sample = pd.DataFrame({"pixels": [bytes(x[0].tobytes())], "height": [h], "width": [w], "channels": [c]})
        return Package(ImagePyfunc(), sample, pip_requirements(f"pillow=={PIL.__version__}"))

    def plots(self, candidate: Candidate, baselines: list[Baseline], out_dir: Path) -> list[Path]:
        y, pred = self.predictions(candidate.model, "test")
        dataset = self.meta["dataset"]
        pngs = [plot_confusion_matrix(y, pred, self.classes, f"CNN on {dataset} (test)", out_dir / "cm_cnn.png")]
        for b in baselines:
            pngs.append(
                plot_confusion_matrix(
                    b.y_true, b.y_pred, self.classes, f"{b.name} on {dataset} (test)", out_dir / f"cm_{b.name}.png"
                )
            )
        return pngs

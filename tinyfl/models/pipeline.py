"""From data to the two artefacts a firmware needs: the int8 backbone (.tflite) and the head.

build_reference("basic_motions" | "digits") pretrains a reference model, splits it at the
penultimate layer, converts the backbone to full int8 and measures float vs int8 accuracy (the
int8 path runs in the tflite-micro interpreter, the reference the generated C is bit-exact with).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data import Dataset, load_basic_motions, load_digits
from .head import HeadParams


@dataclass(frozen=True)
class Artifacts:
    """What code generation and the demo need; plain data, no TensorFlow objects."""

    name: str
    tflite: bytes
    head: HeadParams
    class_names: tuple[str, ...]
    sample_shape: tuple[int, ...]
    float_accuracy: float
    int8_accuracy: float

    def save(self, directory: Path | str) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "backbone.tflite").write_bytes(self.tflite)
        np.savez(d / "head.npz", weights=self.head.weights, bias=self.head.bias)
        meta = {
            "name": self.name,
            "class_names": list(self.class_names),
            "sample_shape": list(self.sample_shape),
            "float_accuracy": self.float_accuracy,
            "int8_accuracy": self.int8_accuracy,
        }
        (d / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return d

    @classmethod
    def load(cls, directory: Path | str) -> "Artifacts":
        d = Path(directory)
        meta = json.loads((d / "meta.json").read_text())
        with np.load(d / "head.npz") as h:
            head = HeadParams(weights=h["weights"].astype(np.float32), bias=h["bias"].astype(np.float32))
        return cls(
            name=meta["name"],
            tflite=(d / "backbone.tflite").read_bytes(),
            head=head,
            class_names=tuple(meta["class_names"]),
            sample_shape=tuple(meta["sample_shape"]),
            float_accuracy=float(meta["float_accuracy"]),
            int8_accuracy=float(meta["int8_accuracy"]),
        )


@dataclass(frozen=True)
class Reference:
    name: str
    load: Callable[[], Dataset]
    make: Callable[[Dataset], Any]
    epochs: int
    batch_size: int


def _refs() -> dict[str, Reference]:
    from .reference import basic_motions_cnn, digits_cnn

    return {
        "basic_motions": Reference(
            "basic_motions",
            load_basic_motions,
            lambda ds: basic_motions_cnn(ds.sample_shape[0], ds.sample_shape[1], ds.n_classes),
            epochs=40,
            batch_size=8,
        ),
        "digits": Reference(
            "digits", load_digits, lambda ds: digits_cnn(ds.n_classes), epochs=8, batch_size=32
        ),
    }


REFERENCE_MODELS = ("basic_motions", "digits")


def int8_features(tflite: bytes, x: np.ndarray) -> np.ndarray:
    from ..codegen.tflm import tflm_outputs

    return tflm_outputs(tflite, x)


def build_reference(
    name: str,
    *,
    data: Dataset | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> tuple[Artifacts, Any]:
    """Pretrain, split, convert. Returns the artefacts and the trained Keras model."""
    refs = _refs()
    if name not in refs:
        raise ValueError(f"unknown reference model {name!r}; choose from {', '.join(refs)}")
    ref = refs[name]
    ds = data if data is not None else ref.load()
    from .train import set_seed

    set_seed(seed)  # before the layers exist: their initial weights come from the seeded RNG
    return build_from_model(
        ref.make(ds), ds, name=name, epochs=ref.epochs if epochs is None else epochs,
        batch_size=ref.batch_size, seed=seed,
    )


def build_from_model(
    model: Any,
    data: Dataset,
    *,
    name: str,
    epochs: int,
    batch_size: int = 16,
    seed: int = 0,
    train: bool = True,
) -> tuple[Artifacts, Any]:
    """The same pipeline for a user's Keras classifier (last layer Dense on logits)."""
    from .convert import convert_int8
    from .split import split_head
    from .train import accuracy, pretrain, set_seed

    set_seed(seed)
    if train and epochs > 0:
        pretrain(model, data, epochs=epochs, batch_size=batch_size, seed=seed)
    backbone, head = split_head(model)
    tflite = convert_int8(backbone, data.x_train)
    float_acc = accuracy(model, data.x_test, data.y_test)
    feats = int8_features(tflite, data.x_test)
    int8_acc = float(np.mean(head.predict(feats) == data.y_test))
    artifacts = Artifacts(
        name=name,
        tflite=tflite,
        head=head,
        class_names=data.class_names,
        sample_shape=data.sample_shape,
        float_accuracy=float_acc,
        int8_accuracy=int8_acc,
    )
    return artifacts, model

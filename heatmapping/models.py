"""The two reference models of the project, how they are trained, and where they are shipped.

* ``mlp``: the paper's three-layer DNN, 784-300-100-10 with ReLU (a ``Flatten`` first, so it
  takes the same ``(N, 1, 28, 28)`` images as everything else);
* ``cnn``: the shape the paper recommends for LRP (Sec. 6.1): convolutions with ReLU, sum
  pooling, one small fully connected layer (the 1x1 convolution), biases <= 0.  It reads
  28x28 digits padded to 32x32 with the background value -1::

      conv 5x5 1->10, ReLU, sum-pool 2   32 -> 28 -> 14
      conv 5x5 10->25, ReLU, sum-pool 2  14 -> 10 -> 5
      conv 4x4 25->100, ReLU, sum-pool 2  5 -> 2 -> 1
      conv 1x1 100->10, flatten           logits (N, 10)

* ``cnn_max``: the same with max pooling, for the max-pool rules of Sec. 5.3;
* ``cnn_strided``: a CNN whose first convolution has stride 4, for the translation trick
  (Sec. 6.4).

Pixel convention (kept everywhere): uint8 0..255 maps to [-1, 1], black background = -1.
Both models are trained on the 5,000 embedded digits only, by ``python -m heatmapping train``,
with the recipes in ``RECIPES``; the results are shipped as ``data/mlp.npz`` and ``data/cnn.npz``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import checks, data
from .layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, SumPool2d
from .network import Sequential, load
from .train import Trainer

__all__ = ["mlp", "cnn", "cnn_max", "cnn_strided", "max_network", "ARCHITECTURES", "RECIPES",
           "model_path", "load_model", "inputs_for", "train_reference"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def mlp(*, rng: np.random.Generator, dropout: float = 0.25) -> Sequential:
    """784-300-100-10 ReLU network (the paper's three-layer DNN), input (N, 1, 28, 28)."""
    return Sequential([
        Flatten(),
        Linear.init(784, 300, rng=rng), ReLU(), Dropout(dropout),
        Linear.init(300, 100, rng=rng), ReLU(), Dropout(dropout),
        Linear.init(100, 10, rng=rng),
    ], input_shape=(1, 28, 28))


def cnn(*, rng: np.random.Generator, dropout: float = 0.25, pool=SumPool2d) -> Sequential:
    """Conv-ReLU-sum-pool network of Sec. 6.1, input (N, 1, 32, 32), output logits (N, 10).

    ``pool`` is the pooling layer's class: ``SumPool2d`` (the paper's recommendation) or
    ``MaxPool2d`` for :func:`cnn_max`.
    """
    return Sequential([
        Conv2d.init(1, 10, 5, rng=rng), ReLU(), pool(2),
        Conv2d.init(10, 25, 5, rng=rng), ReLU(), pool(2),
        Conv2d.init(25, 100, 4, rng=rng), ReLU(), pool(2),
        Dropout(dropout),
        Conv2d.init(100, 10, 1, rng=rng), Flatten(),
    ], input_shape=(1, 32, 32))


def cnn_max(*, rng: np.random.Generator, dropout: float = 0.25) -> Sequential:
    """The CNN with max pooling instead of sum pooling: the network on which the two max-pool
    rules of Sec. 5.3 (proportional, winner-take-all) can be compared."""
    return cnn(rng=rng, dropout=dropout, pool=MaxPool2d)


def cnn_strided(*, rng: np.random.Generator, dropout: float = 0.25) -> Sequential:
    """A CNN whose first layer has a large stride, the case for the translation trick (Sec. 6.4:
    "a large stride parameter in the first convolution layer")::

        conv 4x4 stride 4 1->16, ReLU      32 -> 8
        conv 3x3 16->32, ReLU, sum-pool 2   8 -> 6 -> 3
        conv 3x3 32->10, flatten            logits (N, 10)
    """
    return Sequential([
        Conv2d.init(1, 16, 4, stride=4, rng=rng), ReLU(),
        Conv2d.init(16, 32, 3, rng=rng), ReLU(), SumPool2d(2),
        Dropout(dropout),
        Conv2d.init(32, 10, 3, rng=rng), Flatten(),
    ], input_shape=(1, 32, 32))


def max_network() -> Sequential:
    """The two-layer ReLU network of Sec. 7.1 (Figure 6) computing max(x1, x2) on R2+:

        f(x) = max(0, .5 max(0, x1 - x2) + .5 max(0, x2 - x1) + .5 max(0, x1 + x2)).

    Input (N, 2), output (N, 1).
    """
    return Sequential([
        Linear(np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]]), np.zeros(3)), ReLU(),
        Linear(np.full((3, 1), 0.5), np.zeros(1)), ReLU(),
    ], input_shape=(2,))


ARCHITECTURES = {"mlp": mlp, "cnn": cnn, "cnn_max": cnn_max, "cnn_strided": cnn_strided}

#: how the shipped models were trained (Trainer keyword arguments)
RECIPES = {
    "mlp": dict(optimizer="adam", learning_rate=1e-3, epochs=60, batch_size=64,
                weight_decay=1e-4, max_shift=2, random_state=0),
    "cnn": dict(optimizer="adam", learning_rate=1e-3, epochs=40, batch_size=32,
                weight_decay=1e-4, max_shift=2, random_state=0),
    "cnn_max": dict(optimizer="adam", learning_rate=1e-3, epochs=40, batch_size=32,
                    weight_decay=1e-4, max_shift=2, random_state=0),
    "cnn_strided": dict(optimizer="adam", learning_rate=1e-3, epochs=30, batch_size=32,
                        weight_decay=1e-4, max_shift=2, random_state=0),
}


def model_path(name: str) -> Path:
    """Where the shipped model ``name`` lives: ``data/{name}.npz`` in the project."""
    if name not in ARCHITECTURES:
        raise ValueError(f"name: expected one of {sorted(ARCHITECTURES)}, got {checks.given(name)}")
    return DATA_DIR / f"{name}.npz"


def load_model(name_or_path) -> Sequential:
    """Load a shipped model by name ("mlp", "cnn") or any model file by path."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"name_or_path: expected a model name such as 'cnn' or a file path, "
                        f"got {checks.given(name_or_path)}")
    path = model_path(name_or_path) if name_or_path in ARCHITECTURES else Path(name_or_path)
    if not path.exists():
        if name_or_path in ARCHITECTURES:
            raise FileNotFoundError(f"model file {path} not found; train it with 'python -m "
                                    f"heatmapping train --model {name_or_path} --out {path}'")
        if path.suffix == ".npz" or len(path.parts) > 1:
            raise FileNotFoundError(f"model file {path} not found")
        raise FileNotFoundError(f"model {name_or_path!r}: expected one of "
                                f"{', '.join(sorted(ARCHITECTURES))} or the path of a model file")
    return load(path)


def inputs_for(net: Sequential, images: np.ndarray, *, dtype=np.float64) -> np.ndarray:
    """uint8 digits (N, 28, 28) -> the network's input: [-1, 1] pixels, (N, 1, H, W).

    Digits are padded with the background value -1 when the network reads larger images
    (28 -> 32 for the CNN).
    """
    if np.ndim(images) != 3:
        raise ValueError(f"images: expected digits of shape (N, 28, 28), got shape "
                         f"{np.shape(images)} (one digit: images[None])")
    x = data.to_input(images, dtype=dtype)[:, None]
    if net.input_shape is None or net.input_shape[1:] == x.shape[2:]:
        return x
    h, w = net.input_shape[1:]
    pad_h, pad_w = h - x.shape[2], w - x.shape[3]
    if pad_h < 0 or pad_w < 0 or pad_h % 2 or pad_w % 2 or pad_h != pad_w:
        raise ValueError(f"images: cannot fit digits of shape {x.shape[2:]} to the network's input "
                         f"shape {net.input_shape}")
    return data.pad_images(x, pad_h // 2, value=-1.0)


def train_reference(name: str, images: np.ndarray, labels: np.ndarray, *, recipe: dict | None = None,
                    dtype="float32", validation: tuple | None = None) -> tuple[Sequential, dict]:
    """Train the reference architecture ``name`` on uint8 digits with ``recipe`` (Trainer
    keyword arguments; default ``RECIPES[name]``), initialised from the recipe's
    ``random_state``.  ``validation`` (images, labels) is scored every epoch.

    Returns (the trained network, its metadata: model, recipe, dtype and per-epoch history,
    without timings, so that the same training gives the same file bytes).
    """
    model_path(name)                                # refuses an unknown name
    recipe = dict(RECIPES[name] if recipe is None else recipe)
    net = ARCHITECTURES[name](rng=np.random.default_rng(recipe["random_state"])).astype(dtype)
    extra = {} if validation is None else dict(
        X_val=inputs_for(net, validation[0], dtype=dtype), y_val=validation[1].astype(np.int64))
    trainer = Trainer(**recipe).fit(net, inputs_for(net, images, dtype=dtype),
                                    labels.astype(np.int64), **extra)
    history = [{k: v for k, v in record.items() if k != "seconds"} for record in trainer.history_]
    return trainer.net_, {"model": name, "recipe": {k: v for k, v in recipe.items() if k != "verbose"},
                          "dtype": str(dtype), "history": history}

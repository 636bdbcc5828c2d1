"""A feed-forward network: a sequence of layers, and saving/loading it.

The forward pass of a network of L layers produces the list of activations
``A = [A[0], ..., A[L]]`` with ``A[0] = x`` and ``A[l+1] = layers[l].forward(A[l])``.  The
explanation methods (sensitivity, LRP) and activation maximization all consume that list.

The dtype follows the parameters and the input (``numpy.result_type``): a network whose
parameters are float32 computes in float32 on float32 input, in float64 on float64 input.
Use :meth:`Sequential.astype` to convert the parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import checks, parallel
from .files import read_npz, write_npz
from .layers import (LAYER_TYPES, AvgPool2d, BatchNorm, Conv2d, Dropout, Flatten, Layer, Linear,
                     LpPool2d, MaxPool2d, ReLU, SumPool2d)

__all__ = ["Sequential", "save", "load"]

#: the layer kinds (exact types, not subclasses) that map each sample on its own and keep
#: nothing between calls: a batch may be cut into groups of samples run in threads
_PER_SAMPLE = {Linear, Conv2d, SumPool2d, AvgPool2d, MaxPool2d, LpPool2d, ReLU, Flatten, Dropout,
               BatchNorm}

#: written into every model file; bump when the format changes
FORMAT_VERSION = 1


class Sequential:
    """Layers applied one after the other.

    Parameters
    ----------
    layers : list of Layer
    input_shape : tuple of int, optional
        Shape of one input sample without the batch axis, e.g. ``(1, 32, 32)`` or ``(784,)``.
        When given, inputs are checked against it and error messages name it.
    """

    def __init__(self, layers: list[Layer], *, input_shape: tuple[int, ...] | None = None):
        if not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers: expected a list of layers, got {checks.given(layers)}")
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("layers: expected at least one layer, got an empty list")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}]: expected a Layer (e.g. ReLU()), got {checks.given(layer)}")
        if input_shape is not None and (
                np.ndim(input_shape) != 1 or not all(isinstance(d, (int, np.integer)) and
                                                     not isinstance(d, bool) and d >= 1
                                                     for d in input_shape)):
            raise ValueError(f"input_shape: expected the shape of one sample, positive integers "
                             f"like (1, 28, 28), got {input_shape!r}")
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self) -> str:
        body = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(input_shape={self.input_shape},\n{body}\n)"

    @property
    def threads(self) -> int:
        """Threads a pass over a large batch uses, each on a group of samples: one per core
        for a network with convolutions, whose BLAS products run in pieces on the calling
        thread (``layers._SMALL_PRODUCT``), so that only threads of ours reach a second core;
        1 for the others, whose dense layers' large products BLAS itself spreads over the
        cores (two threads of ours on top measured slower: the MLP's LRP of 256 digits 6.0 ->
        8.3 ms at two BLAS threads).  Also 1 for a network with a layer of another kind than
        those of ``_PER_SAMPLE`` (a ``Multiply`` may hold one factor per sample, a user's
        layer may keep state): only those are known to map each sample on its own."""
        kinds = {type(layer) for layer in self.layers}
        if Conv2d in kinds and kinds <= _PER_SAMPLE:
            return parallel.available_cores()
        return 1

    @property
    def dtype(self) -> np.dtype:
        """Common dtype of the parameters (float64 for a network without parameters)."""
        arrays = [p for layer in self.layers for p in layer.params().values()]
        return np.result_type(*arrays) if arrays else np.dtype(np.float64)

    def astype(self, dtype) -> "Sequential":
        """A copy whose parameters are converted to ``dtype``, a floating-point type: float16,
        float32, float64 or longdouble (the explanations' stabilizers scale with the dtype)."""
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype: expected a floating-point dtype such as np.float32, "
                            f"got {checks.given(dtype)}") from None
        if dtype.kind != "f":
            raise TypeError(f"dtype: expected a floating-point dtype such as np.float32, got {dtype}")
        layers = [layer.replace(**{k: v.astype(dtype) for k, v in layer.params().items()})
                  for layer in self.layers]
        return Sequential(layers, input_shape=self.input_shape)

    def check_input(self, x) -> np.ndarray:
        """Return ``x`` as an array after checking dtype, finiteness and shape."""
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"x: expected a floating-point array as the network's input, got dtype {x.dtype}")
        if self.input_shape is not None and x.shape[1:] != self.input_shape:
            raise ValueError(f"x: expected shape (N, {', '.join(map(str, self.input_shape))}) (the network's input), "
                             f"got shape {x.shape}")
        if x.ndim < 2:
            raise ValueError(f"x: expected a batch with a leading axis N, got shape {x.shape}")
        if len(x) == 0:
            raise ValueError(f"x: expected at least one sample, got an empty batch of shape {x.shape}")
        return checks.finite(x, "x")

    # ----------------------------------------------------------------------------------------
    def activations(self, x, *, layers: list[Layer] | None = None) -> list[np.ndarray]:
        """All activations ``A[0..L]`` with ``A[0] = x`` (a list of L + 1 arrays)."""
        A = [self.check_input(x)]
        for layer in self.layers if layers is None else layers:
            A.append(layer.forward(A[-1]))
        return A

    def forward(self, x) -> np.ndarray:
        """The network output f(x), shape (N, ...).  A large batch runs in groups of samples,
        one per thread (see ``threads`` and ``parallel.in_groups``)."""
        return parallel.in_groups(self._forward, self.check_input(x), self.threads)

    def _forward(self, a: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            a = layer.forward(a)          # keeping only the current activation saves memory
        return a

    __call__ = forward

    def backward(self, A: list[np.ndarray], grad_out, *, layers: list[Layer] | None = None,
                 input_gradient: bool = True) -> list[np.ndarray]:
        """Back-propagate ``grad_out`` through the layers.

        Returns the list ``G`` with ``G[l]`` the gradient of ``sum(A[L] * grad_out)`` with
        respect to ``A[l]`` (so ``G[L] = grad_out`` and ``G[0]`` is the input gradient).
        ``input_gradient=False`` leaves G[0] out (None): training needs the gradients at
        the layers' outputs only, and G[0] is the first layer's product with the data (for the
        VAE's encoder the largest, (N, 900) @ W^T (900, 784)).
        """
        layers = self.layers if layers is None else layers
        first = 0 if checks.flag(input_gradient, "input_gradient") else 1
        G = [np.asarray(grad_out)]
        for l in reversed(range(first, len(layers))):
            G.append(layers[l].backward(A[l], G[-1]))           # G[l] from G[l + 1]
        return [None] * first + G[::-1]

    def gradient(self, x, grad_out) -> np.ndarray:
        """d(f(x) . grad_out)/dx, the input gradient for output weights ``grad_out``."""
        A = self.activations(x)
        grad_out = np.asarray(grad_out)
        if grad_out.shape != A[-1].shape:
            raise ValueError(f"gradient: expected grad_out of the output's shape {A[-1].shape}, "
                             f"got shape {grad_out.shape}")
        return self.backward(A, grad_out)[0]

    def parameter_gradients(self, A: list[np.ndarray], G: list[np.ndarray], *,
                            layers: list[Layer] | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(name, parameter, gradient) of every trained parameter, layer by layer, from the
        activations ``A`` and the gradients ``G`` of :meth:`backward`: what an optimizer needs."""
        layers = self.layers if layers is None else layers
        return [(name, getattr(mine, name), g)
                for mine, layer, a, grad_out in zip(self.layers, layers, A[:-1], G[1:])
                for name, g in layer.parameter_gradients(a, grad_out).items()]

    # ----------------------------------------------------------------------------------------
    def training_layers(self, rng: np.random.Generator, x_shape) -> list[Layer]:
        """The layers of one training step: each ``Dropout`` replaced by a freshly masked copy.

        The masks need each layer's input shape, so shapes are propagated from ``x_shape``.
        """
        layers, shape = [], tuple(x_shape)
        for layer in self.layers:
            if isinstance(layer, Dropout) and layer.rate > 0:
                layer = layer.sample(shape, rng, dtype=self.dtype)
            layers.append(layer)
            shape = (shape[0], *layer.output_shape(shape[1:]))
        return layers


# --------------------------------------------------------------------------------------------
# saving and loading: one .npz holding the arrays and the architecture as JSON

def _architecture(net: Sequential) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "input_shape": None if net.input_shape is None else list(net.input_shape),
        "layers": [{"type": type(layer).__name__, "config": layer.config(),
                    "params": list(layer.param_names)} for layer in net.layers],
    }


def save(net: Sequential, path, *, metadata: dict | None = None) -> Path:
    """Write ``net`` to ``path`` (.npz): arrays ``layer{i}.{name}`` and JSON ``architecture``.

    ``metadata`` (JSON-serialisable, e.g. training settings and accuracy) is stored alongside.
    The file is written under a temporary name and renamed, so a failure leaves nothing behind.
    """
    checks.network(net)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata: expected a dict of JSON values, got {checks.given(metadata)}")
    try:
        metadata_json = json.dumps(metadata or {})
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata: expected JSON values (numbers, strings, lists, dicts), {e}") from None
    arrays = {f"layer{i}.{name}": value
              for i, layer in enumerate(net.layers) for name, value in layer.params().items()}
    bad = [name for name, value in arrays.items() if not np.all(np.isfinite(value))]
    if bad:
        raise ValueError(f"save: the parameters {', '.join(bad)} contain NaN or Inf; a model "
                         f"file must hold finite parameters (load would refuse it)")
    arrays["architecture"] = np.array(json.dumps(_architecture(net)))
    arrays["metadata"] = np.array(metadata_json)
    return write_npz(path, arrays)


def _checked_architecture(arch, path) -> tuple[list[dict], tuple[int, ...] | None]:
    """The layer specs and input shape of an architecture record, or a ValueError naming
    ``path`` and what the record lacks."""
    if not isinstance(arch, dict):
        raise ValueError(f"{path}: the architecture must be a JSON object, got {type(arch).__name__}")
    if arch.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: model format version {arch.get('format_version')!r}, "
                         f"expected {FORMAT_VERSION}")
    specs, shape = arch.get("layers"), arch.get("input_shape")
    if not isinstance(specs, list) or not all(
            isinstance(spec, dict) and isinstance(spec.get("type"), str)
            and isinstance(spec.get("config"), dict) for spec in specs):
        raise ValueError(f"{path}: the architecture must list its layers as "
                         f"{{'type': str, 'config': {{...}}}}")
    if shape is not None and not (isinstance(shape, list) and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise ValueError(f"{path}: input_shape must be a list of positive integers or null, "
                         f"got {shape!r}")
    return specs, None if shape is None else tuple(shape)


#: the largest input sample (number of values) a model file may declare: load runs one zero
#: sample through the network to check its layers, and must not allocate gigabytes for it
MAX_INPUT_SIZE = 2 ** 24


def load(path, *, with_metadata: bool = False):
    """Read a network written by :func:`save`.

    Returns the ``Sequential`` (and its metadata dict if ``with_metadata``).  A file that is
    not a model file, is corrupt, or whose arrays do not fit its architecture gets a
    ``ValueError`` naming the file and what is wrong.
    """
    path = Path(path)
    arrays = read_npz(path, what="model")
    if "architecture" not in arrays:
        raise ValueError(f"{path}: not a heatmapping model file (no 'architecture' entry)")
    try:
        arch = json.loads(str(arrays["architecture"]))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupt architecture JSON ({e})") from e
    try:
        metadata = json.loads(str(arrays.get("metadata", "{}")))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: corrupt metadata JSON ({e})") from e
    specs, input_shape = _checked_architecture(arch, path)
    layers = []
    for i, spec in enumerate(specs):
        cls = LAYER_TYPES.get(spec["type"])
        if cls is None:
            raise ValueError(f"{path}: layer {i} has unknown type {spec['type']!r}")
        try:
            params = {name: arrays[f"layer{i}.{name}"] for name in cls.param_names}
        except KeyError as e:
            raise ValueError(f"{path}: layer {i} ({spec['type']}) misses array {e.args[0]}") from e
        for name, value in params.items():
            if not (np.issubdtype(value.dtype, np.floating) and np.all(np.isfinite(value))):
                raise ValueError(f"{path}: layer {i} ({spec['type']}) array {name} must hold "
                                 f"finite floats, got dtype {value.dtype}"
                                 + (" with NaN or Inf" if value.dtype.kind == "f" else ""))
        try:
            layers.append(cls(**params, **spec["config"]))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: layer {i} ({spec['type']}) does not fit its arrays: {e}") from e
    used = {f"layer{i}.{name}" for i, layer in enumerate(layers) for name in layer.param_names}
    extra = sorted(set(arrays) - used - {"architecture", "metadata"})
    if extra:
        raise ValueError(f"{path}: arrays {', '.join(extra[:5])} belong to no layer of the "
                         f"architecture ({len(specs)} layers): a truncated or mismatched file")
    try:
        net = Sequential(layers, input_shape=input_shape)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    if net.input_shape is not None:
        if int(np.prod(net.input_shape)) > MAX_INPUT_SIZE:
            raise ValueError(f"{path}: input_shape {net.input_shape} asks for "
                             f"{int(np.prod(net.input_shape)):,} values per sample, more than "
                             f"{MAX_INPUT_SIZE:,}; refusing to allocate it")
        try:
            net.forward(np.zeros((1, *net.input_shape), dtype=net.dtype))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: the layers do not fit together: {e}") from e
    return (net, metadata) if with_metadata else net

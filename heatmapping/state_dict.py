"""Exchanging parameters with PyTorch: state dicts in PyTorch's names and layouts.

A PyTorch ``state_dict`` maps ``"{module name}.{parameter name}"`` to a tensor.  In an
``nn.Sequential`` a module is named by its index, so layer ``i`` of a :class:`Sequential` maps
to the keys ``"{i}.weight"``, ``"{i}.bias"``; our layer list has the parameter-free layers
(ReLU, Flatten, pools, Dropout) at the same places as an ``nn.Sequential`` would, so the
indices agree.  A model with nested modules (``features.0``, ``classifier.2``) is described by
``names``, a mapping from layer index to module name.

The parameters and their layouts:

============  =================================  ======================================
ours          PyTorch                            conversion
============  =================================  ======================================
Linear.W      nn.Linear.weight (D_out, D_in)     transposed: ours is (D_in, D_out)
Linear.b      nn.Linear.bias (D_out,)            none
Conv2d.W      nn.Conv2d.weight (C_out, C_in,     none: both are cross-correlations with
              kh, kw)                            the same layout
Conv2d.b      nn.Conv2d.bias (C_out,)            none
BatchNorm     nn.BatchNorm1d/2d ``weight``,      gamma, beta, mean, var; torch's
              ``bias``, ``running_mean``,        ``num_batches_tracked`` (an int64 count)
              ``running_var``                    is written as 0 and ignored on reading
============  =================================  ======================================

What a state dict does not hold, the architecture does: strides and paddings, and BatchNorm's
``eps``, which PyTorch keeps as a module attribute (default 1e-5, as ours); build the PyTorch
model with the same values.  ``nn.Flatten`` flattens (N, C, H, W) in C, H, W order, as
:class:`~heatmapping.layers.Flatten` does, so a Linear layer after a Flatten needs no
reordering.  The parameter-free layers correspond to ``nn.ReLU``, ``nn.Flatten``,
``nn.Dropout``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` (zero padding counted, torch's default)
and, for sum pooling, ``nn.LPPool2d(1, k)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import safetensors
from .layers import BatchNorm, Conv2d, Layer, Linear
from .network import Sequential

__all__ = ["to_state_dict", "from_state_dict", "save_torch", "load_torch", "parameter_names"]

#: (PyTorch parameter name, our parameter name) of each layer type with parameters
_PARAMETERS = {
    Linear: (("weight", "W"), ("bias", "b")),
    Conv2d: (("weight", "W"), ("bias", "b")),
    BatchNorm: (("weight", "gamma"), ("bias", "beta"), ("running_mean", "mean"),
                ("running_var", "var")),
}

#: written for BatchNorm so that torch's load_state_dict(strict=True) finds every key
_BATCHES_TRACKED = "num_batches_tracked"


def _parameters(i: int, layer: Layer) -> tuple[tuple[str, str], ...]:
    for kind, pairs in _PARAMETERS.items():
        if isinstance(layer, kind):
            return pairs
    if layer.param_names:
        raise ValueError(f"layer {i} ({type(layer).__name__}) has parameters but no PyTorch "
                         f"counterpart")
    return ()


def parameter_names(layer: Layer) -> tuple[str, ...]:
    """PyTorch's names of the layer's parameters ("weight", "bias", "running_mean", ...), in
    state-dict order; () for a layer without parameters."""
    return tuple(torch_name for torch_name, _ in _parameters(-1, layer))


def _transposed(layer: Layer, ours: str) -> bool:
    """Whether the parameter ``ours`` of ``layer`` is stored transposed by PyTorch."""
    return isinstance(layer, Linear) and ours == "W"


def _converted(layer: Layer, ours: str, value: np.ndarray) -> np.ndarray:
    """A copy of ``value`` in the other library's layout (a transpose is its own inverse).
    C-contiguous, so that products with it run exactly as with the original array."""
    return np.array(value.T if _transposed(layer, ours) else value, order="C", copy=True)


def _module_names(net: Sequential, names: Mapping[int, str] | None) -> dict[int, str]:
    """Layer index -> module name for every layer with parameters."""
    indices = [i for i, layer in enumerate(net.layers) if _parameters(i, layer)]
    if names is None:
        return {i: str(i) for i in indices}
    names = dict(names)
    unused = sorted(set(names) - set(indices), key=str)
    if unused:
        raise ValueError(f"names: {unused} are not indices of layers with parameters; those "
                         f"are {indices}")
    unnamed = [i for i in indices if i not in names]
    if unnamed:
        raise ValueError(f"names: layers {unnamed} have parameters but no module name")
    if not all(isinstance(name, str) and name for name in names.values()):
        raise ValueError(f"names: module names must be non-empty strings, got {names}")
    if len(set(names.values())) < len(names):
        raise ValueError(f"names: two layers share a module name: {names}")
    return {i: names[i] for i in indices}


def to_state_dict(net: Sequential, names: Mapping[int, str] | None = None) -> dict[str, np.ndarray]:
    """The parameters of ``net`` as a PyTorch state dict: ``{"{module}.{parameter}": array}``.

    Parameters
    ----------
    net : Sequential
    names : mapping of int to str, optional
        Module name of each layer with parameters, e.g. ``{0: "features.0", 9:
        "classifier.2"}``; by default layer ``i`` is module ``"i"``, as in ``nn.Sequential``.

    Returns new arrays in PyTorch's layouts (see the module docstring), in the parameters'
    dtype; a BatchNorm also gets ``num_batches_tracked``, an int64 0-d array holding 0.
    """
    tensors = {}
    for i, module in _module_names(net, names).items():
        layer = net.layers[i]
        for torch_name, ours in _parameters(i, layer):
            tensors[f"{module}.{torch_name}"] = _converted(layer, ours, getattr(layer, ours))
        if isinstance(layer, BatchNorm):
            tensors[f"{module}.{_BATCHES_TRACKED}"] = np.array(0, dtype=np.int64)
    return tensors


def _expected(net: Sequential, modules: dict[int, str]) -> dict[str, tuple[int, str, tuple]]:
    """Each key a state dict for ``net`` must have -> (layer index, our name, PyTorch shape)."""
    expected = {}
    for i, module in modules.items():
        layer = net.layers[i]
        for torch_name, ours in _parameters(i, layer):
            shape = getattr(layer, ours).shape
            expected[f"{module}.{torch_name}"] = (i, ours, shape[::-1] if _transposed(layer, ours)
                                                  else shape)
    return expected


def _check_keys(tensors: Mapping[str, np.ndarray], expected: dict, optional: set) -> None:
    missing = [key for key in expected if key not in tensors]
    if missing:
        more = f" (and {len(missing) - 1} more, {missing[1:4]})" if len(missing) > 1 else ""
        raise ValueError(f"state dict: missing tensor {missing[0]!r} of shape "
                         f"{expected[missing[0]][2]}{more}")
    unexpected = sorted(set(tensors) - set(expected) - optional)
    if unexpected:
        raise ValueError(f"state dict: unexpected tensors {unexpected[:5]} belong to no layer "
                         f"of the architecture; expected the keys {list(expected)}")


def _checked_value(key: str, value, shape: tuple) -> np.ndarray:
    value = np.asarray(value)
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"state dict: tensor {key!r} has dtype {value.dtype}; expected floats")
    if value.shape != shape:
        raise ValueError(f"state dict: tensor {key!r} has shape {value.shape}; the architecture "
                         f"expects {shape}")
    return value


def from_state_dict(net: Sequential, tensors: Mapping[str, np.ndarray],
                    names: Mapping[int, str] | None = None) -> Sequential:
    """A new network with the architecture of ``net`` and the parameters of ``tensors``.

    Parameters
    ----------
    net : Sequential
        The architecture, e.g. ``models.cnn(rng=...)``: its layers' kinds, hyper-parameters
        (strides, paddings, BatchNorm's eps) and parameter shapes; its values are not used.
    tensors : mapping of str to array
        A PyTorch state dict, e.g. from :func:`heatmapping.safetensors.load`.  The arrays keep
        their floating dtype and are copied, transposed where the layouts differ.
    names : mapping of int to str, optional
        Module name of each layer with parameters, as in :func:`to_state_dict`.

    Raises ``ValueError`` for a missing or unexpected tensor or a shape other than the
    architecture's, ``TypeError`` for a tensor that does not hold floats; each names the
    tensor.  ``num_batches_tracked`` of a BatchNorm is accepted and ignored.
    """
    modules = _module_names(net, names)
    expected = _expected(net, modules)
    optional = {f"{modules[i]}.{_BATCHES_TRACKED}" for i in modules
                if isinstance(net.layers[i], BatchNorm)}
    _check_keys(tensors, expected, optional)
    params = [{} for _ in net.layers]
    for key, (i, ours, shape) in expected.items():
        value = _checked_value(key, tensors[key], shape)
        params[i][ours] = _converted(net.layers[i], ours, value)
    layers = []
    for i, (layer, values) in enumerate(zip(net.layers, params)):
        try:
            layers.append(layer.replace(**values))
        except (TypeError, ValueError) as e:     # e.g. NaN, or a negative running variance
            raise ValueError(f"state dict: module {modules.get(i)!r} (layer {i}, "
                             f"{type(layer).__name__}): {e}") from e
    return Sequential(layers, input_shape=net.input_shape)


def save_torch(path, net: Sequential, names: Mapping[int, str] | None = None) -> Path:
    """Write the state dict of ``net`` (:func:`to_state_dict`) to a .safetensors file, which
    ``safetensors.torch.load_file`` and ``model.load_state_dict`` read.  Returns ``path``."""
    return safetensors.save(path, to_state_dict(net, names))


def load_torch(path, net: Sequential, names: Mapping[int, str] | None = None) -> Sequential:
    """A new network with the architecture of ``net`` and the parameters in the .safetensors
    file at ``path`` (e.g. written by ``safetensors.torch.save_file(model.state_dict(),
    path)``), see :func:`from_state_dict`.  Errors name the file."""
    tensors = safetensors.load(path)
    try:
        return from_state_dict(net, tensors, names)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{path}: {e}") from e

"""Conformance vectors for LRP (Sec. 5, 6.3): seven tiny fixed networks, and the relevance that
every rule and preset of this package gives at every layer of them, for any implementation of
LRP to check itself against.

The vectors are the files of ``data/conformance/``: one ``.safetensors`` file per case, holding
the network's parameters, its input, the targets and, for every *setting* (a rule per layer, a
max-pool rule, a target), the relevance R[l] at every layer boundary l = 0..L; ``SPEC.md``
states the conventions, and ``SHA256SUMS`` the files' checksums.  ``data/make_conformance.py``
writes them from the definitions here (:data:`CASES`, :data:`SETTINGS`, :func:`reproduce`), and
:func:`check` verifies a folder of them against this package.

Two choices make the vectors test LRP and nothing else:

* every parameter and input is a small dyadic rational k / 2^m (weights in steps of 1/8, inputs
  of 1/16, BatchNorm's eps = 2^-16 and var + eps in {1/4, 1, 4}), so every activation and every
  denominator z of Eq. (4) is exact in float64, whatever the order of summation: two correct
  implementations see the same z, the same predicted class, the same dead neurons;
* the expected relevances are computed by this package in extended precision (80-bit long
  double) and rounded to float64, so they are the relevances themselves to the last bit or so,
  not one float64 implementation's rounding of them.  A correct float64 implementation agrees
  to about 1e-15 (:func:`reproduce` refuses vectors where this package does worse than
  ``RTOL / 100``).

How to compare: per sample n and tensor, max|a_n - b_n| <= RTOL * max|b_n| (RTOL = 1e-12), and a
sample whose expected relevance is all zero must be all zero (:func:`relative_error`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import safetensors, state_dict
from .canonize import merge_batchnorm
from .layers import (AvgPool2d, BatchNorm, Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU,
                     SumPool2d)
from .lrp import lrp, resolve_rules
from .network import Sequential
from .rules import (PRESETS, AlphaBeta, Epsilon, Flat, Gamma, Rule, WSquare, ZBox, ZPlus,
                    ratio_ceiling)

__all__ = ["FOLDER", "FORMAT", "FORMAT_VERSION", "RTOL", "CHECKSUMS", "CONVENTIONS", "Case",
           "Setting", "CASES", "SETTINGS", "settings_of", "reproduce", "build_network", "rule_to_json",
           "rule_from_json", "relative_error", "check", "check_file", "Report", "sha256_sums"]

#: where the shipped vectors live
FOLDER = Path(__file__).resolve().parent.parent / "data" / "conformance"
#: written into every file's metadata; bump the version when names or meanings change
FORMAT = "heatmapping-lrp-conformance"
FORMAT_VERSION = 1
#: the agreement asked of an implementation, per sample (see :func:`relative_error`)
RTOL = 1e-12
#: the checksum file, in the format of ``sha256sum`` (``sha256sum -c SHA256SUMS`` checks it)
CHECKSUMS = "SHA256SUMS"
#: BatchNorm's eps: a power of two, so that var + eps and its square root are exact
BN_EPS = 2.0 ** -16


# --------------------------------------------------------------------------------------------
# the cases: networks with dyadic parameters of both signs, and three inputs each

def _weights(rng, shape) -> np.ndarray:
    """Integers -8..8 over 8: both signs, a few exact zeros."""
    return rng.integers(-8, 9, shape) / 8.0


def _biases(rng, n: int) -> np.ndarray:
    """Non-zero multiples of 1/8 in [-1/2, 1/2] of random sign: some neurons start active, some
    dead, and positive biases let a neuron fire with no input at all (the zero sample)."""
    return rng.choice([-1.0, 1.0], n) * rng.integers(1, 5, n) / 8.0


def _batchnorm(rng, n: int) -> BatchNorm:
    """BatchNorm with gamma of both signs, and var = s^2 - eps, s in {1/2, 1, 2}: the scale
    gamma / sqrt(var + eps) = gamma / s is exact."""
    gamma = rng.choice([-1.0, 1.0], n, p=[0.25, 0.75]) * rng.integers(2, 7, n) / 4.0
    s = rng.choice([0.5, 1.0, 2.0], n)
    return BatchNorm(gamma, rng.integers(-4, 5, n) / 8.0, rng.integers(-4, 5, n) / 8.0,
                     s * s - BN_EPS, eps=BN_EPS)


def _dense(rng) -> list[Layer]:
    return [Linear(_weights(rng, (16, 8)), _biases(rng, 8)), ReLU(),
            Linear(_weights(rng, (8, 6)), _biases(rng, 6)), ReLU(),
            Linear(_weights(rng, (6, 4)), _biases(rng, 4))]


def _conv(pool: type) -> Callable:
    """1x8x8 -> conv 3x3 (2 maps, 6x6) -> pool 2 (3x3) -> conv 3x3 stride 2 pad 1 (3 maps, 2x2)
    -> pool 2 (1x1) -> 3 logits: stride, padding and two pools of one kind.

    Before max pools the conv biases are negative: on the zero sample a positive bias would
    make every entry of a window the same positive maximum, a tie that only a tie-breaking
    convention could settle."""
    def build(rng):
        b1, b2 = _biases(rng, 2), _biases(rng, 3)
        if pool is MaxPool2d:
            b1, b2 = -np.abs(b1), -np.abs(b2)
        return [Conv2d(_weights(rng, (2, 1, 3, 3)), b1), ReLU(), pool(2),
                Conv2d(_weights(rng, (3, 2, 3, 3)), b2, stride=2, padding=1), ReLU(),
                pool(2), Flatten(), Linear(_weights(rng, (3, 3)), _biases(rng, 3))]
    return build


def _with_batchnorm(rng) -> list[Layer]:
    """conv -> BatchNorm over channels -> ReLU -> sum pool -> dense -> BatchNorm over features."""
    return [Conv2d(_weights(rng, (2, 1, 3, 3)), _biases(rng, 2)), _batchnorm(rng, 2), ReLU(),
            SumPool2d(2), Flatten(), Linear(_weights(rng, (18, 6)), _biases(rng, 6)),
            _batchnorm(rng, 6), ReLU(), Linear(_weights(rng, (6, 3)), _biases(rng, 3))]


def _zero_denominator(net: Sequential, x: np.ndarray) -> Sequential:
    """Set the bias of the first conv's map 0 so that its output z is exactly 0 at the first
    position where sample 0's BatchNorm output would be positive: that neuron is active (shift
    > 0) with z = 0, where LRP-0 absorbs its relevance and LRP-epsilon divides by
    0 + eps * sign(0) = +eps (sign(0) := +1)."""
    conv, bn = net.layers[0], net.layers[1]
    scale, shift = bn.scale_shift()
    assert shift[0] > 0, "the BatchNorm of map 0 must have a positive shift"
    Wx = conv.replace(b=np.zeros_like(conv.b)).forward(x[:1])[0, 0]      # (6, 6), no bias
    y, x_ = np.argwhere((np.abs(Wx) <= 1) & (Wx != 0))[0]      # a moderate, non-zero bias
    b = conv.b.copy()
    b[0] = -Wx[y, x_]
    return Sequential([conv.replace(b=b)] + net.layers[1:], input_shape=net.input_shape)


@dataclass(frozen=True)
class Case:
    """One network and its inputs.

    ``build(rng)`` makes the layers from ``np.random.default_rng(seed)``; ``domain`` is the
    input box [low, high] the inputs are drawn from (the zB bounds of the ``zbox`` setting);
    a case with ``merged`` is the named case after ``canonize.merge_batchnorm``, with its
    inputs; ``about`` says what the case is for.
    """
    name: str
    about: str
    seed: int | None = None
    input_shape: tuple[int, ...] | None = None
    domain: tuple[float, float] | None = None
    build: Callable | None = None
    merged: str | None = None

    @property
    def source(self) -> "Case":
        """The case whose seed, input shape, domain and inputs this one has (itself unless
        ``merged``)."""
        return CASES[self.merged] if self.merged is not None else self

    def network(self) -> Sequential:
        """The network, float64, with the case's fixed parameters."""
        if self.merged is not None:
            return merge_batchnorm(self.source.network())
        net = Sequential(self.build(np.random.default_rng(self.seed)), input_shape=self.input_shape)
        if any(isinstance(layer, BatchNorm) for layer in net.layers):
            net = _zero_denominator(net, self.inputs())
        return net

    def inputs(self) -> np.ndarray:
        """Three samples (3, *input_shape) on a grid of 1/16 in ``domain``:

        0. generic: uniform on the grid;
        1. zero: all 0 (only the biases act; the relevance of the input is 0 for every rule
           that multiplies by the input);
        2. sparse: 0 except three entries at ``high``, so that many ReLU neurons are dead.
        """
        case = self.source
        rng = np.random.default_rng(case.seed + 1)
        low, high = case.domain
        size = int(np.prod(case.input_shape))
        generic = rng.integers(int(16 * low), int(16 * high) + 1, size) / 16.0
        sparse = np.zeros(size)
        sparse[rng.choice(size, 3, replace=False)] = high
        return np.stack([generic, np.zeros(size), sparse]).reshape((3,) + case.input_shape)


CASES: dict[str, Case] = {case.name: case for case in [
    Case("dense", "a ReLU MLP 16-8-6-4 on inputs in [0, 1]", 11, (16,), (0.0, 1.0), _dense),
    Case("signed", "the same architecture on signed inputs in [-1, 1] (no z+ on the first layer; "
         "alpha-beta splits the products a_j w_jk by sign)", 21, (16,), (-1.0, 1.0), _dense),
    Case("conv_sum", "convolutions (one strided and padded) with sum pooling", 33, (1, 8, 8),
         (0.0, 1.0), _conv(SumPool2d)),
    Case("conv_avg", "the same with average pooling (weight 1/4)", 41, (1, 8, 8), (0.0, 1.0),
         _conv(AvgPool2d)),
    Case("conv_max", "the same with max pooling: every setting with the proportional and the "
         "winner-take-all rule", 59, (1, 8, 8), (0.0, 1.0), _conv(MaxPool2d)),
    Case("batchnorm", "BatchNorm after a conv and after a dense layer, passed through unchanged "
         "by LRP (Sec. 5.3 'ignore'); one active neuron has z = 0 exactly", 80, (1, 8, 8),
         (0.0, 1.0), _with_batchnorm),
    Case("batchnorm_merged", "the batchnorm network after canonize.merge_batchnorm: "
         "w' = w scale, b' = b scale + shift", merged="batchnorm"),
]}


# --------------------------------------------------------------------------------------------
# the settings: which rule on which layer, which max-pool rule, which target

def _linear(net) -> list[int]:
    return [i for i, layer in enumerate(net.layers) if layer.linear]


def _everywhere(rule: Rule) -> Callable:
    """``rule`` on every linear-type layer (the pools too)."""
    return lambda net, case: {i: rule for i in _linear(net)}


def _weighted(rule: Rule) -> Callable:
    """``rule`` on the layers with weights (Linear, Conv2d), LRP-0 on the sum/average pools,
    where a rule that splits by sign has no negative part to split off."""
    return lambda net, case: {i: rule if net.layers[i].weighted else Epsilon(0.0)
                              for i in _linear(net)}


def _first(make: Callable[[Case], Rule]) -> Callable:
    """A first-layer rule, LRP-0 above: the layers above see the same relevance as in ``lrp0``,
    so only R[0] differs from it."""
    return lambda net, case: {i: make(case) if k == 0 else Epsilon(0.0)
                              for k, i in enumerate(_linear(net))}


@dataclass(frozen=True)
class Setting:
    """One way to run LRP on a case.

    ``rules``: a preset name of ``rules.PRESETS``, or a function (net, case) -> {layer: rule};
    ``target``: "predicted" (the argmax logit) or "given" (the file's ``target/given``);
    ``max_pool``: "proportional" or "winner" (only max-pool cases run the winner variants);
    ``needs``: "nonnegative" when the rules need inputs >= 0 (z+ on the first layer).
    """
    name: str
    rules: str | Callable
    target: str = "predicted"
    max_pool: str = "proportional"
    needs: str | None = None
    about: str = field(default="", compare=False)


SETTINGS: tuple[Setting, ...] = (
    Setting("lrp0", _everywhere(Epsilon(0.0)), about="LRP-0 everywhere (Epsilon(eps=0))"),
    Setting("epsilon", _weighted(Epsilon(0.125)),
            about="LRP-epsilon, eps = 0.125, on Linear/Conv2d (LRP-0 on sum/average pools)"),
    Setting("gamma", _weighted(Gamma(0.25)),
            about="LRP-gamma, gamma = 0.25, on Linear/Conv2d (LRP-0 on sum/average pools)"),
    Setting("alpha1beta0", _weighted(AlphaBeta(1.0, 0.0)),
            about="alpha=1, beta=0, bias ignored, on Linear/Conv2d (LRP-0 on sum/average pools)"),
    Setting("alpha2beta1", _weighted(AlphaBeta(2.0, 1.0)),
            about="alpha=2, beta=1, bias ignored, on Linear/Conv2d (LRP-0 on sum/average pools)"),
    Setting("alpha2beta1_split", _weighted(AlphaBeta(2.0, 1.0, bias="split")),
            about="alpha=2, beta=1 with b+ in the positive and b- in the negative denominator "
                  "(LRP-0 on sum/average pools)"),
    Setting("zplus", _everywhere(ZPlus()), needs="nonnegative", about="z+ on every layer"),
    Setting("zbox", _first(lambda case: ZBox(*case.source.domain)),
            about="zB with the case's input domain on the first layer, LRP-0 above"),
    Setting("wsquare", _first(lambda case: WSquare()), about="w^2 on the first layer, LRP-0 above"),
    Setting("flat", _first(lambda case: Flat()), about="flat on the first layer, LRP-0 above"),
    *(Setting(f"preset_{name}", name, about=f"the preset {name!r} of rules.PRESETS")
      for name in PRESETS),
    Setting("lrp0_given", _everywhere(Epsilon(0.0)), target="given",
            about="LRP-0 for the given class instead of the predicted one"),
    Setting("preset_deep_taylor_given", "deep_taylor", target="given",
            about="deep Taylor for the given class (its logit may be negative)"),
)


def settings_of(case: Case, net: Sequential | None = None) -> list[Setting]:
    """The settings run on ``case``: those it can take, and for a network with max pooling
    each once with the proportional and once with the winner-take-all rule (``_winner``)."""
    net = case.network() if net is None else net
    chosen = [s for s in SETTINGS if s.needs != "nonnegative" or case.source.domain[0] >= 0]
    if any(isinstance(layer, MaxPool2d) for layer in net.layers):
        chosen += [Setting(f"{s.name}_winner", s.rules, s.target, "winner", s.needs,
                           s.about + "; max pooling winner-take-all") for s in chosen]
    return chosen


def _rules(setting: Setting, case: Case, net: Sequential) -> dict[int, Rule]:
    """The rule of every linear-type layer under ``setting``."""
    if isinstance(setting.rules, str):
        return resolve_rules(net, setting.rules)
    return resolve_rules(net, setting.rules(net, case))


# --------------------------------------------------------------------------------------------
# JSON: rules, layers and their tensors

_RULES = {cls.__name__: cls for cls in (Epsilon, AlphaBeta, ZPlus, ZBox, WSquare, Flat, Gamma)}
_RULE_PARAMS = {"Epsilon": ("eps",), "AlphaBeta": ("alpha", "beta", "bias"), "ZPlus": (),
                "ZBox": ("low", "high"), "WSquare": (), "Flat": (), "Gamma": ("gamma",)}


def rule_to_json(rule: Rule) -> dict:
    """{"rule": class name, and its parameters}; ``eps`` appears for every rule that has one."""
    name = type(rule).__name__
    if name not in _RULES:
        raise TypeError(f"rule_to_json: no JSON form for {rule!r}")
    out = {"rule": name}
    for key in _RULE_PARAMS[name]:
        value = getattr(rule, key)
        if np.ndim(value):
            raise ValueError(f"rule_to_json: {name}.{key} must be a scalar, got an array")
        out[key] = value if isinstance(value, str) else float(value)
    if rule.eps and "eps" not in out:
        out["eps"] = float(rule.eps)
    return out


def rule_from_json(spec: dict) -> Rule:
    """The inverse of :func:`rule_to_json`."""
    spec = dict(spec)
    return _RULES[spec.pop("rule")](**spec)


def _layer_json(i: int, layer: Layer, in_shape: tuple) -> dict:
    """The layer's type, hyper-parameters (PyTorch's names), shapes and tensor names."""
    out = {"index": i, "type": type(layer).__name__}
    if isinstance(layer, Linear):
        out |= {"in_features": layer.W.shape[0], "out_features": layer.W.shape[1]}
    elif isinstance(layer, Conv2d):
        out |= {"in_channels": layer.W.shape[1], "out_channels": layer.W.shape[0],
                "kernel_size": list(layer.kernel_size), "stride": list(layer.stride),
                "padding": list(layer.padding)}
    elif isinstance(layer, (SumPool2d, MaxPool2d)):    # AvgPool2d is a SumPool2d
        out |= {"kernel_size": list(layer.window), "stride": list(layer.stride),
                "padding": list(layer.padding)}
    elif isinstance(layer, BatchNorm):
        out |= {"num_features": len(layer.gamma), "eps": layer.eps}
    out |= {"input_shape": list(in_shape), "output_shape": list(layer.output_shape(in_shape))}
    out["tensors"] = {torch: f"model.{i}.{torch}" for torch in state_dict.parameter_names(layer)}
    return out


def _parameter_tensors(net: Sequential) -> dict[str, np.ndarray]:
    """Every parameter under its PyTorch state-dict name and layout ("model.{i}.weight", ...;
    Linear.weight is (out, in), the transpose of our W), as ``state_dict.to_state_dict`` gives
    them, without BatchNorm's ``num_batches_tracked`` (a training counter, not a parameter)."""
    names = {i: f"model.{i}" for i, layer in enumerate(net.layers) if layer.param_names}
    return {key: value for key, value in state_dict.to_state_dict(net, names).items()
            if not key.endswith(".num_batches_tracked")}


def build_network(spec: dict, tensors: dict[str, np.ndarray]) -> Sequential:
    """The network a file describes, from its spec's ``layers`` and its parameter tensors:
    what another implementation does with its own layer classes."""
    layers = []
    for entry in spec["layers"]:
        t = {name: tensors[key] for name, key in entry["tensors"].items()}
        kind = entry["type"]
        if kind == "Linear":
            layers.append(Linear(t["weight"].T, t["bias"]))
        elif kind == "Conv2d":
            layers.append(Conv2d(t["weight"], t["bias"], stride=entry["stride"],
                                 padding=entry["padding"]))
        elif kind in ("SumPool2d", "AvgPool2d", "MaxPool2d"):
            pool = {"SumPool2d": SumPool2d, "AvgPool2d": AvgPool2d, "MaxPool2d": MaxPool2d}[kind]
            layers.append(pool(entry["kernel_size"], entry["stride"], entry["padding"]))
        elif kind == "BatchNorm":
            layers.append(BatchNorm(t["weight"], t["bias"], t["running_mean"], t["running_var"],
                                    eps=entry["eps"]))
        elif kind in ("ReLU", "Flatten"):
            layers.append(ReLU() if kind == "ReLU" else Flatten())
        else:
            raise ValueError(f"build_network: unknown layer type {kind!r}")
    return Sequential(layers, input_shape=tuple(spec["input_shape"]))


def _propagation(net: Sequential, rules: dict[int, Rule], max_pool: str) -> list[dict]:
    """What each layer does with relevance under a setting, bottom to top."""
    out = []
    for i, layer in enumerate(net.layers):
        if i in rules:
            out.append(rule_to_json(rules[i]))
        elif isinstance(layer, MaxPool2d):
            out.append({"rule": f"max_pool_{max_pool}"})
        else:
            out.append({"rule": "reshape" if isinstance(layer, Flatten) else "pass"})
    return out


#: the conventions every file follows, stored in each file's spec and explained in SPEC.md
CONVENTIONS = {
    "boundaries": "R[l] is the relevance of A[l], the input of layer l (A[0] = input, A[L] = "
                  "logits); relevance/{setting}/{l} for l = 0..L",
    "target": "R[L] = f_c(x) e_c: the logit of class c (not the softmax), 0 elsewhere; c = "
              "argmax of the logits ('predicted', no ties here) or target/given ('given')",
    "stabilizer": "LRP-epsilon divides by z + eps * sign(z) with sign(0) = +1; no other rule "
                  "adds a stabilizer",
    "zero_denominator": "a denominator counts as infinite, s = R / z = 0 and the neuron's "
                        "relevance absorbed, where z = 0 or where |R / z| would exceed "
                        f"{float(ratio_ceiling(np.float64))!r} (float64's largest number times "
                        "its machine epsilon, rules.ratio_ceiling); in these files every "
                        "denominator is exactly 0 or at least 1e-3 in magnitude, so this "
                        "decides only at exact zeros",
    "bias": "in the denominator for Epsilon (b) and Gamma (b + gamma b+), and for AlphaBeta "
            "with bias='split' (b+ positive, b- negative part); ignored by ZPlus, ZBox, "
            "WSquare, Flat and AlphaBeta with bias='ignore'; a bias in z absorbs relevance "
            "and is never itself a neuron that relevance is reported for",
    "alpha_beta": "parts of the products a_j w_jk: (aw)+ = a+ w+ + a- w-, (aw)- = a+ w- + a- w+; "
                  "R_j = alpha (aw)+_jk / z+_k R_k - beta (aw)-_jk / z-_k R_k",
    "pooling": "sum and average pools: the pool's rule on its fixed positive weights (1 or "
               "1/|window|); max pools: 'proportional' = R_j = x+_j / sum x+ R_k over each "
               "window, 'winner' = all of R_k to the first maximum in row-major order (no "
               "ties among positive maxima here)",
    "batchnorm": "passed through unchanged (R at its input = R at its output); the merged "
                 "case is the alternative",
    "relu_flatten": "ReLU passes relevance through unchanged; Flatten reshapes it, (C, H, W) "
                    "in C order",
    "tolerance": "per sample n: max|a_n - b_n| <= 1e-12 max|b_n|; all-zero samples exactly 0",
}


# --------------------------------------------------------------------------------------------
# computing the vectors

def _extended(net: Sequential) -> Sequential:
    """The network in long double: the relevances are computed with 64-bit mantissas and only
    then rounded to float64."""
    return net.astype(np.longdouble)


def _checked_design(case: Case, net: Sequential, x: np.ndarray, A: list[np.ndarray]) -> None:
    """Refuse vectors that would not test what SPEC.md says they test."""
    A_long = _extended(net).activations(x.astype(np.longdouble))
    for l, (a, b) in enumerate(zip(A, A_long)):
        if not np.array_equal(a, b.astype(np.float64)) or not np.array_equal(a, b):
            raise RuntimeError(f"{case.name}: activation {l} is not exact in float64")
    logits = np.sort(A[-1], axis=1)
    if np.any(logits[:, -1] == logits[:, -2]):
        raise RuntimeError(f"{case.name}: a tie for the predicted class; choose another seed")
    for i, layer in enumerate(net.layers):
        if isinstance(layer, MaxPool2d):                 # (the pools here have no padding)
            (sh, sw) = layer.stride
            windows = sliding_window_view(A[i], layer.window, axis=(2, 3))[:, :, ::sh, ::sw]
            top = windows.max(axis=(4, 5), keepdims=True)
            ties = ((windows == top).sum(axis=(4, 5)) > 1) & (top[..., 0, 0] > 0)
            if ties.any():
                raise RuntimeError(f"{case.name}: a tie in a max pool of layer {i}")
    dead = [(A[i + 1][2] == 0).mean() for i, layer in enumerate(net.layers)
            if isinstance(layer, ReLU)]
    if not any(0 < d < 1 for d in dead):
        raise RuntimeError(f"{case.name}: the sparse sample has no layer with some neurons dead")


def reproduce(case: Case) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of ``case``'s file.

    Tensors (float64 unless said): ``model.{i}.{weight,bias,...}`` (PyTorch names and layouts),
    ``input`` (3, ...), ``activation/{l}`` for l = 1..L (A[l], the output of layer l-1),
    ``target/predicted`` and ``target/given`` (int64 (3,)), and ``relevance/{setting}/{l}`` for
    l = 0..L.  Metadata: ``format``, ``format_version``, ``case`` and ``spec`` (JSON).
    """
    net, x = case.network(), case.inputs()
    A = net.activations(x)
    _checked_design(case, net, x, A)
    predicted = A[-1].argmax(axis=1)
    given = (predicted + 1) % A[-1].shape[1]
    tensors = {**_parameter_tensors(net), "input": x,
               **{f"activation/{l}": A[l] for l in range(1, len(A))},
               "target/predicted": predicted.astype(np.int64), "target/given": given.astype(np.int64)}
    long_net, long_x = _extended(net), x.astype(np.longdouble)
    has_max_pool = any(isinstance(layer, MaxPool2d) for layer in net.layers)
    settings = {}
    for setting in settings_of(case, net):
        rules = _rules(setting, case, net)
        # a preset goes to lrp by its name: the file pins down what the preset does
        how = {"rules": setting.rules if isinstance(setting.rules, str) else rules,
               "target": None if setting.target == "predicted" else given,
               "max_pool": setting.max_pool, "return_layers": True}
        result, plain = lrp(long_net, long_x, **how), lrp(net, x, **how)
        for l, (R, R64) in enumerate(zip(result.R, plain.R)):
            tensors[f"relevance/{setting.name}/{l}"] = R = R.astype(np.float64)
            # the vectors must not hinge on rounding: this package's float64 run agrees
            if not relative_error(R64, R) <= RTOL / 100:
                raise RuntimeError(f"{case.name}: {setting.name}: R[{l}] in float64 is "
                                   f"{relative_error(R64, R):.2g} off; the case is ill-conditioned")
        settings[setting.name] = {
            "about": setting.about, "target": setting.target,
            "preset": setting.rules if isinstance(setting.rules, str) else None,
            "max_pool": setting.max_pool if has_max_pool else None,
            "propagation": _propagation(net, rules, setting.max_pool)}
    shapes = [tuple(case.source.input_shape)]
    for layer in net.layers:
        shapes.append(layer.output_shape(shapes[-1]))
    spec = {"case": case.name, "about": case.about, "seed": case.source.seed,
            "derived_from": case.merged, "input_shape": list(case.source.input_shape),
            "input_domain": list(case.source.domain),
            "samples": ["generic", "zero", "sparse"], "conventions": CONVENTIONS,
            "layers": [_layer_json(i, layer, shapes[i]) for i, layer in enumerate(net.layers)],
            "settings": settings}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "case": case.name,
                "spec": json.dumps(spec, separators=(",", ":"))}
    return tensors, metadata


# --------------------------------------------------------------------------------------------
# checking

def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """The largest over samples n of max|a_n - b_n| / max|b_n|; a sample whose expected values
    are all 0 counts 0 if ``actual`` is all 0 there too, inf otherwise.  Shapes must agree."""
    if np.shape(actual) != np.shape(expected):
        return np.inf
    a = np.asarray(actual, dtype=np.float64).reshape(len(expected), -1)
    b = np.asarray(expected, dtype=np.float64).reshape(len(expected), -1)
    if a.shape[1] == 0:
        return 0.0
    diff, scale = np.abs(a - b).max(axis=1), np.abs(b).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(scale > 0, diff / np.where(scale > 0, scale, 1), np.where(diff > 0, np.inf, 0))
    return float(np.max(np.where(np.isnan(err), np.inf, err)))


@dataclass
class Report:
    """What :func:`check` found: files and relevance vectors checked, the worst relative error
    of any vector, and every problem as a sentence (none: the folder conforms)."""
    files: int = 0
    vectors: int = 0
    worst: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_sums(folder) -> str:
    """The text of ``SHA256SUMS`` for every file of ``folder`` but itself, sorted by name."""
    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != CHECKSUMS
                   and not p.name.startswith("."))
    return "".join(f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in names)


def _check_checksums(folder: Path, report: Report) -> None:
    listed = folder / CHECKSUMS
    if not listed.is_file():
        report.problems.append(f"{folder}: no {CHECKSUMS}")
        return
    expected = dict(reversed(line.split(None, 1)) for line in listed.read_text().splitlines() if line)
    actual = dict(reversed(line.split(None, 1)) for line in sha256_sums(folder).splitlines())
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            report.problems.append(f"{name}: listed in {CHECKSUMS} but missing")
        elif name not in expected:
            report.problems.append(f"{name}: not listed in {CHECKSUMS}")
        elif expected[name] != actual[name]:
            report.problems.append(f"{name}: SHA-256 {actual[name][:12]}... differs from "
                                   f"{CHECKSUMS} ({expected[name][:12]}...)")


def _compare(report: Report, name: str, actual, expected, rtol: float) -> None:
    err = relative_error(actual, expected)
    report.worst = max(report.worst, err)
    if not err <= rtol:
        report.problems.append(f"{name}: relative error {err:.3g} > {rtol:g}")


def _check_file(path: Path, report: Report, rtol: float) -> None:
    tensors, metadata = safetensors.load(path, with_metadata=True)
    if metadata.get("format") != FORMAT or metadata.get("format_version") != str(FORMAT_VERSION):
        report.problems.append(f"{path.name}: not a {FORMAT} file of version {FORMAT_VERSION}")
        return
    spec = json.loads(metadata["spec"])
    net, x = build_network(spec, tensors), tensors["input"]
    A = net.activations(x)
    expected_names = set(_parameter_tensors(net)) | {"input", "target/predicted", "target/given"}
    for l in range(1, len(A)):
        expected_names.add(f"activation/{l}")
        _compare(report, f"{path.name}: activation/{l}", A[l], tensors[f"activation/{l}"], rtol)
    if not np.array_equal(A[-1].argmax(axis=1), tensors["target/predicted"]):
        report.problems.append(f"{path.name}: target/predicted is not the argmax of the logits")
    for name, setting in spec["settings"].items():
        rules = {i: rule_from_json(r) for i, r in enumerate(setting["propagation"])
                 if net.layers[i].linear}
        if setting["preset"] is not None:
            now = {i: rule_to_json(r) for i, r in resolve_rules(net, setting["preset"]).items()}
            if now != {i: rule_to_json(r) for i, r in rules.items()}:
                report.problems.append(f"{path.name}: {name}: the preset {setting['preset']!r} "
                                       f"now gives other rules than the file records")
        target = None if setting["target"] == "predicted" else tensors["target/given"]
        result = lrp(net, x, rules=setting["preset"] or rules, target=target,
                     max_pool=setting["max_pool"] or "proportional", return_layers=True)
        for l, R in enumerate(result.R):
            key = f"relevance/{name}/{l}"
            expected_names.add(key)
            if key not in tensors:
                report.problems.append(f"{path.name}: {key} is missing")
                continue
            _compare(report, f"{path.name}: {key}", R, tensors[key], rtol)
            report.vectors += 1
    for key in sorted(set(tensors) - expected_names):
        report.problems.append(f"{path.name}: {key} belongs to no layer or setting of the spec")


def check_file(path, *, rtol: float = RTOL) -> Report:
    """:func:`check` for one case file, without checksums."""
    path, report = Path(path), Report(files=1)
    try:
        _check_file(path, report, rtol)
    except (KeyError, ValueError, TypeError) as e:
        report.problems.append(f"{path.name}: {type(e).__name__}: {e}")
    return report


def check(folder=FOLDER, *, rtol: float = RTOL, checksums: bool = True) -> Report:
    """Verify a folder of conformance vectors: the checksums (unless ``checksums=False``), and
    for every file that this package, on the network built from the file alone
    (:func:`build_network`), reproduces every activation and every relevance vector to
    ``rtol`` (:func:`relative_error`), that each preset still gives the rules the file records,
    and that the file holds no tensor the spec does not name."""
    folder, report = Path(folder), Report()
    if checksums:
        _check_checksums(folder, report)
    for path in sorted(folder.glob("*.safetensors")):
        one = check_file(path, rtol=rtol)
        report.files += 1
        report.vectors += one.vectors
        report.worst = max(report.worst, one.worst)
        report.problems += one.problems
    if report.files == 0:
        report.problems.append(f"{folder}: no .safetensors files")
    return report

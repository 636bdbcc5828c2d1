"""Layer-wise relevance propagation (Sec. 4.3, 5, 6.3): one generic four-step routine.

``propagate(layer, a, R, rule)`` redistributes the relevance ``R`` of a linear-type layer's
outputs onto its inputs ``a`` with the paper's four steps (Eq. 4-7), for any rule of
``heatmapping.rules`` and any linear-type layer (``Linear``, ``Conv2d``, ``SumPool2d``,
``AvgPool2d``): the products of Eq. (4) and (6) are the layer's own ``forward`` and
``backward``, run on a copy whose weights the rule modified.

``lrp(net, x, ...)`` runs it from the output to the input:

* the relevance at the top is the target logit, R_L = f_c(x) e_c (or any given array);
* linear-type layers propagate with their rule;
* ``ReLU``, ``Dropout`` (identity at inference) and ``BatchNorm`` (when not merged into the
  previous layer, Sec. 5.3 "ignore") pass relevance unchanged; ``Flatten`` reshapes it;
* max pooling redistributes in proportion to the inputs of each pool (Montavon et al. 2017,
  Sec. 5.3; default; by x^+ if the pool sees signed inputs) or all to the winner (Bach et al.
  2015); l_p pooling proportionally (by |x|).

``propagate`` is the reference, the four steps as the paper writes them.  ``lrp`` runs the
same steps through ``heatmapping.fast_lrp``, which shares products with the forward pass,
stacks the backward passes of a rule's terms and reuses arrays; a law in
``tests/test_laws.py`` proves the two equal on every rule and layer type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from . import checks, fast_lrp, parallel
from .layers import BatchNorm, Dropout, Flatten, Layer, LpPool2d, MaxPool2d, ReLU, SumPool2d
from .network import Sequential
from .rules import PRESETS, Epsilon, Rule, stabilize

__all__ = ["propagate", "lrp", "LRPResult", "LayerLedger", "resolve_rules", "top_relevance"]


def propagate(layer: Layer, a: np.ndarray, R: np.ndarray, rule: Rule, *, ledger: bool = False):
    """One LRP step through a linear-type layer: the paper's four steps (Sec. 6.3, Eq. 4-7).

    For each part of the rule (one for most rules, two for alpha-beta), with the terms
    (x_t, rho_t) the rule gives for the input ``a``:

        z = sum_t rho_t(layer).forward(x_t)   [+ rho(b)], stabilized     (Eq. 4)
        s = R / z                                                         (Eq. 5)
        c_t = rho_t(layer).backward(s)                                    (Eq. 6)
        R_in += coefficient * sum_t x_t * c_t                             (Eq. 7)

    ``forward`` and ``backward`` are the layer's own (``Linear``, ``Conv2d``, ``SumPool2d``,
    ``AvgPool2d``), run on a copy whose weights (and bias) the rule modified.  This is the
    reference: ``lrp`` runs the same steps through ``heatmapping.fast_lrp``, which a law proves
    equal to this function.

    Parameters
    ----------
    layer : a linear-type layer (``layer.linear`` is True)
    a : array, the layer input (N, ...)
    R : array, relevance of the layer output (N, ...)
    rule : Rule
    ledger : bool
        Also return, per sample (N,), the relevance absorbed by the bias and by the
        stabilizer (including neurons whose denominator counts as 0).

    Returns
    -------
    R_in : array of the shape of ``a``; with ``ledger``, also (bias, stabilizer), arrays (N,)
    """
    if not layer.linear:
        raise TypeError(f"propagate: {type(layer).__name__} is not a linear-type layer")
    R_in = np.zeros(a.shape, dtype=np.result_type(a, R))
    bias = np.zeros(len(R), dtype=R_in.dtype)
    for part in rule.parts(a):
        # the bias (modified by the rule, or None) belongs to the first term only
        modified = [layer.map_weights(term.weight, part.bias if t == 0 else None)
                    for t, term in enumerate(part.terms)]
        z = sum(l.forward(term.input) for l, term in zip(modified, part.terms))     # Eq. (4)
        s = R / stabilize(z, rule.eps, R)                                             # Eq. (5)
        for l, term in zip(modified, part.terms):
            c = l.backward(term.input, s)                                             # Eq. (6)
            R_in += part.coefficient * term.input * c                                 # Eq. (7)
        if ledger and part.bias is not None and "b" in layer.param_names:
            b_map = modified[0].forward(np.zeros((1,) + a.shape[1:], dtype=a.dtype))  # b per unit
            bias += part.coefficient * (s * b_map).reshape(len(R), -1).sum(axis=1)
    if not ledger:
        return R_in
    total = lambda r: r.reshape(len(r), -1).sum(axis=1)  # noqa: E731
    return R_in, (bias, total(R) - total(R_in) - bias)


# --------------------------------------------------------------------------------------------
def _is_index(i, n: int) -> bool:
    """Whether ``i`` is an integer index in 0..n-1 (a bool is not: True would read as 1)."""
    return (isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))
            and 0 <= i < n)


def resolve_rules(net: Sequential, rules) -> dict[int, Rule]:
    """The rule of every linear-type layer, from one rule, a preset name or a mapping.

    * a ``Rule``: the same rule on every linear-type layer;
    * a preset name (``deep_taylor``, ``alpha2beta1``, ``epsilon``, ``deep_taylor_real``);
    * a mapping {layer index: rule}; unlisted linear-type layers get LRP-0 (``Epsilon(0)``).
      A rule for a layer that is not linear-type is an error, and so is alpha-beta on a layer
      without weights (a sum or average pool): it degenerates there to alpha times LRP-0.
    """
    linear = [i for i, layer in enumerate(net.layers) if layer.linear]
    if isinstance(rules, Rule):
        rules = {i: rules for i in linear}
    if isinstance(rules, str):
        if rules not in PRESETS:
            raise ValueError(f"rules: expected a Rule, a mapping {{layer: Rule}} or a preset name among "
                             f"{sorted(PRESETS)}, got {rules!r}")
        rules = PRESETS[rules](net.layers, linear[0] if linear else 0)
        rules = {i: r for i, r in rules.items() if i in linear}
    if not isinstance(rules, Mapping):
        raise TypeError(f"rules: expected a Rule, a preset name or a mapping {{layer index: rule}}, "
                        f"got {type(rules).__name__}")
    for i, rule in rules.items():
        if not _is_index(i, len(net.layers)):
            raise ValueError(f"rules: layer index {i!r} out of range 0..{len(net.layers) - 1}")
        if not net.layers[i].linear:
            raise ValueError(f"rules: layer {i} ({type(net.layers[i]).__name__}) is not a "
                             f"linear-type layer; rules apply to Linear, Conv2d, Sum/AvgPool2d")
        if not isinstance(rule, Rule):
            raise TypeError(f"rules: the rule for layer {i} is not a Rule: {rule!r}")
    resolved = {i: rules.get(i, Epsilon(0.0)) for i in linear}
    for i, rule in resolved.items():
        if rule.needs_weights and not net.layers[i].weighted:
            raise ValueError(f"rules: {type(rule).__name__} on layer {i} ({type(net.layers[i]).__name__}), "
                             f"which has no negative weights: with no negative part to subtract, "
                             f"it would pass alpha R instead of R; give that layer z+ or LRP-0 "
                             f"(a mapping {{layer index: rule}}, or the preset 'alpha2beta1')")
    return resolved


def top_relevance(output: np.ndarray, target) -> np.ndarray:
    """Relevance of the output layer, shape of ``output`` (N, K).

    ``target`` None: the predicted class's logit, R = f_c(x) e_c with c = argmax f(x);
    an int or an int array (N,): that class's logit per sample; a float array of the output's
    shape: used as the output relevance itself (regression outputs, custom relevance).
    """
    N, K = output.shape[0], int(np.prod(output.shape[1:]))
    flat = output.reshape(N, K)
    if target is None:
        target = flat.argmax(axis=1)
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.floating):
        if target.shape != output.shape:
            raise ValueError(f"target: an output relevance array must have the output's shape "
                             f"{output.shape}, got {target.shape}")
        if checks.has_nan_or_inf(target):
            raise ValueError("target: the output relevance contains NaN or Inf")
        return target.astype(output.dtype)
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"target: expected None, class indices or an output relevance array, "
                        f"got dtype {target.dtype}")
    if target.ndim > 1 or (target.ndim == 1 and len(target) != N):
        raise ValueError(f"target: expected a class index or one per sample ({N}), got shape "
                         f"{target.shape}")
    target = np.broadcast_to(target, (N,))
    if np.any(target < 0) or np.any(target >= K):
        raise ValueError(f"target: class index out of range 0..{K - 1}: {target[(target < 0) | (target >= K)][:5]}")
    R = np.zeros_like(flat)
    R[np.arange(N), target] = flat[np.arange(N), target]
    return R.reshape(output.shape)


@dataclass
class LayerLedger:
    """Per-sample relevance bookkeeping of one layer (arrays (N,)).

    ``relevance_out`` entered the layer from above, ``relevance_in`` left it downwards;
    ``bias`` and ``stabilizer`` are what the bias and the stabilizer (including dead
    denominators) absorbed: relevance_out = relevance_in + bias + stabilizer.
    """
    index: int
    layer: str
    rule: str
    relevance_out: np.ndarray
    relevance_in: np.ndarray
    bias: np.ndarray
    stabilizer: np.ndarray


@dataclass
class LRPResult:
    """What ``lrp(..., return_layers=True)`` returns.

    ``R``: relevance at every layer, ``R[l]`` of the shape of ``A[l]`` (``R[0]`` the input's,
    ``R[L]`` the output relevance); ``ledger``: one ``LayerLedger`` per layer, bottom to top.
    """
    R: list[np.ndarray]
    ledger: list[LayerLedger]

    def table(self, sample: int = 0) -> str:
        """The ledger of one sample as a printable table (the rule column as wide as needed)."""
        n = len(self.R[0])
        if not _is_index(sample, n):
            raise ValueError(f"table: sample must be an index in 0..{n - 1}, got {sample!r}")
        width = max([4] + [len(e.rule) for e in self.ledger])
        rows = [f"{'layer':>5} {'type':<10} {'rule':<{width}} {'R out':>12} {'R in':>12} "
                f"{'bias':>11} {'stabilizer':>11}"]
        for e in self.ledger:
            rows.append(f"{e.index:>5} {e.layer:<10} {e.rule:<{width}} {e.relevance_out[sample]:>12.6g} "
                        f"{e.relevance_in[sample]:>12.6g} {e.bias[sample]:>11.3g} "
                        f"{e.stabilizer[sample]:>11.3g}")
        return "\n".join(rows)


#: the memory one block of a large batch may take for its activations: a call over 10,000
#: digits runs in blocks whose activations stay near this size, so memory is bounded and the
#: heap is reused from block to block (one activation-sized array too many made the C library
#: return the heap to the system after every call, and fresh pages cost page faults)
BLOCK_BYTES = 24 * 2**20


def block_size(net: Sequential, x: np.ndarray) -> int:
    """Samples per block: BLOCK_BYTES divided by one sample's activations (all layers), and
    at most an equal share of the batch per thread (``net.threads``, see
    ``parallel.in_blocks``);
    a batch of at most 64 samples is never split (its size is returned)."""
    if len(x) <= 64:
        return len(x)
    per_sample = sum(a.nbytes for a in net.activations(x[:1]))
    share = -(-len(x) // net.threads)
    return max(1, min(BLOCK_BYTES // per_sample, max(share, parallel.GROUP_SAMPLES)))


def _joined(parts: list[LRPResult]) -> LRPResult:
    """The LRPResult of a whole batch from those of its blocks."""
    ledger = [LayerLedger(e.index, e.layer, e.rule,
                          *(np.concatenate([getattr(p.ledger[k], f) for p in parts])
                            for f in ("relevance_out", "relevance_in", "bias", "stabilizer")))
              for k, e in enumerate(parts[0].ledger)]
    return LRPResult([np.concatenate(r) for r in zip(*(p.R for p in parts))], ledger)


def _step(layer, a, R, rule, ledger: bool, known: Mapping | None = None):
    """The fast path's ``propagate``, with the ledger's (bias, stabilizer) only when asked for
    (it costs); ``known``: what the forward pass learnt, ``propagate``'s keyword arguments."""
    result = fast_lrp.propagate(layer, a, R, rule, ledger=ledger, **(known or {}))
    if ledger:
        return result
    zero = np.zeros(len(a), dtype=R.dtype)
    return result, (zero, zero)


def _pool_as_sum(layer) -> SumPool2d:
    """A sum pool with the same windows: the proportional rule R_j = x_j / sum x_j R_k."""
    return SumPool2d(layer.window, layer.stride, layer.padding)


def _checked_filters(filters, L: int) -> dict | None:
    """The filters of ``lrp`` as {layer: float mask}, checked: indices 0..L (the activations
    A[0..L]), finite masks."""
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        raise TypeError(f"filters: expected a mapping {{layer index: mask}}, got "
                        f"{type(filters).__name__}")
    checked = {}
    for l, mask in filters.items():
        if not _is_index(l, L + 1):
            raise ValueError(f"filters: layer index {l!r} out of range 0..{L} (the activations "
                             f"A[0..{L}])")
        mask = np.asarray(mask, dtype=float)
        if checks.has_nan_or_inf(mask):
            raise ValueError(f"filters[{l}]: the mask contains NaN or Inf")
        checked[int(l)] = mask
    return checked


def _broadcast_filter(filters: dict, l: int, R: np.ndarray) -> np.ndarray:
    try:
        # cast the mask, then broadcast it: a read-only view, not a copy of R's size
        return np.broadcast_to(filters[l].astype(R.dtype, copy=False), R.shape)
    except ValueError:
        raise ValueError(f"filters[{l}]: a mask of shape {filters[l].shape} does not broadcast "
                         f"to the relevance of A[{l}], shape {R.shape}") from None


def lrp(net: Sequential, x, *, target=None, rules="deep_taylor", max_pool: str = "proportional",
        filters: Mapping[int, np.ndarray] | None = None, return_layers: bool = False):
    """Layer-wise relevance propagation of the network's output for ``x`` (Sec. 4.3, 5).

    Parameters
    ----------
    net : Sequential
    x : array, the input batch (N, ...)
    target : None, int, int array (N,) or float array of the output's shape
        Which output to explain; see :func:`top_relevance`.  Default: the predicted class.
    rules : Rule, preset name or mapping {layer index: Rule}
        See :func:`resolve_rules`.  Default ``"deep_taylor"`` (zB on the first layer for pixels
        in [-1, 1], z+ above: Table 2, the recommendation of Sec. 6.2).
    max_pool : "proportional" (Montavon et al., default) or "winner" (Bach et al.)
        Redistribution through ``MaxPool2d``; ``LpPool2d`` is always proportional (Sec. 5.3).
    filters : mapping {layer index l: mask broadcastable to A[l]}, optional
        Relevance filtering (Sec. 4.4): at layer l only the relevance of the selected neurons
        (mask 1) is propagated further down, e.g. one feature map.
    return_layers : bool
        Return an ``LRPResult`` with the relevance of every layer and the conservation ledger
        instead of the input relevance only.

    Returns
    -------
    R : array of the shape of ``x``, or ``LRPResult``

    A batch of more than 64 samples is explained in blocks whose activations take at most
    about ``BLOCK_BYTES`` (24 MiB: 248 digits for the float32 CNN), shared among the network's
    threads (``net.threads``: one per core for a network with convolutions): one call over
    10,000 digits is as fast per digit as batches of 256, and its peak memory stays near three
    blocks' worth per thread (111-118 MiB measured for the CNN on two cores) instead of
    growing with the batch.
    """
    checks.network(net)
    if max_pool not in ("proportional", "winner"):
        raise ValueError(f"max_pool: expected 'proportional' or 'winner', got {max_pool!r}")
    if np.result_type(net.dtype, getattr(x, "dtype", np.float64)) == np.float16:
        # half precision has 3 decimal digits and a largest number of 65504: a fan-in sum of a
        # few hundred terms can overflow it.  Propagate in float32, return float16.
        out = lrp(net.astype(np.float32), np.asarray(x, dtype=np.float32), target=target, rules=rules,
                  max_pool=max_pool, filters=filters, return_layers=return_layers)
        if not return_layers:
            return out.astype(np.float16)
        return LRPResult([r.astype(np.float16) for r in out.R], out.ledger)
    return_layers = checks.flag(return_layers, "return_layers")
    rule_of = resolve_rules(net, rules)
    filters = _checked_filters(filters, len(net.layers))
    x = net.check_input(x)
    block = block_size(net, x)
    if block < len(x):
        parts = parallel.in_blocks(lambda xb, target, filters: _relevance_pass(
            net, xb, rule_of, target=target, max_pool=max_pool, filters=filters,
            return_layers=return_layers), x, block, threads=net.threads, target=target,
            filters=filters)
        return _joined(parts) if return_layers else np.concatenate(parts)
    return _relevance_pass(net, x, rule_of, target=target, max_pool=max_pool, filters=filters,
                           return_layers=return_layers)


def _relevance_pass(net: Sequential, x: np.ndarray, rule_of: dict[int, Rule], *, target,
                    max_pool: str, filters: dict | None, return_layers: bool):
    """``lrp`` on arguments already checked: one forward pass, then the relevance from the
    output down to the input."""
    A, shapes, known = fast_lrp.forward_pass(net, x, rule_of)
    R = [None] * len(A)
    R[-1] = top_relevance(A[-1], target)
    ledger = []
    for i in reversed(range(len(net.layers))):
        layer, a, Rk = net.layers[i], A[i], R[i + 1]
        if not return_layers:
            A[i] = R[i + 1] = None         # free each array as soon as it is used: a lower peak
        if filters and (i + 1) in filters:
            Rk = Rk * _broadcast_filter(filters, i + 1, Rk)
            if return_layers:
                R[i + 1] = Rk               # the layer's relevance as it was passed on
        bias = stab = np.zeros(len(Rk), dtype=Rk.dtype)
        rule_name = ""
        if layer.linear:
            R[i], (bias, stab) = _step(layer, a, Rk, rule_of[i], return_layers, known.pop(i))
            rule_name = rule_of[i].name
        elif isinstance(layer, (ReLU, Dropout, BatchNorm)):
            R[i] = Rk
        elif isinstance(layer, Flatten):
            R[i] = Rk.reshape(shapes[i])
        elif isinstance(layer, MaxPool2d) and max_pool == "winner":
            R[i] = layer.backward(a, Rk)       # the gradient routes everything to the winner
            rule_name = "winner-take-all"
        elif isinstance(layer, (MaxPool2d, LpPool2d)):
            # Sec. 5.3: R_j = x_j / sum_j x_j R_k over each pool, i.e. LRP-0 on a sum pool, for
            # x >= 0.  Signed inputs (a pool before its ReLU): a max pool shares by x^+, so it
            # explains as a ReLU-then-pool would; an l_p pool, a norm, by |x|
            share = np.maximum(a, 0) if isinstance(layer, MaxPool2d) else np.abs(a)
            R[i], (bias, stab) = _step(_pool_as_sum(layer), share, Rk, Epsilon(0.0), return_layers)
            rule_name = "proportional"
        else:
            raise TypeError(f"lrp: no relevance propagation for layer {i} ({type(layer).__name__})")
        if return_layers:
            total = lambda r: r.reshape(len(r), -1).sum(axis=1)  # noqa: E731
            ledger.append(LayerLedger(i, type(layer).__name__, rule_name, total(Rk),
                                      total(R[i]), bias, stab))
    if filters and 0 in filters:
        R[0] = R[0] * _broadcast_filter(filters, 0, R[0])
    if not return_layers:
        return R[0]
    return LRPResult(R, ledger[::-1])

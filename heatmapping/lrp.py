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

Two shortcuts make it fast without changing a number beyond rounding: ``lrp``'s forward pass
computes the products of Eq. (4) on each layer's input together with the layer output
(one im2col for all, :func:`_forward_with_products`), and the backward passes of a part's
several terms run as one (:func:`_backward_all`).  A law in ``tests/test_laws.py`` checks
that ``lrp`` equals a plain loop of ``propagate`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .layers import (BatchNorm, Conv2d, Dropout, Flatten, Layer, Linear, LpPool2d, MaxPool2d,
                     ReLU, SumPool2d)
from .network import Sequential
from .rules import PRESETS, Epsilon, Rule, identity, stabilize

__all__ = ["propagate", "lrp", "LRPResult", "LayerLedger", "resolve_rules", "top_relevance"]


def _into(ufunc, x, y):
    """ufunc(x, y), written into ``y`` when the shape and dtype allow.  ``y`` must be an array
    that nobody needs any more (one just computed): fewer new arrays make LRP faster on large
    batches (each new array costs memory traffic, and sometimes page faults)."""
    if _fits(y, x, y):
        return ufunc(x, y, out=y)
    return ufunc(x, y)


def _fits(out, x, y) -> bool:
    """Can ``out`` hold ufunc(x, y)?  Only a C-contiguous array of the result's shape and
    dtype (not a view into a larger array, which the result would keep alive)."""
    return isinstance(out, np.ndarray) and out.flags.c_contiguous and \
        out.shape == np.broadcast_shapes(np.shape(x), np.shape(y)) and \
        np.result_type(x, y) == out.dtype


def _add(x, y):
    """x + y, written into whichever of the two can hold it; both must be arrays that nobody
    needs any more."""
    if _fits(x, x, y):
        return np.add(x, y, out=x)
    return _into(np.add, x, y)


def _bias_map(layer: Layer, a: np.ndarray) -> np.ndarray:
    """The layer's output for a zero input of ``a``'s sample shape, (1, ...): its bias as a
    map over the output units (a conv's b_k repeated over the positions)."""
    return layer.forward(np.zeros((1,) + a.shape[1:], dtype=a.dtype))


def propagate(layer: Layer, a: np.ndarray, R: np.ndarray, rule: Rule, *, ledger: bool = False,
              parts=None, products: dict | None = None):
    """One LRP step through a linear-type layer, the four steps of Sec. 6.3.

    For each part of the rule (one for most rules, two for alpha-beta):

        z = sum_t rho_t(layer).forward(x_t) [+ rho_b(b)]   stabilized     (Eq. 4)
        s = R / z                                                          (Eq. 5)
        c_t = rho_t(layer).backward(s)                                     (Eq. 6)
        R_in += coefficient * sum_t x_t * c_t                              (Eq. 7)

    Parameters
    ----------
    layer : a linear-type layer (``layer.linear`` is True)
    a : array, the layer input (N, ...)
    R : array, relevance of the layer output (N, ...), the output's shape
    rule : Rule
    ledger : bool
        Also return, per sample (N,), the relevance absorbed by the bias and by the
        stabilizer (including neurons whose denominator was 0).
    parts : the rule's parts for ``a`` (``rule.parts(a)``), if already made
    products : dict {(part index, term index): array}, optional
        Products rho_t(layer).forward(x_t) *without the bias* that are already known: ``lrp``
        computes those of the terms on the input ``a`` in its forward pass, together with the
        layer output (:func:`_forward_with_products`).  ``propagate`` takes them out of the
        dict and may overwrite them.

    Returns
    -------
    R_in : array (N, ...), the input's shape
    (bias, stabilizer) : arrays (N,), only if ``ledger``
    """
    if not layer.linear:
        raise TypeError(f"propagate: {type(layer).__name__} is not a linear-type layer")
    products = {} if products is None else products
    R_in = None
    bias_absorbed = np.zeros(len(R), dtype=np.result_type(a, R))
    for p, part in enumerate(rule.parts(a) if parts is None else parts):
        layers = [layer.map_weights(term.weight, part.bias if t == 0 else None)
                  for t, term in enumerate(part.terms)]
        z = None
        for t, (l, term) in enumerate(zip(layers, part.terms)):                 # Eq. (4)
            z_t = products.pop((p, t), None)
            if z_t is None:
                z_t = l.forward(term.input)
            elif t == 0 and part.bias is not None:
                z_t = _add(z_t, _bias_map(l, a))                 # the known product + b
            z = z_t if z is None else _add(z, z_t)                 # z = sum_t z_t
        s = _into(np.divide, R, stabilize(z, rule.eps, R))         # s = R / z     Eq. (5)
        inputs = [term.input for term in part.terms]
        for c, x_t in zip(_backward_all(layers, inputs, s), inputs):   # c_t   Eq. (6)
            contribution = _into(np.multiply, x_t, c)                  # x_t c_t  Eq. (7)
            if part.coefficient != 1:
                contribution *= part.coefficient
            R_in = contribution if R_in is None else _into(np.add, contribution, R_in)
        if ledger and part.bias is not None and "b" in layer.param_names:
            # the bias's share: s times the bias map (the modified layer on a zero input)
            b_map = _bias_map(layers[0], a)
            bias_absorbed += part.coefficient * (s * b_map).reshape(len(R), -1).sum(axis=1)
    if not ledger:
        return R_in
    total_out = R.reshape(len(R), -1).sum(axis=1)
    total_in = R_in.reshape(len(R), -1).sum(axis=1)
    return R_in, (bias_absorbed, total_out - total_in - bias_absorbed)


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
        if not np.all(np.isfinite(target)):
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


def _step(layer, a, R, rule, ledger: bool, known=(None, None)):
    """``propagate``, with the ledger's (bias, stabilizer) only when asked for (it costs);
    ``known``: the (parts, products) of the forward pass, if any."""
    parts, products = known
    if ledger:
        return propagate(layer, a, R, rule, ledger=True, parts=parts, products=products)
    zero = np.zeros(len(a), dtype=R.dtype)
    return propagate(layer, a, R, rule, parts=parts, products=products), (zero, zero)


#: the axis of the input units in the weights of the layers whose weights can be stacked
#: (by exact type: other layers, subclasses included, take one backward pass per term)
_INPUT_AXIS = {Linear: 0, Conv2d: 1}


def _backward_all(layers: list[Layer], inputs: list[np.ndarray], s: np.ndarray) -> list:
    """c_t = rho_t(layer).backward(s) of every term of a part (Eq. 6).

    For several terms of a ``Linear`` or ``Conv2d`` layer, one backward pass of a layer whose
    weights are stacked along the input units, [rho_1(W) rho_2(W) ...], whose result is split
    again: one transpose of ``s`` and one scatter of the windows instead of one per term (zB
    has two terms).
    """
    if len(layers) == 1 or type(layers[0]) not in _INPUT_AXIS:
        return [l.backward(x, s) for l, x in zip(layers, inputs)]
    W = np.concatenate([l.W for l in layers], axis=_INPUT_AXIS[type(layers[0])])
    # backward reads only the input's shape: a stand-in of the stacked shape, without memory
    shape = (len(s), len(layers) * inputs[0].shape[1], *inputs[0].shape[2:])
    stand_in = np.broadcast_to(np.zeros((), s.dtype), shape)
    return np.split(layers[0].replace(W=W).backward(stand_in, s), len(layers), axis=1)


def _same_weights(layer: Layer, other: Layer) -> bool:
    """True when ``other``, a modified copy of ``layer``, has the same weights (bias aside)."""
    return other.config() == layer.config() and all(
        np.array_equal(v, getattr(other, k)) for k, v in layer.params().items() if k != "b")


def _forward_with_products(layer: Layer, a: np.ndarray, parts) -> tuple[np.ndarray, dict]:
    """The layer output for ``a``, and those products rho_t(layer).forward(a) of Eq. (4)
    (without the bias) of the terms of ``parts`` on ``a`` itself that come at little cost:

    * ``Linear`` and ``Conv2d``: the terms with modified weights (z+, alpha-beta), computed
      by ``layer.products`` with the layer's own W: one im2col of ``a`` serves the layer
      output and Eq. (4);
    * layers without a bias (the pools): the first term whose rho leaves the weights as they
      are (z+ on a sum pool), whose product is the layer output itself.  ``lrp`` overwrites
      such a product only after the layer above has used this output as its input.

    A term with the layer's own weights on a layer with a bias (zB, LRP-epsilon) is not
    kept: W a next to W a + b would be one more activation-sized array held through the
    whole relevance pass, and on the reference CNN that extra memory makes the C library
    return the heap to the system after every call, which costs more in page faults than
    computing W a again.  Returns (output, {(part index, term index): product}).
    """
    wanted = {(p, t): term.weight for p, part in enumerate(parts)
              for t, term in enumerate(part.terms) if term.input is a}
    mapped = {key: layer.map_weights(rho, None) for key, rho in wanted.items()
              if rho is not identity}
    if "b" not in layer.param_names:
        out = layer.forward(a)
        own = [key for key, rho in wanted.items()
               if rho is identity or _same_weights(layer, mapped[key])]
        return out, ({own[0]: out} if own else {})
    shared = [key for key, l in mapped.items()
              if hasattr(layer, "products") and not _same_weights(layer, l)]
    if not shared:
        return layer.forward(a), {}
    Wa, *products = layer.products(a, [layer.W] + [mapped[key].W for key in shared])
    return _add(Wa, _bias_map(layer, a)), dict(zip(shared, products))


def _forward_pass(net: Sequential, x, rule_of: Mapping[int, Rule]) -> tuple[list, list, dict]:
    """One forward pass that keeps what LRP needs.

    * ``A[l]``: the input of every layer LRP propagates through with a rule (linear-type
      layers, max and l_p pools), and the output ``A[L]``; None for the others (ReLU,
      Flatten, ...), whose inputs are dropped as soon as they are used: half the memory of
      ``net.activations``, and measurably faster;
    * every ``A[l]``'s shape;
    * ``known[l]``: for each linear-type layer, the parts of its rule and the products of
      Eq. (4) that the forward pass computed together with the layer output
      (:func:`_forward_with_products`), so that the relevance pass need not compute them.
    """
    A, shapes, known, a = [], [], {}, net.check_input(x)
    for i, layer in enumerate(net.layers):
        needed = layer.linear or isinstance(layer, (MaxPool2d, LpPool2d))
        A.append(a if needed else None)
        shapes.append(a.shape)
        if i in rule_of:
            parts = rule_of[i].parts(a)
            a, products = _forward_with_products(layer, a, parts)
            known[i] = (parts, products)
        else:
            a = layer.forward(a)
    return A + [a], shapes + [a.shape], known


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
        if not np.all(np.isfinite(mask)):
            raise ValueError(f"filters[{l}]: the mask contains NaN or Inf")
        checked[int(l)] = mask
    return checked


def _broadcast_filter(filters: dict, l: int, R: np.ndarray) -> np.ndarray:
    try:
        return np.broadcast_to(filters[l], R.shape).astype(R.dtype, copy=False)
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
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"net: expected a Sequential network (e.g. models.load_model('cnn')), "
                        f"got {type(net).__name__} {net!r:.40}")
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
    rule_of = resolve_rules(net, rules)
    filters = _checked_filters(filters, len(net.layers))
    A, shapes, known = _forward_pass(net, x, rule_of)
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

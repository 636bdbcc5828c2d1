"""The fast path of LRP: the same four steps as ``heatmapping.lrp.propagate`` (Eq. 4-7),
with the plumbing that makes them fast on large batches.  ``lrp`` runs this; the law
``tests/test_laws.py::test_the_fast_path_equals_the_readable_propagate`` proves it equal to
the readable ``propagate`` on every rule and layer type.

What it adds to the four lines of ``propagate``:

* ``lrp``'s forward pass computes the products of Eq. (4) on each layer's input together with
  the layer output (one im2col for all, :func:`forward_with_products`), so the relevance pass
  does not compute them again;
* the backward passes of a part's several terms run as one, with the weights stacked along
  the input units (:func:`backward_all`);
* a rule whose z is the layer output itself (LRP-0, LRP-epsilon) before a ReLU takes z from
  the ReLU's output, which the forward pass keeps anyway, instead of computing W a + b again
  (:func:`rectified_is_enough`);
* results are written into arrays that are no longer needed (:func:`_into`, :func:`_add`):
  fewer new arrays mean less memory traffic and fewer page faults on large batches.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .layers import Conv2d, Layer, Linear, LpPool2d, MaxPool2d, ReLU
from .network import Sequential
from .rules import Rule, identity, stabilize

__all__ = ["propagate", "forward_pass", "forward_with_products", "backward_all",
           "z_is_the_output", "rectified_is_enough"]


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


def _denominator(layers: list[Layer], part, p: int, a: np.ndarray, products: dict) -> np.ndarray:
    """z = sum_t rho_t(layer).forward(x_t) [+ rho_b(b)] of part ``p`` (Eq. 4), each term's
    product taken from ``products`` if the forward pass computed it."""
    z = None
    for t, (l, term) in enumerate(zip(layers, part.terms)):
        z_t = products.pop((p, t), None)
        if z_t is None:
            z_t = l.forward(term.input)
        elif t == 0 and part.bias is not None:
            z_t = _add(z_t, _bias_map(l, a))                     # the known product + b
        z = z_t if z is None else _add(z, z_t)                   # z = sum_t z_t
    return z


def _bias_map(layer: Layer, a: np.ndarray) -> np.ndarray:
    """The layer's output for a zero input of ``a``'s sample shape, (1, ...): its bias as a
    map over the output units (a conv's b_k repeated over the positions)."""
    return layer.forward(np.zeros((1,) + a.shape[1:], dtype=a.dtype))


def propagate(layer: Layer, a: np.ndarray, R: np.ndarray, rule: Rule, *, ledger: bool = False,
              parts=None, products: dict | None = None, rectified: np.ndarray | None = None):
    """``heatmapping.lrp.propagate`` (Eq. 4-7), with products shared and arrays reused.

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
        layer output (:func:`forward_with_products`).  ``propagate`` takes them out of the
        dict and may overwrite them.
    rectified : array, optional
        max(0, layer output) for ``a``, the output of a ReLU that follows the layer, when the
        rule's z is the layer output itself (one part, one term on ``a`` with the layer's own
        weights and bias: LRP-0, LRP-epsilon).  It is used as z where it suffices
        (:func:`rectified_is_enough`), and never written into.

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
    parts = rule.parts(a) if parts is None else parts
    for p, part in enumerate(parts):
        layers = [layer.map_weights(term.weight, part.bias if t == 0 else None)
                  for t, term in enumerate(part.terms)]
        if rectified is not None and z_is_the_output(parts, a) and rectified_is_enough(rectified, R):
            z = rectified                         # Eq. (4): the layer output, as the ReLU passed it
        else:
            z = _denominator(layers, part, p, a, products)                      # Eq. (4)
        denominator = stabilize(z, rule.eps, R)
        if denominator is rectified:                               # s = R / z     Eq. (5)
            s = R / denominator                                    # (not into the ReLU's output)
        else:
            s = _into(np.divide, R, denominator)
        inputs = [term.input for term in part.terms]
        for c, x_t in zip(backward_all(layers, inputs, s), inputs):   # c_t   Eq. (6)
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


def z_is_the_output(parts, a: np.ndarray) -> bool:
    """True when the rule's z is the layer output for ``a``: one part, of one term on ``a``
    itself with the layer's own weights, and the layer's own bias (LRP-0, LRP-epsilon)."""
    if len(parts) != 1 or len(parts[0].terms) != 1:
        return False
    (term,), bias, coefficient = parts[0].terms, parts[0].bias, parts[0].coefficient
    return term.input is a and term.weight is identity and bias is identity and coefficient == 1


def rectified_is_enough(rectified: np.ndarray, R: np.ndarray) -> bool:
    """Can ``rectified`` = max(0, z) stand for z in s = R / z (Eq. 5)?

    Where it is positive it is z itself.  Where it is 0 (z <= 0, an inactive neuron), R / z
    is 0 if R is 0 there, and any z gives that: the rules above pass relevance through a
    neuron's activation (R_k = a_k c_k, Eq. 7), so an inactive neuron gets none.  A rule that
    gives relevance without the activation (w^2, flat) does give it some: then z is needed,
    and this returns False."""
    return not np.any((rectified == 0) & (R != 0))


#: the axis of the input units in the weights of the layers whose weights can be stacked
#: (by exact type: other layers, subclasses included, take one backward pass per term)
_INPUT_AXIS = {Linear: 0, Conv2d: 1}


def backward_all(layers: list[Layer], inputs: list[np.ndarray], s: np.ndarray) -> list:
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


def forward_with_products(layer: Layer, a: np.ndarray, parts) -> tuple[np.ndarray, dict]:
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
    # a layer of the user's with a bias but without ``products`` computes its terms later
    shared = [key for key, l in mapped.items()
              if hasattr(layer, "products") and not _same_weights(layer, l)]
    if not shared:
        return layer.forward(a), {}
    Wa, *products = layer.products(a, [layer.W] + [mapped[key].W for key in shared])
    return _add(Wa, _bias_map(layer, a)), dict(zip(shared, products))


def forward_pass(net: Sequential, x: np.ndarray, rule_of: Mapping[int, Rule]) -> tuple[list, list, dict]:
    """One forward pass over ``x`` (already checked by ``lrp``) that keeps what LRP needs.

    * ``A[l]``: the input of every layer LRP propagates through with a rule (linear-type
      layers, max and l_p pools), and the output ``A[L]``; None for the others (ReLU,
      Flatten, ...), whose inputs are dropped as soon as they are used: half the memory of
      ``net.activations``, and measurably faster;
    * every ``A[l]``'s shape;
    * ``known[l]``: for each linear-type layer, what the forward pass learnt for
      :func:`propagate`, as its keyword arguments: ``parts`` of the layer's rule, the
      ``products`` of Eq. (4) computed together with the layer output
      (:func:`forward_with_products`), so that the relevance pass need not compute them, and
      ``rectified``, the output of a ReLU right after the layer, if the rule's z is the layer
      output.
    """
    A, shapes, known, a = [], [], {}, x
    for i, layer in enumerate(net.layers):
        needed = layer.linear or isinstance(layer, (MaxPool2d, LpPool2d))
        A.append(a if needed else None)
        shapes.append(a.shape)
        if i in rule_of:
            parts = rule_of[i].parts(a)
            a, products = forward_with_products(layer, a, parts)
            known[i] = dict(parts=parts, products=products)
        else:
            a = layer.forward(a)
            below = known.get(i - 1)
            if type(layer) is ReLU and below and z_is_the_output(below["parts"], A[i - 1]):
                below["rectified"] = a
    return A + [a], shapes + [a.shape], known



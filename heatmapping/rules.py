"""LRP propagation rules as data (Sec. 5.1, 5.2, Table 2).

Every rule here is a configuration of one generic propagation step through a linear-type
layer (``heatmapping.lrp.propagate``), the four computations of Sec. 6.3:

    z = sum_t rho_t(layer).forward(x_t) + stabilizer      (Eq. 4)
    s = R / z                                            (Eq. 5)
    c_t = rho_t(layer).backward(s)                       (Eq. 6)
    R_in = sum_t x_t * c_t                               (Eq. 7)

A rule says, for the layer input ``a``, which *terms* (an input ``x_t`` derived from ``a``
and a weight transform ``rho_t``) enter the denominator, what happens to the bias, which
stabilizer is added, and, for the alpha-beta rule, that there are two such *parts* (the
excitatory and the inhibitory one) weighted by alpha and -beta.  A rule is a small immutable
object, validated when it is made; it holds no arrays of a layer and no state.

Conventions (stated once, used everywhere):

* "positive part" x^+ = max(0, x), "negative part" x^- = min(0, x), so x = x^+ + x^-;
* the stabilizer of the epsilon rule is z + eps * sign(z) with sign(0) := +1;
* every rule also treats a denominator as infinite, so that s = 0 there, where z = 0 or where
  |s| = |R / z| would exceed :func:`ratio_ceiling` (the dtype's largest number times its
  machine epsilon: 4.0e292 in float64, 4.1e31 in float32): the relevance of such a neuron is absorbed
  (the ledger of ``lrp`` shows it) instead of becoming NaN or Inf in s or in the products
  c = W s and a * c that follow.  The test is relative, so it never drops relevance because
  the network's scale is small (weights of 1e-20 explain like weights of 1); for the rules
  derived by deep Taylor decomposition it triggers only where z = 0 exactly, i.e. where a
  ReLU neuron with b <= 0 is dead and its relevance is 0 anyway.
* the w^2 rule squares the weights divided by their largest magnitude in the layer, which
  leaves its ratios w_ij^2 / sum_i w_ij^2 unchanged and keeps the squares finite and normal
  (weights of 1e20 in float32 would otherwise overflow to Inf).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, NamedTuple

import numpy as np

__all__ = ["Term", "Part", "Rule", "identity", "Epsilon", "AlphaBeta", "ZPlus", "ZBox", "WSquare", "Flat",
           "Gamma", "PRESETS", "stabilize", "ratio_ceiling"]


class Term(NamedTuple):
    """One product x_t * rho(w) in a denominator: an input derived from ``a``, and a map of
    the weights (applied to every weight array of the layer).

    A term on the layer input unchanged has ``input`` = ``a`` itself (the same object): by
    this identity ``lrp`` recognises the products it can compute in its forward pass."""
    input: np.ndarray
    weight: Callable[[np.ndarray], np.ndarray]


class Part(NamedTuple):
    """A group of terms sharing one denominator, weighted by ``coefficient``.

    ``bias`` maps the layer's bias to the bias that enters the denominator (``None``: the bias
    is ignored, which keeps conservation exact).
    """
    coefficient: float
    terms: tuple[Term, ...]
    bias: Callable[[np.ndarray], np.ndarray] | None


def identity(w):
    """The weight map of a term that uses the layer's own weights."""
    return w


def _positive(w):
    return np.maximum(w, 0)


def _negative(w):
    return np.minimum(w, 0)


def _square(w):
    # (w / max|w|)^2: the same ratios w_ij^2 / sum_i w_ij^2, without overflow or underflow
    peak = np.max(np.abs(w)) if w.size else 0
    w = w / peak if peak > 0 else w
    return w * w


def _ones(w):
    return np.ones_like(w)


def ratio_ceiling(dtype):
    """The largest |s| = |R / z| that a propagation step lets through: the dtype's largest
    number times its machine epsilon (4.0e292 in float64, 4.1e31 in float32), so that s is
    finite and the sums that follow, c = W s, have room for 1 / eps terms of unit weight.  A
    scalar of ``dtype`` (a Python float cannot hold the long double's 1.2e4932)."""
    info = np.finfo(dtype)
    return info.max * info.eps


def stabilize(z: np.ndarray, eps: float = 0.0, R: np.ndarray | None = None) -> np.ndarray:
    """The denominator actually used: z + eps * sign(z) (sign(0) := +1), and +inf where the
    result is 0 or, given the relevance R it will divide, where |R / z| would exceed
    :func:`ratio_ceiling`: R / z is 0 there, never NaN or Inf."""
    if eps:
        z = z + eps * np.where(z >= 0, 1.0, -1.0).astype(z.dtype)
    if R is None:
        small = z == 0
    else:
        # |z| <= |R| / ceiling, written so that nothing overflows (the quotient may underflow
        # to 0, which leaves exactly the zeros)
        small = np.abs(z) <= np.abs(R) * (1 / ratio_ceiling(z.dtype))
    return np.where(small, np.inf, z) if small.any() else z


def _check_real(rule, *names) -> None:
    """A rule's numeric parameters must be real numbers (not strings, booleans or arrays)."""
    for name in names:
        value = getattr(rule, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{type(rule).__name__}: {name} must be a real number, got "
                            f"{value!r} ({type(value).__name__})")


@dataclass(frozen=True)
class Rule:
    """Base class.  Subclasses implement :meth:`parts`; ``eps`` is the stabilizer.

    ``needs_weights``: the rule splits a layer's contributions by their sign, so on a layer
    that is not ``weighted`` (a sum or average pool, all of whose contributions are positive)
    it degenerates, and ``lrp`` refuses it there.
    """

    needs_weights: ClassVar[bool] = False
    eps: float = field(default=0.0, kw_only=True)

    def __post_init__(self):
        _check_real(self, "eps")
        if not (np.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"{type(self).__name__}: expected a finite eps >= 0, got {self.eps!r}")

    def parts(self, a: np.ndarray) -> tuple[Part, ...]:
        """The parts of the propagation for layer input ``a`` (N, ...)."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        return repr(self)


@dataclass(frozen=True)
class Epsilon(Rule):
    """LRP-epsilon (Bach et al. 2015): R_j = sum_k a_j w_jk / (z_k + eps sign(z_k)) R_k,
    z_k = sum_j a_j w_jk + b_k.  ``eps = 0`` is LRP-0, which on a bias-free ReLU network equals
    gradient x input.  The bias and eps absorb relevance (conservation is not exact)."""

    eps: float = 0.0

    def parts(self, a):
        return (Part(1.0, (Term(a, identity),), identity),)


@dataclass(frozen=True)
class AlphaBeta(Rule):
    """The alpha-beta rule, Eq. (1), with alpha - beta = 1 and beta >= 0:

        R_j = sum_k ( alpha (a_j w_jk)^+ / sum_j (a_j w_jk)^+
                    - beta  (a_j w_jk)^- / sum_j (a_j w_jk)^- ) R_k .

    The positive and negative parts are those of the products a_j w_jk, so signed inputs are
    handled correctly: (a w)^+ = a^+ w^+ + a^- w^-, (a w)^- = a^+ w^- + a^- w^+.

    ``bias="ignore"`` (default; the paper's Eq. 1 and deep Taylor) leaves the bias out of the
    denominators, so that relevance is conserved exactly wherever both parts are non-zero.
    ``bias="split"`` adds b^+ to the positive and b^- to the negative denominator (as some
    libraries do); the bias then absorbs part of the relevance.
    """

    needs_weights: ClassVar[bool] = True   # a neuron needs both parts (see Rule)

    alpha: float = 1.0
    beta: float = 0.0
    bias: str = "ignore"

    def __post_init__(self):
        super().__post_init__()
        _check_real(self, "alpha", "beta")
        if not np.isclose(self.alpha - self.beta, 1.0, rtol=0, atol=1e-12) or self.beta < 0:
            raise ValueError(f"AlphaBeta: expected alpha - beta = 1 and beta >= 0 (Eq. 1), "
                             f"got alpha={self.alpha!r}, beta={self.beta!r}")
        if self.bias not in ("ignore", "split"):
            raise ValueError(f"AlphaBeta: bias must be 'ignore' or 'split', got {self.bias!r}")

    def parts(self, a):
        split = self.bias == "split"
        # after a ReLU a^- = 0, and the a^- terms would only add zeros: leave them out (and
        # a^+ is a itself, whose products lrp's forward pass can share)
        signed = bool(a.min() < 0) if a.size else False
        a_pos, a_neg = (np.maximum(a, 0), np.minimum(a, 0)) if signed else (a, None)
        plus = (Term(a_pos, _positive),) + ((Term(a_neg, _negative),) if signed else ())
        minus = (Term(a_pos, _negative),) + ((Term(a_neg, _positive),) if signed else ())
        excitatory = Part(self.alpha, plus, _positive if split else None)
        if self.beta == 0:
            return (excitatory,)
        return excitatory, Part(-self.beta, minus, _negative if split else None)


@dataclass(frozen=True)
class ZPlus(Rule):
    """The deep Taylor z+ rule for ReLU activations a_j >= 0 (Eq. 2, Table 2):

        R_j = sum_k a_j w_jk^+ / sum_j a_j w_jk^+ R_k ,

    the alpha=1, beta=0 rule (LRP-alpha1beta0).  Biases are ignored: relevance is conserved.
    Inputs must be non-negative (use ``ZBox`` or ``WSquare`` for the first layer).
    """

    def parts(self, a):
        if a.size and a.min() < 0:
            raise ValueError("ZPlus: the z+ rule expects non-negative (ReLU) activations; "
                             "use ZBox for pixel inputs or AlphaBeta for signed inputs")
        return (Part(1.0, (Term(a, _positive),), None),)


@dataclass(frozen=True, eq=False)
class ZBox(Rule):
    """The deep Taylor zB rule for inputs in a box x_i in [l_i, h_i], l_i <= 0 <= h_i (Table 2):

        R_i = sum_j (x_i w_ij - l_i w_ij^+ - h_i w_ij^-) / sum_i (x_i w_ij - l_i w_ij^+ - h_i w_ij^-) R_j

    computed as ((x_i - l_i) w_ij^+ + (x_i - h_i) w_ij^-), the same numbers without cancellation.

    ``low`` and ``high`` are the bounds of the input *domain* (scalars, or arrays broadcasting
    to one input sample), not the batch's min and max: for this project's pixels [-1, 1].
    Biases are ignored: relevance is conserved.  Inputs outside the box are refused.
    """

    low: float | np.ndarray = -1.0
    high: float | np.ndarray = 1.0

    def __post_init__(self):
        super().__post_init__()
        low, high = np.asarray(self.low, dtype=float), np.asarray(self.high, dtype=float)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ValueError("ZBox: the bounds must be finite")
        if np.any(low > 0) or np.any(high < 0):
            raise ValueError(f"ZBox: expected low <= 0 <= high, got low={self.low!r}, high={self.high!r}")

    def parts(self, a):
        try:
            low = np.broadcast_to(np.asarray(self.low, dtype=a.dtype), a.shape[1:])
            high = np.broadcast_to(np.asarray(self.high, dtype=a.dtype), a.shape[1:])
        except ValueError:
            raise ValueError(f"ZBox: bounds of shape {np.shape(self.low)} and "
                             f"{np.shape(self.high)} do not broadcast to one input sample "
                             f"{a.shape[1:]}") from None
        if np.any(a < low) or np.any(a > high):
            raise ValueError(f"ZBox: input outside the box [low, high] (min {a.min():.4g}, "
                             f"max {a.max():.4g}); the bounds must be the input domain's")
        # x w - l w^+ - h w^- = (x - l) w^+ + (x - h) w^-: two terms whose every contribution
        # has the sign of R (x - l >= 0 meets w^+, x - h <= 0 meets w^-), so no cancellation.
        # Written as x w - l w^+ - h w^-, an input 1e-16 below h gave z ~ 1e-17 as the
        # difference of terms ~ 0.1, and R off by 10% after the division
        return (Part(1.0, (Term(a - low, _positive), Term(a - high, _negative)), None),)


@dataclass(frozen=True)
class WSquare(Rule):
    """The deep Taylor w^2 rule for unbounded real inputs (Table 2):

        R_i = sum_j w_ij^2 / sum_i w_ij^2 R_j .

    The input values do not enter: relevance is spread by the squared weights.  Biases ignored.
    """

    def parts(self, a):
        return (Part(1.0, (Term(np.ones((1,) + a.shape[1:], a.dtype), _square),), None),)


@dataclass(frozen=True)
class Flat(Rule):
    """The flat rule: R_i = sum_j 1 / (number of inputs of j) R_j, uniform over each neuron's
    receptive field (w = 1, inputs ignored).  Biases ignored."""

    def parts(self, a):
        return (Part(1.0, (Term(np.ones((1,) + a.shape[1:], a.dtype), _ones),), None),)


@dataclass(frozen=True)
class Gamma(Rule):
    """The gamma rule for ReLU activations: w -> w + gamma w^+, b -> b + gamma b^+,

        R_j = sum_k a_j (w_jk + gamma w_jk^+) / sum_j a_j (w_jk + gamma w_jk^+) + b_k') R_k .

    gamma = 0 is LRP-0; as gamma -> inf it tends to z+ with b^+ in the denominator (the same
    as z+ when b <= 0, as in the shipped models).  The bias absorbs relevance.
    """

    gamma: float = 0.25

    def __post_init__(self):
        super().__post_init__()
        _check_real(self, "gamma")
        if not (np.isfinite(self.gamma) and self.gamma >= 0):
            raise ValueError(f"Gamma: expected a finite gamma >= 0, got {self.gamma!r}")

    def parts(self, a):
        def rho(w, g=self.gamma):
            return w + g * np.maximum(w, 0)
        return (Part(1.0, (Term(a, rho),), rho),)


def _deep_taylor(layers, first: int) -> dict[int, Rule]:
    """zB on the first linear-type layer (pixels in [-1, 1]), z+ on every layer above."""
    return {first: ZBox(-1.0, 1.0)} | {i: ZPlus() for i in range(first + 1, len(layers))}


def _alpha2beta1(layers, first: int) -> dict[int, Rule]:
    """Sec. 6.2: "replace the rule LRP-alpha1beta0 by LRP-alpha2beta1 in the hidden layers".

    zB on the pixels, alpha2beta1 in the hidden layers with weights (``Linear``, ``Conv2d``),
    z+ (= alpha1beta0) elsewhere: on the pools, which have no negative contributions (alpha-beta
    would pass alpha R_k there), and on the output layer, which is not hidden (its few active
    inputs can all meet positive weights, and alpha-beta would then double the logit).
    """
    weighted = [i for i, layer in enumerate(layers) if layer.weighted]
    last = max(weighted, default=first)
    return {first: ZBox(-1.0, 1.0)} | {
        i: AlphaBeta(alpha=2.0, beta=1.0) if i in weighted and i != last else ZPlus()
        for i in range(first + 1, len(layers))}


#: Named presets.  Each maps (the network's layers, index of the first linear-type layer) to
#: a plain dict {layer index: rule}; ``lrp`` applies the rule of each linear-type layer.
PRESETS: dict[str, Callable[[list, int], dict[int, Rule]]] = {
    # Table 2, the default of Sec. 6.2 for ReLU networks on pixels in [-1, 1]
    "deep_taylor": _deep_taylor,
    # Sec. 6.2: negative evidence in the hidden layers, zB on the pixels
    "alpha2beta1": _alpha2beta1,
    # LRP-epsilon everywhere (Bach et al. 2015)
    "epsilon": lambda layers, first: {i: Epsilon(eps=0.01) for i in range(len(layers))},
    # deep Taylor with the w^2 rule for real-valued (unbounded) first-layer inputs
    "deep_taylor_real": lambda layers, first: {first: WSquare()}
    | {i: ZPlus() for i in range(first + 1, len(layers))},
}

"""Deep Taylor view of the z+, zB and w^2 rules (Sec. 5.2, Figure 4, Table 2).

Take one relevance neuron R_k = max(0, sum_j a_j w_jk + b_k) (the constant c_k of Eq. (3)
folded into w and b).  Deep Taylor decomposition expands R_k at a root point a~ (where
R_k(a~) = 0) found on a search segment a~ = a - t v, t in [0, 1]; the neuron is linear
between a and a~, so the first-order terms

    R_{j<-k} = dR_k/da_j |_{a~} (a_j - a~_j) = w_jk t v_j

sum exactly to R_k.  The direction v is what distinguishes the rules:

* z+ (activations a >= 0): v = a * 1[w > 0], the segment [(a_j 1[w_jk <= 0])_j, (a_j)_j];
* zB (inputs in [l, h]): v = a - l * 1[w > 0] - h * 1[w < 0], towards the box corner that
  minimizes the neuron;
* w^2 (real-valued inputs, no bounds): v = w, the steepest descent of the neuron; the search
  domain is the whole ray a - t w, t >= 0, not a segment.

With t = z / (v . w) the terms are (v_j w_jk / sum_j v_j w_jk) R_k: exactly the z+ rule
(v_j w_jk = a_j w_jk^+), the zB rule (v_j w_jk = a_j w_jk - l_j w_jk^+ - h_j w_jk^-) and the
w^2 rule (v_j w_jk = w_jk^2).
"""

from __future__ import annotations

import numpy as np

from .rules import Rule, WSquare, ZBox, ZPlus

__all__ = ["search_direction", "root_point", "taylor_terms"]


def search_direction(a: np.ndarray, w: np.ndarray, rule: Rule) -> np.ndarray:
    """The direction v of the root search segment a - t v of one neuron; a, w of shape (D,)."""
    if isinstance(rule, ZPlus):
        return a * (w > 0)
    if isinstance(rule, ZBox):
        low = np.broadcast_to(np.asarray(rule.low, dtype=float), a.shape)
        high = np.broadcast_to(np.asarray(rule.high, dtype=float), a.shape)
        return a - low * (w > 0) - high * (w < 0)
    if isinstance(rule, WSquare):
        return np.array(w, dtype=float)
    raise TypeError(f"root points are defined here for ZPlus, ZBox and WSquare, not "
                    f"{type(rule).__name__}")


def root_point(a: np.ndarray, w: np.ndarray, b: float, rule: Rule) -> np.ndarray:
    """The root a~ = a - t v of R(a) = max(0, a . w + b) on the rule's search segment.

    For an active neuron (a . w + b > 0) with b <= 0, t = (a . w + b) / (v . w) lies in
    (0, 1] and a~ . w + b = 0.  For an inactive neuron R = 0 already and a~ = a.  The w^2
    rule searches the whole ray (t >= 0), where an active neuron always has its root.
    """
    a, w = np.asarray(a, dtype=float), np.asarray(w, dtype=float)
    z = a @ w + b
    v = search_direction(a, w, rule)
    if z <= 0:
        return a.copy()
    if not isinstance(rule, WSquare) and not v @ w >= z:
        # v . w >= a . w + b holds whenever b <= 0; otherwise the root lies beyond the segment
        raise ValueError(f"root_point: no root on the search segment (a . w + b = {z:.4g}, "
                         f"v . w = {v @ w:.4g}): the deep Taylor rules assume a bias b <= 0, "
                         f"got b = {b!r}")
    return a - z / (v @ w) * v


def taylor_terms(a: np.ndarray, w: np.ndarray, b: float, rule: Rule) -> np.ndarray:
    """First-order Taylor terms of R(a) = max(0, a . w + b) at the root point:
    R_j = dR/da_j (a~) (a_j - a~_j) = w_j (a_j - a~_j), using the gradient w of the
    neuron's active side (the root lies on the boundary of that linear piece)."""
    return np.asarray(w, dtype=float) * (np.asarray(a, dtype=float) - root_point(a, w, b, rule))

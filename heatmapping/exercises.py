"""The course's exercises: what the reader writes, checked against the library.

Each ``check_*`` function takes the reader's answer, compares it with the package on random
cases in float64, prints one line (``PASS``, ``FAIL`` with the reason, or ``not attempted
yet`` for an answer that returns None), and returns True, False or None.  The ``solution_*``
functions are reference answers, for after trying (and for the tests of the checks).

1. the z+ rule's four steps for a dense layer (Sec. 6.3, Eq. 4-7);
2. the alpha-beta rule's two parts (Sec. 5.1, Eq. 1);
3. the continuity constant of an explanation of a toy network (Sec. 7.1).
"""

from __future__ import annotations

import numpy as np

from . import explain, metrics, models
from .layers import Linear
from .lrp import propagate
from .rules import AlphaBeta, ZPlus

__all__ = ["check_zplus_dense", "check_alpha_beta", "check_continuity_constant",
           "solution_zplus_dense", "solution_alpha_beta", "solution_continuity_constant"]

#: agreement with the library required to pass (float64 throughout)
RTOL = 1e-9


def _verdict(name: str, answer, expected) -> bool | None:
    if answer is None:
        print(f"{name}: not attempted yet (the function returned None)")
        return None
    answer = np.asarray(answer, dtype=float)
    if answer.shape != np.shape(expected):
        print(f"{name}: FAIL: expected shape {np.shape(expected)}, got {answer.shape}")
        return False
    if not np.allclose(answer, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max()):
        worst = np.abs(answer - expected).max()
        print(f"{name}: FAIL: differs from the library by up to {worst:.3g}")
        return False
    print(f"{name}: PASS (equal to the library to {RTOL:g})")
    return True


def _dense_case(seed: int):
    """A dense layer with both signs of weights and a negative bias, ReLU inputs a >= 0."""
    rng = np.random.default_rng(seed)
    W, b = rng.standard_normal((6, 4)), -rng.uniform(0, 0.5, 4)
    a = np.maximum(rng.standard_normal((3, 6)), 0) + 0.01     # every neuron has input
    R = rng.uniform(0, 1, (3, 4))
    return a, W, b, R


def solution_zplus_dense(a, W, R):
    """z = W+^T a, s = R / z, c = W+ s, R_in = a * c (Eq. 4-7), for a (N, D_in), W (D_in, D_out)."""
    Wp = np.maximum(W, 0)
    z = a @ Wp                        # (N, D_out)   Eq. (4)
    s = R / z                         #              Eq. (5)
    c = s @ Wp.T                      # (N, D_in)    Eq. (6)
    return a * c                      #              Eq. (7)


def check_zplus_dense(zplus_dense) -> bool | None:
    """Exercise 1: ``zplus_dense(a, W, R)`` -> the relevance of the layer input by the z+ rule."""
    results = []
    for seed in range(3):
        a, W, b, R = _dense_case(seed)
        expected = propagate(Linear(W, b), a, R, ZPlus())
        results.append(_verdict(f"z+ rule, case {seed + 1}", zplus_dense(a, W, R), expected))
    return None if None in results else all(results)


def solution_alpha_beta(a, W, R, alpha, beta):
    """Eq. (1): the excitatory part alpha (a w)^+ / sum (a w)^+ minus the inhibitory part
    beta (a w)^- / sum (a w)^-, for ReLU inputs a >= 0 (so (a w)^+ = a w^+)."""
    Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
    excitatory = a * ((R / (a @ Wp)) @ Wp.T)
    inhibitory = a * ((R / (a @ Wn)) @ Wn.T)
    return alpha * excitatory - beta * inhibitory


def check_alpha_beta(alpha_beta) -> bool | None:
    """Exercise 2: ``alpha_beta(a, W, R, alpha, beta)`` -> the relevance of the layer input by
    the alpha-beta rule, for (alpha, beta) = (1, 0), (2, 1) and (3, 2)."""
    results = []
    for seed, (alpha, beta) in enumerate([(1.0, 0.0), (2.0, 1.0), (3.0, 2.0)]):
        a, W, b, R = _dense_case(10 + seed)
        expected = propagate(Linear(W, b), a, R, AlphaBeta(alpha=alpha, beta=beta))
        results.append(_verdict(f"alpha-beta rule, alpha={alpha:g} beta={beta:g}",
                                alpha_beta(a, W, R, alpha, beta), expected))
    return None if None in results else all(results)


def solution_continuity_constant(explain_fn, A, B):
    """max over pairs of ||R(a) - R(b)||_1 / ||a - b||_2 (Sec. 7.1), pairs given as rows of
    A and B (P, D)."""
    dR = np.abs(explain_fn(A) - explain_fn(B)).reshape(len(A), -1).sum(axis=1)
    dx = np.linalg.norm((A - B).reshape(len(A), -1), axis=1)
    return float(np.max(dR / dx))


def check_continuity_constant(continuity_constant) -> bool | None:
    """Exercise 3: ``continuity_constant(explain_fn, A, B)`` -> the continuity constant over
    the pairs (A[i], B[i]), checked on the max(x1, x2) network of Figure 6 for sensitivity,
    simple Taylor and deep Taylor LRP."""
    net = models.max_network()
    A, B = metrics.grid_pairs(0.05)
    results = []
    for name, fn in (("sensitivity", lambda x: explain.sensitivity(net, x)),
                     ("simple Taylor", lambda x: explain.simple_taylor(net, x)),
                     ("deep Taylor LRP", lambda x: explain.lrp(net, x, rules=ZPlus()))):
        answer = continuity_constant(fn, A, B)
        results.append(_verdict(f"continuity constant of {name}",
                                None if answer is None else np.asarray(answer, dtype=float),
                                np.asarray(metrics.continuity(fn, A, B))))
    return None if None in results else all(results)

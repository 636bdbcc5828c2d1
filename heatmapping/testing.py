"""Numerical checks of backward passes, shipped so that students can check their own layers.

Two independent checks, both in float64:

* **finite differences**: the gradient of the scalar ``phi(a) = sum(forward(a) * u)`` for a
  random ``u`` is compared, entry by entry, with the central difference
  ``(phi(a + h e_i) - phi(a - h e_i)) / 2h``, whose error is O(h^2) plus rounding O(eps/h);
* **adjoint (dot-product) test**: for random directions ``u`` (output-shaped) and ``v``
  (input-shaped), ``<u, J v>`` must equal ``<J^T u, v>``, where ``J^T u`` is what ``backward``
  returns and ``J v`` is the directional central difference ``(f(a + h v) - f(a - h v)) / 2h``.
  For a linear layer ``J v`` is exact: ``f(v) - f(0)``.

Typical use::

    from heatmapping.testing import check_layer
    check_layer(my_layer, a, rng=np.random.default_rng(0))   # raises AssertionError if wrong

Functions at a ReLU kink or a max-pool tie are not differentiable there: draw inputs away from
them (continuous random inputs almost surely are).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = [
    "FD_STEP", "FD_RTOL", "FD_ATOL", "ADJOINT_RTOL", "LINEAR_ADJOINT_RTOL",
    "finite_difference_gradient", "check_gradient", "check_adjoint", "check_layer",
    "check_network",
]

#: central-difference step; balances truncation O(h^2) against rounding O(1e-16 / h)
FD_STEP = 1e-6
#: tolerances of a finite-difference gradient against the analytic one, float64
FD_RTOL = 1e-6
FD_ATOL = 1e-8
#: tolerance of <u, Jv> vs <J^T u, v> when Jv is itself a central difference
ADJOINT_RTOL = 1e-6
#: the same when Jv is exact (linear layers): only rounding remains
LINEAR_ADJOINT_RTOL = 1e-10


def finite_difference_gradient(phi: Callable[[np.ndarray], float], a: np.ndarray,
                               *, step: float = FD_STEP) -> np.ndarray:
    """Central-difference gradient of a scalar function ``phi`` at ``a`` (same shape as ``a``).

    One pair of evaluations per entry of ``a``: meant for checks on small arrays.
    """
    a = np.array(a, dtype=np.float64)
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + step
        plus = phi(a)
        flat[i] = old - step
        minus = phi(a)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * step)
    return grad


def _relative_error(x, y) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    scale = max(np.max(np.abs(x), initial=0.0), np.max(np.abs(y), initial=0.0), 1e-300)
    return float(np.max(np.abs(x - y), initial=0.0) / scale)


def check_gradient(f: Callable, vjp: Callable, a, *, rng: np.random.Generator,
                   step: float = FD_STEP, rtol: float = FD_RTOL, atol: float = FD_ATOL,
                   what: str = "backward") -> float:
    """Check ``vjp(a, u)`` against central differences of ``phi(a) = sum(f(a) * u)``.

    Parameters
    ----------
    f : callable, array (N, ...) -> array
    vjp : callable ``(a, u) -> grad``, the vector-Jacobian product (a layer's ``backward``)
    a : array, the point of the check
    rng : numpy Generator for the random output weights ``u``

    Returns the largest absolute error; raises ``AssertionError`` beyond ``atol + rtol * |g|``.
    """
    a = np.asarray(a, dtype=np.float64)
    u = rng.standard_normal(np.shape(f(a)))
    analytic = np.asarray(vjp(a, u), dtype=np.float64)
    numeric = finite_difference_gradient(lambda x: float(np.sum(f(x) * u)), a, step=step)
    if analytic.shape != a.shape:
        raise AssertionError(f"{what}: gradient has shape {analytic.shape}, input has {a.shape}")
    err = np.abs(analytic - numeric)
    bad = err > atol + rtol * np.abs(numeric)
    if bad.any():
        i = np.unravel_index(np.argmax(err), err.shape)
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} entries differ from central "
                             f"differences; worst at {i}: analytic {analytic[i]!r}, "
                             f"numeric {numeric[i]!r}")
    return float(err.max(initial=0.0))


def check_adjoint(f: Callable, vjp: Callable, a, *, rng: np.random.Generator,
                  trials: int = 3, linear: bool = False, step: float = 1e-5,
                  rtol: float | None = None, what: str = "backward") -> float:
    """Random-direction adjoint test: ``<u, J v> == <vjp(a, u), v>`` for random ``u``, ``v``.

    ``J v`` is ``f(v) - f(0)`` when ``linear`` (exact), else a central difference along ``v``.
    Returns the largest relative error over ``trials``; raises ``AssertionError`` beyond
    ``rtol`` (default ``LINEAR_ADJOINT_RTOL`` or ``ADJOINT_RTOL``).
    """
    a = np.asarray(a, dtype=np.float64)
    rtol = (LINEAR_ADJOINT_RTOL if linear else ADJOINT_RTOL) if rtol is None else rtol
    y = np.asarray(f(a))
    worst = 0.0
    for _ in range(trials):
        u = rng.standard_normal(y.shape)
        v = rng.standard_normal(a.shape)
        if linear:
            Jv = f(v) - f(np.zeros_like(v))
        else:
            Jv = (f(a + step * v) - f(a - step * v)) / (2 * step)
        lhs = float(np.sum(u * Jv))
        rhs = float(np.sum(np.asarray(vjp(a, u)) * v))
        rel = abs(lhs - rhs) / max(abs(lhs), abs(rhs), 1e-300)
        worst = max(worst, rel)
        if rel > rtol:
            raise AssertionError(f"{what}: adjoint test failed, <u, Jv> = {lhs!r} but "
                                 f"<J^T u, v> = {rhs!r} (relative error {rel:.2e} > {rtol:.0e})")
    return worst


def check_layer(layer, a, *, rng: np.random.Generator, parameters: bool = True) -> dict:
    """All checks of one layer at input ``a`` (float64): input gradient by finite
    differences, the adjoint test, and each parameter gradient by finite differences.

    Returns the measured errors by name; raises ``AssertionError`` on the first failure.
    """
    name = type(layer).__name__
    a = np.asarray(a, dtype=np.float64)
    errors = {
        "input": check_gradient(layer.forward, layer.backward, a, rng=rng, what=f"{name}.backward"),
        "adjoint": check_adjoint(layer.forward, layer.backward, a, rng=rng,
                                 linear=False, what=f"{name}.backward"),
    }
    if layer.linear:  # f(v) - f(0) removes the bias, so J v is exact
        errors["adjoint_exact"] = check_adjoint(layer.forward, layer.backward, a, rng=rng,
                                                linear=True, what=f"{name}.backward")
    if parameters:
        trained = layer.parameter_gradients(a, np.ones_like(layer.forward(a)))
        for pname in trained:
            def f(p, pname=pname):
                return layer.replace(**{pname: p}).forward(a)

            def vjp(p, u, pname=pname):
                return layer.replace(**{pname: p}).parameter_gradients(a, u)[pname]

            value = np.asarray(layer.params()[pname], dtype=np.float64)
            errors[pname] = check_gradient(f, vjp, value, rng=rng,
                                           what=f"{name}.parameter_gradients[{pname}]")
    return errors


def check_network(net, x, *, rng: np.random.Generator) -> dict:
    """Finite-difference and adjoint checks of ``net.gradient`` at ``x`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return {
        "input": check_gradient(net.forward, net.gradient, x, rng=rng, what="Sequential.gradient"),
        "adjoint": check_adjoint(net.forward, net.gradient, x, rng=rng, what="Sequential.gradient"),
    }

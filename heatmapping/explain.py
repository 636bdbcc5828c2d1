"""Explaining a decision f_c(x): the methods of Sec. 4 and Table 1, one function each.

Every method takes a network, a batch ``x`` (N, ...) and a target, and returns a relevance
array with the shape of ``x``.

Target: ``None`` (the predicted class, default), a class index, one index per sample (N,),
or a float array of the output's shape.  For LRP that array is the output relevance itself;
for the gradient-based methods it is the vector of output weights u of the explained
function u . f(x).  By default a class's *logit* is explained: the softmax is not part of
the explained function.
"""

from __future__ import annotations

import numpy as np

from .layers import ReLU
from .lrp import lrp, top_relevance
from .network import Sequential

__all__ = ["sensitivity", "simple_taylor", "lrp", "deconvolution", "guided_backprop",
           "gradient", "output_weights", "METHODS"]


def output_weights(output: np.ndarray, target) -> np.ndarray:
    """The u of u . f(x) that a gradient method differentiates, shape of ``output``: e_c for
    a class target (the predicted class for ``None``), the array itself for a float target."""
    if target is not None and np.issubdtype(np.asarray(target).dtype, np.floating):
        return top_relevance(output, target)
    if target is None:
        target = output.reshape(len(output), -1).argmax(axis=1)
    return top_relevance(np.ones_like(output), target)


def gradient(net: Sequential, x, *, target=None) -> np.ndarray:
    """d (u . f(x)) / dx, with u = e_c for a class target; shape of ``x``."""
    A = net.activations(x)
    return net.backward(A, output_weights(A[-1], target))[0]


def sensitivity(net: Sequential, x, *, target=None) -> np.ndarray:
    """Sensitivity analysis (Sec. 4.1): R_i = (df/dx_i)^2.

    The squared gradient, not its absolute value: sum_i R_i = ||grad f(x)||^2, so it explains
    the local variation of f ("what makes x more or less of class c"), not f(x) itself.
    """
    return gradient(net, x, target=target) ** 2


def simple_taylor(net: Sequential, x, *, target=None, root=0.0,
                  gradient_at: str = "input") -> np.ndarray:
    """Simple Taylor decomposition (Sec. 4.2): R_i = df/dx_i * (x_i - x~_i).

    ``root`` is the root point x~ (a scalar or an array broadcasting to ``x``; default 0,
    giving gradient x input).  ``gradient_at="input"`` (default) evaluates the gradient at x,
    ``"root"`` at x~ as in the first-order expansion at x~.

    Exactness: for a ReLU network without biases, f is piecewise linear and positively
    homogeneous (f(tx) = t f(x), t >= 0), and the root x~ = lim_{eps->0} eps x lies on the
    same linear piece as x, so the gradient there is the gradient at x and
    sum_i R_i = f(x) exactly (gradient x input).  With biases, or another root, the
    higher-order terms do not vanish and sum_i R_i differs from f(x).
    """
    x = np.asarray(x)
    try:
        root = np.broadcast_to(np.asarray(root, dtype=x.dtype), x.shape)
    except (TypeError, ValueError):
        raise ValueError(f"root: expected a number or an array broadcasting to the input's "
                         f"shape {x.shape}, got {np.shape(root)}") from None
    if not np.all(np.isfinite(root)):
        raise ValueError("root: the root point contains NaN or Inf; expected finite values")
    if gradient_at not in ("input", "root"):
        raise ValueError(f"gradient_at must be 'input' or 'root', got {gradient_at!r}")
    if gradient_at == "root":
        # the class of the *input* is explained even when the gradient is taken at the root
        if target is None:
            target = net.forward(x).reshape(len(x), -1).argmax(axis=1)
        g = gradient(net, np.ascontiguousarray(root), target=target)
    else:
        g = gradient(net, x, target=target)
    return g * (x - root)


def _relu_modified_backward(net: Sequential, x, target, relu_backward) -> np.ndarray:
    """Backward pass with the ReLU's backward replaced; every other layer's is unchanged."""
    A = net.activations(x)
    g = output_weights(A[-1], target)
    for layer, a in zip(reversed(net.layers), reversed(A[:-1])):
        g = relu_backward(a, g) if isinstance(layer, ReLU) else layer.backward(a, g)
    return g


def deconvolution(net: Sequential, x, *, target=None) -> np.ndarray:
    """Deconvolution (Zeiler & Fergus 2014; Sec. 4.3, Table 1).

    A backward pass in which each ReLU passes max(0, g) of the signal g from above,
    whatever its input was (the "reverse ReLU"); max pooling uses the forward pass's
    switches (the winners), linear layers their transpose.  The result is a pattern in input
    space, not a decomposition of f(x).
    """
    return _relu_modified_backward(net, x, target, lambda a, g: np.maximum(g, 0))


def guided_backprop(net: Sequential, x, *, target=None) -> np.ndarray:
    """Guided backpropagation (Springenberg et al. 2015; Sec. 4.3, Table 1).

    Each ReLU passes max(0, g) * 1[a > 0]: the gradient's mask *and* deconvolution's positive
    part.  Like deconvolution, a pattern, not a decomposition.
    """
    return _relu_modified_backward(net, x, target, lambda a, g: np.maximum(g, 0) * (a > 0))


#: name -> method, for the command line and the metrics
METHODS = {
    "sensitivity": sensitivity,
    "simple_taylor": simple_taylor,
    "lrp": lrp,
    "deconvolution": deconvolution,
    "guided_backprop": guided_backprop,
}

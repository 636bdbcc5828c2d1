"""Explaining a decision f_c(x): the methods of Sec. 4 and Table 1, one function each, and
three baselines users compare them against (integrated gradients, SmoothGrad, occlusion).

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

from . import checks, parallel
from .layers import ReLU
from .lrp import block_size, lrp, top_relevance
from .network import Sequential

__all__ = ["sensitivity", "simple_taylor", "lrp", "deconvolution", "guided_backprop",
           "integrated_gradients", "smoothgrad", "occlusion", "gradient", "output_weights",
           "METHODS"]


def output_weights(output: np.ndarray, target) -> np.ndarray:
    """The u of u . f(x) that a gradient method differentiates, shape of ``output``: e_c for
    a class target (the predicted class for ``None``), the array itself for a float target."""
    if target is not None and np.issubdtype(np.asarray(target).dtype, np.floating):
        return top_relevance(output, target)
    if target is None:
        target = output.reshape(len(output), -1).argmax(axis=1)
    return top_relevance(np.ones_like(output), target)


def _by_blocks(fn, net: Sequential, x, target) -> np.ndarray:
    """``fn(net, x, target)`` over a large batch one block of samples at a time (the blocks of
    ``lrp``: bounded memory, as fast per sample as batches of a few hundred), joined."""
    checks.network(net)
    x = net.check_input(x)
    block = block_size(net, x)
    if block >= len(x):
        return fn(net, x, target)
    return np.concatenate(parallel.in_blocks(lambda xb, target: fn(net, xb, target), x, block,
                                             threads=net.threads, target=target))


def _gradient(net: Sequential, x: np.ndarray, target) -> np.ndarray:
    A = net.activations(x)
    return net.backward(A, output_weights(A[-1], target))[0]


def gradient(net: Sequential, x, *, target=None) -> np.ndarray:
    """d (u . f(x)) / dx, with u = e_c for a class target; shape of ``x``."""
    return _by_blocks(_gradient, net, x, target)


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
    checks.network(net)
    x = net.check_input(x)
    if np.ndim(root) == 0:
        checks.number(root, "root")
    else:
        checks.floats(root, "root", allow_int=True)
    try:
        root = np.broadcast_to(np.asarray(root, dtype=x.dtype), x.shape)
    except ValueError:
        raise ValueError(f"root: expected a number or an array broadcasting to the input's "
                         f"shape {x.shape}, got {np.shape(root)}") from None
    checks.choice(gradient_at, "gradient_at", ("input", "root"))
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
    def backward(net, x, target):
        A = net.activations(x)
        g = output_weights(A[-1], target)
        for layer, a in zip(reversed(net.layers), reversed(A[:-1])):
            g = relu_backward(a, g) if isinstance(layer, ReLU) else layer.backward(a, g)
        return g
    return _by_blocks(backward, net, x, target)


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


# ------------------------------------------------------------------------------ baselines
# Not in the paper: three methods users compare LRP against.  Each evaluates f or its gradient
# at many inputs made from x (points on a path, noisy copies, occluded copies).  Those inputs
# are rows: copy j of sample n is row j*N + n, and batch_size rows go through the network per
# pass (one pass when they fit, a loop over blocks of rows otherwise; never over pixels).

def _rows(n_rows: int, batch_size: int):
    """The row indices of each pass, ``batch_size`` consecutive rows at a time."""
    for start in range(0, n_rows, batch_size):
        yield np.arange(start, min(start + batch_size, n_rows))


def _fixed_target(net: Sequential, x: np.ndarray, target) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and the output weights u of the explained function u . f (both (N, K)), fixed
    from the clean input: every path point or perturbed copy of sample n explains x_n's
    class, not the class that copy happens to be given."""
    f = net.forward(x)
    return f, output_weights(f, target)


def _score(u: np.ndarray, f: np.ndarray) -> np.ndarray:
    """u . f per row, (N,), in float64."""
    return (u.astype(np.float64) * f).reshape(len(f), -1).sum(axis=1)


def _reference(value, x: np.ndarray, name: str) -> np.ndarray:
    """A number, or an array broadcasting to one sample (x.shape[1:]) or to the batch
    (x.shape), as a read-only array of x's shape and dtype."""
    value = (checks.number(value, name) if np.ndim(value) == 0
             else checks.floats(value, name, allow_int=True))
    try:
        return np.broadcast_to(np.asarray(value, dtype=x.dtype), x.shape)
    except ValueError:
        raise ValueError(f"{name}: expected a number or an array broadcasting to one sample's "
                         f"shape {x.shape[1:]} or to the batch's {x.shape}, got shape "
                         f"{np.shape(value)}") from None


def _mean_gradient(net: Sequential, u: np.ndarray, copies, count: int, *, batch_size: int,
                   power: int = 1) -> np.ndarray:
    """(1/J) sum_{j<J} (d(u . f)/dx at copy j of each sample)^power, shape (N, ...), J = count.

    ``copies(j, n)`` returns the inputs of rows (j[r], n[r]), (B, ...); it is called once per
    pass, in row order.  The sum is kept in float64 and returned in the inputs' dtype.
    """
    N, total = len(u), None
    for batch in _rows(count * len(u), batch_size):
        j, n = np.divmod(batch, N)
        g = _gradient(net, copies(j, n), u[n])                    # (B, ...), u fixed from x
        if total is None:
            total, dtype = np.zeros((N,) + g.shape[1:]), g.dtype
        g = g ** power if power != 1 else g
        # the rows are consecutive, so n counts up and wraps to 0 where a new copy starts: each
        # run of samples is one slice to add (a loop over the copies in the pass, not samples)
        cuts = [0, *(np.flatnonzero(n[1:] == 0) + 1), len(n)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            total[n[a]:n[a] + b - a] += g[a:b]
    return (total / count).astype(dtype)


def integrated_gradients(net: Sequential, x, *, target=None, baseline=0.0, steps: int = 32,
                         return_error: bool = False, batch_size: int = 256):
    """Integrated gradients (Sundararajan, Taly & Yan 2017), by the midpoint rule:

        R_i = (x_i - x'_i) * (1/m) sum_{k=1..m} df/dx_i (x' + (k - 1/2)/m * (x - x')),

    the m-point midpoint Riemann sum (m = ``steps``) of the path integral
    (x_i - x'_i) int_0^1 df/dx_i (x' + t (x - x')) dt along the straight line from the
    baseline x' to x.  The midpoint rule samples each of the m equal pieces of [0, 1] at its
    centre: where the integrand jumps (a ReLU switching), it misses at most half a piece's
    worth, |jump| / (2m), against up to |jump| / m for the left or right rule, and it is
    exact for an integrand linear in t.

    Completeness: the exact integral sums to f(x) - f(x') (the fundamental theorem of
    calculus along the path), so ``sum_i R_i = f(x) - f(x')`` up to the discretisation error,
    which ``return_error=True`` reports.  For a ReLU network the integrand is piecewise
    constant in t: each ReLU kink crossed on the path adds at most |jump| / (2m) to the
    error, so it shrinks like 1/m.  For a linear model f = w . x + b the gradient is constant
    and R = (x - x') * w for any m.  With m = 1 it is simple Taylor (Sec. 4.2) with root x'
    and the gradient taken halfway between x' and x.

    Parameters
    ----------
    net : Sequential
    x : array (N, ...), the inputs
    target : see the module docstring; a class target is fixed from x (the class predicted
        for x when None), not re-chosen at each point of the path
    baseline : x', a number or an array broadcasting to one sample's shape or to x's (default
        0: mid-grey for this project's digits in [-1, 1]; -1 is black)
    steps : m >= 1, the number of gradients per sample
    return_error : also return the per-sample discretisation error
    batch_size : rows (sample x step) per forward/backward pass; the result does not depend
        on it beyond rounding

    Returns
    -------
    R : array of x's shape; with ``return_error``, ``(R, error)`` with ``error`` (N,), float64,
        |sum_i R_i - (u . f(x) - u . f(x'))| (u = e_c for a class target)
    """
    checks.network(net)
    x = checks.batch(x, "x")
    steps = checks.integer(steps, "steps", low=1)
    return_error = checks.flag(return_error, "return_error")
    batch_size = checks.integer(batch_size, "batch_size", low=1)
    x0 = _reference(baseline, x, "baseline")
    f, u = _fixed_target(net, x, target)
    t = (np.arange(steps) + 0.5) / steps                        # the m midpoints in [0, 1]
    d = x - x0
    lead = (-1,) + (1,) * (x.ndim - 1)                          # t per row, broadcast over pixels

    def on_path(k, n):
        return (x0[n] + t[k].reshape(lead) * d[n]).astype(x.dtype, copy=False)

    R = d * _mean_gradient(net, u, on_path, steps, batch_size=batch_size)
    if not return_error:
        return R
    gain = _score(u, f) - _score(u, net.forward(np.ascontiguousarray(x0)))   # f(x) - f(x')
    return R, np.abs(R.reshape(len(R), -1).sum(axis=1, dtype=np.float64) - gain)


def smoothgrad(net: Sequential, x, *, target=None, noise: float = 0.15, samples: int = 32,
               rng: np.random.Generator | None = None, squared: bool = False,
               batch_size: int = 256) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of x,

        R = (1/n) sum_{j=1..n} df/dx (x + eps_j),    eps_j ~ N(0, sigma^2 I),

    with n = ``samples`` and sigma = noise * (max_i x_i - min_i x_i) per sample, Smilkov et
    al.'s noise level relative to the input's range (they suggest 10-20%; 0.15 of a digit's
    range [-1, 1] is sigma = 0.3).  ``squared=True`` gives SmoothGrad-squared (Hooker et al.
    2019), R_i = (1/n) sum_j (df/dx_i (x + eps_j))^2: sensitivity analysis (Sec. 4.1)
    averaged over the noise.

    Why: a ReLU network's gradient is piecewise constant and jumps from pixel to pixel;
    averaging it over a neighbourhood of x gives a smoother map.  Like sensitivity it explains
    the variation of f around x, not f(x): its sum is not f(x).  For a linear model the
    gradient is w everywhere and R = w whatever the noise; with noise 0 R is the gradient.

    Parameters
    ----------
    net : Sequential
    x : array (N, ...), the inputs
    target : see the module docstring; a class target is fixed from the clean x
    noise : >= 0, sigma relative to each sample's range of values
    samples : n >= 1, noise draws (and gradients) per sample
    rng : numpy Generator the noise is drawn from.  None (default): a fresh
        ``np.random.default_rng(0)`` made inside each call, so that a call without ``rng``
        (the command line, ``METHODS``, pixel-flipping) is reproducible; pass your own
        Generator for other draws.  The noise is drawn in row order (draw j of sample n is
        row j*N + n), so it does not depend on ``batch_size``.
    squared : mean of the squared gradients instead of the mean gradient
    batch_size : rows (sample x draw) per forward/backward pass

    Returns
    -------
    R : array of x's shape
    """
    checks.network(net)
    x = checks.batch(x, "x")
    noise = checks.number(noise, "noise", low=0)
    samples = checks.integer(samples, "samples", low=1)
    squared = checks.flag(squared, "squared")
    batch_size = checks.integer(batch_size, "batch_size", low=1)
    rng = np.random.default_rng(0) if rng is None else checks.generator(rng, "rng")
    _, u = _fixed_target(net, x, target)
    flat = x.reshape(len(x), -1)
    sigma = (noise * (flat.max(axis=1) - flat.min(axis=1))).reshape((-1,) + (1,) * (x.ndim - 1))

    def noisy(j, n):
        eps = rng.standard_normal((len(n),) + x.shape[1:])      # float64 draws, in row order
        return (x[n] + sigma[n] * eps).astype(x.dtype, copy=False)

    return _mean_gradient(net, u, noisy, samples, batch_size=batch_size, power=2 if squared else 1)


def _window(value, name: str, sample_shape: tuple[int, ...], *, axes: int | None = None,
            high: bool = False) -> tuple[int, ...]:
    """A window size or step: positive integers, one per trailing axis of a sample (``axes``
    of them, or 1..len(sample_shape) when None); no larger than the image when ``high``."""
    if isinstance(value, (str, bytes)) or np.ndim(value) != 1:
        raise TypeError(f"{name}: expected a tuple of positive integers like (4, 4), got "
                        f"{checks.given(value)}")
    value = tuple(value)
    if not (len(value) == axes if axes else 1 <= len(value) <= len(sample_shape)):
        expected = axes or f"1 to {len(sample_shape)}"
        raise ValueError(f"{name}: expected {expected} sizes, one per trailing axis of a sample "
                         f"of shape {sample_shape}, got {value!r}")
    spatial = sample_shape[len(sample_shape) - len(value):]
    return tuple(checks.integer(v, f"{name}[{a}]", low=1, high=size if high else None)
                 for a, (v, size) in enumerate(zip(value, spatial)))


def _window_masks(sample_shape: tuple[int, ...], patch, stride) -> np.ndarray:
    """The K positions of a window sliding over the last len(patch) axes, as masks
    (K, *sample_shape), bool, each covering all leading (channel) axes; K in row-major order
    of the grid of positions."""
    d = len(patch)
    lead, spatial = sample_shape[:-d], sample_shape[-d:]
    mask = np.ones((1,) * (2 * d), dtype=bool)                  # (g_1, .., g_d, s_1, .., s_d)
    for a, (size, p, s) in enumerate(zip(spatial, patch, stride)):   # a loop over axes
        start = np.arange(0, size - p + 1, s)[:, None]
        pixels = np.arange(size)
        shape = [1] * (2 * d)
        shape[a], shape[d + a] = len(start), size
        mask = mask & ((pixels >= start) & (pixels < start + p)).reshape(shape)
    mask = mask.reshape((-1,) + (1,) * len(lead) + tuple(spatial))
    return np.broadcast_to(mask, (len(mask),) + tuple(sample_shape))


def occlusion(net: Sequential, x, *, target=None, patch=(4, 4), stride=None, fill=0.0,
              batch_size: int = 256) -> np.ndarray:
    """Occlusion (Zeiler & Fergus 2014): how much f drops when a patch of x is covered,

        Delta_p = f(x) - f(x with the values of patch p set to ``fill``),

    for every position p of a ``patch``-sized window sliding over the last len(patch) axes
    in steps of ``stride`` (default: the patch size, non-overlapping tiles); a patch covers
    all leading (channel) axes, as in ``metrics``.  Each Delta_p is spread evenly over the
    |p| values of its patch (channels x pixels); where patches overlap, each value gets the
    mean over the patches covering it:

        R_i = mean_{p : i in p} Delta_p / |p|.

    With non-overlapping patches the sum of R over patch p is Delta_p.  This is the
    perturbation analysis the paper cites for DNA (Sec. 8.2: a nucleotide mutated, the change
    of the prediction recorded), with a patch in place of the nucleotide.  For a linear model
    f = w . x + b and fill 0, Delta_p = sum_{i in p} w_i x_i.  With pixel-flipping's removal
    value as ``fill`` and its patch grid, Delta_p is exactly the drop the next removal of p
    would cause (Sec. 7.2): occlusion is then the one-step look-ahead of that metric.

    The windows must cover each axis exactly, (size - patch) divisible by stride: a value no
    window reaches would get no relevance, and padding would occlude padding.

    Parameters
    ----------
    net : Sequential
    x : array (N, ...), the inputs
    target : see the module docstring; fixed from the clean x
    patch : window size, one positive integer per trailing axis, e.g. (4, 4) for images
        (N, C, H, W), (1, 4) for sequences (N, C, 1, L); a tuple, not a number
    stride : window step, like ``patch``; None for non-overlapping tiles
    fill : what an occluded value becomes: a number or an array broadcasting to one sample
        or to x (default 0, mid-grey for digits in [-1, 1]; -1 is black)
    batch_size : occluded copies per forward pass

    Returns
    -------
    R : array of x's shape.  Cost: one forward pass per position and sample, except for the
    copies that equal x (the patch already holds the fill value), whose Delta_p is 0.
    """
    checks.network(net)
    x = checks.batch(x, "x")
    patch = _window(patch, "patch", x.shape[1:], high=True)
    spatial = x.shape[x.ndim - len(patch):]
    given_stride = stride is not None
    stride = _window(stride, "stride", x.shape[1:], axes=len(patch)) if given_stride else patch
    for a, (size, p, s) in enumerate(zip(spatial, patch, stride)):
        if (size - p) % s:
            which = ("stride", stride) if given_stride else ("patch", patch)
            raise ValueError(f"{which[0]}: expected windows that cover axis {a} of the images "
                             f"{spatial} exactly, (size - patch) divisible by stride, got patch "
                             f"{patch} and stride {stride} (the last {(size - p) % s} pixels "
                             f"would be left out; pad or crop the input, or change the "
                             f"{which[0]})")
    fill = _reference(fill, x, "fill")
    batch_size = checks.integer(batch_size, "batch_size", low=1)
    f, u = _fixed_target(net, x, target)
    score = _score(u, f)                                        # u . f(x), (N,)
    masks = _window_masks(x.shape[1:], patch, stride)           # (K, *sample)
    M = masks.reshape(len(masks), -1).astype(np.float64)        # (K, D)
    N, K = len(x), len(masks)
    # a copy differs from x only if the patch holds some value other than the fill: the
    # others (e.g. black background under a black fill) are not run, their Delta is 0
    differs = (x != fill).reshape(N, -1).astype(np.float64)     # (N, D)
    todo = np.flatnonzero(M @ differs.T > 0)                    # rows k*N + n, (K, N) raveled
    delta = np.zeros((K, N))
    for block in _rows(len(todo), batch_size):
        k, n = np.divmod(todo[block], N)
        occluded = np.where(masks[k], fill[n], x[n])            # (B, *sample)
        delta[k, n] = score[n] - _score(u[n], net.forward(occluded))
    # spread each Delta_p over its |p| values, then average over the patches covering a value
    R = (delta.T @ M) / (M[0].sum() * M.sum(axis=0))            # (N, D)
    return R.reshape(x.shape).astype(x.dtype)


#: name -> method, for the command line and the metrics
METHODS = {
    "sensitivity": sensitivity,
    "simple_taylor": simple_taylor,
    "lrp": lrp,
    "deconvolution": deconvolution,
    "guided_backprop": guided_backprop,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "occlusion": occlusion,
}

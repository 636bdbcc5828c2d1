"""Quantifying explanation quality (Sec. 7): continuity (Sec. 7.1) and selectivity (Sec. 7.2).

An *explanation function* here is any callable ``explain_fn(x, target=None) -> R`` mapping a
batch (N, ...) to relevance of the same shape, e.g.
``functools.partial(heatmapping.explain.lrp, net, rules="deep_taylor")``.  The continuity
metrics call it as ``explain_fn(x)`` (the predicted class), pixel-flipping with the class
fixed at the start, ``explain_fn(x, target=c)``.

* Continuity: max_{x != x'} ||R(x) - R(x')||_1 / ||x - x'||_2 over given pairs or along a path
  of inputs, and a local Lipschitz estimate from random perturbations in a ball.
* Selectivity: pixel-flipping.  Patches are removed in order of decreasing relevance and the
  target logit f_c is recorded after each removal; the area under that curve is low when the
  explanation found what f depends on.  Removal strategies: "black" (the lower pixel bound -1),
  "mean" (a mean image), "uniform" (noise), "blur", "inpaint", or any constant.

Conventions: a patch covers all leading (channel) axes and a ``patch``-sized block of the last
``len(patch)`` axes; patches must tile the input exactly (no silent padding).  For the shipped
CNN's 32x32 input the 8x8 grid of 4x4 patches covers the 2-pixel border of -1 too; under
"black" removal those pixels are already black, so removing them changes nothing.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
from scipy import ndimage

from . import checks, parallel
from .models import inputs_for
from .network import Sequential
from .train import log_softmax

__all__ = ["continuity", "continuity_ratios", "continuity_along_path", "grid_pairs", "stride_artifact", "local_lipschitz",
           "patch_grid", "patch_relevance", "patch_mask", "removal_fill", "pixel_flipping",
           "PixelFlippingResult", "auc", "aopc", "random_relevance", "evaluate_selectivity",
           "Selectivity", "REMOVALS", "heatmap_quality", "relevance_mass_accuracy",
           "relevance_rank_accuracy"]

ExplainFn = Callable[..., np.ndarray]

#: the named removal strategies; a number is also accepted (that constant value)
REMOVALS = ("black", "mean", "uniform", "blur", "inpaint")

#: weight of the background in inpainting, relative to the blurred weight of the known pixels:
#: where no pixel is known within a few sigma, the fill fades to the background instead of 0/0
INPAINT_PRIOR = 1e-3


def _checked_relevance(R, x: np.ndarray, what: str) -> np.ndarray:
    R = np.asarray(R)
    if R.shape != x.shape:
        raise ValueError(f"{what}: expected heatmaps of the input's shape {x.shape}, got shape {R.shape}")
    return checks.finite(R, what)


def _l1_l2(dR: np.ndarray, dx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sample ||dR||_1 and ||dx||_2, both divided by the same s = max |dx|, arrays (N,).

    Their quotient is the continuity quotient; the common factor keeps it exact when dx is
    tiny: the squares of differences below 1e-154 underflow, and a norm of subnormal numbers
    is itself rounded to a few units, either of which would spoil the quotient.  (For x = x'
    both are 0.)
    """
    dx = np.abs(dx.reshape(len(dx), -1)).astype(float)
    scale = dx.max(axis=1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)                # x = x' stays 0, not 0/0
    with np.errstate(over="ignore"):                      # a huge quotient may become inf
        l1 = (np.abs(dR).reshape(len(dR), -1).astype(float) / safe).sum(axis=1)
    return l1, np.sqrt(((dx / safe) ** 2).sum(axis=1))


# ------------------------------------------------------------------------------ continuity
def continuity_ratios(explain_fn: ExplainFn, X, X2) -> np.ndarray:
    """The quotient of Sec. 7.1 for each pair: ||R(x) - R(x')||_1 / ||x - x'||_2.

    Parameters
    ----------
    explain_fn : callable, batch (N, ...) -> relevance (N, ...)
    X, X2 : arrays (N, ...), the pairs (X[n], X2[n])

    Returns
    -------
    ratios : array (N,); NaN for a pair with x = x', where the quotient is undefined.
    """
    checks.function(explain_fn, "explain_fn")
    X, X2 = checks.batch(X, "X"), checks.batch(X2, "X2")
    if X.shape != X2.shape:
        raise ValueError(f"X2: expected a batch paired with X, of shape {X.shape}, got shape {X2.shape}")
    # one call for both halves: one forward/backward pass instead of two
    R = _checked_relevance(explain_fn(np.concatenate([X, X2])), np.concatenate([X, X2]), "explain_fn")
    dR, dx = _l1_l2(R[:len(X)] - R[len(X):], X - X2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dx > 0, dR / dx, np.nan)


def _max_ratio(ratios: np.ndarray, what: str) -> float:
    if np.all(np.isnan(ratios)):
        raise ValueError(f"{what}: every pair has x = x'; the quotient needs x != x'")
    return float(np.nanmax(ratios))


def continuity(explain_fn: ExplainFn, X, X2) -> float:
    """Explanation continuity (Sec. 7.1), the strongest variation over the given pairs:

        max_{n : x_n != x'_n}  ||R(x_n) - R(x'_n)||_1 / ||x_n - x'_n||_2

    unnormalised, as the paper defines it (lower is more continuous).  Pairs with x = x' are
    skipped (the quotient is undefined there); if all are, ``ValueError``.

    On f(x) = w . x with R = w * x the value is at most ||w||_2 (Cauchy-Schwarz), reached for
    x - x' parallel to |w|.  On the Figure 6 network, deep Taylor LRP reaches sqrt(2).
    """
    return _max_ratio(continuity_ratios(explain_fn, X, X2), "continuity")


def continuity_along_path(explain_fn: ExplainFn, path) -> float:
    """Continuity (Sec. 7.1) along a sequence of inputs (T, ...), e.g. a digit translated step
    by step as in Figure 7: the max of the quotient over consecutive pairs (x_t, x_{t+1})
    (consecutive equal inputs are skipped)."""
    checks.function(explain_fn, "explain_fn")
    path = checks.batch(path, "path")
    if len(path) < 2:
        raise ValueError(f"path: expected at least 2 inputs, got {len(path)}")
    R = _checked_relevance(explain_fn(path), path, "explain_fn")
    dR, dx = _l1_l2(np.diff(R, axis=0), np.diff(path, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return _max_ratio(np.where(dx > 0, dR / dx, np.nan), "continuity_along_path")


def grid_pairs(spacing: float, *, low: float = 0.0, high: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of neighbouring points of a square grid over [low, high]^2 with the given
    spacing, along both axes and both diagonals: (A, B), two arrays (P, 2), for
    :func:`continuity` on a two-input function (Sec. 7.1, Figure 6).  A pair that straddles a
    kink is what a discontinuous explanation cannot survive as the spacing shrinks."""
    low, high = checks.bounds((low, high), "low, high")
    checks.number(spacing, "spacing", low=0, open_low=True, high=high - low)
    g = np.arange(low, high + 1e-12 * (high - low), spacing)
    P = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1)           # (n, n, 2)
    pairs = [(P[:-1, :], P[1:, :]), (P[:, :-1], P[:, 1:]),
             (P[:-1, :-1], P[1:, 1:]), (P[:-1, 1:], P[1:, :-1])]
    return (np.concatenate([a.reshape(-1, 2) for a, _ in pairs]),
            np.concatenate([b.reshape(-1, 2) for _, b in pairs]))


def stride_artifact(R, period: int) -> float:
    """How much a heatmap (N, C, H, W) jumps at the borders of a ``period``-pixel grid,
    relative to elsewhere: the mean |difference| of horizontally and vertically adjacent
    pixels that straddle a multiple of ``period``, divided by that of the other adjacent
    pairs.  About 1 for a heatmap without the grid; well above 1 for the blocks that a
    first layer of stride ``period`` leaves (the artefact the translation trick of Sec. 6.4
    removes)."""
    R = checks.floats(R, "R", ndim=4, allow_int=True)
    period = checks.integer(period, "period", low=2)
    border, inside = [], []
    for axis in (2, 3):
        d = np.abs(np.diff(R, axis=axis))
        at_border = (np.arange(d.shape[axis]) % period) == period - 1   # between p-1 and p
        border.append(np.compress(at_border, d, axis=axis).ravel())
        inside.append(np.compress(~at_border, d, axis=axis).ravel())
    inside_mean = np.concatenate(inside).mean()
    return float(np.concatenate(border).mean() / inside_mean) if inside_mean > 0 else 1.0


def local_lipschitz(explain_fn: ExplainFn, x, *, radius: float, n_samples: int = 32,
                    rng: np.random.Generator) -> np.ndarray:
    """A local Lipschitz estimate of the explanation around each x (an extra to Sec. 7.1):

        L(x) = max_{x' in B(x, radius)} ||R(x) - R(x')||_1 / ||x - x'||_2,

    estimated from ``n_samples`` points x' drawn uniformly in the L2 ball of the given radius
    around each x.  A maximum over finitely many draws is a lower bound of L(x); discontinuities
    show as large values that grow as the radius shrinks.

    Returns
    -------
    L : array (N,)
    """
    checks.function(explain_fn, "explain_fn")
    x = checks.batch(x, "x")
    checks.number(radius, "radius", low=0, open_low=True)
    n_samples = checks.integer(n_samples, "n_samples", low=1)
    checks.generator(rng)
    N, D = len(x), x[0].size
    R = _checked_relevance(explain_fn(x), x, "explain_fn")
    best = np.zeros(N)
    for _ in range(int(n_samples)):          # vectorized over the N samples, a loop over draws
        d = rng.standard_normal((N, D))
        # uniform in the ball: a uniform direction, and a radius with density ~ r^(D-1)
        r = radius * rng.uniform(0, 1, (N, 1)) ** (1.0 / D)
        d = (d / np.linalg.norm(d, axis=1, keepdims=True) * r).reshape(x.shape).astype(x.dtype)
        x2 = x + d
        dR, dx = _l1_l2(R - _checked_relevance(explain_fn(x2), x2, "explain_fn"), x - x2)
        with np.errstate(divide="ignore", invalid="ignore"):
            best = np.fmax(best, np.where(dx > 0, dR / dx, np.nan))
    return best


# ------------------------------------------------------------------------------- patches
def patch_grid(sample_shape: tuple[int, ...], patch: tuple[int, ...]) -> tuple[int, ...]:
    """The grid of patches over the last ``len(patch)`` axes of one sample's shape.

    (1, 32, 32) with patch (4, 4) -> (8, 8).  A patch size that does not divide the image is
    refused (``ValueError``): padding silently would add patches of pure padding whose removal
    means nothing; pad or crop the input yourself (e.g. ``heatmapping.data.pad_images``).
    """
    if np.ndim(patch) != 1:
        raise TypeError(f"patch: expected a tuple of positive integers like (4, 4), got {patch!r}")
    patch = tuple(patch)
    if not patch or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool)
                            and p >= 1 for p in patch):
        raise ValueError(f"patch: expected a tuple of positive integers, got {patch!r}")
    if len(patch) > len(sample_shape):
        raise ValueError(f"patch: expected at most as many axes as a sample of shape {sample_shape}, "
                         f"got {patch}")
    spatial = sample_shape[len(sample_shape) - len(patch):]
    if any(s % p for s, p in zip(spatial, patch)):
        divisors = [[d for d in range(1, s + 1) if s % d == 0] for s in spatial]
        raise ValueError(f"patch: {patch} does not divide the image size {spatial}: patches must "
                         f"tile it exactly; sizes that divide it: {divisors} (or pad the input, "
                         f"e.g. heatmapping.data.pad_images)")
    return tuple(s // p for s, p in zip(spatial, patch))


def _blocks(sample_shape, patch):
    """The shape (lead..., g1, p1, g2, p2, ...) that exposes the patches of one sample, and the
    axes (of the batched array) that a patch sums over."""
    grid = patch_grid(sample_shape, patch)
    lead = tuple(sample_shape[:len(sample_shape) - len(patch)])
    blocks = lead + tuple(v for g, p in zip(grid, patch) for v in (g, p))
    axes = tuple(range(1, 1 + len(lead))) + tuple(1 + len(lead) + 2 * i + 1 for i in range(len(patch)))
    return grid, lead, blocks, axes


def patch_relevance(R: np.ndarray, patch: tuple[int, ...]) -> np.ndarray:
    """Relevance of each patch, the sum of R over it (Sec. 4.4, pooling): (N, ...) -> (N, K),
    patches numbered in row-major order of the grid."""
    R = checks.batch(R, "R", allow_int=True)
    _, _, blocks, axes = _blocks(R.shape[1:], patch)
    return R.reshape((len(R),) + blocks).sum(axis=axes).reshape(len(R), -1)


def patch_mask(removed: np.ndarray, sample_shape: tuple[int, ...], patch: tuple[int, ...]) -> np.ndarray:
    """Pixel mask of the removed patches: ``removed`` (N, K) bool -> (N, *sample_shape) bool."""
    grid, lead, blocks, _ = _blocks(tuple(sample_shape), patch)
    N = len(removed)
    # (N, 1.., g1, 1, g2, 1) broadcast over the channels and the pixels of each patch
    m = removed.reshape((N,) + (1,) * len(lead) + tuple(v for g in grid for v in (g, 1)))
    return np.broadcast_to(m, (N,) + blocks).reshape((N,) + tuple(sample_shape))


# ------------------------------------------------------------------------------- removal
def removal_fill(x0: np.ndarray, removal="black", *, patch: tuple[int, ...] = (4, 4), mean=None,
                 bounds: tuple[float, float] = (-1.0, 1.0), sigma: float | None = None,
                 rng: np.random.Generator | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """How removed pixels are replaced: a function ``fill(mask) -> values`` of x0's shape.

    The image after removing the pixels of ``mask`` is ``where(mask, fill(mask), x0)``.

    removal
        ``"black"``: the lower pixel bound ``bounds[0]`` (-1, black, in this project), as in
        the paper's Figure 8.  A number: that constant.  ``"mean"``: the image ``mean`` (one
        sample's shape, or broadcasting to it), e.g. the training mean.  ``"uniform"``: noise
        uniform in ``bounds``, drawn once per pixel from ``rng`` (so every step and every method
        given the same ``rng`` state sees the same noise).  ``"blur"``: x0 blurred by a Gaussian
        of width ``sigma`` over the patch axes (outside the image counts as background).
        ``"inpaint"``: filled from the pixels *not* removed, by normalized convolution,
        ``fill = low + G*((x0 - low) m) / (G*m + INPAINT_PRIOR)`` with m the kept pixels and G
        the Gaussian of width ``sigma``: near kept pixels their weighted mean, far from all of
        them the background.  "blur" and "inpaint" try to stay closer to the data manifold, as
        Sec. 7.2 asks.  ``sigma`` defaults to half the largest patch side.

    Written relative to the background ``low``, blur and inpainting leave a background region
    exactly at ``low``: removing it changes nothing, and ``pixel_flipping`` skips the forward
    pass for such steps.
    """
    x0 = checks.batch(x0, "x0")
    low, high = checks.bounds(bounds, "bounds")
    sample = x0.shape[1:]
    if isinstance(removal, (int, float, np.number)) and not isinstance(removal, bool):
        value = np.asarray(removal, dtype=x0.dtype)
        if not np.isfinite(value):
            raise ValueError(f"removal: a constant removal value must be finite, got {removal!r}")
        return lambda mask: value
    if removal not in REMOVALS:
        raise ValueError(f"removal: expected one of {list(REMOVALS)} or a number, got {removal!r}")
    if removal == "black":
        value = np.asarray(low, dtype=x0.dtype)
        return lambda mask: value
    if removal == "mean":
        if mean is None:
            raise ValueError("mean: removal='mean' needs mean=..., an image of one sample's shape "
                             f"{sample} (e.g. the training mean)")
        mean = np.asarray(mean, dtype=x0.dtype)
        try:
            mean = np.broadcast_to(mean, sample)
        except ValueError:
            raise ValueError(f"mean: expected an image broadcasting to one sample's shape {sample}, "
                             f"got shape {mean.shape}") from None
        if not np.all(np.isfinite(mean)):
            raise ValueError("mean: contains NaN or Inf")
        return lambda mask: mean
    if removal == "uniform":
        if rng is None:
            raise ValueError("rng: removal='uniform' needs rng=np.random.default_rng(seed), got None")
        noise = rng.uniform(low, high, x0.shape).astype(x0.dtype)
        return lambda mask: noise
    sigma = max(patch) / 2 if sigma is None else checks.number(sigma, "sigma", low=0, open_low=True)
    # blur only the patch axes: sigma 0 on the batch and channel axes
    widths = (0.0,) * (x0.ndim - len(patch)) + (sigma,) * len(patch)
    blur = lambda a: ndimage.gaussian_filter(a, widths, mode="constant", cval=0.0)  # noqa: E731
    if removal == "blur":
        blurred = low + blur(x0 - low)
        return lambda mask: blurred
    excess = x0 - low                                # 0 on the background

    def inpaint(mask):
        kept = (~mask).astype(x0.dtype)
        return low + blur(excess * kept) / (blur(kept) + x0.dtype.type(INPAINT_PRIOR))
    return inpaint


# --------------------------------------------------------------------------- AUC and AOPC
def _curve(curve) -> np.ndarray:
    curve = checks.floats(curve, "curve", allow_int=True)
    if curve.ndim < 1 or curve.shape[-1] < 2:
        raise ValueError(f"curve: expected (..., K+1) values with K >= 1 removal steps, got shape {curve.shape}")
    return curve


def auc(curve) -> np.ndarray:
    """Area under the pixel-flipping curve (Sec. 7.2; lower = more selective).

    The x axis is the fraction of patches removed, k/K in [0, 1], and the area is the
    trapezoid rule, (c_0/2 + c_1 + ... + c_{K-1} + c_K/2) / K: the mean height of the curve, in
    the units of f, comparable across patch sizes.  ``curve`` (..., K+1) -> (...).
    """
    c = _curve(curve)
    K = c.shape[-1] - 1
    return (c[..., 1:-1].sum(axis=-1) + 0.5 * (c[..., 0] + c[..., -1])) / K


def aopc(curve, *, steps: int | None = None) -> np.ndarray:
    """Area over the perturbation curve (Samek et al. 2017; higher = more selective):

        AOPC_L = 1/(L+1) sum_{k=0}^{L} (f(x_0) - f(x_k)) = f(x_0) - mean_{k=0..L} f(x_k)

    over the first L = ``steps`` removals (default all K).  ``curve`` (..., K+1) -> (...).
    """
    c = _curve(curve)
    K = c.shape[-1] - 1
    L = K if steps is None else checks.integer(steps, "steps", low=1, high=K)
    return c[..., 0] - c[..., :L + 1].mean(axis=-1)


# ------------------------------------------------------------------------- pixel-flipping
@dataclass(frozen=True)
class PixelFlippingResult:
    """What :func:`pixel_flipping` returns.

    curve : (N, K+1), the target logit f_c(x_k) after k = 0..K removals
    order : (N, K), the patch removed at each step (row-major index into ``grid``)
    target : (N,), the explained class
    grid : the grid of patches, e.g. (8, 8)
    probability : (N, K+1), the softmax probability p(w_c | x_k) along the same removals
    images : {k: x_k (N, ...)} for the steps asked for with ``keep``
    """
    curve: np.ndarray
    order: np.ndarray
    target: np.ndarray
    grid: tuple[int, ...]
    probability: np.ndarray
    images: dict = field(default_factory=dict)

    @property
    def auc(self) -> np.ndarray:
        """(N,), see :func:`auc`."""
        return auc(self.curve)

    @property
    def aopc(self) -> np.ndarray:
        """(N,), see :func:`aopc`."""
        return aopc(self.curve)


def _resolve_target(target, logits: np.ndarray) -> np.ndarray:
    N, C = logits.shape
    if target is None:
        return logits.argmax(axis=1)
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"target: pixel-flipping follows one class per sample; expected None, a "
                        f"class index or class indices (N,), got dtype {t.dtype}")
    if t.ndim > 1 or (t.ndim == 1 and len(t) != N):
        raise ValueError(f"target: expected a class index or {N} of them, got shape {t.shape}")
    t = np.broadcast_to(t, (N,))
    bad = (t < 0) | (t >= C)
    if bad.any():
        raise ValueError(f"target: class index out of range 0..{C - 1}: {t[bad][:5]}")
    return t.astype(np.intp)


def _scores(logits: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The target logit f_c and its softmax probability p(w_c | x), arrays (N,), from the
    logits (N, C)."""
    rows = np.arange(len(logits))
    return logits[rows, target], np.exp(log_softmax(logits)[rows, target])


def pixel_flipping(net: Sequential, x, R=None, *, target=None, patch: tuple[int, ...] = (4, 4),
                   removal="black", mean=None, bounds: tuple[float, float] = (-1.0, 1.0),
                   sigma: float | None = None, rng: np.random.Generator | None = None,
                   explain_fn: ExplainFn | None = None, recompute: bool = False,
                   keep=(), progress: bool = False) -> PixelFlippingResult:
    """Selectivity by pixel-flipping (Sec. 7.2, Figure 8), vectorized over the samples.

    Repeat until all patches are removed: record f_c(x); find the patch with the highest
    relevance (the sum of R over it) among those not removed yet; remove it.  Here

        x_0 = x,   x_k = x_{k-1} with patch order[k-1] replaced (see ``removal_fill``),
        curve[:, k] = f_c(x_k),   k = 0..K  (K patches),

    with c the class fixed at the start.  A fast drop (low ``auc``, high ``aopc``) means the
    explanation found the features f depends on.  Each step runs one forward pass over the
    samples whose image changed (a removed patch that already had the removal value, e.g. the
    black background, leaves f unchanged).

    Parameters
    ----------
    net : Sequential
    x : array (N, ...), the inputs
    R : array of x's shape, the heatmaps; None to compute them with ``explain_fn``
    target : None (the class predicted for x), int or int array (N,)
    patch : patch size over the last ``len(patch)`` axes; (4, 4) as in the paper.  It must
        divide the image (see :func:`patch_grid`); (1,) on (N, D) removes single features.
    removal, mean, bounds, sigma, rng : how removed pixels are replaced, see :func:`removal_fill`
    explain_fn : callable ``explain_fn(x, target=c) -> R``; needed if R is None or ``recompute``.
        With ``recompute`` it is called on the samples that need a new heatmap, not always
        on all of ``x``: a sample's heatmap should not depend on the other samples of the
        call.  (SmoothGrad draws its noise for the whole batch, so its heatmap of a sample
        does depend on them: it stays a valid SmoothGrad estimate, but not the one of
        explaining all of ``x`` at every step.)
    recompute : True is the paper's procedure (Sec. 7.2, Figure 8): the heatmap is recomputed
        on x_k after each removal and the most relevant remaining patch is removed next.
        A sample whose image the last removal left as it was (a patch that already had the
        removal value) keeps explain_fn's heatmap instead: the same input has the same
        explanation (up to rounding: BLAS may round a sample differently in another batch).
        A heatmap ``R`` given here orders the first removal only.
        False, the default, is the cheaper shortcut of one heatmap per sample: the order is
        fixed by the first heatmap (ties: lower patch index first).  The two can rank
        methods differently (tutorials/08_selectivity.py measures it).
    keep : steps k whose images x_k to return in ``images``
    progress : print a line to stderr about every tenth of the steps

    Returns
    -------
    PixelFlippingResult with ``curve`` (N, K+1), ``order`` (N, K), ``auc`` and ``aopc`` (N,)
    """
    checks.network(net)
    x = checks.batch(x, "x")
    grid = patch_grid(x.shape[1:], patch)
    K, N, rows = int(np.prod(grid)), len(x), np.arange(len(x))
    f0 = net.forward(x).reshape(N, -1)
    c = _resolve_target(target, f0)
    if (R is None or recompute) and explain_fn is None:
        raise ValueError("explain_fn: recompute=True needs explain_fn to recompute the heatmaps, got None"
                         if recompute else "R: expected the heatmaps, or explain_fn to compute them; got neither")
    if explain_fn is not None:
        checks.function(explain_fn, "explain_fn")
    R_given = None if R is None else _checked_relevance(R, x, "R")
    R = _checked_relevance(explain_fn(x, target=c), x, "explain_fn") if R is None else R_given
    keep = {int(k) for k in keep}
    if any(not 0 <= k <= K for k in keep):
        raise ValueError(f"keep: steps must be in 0..{K}, got {sorted(keep)}")
    fill = removal_fill(x, removal, patch=patch, mean=mean, bounds=bounds, sigma=sigma, rng=rng)

    curve = np.empty((N, K + 1), dtype=f0.dtype)
    probability = np.empty_like(curve)
    curve[:, 0], probability[:, 0] = _scores(f0, c)
    order = np.argsort(-patch_relevance(R, patch), axis=1, kind="stable")
    removed = np.zeros((N, K), dtype=bool)
    # explained[n]: R[n] is explain_fn's heatmap of the current image x_k[n].  A heatmap given
    # by the caller is not: it is replaced at the first recomputation whatever the removal did
    explained = np.full(N, R_given is None)
    xk, images, start = x, {0: x.copy()} if 0 in keep else {}, time.perf_counter()
    for k in range(1, K + 1):                 # a loop over removal steps, never over samples
        if recompute and k > 1:
            todo = ~explained     # an image the last removal left as it was keeps its heatmap
            if todo.any():
                new = _checked_relevance(explain_fn(xk[todo], target=c[todo]), xk[todo], "explain_fn")
                if todo.all():
                    R = new
                else:           # a copy: R may be an array explain_fn still holds
                    R = R.astype(np.result_type(R, new))
                    R[todo] = new
                explained[:] = True
            r = np.where(removed, -np.inf, patch_relevance(R, patch))
            order[:, k - 1] = r.argmax(axis=1)        # first maximum: the same tie rule
        removed[rows, order[:, k - 1]] = True
        mask = patch_mask(removed, x.shape[1:], patch)
        x_new = np.where(mask, fill(mask), x)
        changed = (x_new != xk).reshape(N, -1).any(axis=1)
        explained &= ~changed
        curve[:, k], probability[:, k] = curve[:, k - 1], probability[:, k - 1]
        if changed.any():
            logits = net.forward(x_new[changed]).reshape(int(changed.sum()), -1)
            curve[changed, k], probability[changed, k] = _scores(logits, c[changed])
        xk = x_new
        if k in keep:
            images[k] = xk
        if progress and (k % max(1, K // 10) == 0 or k == K):
            print(f"pixel-flipping: step {k}/{K}, {time.perf_counter() - start:.1f} s",
                  file=sys.stderr, flush=True)
    return PixelFlippingResult(curve, order, c, grid, probability, images)


def random_relevance(*, rng: np.random.Generator) -> ExplainFn:
    """An explanation function returning uniform noise: a random removal order, the baseline
    every method should beat.

    The noise of a call is drawn from a generator seeded by a number drawn from ``rng`` once,
    here, and by the bytes of the batch ``x``: the same batch gets the same noise, different
    batches independent noise.  So the result does not depend on which worker process
    explains a batch (``evaluate_selectivity(workers=...)``: each worker has a copy of the
    state of ``rng``, which would give its batches the noise of the others), nor on whether
    pixel-flipping explains an unchanged image again.
    """
    seed = int(checks.generator(rng).integers(2**63))

    def explain_fn(x, target=None):
        x = np.asarray(x)
        digest = hashlib.blake2b(x.tobytes(), digest_size=8).digest()     # bytes in C order
        generator = np.random.default_rng([seed, *x.shape, int.from_bytes(digest, "little")])
        return generator.uniform(0.0, 1.0, x.shape)
    return explain_fn


# ----------------------------------------------------------------------- batch evaluation
@dataclass(frozen=True)
class Selectivity:
    """Pixel-flipping of one method over a data set.

    curve : (K+1,), the mean curve;  auc, aopc : their means;  auc_samples : (N,) per sample
    (for paired comparisons between methods);  seconds : wall-clock time (explanations
    included);  curves, probabilities : (N, K+1) per sample, the logit f_c and the softmax
    probability p(w_c | x) after each removal (for other readings of the same run, e.g. the
    AUC over the first removals only).
    """
    curve: np.ndarray
    auc: float
    aopc: float
    auc_samples: np.ndarray
    seconds: float
    curves: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def from_curves(cls, curves, probabilities, seconds: float = 0.0) -> "Selectivity":
        """The summary of per-sample curves (N, K+1) of the logit f_c and of p(w_c | x)."""
        curves, probabilities = np.asarray(curves), np.asarray(probabilities)
        if _curve(curves).ndim != 2 or probabilities.shape != curves.shape:
            raise ValueError(f"Selectivity: expected curves and probabilities of one shape (N, K+1), "
                             f"got {curves.shape} and {probabilities.shape}")
        per_sample = auc(curves)
        return cls(curves.mean(axis=0), float(per_sample.mean()), float(aopc(curves).mean()),
                   per_sample, float(seconds), curves, probabilities)

    def subset(self, index) -> "Selectivity":
        """The same run restricted to some samples (a slice, indices or a boolean mask), e.g.
        the first n digits, to compare with another run over those; ``seconds`` stays the
        whole run's."""
        return Selectivity.from_curves(self.curves[index], self.probabilities[index], self.seconds)


#: ``evaluate_selectivity(batch_size=None)`` makes batches of at most this many samples: with
#: recomputed heatmaps 512 digits of the CNN ran 1.3x faster per digit than 128, and a batch's
#: arrays stay a few tens of MB
MAX_BATCH = 512


def evaluate_selectivity(net: Sequential, images, methods: Mapping[str, ExplainFn], *,
                         patch: tuple[int, ...] = (4, 4), removal="black", mean=None,
                         bounds: tuple[float, float] = (-1.0, 1.0), sigma: float | None = None,
                         target=None, recompute: bool = False, batch_size: int | None = 128,
                         progress: bool = True, rng: np.random.Generator | None = None,
                         workers: int = 1) -> dict[str, Selectivity]:
    """Pixel-flipping (Sec. 7.2) of several methods over many digits, batch by batch.

    Parameters
    ----------
    net : Sequential
    images : uint8 digits (N, 28, 28) (made into the network's inputs by ``inputs_for``, in
        the network's dtype) or a float input batch (N, ...)
    methods : {name: explain_fn(x, target=c) -> R}
    patch, removal, mean, bounds, sigma, recompute : see :func:`pixel_flipping`.  With
        ``removal="mean"`` and no ``mean``, the mean of the evaluated inputs is used; pass the
        training mean to keep test statistics out.
    target : None (predicted classes), int or int array (N,)
    batch_size : samples per batch.  With ``recompute`` a larger batch is faster (each step
        explains the batch's changed images in one call): 512 digits of the CNN run 1.3x
        faster than 128.  None: one batch per worker, of at most ``MAX_BATCH`` samples, so
        that every worker has work (ceil(N / workers) samples, or ``MAX_BATCH``)
    progress : print about ten lines per method to stderr, with the elapsed time
    rng : for ``"uniform"`` removal (and nothing else).  Batch b of every method gets the
        generator ``default_rng([seed, b])`` with one seed drawn from ``rng``, so all methods
        see the same noise on the same digit.
    workers : processes that share the batches (``heatmapping.parallel``; on Linux only,
        elsewhere the batches run in this process), e.g. 2 on two cores: 2x faster for
        pixel-flipping with recomputed heatmaps.  The results of a method whose heatmaps
        depend on the batch it is given only do not depend on it: every method here,
        ``random_relevance`` and SmoothGrad without a generator of its own included.  A
        method that draws from a generator it keeps (``smoothgrad(..., rng=g)``) draws in
        each worker from a copy of it as it was at the start: its results depend on
        ``workers`` (and on the system: off Linux there are no copies).

    Returns
    -------
    {name: Selectivity}
    """
    checks.network(net)
    x = images
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        if len(images) == 0:
            raise ValueError("images: expected at least one digit, got an empty batch")
        x = inputs_for(net, images, dtype=net.dtype)
    x = checks.batch(x, "images")
    if not isinstance(methods, Mapping) or not methods:
        raise TypeError(f"methods: expected a non-empty mapping {{name: explain_fn}}, got {checks.given(methods)}")
    for name, explain_fn in methods.items():
        checks.function(explain_fn, f"methods[{name!r}]")
    workers = checks.integer(workers, "workers", low=1)
    N = len(x)
    batch_size = (min(MAX_BATCH, -(-N // workers)) if batch_size is None
                  else checks.integer(batch_size, "batch_size", low=1))
    if target is not None:
        t = np.asarray(target)
        target = np.broadcast_to(t, (N,)) if t.ndim == 0 else t
        if target.shape != (N,):
            raise ValueError(f"target: expected a class index or {N} of them, got shape {t.shape}")
    if removal == "mean" and mean is None:
        mean = x.mean(axis=0)
    seed = None if rng is None else int(rng.integers(2**63))
    starts = range(0, N, batch_size)
    groups = parallel.split(len(starts), workers)
    results = {}
    for name, explain_fn in methods.items():
        start = time.perf_counter()

        def flip(worker_and_group):
            """Pixel-flipping of a group of batches: [(curves, probabilities)]."""
            w, group = worker_and_group
            who = f" worker {w + 1}/{len(groups)}," if len(groups) > 1 else ""
            samples = range(starts[group[0]], min(starts[group[-1]] + batch_size, N))
            report_every, out = max(1, len(group) // 10), []
            for i, b in enumerate(group):
                s = starts[b]
                res = pixel_flipping(net, x[s:s + batch_size], None, explain_fn=explain_fn,
                                     recompute=recompute,
                                     target=None if target is None else target[s:s + batch_size],
                                     patch=patch, removal=removal, mean=mean, bounds=bounds,
                                     sigma=sigma,
                                     rng=None if seed is None else np.random.default_rng([seed, b]))
                out.append((res.curve, res.probability))
                if progress and ((i + 1) % report_every == 0 or i + 1 == len(group)):
                    done = min(s + batch_size, N) - samples.start
                    print(f"  {name} [{removal}]:{who} {done}/{len(samples)} samples, "
                          f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
            return out
        pairs = [pair for part in parallel.run(flip, list(enumerate(groups))) for pair in part]
        results[name] = Selectivity.from_curves(np.concatenate([c for c, _ in pairs]),
                                                np.concatenate([p for _, p in pairs]),
                                                time.perf_counter() - start)
    return results


def heatmap_quality(net: Sequential, explain_fn: ExplainFn, x, path, *, target: int,
                    period: int = 4) -> dict[str, float]:
    """Three numbers that say whether a heatmap trick helps (Sec. 6.4 against Sec. 7):

    * ``"stride artefact"``: :func:`stride_artifact` of the heatmaps of ``x`` at ``period``;
    * ``"continuity"``: :func:`continuity_along_path` of ``explain_fn(., target=target)``
      along ``path`` (e.g. a digit shifted pixel by pixel);
    * ``"AUC"``: the mean pixel-flipping AUC of ``x`` (black removal, order of the first
      heatmap; lower = more selective).
    """
    R = explain_fn(x)
    return {"stride artefact": stride_artifact(R, period),
            "continuity": continuity_along_path(lambda v: explain_fn(v, target=target), path),
            "AUC": float(np.mean(pixel_flipping(net, x, R).auc))}


# ------------------------------------------------------------------- localization (Sec. 8)
def _mask_for(R, mask) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (N, D) and a boolean ground-truth mask (N, D), the mask broadcast to R."""
    R = checks.batch(R, "R", allow_int=True)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"mask: expected a boolean mask, got dtype {mask.dtype}")
    try:
        mask = np.broadcast_to(mask, R.shape)
    except ValueError:
        raise ValueError(f"mask: expected a shape that broadcasts to the heatmaps' {R.shape}, "
                         f"got shape {mask.shape}") from None
    return R.reshape(len(R), -1), mask.reshape(len(R), -1)


def relevance_mass_accuracy(R, mask) -> np.ndarray:
    """Share of the positive relevance that falls inside the ground-truth mask, per sample:

        sum_{i in mask} R_i^+ / sum_i R_i^+      in [0, 1]

    (the "relevance mass accuracy" of Arras et al. 2022), for heatmaps (N, ...) and a boolean
    mask broadcasting to them.  A heatmap with no positive relevance scores 0: it points at
    nothing.  Returns (N,).
    """
    R, mask = _mask_for(R, mask)
    positive = np.maximum(R, 0)
    total = positive.sum(axis=1)
    inside = np.where(mask, positive, 0).sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def relevance_rank_accuracy(R, mask) -> np.ndarray:
    """Share of the K = |mask| most relevant features that lie inside the mask, per sample
    (the "relevance rank accuracy" of Arras et al. 2022), in [0, 1].  Only the order of R
    counts, so any increasing transform of the heatmap gives the same score; ties are broken
    by position (the first of equal values ranks higher).  A sample with an empty mask scores
    0.  Returns (N,).
    """
    R, mask = _mask_for(R, mask)
    K = mask.sum(axis=1)
    order = np.argsort(-R, axis=1, kind="stable")               # most relevant first
    in_mask = np.take_along_axis(mask, order, axis=1)
    top = np.arange(R.shape[1])[None, :] < K[:, None]           # the first K of each row
    hits = (in_mask & top).sum(axis=1)
    return np.divide(hits, K, out=np.zeros(len(R)), where=K > 0)

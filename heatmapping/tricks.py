"""Practical tricks of Sec. 6.2 and 6.4-6.6: translation trick, sliding-window explanations,
the relevant pattern, and choosing LRP rules by pixel-flipping.

An *explanation function* here is any map from a batch x (N, C, H, W) to relevance of the
same shape, e.g. ``lambda x: explain.lrp(net, x, target=2)``.  The tricks call it once on
one large batch (all translated copies, all windows), not in a loop.
"""

from __future__ import annotations

import functools

from typing import Callable, Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import checks, explain, metrics
from .layers import Flatten, Linear
from .models import inputs_for
from .network import Sequential

__all__ = ["shift", "translation_path", "translation_trick", "translation_explainer", "digit_canvas",
           "canvas_digits",
           "positive_evidence", "sliding_window", "fully_convolutional", "direct_explanation", "relevant_pattern",
           "select_rules"]

ExplainFn = Callable[[np.ndarray], np.ndarray]


def _check_images(x, name: str = "x"):
    x = checks.batch(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected images of shape (N, C, H, W), got shape {x.shape}")
    return x


def shift(x: np.ndarray, dy: int, dx: int, *, fill: float = -1.0) -> np.ndarray:
    """Translate images (N, C, H, W) by dy rows down and dx columns right.

    Pixels that enter from outside take the value ``fill`` (the background, -1 in this
    project's pixel convention; use 0 for relevance); pixels pushed out are lost.
    """
    x = _check_images(x)
    return _shift(x, checks.integer(dy, "dy"), checks.integer(dx, "dx"), checks.number(fill, "fill"))


def _shift(x: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """:func:`shift` of arguments already checked (the many copies of one batch)."""
    N, C, H, W = x.shape
    out = np.full_like(x, fill)
    if abs(dy) >= H or abs(dx) >= W:
        return out
    out[:, :, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        x[:, :, max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


def translation_path(x: np.ndarray, max_shift: int, *, fill: float = -1.0) -> np.ndarray:
    """Each image of ``x`` (N, C, H, W) moved horizontally by -max_shift..max_shift pixels, a
    path of T = 2 max_shift + 1 inputs per image (Sec. 7.1, Figure 7), (N * T, C, H, W):
    rows i*T .. i*T + T - 1 are image i's path.  Entering pixels take ``fill``."""
    x = _check_images(x)
    max_shift = checks.integer(max_shift, "max_shift", low=0)
    fill = checks.number(fill, "fill")
    steps = range(-max_shift, max_shift + 1)
    return np.stack([_shift(x, 0, dx, fill) for dx in steps], axis=1).reshape(-1, *x.shape[1:])


def translation_trick(explain_fn: ExplainFn, x: np.ndarray, *, max_shift: int = 1,
                      shifts=None, fill: float = -1.0) -> np.ndarray:
    """Averaged explanation of translated copies (Sec. 6.4):

        R*(x) = 1/|T| sum_{tau in T} tau^-1( R( tau(x) ) )

    T is every shift (dy, dx) with |dy|, |dx| <= ``max_shift`` (``(2 t + 1)^2`` shifts), or
    the given ``shifts``.  Inputs are shifted with the background ``fill``; heatmaps are
    shifted back with 0 (relevance of pixels that left the frame is dropped).  ``max_shift=0``
    gives the plain explanation.  All |T| N translated images are explained in one call.
    """
    checks.function(explain_fn, "explain_fn")
    x = _check_images(x)
    if shifts is None:
        max_shift = checks.integer(max_shift, "max_shift", low=0)
        r = range(-max_shift, max_shift + 1)
        shifts = [(dy, dx) for dy in r for dx in r]
    if not all(np.shape(s) == (2,) for s in shifts):
        raise TypeError(f"shifts: expected pairs (dy, dx), got {checks.given(shifts)}")
    shifts = [(checks.integer(dy, "shifts"), checks.integer(dx, "shifts")) for dy, dx in shifts]
    if not shifts:
        raise ValueError("shifts: expected at least one shift (dy, dx), got none")
    fill = checks.number(fill, "fill")
    batch = np.concatenate([_shift(x, dy, dx, fill) for dy, dx in shifts])
    R = checks.finite(np.asarray(explain_fn(batch)), "explain_fn").reshape(len(shifts), *x.shape)
    return sum(_shift(R[t], -dy, -dx, 0.0) for t, (dy, dx) in enumerate(shifts)) / len(shifts)


def translation_explainer(net: Sequential, explain_fn, *, max_shift: int = 1,
                          fill: float = -1.0):
    """The translation trick as an explanation function ``R*(x, target=None)`` (Sec. 6.4), for
    the metrics and for comparing with ``explain_fn(x, target=None)`` itself.

    Every translated copy explains the class of the *original* image (its prediction by
    ``net`` when ``target`` is None): a shifted copy may be classified otherwise, and R* must
    explain one class.
    """
    def explain_translated(x, target=None):
        x = _check_images(x)
        c = net.forward(x).argmax(axis=1) if target is None else np.broadcast_to(target, (len(x),))
        copies = (2 * max_shift + 1) ** 2          # translation_trick's batch: shift-major
        return translation_trick(lambda v: explain_fn(v, target=np.tile(c, copies)), x,
                                 max_shift=max_shift, fill=fill)
    return explain_translated


def digit_canvas(digits: np.ndarray, *, rows: int, cols: int, cell: int = 32,
                 background: float = -1.0) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """A large image (1, 1, rows * cell, cols * cell) with one digit centred in each cell,
    row by row, for the sliding-window explanation of Sec. 6.5 (Figure 5).

    ``digits`` (rows * cols, h, w) in the pixel range [-1, 1]; cells larger than the network's
    window keep background between the digits, so that fewer windows see parts of two.
    Returns the canvas and each digit's cell as (row slice, column slice).
    """
    rows, cols = checks.integer(rows, "rows", low=1), checks.integer(cols, "cols", low=1)
    cell = checks.integer(cell, "cell", low=1)
    digits = checks.floats(digits, "digits").astype(np.float64)
    if digits.ndim != 3 or len(digits) != rows * cols:
        raise ValueError(f"digits: expected rows * cols = {rows * cols} digits (N, h, w), got shape "
                         f"{digits.shape}")
    h, w = digits.shape[1:]
    if h > cell or w > cell:
        raise ValueError(f"cell: expected cells at least as large as the digits ({h}x{w}), got {cell}")
    canvas = np.full((1, 1, rows * cell, cols * cell), background)
    cells = []
    for k, digit in enumerate(digits):
        top, left = (k // cols) * cell, (k % cols) * cell
        dy, dx = (cell - h) // 2, (cell - w) // 2
        canvas[0, 0, top + dy:top + dy + h, left + dx:left + dx + w] = digit
        cells.append((slice(top, top + cell), slice(left, left + cell)))
    return canvas, cells


def _window_grid(size: tuple[int, int], window: tuple[int, int], stride: tuple[int, int]):
    (H, W), (h, w), (sh, sw) = size, window, stride
    if h > H or w > W:
        raise ValueError(f"window: expected a window within the image {H}x{W}, got {h}x{w}")
    if (H - h) % sh or (W - w) % sw:
        raise ValueError(f"stride: windows of {h}x{w} at stride ({sh}, {sw}) do not "
                         f"cover the image {H}x{W} exactly; pad or crop it first")
    return (H - h) // sh + 1, (W - w) // sw + 1


def sliding_window(explain_fn: ExplainFn, f: Callable[[np.ndarray], np.ndarray], X: np.ndarray,
                   *, window: tuple[int, int], stride: tuple[int, int]):
    """Explain a large image by the sum of the network over all windows (Sec. 6.5, Figure 5):

        g(X) = sum_{s in S} f(X[s])

    Every window X[s] (of the network's input size) is explained, and each pixel collects
    the relevance of every window it belongs to.  For a conservative explanation,
    sum_i R_i(X) = g(X).

    Parameters
    ----------
    explain_fn : batch of windows (M, C, h, w) -> relevance of the same shape
    f : batch of windows -> the explained scalar per window (M,), e.g. one class's logit
    X : large images (N, C, H, W)
    window, stride : (int, int); the windows must tile X exactly ((H - h) divisible by sh)

    Returns
    -------
    R : (N, C, H, W) the aggregated heatmap
    g : (N,) the explained quantity
    """
    X = _check_images(X, "X")
    N, C, H, W = X.shape
    (h, w), (sh, sw) = window, stride
    gh, gw = _window_grid((H, W), window, stride)
    # all windows as one batch: (N, C, gh, gw, h, w) -> (N*gh*gw, C, h, w)
    views = sliding_window_view(X, (h, w), axis=(2, 3))[:, :, ::sh, ::sw]
    patches = np.ascontiguousarray(views.transpose(0, 2, 3, 1, 4, 5)).reshape(-1, C, h, w)
    R_patches = explain_fn(patches).reshape(N, gh, gw, C, h, w)
    g = np.asarray(f(patches)).reshape(N, gh * gw).sum(axis=1)
    R = np.zeros_like(X, dtype=R_patches.dtype)
    for i in range(gh):               # a loop over window rows and columns, each one
        for j in range(gw):           # vectorized over the batch
            R[:, :, i * sh:i * sh + h, j * sw:j * sw + w] += R_patches[:, i, j]
    return R, g


def canvas_digits(net: Sequential, images: np.ndarray, labels: np.ndarray, c: int, *,
                  rng: np.random.Generator, n_class: int = 2, n_other: int = 6):
    """Digits for a Figure 5 canvas, shuffled: ``n_class`` of class ``c`` and ``n_other`` of
    other classes in which the network, shown each alone, finds less evidence of c than in an
    empty (all-background) image, so that a sliding-window heatmap shows how the windows'
    explanations add up rather than the network's confusions.

    Returns (indices into ``images``, f_c of the empty image, f_c of every digit alone (N,)).
    """
    empty = float(net.forward(np.full((1, *net.input_shape), -1.0))[0, c])
    alone = net.forward(inputs_for(net, images))[:, c]
    picks = np.concatenate([rng.choice(np.flatnonzero(labels == c), n_class, replace=False),
                            rng.choice(np.flatnonzero((labels != c) & (alone < empty)), n_other,
                                       replace=False)])
    rng.shuffle(picks)
    return picks, empty, alone


def positive_evidence(net: Sequential, c: int, *, baseline: float = 0.0, rules="deep_taylor"):
    """The pair (explain_fn, f) for :func:`sliding_window` that explains
    g(X) = sum_s max(0, f_c(X[s]) - baseline): each window's evidence for class ``c`` is the
    part of its logit above ``baseline``, so that windows without the class add nothing
    (Figure 5).  With ``baseline`` = f_c of an empty window, the many windows of background
    that a large image has do not add the network's bias towards c either.  LRP with ``rules``
    explains each window's evidence: the relevance of f_c, scaled to sum to it (a window with
    no evidence gets R = 0)."""
    def f(windows):
        return np.maximum(net.forward(windows)[:, c] - baseline, 0)

    def explain_fn(windows):
        logits = net.forward(windows)
        top = np.zeros_like(logits)                 # the output relevance: evidence * e_c
        top[:, c] = np.maximum(logits[:, c] - baseline, 0)
        return explain.lrp(net, windows, target=top, rules=rules)
    return explain_fn, f


def fully_convolutional(net: Sequential) -> Sequential:
    """The network without its final ``Flatten``: a convolutional network whose class scores
    form maps (N, K, h', w') on inputs larger than its training size (Sec. 6.5, "direct
    approach")."""
    if not net.layers or not isinstance(net.layers[-1], Flatten):
        raise ValueError("fully_convolutional: expected a network ending in Flatten after its "
                         "last convolution")
    if any(isinstance(layer, (Linear, Flatten)) for layer in net.layers[:-1]):
        raise ValueError("fully_convolutional: a dense layer or an inner Flatten cannot slide "
                         "over a larger image")
    return Sequential(net.layers[:-1])


def direct_explanation(explain_fn, fcn: Sequential, X: np.ndarray, target: int) -> tuple:
    """The direct approach of Sec. 6.5: run the fully convolutional network on the large image
    and explain the sum of its class-``target`` map.

    ``explain_fn(net, x, target=...)`` is a method of ``heatmapping.explain``; the relevance
    at the top is the class map itself (a float target).  Returns (R (N, C, H, W), g (N,)),
    g the sum of the map.  For a network without padding, whose windows at its total stride
    tile the image, this equals the sliding-window explanation at that stride; with
    border-padded convolutions it does not (each window sees zero padding at its borders,
    the large image sees its neighbours): the paper's caveat.
    """
    X = _check_images(X, "X")
    out = fcn.forward(X)
    top = np.zeros_like(out)
    top[:, target] = out[:, target]
    return explain_fn(fcn, X, target=top), top.reshape(len(X), -1).sum(axis=1)


def relevant_pattern(x: np.ndarray, R: np.ndarray, *, low: float = -1.0, high: float = 1.0,
                     scale: str = "max") -> np.ndarray:
    """The relevant pattern P(x) = x * R(x) (Sec. 6.6), in the display range [0, 1].

    The heatmap is normalised to [0, 1] first: divided by its largest value per sample
    (``scale="max"``) and clipped at 0 and 1, so negative relevance masks too.  The image is
    mapped from its pixel range [low, high] (here [-1, 1], black = -1) to [0, 1], so that
    masking turns irrelevant pixels black, as the paper intends.  Shapes (N, ...).
    """
    x = checks.batch(x, "x")
    R = checks.floats(R, "R", shape=x.shape, allow_int=True)
    checks.choice(scale, "scale", ("max",))
    low, high = checks.bounds((low, high), "low, high")
    peak = R.reshape(len(R), -1).max(axis=1).reshape((-1,) + (1,) * (R.ndim - 1))
    mask = np.clip(R / np.where(peak > 0, peak, 1.0), 0.0, 1.0)
    return (x - low) / (high - low) * mask


def select_rules(net: Sequential, x: np.ndarray, candidates: Mapping[str, object], *,
                 target=None, **flipping) -> tuple[str, dict[str, float]]:
    """Choose among LRP rule assignments by pixel-flipping (Sec. 6.2).

    Each candidate (a preset name, a rule or a mapping {layer: rule}) explains the batch;
    the one whose heatmaps make f drop fastest (the lowest mean AUC of the pixel-flipping
    curve, Sec. 7.2) wins.  ``flipping`` goes to ``heatmapping.metrics.pixel_flipping``
    (patch size, removal strategy, ``recompute=True`` for the paper's procedure, which
    re-explains with the candidate after every removal).  Returns the best name and every
    candidate's mean AUC.
    """
    if not isinstance(candidates, Mapping) or not candidates:
        raise TypeError(f"candidates: expected a non-empty mapping {{name: rules}}, got {checks.given(candidates)}")
    checks.network(net)
    x = _check_images(x)
    if target is None:
        target = net.forward(x).argmax(axis=1)
    scores = {}
    for name, rules in candidates.items():
        explain_fn = functools.partial(explain.lrp, net, rules=rules)
        result = metrics.pixel_flipping(net, x, explain_fn(x, target=target), target=target,
                                        explain_fn=explain_fn, **flipping)
        scores[name] = float(np.mean(result.auc))
    return min(scores, key=scores.get), scores

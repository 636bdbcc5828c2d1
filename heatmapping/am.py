"""Activation maximization (Sec. 3): a prototype x* in the input domain of an abstract class.

Every variant of Sec. 3 maximises a different objective with the same optimiser,
:func:`ascend` (projected gradient ascent with a cosine step schedule):

* plain AM (Sec. 3.1):            max_x log p(w_c | x) - lam ||x - x_bar||^2
* AM with an expert (Sec. 3.2):   max_x log p(w_c | x) + gamma log p(x)
* AM in code space (Sec. 3.3):    max_z log p(w_c | g(z)) - lam ||z - z_bar||^2,  x* = g(z*)
* localized AM (Sec. 3.4):        any of the above  - eta ||x - x0||^2
* multiple local prototypes (Sec. 3.4, Nguyen et al. 2016): one run per cluster of the class's
  data, started at the cluster's centre.

The class term
--------------
``output="log_softmax"`` is the paper's log p(w_c | x) = f_c(x) - log sum_c' exp f_c'(x) for
a network ``f`` with logits as outputs.  It saturates: once class c wins clearly, its gradient
(onehot_c - softmax) vanishes, the regulariser takes over, and where the prototype ends up
depends on where the ascent started.  ``output="logit"`` maximises f_c(x) itself, which never
saturates: prototypes are pushed further, to more extreme (and, without an expert, more
artificial) inputs.

All functions work on a batch: K prototypes (one per entry of ``classes``) are optimised
together, each with its own objective (the objectives do not interact).  Arrays follow the
network's input shape, e.g. (K, 1, 28, 28) for the shipped MLP; pixels in [-1, 1].

The expert and the decoder are duck-typed, so that the toy models of the tutorials and the
real ones are used alike:

* an expert has ``log_density(x)`` (N,) and ``log_density_gradient(x)`` (N, D) on flattened
  inputs x (N, D), up to an additive constant (``rbm.GaussianRBM``);
* a decoder has ``n_latent`` (the code size d), ``decode(z)`` (N, D) and
  ``decode_gradient(z, grad_out)`` (N, d), the gradient of sum(decode(z) * grad_out) with
  respect to z (``decoder.VAE``); :func:`local_prototypes` in code space also needs
  ``encode(x)`` (N, d).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.cluster.vq import kmeans2

from . import checks
from .network import Sequential
from .train import log_softmax

__all__ = ["OUTPUTS", "Prototypes", "class_score", "ascend", "activation_maximization",
           "code_space_am", "cluster_starts", "local_prototypes", "class_means", "mid_gray"]

#: the two class objectives: the paper's log p(w_c | x), or the logit f_c(x)
OUTPUTS = ("log_softmax", "logit")

#: an objective maps a batch (N, ...) to its values (N,) and their gradient (N, ...)
Objective = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class Prototypes:
    """What AM found.

    Attributes
    ----------
    x : array (K, *input_shape)
        The prototypes x*, in the classifier's input space.
    classes : array (K,)
        The class w_c of each prototype.
    trace : array (steps + 1, K)
        The objective at every step (row 0: at the start).
    z : array (K, d) or None
        The codes z* (code-space AM only), x = g(z).
    """

    x: np.ndarray
    classes: np.ndarray
    trace: np.ndarray
    z: np.ndarray | None = None


def _squared_norm(d: np.ndarray) -> np.ndarray:
    """||d_n||^2 for each sample: sum over every axis but the first, (N, ...) -> (N,)."""
    return (d.reshape(len(d), -1) ** 2).sum(axis=1)


def _check_weights(value, name: str, K: int) -> float | np.ndarray:
    """A weight of the objective: one number for all K prototypes, or one per prototype (K,)
    (e.g. the localization path of Sec. 3.4, several eta optimised in one batch)."""
    if np.ndim(value) == 0:
        return checks.number(value, name, low=0)
    value = checks.floats(value, name, shape=(K,), allow_int=True)
    if np.any(value < 0):
        raise ValueError(f"{name}: expected numbers >= 0, got {float(value.min())!r} among them")
    return value


def _localization(x: np.ndarray, x_ref: np.ndarray, eta) -> tuple[np.ndarray, np.ndarray]:
    """The localization term -eta ||x - x_ref||^2 (Sec. 3.4) and its gradient, per sample:
    x, x_ref (K, ...), eta a number or (K,) -> values (K,), gradient (K, ...)."""
    d = x - x_ref
    # eta (K,) -> (K, 1, ..., 1) to scale each sample's difference
    w = np.reshape(eta, (-1,) + (1,) * (x.ndim - 1))
    return -eta * _squared_norm(d), -2 * w * d


def class_score(net: Sequential, x: np.ndarray, classes, *,
                output: str = "log_softmax") -> tuple[np.ndarray, np.ndarray]:
    """The class term of AM and its input gradient, for each sample.

    Parameters
    ----------
    net : Sequential
        Classifier with logits f(x) (N, C) as outputs.
    x : array (N, *input_shape)
    classes : int or array (N,)
        The class w_c of each sample.
    output : {"log_softmax", "logit"}
        log p(w_c | x) = f_c - logsumexp(f) (Sec. 3.1), or f_c.

    Returns
    -------
    value : array (N,)
    grad : array (N, *input_shape)
        d value / dx, by back-propagating onehot_c - softmax(f) (or onehot_c) through ``net``.
    """
    checks.network(net)
    checks.choice(output, "output", OUTPUTS)
    x = np.asarray(x, dtype=np.float64)
    A = net.activations(x)
    logits = A[-1]
    n, C = logits.shape
    classes = np.asarray(classes)
    if not np.issubdtype(classes.dtype, np.integer):
        raise TypeError(f"classes: expected integer class indices, got dtype {classes.dtype}")
    if classes.ndim > 1 or classes.size not in (1, n):
        raise ValueError(f"classes: expected one index or one per sample ({n}), "
                         f"got shape {classes.shape}")
    classes = np.broadcast_to(classes.reshape(-1), (n,))
    if np.any((classes < 0) | (classes >= C)):
        raise ValueError(f"classes: index out of range, the classifier has {C} classes "
                         f"(0..{C - 1}), got {np.unique(classes).tolist()}")
    onehot = np.eye(C)[classes]                                  # (N, C)
    if output == "logit":
        value, grad_out = logits[np.arange(n), classes], onehot
    else:
        logp = log_softmax(logits)
        value, grad_out = logp[np.arange(n), classes], onehot - np.exp(logp)
    return value, net.backward(A, grad_out)[0]


def ascend(objective: Objective, x0: np.ndarray, *, steps: int = 200, step_size: float = 0.05,
           box: tuple[float, float] | None = (-1.0, 1.0),
           verbose: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Projected gradient ascent, the one optimiser of every AM variant.

        x_{t+1} = P_box( x_t + alpha_t grad phi(x_t) ),
        alpha_t = step_size (1 + cos(pi t / steps)) / 2,   t = 0 .. steps - 1

    The cosine schedule takes large steps first and shrinks them to zero, so the iterate
    settles instead of oscillating around the optimum with a fixed step; ``P_box`` clips to
    the pixel range (``box=None`` for none, e.g. in code space).  A quadratic term
    ``w ||x - x_ref||^2`` of the objective is only stable for step_size < 1 / w.

    Parameters
    ----------
    objective : callable, x (N, ...) -> (values (N,), gradient (N, ...))
    x0 : array (N, ...)
        Starting points.
    steps : int
    step_size : float
        alpha_0, > 0.
    box : (low, high) or None
    verbose : bool
        Print the objective (mean, min over the batch) every ``steps // 10`` steps and at
        the end.

    Returns
    -------
    x : array (N, ...)
        The last iterate.
    trace : array (steps + 1, N)
        phi(x_t) for t = 0 .. steps.
    """
    checks.function(objective, "objective")
    steps = checks.integer(steps, "steps", low=1)
    checks.number(step_size, "step_size", low=0, open_low=True)
    if box is not None:
        box = checks.bounds(box, "box")
    x = np.array(checks.floats(x0, "x0", allow_int=True), dtype=np.float64)
    if box is not None:
        x = np.clip(x, *box)
    trace = []
    report = max(1, int(steps) // 10)
    for t in range(int(steps) + 1):
        value, grad = objective(x)
        trace.append(value)
        if verbose and (t % report == 0 or t == steps):
            print(f"AM step {t:4d}/{steps}  objective mean {value.mean():.4f}  "
                  f"min {value.min():.4f}", flush=True)
        if t == steps:
            break
        alpha = step_size * 0.5 * (1.0 + np.cos(np.pi * t / steps))
        x = x + alpha * grad
        if box is not None:
            np.clip(x, *box, out=x)
    return x, np.array(trace)


def _batch(value, shape: tuple[int, ...], K: int, what: str) -> np.ndarray:
    """Broadcast one sample (shape) or a batch (K, *shape) to (K, *shape), or say what's wrong."""
    value = np.asarray(value, dtype=np.float64)
    if value.shape == shape:
        value = value[None]
    if value.shape not in ((1, *shape), (K, *shape)):
        raise ValueError(f"{what}: expected shape {shape} or ({K}, {', '.join(map(str, shape))}), "
                         f"got shape {value.shape}")
    return np.broadcast_to(value, (K, *shape))


def _classes(given) -> np.ndarray:
    classes = np.atleast_1d(np.asarray(given))
    if classes.ndim != 1 or not np.issubdtype(classes.dtype, np.integer):
        raise TypeError(f"classes: expected an int or a 1-d sequence of ints, got {checks.given(given)}")
    return classes


def _input_shape(net: Sequential, *arrays) -> tuple[int, ...]:
    if net.input_shape is not None:
        return net.input_shape
    for a in arrays:  # without a declared input shape, trust the first array given
        if a is not None:
            return np.shape(a)[1:] if np.ndim(a) > 1 else np.shape(a)
    raise ValueError("the network has no input_shape; pass x0 to fix the shape of the prototype")


def activation_maximization(net: Sequential, classes, *, x0=None, lam: float = 0.0,
                            center=None, expert=None, gamma: float = 1.0,
                            eta: float | np.ndarray = 0.0, x_ref=None,
                            output: str = "log_softmax", steps: int = 200,
                            step_size: float = 0.05,
                            box: tuple[float, float] | None = (-1.0, 1.0),
                            verbose: bool = False) -> Prototypes:
    """AM in the input space: plain (Sec. 3.1), with an expert (Sec. 3.2), localized (Sec. 3.4).

    Maximises, for each class w_c in ``classes``,

        log p(w_c | x) - lam ||x - center||^2 + gamma log p(x) - eta ||x - x_ref||^2

    where the expert term is present only if ``expert`` is given.  ``gamma = 1`` is the
    paper's form (then the objective is log p(x | w_c) up to a constant, by Bayes' rule); on
    MNIST the expert's log density changes by hundreds of nats across images while
    log p(w_c | x) is at most 0, so a smaller ``gamma`` keeps the classifier in the game.

    Parameters
    ----------
    net : Sequential
        The classifier (logits out), e.g. ``models.load_model("mlp")``.
    classes : int or sequence of int (K,)
    x0 : array (*input_shape) or (K, *input_shape), optional
        Starting points; default ``center``, or 0 (a gray image) if no center.
    lam : float >= 0
    center : array (*input_shape) or (K, *input_shape), optional
        x_bar: 0 (the paper's ||x||^2) by default; the class mean in the paper's Figure 2.
    expert : object with ``log_density`` and ``log_density_gradient``, optional
    gamma : float >= 0
    eta : float >= 0, or array (K,) of them
        Localization strength around ``x_ref``, a data point x0 in the paper's notation;
        one value per prototype optimises a whole localization path in one batch.
    x_ref : array (*input_shape) or (K, *input_shape)
        Required when eta > 0.
    output : {"log_softmax", "logit"}
        See the module docstring.
    steps, step_size, box, verbose
        Passed to :func:`ascend`.

    Returns
    -------
    Prototypes
        ``x`` (K, *input_shape), ``classes``, ``trace`` (steps + 1, K).
    """
    checks.network(net)
    classes = _classes(classes)
    K = len(classes)
    lam, gamma, eta = (checks.number(lam, "lam", low=0), checks.number(gamma, "gamma", low=0),
                       _check_weights(eta, "eta", K))
    checks.choice(output, "output", OUTPUTS)
    shape = _input_shape(net, x0, center, x_ref)
    center = np.zeros((K, *shape)) if center is None else _batch(center, shape, K, "center")
    x0 = center if x0 is None else _batch(x0, shape, K, "x0")
    if np.any(eta) and x_ref is None:
        raise ValueError("x_ref: eta > 0 needs x_ref, the data point to localize around; got None")
    if x_ref is not None:
        x_ref = _batch(x_ref, shape, K, "x_ref")
    if expert is not None and not (hasattr(expert, "log_density")
                                   and hasattr(expert, "log_density_gradient")):
        raise TypeError(f"expert: expected an object with log_density(x) and "
                        f"log_density_gradient(x) (e.g. rbm.GaussianRBM), got {checks.given(expert)}")
    class_score(net, x0, classes, output=output)  # fail early on a bad class index

    def objective(x):
        value, grad = class_score(net, x, classes, output=output)
        if lam:
            d = x - center
            value, grad = value - lam * _squared_norm(d), grad - 2 * lam * d
        if expert is not None and gamma:
            flat = x.reshape(K, -1)
            value = value + gamma * expert.log_density(flat)
            grad = grad + gamma * expert.log_density_gradient(flat).reshape(x.shape)
        if np.any(eta):
            local_value, local_grad = _localization(x, x_ref, eta)
            value, grad = value + local_value, grad + local_grad
        return value, grad

    x, trace = ascend(objective, x0, steps=steps, step_size=step_size, box=box, verbose=verbose)
    return Prototypes(x=x, classes=classes, trace=trace)


def code_space_am(net: Sequential, classes, decoder, *, z0=None, lam: float = 0.0,
                  z_center=None, eta: float | np.ndarray = 0.0, x_ref=None,
                  output: str = "log_softmax", steps: int = 200, step_size: float = 0.05,
                  verbose: bool = False) -> Prototypes:
    """AM in the code space of a generative model (Sec. 3.3, Nguyen et al. 2016).

        max_z  log p(w_c | g(z)) - lam ||z - z_center||^2 - eta ||g(z) - x_ref||^2,   x* = g(z*)

    The gradient with respect to z is the classifier's input gradient pulled back through the
    decoder, ``decoder.decode_gradient(z, d objective / dx)``: the red arrows of Figure 2.
    With z_center the mean code of the class, the regulariser prefers codes typical of it.

    Parameters
    ----------
    net : Sequential
        The classifier; its input size must equal the decoder's output size.
    classes : int or sequence of int (K,)
    decoder : object with ``decode`` and ``decode_gradient`` (e.g. ``decoder.VAE``)
    z0 : array (d,) or (K, d), optional
        Starting codes, default ``z_center`` or 0 (the prior's mean).
    lam, z_center, eta, x_ref, output, steps, step_size, verbose
        As in :func:`activation_maximization`; there is no box in code space (g(z) is in
        the pixel range by construction).

    Returns
    -------
    Prototypes
        ``x = g(z*)`` (K, *input_shape), ``z`` (K, d), ``classes``, ``trace``.
    """
    checks.network(net)
    classes = _classes(classes)
    K = len(classes)
    lam, eta = checks.number(lam, "lam", low=0), _check_weights(eta, "eta", K)
    checks.choice(output, "output", OUTPUTS)
    if not all(hasattr(decoder, name) for name in ("n_latent", "decode", "decode_gradient")):
        raise TypeError(f"decoder: expected an object with n_latent, decode(z) and "
                        f"decode_gradient(z, grad_out) (e.g. decoder.VAE), got {checks.given(decoder)}")
    d = int(decoder.n_latent)
    z_center = np.zeros((K, d)) if z_center is None else _batch(z_center, (d,), K, "z_center")
    z0 = z_center if z0 is None else _batch(z0, (d,), K, "z0")
    shape = _input_shape(net, x_ref)
    x_size = int(np.prod(shape))
    out_size = decoder.decode(z0[:1]).shape[1]
    if out_size != x_size:
        raise ValueError(f"the decoder's output size {out_size} does not match the classifier's "
                         f"input shape {shape} ({x_size} values)")
    if np.any(eta) and x_ref is None:
        raise ValueError("x_ref: eta > 0 needs x_ref, the data point to localize around; got None")
    if x_ref is not None:
        x_ref = _batch(x_ref, shape, K, "x_ref")
    class_score(net, decoder.decode(z0).reshape(K, *shape), classes, output=output)

    def objective(z):
        x = decoder.decode(z).reshape(K, *shape)
        value, grad_x = class_score(net, x, classes, output=output)
        if np.any(eta):
            local_value, local_grad = _localization(x, x_ref, eta)
            value, grad_x = value + local_value, grad_x + local_grad
        grad_z = decoder.decode_gradient(z, grad_x.reshape(K, -1))
        if lam:
            dz = z - z_center
            value, grad_z = value - lam * _squared_norm(dz), grad_z - 2 * lam * dz
        return value, grad_z

    z, trace = ascend(objective, z0, steps=steps, step_size=step_size, box=None, verbose=verbose)
    return Prototypes(x=decoder.decode(z).reshape(K, *shape), classes=classes, trace=trace, z=z)


def class_means(X: np.ndarray, labels: np.ndarray, classes) -> np.ndarray:
    """The mean of the samples of each class, x_bar_c = mean_{i: y_i = c} X_i (Sec. 3.3's
    regulariser centre and AM start): X (N, ...), labels (N,) -> (len(classes), ...)."""
    X, labels = np.asarray(X), np.asarray(labels)
    if len(X) != len(labels):
        raise ValueError(f"labels: expected one label per sample of X ({len(X)}), got {len(labels)}")
    classes = _classes(classes)
    missing = [int(c) for c in classes if not np.any(labels == c)]
    if missing:
        raise ValueError(f"classes: expected classes that occur among the labels, got {missing} "
                         f"with no sample")
    return np.stack([X[labels == c].mean(axis=0) for c in classes])


def mid_gray(x: np.ndarray) -> np.ndarray:
    """Share of the pixels of each image (N, ...) strictly between -0.5 and 0.5: MNIST digits
    are nearly black and white, blurry averages are not, so it measures how far a prototype
    is from looking like data (lower = sharper; Figure 2)."""
    flat = checks.batch(x, "x", allow_int=True).reshape(len(x), -1)
    return ((flat > -0.5) & (flat < 0.5)).mean(axis=1)


def cluster_starts(X: np.ndarray, n_clusters: int, *, rng: np.random.Generator) -> np.ndarray:
    """Centres of ``n_clusters`` k-means clusters of the samples X (N, ...) -> (n_clusters, ...).

    k-means++ initialisation, drawn from ``rng``; one start per mode of the class's data
    is what lets AM find several local prototypes instead of one global one.
    """
    X = checks.batch(X, "X", allow_int=True).astype(np.float64)
    checks.generator(rng)
    flat = X.reshape(len(X), -1)
    distinct = len(np.unique(flat, axis=0))
    n_clusters = checks.integer(n_clusters, "n_clusters", low=1)
    if n_clusters > distinct:
        raise ValueError(f"n_clusters: expected at most the number of distinct samples "
                         f"({distinct}), got {n_clusters}")
    # missing="raise": an emptied cluster would otherwise come back as a duplicate start
    centres, _ = kmeans2(flat, int(n_clusters), minit="++", seed=rng, missing="raise")
    return centres.reshape(int(n_clusters), *X.shape[1:])


def local_prototypes(net: Sequential, c: int, X_class: np.ndarray, *, n_prototypes: int = 4,
                     rng: np.random.Generator, decoder=None, **am_options) -> Prototypes:
    """Several local prototypes of class ``c`` (Sec. 3.4), one per cluster of its data.

    The class's samples ``X_class`` (N, *input_shape) are clustered by k-means; each cluster
    centre is the start of one AM run and, unless ``am_options`` say otherwise, its regulariser
    centre (x_bar, or z_bar in code space).  The centre only pulls if ``lam > 0``; with
    ``lam = 0`` the prototypes stay apart because each ascent starts in its own region (and an
    expert or a decoder keeps it near the data there).  With a ``decoder`` (which then also
    needs ``encode(x)`` (N, d)), the clustering and the runs are in code space.

    ``am_options`` go to :func:`activation_maximization` (or :func:`code_space_am`), except
    the starts ``x0`` / ``z0``, which are the cluster centres.
    Returns the ``n_prototypes`` prototypes together.
    """
    X_class = checks.batch(X_class, "X_class", allow_int=True).astype(np.float64)
    c = _classes(c)
    if len(c) != 1:
        raise ValueError(f"c: expected one class index, got {c.tolist()}")
    n_prototypes = checks.integer(n_prototypes, "n_prototypes", low=1, high=len(X_class))
    for name in ("x0", "z0"):
        if name in am_options:
            raise TypeError(f"local_prototypes: the starts are the cluster centres; "
                            f"{name} cannot be given")
    classes = np.full(int(n_prototypes), c[0])
    if decoder is None:
        starts = cluster_starts(X_class, n_prototypes, rng=rng)
        am_options.setdefault("center", starts)
        return activation_maximization(net, classes, x0=starts, **am_options)
    codes = decoder.encode(X_class.reshape(len(X_class), -1))
    starts = cluster_starts(codes, n_prototypes, rng=rng)
    am_options.setdefault("z_center", starts)
    return code_space_am(net, classes, decoder, z0=starts, **am_options)

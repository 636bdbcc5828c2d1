"""Training a classifier with softmax cross-entropy, in NumPy.

The network's output is the vector of logits f(x) (the softmax is part of the loss, not of
the network, so explanations later explain the logits).  Training is mini-batch gradient
descent with momentum or Adam, L2 weight decay, dropout (the network's ``Dropout`` layers),
random shifts of the input images, and, as recommended by the paper for LRP (Sec. 6.1,
"force biases to be zero or negative at training time"), the projection b <- min(b, 0) of
every bias after every update.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from . import checks
from .network import Sequential

__all__ = ["log_softmax", "softmax", "sigmoid", "softplus", "cross_entropy", "random_shift", "SGD", "Adam",
           "Trainer", "predict", "accuracy"]


def sigmoid(t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-t)), as 0.5 (1 + tanh(t / 2)): no overflow warnings for large |t|.
    ``out``: an array to write the result into, which may be ``t`` itself (no temporaries)."""
    out = np.multiply(t, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def softplus(t: np.ndarray) -> np.ndarray:
    """log(1 + exp(t)) = max(t, 0) + log(1 + exp(-|t|)): no overflow, and ufuncs that NumPy
    vectorises (``np.logaddexp(0, t)`` is several times slower in float32)."""
    e = np.abs(t)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=e)
    e += np.maximum(t, 0.0)
    return e


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, computed stably as z - logsumexp(z)."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax over the last axis, p_c = exp(z_c) / sum_c' exp(z_c')."""
    return np.exp(log_softmax(z))


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy -1/N sum_n log p_{y_n}(x_n) and its gradient w.r.t. the logits.

    ``logits`` (N, K), ``y`` (N,) integer labels.  The gradient is (softmax - onehot) / N.
    """
    n, K = np.shape(logits)
    return _cross_entropy(logits, _checked_labels(y, n, K, "y"))


def _checked_labels(y, n: int, n_classes: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: expected integer labels of shape ({n},), "
                         f"got {y.dtype} array of shape {y.shape}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{what}: expected labels in 0..{n_classes - 1} (the "
                         f"network has {n_classes} outputs), got {y.min()}..{y.max()}")
    return y


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """:func:`cross_entropy` on labels already checked (the training loop's mini-batches)."""
    n = len(y)
    logp = log_softmax(logits)
    loss = -logp[np.arange(n), y].mean()
    grad = np.exp(logp)
    grad[np.arange(n), y] -= 1.0
    return float(loss), grad / n


def random_shift(x: np.ndarray, max_shift: int, rng: np.random.Generator,
                 *, fill: float = -1.0) -> np.ndarray:
    """Shift each image (N, C, H, W) by its own random (dy, dx) in [-max_shift, max_shift]^2.

    Pixels moved in from outside take the value ``fill`` (the background, -1 in this
    project's pixel convention).  Vectorized: all shifted copies are windows of one padded
    array, and each sample picks its window by fancy indexing.
    """
    if checks.integer(max_shift, "max_shift", low=0) == 0:
        return x
    checks.generator(rng)
    n, _, h, w = x.shape
    k = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (k, k), (k, k)), constant_values=fill)
    views = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    dy, dx = rng.integers(0, 2 * k + 1, size=(2, n))
    return views[np.arange(n), :, dy, dx]                      # (N, C, H, W)


class SGD:
    """Gradient descent with (heavy-ball) momentum: v <- mu v - lr g; p <- p + v.

    Each update runs in place in the parameter's dtype (float32 parameters are updated in
    float32), into a velocity per parameter and one work array kept between steps.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9):
        self.learning_rate = checks.number(learning_rate, "learning_rate", low=0, open_low=True)
        self.momentum = checks.number(momentum, "momentum", low=0)
        self.velocity: dict[int, np.ndarray] = {}
        self._scratch: dict[np.dtype, list[np.ndarray]] = {}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr_scale: float = 1.0):
        # Python floats: under NumPy 2's promotion rules an np.float64 factor (a cosine
        # lr_scale, a momentum set from a NumPy scalar) would run every update in float64
        lr, mu = float(self.learning_rate * lr_scale), float(self.momentum)
        for i, (p, g) in enumerate(zip(params, grads)):
            if i not in self.velocity:
                self.velocity[i] = np.zeros_like(p)
            v = self.velocity[i]
            s, = _work_arrays(self._scratch, p, 1)
            v *= mu
            v -= np.multiply(g, lr, out=s)                         # v <- mu v - lr g
            p += v


class Adam:
    """Adam (Kingma & Ba 2015) with bias-corrected first and second moment estimates."""

    def __init__(self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        # Python floats, not np.float64: under NumPy 2's promotion rules an np.float64 factor
        # would make every update of float32 parameters run in float64
        self.learning_rate = checks.number(learning_rate, "learning_rate", low=0, open_low=True)
        self.beta1, self.beta2 = (checks.number(b, name, low=0) for b, name in ((beta1, "beta1"), (beta2, "beta2")))
        for b, name in ((self.beta1, "beta1"), (self.beta2, "beta2")):
            if b >= 1:
                raise ValueError(f"{name}: expected a number in [0, 1), got {b!r}")
        self.eps = checks.number(eps, "eps", low=0, open_low=True)
        self.m: dict[int, np.ndarray] = {}
        self.v: dict[int, np.ndarray] = {}
        self._scratch: dict[np.dtype, list[np.ndarray]] = {}
        self.t = 0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr_scale: float = 1.0):
        """One update of every parameter in place, in the parameter's dtype:

            m <- m + (1 - beta1) (g - m),   v <- v + (1 - beta2) (g^2 - v)
            p <- p - lr_t m / (sqrt(v) + eps),   lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)

        Fused into two work arrays kept between steps (no temporaries), with the same
        operations in the same order as the formulas above, so the result is that of the
        formulas bit for bit.
        """
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr = float(self.learning_rate * lr_scale * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t))
        for i, (p, g) in enumerate(zip(params, grads)):
            if i not in self.m:
                self.m[i], self.v[i] = np.zeros_like(p), np.zeros_like(p)
            m, v = self.m[i], self.v[i]
            s, d = _work_arrays(self._scratch, p, 2)
            np.subtract(g, m, out=s)
            s *= 1 - b1
            m += s                                                 # m += (1 - b1) (g - m)
            np.multiply(g, g, out=s)
            s -= v
            s *= 1 - b2
            v += s                                                 # v += (1 - b2) (g^2 - v)
            np.multiply(m, lr, out=s)
            np.sqrt(v, out=d)
            d += self.eps
            s /= d
            p -= s                                                 # p -= lr m / (sqrt(v) + eps)


def _work_arrays(buffers: dict, p: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` work arrays of parameter ``p``'s shape and dtype: views of flat arrays that all
    parameters share and that are kept between steps, so a step allocates nothing."""
    flat = buffers.get(p.dtype)
    if flat is None or flat[0].size < p.size:
        flat = buffers[p.dtype] = [np.empty(p.size, p.dtype) for _ in range(n)]
    return [f[:p.size].reshape(p.shape) for f in flat]


def predict(net: Sequential, x: np.ndarray, *, batch_size: int = 500) -> np.ndarray:
    """Logits f(x) computed in batches (bounded memory), shape (N, K)."""
    checks.network(net)
    batch_size = checks.integer(batch_size, "batch_size", low=1)
    return np.concatenate([net.forward(x[i:i + batch_size])
                           for i in range(0, len(x), batch_size)])


def accuracy(net: Sequential, x: np.ndarray, y: np.ndarray, *, batch_size: int = 500) -> float:
    """Fraction of samples whose largest logit is at the label."""
    if np.shape(y) != (len(x),):
        raise ValueError(f"y: expected one label per sample ({len(x)},), got shape {np.shape(y)}")
    return float(np.mean(predict(net, x, batch_size=batch_size).argmax(axis=1) == y))


class Trainer:
    """Mini-batch training of a ``Sequential`` classifier with softmax cross-entropy.

    Scikit-learn conventions: hyper-parameters are stored unchanged by ``__init__``,
    ``fit`` returns ``self``, and what is learned ends in ``_`` (``net_``, ``history_``).

    Parameters
    ----------
    optimizer : "adam" or "sgd"
    learning_rate : float
        Initial step size, decayed to 0 over training by a cosine schedule if ``cosine``.
    momentum : float
        For "sgd".
    epochs, batch_size : int
    weight_decay : float
        L2 penalty (weight_decay / 2) ||W||^2 on the weights (not the biases).
    max_shift : int
        Images are shifted by up to this many pixels per axis (background ``fill``) each epoch.
    fill : float
        Background value, -1 in this project's pixel convention (black = -1).
    nonpositive_bias : bool
        Project every bias to b <= 0 after each update (Sec. 6.1).
    cosine : bool
        Cosine decay of the learning rate.
    random_state : int
        Seed of the generator that shuffles, shifts and draws dropout masks: a given seed
        gives the same network.
    verbose : bool
        Print one line per epoch: loss, train and validation accuracy, time.
    """

    def __init__(self, *, optimizer: str = "adam", learning_rate: float = 1e-3,
                 momentum: float = 0.9, epochs: int = 20, batch_size: int = 64,
                 weight_decay: float = 0.0, max_shift: int = 0, fill: float = -1.0,
                 nonpositive_bias: bool = True, cosine: bool = True, random_state: int = 0,
                 verbose: bool = True):
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.max_shift = max_shift
        self.fill = fill
        self.nonpositive_bias = nonpositive_bias
        self.cosine = cosine
        self.random_state = random_state
        self.verbose = verbose
        self._check_hyper_parameters()

    def _make_optimizer(self):
        if self.optimizer == "adam":
            return Adam(self.learning_rate)
        if self.optimizer == "sgd":
            return SGD(self.learning_rate, self.momentum)
        raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {checks.given(self.optimizer)}")

    def _check_hyper_parameters(self):
        self._make_optimizer()          # refuses an unknown optimizer and a bad learning rate
        for name in ("epochs", "batch_size"):
            checks.integer(getattr(self, name), name, low=1)
        checks.integer(self.max_shift, "max_shift", low=0)
        checks.integer(self.random_state, "random_state", low=0)
        checks.number(self.fill, "fill")
        for name in ("momentum", "weight_decay"):
            checks.number(getattr(self, name), name, low=0)

    def fit(self, net: Sequential, X: np.ndarray, y: np.ndarray, *,
            X_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> "Trainer":
        """Train a copy of ``net`` on images ``X`` (N, ...) with integer labels ``y`` (N,).

        The network given is not modified; the trained one is ``self.net_``.  ``history_`` is
        a list with one dict per epoch.
        """
        self._check_hyper_parameters()
        X = net.check_input(X)
        n_classes = int(np.prod(net.forward(X[:1]).shape[1:]))
        y = _checked_labels(y, len(X), n_classes, "y")
        if (X_val is None) != (y_val is None):
            raise ValueError("Trainer.fit: give both X_val and y_val, or neither")
        if X_val is not None:
            X_val = net.check_input(X_val)
            y_val = _checked_labels(y_val, len(X_val), n_classes, "y_val")
        if self.max_shift and X.ndim != 4:
            raise ValueError(f"Trainer.fit: max_shift needs images (N, C, H, W), got shape {X.shape}")
        rng = np.random.default_rng(self.random_state)
        net = copy.deepcopy(net)
        optimizer = self._make_optimizer()
        batch = int(self.batch_size)
        steps_per_epoch = -(-len(X) // batch)
        total_steps, step = int(self.epochs) * steps_per_epoch, 0
        self.history_ = []
        for epoch in range(1, int(self.epochs) + 1):
            start = time.perf_counter()
            order = rng.permutation(len(X))
            losses, correct = [], 0
            for i in range(0, len(X), batch):
                idx = order[i:i + batch]
                xb = random_shift(X[idx], int(self.max_shift), rng, fill=self.fill)
                lr_scale = 0.5 * (1 + np.cos(np.pi * step / total_steps)) if self.cosine else 1.0
                loss, logits = self._step(net, optimizer, xb, y[idx], rng, lr_scale)
                losses.append(loss)
                correct += int((logits.argmax(axis=1) == y[idx]).sum())
                step += 1
            record = {"epoch": epoch, "loss": float(np.mean(losses)),
                      "train_accuracy": correct / len(X), "seconds": time.perf_counter() - start}
            if X_val is not None:
                record["val_accuracy"] = accuracy(net, X_val, y_val)
            self.history_.append(record)
            if self.verbose:
                val = f"  val acc {record['val_accuracy']:.4f}" if X_val is not None else ""
                print(f"epoch {epoch:3d}/{self.epochs}  loss {record['loss']:.4f}  "
                      f"train acc {record['train_accuracy']:.4f}{val}  "
                      f"({record['seconds']:.1f} s)", flush=True)
        self.net_ = net
        return self

    def _step(self, net, optimizer, xb, yb, rng, lr_scale):
        """One update: forward with fresh dropout masks, backward, optimizer step, projection."""
        layers = net.training_layers(rng, xb.shape)
        A = net.activations(xb, layers=layers)
        loss, grad = _cross_entropy(A[-1], yb)
        G = net.backward(A, grad, layers=layers, input_gradient=False)
        params, grads = [], []
        for name, p, dp in net.parameter_gradients(A, G):
            if name == "W" and self.weight_decay:
                dp = dp + float(self.weight_decay) * p          # a Python float keeps the dtype
            params.append(p)
            grads.append(dp)
        optimizer.step(params, grads, lr_scale)
        if self.nonpositive_bias:
            for layer in net.layers:
                if "b" in layer.param_names:
                    np.minimum(layer.b, 0, out=layer.b)
        return loss, A[-1]

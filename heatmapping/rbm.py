"""The expert of Sec. 3.2: a Gaussian-Bernoulli restricted Boltzmann machine (RBM).

Activation maximization with an expert (Sec. 3.2) needs a density model p(x) of the data
and the gradient of log p(x).  The paper suggests the Gaussian RBM, whose log density is, up
to a constant,

    log p(x) = sum_j f_j(x) - 1/2 x^T Sigma^-1 x + cst,   f_j(x) = log(1 + exp(w_j^T x + b_j)).

Parameterisation used here
--------------------------
The RBM models *standardised* pixels ``v = (x - mean_) / scale_`` with unit variance, where
``x`` are the project's pixels in [-1, 1] and ``mean_``, ``scale_`` are the per-pixel mean and
standard deviation of the training digits (the deviation floored at ``min_scale``: MNIST's
border pixels never change, and dividing by a zero deviation would make them infinitely
certain).  With visible units ``v`` (D,) and binary hidden units ``h`` in {0, 1}^H,

    E(x, h) = 1/2 ||v - a||^2 - b^T h - v^T W h                       (energy)
    p(h_j = 1 | x) = sigmoid(w_j^T v + b_j)                            (hidden conditional)
    p(v | h) = N(a + W h, I),  i.e.  x | h ~ N(mean_ + scale_ (a + W h), diag(scale_^2))
    F(x) = -log sum_h exp(-E(x, h)) = 1/2 ||v - a||^2 - sum_j softplus(w_j^T v + b_j)
    p(x) = exp(-F(x)) / Z,   Z = integral over x of sum_h exp(-E(x, h))

with ``W`` (D, H) (the ``Linear`` layout: column ``w_j`` feeds hidden unit j), ``a`` (D,) and
``b`` (H,).  So ``log p(x) = -F(x) - log Z`` is the paper's formula with
Sigma = diag(scale_^2) and the centre and weights rescaled by the standardisation.  Its gradient
with respect to the pixels, what AM needs (chain rule through v = (x - mean_) / scale_), is

    d log p(x) / dx = ( -(v - a) + W sigmoid(W^T v + b) ) / scale_.

Training is contrastive divergence (CD-k, Hinton 2002) with momentum and weight decay, the
recipe of Hinton's "practical guide to training RBMs" for Gaussian visible units (small
learning rate, unit variance data).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np

from . import checks
from .files import read_estimator, save_estimator
from .train import SGD, sigmoid, softplus

__all__ = ["GaussianRBM", "RECIPE", "heldout_split", "train_default", "save_rbm", "load_rbm"]

#: hyper-parameters of the shipped expert ``data/rbm.npz`` (Figure 2: 900 hidden units)
RECIPE = dict(n_hidden=900, learning_rate=1e-3, n_epochs=60, batch_size=50, cd_steps=1,
              momentum=0.9, initial_momentum=0.5, momentum_switch=5, weight_decay=2e-4,
              min_scale=0.1, dtype="float32", random_state=0)

#: how the 5,000 embedded digits are split: the last ``n_heldout`` of a permutation drawn
#: with ``seed`` are held out (for the reconstruction error), the rest trained on
HELDOUT = dict(n_heldout=500, seed=0)

#: written into every RBM file; bump when the format changes
FORMAT_VERSION = 1
_KIND = "gaussian-bernoulli-rbm"


def heldout_split(n: int, *, n_heldout: int = HELDOUT["n_heldout"],
                  seed: int = HELDOUT["seed"]) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out) of ``n`` samples: the last ``n_heldout`` of a seeded permutation.

    The embedded digits are sorted by class, so a permutation first keeps every class in
    both parts.  The same split serves the RBM and the decoder.
    """
    if not 0 < n_heldout < n:
        raise ValueError(f"n_heldout: expected 0 < n_heldout < n = {n}, got {n_heldout}")
    order = np.random.default_rng(seed).permutation(n)
    return order[:-n_heldout], order[-n_heldout:]


class GaussianRBM:
    """Gaussian-Bernoulli RBM on standardised pixels, trained by contrastive divergence.

    Scikit-learn conventions: hyper-parameters are stored unchanged, ``fit`` returns ``self``,
    learned arrays end in ``_``.  All methods take pixels ``x`` (N, D) in the project's
    [-1, 1] range; the standardisation is part of the model (see the module docstring).

    Parameters
    ----------
    n_hidden : int
        Number of binary hidden units H.
    learning_rate : float
        Step size of the CD updates (Gaussian visible units need a small one, ~1e-3).
    n_epochs, batch_size : int
    cd_steps : int
        k of CD-k: Gibbs steps from the data before the negative statistics are taken.
    momentum, initial_momentum : float
        Momentum of the updates, ``initial_momentum`` for the first ``momentum_switch`` epochs
        (while the gradient is large and erratic), ``momentum`` afterwards.
    momentum_switch : int
    weight_decay : float
        L2 penalty (weight_decay / 2) ||W||^2 on the weights (not the biases).
    min_scale : float
        Floor of the per-pixel standard deviation used to standardise, in pixel units.
    dtype : {"float64", "float32"}
        Precision of training and of the learned arrays (float32 trains twice as fast and
        halves the file).  The methods always compute in float64.
    random_state : int
        Seed of the generator that initialises, shuffles and samples: a seed gives one model.
    verbose : bool
        Print one line per epoch (reconstruction errors, time).

    Attributes
    ----------
    mean_, scale_ : array (D,)
        Standardisation v = (x - mean_) / scale_.
    W_ : array (D, H)
    a_ : array (D,)
        Visible bias (in standardised units).
    b_ : array (H,)
        Hidden bias.
    history_ : list of dict
        One record per epoch: ``train_error`` and (with ``X_val``) ``val_error``, the mean
        squared reconstruction error in pixel units.
    """

    def __init__(self, *, n_hidden: int = 900, learning_rate: float = 1e-3, n_epochs: int = 60,
                 batch_size: int = 50, cd_steps: int = 1, momentum: float = 0.9,
                 initial_momentum: float = 0.5, momentum_switch: int = 5,
                 weight_decay: float = 2e-4, min_scale: float = 0.1, dtype: str = "float64",
                 random_state: int = 0, verbose: bool = False):
        self.n_hidden = n_hidden
        self.learning_rate = learning_rate
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.cd_steps = cd_steps
        self.momentum = momentum
        self.initial_momentum = initial_momentum
        self.momentum_switch = momentum_switch
        self.weight_decay = weight_decay
        self.min_scale = min_scale
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self._check_hyper_parameters()        # refuse bad settings now, not after the data is read

    def get_params(self) -> dict:
        """The hyper-parameters, as given to ``__init__``."""
        return {name: getattr(self, name) for name in (
            "n_hidden", "learning_rate", "n_epochs", "batch_size", "cd_steps", "momentum",
            "initial_momentum", "momentum_switch", "weight_decay", "min_scale", "dtype",
            "random_state", "verbose")}

    def __repr__(self) -> str:
        return f"GaussianRBM({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # ----------------------------------------------------------------------------------------
    # checks

    def _check_hyper_parameters(self):
        for name in ("n_hidden", "n_epochs", "batch_size", "cd_steps"):
            checks.integer(getattr(self, name), name, low=1)
        for name in ("learning_rate", "min_scale"):
            checks.number(getattr(self, name), name, low=0, open_low=True)
        checks.number(self.weight_decay, "weight_decay", low=0)
        for name in ("momentum", "initial_momentum"):
            if checks.number(getattr(self, name), name, low=0) >= 1:
                raise ValueError(f"{name}: expected a number in [0, 1), got {getattr(self, name)!r}")
        checks.integer(self.momentum_switch, "momentum_switch", low=0)
        checks.choice(self.dtype, "dtype", ("float32", "float64"))

    def _check_x(self, x, what: str) -> np.ndarray:
        if not hasattr(self, "W_"):
            raise RuntimeError(f"GaussianRBM.{what}: the model is not fitted; call fit first")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.W_):
            raise ValueError(f"GaussianRBM.{what}: expected pixels of shape (N, {len(self.W_)}), "
                             f"got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"GaussianRBM.{what}: input contains NaN or Inf")
        return x

    # ----------------------------------------------------------------------------------------
    # the model: energy, conditionals, free energy

    def standardize(self, x) -> np.ndarray:
        """v = (x - mean_) / scale_, pixels (N, D) -> standardised units (N, D)."""
        x = self._check_x(x, "standardize")
        return (x - self.mean_) / self.scale_

    def energy(self, x, h) -> np.ndarray:
        """E(x, h) = 1/2 ||v - a||^2 - b^T h - v^T W h for pixels x (N, D), hidden h (N, H)."""
        v = self.standardize(x)
        h = np.asarray(h, dtype=np.float64)
        return (0.5 * ((v - self.a_) ** 2).sum(axis=1) - h @ self.b_
                - ((v @ self.W_) * h).sum(axis=1))

    def hidden_probability(self, x) -> np.ndarray:
        """p(h_j = 1 | x) = sigmoid(w_j^T v + b_j), shape (N, H)."""
        return sigmoid(self.standardize(x) @ self.W_ + self.b_)

    def visible_mean(self, h) -> np.ndarray:
        """E[x | h] = mean_ + scale_ (a + W h) in pixel units, shape (N, D)."""
        return self.mean_ + self.scale_ * (self.a_ + np.asarray(h, dtype=np.float64) @ self.W_.T)

    def free_energy(self, x) -> np.ndarray:
        """F(x) = 1/2 ||v - a||^2 - sum_j softplus(w_j^T v + b_j), shape (N,).

        ``exp(-F(x)) = sum_h exp(-E(x, h))``: the hidden units summed out in closed form.
        """
        v = self.standardize(x)
        return 0.5 * ((v - self.a_) ** 2).sum(axis=1) - softplus(v @ self.W_ + self.b_).sum(axis=1)

    def log_density(self, x) -> np.ndarray:
        """Unnormalised log p(x) = -F(x) = log p(x) + log Z, shape (N,) (Sec. 3.2).

        The constant log Z does not change where AM goes; :meth:`exact_log_partition`
        computes it for tiny models.
        """
        return -self.free_energy(x)

    def log_density_gradient(self, x) -> np.ndarray:
        """d log p(x) / dx = (-(v - a) + W sigmoid(W^T v + b)) / scale_, shape (N, D).

        The second factor is the chain rule of v = (x - mean_) / scale_: AM optimises in
        pixel space.
        """
        v = self.standardize(x)
        return (self.a_ - v + sigmoid(v @ self.W_ + self.b_) @ self.W_.T) / self.scale_

    def exact_log_partition(self) -> float:
        """log Z by summing over all 2^H hidden states, the visible integral in closed form.

        For each h, x | h is Gaussian, so integrating exp(-E) over x completes the square:

            log Z = logsumexp_h [ b^T h + 1/2 ||a + W h||^2 - 1/2 ||a||^2 ]
                    + D/2 log(2 pi) + sum_i log scale_i

        (the last term is the Jacobian of v -> x).  Exponential in H: for tests and teaching
        only, refused above 20 hidden units.
        """
        if not hasattr(self, "W_"):
            raise RuntimeError("GaussianRBM.exact_log_partition: the model is not fitted")
        D, H = self.W_.shape
        if H > 20:
            raise ValueError(f"exact_log_partition sums 2^H terms; H = {H} is too many (max 20)")
        hs = np.array(list(itertools.product((0.0, 1.0), repeat=H))).reshape(-1, H)  # (2^H, H)
        m = self.a_ + hs @ self.W_.T                                                  # (2^H, D)
        terms = hs @ self.b_ + 0.5 * (m ** 2).sum(axis=1) - 0.5 * self.a_ @ self.a_
        top = terms.max()
        return float(top + np.log(np.exp(terms - top).sum()) + 0.5 * D * np.log(2 * np.pi)
                     + np.log(self.scale_).sum())

    def reconstruct(self, x) -> np.ndarray:
        """Mean-field reconstruction E[x | h = p(h | x)], pixels (N, D) -> (N, D)."""
        return self.visible_mean(self.hidden_probability(x))

    def reconstruction_error(self, x) -> float:
        """Mean squared error of :meth:`reconstruct`, per pixel, in pixel units ([-1, 1] range)."""
        x = self._check_x(x, "reconstruction_error")
        return float(np.mean((self.reconstruct(x) - x) ** 2))

    # ----------------------------------------------------------------------------------------
    # training

    def fit(self, X, *, X_val=None) -> "GaussianRBM":
        """Learn the standardisation, then W, a, b by CD-k on pixels ``X`` (N, D).

        One update on a mini-batch v0 (standardised), with h ~ p(h | v) and v ~ p(v | h)
        alternated k times (Gibbs sampling) to give v_k:

            dW = <v0 p(h | v0)^T> - <v_k p(h | v_k)^T> - weight_decay W
            da = <v0> - <v_k>,     db = <p(h | v0)> - <p(h | v_k)>

        (<.> the batch mean), each applied with momentum.  ``X_val`` (M, D) is only used for the
        per-epoch held-out reconstruction error.
        """
        self._check_hyper_parameters()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 2 or not np.all(np.isfinite(X)):
            raise ValueError(f"X: expected finite pixels of shape (N, D), N >= 2, "
                             f"got shape {X.shape}")
        rng = np.random.default_rng(self.random_state)
        dtype = np.dtype(self.dtype)
        D, H = X.shape[1], int(self.n_hidden)
        self.mean_ = X.mean(axis=0).astype(dtype)
        self.scale_ = np.maximum(X.std(axis=0), self.min_scale).astype(dtype)
        # small random weights break the symmetry between hidden units; the visible bias
        # starts at the data mean, which is 0 after standardisation
        self.W_ = 0.01 * rng.standard_normal((D, H), dtype=dtype)
        self.a_ = np.zeros(D, dtype=dtype)
        self.b_ = np.zeros(H, dtype=dtype)
        if X_val is not None:
            X_val = self._check_x(X_val, "fit (X_val)")
        V = ((X - self.mean_) / self.scale_).astype(dtype)
        optimizer = SGD(self.learning_rate, self.initial_momentum)
        batch = int(self.batch_size)
        work = _CDWorkspace(min(batch, len(V)), D, H, dtype)
        self.history_ = []
        for epoch in range(1, int(self.n_epochs) + 1):
            start = time.perf_counter()
            switched = epoch > self.momentum_switch
            optimizer.momentum = self.momentum if switched else self.initial_momentum
            shuffled = V[rng.permutation(len(V))]           # (N, D): batches are contiguous views
            squared_error = 0.0
            for i in range(0, len(V), batch):
                v0 = shuffled[i:i + batch]
                squared_error += self._cd_update(v0, rng, work)
                optimizer.step([self.W_, self.a_, self.b_], work.descent)
            record = {"epoch": epoch, "train_error": squared_error / V.size}
            if X_val is not None:
                record["val_error"] = self.reconstruction_error(X_val)
            self.history_.append(record)
            if self.verbose:
                val = f"  held-out {record['val_error']:.4f}" if X_val is not None else ""
                print(f"RBM epoch {epoch:3d}/{self.n_epochs}  reconstruction error (pixel MSE): "
                      f"train {record['train_error']:.4f}{val}  "
                      f"({time.perf_counter() - start:.1f} s)", flush=True)
        return self

    def _cd_update(self, v0, rng, work: _CDWorkspace) -> float:
        """CD-k on a batch v0 (n, D): the descent directions (minus the ascent directions of
        :meth:`fit`'s docstring) for (W, a, b) written into ``work.descent``; returns the
        batch's squared reconstruction error in pixel units (for the progress report).

        Every product goes into ``work``'s arrays.  The reconstruction a + p(h | v0) W^T and
        the first Gibbs step's a + h W^T share one product: [p0; h] (2n, H) @ W^T.
        """
        n, W, a, b = len(v0), self.W_, self.a_, self.b_
        ph, wph = work.ph[:2 * n], work.wph[:2 * n]          # (2n, H), (2n, D)
        p0, h = ph[:n], ph[n:]                                # p(h | v0) and the sample h
        np.matmul(v0, W, out=p0)
        p0 += b
        sigmoid(p0, out=p0)                                   # p0 = sigmoid(v0 W + b)
        p = p0
        for step in range(int(self.cd_steps)):
            np.less(rng.random(p.shape, dtype=v0.dtype, out=work.u[:n]), p, out=h)  # h ~ p(h | v)
            noise = rng.standard_normal(v0.shape, dtype=v0.dtype, out=work.noise[:n])
            if step == 0:
                np.matmul(ph, W.T, out=wph)                   # [p0 W^T; h W^T]
            else:
                np.matmul(h, W.T, out=wph[n:])
            v = wph[n:]
            v += a
            v += noise                                        # v ~ N(a + W h, I)
            p = work.pk[:n]
            np.matmul(v, W, out=p)
            p += b
            sigmoid(p, out=p)                                 # p = sigmoid(v W + b)
            if step == 0:                                     # before a next step overwrites it
                error = wph[:n]
                error += a                                    # reconstruction a + p0 W^T
                error -= v0
                error *= self.scale_
                error *= error
                squared_error = float(error.sum())
        # dW = -(<v0 p0^T> - <v p^T>) + weight_decay W, da = -(<v0> - <v>), db = -(<p0> - <p>);
        # the two averages as one product [v; v0]^T [p; -p0] / n: no pass over a (D, H) array
        # to subtract them and divide (the passes over W's size cost as much as a product here)
        dW, da, db = work.descent
        vv, pp = work.vv[:2 * n], work.pp[:2 * n]
        vv[:n], vv[n:] = v, v0
        np.divide(p, n, out=pp[:n])
        np.divide(p0, -n, out=pp[n:])
        np.matmul(vv.T, pp, out=dW)
        if self.weight_decay:
            dW += np.multiply(W, float(self.weight_decay), out=work.dW)
        np.mean(v - v0, axis=0, out=da)
        np.mean(p - p0, axis=0, out=db)
        return squared_error


class _CDWorkspace:
    """The arrays one CD update writes into, allocated once per :meth:`GaussianRBM.fit` for
    batches of up to ``n`` samples (a smaller last batch uses their first rows)."""

    def __init__(self, n: int, D: int, H: int, dtype):
        self.ph = np.empty((2 * n, H), dtype)     # [p(h | v0); h]
        self.wph = np.empty((2 * n, D), dtype)    # [p(h | v0) W^T; h W^T]
        self.pk = np.empty((n, H), dtype)         # p(h | v_k)
        self.u = np.empty((n, H), dtype)          # uniforms that sample h
        self.noise = np.empty((n, D), dtype)      # Gaussian noise that samples v
        self.vv = np.empty((2 * n, D), dtype)    # [v_k; v0]
        self.pp = np.empty((2 * n, H), dtype)    # [p(h | v_k); -p(h | v0)] / n
        self.dW = np.empty((D, H), dtype)
        self.descent = [np.empty((D, H), dtype), np.empty(D, dtype), np.empty(H, dtype)]


# --------------------------------------------------------------------------------------------
# the shipped expert: training recipe, saving and loading

def train_default(images: np.ndarray, *, verbose: bool = True) -> GaussianRBM:
    """Train the shipped expert with :data:`RECIPE` on uint8 digits (N, 28, 28).

    Pixels go to [-1, 1] by ``data.to_input``; the split is :func:`heldout_split`, whose
    held-out digits give the per-epoch reconstruction error.  Deterministic for a machine.
    """
    from .data import to_input
    x = to_input(np.asarray(images)).reshape(len(images), -1)
    train, heldout = heldout_split(len(x))
    if verbose:
        print(f"training a Gaussian RBM on {len(train)} digits ({len(heldout)} held out): {RECIPE}",
              flush=True)
    return GaussianRBM(**RECIPE, verbose=verbose).fit(x[train], X_val=x[heldout])


_ARRAYS = ("mean_", "scale_", "W_", "a_", "b_")


def save_rbm(rbm: GaussianRBM, path, *, metadata: dict | None = None) -> Path:
    """Write a fitted RBM to ``path`` (.npz): its arrays, hyper-parameters and history as JSON.

    The same model always gives the same bytes (no time stamps), so a checksum identifies it.
    """
    if not hasattr(rbm, "W_"):
        raise ValueError("save_rbm: the model is not fitted")
    return save_estimator(path, rbm, kind=_KIND, version=FORMAT_VERSION,
                          arrays={name: getattr(rbm, name) for name in _ARRAYS}, metadata=metadata)


def load_rbm(path, *, with_metadata: bool = False):
    """Read an RBM written by :func:`save_rbm`; a corrupt or mismatched file gets a ValueError."""
    header, arrays = read_estimator(path, kind=_KIND, version=FORMAT_VERSION, what="RBM")
    missing = [name for name in _ARRAYS if name not in arrays]
    if missing:
        raise ValueError(f"{path}: RBM file misses arrays {missing}")
    try:
        rbm = GaussianRBM(**header["params"])
    except TypeError as e:
        raise ValueError(f"{path}: the file's hyper-parameters do not fit this version: {e}") from e
    for name in _ARRAYS:
        setattr(rbm, name, arrays[name])
    rbm.history_ = header["history"]
    D, H = rbm.W_.shape if rbm.W_.ndim == 2 else (None, None)
    shapes = {name: getattr(rbm, name).shape for name in _ARRAYS}
    expected = {"mean_": (D,), "scale_": (D,), "W_": (D, H), "a_": (D,), "b_": (H,)}
    if D is None or shapes != expected or H != rbm.n_hidden:
        raise ValueError(f"{path}: RBM arrays do not fit together: {shapes}, "
                         f"n_hidden={rbm.n_hidden}")
    if any(getattr(rbm, n).dtype != np.dtype(rbm.dtype) for n in _ARRAYS):
        raise ValueError(f"{path}: RBM arrays are not all of the recorded dtype {rbm.dtype}")
    if not (np.all(rbm.scale_ > 0) and all(np.all(np.isfinite(getattr(rbm, n))) for n in _ARRAYS)):
        raise ValueError(f"{path}: RBM arrays hold non-finite values or a scale <= 0")
    return (rbm, header["metadata"]) if with_metadata else rbm

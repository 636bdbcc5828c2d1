"""The generative model of Sec. 3.3: a decoding function g(z) learned as a variational autoencoder.

AM in code space (Sec. 3.3) needs a decoder g: Z -> X such that codes z drawn from a simple
distribution q(z) = N(0, I) decode to data.  The paper's Figure 2 uses a two-layer decoding
function 100 -> 900 -> 784; here it is learned as the decoder of a variational autoencoder
(Kingma & Welling 2014):

    encoder   x -> 900 (ReLU) -> (mu(x), log sigma^2(x)),  q(z | x) = N(mu, diag(sigma^2))
    decoder   z -> 900 (ReLU) -> logits l(z) (784)
    prior     p(z) = N(0, I)

trained by maximising the evidence lower bound (ELBO) of each digit,

    ELBO(x) = E_{q(z|x)} [ log p(x | z) ] - KL( q(z | x) || N(0, I) ),
    KL = 1/2 sum_k ( mu_k^2 + sigma_k^2 - 1 - log sigma_k^2 ),

with one sample z = mu + sigma * eps, eps ~ N(0, I) (the reparameterisation trick, which
makes the sample differentiable in mu and sigma), and Adam.  The loss minimised is
beta KL - log p(x | z), which is -ELBO for beta = 1.  A beta above 1 (the beta-VAE of Higgins
et al. 2017) pulls every q(z | x) towards the prior: with only 4,500 training digits the
plain ELBO leaves gaps in code space between the training codes, and codes drawn from
N(0, I) that fall into them decode to scribbles; beta = 2 narrows the gaps at the price of
blurrier reconstructions (see ``RECIPE`` and data/README.md for the measured effect).

Pixels.  The API speaks the project's pixel convention, x in [-1, 1].  The Bernoulli
likelihood works on t = (x + 1) / 2 in [0, 1] (the grey level read as the probability of
ink): log p(x | z) = sum_i t_i l_i - softplus(l_i).  Its mean, sigmoid(l) in [0, 1], is mapped
back to [-1, 1] for the classifier, so the decoding function of AM is

    g(z) = 2 sigmoid(l(z)) - 1 = tanh(l(z) / 2).

The Gaussian likelihood, x | z ~ N(g(z), noise_std^2 I) in [-1, 1] units, is the alternative.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import checks
from .files import read_estimator, save_estimator
from .layers import Linear, ReLU
from .network import Sequential
from .train import Adam, sigmoid, softplus

__all__ = ["VAE", "RECIPE", "train_default", "save_vae", "load_vae"]

#: hyper-parameters of the shipped decoder ``data/vae.npz`` (Figure 2: 100 -> 900 -> 784).
#: Measured by the shipped CNN's mean largest class probability on 1,000 decoded samples
#: z ~ N(0, I): beta = 1 gave 0.76 after 40 epochs and 0.85 after 300; beta = 2 gives
#: 0.86-0.88 after 200 (over seeds); beta from 3 to 12 or 400 epochs were no better.
RECIPE = dict(n_latent=100, n_hidden=900, likelihood="bernoulli", learning_rate=1e-3,
              n_epochs=200, batch_size=100, beta=2.0, dtype="float32", random_state=0)

#: written into every VAE file; bump when the format changes
FORMAT_VERSION = 1
_KIND = "variational-autoencoder"
_LIKELIHOODS = ("bernoulli", "gaussian")


def _mlp(d_in: int, d_hidden: int, d_out: int, rng: np.random.Generator, dtype) -> Sequential:
    return Sequential([Linear.init(d_in, d_hidden, rng=rng, dtype=dtype), ReLU(),
                       Linear.init(d_hidden, d_out, rng=rng, dtype=dtype)], input_shape=(d_in,))


def _parameters(net: Sequential) -> list[np.ndarray]:
    """Every parameter of ``net``, in the order of ``Sequential.parameter_gradients``."""
    return [p for layer in net.layers for p in layer.params().values()]


def _parameter_gradients(net: Sequential, A, G) -> list[np.ndarray]:
    return [g for _, _, g in net.parameter_gradients(A, G)]


class VAE:
    """Variational autoencoder with a two-layer encoder and decoder (Sec. 3.3, Figure 2).

    Scikit-learn conventions: hyper-parameters stored unchanged, ``fit`` returns ``self``,
    learned things end in ``_``.

    Parameters
    ----------
    n_latent : int
        Code size d (100 in the paper's Figure 2).
    n_hidden : int
        Hidden units of the encoder and of the decoder (900).
    likelihood : {"bernoulli", "gaussian"}
        p(x | z), see the module docstring.
    noise_std : float
        Standard deviation of the Gaussian likelihood, in [-1, 1] pixel units.
    learning_rate : float
        Adam's initial step, decayed to 0 by a cosine schedule over training.
    n_epochs, batch_size : int
    beta : float > 0
        Weight of the KL term; 1 is the VAE (see the module docstring).
    dtype : {"float64", "float32"}
        Precision of training and of the parameters (float32 trains twice as fast and halves
        the file).  The methods always compute in float64.
    random_state : int
        Seed of the generator that initialises, shuffles and draws eps.
    verbose : bool
        Print one line per epoch: the loss, its KL part, the held-out loss and held-out
        reconstruction error.

    Attributes
    ----------
    encoder_ : Sequential, (N, D) -> (N, 2 d): [mu, log sigma^2]
    decoder_ : Sequential, (N, d) -> (N, D): the logits l(z)
    history_ : list of dict, one per epoch
    """

    def __init__(self, *, n_latent: int = 100, n_hidden: int = 900, likelihood: str = "bernoulli",
                 noise_std: float = 0.2, learning_rate: float = 1e-3, n_epochs: int = 40,
                 batch_size: int = 100, beta: float = 1.0, dtype: str = "float64",
                 random_state: int = 0, verbose: bool = False):
        self.n_latent = n_latent
        self.n_hidden = n_hidden
        self.likelihood = likelihood
        self.noise_std = noise_std
        self.learning_rate = learning_rate
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.beta = beta
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self._check_hyper_parameters()        # refuse bad settings now, not after the data is read

    def get_params(self) -> dict:
        """The hyper-parameters, as given to ``__init__``."""
        return {name: getattr(self, name) for name in (
            "n_latent", "n_hidden", "likelihood", "noise_std", "learning_rate", "n_epochs",
            "batch_size", "beta", "dtype", "random_state", "verbose")}

    def __repr__(self) -> str:
        return f"VAE({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def _check_hyper_parameters(self):
        for name in ("n_latent", "n_hidden", "n_epochs", "batch_size"):
            checks.integer(getattr(self, name), name, low=1)
        checks.choice(self.likelihood, "likelihood", _LIKELIHOODS)
        for name in ("learning_rate", "noise_std", "beta"):
            checks.number(getattr(self, name), name, low=0, open_low=True)
        checks.choice(self.dtype, "dtype", ("float32", "float64"))

    def _check(self, a, size: int, what: str) -> np.ndarray:
        if not hasattr(self, "decoder_"):
            raise RuntimeError(f"VAE.{what}: the model is not fitted; call fit first")
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != size:
            raise ValueError(f"VAE.{what}: expected shape (N, {size}), got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"VAE.{what}: input contains NaN or Inf")
        return a

    @property
    def n_pixels(self) -> int:
        """D, the size of a decoded sample."""
        return self.decoder_.layers[-1].W.shape[1]

    # ----------------------------------------------------------------------------------------
    # encoding and decoding

    def posterior(self, x) -> tuple[np.ndarray, np.ndarray]:
        """q(z | x) = N(mu, diag(exp(log_var))): pixels (N, D) in [-1, 1] -> mu, log_var (N, d)."""
        x = self._check(x, self.encoder_.layers[0].W.shape[0], "posterior")
        h = self.encoder_.forward(x)
        return h[:, :self.n_latent], h[:, self.n_latent:]

    def encode(self, x) -> np.ndarray:
        """The mean code mu(x), (N, D) -> (N, d): what AM's z_bar averages over a class."""
        return self.posterior(x)[0]

    def decode(self, z) -> np.ndarray:
        """g(z) = tanh(l(z) / 2), the likelihood's mean in [-1, 1] pixels, (N, d) -> (N, D)."""
        z = self._check(z, self.n_latent, "decode")
        return np.tanh(0.5 * self.decoder_.forward(z))

    def decode_gradient(self, z, grad_out) -> np.ndarray:
        """d sum(g(z) * grad_out) / dz, (N, d): the pull-back that AM in code space needs.

        dg/dl = (1 - g^2) / 2 (tanh's derivative), then back through the decoder's layers.
        """
        z = self._check(z, self.n_latent, "decode_gradient")
        grad_out = np.asarray(grad_out, dtype=np.float64)
        if grad_out.shape != (len(z), self.n_pixels):
            raise ValueError(f"VAE.decode_gradient: grad_out must have shape "
                             f"({len(z)}, {self.n_pixels}), one row per code, "
                             f"got shape {grad_out.shape}")
        A = self.decoder_.activations(z)
        g = np.tanh(0.5 * A[-1])
        return self.decoder_.backward(A, grad_out * 0.5 * (1.0 - g * g))[0]

    def sample(self, n: int, *, rng: np.random.Generator) -> np.ndarray:
        """n digits g(z), z ~ N(0, I): (n, D) pixels in [-1, 1]."""
        return self.decode(rng.standard_normal((int(n), self.n_latent)))

    def reconstruct(self, x) -> np.ndarray:
        """g(mu(x)): decode the mean code, (N, D) -> (N, D)."""
        return self.decode(self.encode(x))

    def reconstruction_error(self, x) -> float:
        """Mean squared error of :meth:`reconstruct` per pixel, in [-1, 1] pixel units."""
        x = self._check(x, self.n_pixels, "reconstruction_error")
        return float(np.mean((self.reconstruct(x) - x) ** 2))

    # ----------------------------------------------------------------------------------------
    # the ELBO and its gradient

    def _log_likelihood(self, x, logits):
        """log p(x | z) per sample (N,) and its gradient with respect to the logits (N, D)."""
        if self.likelihood == "bernoulli":
            t = 0.5 * (x + 1.0)
            return (t * logits - softplus(logits)).sum(axis=1), t - sigmoid(logits)
        g = np.tanh(0.5 * logits)
        s2 = float(self.noise_std) ** 2
        value = -0.5 * ((x - g) ** 2).sum(axis=1) / s2 - 0.5 * x.shape[1] * np.log(2 * np.pi * s2)
        return value, (x - g) / s2 * 0.5 * (1.0 - g * g)

    def loss(self, x, eps) -> tuple[float, dict]:
        """Mean loss beta KL - log p(x | z) (-ELBO if beta = 1) of the batch x (N, D) for the
        noise eps (N, d), and its parts ``kl`` and ``log_likelihood``.

        With eps fixed this is a deterministic function of the parameters, whose gradient
        :meth:`loss_gradients` computes (and a finite-difference check can verify).
        """
        return self._loss(x, eps, gradients=False)[:2]

    def loss_gradients(self, x, eps) -> list[np.ndarray]:
        """Gradient of :meth:`loss` for the parameters, in the order of :meth:`parameters`."""
        return self._loss(x, eps, gradients=True)[2]

    def _loss(self, x, eps, *, gradients: bool):
        """The loss, its parts and (if asked) its parameter gradients, from one forward pass.

        Back-propagation through z = mu + sigma eps:
        d/d mu = d/dz + beta mu,  d/d log_var = d/dz eps sigma / 2 + beta (exp(log_var) - 1) / 2
        (the beta terms are the KL's), all divided by the batch size.
        """
        # a Python float: an np.float64 beta would promote float32 gradients to float64
        n, beta = len(x), float(self.beta)
        A = self.encoder_.activations(x)
        mu, log_var = A[-1][:, :self.n_latent], A[-1][:, self.n_latent:]
        z = mu + np.exp(0.5 * log_var) * eps                   # reparameterisation
        B = self.decoder_.activations(z)
        log_lik, d_logits = self._log_likelihood(x, B[-1])
        kl = 0.5 * (mu ** 2 + np.exp(log_var) - 1.0 - log_var).sum(axis=1)
        loss = float(np.mean(beta * kl - log_lik))
        parts = {"kl": float(kl.mean()), "log_likelihood": float(log_lik.mean())}
        if not gradients:
            return loss, parts, None
        GB = self.decoder_.backward(B, -d_logits / n)
        d_mu = GB[0] + beta * mu / n
        d_log_var = (GB[0] * eps * 0.5 * np.exp(0.5 * log_var)
                     + beta * 0.5 * (np.exp(log_var) - 1.0) / n)
        GA = self.encoder_.backward(A, np.concatenate([d_mu, d_log_var], axis=1), input_gradient=False)
        grads = (_parameter_gradients(self.decoder_, B, GB)
                 + _parameter_gradients(self.encoder_, A, GA))
        return loss, parts, grads

    def parameters(self) -> list[np.ndarray]:
        """The parameter arrays, updated in place by training; decoder's first, then encoder's."""
        return _parameters(self.decoder_) + _parameters(self.encoder_)

    def _initialize(self, n_pixels: int) -> None:
        """Fresh random parameters for D = ``n_pixels`` (He initialisation)."""
        rng = np.random.default_rng(self.random_state)
        self.encoder_ = _mlp(n_pixels, int(self.n_hidden), 2 * int(self.n_latent), rng, self.dtype)
        self.decoder_ = _mlp(int(self.n_latent), int(self.n_hidden), n_pixels, rng, self.dtype)
        # a small last encoder layer starts every q(z | x) near N(0, I): the KL term is small
        # and the decoder sees codes of the prior's scale from the first step
        self.encoder_.layers[-1].W *= 0.1

    # ----------------------------------------------------------------------------------------
    # training

    def fit(self, X, *, X_val=None) -> "VAE":
        """Minimise the mean loss beta KL - log p(x | z) (the -ELBO for beta = 1) of pixels
        X (N, D) in [-1, 1] by Adam on mini-batches, the step decayed to 0 by a cosine schedule.

        ``X_val`` (M, D) only feeds the per-epoch report (held-out loss with a fixed eps, and
        reconstruction error).  Returns ``self``.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 1 or not np.all(np.isfinite(X)):
            raise ValueError(f"X: expected finite pixels of shape (N, D), "
                             f"got shape {X.shape}")
        if X.min() < -1 or X.max() > 1:
            raise ValueError("VAE.fit: pixels must be in [-1, 1] (data.to_input)")
        self._check_hyper_parameters()
        self._initialize(X.shape[1])
        dtype = np.dtype(self.dtype)
        X = X.astype(dtype)
        rng = np.random.default_rng([self.random_state, 1])  # another stream than init's
        if X_val is not None:
            X_val = self._check(X_val, X.shape[1], "fit (X_val)")
            eps_val = np.random.default_rng([self.random_state, 2]).standard_normal(
                (len(X_val), int(self.n_latent)))
        optimizer = Adam(self.learning_rate)
        batch = int(self.batch_size)
        total_steps, step = int(self.n_epochs) * -(-len(X) // batch), 0
        self.history_ = []
        for epoch in range(1, int(self.n_epochs) + 1):
            start = time.perf_counter()
            order = rng.permutation(len(X))
            losses, kls = [], []
            for i in range(0, len(X), batch):
                xb = X[order[i:i + batch]]
                eps = rng.standard_normal((len(xb), int(self.n_latent)), dtype=dtype)
                loss, parts, grads = self._loss(xb, eps, gradients=True)
                losses.append(loss)
                kls.append(parts["kl"])
                lr_scale = 0.5 * (1.0 + np.cos(np.pi * step / total_steps))
                optimizer.step(self.parameters(), grads, lr_scale)
                step += 1
            record = {"epoch": epoch, "loss": float(np.mean(losses)), "kl": float(np.mean(kls))}
            if X_val is not None:
                record["val_loss"] = self.loss(X_val, eps_val)[0]
                record["val_error"] = self.reconstruction_error(X_val)
            self.history_.append(record)
            if self.verbose:
                val = (f"  held-out loss {record['val_loss']:.2f}, reconstruction error "
                       f"(pixel MSE) {record['val_error']:.4f}" if X_val is not None else "")
                print(f"VAE epoch {epoch:3d}/{self.n_epochs}  loss {record['loss']:.2f} "
                      f"(KL {record['kl']:.2f}){val}  ({time.perf_counter() - start:.1f} s)",
                      flush=True)
        return self


# --------------------------------------------------------------------------------------------
# the shipped decoder: training recipe, saving and loading

def train_default(images: np.ndarray, *, verbose: bool = True) -> VAE:
    """Train the shipped VAE with :data:`RECIPE` on uint8 digits (N, 28, 28).

    Pixels go to [-1, 1] by ``data.to_input``; the held-out digits are those of
    ``rbm.heldout_split`` (the same as the expert's).  Deterministic for a machine.
    """
    from .data import to_input
    from .rbm import heldout_split
    x = to_input(np.asarray(images)).reshape(len(images), -1)
    train, heldout = heldout_split(len(x))
    if verbose:
        print(f"training a VAE on {len(train)} digits ({len(heldout)} held out): {RECIPE}",
              flush=True)
    return VAE(**RECIPE, verbose=verbose).fit(x[train], X_val=x[heldout])


def save_vae(vae: VAE, path, *, metadata: dict | None = None) -> Path:
    """Write a fitted VAE to ``path`` (.npz): encoder and decoder arrays, hyper-parameters and
    history as JSON.  The same model always gives the same bytes."""
    if not hasattr(vae, "decoder_"):
        raise ValueError("save_vae: the model is not fitted")
    arrays = {f"{part}.layer{i}.{name}": value
              for part, net in (("encoder", vae.encoder_), ("decoder", vae.decoder_))
              for i, layer in enumerate(net.layers) for name, value in layer.params().items()}
    return save_estimator(path, vae, kind=_KIND, version=FORMAT_VERSION,
                          arrays=arrays, metadata=metadata)


def load_vae(path, *, with_metadata: bool = False):
    """Read a VAE written by :func:`save_vae`; a corrupt or mismatched file gets a ValueError."""
    header, arrays = read_estimator(path, kind=_KIND, version=FORMAT_VERSION, what="VAE")
    try:
        vae = VAE(**header["params"])
    except TypeError as e:
        raise ValueError(f"{path}: the file's hyper-parameters do not fit this version: {e}") from e
    try:
        nets = {}
        for part in ("encoder", "decoder"):
            W0, b0 = arrays[f"{part}.layer0.W"], arrays[f"{part}.layer0.b"]
            W2, b2 = arrays[f"{part}.layer2.W"], arrays[f"{part}.layer2.b"]
            nets[part] = Sequential([Linear(W0, b0), ReLU(), Linear(W2, b2)],
                                    input_shape=(W0.shape[0],))
            if nets[part].dtype != np.dtype(vae.dtype):
                raise ValueError(f"{part} arrays are {nets[part].dtype}, "
                                 f"the header says {vae.dtype}")
            nets[part].forward(np.zeros((1, W0.shape[0])))
    except KeyError as e:
        raise ValueError(f"{path}: VAE file misses array {e.args[0]}") from e
    except ValueError as e:
        raise ValueError(f"{path}: VAE arrays do not fit together: {e}") from e
    D, d = nets["encoder"].layers[0].W.shape[0], int(vae.n_latent)
    if (nets["encoder"].layers[-1].W.shape[1] != 2 * d or nets["decoder"].layers[0].W.shape[0] != d
            or nets["decoder"].layers[-1].W.shape[1] != D):
        raise ValueError(f"{path}: VAE arrays do not fit together: encoder {D} -> 2 x {d}, "
                         f"decoder {nets['decoder'].layers[0].W.shape[0]} -> "
                         f"{nets['decoder'].layers[-1].W.shape[1]}")
    vae.encoder_, vae.decoder_ = nets["encoder"], nets["decoder"]
    vae.history_ = header["history"]
    return (vae, header["metadata"]) if with_metadata else vae

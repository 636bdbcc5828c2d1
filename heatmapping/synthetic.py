"""Synthetic scientific data with a planted truth, for the applications of Sec. 8.2 (Figure 10).

Sec. 8.2 of the paper reports explanations of EEG classifiers (Sturm et al. 2016, Figure 10b)
and of DNA-sequence classifiers (Alipanahi et al. 2015, Vidovic et al. 2016, Figure 10c).
Their data are not shipped here; instead two *synthetic* generators plant a known answer, so
that an explanation can be scored against it:

* :func:`eeg_like`: multichannel signals (N, 1, C, T) whose two classes ("right hand",
  "foot") differ only by the frequency of an oscillation in a few channels during a time
  window; the truth is that (channel, time) mask.
* :func:`dna_like`: one-hot sequences (N, 1, 4, L) whose positive class carries a motif;
  the truth is the motif's positions.

For each, a small conv net built from the project's layers (:func:`eeg_net`, :func:`dna_net`),
a training function with a fixed seed (:func:`train_eeg`, :func:`train_dna`), and a report of
the key numbers (:func:`eeg_report`, :func:`dna_report`) shared by the course (part 10) and
the tour.  Randomness is an explicit ``rng`` argument.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.stats import rankdata

from . import explain, metrics
from .layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, SumPool2d
from .network import Sequential
from .lrp import resolve_rules
from .rules import ZBox
from .train import Trainer, accuracy

__all__ = ["eeg_like", "dna_like", "one_hot", "motif_mask", "NUCLEOTIDES", "EEG_CLASSES",
           "eeg_net", "dna_net", "log_odds", "train_eeg", "train_dna", "EEG_METHODS", "dna_methods",
           "in_silico_mutagenesis", "position_scores", "motif_ranks", "eeg_report",
           "dna_report", "eeg_experiment", "dna_experiment", "RECIPES"]

#: the rows of the one-hot encoding, in this order
NUCLEOTIDES = "ACGT"
#: the two imagined movements of Figure 10(b), class 0 and class 1
EEG_CLASSES = ("right hand", "foot")


# ------------------------------------------------------------------------------- checks
def _positive_int(value, name: str, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _generator(rng, where: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{where}: rng must be a numpy.random.Generator "
                        f"(np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def _balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """n labels, n // 2 zeros and the rest ones, in random order."""
    return rng.permutation(np.repeat([0, 1], [n // 2, n - n // 2]))


# ------------------------------------------------------------------------- EEG-like data
def eeg_like(n: int, *, channels: int = 16, steps: int = 128, rng: np.random.Generator,
             planted=(3, 4, 11), window=(40, 90), freqs=(0.08, 0.2), amplitude: float = 1.5,
             background: float = 0.5, noise: float = 1.0):
    """Synthetic EEG-like trials of two imagined movements with a planted answer.

    Generative model (t = 0..T-1 time steps, c = 0..C-1 channels, class y in {0, 1}):

        x[c, t] = noise * e[c, t]                                    white noise, e ~ N(0, 1)
                + background * sin(2 pi g_c t + psi_c)               a rhythm in every channel
                + 1[c in planted, t0 <= t < t1] * amplitude * sin(2 pi freqs[y] t + phi_c)

    with random phases psi_c, phi_c ~ U[0, 2 pi) and a background frequency g_c ~ U[freqs]
    drawn per trial and channel.  Class 0 ("right hand") oscillates at ``freqs[0]`` in the
    ``planted`` channels during ``window`` = [t0, t1), class 1 ("foot") at ``freqs[1]``: the
    band power at each of the two frequencies differs between the classes there, and only
    there.  The background rhythm, whose frequency lies between the two, is a distractor
    present everywhere.  The values are signed and unbounded, as recorded potentials are.

    Parameters
    ----------
    n : int, number of trials (classes balanced: n // 2 of class 0)
    channels, steps : int, C and T
    rng : numpy.random.Generator
    planted : channel indices; window : (t0, t1) with 0 <= t0 < t1 <= T
    freqs : (f0, f1) in cycles per step, 0 < f < 0.5, f0 != f1
    amplitude, background, noise : float >= 0 (amplitude > 0)

    Returns
    -------
    X : (n, 1, C, T) float64;  y : (n,) int64;  truth : (C, T) bool, the planted channels
    during the window.
    """
    where = "eeg_like"
    rng = _generator(rng, where)
    n = _positive_int(n, "n", where)
    C = _positive_int(channels, "channels", where)
    T = _positive_int(steps, "steps", where)
    planted = np.unique(np.asarray(planted, dtype=int))
    if planted.size == 0 or planted.min() < 0 or planted.max() >= C:
        raise ValueError(f"{where}: planted must be non-empty channel indices in 0..{C - 1}, "
                         f"got {planted.tolist()}")
    t0, t1 = (int(v) for v in window)
    if not 0 <= t0 < t1 <= T:
        raise ValueError(f"{where}: window must be (t0, t1) with 0 <= t0 < t1 <= steps={T}, "
                         f"got {tuple(window)}")
    f = np.asarray(freqs, dtype=float)
    if f.shape != (2,) or not (np.all(f > 0) and np.all(f < 0.5)) or f[0] == f[1]:
        raise ValueError(f"{where}: freqs must be two different frequencies in (0, 0.5) "
                         f"cycles per step, got {freqs!r}")
    for name, value in (("amplitude", amplitude), ("background", background), ("noise", noise)):
        if not (np.isfinite(value) and value >= 0) or (name == "amplitude" and value == 0):
            raise ValueError(f"{where}: {name} must be a finite number "
                             f"{'> 0' if name == 'amplitude' else '>= 0'}, got {value!r}")
    y = _balanced_labels(n, rng)
    t = np.arange(T)
    X = noise * rng.standard_normal((n, C, T))
    g = rng.uniform(f.min(), f.max(), size=(n, C, 1))
    X += background * np.sin(2 * np.pi * g * t + rng.uniform(0, 2 * np.pi, (n, C, 1)))
    phase = rng.uniform(0, 2 * np.pi, (n, planted.size, 1))
    tw = t[t0:t1]
    X[:, planted, t0:t1] += amplitude * np.sin(2 * np.pi * f[y][:, None, None] * tw + phase)
    truth = np.zeros((C, T), dtype=bool)
    truth[planted, t0:t1] = True
    return X[:, None], y.astype(np.int64), truth


# ------------------------------------------------------------------------- DNA-like data
def one_hot(codes: np.ndarray) -> np.ndarray:
    """Integer sequences (N, L) with values 0..3 (A, C, G, T) -> one-hot (N, 1, 4, L) float."""
    codes = np.asarray(codes)
    return (codes[:, None, None, :] == np.arange(4)[None, None, :, None]).astype(float)


def _motif_codes(motif: str, where: str) -> np.ndarray:
    if not isinstance(motif, str) or not motif or set(motif.upper()) - set(NUCLEOTIDES):
        raise ValueError(f"{where}: motif must be a non-empty string over {NUCLEOTIDES}, "
                         f"got {motif!r}")
    return np.array([NUCLEOTIDES.index(ch) for ch in motif.upper()])


def _occurrences(codes: np.ndarray, motif: np.ndarray) -> np.ndarray:
    """(N, L - m + 1) bool: the motif starts at that position."""
    windows = np.lib.stride_tricks.sliding_window_view(codes, len(motif), axis=1)
    return np.all(windows == motif, axis=2)


def motif_mask(codes: np.ndarray, motif: str = "TATAAT") -> np.ndarray:
    """(N, L) bool: the positions covered by any occurrence of ``motif`` in the integer
    sequences ``codes`` (N, L)."""
    m = _motif_codes(motif, "motif_mask")
    starts = _occurrences(np.asarray(codes), m)
    mask = np.zeros(np.shape(codes), dtype=bool)
    for k in range(len(m)):
        mask[:, k:k + starts.shape[1]] |= starts
    return mask


def dna_like(n: int, *, length: int = 100, motif: str = "TATAAT", rng: np.random.Generator,
             decoy: bool = False):
    """Random DNA-like sequences; the positive class carries a planted motif.

    Generative model: every nucleotide is drawn uniformly from A, C, G, T.  A positive
    sequence (y = 1) gets ``motif`` written at a position drawn uniformly from 0..L-m; a
    negative one (y = 0) gets, if ``decoy``, the motif with one random letter changed
    (a near miss, so that the classifier must read the whole motif).  Negatives that contain
    the motif anywhere, by chance or where the decoy meets its neighbours, are drawn again,
    so the motif is present in the positives only.

    Returns
    -------
    X : (n, 1, 4, L) float64, one-hot with rows A, C, G, T;  y : (n,) int64, classes
    balanced;  mask : (n, L) bool, the positions covered by an occurrence of the motif (all
    False for negatives; for a positive at least the planted m positions).
    """
    where = "dna_like"
    rng = _generator(rng, where)
    n = _positive_int(n, "n", where)
    m = _motif_codes(motif, where)
    L = _positive_int(length, "length", where, minimum=len(m))
    y = _balanced_labels(n, rng)
    codes = np.empty((n, L), dtype=np.int64)
    redraw = np.ones(n, dtype=bool)
    while redraw.any():
        k = int(redraw.sum())
        fresh = rng.integers(0, 4, size=(k, L))
        start = rng.integers(0, L - len(m) + 1, size=k)
        planted = np.broadcast_to(m, (k, len(m))).copy()
        negative = y[redraw] == 0
        if decoy:                       # one letter of the motif changed to another one
            which = rng.integers(0, len(m), size=k)
            rows = np.nonzero(negative)[0]
            planted[rows, which[rows]] = (planted[rows, which[rows]]
                                          + rng.integers(1, 4, size=k)[rows]) % 4
        put = ~negative | decoy
        cols = start[:, None] + np.arange(len(m))
        fresh[np.nonzero(put)[0][:, None], cols[put]] = planted[put]
        codes[redraw] = fresh
        redraw = (y == 0) & _occurrences(codes, m).any(axis=1)
    return one_hot(codes), y.astype(np.int64), motif_mask(codes, motif)


# ------------------------------------------------------------------------------ networks
def eeg_net(*, rng: np.random.Generator, channels: int = 16, steps: int = 128,
            filters: int = 8, kernel: int = 9, pool: int = 8, hidden: int = 16) -> Sequential:
    """A small conv net for (N, 1, C, T) trials, output logits (N, 2)::

        conv (1 x kernel) 1->filters over time, per channel, ReLU   (band detectors)
        sum-pool (1 x pool) over time                                (band power in a bin)
        conv (C x 1) filters->hidden, mixing all channels, ReLU      (spatial patterns)
        flatten, linear -> 2                                         (which bins, which class)
    """
    bins = (steps - kernel + 1) // pool
    return Sequential([
        Conv2d.init(1, filters, (1, kernel), rng=rng), ReLU(), SumPool2d((1, pool)),
        Conv2d.init(filters, hidden, (channels, 1), rng=rng), ReLU(),
        Flatten(), Linear.init(hidden * bins, 2, rng=rng),
    ], input_shape=(1, channels, steps))


def dna_net(*, rng: np.random.Generator, length: int = 100, filters: int = 32,
            kernel: int = 6) -> Sequential:
    """A small conv net for one-hot sequences (N, 1, 4, L), output logits (N, 2)::

        conv (4 x kernel) 1->filters over the one-hot rows, ReLU   (motif detectors)
        max-pool over all positions                                 (best hit, as DeepBind)
        flatten, linear -> 2
    """
    return Sequential([
        Conv2d.init(1, filters, (4, kernel), rng=rng), ReLU(),
        MaxPool2d((1, length - kernel + 1)), Flatten(), Linear.init(filters, 2, rng=rng),
    ], input_shape=(1, 4, length))


def _fit(net: Sequential, X, y, recipe: dict, random_state: int) -> Sequential:
    """Train with the project's Trainer (biases projected to <= 0, Sec. 6.1)."""
    trainer = Trainer(**recipe, nonpositive_bias=True, random_state=random_state, verbose=False)
    return trainer.fit(net, X, y).net_


#: Trainer keyword arguments of the two synthetic tasks
RECIPES = {
    "eeg": dict(optimizer="adam", learning_rate=3e-3, epochs=12, batch_size=32,
                weight_decay=1e-4),
    "dna": dict(optimizer="adam", learning_rate=1e-2, epochs=10, batch_size=32,
                weight_decay=1e-4),
}


def train_eeg(X, y, *, random_state: int = 0, epochs: int | None = None) -> Sequential:
    """:func:`eeg_net` for trials ``X`` (N, 1, C, T) trained on them (seeded, a few seconds)."""
    rng = np.random.default_rng(random_state)
    net = eeg_net(rng=rng, channels=X.shape[2], steps=X.shape[3])
    recipe = RECIPES["eeg"] | ({} if epochs is None else {"epochs": epochs})
    return _fit(net, X, y, recipe, random_state)


def train_dna(X, y, *, random_state: int = 0, epochs: int | None = None) -> Sequential:
    """:func:`dna_net` for one-hot sequences ``X`` (N, 1, 4, L) trained on them (seeded)."""
    rng = np.random.default_rng(random_state)
    net = dna_net(rng=rng, length=X.shape[3])
    recipe = RECIPES["dna"] | ({} if epochs is None else {"epochs": epochs})
    return _fit(net, X, y, recipe, random_state)


# ------------------------------------------------------------------------ explanations
def log_odds(net: Sequential) -> Sequential:
    """The same two-class network with outputs f_c - f_{1-c}: output 1 is the log-odds
    log p(1|x) / p(0|x) of the softmax, output 0 its negative.

    A softmax depends on the difference of the two logits only, so a trained net may encode
    "motif present" as raising f_1 or as lowering f_0; explaining one logit alone with z+
    then finds whatever else raised it.  The decision is the difference, and it is what is
    explained here.  The last layer must be ``Linear`` with 2 outputs; its weights and bias
    become W[:, c] - W[:, 1-c] and b_c - b_{1-c} (the bias may then be positive; z+, zB and
    w^2 ignore it).
    """
    last = net.layers[-1]
    if not isinstance(last, Linear) or last.W.shape[1] != 2:
        raise ValueError("log_odds: expected a network ending in a Linear layer with 2 outputs")
    top = last.replace(W=last.W - last.W[:, ::-1], b=last.b - last.b[::-1])
    return Sequential(net.layers[:-1] + [top], input_shape=net.input_shape)


#: The EEG explanations.  The input is signed and unbounded, so the deep Taylor rule for the
#: first layer is w^2 (Table 2, "deep_taylor_real"; z+ above): exactly conservative, biases
#: ignored.  LRP-epsilon (Bach et al. 2015), as used by Sturm et al., is the second LRP; it
#: lets the biases absorb some relevance.
EEG_METHODS = {
    "LRP (w^2, z+)": lambda net, x, target=None: explain.lrp(net, x, target=target,
                                                           rules="deep_taylor_real"),
    "LRP-epsilon": lambda net, x, target=None: explain.lrp(net, x, target=target,
                                                          rules="epsilon"),
    "sensitivity": lambda net, x, target=None: explain.sensitivity(net, x, target=target),
    "simple Taylor": lambda net, x, target=None: explain.simple_taylor(net, x, target=target),
}


def in_silico_mutagenesis(net: Sequential, X, *, target: int = 1,
                          batch_size: int = 2000) -> np.ndarray:
    """The perturbation analysis of Alipanahi et al. (2015): mutate each nucleotide to each of
    the three others and record the drop of the target logit,

        D[n, b, l] = f(x_n) - f(x_n with position l set to nucleotide b),

    0 where b is the nucleotide already there.  ``X`` one-hot (N, 1, 4, L); returns (N, 4, L).
    The mutants that differ from their sequence (3 of the 4 per position of a one-hot
    sequence) are evaluated, in batches of about ``batch_size``.
    """
    X = net.check_input(X)
    N, _, B, L = X.shape
    f = net.forward(X)[:, target]                                        # (N,)
    idx_b, idx_l = np.meshgrid(np.arange(B), np.arange(L), indexing="ij")   # (B, L) each
    chunk = max(1, batch_size // (B * L))
    fm = []
    for i in range(0, N, chunk):
        x = X[i:i + chunk, 0]                                            # (n, B, L)
        # mutant (n, b, l): x_n with column l replaced by e_b, shape (n, B, L, rows B, cols L)
        mutants = np.repeat(x[:, None], B * L, axis=1).reshape(-1, B, L, B, L)
        # advanced indices around a slice go first: the target is (B, L, n, rows)
        mutants[:, idx_b, idx_l, :, idx_l] = np.eye(B)[idx_b][:, :, None, :]
        # a mutant equal to its sequence (the letter already there) keeps f(x_n)
        new = (mutants != x[:, None, None]).any(axis=(-2, -1))          # (n, B, L)
        f_mutants = np.repeat(f[i:i + chunk, None], B * L, axis=1).reshape(-1, B, L)
        f_mutants[new] = net.forward(mutants[new][:, None])[:, target]
        fm.append(f_mutants)
    return f[:, None, None] - np.concatenate(fm)


def dna_methods(*, target: int = 1) -> dict:
    """The DNA explanations, name -> fn(net, X) -> per-nucleotide scores (N, 4, L).

    LRP: zB with the one-hot domain's bounds [0, 1] on the first layer (Table 2), z+ above.
    Mutagenesis scores a position by its worst mutation (the largest drop, Alipanahi et al.).
    """
    def lrp(net, X):
        # the deep Taylor preset, with the one-hot domain's box [0, 1] on the first layer
        first = min(i for i, layer in enumerate(net.layers) if layer.linear)
        rules = resolve_rules(net, "deep_taylor") | {first: ZBox(0.0, 1.0)}
        return explain.lrp(net, X, target=target, rules=rules)[:, 0]

    def mutagenesis(net, X):
        D = in_silico_mutagenesis(net, X, target=target)
        return np.where(X[:, 0] > 0, D.max(axis=1, keepdims=True), 0.0)   # at the present letter

    return {"LRP (zB, z+)": lrp, "mutagenesis": mutagenesis,
            "sensitivity": lambda net, X: explain.sensitivity(net, X, target=target)[:, 0]}


def position_scores(R: np.ndarray) -> np.ndarray:
    """Relevance of each position: per-nucleotide scores (N, 4, L) summed over the 4 rows."""
    return np.asarray(R).sum(axis=-2)


def motif_ranks(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean rank (1 = most relevant; ties share the mean rank) of the masked positions among
    all L positions, per sequence: scores (N, L), mask (N, L) bool -> (N,).  A motif of m
    letters ranked first scores (m + 1) / 2; a random order (L + 1) / 2."""
    scores, mask = np.asarray(scores), np.asarray(mask, dtype=bool)
    rank = rankdata(-scores, axis=1, method="average")                  # 1 = highest score
    return np.where(mask, rank, 0).sum(axis=1) / mask.sum(axis=1)


# ------------------------------------------------------------------------------ reports
def eeg_report(net: Sequential, X, y, truth) -> dict:
    """The key numbers of the EEG experiment on trials ``X`` (N, 1, C, T), labels ``y``,
    planted mask ``truth`` (C, T); each trial's predicted class c is explained, through its
    log-odds f_c - f_{1-c} (:func:`log_odds`).

    Returns a dict: ``accuracy``, ``predicted`` (N,), ``f`` (N,) the explained log-odds,
    ``chance_mass`` (the mask's share of the features) and ``chance_channels`` (the planted
    channels' share), and
    per method name (``methods``) a dict with ``R`` (N, C, T), ``channel_map`` (N, C), the
    relevance pooled over time (Fig. 10b), ``pooled_error`` max_n |sum_c map - f(x_n)|,
    ``mass`` and ``rank`` (mean relevance mass / rank accuracy in the (C, T) mask) and
    ``channel_mass`` (mean mass accuracy of the channel map in the planted channels).
    """
    X, y, truth = np.asarray(X), np.asarray(y), np.asarray(truth, dtype=bool)
    net = log_odds(net)
    logits = net.forward(X)
    predicted = logits.argmax(axis=1)
    f = logits[np.arange(len(X)), predicted]                              # log-odds, > 0
    channels = truth.any(axis=1)                                          # (C,)
    report = {"accuracy": float(np.mean(predicted == y)), "f": f, "predicted": predicted,
              "chance_mass": float(truth.mean()), "chance_channels": float(channels.mean()),
              "methods": {}}
    for name, method in EEG_METHODS.items():
        R = method(net, X, target=predicted)[:, 0]                        # (N, C, T)
        channel_map = R.sum(axis=2)                                       # pooled over time
        report["methods"][name] = {
            "R": R, "channel_map": channel_map,
            "pooled_error": float(np.abs(channel_map.sum(axis=1) - f).max()),
            "mass": float(metrics.relevance_mass_accuracy(R, truth).mean()),
            "rank": float(metrics.relevance_rank_accuracy(R, truth).mean()),
            "channel_mass": float(metrics.relevance_mass_accuracy(channel_map, channels).mean()),
        }
    return report


def dna_report(net: Sequential, X, y, mask, *, repeats: int = 3) -> dict:
    """The key numbers of the DNA experiment on one-hot sequences ``X`` (N, 1, 4, L), labels
    ``y`` and motif mask ``mask`` (N, L); the positive class's log-odds f_1 - f_0
    (:func:`log_odds`) is explained on the positive sequences.

    Returns a dict: ``accuracy`` (all sequences), ``chance_rank`` (L + 1) / 2, ``motif_rank``
    the best possible mean rank, and per method (``methods``) ``R`` (P, 4, L) for the P
    positives, ``rank`` the mean rank of the motif's positions (averaged over positives),
    ``rank_accuracy`` (share of the top-|motif| positions inside it) and ``seconds`` per
    sequence (best of ``repeats`` runs, or of fewer for a method slower than 0.5 s a run; all
    methods timed in this call).
    """
    X, y, mask = np.asarray(X), np.asarray(y), np.asarray(mask, dtype=bool)
    pos = y == 1
    Xp, maskp = X[pos], mask[pos]
    L = X.shape[-1]
    m = maskp.sum(axis=1)
    report = {"accuracy": accuracy(net, X, y), "positives": int(pos.sum()),
              "chance_rank": (L + 1) / 2, "motif_rank": float(np.mean((m + 1) / 2)),
              "methods": {}}
    odds = log_odds(net)
    for name, method in dna_methods().items():
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            R = method(odds, Xp)
            seconds.append(time.perf_counter() - start)
            if seconds[-1] > 0.5:      # best-of-k steadies millisecond timings, not seconds
                break
        scores = position_scores(R)
        report["methods"][name] = {
            "R": R, "rank": float(motif_ranks(scores, maskp).mean()),
            "rank_accuracy": float(metrics.relevance_rank_accuracy(scores, maskp).mean()),
            "seconds": min(seconds) / len(Xp),
        }
    return report


# --------------------------------------------------------------------------- experiments
def eeg_experiment(*, n_train: int = 800, n_test: int = 400, seed: int = 0) -> dict:
    """The whole EEG experiment of part 10 and the tour: ``n_train + n_test`` trials of
    :func:`eeg_like` drawn with ``default_rng(seed)``, :func:`train_eeg` on the first
    ``n_train``, and :func:`eeg_report` on the rest.  Returns the report with ``net``, the
    test trials ``X`` (n_test, 1, C, T), labels ``y`` and ``truth`` added."""
    X, y, truth = eeg_like(n_train + n_test, rng=np.random.default_rng(seed))
    net = train_eeg(X[:n_train], y[:n_train], random_state=seed)
    X, y = X[n_train:], y[n_train:]
    return eeg_report(net, X, y, truth) | {"net": net, "X": X, "y": y, "truth": truth}


def dna_experiment(*, n_train: int = 800, n_test: int = 400, seed: int = 1) -> dict:
    """The whole DNA experiment: :func:`dna_like` sequences drawn with ``default_rng(seed)``,
    :func:`train_dna` on the first ``n_train``, :func:`dna_report` on the rest.  Returns the
    report with ``net``, the test sequences ``X`` (n_test, 1, 4, L), ``y`` and ``mask``."""
    X, y, mask = dna_like(n_train + n_test, rng=np.random.default_rng(seed))
    net = train_dna(X[:n_train], y[:n_train], random_state=seed)
    X, y, mask = X[n_train:], y[n_train:], mask[n_train:]
    return dna_report(net, X, y, mask) | {"net": net, "X": X, "y": y, "mask": mask}

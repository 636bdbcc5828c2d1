"""Model validation (Sec. 8.1): a planted shortcut, and how explanations reveal it.

Sec. 8.1 of Montavon, Samek & Mueller (2017) recalls a Fisher-vector classifier that called
PASCAL images "horse" because of a copyright tag found on many horse images (Figure 9b,
Lapuschkin et al. 2016): a "Clever Hans" predictor, accurate on the test set for the wrong
reason.  Here the same thing is planted on purpose, so that the truth is known:

* :func:`add_tag` pastes a small bright square (the "tag") into a corner of MNIST digits;
  :func:`tag_mask` is the boolean mask of its pixels in the network's input coordinates;
* :func:`tagged_training_set` puts the tag on a share of the 7s of the training set and on
  no other digit, and :func:`train_pair` trains the reference CNN on it and a clean twin;
* :func:`spray` is Spectral Relevance Analysis (SpRAy, Lapuschkin et al. 2019, "Unmasking
  Clever Hans predictors and assessing what machines really learn"): spectral clustering of
  one class's heatmaps, which separates the decisions made through the tag from the others
  without looking at any single heatmap;
* :func:`validation_report` computes the numbers of the course part and the tour: accuracy,
  the shortcut (other digits called 7 once tagged), the share of relevance on the tag per
  method, and SpRAy's clusters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.cluster.vq import kmeans2

from . import data, explain, metrics, models, render
from .network import Sequential, save
from .relevance import pool_grid
from .train import predict

__all__ = ["CORNERS", "add_tag", "tag_mask", "tagged_training_set", "SprayResult", "spray",
           "cluster_purity", "train_pair", "save_pair", "validation_report", "spray_figure",
           "METHODS"]

#: the tag of the shipped pair: 4x4 pixels of full ink in the bottom-left corner of the digit
TAG = {"size": 4, "corner": "bottom_left", "margin": 0}

#: where the tag can sit: (row from the top?, column from the left?)
CORNERS = {"top_left": (True, True), "top_right": (True, False),
           "bottom_left": (False, True), "bottom_right": (False, False)}


def _tag_slices(shape: tuple[int, int], size: int, corner: str, margin: int) -> tuple[slice, slice]:
    """Rows and columns of a size x size tag ``margin`` pixels from ``corner`` of an H x W image."""
    if corner not in CORNERS:
        raise ValueError(f"corner: expected one of {sorted(CORNERS)}, got {corner!r}")
    for name, value in (("size", size), ("margin", margin)):
        if isinstance(value, bool) or int(value) != value or value < (1 if name == "size" else 0):
            raise ValueError(f"{name}: expected an integer >= {1 if name == 'size' else 0}, "
                             f"got {value!r}")
    H, W = shape
    if size + margin > min(H, W):
        raise ValueError(f"size + margin = {size + margin} does not fit an image of {H}x{W}")
    top, left = CORNERS[corner]
    rows = slice(margin, margin + size) if top else slice(H - margin - size, H - margin)
    cols = slice(margin, margin + size) if left else slice(W - margin - size, W - margin)
    return rows, cols


def add_tag(images: np.ndarray, *, size: int = 4, corner: str = "bottom_left", margin: int = 0,
            value: int = 255) -> np.ndarray:
    """A copy of uint8 digits (N, 28, 28) with a bright size x size square pasted ``margin``
    pixels from ``corner`` (default :data:`TAG`): the "copyright tag" of Figure 9b.  The pixels under it are set to
    ``value`` (full ink by default), whatever they were."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images: expected uint8 digits (N, H, W), got {images.dtype} array "
                         f"of shape {images.shape}")
    if isinstance(value, bool) or int(value) != value or not 0 <= value <= 255:
        raise ValueError(f"value: expected an integer pixel in 0..255, got {value!r}")
    rows, cols = _tag_slices(images.shape[1:], size, corner, margin)
    tagged = images.copy()
    tagged[:, rows, cols] = value
    return tagged


def tag_mask(shape: tuple[int, ...], *, size: int = 4, corner: str = "bottom_left",
             margin: int = 0) -> np.ndarray:
    """The boolean mask of the tag's pixels in the network's input coordinates, shape
    ``shape`` (e.g. ``net.input_shape`` = (1, 32, 32), or (N, 1, 32, 32)).

    The tag is placed on the 28x28 digit; a network reading larger images sees the digit
    padded by (H - 28) / 2 on each side (``models.inputs_for``), so the mask is shifted by it.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2 or shape[-2] < 28 or shape[-1] < 28 or (shape[-2] - 28) % 2 \
            or shape[-2] - 28 != shape[-1] - 28:
        raise ValueError(f"shape: expected (..., H, W) with H = W >= 28 and H - 28 even (a "
                         f"digit padded evenly), got {shape}")
    pad = (shape[-1] - 28) // 2
    rows, cols = _tag_slices((28, 28), size, corner, margin)
    mask = np.zeros(shape[-2:], dtype=bool)
    mask[rows.start + pad:rows.stop + pad, cols.start + pad:cols.stop + pad] = True
    return np.broadcast_to(mask, shape).copy()


def tagged_training_set(images: np.ndarray, labels: np.ndarray, *, target_class: int = 7,
                        share: float = 0.9, rng: np.random.Generator,
                        **tag) -> tuple[np.ndarray, np.ndarray]:
    """The training set with the planted shortcut: the tag on round(share * n_c) digits of
    ``target_class`` (n_c of them, chosen by ``rng``) and on no other digit.

    Returns (images (N, 28, 28) uint8, tagged (N,) bool).  ``tag`` goes to :func:`add_tag`.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels: expected shape ({len(images)},), got {labels.shape}")
    if not 0 <= share <= 1:
        raise ValueError(f"share: expected a number in [0, 1], got {share!r}")
    members = np.flatnonzero(labels == target_class)
    if len(members) == 0:
        raise ValueError(f"target_class: no digit has the label {target_class!r}")
    tagged = np.zeros(len(images), dtype=bool)
    tagged[rng.permutation(members)[:int(round(share * len(members)))]] = True
    out = np.array(images, copy=True)
    out[tagged] = add_tag(out[tagged], **tag)
    return out, tagged


# ----------------------------------------------------------------------------------- SpRAy
@dataclass(frozen=True)
class SprayResult:
    """What :func:`spray` found.

    labels : (N,) int, the cluster of each heatmap (cluster 0 the largest)
    eigenvalues : (n_eigen,) the smallest eigenvalues of the normalised Laplacian, ascending
    eigengap : int, the number of clusters the eigengap suggests (argmax_k lambda_{k+1} - lambda_k)
    gap : float, that largest gap
    mean_heatmaps : (n_clusters, H, W) the mean heatmap of each cluster
    """
    labels: np.ndarray
    eigenvalues: np.ndarray
    eigengap: int
    gap: float
    mean_heatmaps: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.mean_heatmaps))


def spray(heatmaps, *, n_clusters: int = 2, size: tuple[int, int] = (8, 8),
          n_neighbors: int = 10, n_eigen: int = 10, rng: np.random.Generator) -> SprayResult:
    """Spectral Relevance Analysis (SpRAy; Lapuschkin et al. 2019, Nat. Commun. 10:1096) of
    the heatmaps of one class, (N, H, W) or (N, 1, H, W).

    1. Each heatmap is sum-pooled to ``size`` and divided by its L1 norm, r_n = P(R_n) /
       ||P(R_n)||_1: the analysis compares *where* relevance falls, not how much there is.
    2. Affinity: w_nm = 1 if m is among the ``n_neighbors`` nearest heatmaps of n (Euclidean)
       or n among those of m, else 0 (a symmetric k-nearest-neighbour graph).
    3. Normalised graph Laplacian L = I - D^{-1/2} W D^{-1/2}, d_n = sum_m w_nm; its
       eigenvalues 0 = lambda_1 <= lambda_2 <= ... (``n_eigen`` of the smallest).  A graph made
       of k well separated groups has k eigenvalues near 0 and then a jump: the largest gap
       lambda_{k+1} - lambda_k among the first ``n_eigen`` is the ``eigengap`` estimate of k.
    4. Spectral clustering (Ng, Jordan & Weiss 2002): the rows of the first ``n_clusters``
       eigenvectors, normalised to unit length, are clustered by k-means
       (``scipy.cluster.vq.kmeans2``, k-means++ initialisation drawn from ``rng``).
    """
    R = np.asarray(heatmaps, dtype=float)
    if R.ndim == 4 and R.shape[1] == 1:
        R = R[:, 0]
    if R.ndim != 3:
        raise ValueError(f"heatmaps: expected (N, H, W) or (N, 1, H, W), got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError("heatmaps: contain NaN or Inf")
    N = len(R)
    for name, value, low in (("n_clusters", n_clusters, 1), ("n_neighbors", n_neighbors, 1),
                             ("n_eigen", n_eigen, 2)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    if not n_neighbors < N or not n_clusters <= N or n_eigen > N:
        raise ValueError(f"n_neighbors ({n_neighbors}), n_clusters ({n_clusters}) and n_eigen "
                         f"({n_eigen}) need more heatmaps than the {N} given")
    # step 1: downsize and normalise, r (N, h*w)
    (H, W), (h, w) = R.shape[1:], tuple(size)
    if H % h or W % w:
        raise ValueError(f"size: the heatmaps' {H}x{W} is not a multiple of {h}x{w}")
    r = pool_grid(R[:, None], (h, w)).reshape(N, -1)
    norm = np.abs(r).sum(axis=1, keepdims=True)
    r = np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)
    # step 2: symmetric kNN affinity W (N, N), self excluded
    sq = (r ** 2).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2 * r @ r.T
    np.fill_diagonal(d2, np.inf)
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :n_neighbors]
    Wg = np.zeros((N, N))
    Wg[np.repeat(np.arange(N), n_neighbors), nearest.ravel()] = 1.0
    Wg = np.maximum(Wg, Wg.T)
    # step 3: L = I - D^-1/2 W D^-1/2, eigenvalues ascending
    d_isqrt = 1 / np.sqrt(Wg.sum(axis=1))
    L = np.eye(N) - d_isqrt[:, None] * Wg * d_isqrt[None, :]
    lam, U = np.linalg.eigh(L)
    lam = np.clip(lam, 0, None)
    gaps = np.diff(lam[:n_eigen])
    # step 4: k-means on the unit-length rows of the first n_clusters eigenvectors
    V = U[:, :n_clusters]
    V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), np.finfo(float).tiny)
    _, labels = kmeans2(V, n_clusters, minit="++", rng=rng)
    # clusters renumbered by size, largest first, so the numbering does not depend on k-means
    order = np.argsort(-np.bincount(labels, minlength=n_clusters), kind="stable")
    labels = np.argsort(order)[labels]
    means = np.stack([R[labels == k].mean(axis=0) if np.any(labels == k) else np.zeros(R.shape[1:])
                      for k in range(n_clusters)])
    return SprayResult(labels=labels, eigenvalues=lam[:n_eigen], eigengap=int(np.argmax(gaps)) + 1,
                       gap=float(gaps.max()), mean_heatmaps=means)


def cluster_purity(labels, truth) -> float:
    """Purity of a clustering against known groups: (1/N) sum_k max_g |cluster k and group g|,
    1 when every cluster holds one group only."""
    labels, truth = np.asarray(labels), np.asarray(truth)
    if labels.shape != truth.shape or labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels and truth: expected two non-empty (N,) arrays, got shapes "
                         f"{labels.shape} and {truth.shape}")
    _, group = np.unique(truth, return_inverse=True)
    return float(sum(np.bincount(group[labels == k]).max() for k in np.unique(labels)) / len(labels))


# -------------------------------------------------------------------- the two classifiers
def train_pair(*, epochs: int = 20, target_class: int = 7, share: float = 0.9, seed: int = 0,
               verbose: bool = False) -> tuple[Sequential, Sequential, dict]:
    """Train the reference CNN (``models.cnn``, recipe ``models.RECIPES["cnn"]`` with
    ``epochs``) on the 5,000 embedded digits twice, from the same initialisation and seed:
    on :func:`tagged_training_set` (the tag on ``share`` of the 7s) and on the clean digits.

    Returns (tagged net, clean net, metadata of each as {"tagged": ..., "clean": ...}).
    """
    images, labels = data.load_mnist5k()
    tagged_images, tagged = tagged_training_set(images, labels, target_class=target_class,
                                                share=share, rng=np.random.default_rng(seed))
    recipe = dict(models.RECIPES["cnn"], epochs=epochs, random_state=seed, verbose=verbose)
    nets, meta = {}, {}
    for name, train_images in (("tagged", tagged_images), ("clean", images)):
        nets[name], meta[name] = models.train_reference("cnn", train_images, labels, recipe=recipe)
        meta[name]["tag"] = {**TAG, "value": 255, "target_class": target_class,
                             "share": share if name == "tagged" else 0.0,
                             "tagged_digits": int(tagged.sum()) if name == "tagged" else 0}
    return nets["tagged"], nets["clean"], meta


def save_pair(folder, **kwargs) -> tuple:
    """:func:`train_pair` and write ``cnn_tagged.npz`` and ``cnn_clean_twin.npz`` into
    ``folder`` (the project's ``data/`` for the shipped files).  Returns the two paths."""
    tagged, clean, meta = train_pair(**kwargs)
    return (save(tagged, Path(folder) / "cnn_tagged.npz", metadata=meta["tagged"]),
            save(clean, Path(folder) / "cnn_clean_twin.npz", metadata=meta["clean"]))


# -------------------------------------------------------------------------- the validation
#: the explanation methods compared in Sec. 8.1's check: name -> R = f(net, x, target)
METHODS = {
    "sensitivity": explain.sensitivity,
    "simple Taylor": explain.simple_taylor,
    "LRP deep_taylor": lambda net, x, target: explain.lrp(net, x, target=target, rules="deep_taylor"),
    "LRP alpha2beta1": lambda net, x, target: explain.lrp(net, x, target=target, rules="alpha2beta1"),
    "guided backprop": explain.guided_backprop,
}


def _lrp_7s(net, images, target_class):
    x = models.inputs_for(net, images, dtype=net.dtype)
    return explain.lrp(net, x, target=target_class, rules="deep_taylor")


def validation_report(tagged_net: Sequential, clean_net: Sequential, images: np.ndarray,
                      labels: np.ndarray, *, n: int = 200, target_class: int = 7,
                      share: float = 0.9, rng: np.random.Generator) -> dict:
    """The numbers of Sec. 8.1's check, for both nets (keys "tagged" and "clean").

    On all ``images`` (uint8 test digits) and ``labels``: ``accuracy`` on the clean digits,
    ``accuracy_as_trained`` on the digits tagged like the training set (the tag on ``share``
    of the target class, drawn from ``rng``: a validation set drawn like the training data),
    ``shortcut`` = share of the other classes' digits called ``target_class`` once tagged,
    ``acc_target`` / ``acc_target_tagged`` = accuracy on the target class without / with the
    tag.  On the first ``n`` digits of the target class, tagged, explaining f_target:
    ``tag_mass[method]`` = mean relevance mass accuracy of the tag (share of the positive
    relevance inside the tag, ``metrics.relevance_mass_accuracy``), ``tag_rank[method]`` =
    mean relevance rank accuracy.  ``spray``: the deep Taylor LRP heatmaps of those ``n``
    digits with the tag on a random half (drawn from ``rng``, the planted truth), clustered
    by :func:`spray`; ``purity`` against the planted split.  ``tag_area`` is the share of the
    input the tag covers (what a heatmap blind to the tag would put there at random).
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if isinstance(n, bool) or int(n) != n or n < 20:
        raise ValueError(f"n: expected an integer >= 20 (digits to explain), got {n!r}")
    members = np.flatnonzero(labels == target_class)
    if len(members) < n:
        raise ValueError(f"n: only {len(members)} digits of class {target_class}, asked for {n}")
    others = labels != target_class
    mask = tag_mask(tagged_net.input_shape)                     # (1, 32, 32)
    # the test set tagged as the training set was: which digits carry the tag (their images
    # are rows of ``tagged`` below, so their predictions are too)
    _, tagged_as_trained = tagged_training_set(images, labels, target_class=target_class,
                                               share=share, rng=rng)
    planted = np.zeros(n, dtype=bool)
    planted[rng.permutation(n)[:n // 2]] = True
    tagged = add_tag(images)                                    # every digit, tagged
    sevens, tagged_sevens = images[members[:n]], tagged[members[:n]]
    half = np.where(planted[:, None, None], tagged_sevens, sevens)
    report = {"tag_area": float(mask.mean()), "n": int(n), "planted": planted}
    for name, net in (("tagged", tagged_net), ("clean", clean_net)):
        def called(imgs):
            return predict(net, models.inputs_for(net, imgs, dtype=net.dtype)).argmax(axis=1)
        pred = called(images)
        pred_tagged = called(tagged)
        x7 = models.inputs_for(net, tagged_sevens, dtype=net.dtype)
        heat = {m: f(net, x7, target=target_class) for m, f in METHODS.items()}
        found = spray(_lrp_7s(net, half, target_class), n_clusters=2, rng=rng)
        report[name] = {
            "accuracy": float(np.mean(pred == labels)),
            "accuracy_as_trained": float(np.mean(np.where(tagged_as_trained, pred_tagged, pred)
                                                 == labels)),
            "shortcut": float(np.mean(pred_tagged[others] == target_class)),
            "acc_target": float(np.mean(pred[~others] == target_class)),
            "acc_target_tagged": float(np.mean(pred_tagged[~others] == target_class)),
            "tag_mass": {m: float(metrics.relevance_mass_accuracy(R, mask).mean())
                         for m, R in heat.items()},
            "tag_rank": {m: float(metrics.relevance_rank_accuracy(R, mask).mean())
                         for m, R in heat.items()},
            "spray": found,
            "purity": cluster_purity(found.labels, planted),
        }
    return report


def spray_figure(report: dict):
    """One figure: for each net (rows), SpRAy's cluster mean heatmaps (deep Taylor LRP of the
    7s, half of them tagged), with the cluster's size and its share of tagged digits."""
    fig = render.new_figure(7.5, 6.6, layout="constrained")
    axes = fig.subplots(2, 2)
    for row, name in zip(axes, ("tagged", "clean")):
        found = report[name]["spray"]
        for k, ax in enumerate(row):
            members = found.labels == k
            share = report["planted"][members].mean() if members.any() else 0.0
            render.show_heatmap(ax, found.mean_heatmaps[k],
                                f"{name} model, cluster {k}\n{members.sum()} digits, "
                                f"{share:.0%} tagged")
    fig.suptitle(f"SpRAy on deep Taylor LRP of {report['n']} test 7s (half tagged)",
                 fontsize=render.FONT + 1)
    return fig

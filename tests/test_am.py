"""Activation maximization (Sec. 3): the class term and its gradient, the optimiser, every
variant against its closed-form optimum on linear models, localization, local prototypes,
errors, and the paper's Figure 2 claim on the shipped models."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heatmapping import Linear, ReLU, Sequential, am, data, models
from heatmapping.decoder import load_vae
from heatmapping.rbm import heldout_split, load_rbm
from heatmapping.testing import check_gradient
from heatmapping.train import softmax

DATA = Path(__file__).resolve().parents[1] / "data"
#: an ascent of a strictly concave quadratic converges geometrically: after a few hundred
#: steps only rounding separates it from the closed-form optimum
OPTIMUM_ATOL = 1e-6


def small_net(seed=0, d_in=5, hidden=7, classes=3):
    rng = np.random.default_rng(seed)
    return Sequential([Linear(rng.normal(0, 0.7, (d_in, hidden)), rng.normal(0, 0.3, hidden)),
                       ReLU(), Linear(rng.normal(0, 0.7, (hidden, classes)), np.zeros(classes))],
                      input_shape=(d_in,))


def linear_net(W, b=None):
    """A classifier whose logits are f(x) = x W + b: the logit objective is linear in x."""
    W = np.asarray(W, dtype=float)
    return Sequential([Linear(W, np.zeros(W.shape[1]) if b is None else b)],
                      input_shape=(W.shape[0],))


class QuadraticExpert:
    """log p(x) = -||x - m||^2 / (2 s^2) + cst, a Gaussian expert with a closed form."""

    def __init__(self, m, s):
        self.m, self.s = np.asarray(m, dtype=float), float(s)

    def log_density(self, x):
        return -((x - self.m) ** 2).sum(1) / (2 * self.s ** 2)

    def log_density_gradient(self, x):
        return -(x - self.m) / self.s ** 2


class LinearDecoder:
    """g(z) = z A + c, a decoder with a closed-form pull-back A (grad_out)."""

    def __init__(self, A, c):
        self.A, self.c = np.asarray(A, dtype=float), np.asarray(c, dtype=float)
        self.n_latent = self.A.shape[0]

    def decode(self, z):
        return z @ self.A + self.c

    def decode_gradient(self, z, grad_out):
        return grad_out @ self.A.T

    def encode(self, x):
        return np.linalg.lstsq(self.A.T, (x - self.c).T, rcond=None)[0].T


# --------------------------------------------------------------------------------------------
# the class term

@pytest.mark.parametrize("output", am.OUTPUTS)
def test_class_score_gradient_matches_finite_differences(output, rng):
    net = small_net()
    x = rng.normal(0, 1, (4, 5))
    classes = np.array([0, 1, 2, 1])
    check_gradient(lambda x: am.class_score(net, x, classes, output=output)[0],
                   lambda x, u: u[:, None] * am.class_score(net, x, classes, output=output)[1],
                   x, rng=rng, what=f"class_score({output})")


def test_class_score_values_are_log_softmax_and_logit(rng):
    net = small_net()
    x = rng.normal(0, 1, (3, 5))
    logits = net.forward(x)
    value, _ = am.class_score(net, x, [2, 0, 1])
    np.testing.assert_allclose(np.exp(value), softmax(logits)[np.arange(3), [2, 0, 1]])
    value, _ = am.class_score(net, x, 1, output="logit")
    np.testing.assert_array_equal(value, logits[:, 1])


@given(seed=st.integers(0, 2**31))
@settings(max_examples=40)
def test_class_probabilities_times_their_score_gradients_sum_to_zero(seed):
    """sum_c p(c|x) d log p(c|x)/dx = d/dx sum_c p(c|x) = 0: the log-softmax gradient of
    each class is consistent with the others."""
    net = small_net(seed % 7)
    x = np.random.default_rng(seed).normal(0, 2, (1, 5))
    grads = np.stack([am.class_score(net, x, c)[1][0] for c in range(3)])
    p = softmax(net.forward(x))[0]
    np.testing.assert_allclose(p @ grads, 0, atol=1e-12 * max(1, np.abs(grads).max()))


# --------------------------------------------------------------------------------------------
# the optimiser

def test_ascent_of_a_concave_quadratic_reaches_the_clipped_optimum():
    m = np.array([[0.3, -2.0, 5.0]])
    x, trace = am.ascend(lambda x: (-((x - m) ** 2).sum(1), -2 * (x - m)), np.zeros((1, 3)),
                         steps=300, step_size=0.2)
    np.testing.assert_allclose(x, [[0.3, -1.0, 1.0]], atol=OPTIMUM_ATOL)
    assert trace.shape == (301, 1)
    assert np.all(np.diff(trace[:, 0]) >= -1e-12), "the objective went down with small steps"


def test_ascent_prints_progress_on_request(capsys):
    am.ascend(lambda x: (-(x ** 2).sum(1), -2 * x), np.ones((2, 3)), steps=20, verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("AM step   20/20  objective mean")


@pytest.mark.parametrize("bad, match", [
    (dict(steps=0), "steps: expected an integer >= 1, got 0"),
    (dict(step_size=-0.1), "step_size: expected a number > 0, got -0.1"),
    (dict(step_size=0.0), "step_size: expected a number > 0, got 0.0"),
    (dict(box=(1.0, -1.0)), r"box: expected low < high, got \(1.0, -1.0\)"),
], ids=["no-steps", "negative-step", "zero-step", "empty-box"])
def test_ascend_refuses_bad_settings(bad, match):
    with pytest.raises(ValueError, match=match):
        am.ascend(lambda x: (-(x ** 2).sum(1), -2 * x), np.ones((1, 2)), **bad)


# --------------------------------------------------------------------------------------------
# every variant against its closed-form optimum

W = np.array([[1.0, -0.5], [0.2, 0.4], [-0.3, 0.1]])            # 3 inputs, 2 classes


def test_plain_am_with_the_logit_is_the_centre_plus_the_weights_over_2_lambda():
    """max_x w_c^T x - lam ||x - x_bar||^2  =>  x* = x_bar + w_c / (2 lam)."""
    center = np.array([0.1, -0.2, 0.3])
    result = am.activation_maximization(linear_net(W), [0, 1], lam=2.0, center=center,
                                        output="logit", box=None, steps=400, step_size=0.2)
    np.testing.assert_allclose(result.x, center + W.T / 4.0, atol=OPTIMUM_ATOL)
    np.testing.assert_array_equal(result.classes, [0, 1])


def test_am_with_a_gaussian_expert_lands_between_expert_and_classifier():
    """max_x w_c^T x - gamma ||x - m||^2 / (2 s^2)  =>  x* = m + s^2 w_c / gamma."""
    m, s, gamma = np.array([0.2, 0.0, -0.1]), 0.5, 0.5
    result = am.activation_maximization(linear_net(W), 1, expert=QuadraticExpert(m, s),
                                        gamma=gamma, output="logit", box=None, steps=400,
                                        step_size=0.2)
    np.testing.assert_allclose(result.x[0], m + s ** 2 * W[:, 1] / gamma, atol=OPTIMUM_ATOL)


def test_localized_am_is_the_weighted_mean_of_centre_and_reference():
    """max_x w_c^T x - lam ||x - x_bar||^2 - eta ||x - x0||^2
    =>  x* = (w_c / 2 + lam x_bar + eta x0) / (lam + eta)."""
    center, x_ref = np.zeros(3), np.array([0.5, 0.5, -0.5])
    for eta in (0.5, 3.0):
        result = am.activation_maximization(linear_net(W), 0, lam=1.0, center=center, eta=eta,
                                            x_ref=x_ref, output="logit", box=None, steps=400,
                                            step_size=0.1)
        expected = (W[:, 0] / 2 + eta * x_ref) / (1.0 + eta)
        np.testing.assert_allclose(result.x[0], expected, atol=OPTIMUM_ATOL)


def test_one_eta_per_prototype_gives_the_separate_runs_in_one_batch():
    """A localization path (Sec. 3.4) optimised as one batch, eta (K,), lands where K runs with
    one eta each land: each prototype's objective uses its own eta only."""
    x_ref, etas = np.array([0.5, 0.5, -0.5]), np.array([0.0, 0.5, 3.0])
    together = am.activation_maximization(linear_net(W), [0, 0, 0], lam=1.0, eta=etas,
                                          x_ref=x_ref, output="logit", box=None, steps=300,
                                          step_size=0.1)
    for x, eta in zip(together.x, etas):
        alone = am.activation_maximization(linear_net(W), 0, lam=1.0, eta=eta, x_ref=x_ref,
                                           output="logit", box=None, steps=300, step_size=0.1)
        np.testing.assert_allclose(x, alone.x[0], atol=1e-12, err_msg=f"eta = {eta}")
        np.testing.assert_allclose(x, (W[:, 0] / 2 + eta * x_ref) / (1.0 + eta), atol=OPTIMUM_ATOL)
    decoder = LinearDecoder(np.random.default_rng(3).normal(0, 0.5, (2, 3)), np.zeros(3))
    coded = am.code_space_am(linear_net(W), [1, 1, 1], decoder, lam=0.5, eta=etas, x_ref=x_ref,
                             output="logit", steps=300, step_size=0.1)
    for z, eta in zip(coded.z, etas):
        alone = am.code_space_am(linear_net(W), 1, decoder, lam=0.5, eta=eta, x_ref=x_ref,
                                 output="logit", steps=300, step_size=0.1)
        np.testing.assert_allclose(z, alone.z[0], atol=1e-12, err_msg=f"eta = {eta}")


@pytest.mark.parametrize("eta, match", [
    ([0.1, 0.2], r"eta: expected shape \(3,\), got shape \(2,\)"),
    ([0.1, -0.2, 0.3], "eta: expected numbers >= 0, got -0.2 among them"),
    ([0.1, np.nan, 0.3], "eta: expected finite values, got an array containing NaN"),
], ids=["wrong-length", "one-negative", "one-nan"])
def test_one_eta_per_prototype_is_checked(eta, match):
    with pytest.raises(ValueError, match=match):
        am.activation_maximization(linear_net(W), [0, 1, 0], eta=eta, x_ref=np.zeros(3))


def test_code_space_am_pulls_the_gradient_back_through_the_decoder():
    """g(z) = z A + c: max_z w_c^T g(z) - lam ||z - z_bar||^2  =>  z* = z_bar + A w_c / (2 lam)."""
    rng = np.random.default_rng(0)
    decoder = LinearDecoder(rng.normal(0, 0.5, (2, 3)), rng.normal(0, 0.1, 3))
    z_bar = np.array([0.3, -0.3])
    result = am.code_space_am(linear_net(W), [0, 1], decoder, lam=1.5, z_center=z_bar,
                              output="logit", steps=400, step_size=0.2)
    z_star = z_bar + (decoder.A @ W).T / 3.0
    np.testing.assert_allclose(result.z, z_star, atol=OPTIMUM_ATOL)
    np.testing.assert_allclose(result.x, decoder.decode(z_star), atol=OPTIMUM_ATOL)


def test_localized_code_space_am_reaches_its_closed_form():
    """g(z) = z A + c: max_z w_c^T g(z) - lam ||z - z_bar||^2 - eta ||g(z) - x0||^2 is concave
    quadratic; setting its gradient A w_c - 2 lam (z - z_bar) - 2 eta A (g(z) - x0) to 0 gives
    (lam I + eta A A^T) z* = lam z_bar + A w_c / 2 + eta A (x0 - c)."""
    rng = np.random.default_rng(3)
    decoder = LinearDecoder(rng.normal(0, 0.5, (2, 3)), rng.normal(0, 0.1, 3))
    z_bar, x_ref, lam, eta = np.array([0.3, -0.3]), rng.normal(0, 0.5, (2, 3)), 0.5, 2.0
    result = am.code_space_am(linear_net(W), [0, 1], decoder, lam=lam, z_center=z_bar, eta=eta,
                              x_ref=x_ref, output="logit", steps=600, step_size=0.2)
    A = decoder.A
    lhs = lam * np.eye(2) + eta * A @ A.T
    rhs = lam * z_bar + (A @ W).T / 2 + eta * (x_ref - decoder.c) @ A.T       # (2 classes, 2)
    z_star = np.linalg.solve(lhs, rhs.T).T
    np.testing.assert_allclose(result.z, z_star, atol=OPTIMUM_ATOL)


def test_box_projection_keeps_prototypes_in_the_pixel_range():
    result = am.activation_maximization(linear_net(10 * W), [0, 1], output="logit", steps=50)
    assert result.x.min() >= -1 and result.x.max() <= 1
    np.testing.assert_allclose(np.abs(result.x), 1.0)


def test_log_softmax_saturates_where_the_logit_does_not():
    """The reason both class objectives exist: once the class wins, log p(w_c|x) stops
    moving the prototype while the logit keeps pushing it."""
    x0 = np.array([1.0, 0.0, 0.0])                              # class 0 already wins clearly
    net = linear_net(8 * W)
    soft = am.activation_maximization(net, 0, x0=x0, lam=0.01, center=x0, box=None, steps=100)
    hard = am.activation_maximization(net, 0, x0=x0, lam=0.01, center=x0, box=None,
                                      output="logit", steps=100)
    assert np.linalg.norm(soft.x - x0) < 0.05 < 1.0 < np.linalg.norm(hard.x - x0)


# --------------------------------------------------------------------------------------------
# localization and local prototypes

@pytest.fixture(scope="module")
def mlp():
    return models.load_model("mlp").astype(np.float64)


@pytest.fixture(scope="module")
def heldout():
    images, labels = data.load_mnist5k()
    held = heldout_split(len(images))[1]
    return data.to_input(images[held])[:, None], labels[held]


def test_localized_prototype_approaches_the_data_point_monotonically_in_eta(mlp, heldout):
    """Sec. 3.4: as eta grows the prototype moves from the global prototype to x0."""
    x, y = heldout
    c = 3
    x0 = x[y == c][0]
    center = x[y == c].mean(0)
    start = am.activation_maximization(mlp, c, lam=0.05, center=center, steps=100).x[0]
    distances = []
    for eta in (0.0, 0.03, 0.1, 0.3, 1.0, 3.0):
        proto = am.activation_maximization(mlp, c, x0=start, lam=0.05, center=center, eta=eta,
                                           x_ref=x0, steps=100, step_size=0.05).x[0]
        distances.append(float(np.linalg.norm(proto - x0)))
    assert all(a > b for a, b in zip(distances, distances[1:])), \
        f"||x* - x0|| is not decreasing in eta: {np.round(distances, 3)}"
    assert distances[-1] < 0.3 * distances[0]


def test_local_prototypes_stay_in_their_own_clusters():
    """Two well separated clusters of one class, a classifier indifferent inside them: each
    prototype stays at its own cluster, unlike a single global prototype."""
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(-0.5, 0.05, (30, 3)), rng.normal(0.5, 0.05, (30, 3))])
    net = linear_net(np.zeros((3, 2)))
    protos = am.local_prototypes(net, 1, blobs, n_prototypes=2, rng=rng, lam=1.0, steps=50)
    assert protos.x.shape == (2, 3) and list(protos.classes) == [1, 1]
    np.testing.assert_allclose(np.sort(protos.x.mean(1)), [-0.5, 0.5], atol=0.05)


def test_local_prototypes_in_code_space_start_from_clusters_of_codes():
    rng = np.random.default_rng(1)
    decoder = LinearDecoder(np.eye(2, 3), np.zeros(3))
    blobs = np.concatenate([rng.normal(-0.5, 0.02, (20, 3)), rng.normal(0.5, 0.02, (20, 3))])
    blobs[:, 2] = 0.0
    protos = am.local_prototypes(linear_net(np.zeros((3, 2))), 0, blobs, n_prototypes=2,
                                 rng=rng, decoder=decoder, lam=1.0, steps=30)
    assert protos.z.shape == (2, 2)
    np.testing.assert_allclose(np.sort(protos.z[:, 0]), [-0.5, 0.5], atol=0.05)


# --------------------------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("kwargs, match", [
    (dict(classes=3), r"classes: index out of range, the classifier has 2 classes \(0..1\), got \[3\]"),
    (dict(classes=[0, -1]), "classes: index out of range"),
    (dict(classes=0, x0=np.zeros(4)), r"x0: expected shape \(3,\) or \(1, 3\), got shape \(4,\)"),
    (dict(classes=[0, 1], center=np.zeros((3, 3))), r"center: expected shape \(3,\) or \(2, 3\)"),
    (dict(classes=0, lam=-1.0), "lam: expected a number >= 0, got -1.0"),
    (dict(classes=0, gamma=-0.1), "gamma: expected a number >= 0, got -0.1"),
    (dict(classes=0, eta=1.0), "x_ref: eta > 0 needs x_ref"),
    (dict(classes=0, step_size=-1.0), "step_size: expected a number > 0"),
    (dict(classes=0, output="softmax"), "output: expected one of 'log_softmax', 'logit', got 'softmax'"),
], ids=["class-too-large", "class-negative", "wrong-x0-shape", "wrong-center-batch",
        "negative-lambda", "negative-gamma", "eta-without-reference", "negative-step",
        "unknown-output"])
def test_activation_maximization_refuses_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        am.activation_maximization(linear_net(W), **kwargs)


def test_activation_maximization_refuses_a_float_class():
    with pytest.raises(TypeError, match=r"classes: expected an int or a 1-d sequence of ints, got 1\.5"):
        am.activation_maximization(linear_net(W), classes=1.5)


def test_class_score_refuses_classes_that_do_not_fit_the_batch():
    x = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"one index or one per sample \(3\), got shape \(2,\)"):
        am.class_score(linear_net(W), x, [0, 1])
    with pytest.raises(TypeError, match="classes: expected integer class indices, got dtype float64"):
        am.class_score(linear_net(W), x, 0.0)


def test_weights_may_be_zero_dimensional_arrays():
    a = am.activation_maximization(linear_net(W), 0, lam=np.array(0.5), steps=5)
    b = am.activation_maximization(linear_net(W), 0, lam=0.5, steps=5)
    np.testing.assert_array_equal(a.x, b.x)


def test_local_prototypes_refuse_a_bad_class_or_their_own_starts():
    blobs = np.random.default_rng(0).normal(0, 1, (10, 3))
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="classes: expected an int"):
        am.local_prototypes(linear_net(W), 1.7, blobs, n_prototypes=2, rng=rng)
    with pytest.raises(ValueError, match=r"c: expected one class index, got \[0, 1\]"):
        am.local_prototypes(linear_net(W), [0, 1], blobs, n_prototypes=2, rng=rng)
    with pytest.raises(TypeError, match="x0 cannot be given"):
        am.local_prototypes(linear_net(W), 1, blobs, n_prototypes=2, rng=rng, x0=blobs[0])


def test_cluster_starts_need_as_many_distinct_samples_as_clusters():
    repeated = np.repeat(np.eye(3)[:2], 5, axis=0)                  # 10 samples, 2 distinct
    rng = np.random.default_rng(0)
    assert am.cluster_starts(repeated, 2, rng=rng).shape == (2, 3)
    with pytest.raises(ValueError, match=r"n_clusters: expected at most the number of distinct samples \(2\), got 3"):
        am.cluster_starts(repeated, 3, rng=rng)


def test_decoder_whose_output_does_not_fit_the_classifier_is_refused():
    decoder = LinearDecoder(np.eye(2, 4), np.zeros(4))
    with pytest.raises(ValueError, match=r"decoder's output size 4 does not match the "
                                         r"classifier's input shape \(3,\)"):
        am.code_space_am(linear_net(W), 0, decoder)
    with pytest.raises(ValueError, match="lam: expected a number >= 0"):
        am.code_space_am(linear_net(W), 0, LinearDecoder(np.eye(2, 3), np.zeros(3)), lam=-1)
    with pytest.raises(TypeError, match="decoder: expected an object with n_latent, decode"):
        am.code_space_am(linear_net(W), 0, object())


def test_expert_without_the_density_methods_is_refused():
    with pytest.raises(TypeError, match="expert: expected an object with log_density"):
        am.activation_maximization(linear_net(W), 0, expert=object())


# --------------------------------------------------------------------------------------------
# the paper's Figure 2 claim on the shipped models

def test_figure2_prototypes_are_certain_and_expert_and_decoder_ones_are_likelier(mlp, heldout):
    """Sec. 3.3: every prototype is classified with near certainty; with an expert or a
    decoder they are closer to the data (here: lower free energy under the expert than the
    plain prototypes, and a smaller decoder reconstruction error)."""
    rbm, vae = load_rbm(DATA / "rbm.npz"), load_vae(DATA / "vae.npz")
    x, y = heldout
    classes = np.array([0, 3, 7])
    means = np.stack([x[y == c].mean(0) for c in classes])
    codes = np.stack([vae.encode(x[y == c].reshape(-1, 784)).mean(0) for c in classes])
    # all from the class mean, with the logit (log-softmax saturates there: see
    # tutorials/01_interpreting_concepts.py)
    plain = am.activation_maximization(mlp, classes, x0=means, lam=0.01, center=means,
                                       output="logit", steps=150, step_size=0.1)
    expert = am.activation_maximization(mlp, classes, x0=means, expert=rbm, gamma=0.1,
                                        output="logit", steps=150, step_size=0.05)
    decoded = am.code_space_am(mlp, classes, vae, lam=0.05, z_center=codes, output="logit",
                               steps=150, step_size=0.05)
    for name, protos in (("plain", plain), ("expert", expert), ("decoder", decoded)):
        p = softmax(mlp.forward(protos.x))[np.arange(3), classes]
        assert np.all(p > 0.9), f"{name} AM: class probabilities {np.round(p, 3)}"
    free = {n: rbm.free_energy(p.x.reshape(3, -1)) for n, p in
            (("plain", plain), ("expert", expert), ("decoder", decoded))}
    assert np.all(free["expert"] < free["plain"]) and np.all(free["decoder"] < free["plain"]), free
    error = {n: ((vae.reconstruct(p.x.reshape(3, -1)) - p.x.reshape(3, -1)) ** 2).mean(1)
             for n, p in (("plain", plain), ("expert", expert), ("decoder", decoded))}
    assert np.all(error["expert"] < error["plain"]) and np.all(error["decoder"] < error["plain"]), \
        error


def test_class_means_average_each_class_in_the_order_asked():
    X = np.arange(12.0).reshape(6, 2)
    labels = np.array([1, 0, 1, 2, 0, 2])
    np.testing.assert_array_equal(am.class_means(X, labels, [2, 0]), [[8.0, 9.0], [5.0, 6.0]])
    with pytest.raises(ValueError, match=r"classes: expected classes that occur among the labels, got \[3\]"):
        am.class_means(X, labels, [0, 3])
    with pytest.raises(ValueError, match=r"labels: expected one label per sample of X \(6\), got 5"):
        am.class_means(X, labels[:5], [0])

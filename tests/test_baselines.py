"""The baselines users compare LRP against (``explain.integrated_gradients``,
``explain.smoothgrad``, ``explain.occlusion``): closed forms on linear models, slow oracles
written as loops on small ReLU networks, hypothesis laws (IG's discretisation error bounded
by 1/(2m) per ReLU kink, SmoothGrad at zero noise is the gradient, occlusion of a linear
model is w x per patch), reproducibility, no NaN, and clear errors for bad arguments.

All in float64.  Tolerances: ``ROUNDING`` where the vectorized and the slow computation do
the same arithmetic in another order (sums of m copies, rows batched differently).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heatmapping import explain
from heatmapping.layers import Conv2d, Flatten, Linear, ReLU, SumPool2d
from heatmapping.network import Sequential
from test_laws import inputs, networks

#: the same sums in another order, or a mean of m identical terms, in float64
ROUNDING = dict(rtol=1e-12, atol=1e-12)


def linear_model(rng, sample_shape, classes=3):
    """f(x) = W^T vec(x) + b, and the weights w_c of each class in the sample's shape."""
    D = int(np.prod(sample_shape))
    W, b = rng.standard_normal((D, classes)), rng.standard_normal(classes)
    net = Sequential([Flatten(), Linear(W, b)], input_shape=sample_shape)
    return net, W.T.reshape((classes,) + tuple(sample_shape))


def tiny_cnn(rng):
    """Conv -> ReLU -> sum pool -> conv -> ReLU -> dense, on (1, 6, 6), negative biases."""
    return Sequential([
        Conv2d(rng.standard_normal((3, 1, 3, 3)), -rng.uniform(0, 0.3, 3), padding=1), ReLU(),
        SumPool2d(2), Conv2d(rng.standard_normal((4, 3, 2, 2)), -rng.uniform(0, 0.3, 4)), ReLU(),
        Flatten(), Linear(rng.standard_normal((16, 3)), rng.uniform(-0.3, 0.3, 3)),
    ], input_shape=(1, 6, 6))


def one_hidden_layer(rng, d=5, hidden=7, classes=3):
    """f(x) = V^T relu(W^T x + b) + c, whose integrated gradients have a closed form."""
    W, b = rng.standard_normal((d, hidden)), rng.standard_normal(hidden)
    V, c = rng.standard_normal((hidden, classes)), rng.standard_normal(classes)
    return Sequential([Linear(W, b), ReLU(), Linear(V, c)], input_shape=(d,)), (W, b, V)


def predicted(net, x):
    return net.forward(x).argmax(axis=1)


def logit(net, x, c):
    """f_c(x) for one sample x and one class c."""
    return float(net.forward(x[None])[0, c])


def grad_at(net, point, c):
    """d f_c / dx at one input point (one backward pass, e_c as output weights)."""
    u = np.zeros((1, net.forward(point[None]).shape[1]))
    u[0, c] = 1.0
    return net.gradient(point[None], u)[0]


# ------------------------------------------------------------- closed forms on linear models
@pytest.mark.parametrize("steps", [1, 2, 7, 32])
@pytest.mark.parametrize("baseline", ["zero", "number", "one sample", "per sample"])
def test_integrated_gradients_of_a_linear_model_is_x_minus_baseline_times_w(steps, baseline, rng):
    net, w = linear_model(rng, (2, 3, 4))
    x = rng.standard_normal((5, 2, 3, 4))
    x0 = {"zero": 0.0, "number": -1.0, "one sample": rng.standard_normal((2, 3, 4)),
          "per sample": rng.standard_normal((5, 2, 3, 4))}[baseline]
    R, error = explain.integrated_gradients(net, x, baseline=x0, steps=steps, return_error=True)
    c = predicted(net, x)
    np.testing.assert_allclose(R, (x - x0) * w[c], **ROUNDING)
    assert np.all(error < 1e-10), f"a linear model's IG is complete for any steps: {error}"


@pytest.mark.parametrize("noise, samples", [(0.0, 1), (0.15, 5), (3.0, 17)])
def test_smoothgrad_of_a_linear_model_is_w_whatever_the_noise(noise, samples, rng):
    net, w = linear_model(rng, (1, 4, 4))
    x = rng.standard_normal((3, 1, 4, 4))
    c = predicted(net, x)
    R = explain.smoothgrad(net, x, noise=noise, samples=samples, rng=np.random.default_rng(1))
    np.testing.assert_allclose(R, w[c], **ROUNDING)
    R2 = explain.smoothgrad(net, x, noise=noise, samples=samples, squared=True,
                            rng=np.random.default_rng(1))
    np.testing.assert_allclose(R2, w[c] ** 2, **ROUNDING)


@pytest.mark.parametrize("sample_shape, patch", [((1, 4, 6), (2, 3)), ((2, 4, 4), (4, 4)),
                                                 ((4, 12), (3,)), ((3, 5), (1, 1))],
                         ids=["image", "one patch", "sequence", "single values"])
def test_occlusion_of_a_linear_model_is_w_x_summed_per_patch_and_spread_over_it(sample_shape, patch, rng):
    net, w = linear_model(rng, sample_shape)
    x = rng.standard_normal((4,) + sample_shape)
    R = explain.occlusion(net, x, patch=patch, fill=0.0)
    # f(x) - f(x with patch p zeroed) = sum_{i in p} w_i x_i, spread over the patch's values
    wx = w[predicted(net, x)] * x
    lead = len(sample_shape) - len(patch)
    blocks = sum(((s // p, p) for s, p in zip(sample_shape[lead:], patch)), ())
    axes = tuple(range(1, 1 + lead)) + tuple(2 + lead + 2 * a for a in range(len(patch)))
    per_patch = wx.reshape((4,) + sample_shape[:lead] + blocks).sum(axis=axes, keepdims=True)
    size = np.prod(sample_shape[:lead], dtype=int) * np.prod(patch)
    expected = np.broadcast_to(per_patch / size, (4,) + sample_shape[:lead] + blocks)
    np.testing.assert_allclose(R, expected.reshape(x.shape), **ROUNDING)


# --------------------------------------------------------- slow oracles on a tiny ReLU network
def integrated_gradients_oracle(net, x, baseline, steps, c):
    """The midpoint sum with one gradient per sample and per step, as the formula reads."""
    R = np.zeros_like(x)
    for n in range(len(x)):
        for k in range(1, steps + 1):
            point = baseline[n] + (k - 0.5) / steps * (x[n] - baseline[n])
            R[n] += grad_at(net, point, c[n])
        R[n] *= (x[n] - baseline[n]) / steps
    return R


def occlusion_oracle(net, x, patch, stride, fill, c):
    """Each position of the window, each sample: f_c(x) - f_c(occluded), spread over the
    patch, then divided by the number of patches that covered each pixel."""
    N, C, H, W = x.shape
    R, covered = np.zeros_like(x), np.zeros(x.shape[1:])
    for n in range(N):
        for top in range(0, H - patch[0] + 1, stride[0]):
            for left in range(0, W - patch[1] + 1, stride[1]):
                window = (slice(None), slice(top, top + patch[0]), slice(left, left + patch[1]))
                occluded = x[n].copy()
                occluded[window] = fill
                drop = logit(net, x[n], c[n]) - logit(net, occluded, c[n])
                R[n][window] += drop / (C * patch[0] * patch[1])
                if n == 0:
                    covered[window] += 1
    return R / covered


def smoothgrad_oracle(net, x, noise, samples, seed, c, squared=False):
    """One noisy copy at a time, the draws taken in the documented order: draw j of sample n
    is the (j * N + n)-th standard normal array of the generator."""
    rng = np.random.default_rng(seed)
    R = np.zeros_like(x)
    for j in range(samples):
        for n in range(len(x)):
            sigma = noise * (x[n].max() - x[n].min())
            g = grad_at(net, x[n] + sigma * rng.standard_normal(x.shape[1:]), c[n])
            R[n] += g ** 2 if squared else g
    return R / samples


@pytest.mark.parametrize("steps", [1, 5, 16])
def test_integrated_gradients_equals_the_per_step_loop(steps, rng):
    net = tiny_cnn(rng)
    x, x0 = rng.uniform(-1, 1, (3, 1, 6, 6)), rng.uniform(-1, 1, (3, 1, 6, 6))
    c = predicted(net, x)
    np.testing.assert_allclose(explain.integrated_gradients(net, x, baseline=x0, steps=steps),
                               integrated_gradients_oracle(net, x, x0, steps, c), **ROUNDING)


@pytest.mark.parametrize("patch, stride, fill", [((2, 2), None, 0.0), ((3, 3), None, -1.0),
                                                 ((4, 4), (2, 2), 0.5), ((2, 3), (1, 3), 0.0)],
                         ids=["tiles", "black tiles", "overlapping", "rows of overlap"])
def test_occlusion_equals_the_per_patch_loop(patch, stride, fill, rng):
    net = tiny_cnn(rng)
    x = rng.uniform(-1, 1, (3, 1, 6, 6))
    x[0, :, :3, :3] = fill                      # a patch that already holds the fill: Delta 0
    R = explain.occlusion(net, x, patch=patch, stride=stride, fill=fill)
    np.testing.assert_allclose(R, occlusion_oracle(net, x, patch, stride or patch, fill,
                                                   predicted(net, x)), **ROUNDING)


@pytest.mark.parametrize("squared", [False, True])
def test_smoothgrad_equals_the_per_draw_loop(squared, rng):
    net = tiny_cnn(rng)
    x = rng.uniform(-1, 1, (3, 1, 6, 6))
    R = explain.smoothgrad(net, x, noise=0.2, samples=6, squared=squared,
                           rng=np.random.default_rng(7), batch_size=5)
    np.testing.assert_allclose(R, smoothgrad_oracle(net, x, 0.2, 6, 7, predicted(net, x), squared),
                               **ROUNDING)


def test_the_target_is_fixed_from_x_not_from_the_points_of_the_path():
    # f = (x, -x): class 0 at x = 1, class 1 at the baseline -1, so half the path's points
    # predict class 1; IG still explains class 0, and sums to f_0(1) - f_0(-1) = 2
    net = Sequential([Linear(np.array([[1.0, -1.0]]), np.zeros(2))], input_shape=(1,))
    R = explain.integrated_gradients(net, np.array([[1.0]]), baseline=-1.0, steps=4)
    assert R[0, 0] == pytest.approx(2.0), R
    S = explain.smoothgrad(net, np.array([[1e-9]]), noise=1.0, samples=8)   # noisy copies of either sign
    assert S[0, 0] == pytest.approx(1.0), S
    O = explain.occlusion(net, np.array([[1.0]]), patch=(1,), fill=-1.0)
    assert O[0, 0] == pytest.approx(2.0), O


def test_integrated_gradients_reports_its_completeness_error(rng):
    net = tiny_cnn(rng)
    x = rng.uniform(-1, 1, (4, 1, 6, 6))
    R, error = explain.integrated_gradients(net, x, baseline=-1.0, steps=8, return_error=True)
    c, rows = predicted(net, x), np.arange(4)
    gain = net.forward(x)[rows, c] - net.forward(np.full_like(x, -1.0))[rows, c]
    np.testing.assert_allclose(error, np.abs(R.reshape(4, -1).sum(axis=1) - gain), **ROUNDING)


@pytest.mark.parametrize("method, kwargs", [
    ("integrated_gradients", {"steps": 9}), ("smoothgrad", {"samples": 7}),
    ("occlusion", {"patch": (2, 2), "stride": (1, 1)})], ids=["ig", "smoothgrad", "occlusion"])
@pytest.mark.parametrize("batch_size", [1, 5, 1000])
def test_the_result_does_not_depend_on_the_batch_size(method, kwargs, batch_size, rng):
    net = tiny_cnn(rng)
    x = rng.uniform(-1, 1, (3, 1, 6, 6))
    f = explain.METHODS[method]
    np.testing.assert_allclose(f(net, x, batch_size=batch_size, **kwargs),
                               f(net, x, batch_size=64, **kwargs), **ROUNDING)


# ------------------------------------------------------------------------------- laws
def exact_integrated_gradients(params, x, x0, c):
    """IG of f = V^T relu(W^T x + b) + const along x0 -> x, integrated exactly: hidden unit j
    is active on a fraction a_j of the segment (its pre-activation is linear in t), so
    R_i = (x_i - x0_i) sum_j V_jc W_ij a_j, and a midpoint rule with m steps misses each a_j
    by at most 1/(2m) (the distance from the kink to the nearest cell border)."""
    W, b, V = params
    z0, z1 = x0 @ W + b, x @ W + b                          # (N, H) at t = 0 and t = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        kink = np.clip(-z0 / (z1 - z0), 0, 1)               # where z(t) = z0 + t (z1 - z0) = 0
    active = np.where(z1 > z0, 1 - kink, np.where(z1 < z0, kink, (z0 > 0).astype(float)))
    v = V[:, c].T                                           # (N, H)
    return (x - x0) * ((v * active) @ W.T), v


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 4096))
def test_integrated_gradients_error_is_at_most_half_a_step_per_crossed_kink(seed, steps):
    """The law behind "the error shrinks like 1/m": |R_m - R_exact| <= |x - x0| * sum_j
    |V_jc W_ij| / (2m) per feature, and |sum R_m - (f(x) - f(x0))| <= sum_j |V_jc (x - x0) .
    W_j| / (2m), both sums over the units whose kink the path crosses: a bound that goes to 0
    as m grows.  (That the error at 256 steps is below the error at 8 is not a law: the
    errors of two kinks can cancel at 8 steps and not at 256.)"""
    rng = np.random.default_rng(seed)
    net, params = one_hidden_layer(rng)
    W, b, V = params
    x, x0 = rng.uniform(-2, 2, (3, 5)), rng.uniform(-2, 2, (3, 5))
    c = predicted(net, x)
    R, error = explain.integrated_gradients(net, x, baseline=x0, steps=steps, return_error=True)
    exact, v = exact_integrated_gradients(params, x, x0, c)
    rows = np.arange(3)
    gain = net.forward(x)[rows, c] - net.forward(x0)[rows, c]
    np.testing.assert_allclose(exact.sum(axis=1), gain, rtol=1e-9, atol=1e-9)   # completeness
    z0, z1 = x0 @ W + b, x @ W + b
    crossed = (z0 > 0) != (z1 > 0)                                              # (N, H)
    per_feature = np.abs(x - x0) * ((np.abs(v) * crossed) @ np.abs(W).T) / (2 * steps)
    assert np.all(np.abs(R - exact) <= per_feature + 1e-9), (R - exact, per_feature)
    bound = (np.abs(v * ((x - x0) @ W)) * crossed).sum(axis=1) / (2 * steps)
    assert np.all(error <= bound + 1e-9), (error, bound)


# the baselines' laws at 300 examples: each runs a network several times per example, and the
# paper's own laws in test_laws.py keep the CI profile's 2,000
BASELINE_EXAMPLES = settings(max_examples=300)


@BASELINE_EXAMPLES
@given(data=st.data(), net=networks(), squared=st.booleans(), samples=st.integers(1, 4))
def test_smoothgrad_with_zero_noise_is_the_gradient(data, net, squared, samples):
    x = data.draw(inputs(net))
    g = explain.gradient(net, x)
    R = explain.smoothgrad(net, x, noise=0.0, samples=samples, squared=squared,
                           rng=np.random.default_rng(0))
    np.testing.assert_allclose(R, g ** 2 if squared else g, **ROUNDING)


@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_occlusion_of_any_linear_model_is_w_x_per_patch(seed, data):
    rng = np.random.default_rng(seed)
    H, W = data.draw(st.sampled_from([(4, 6), (6, 6), (3, 9), (8, 4)]), label="image")
    ph = data.draw(st.sampled_from([d for d in range(1, H + 1) if H % d == 0]), label="ph")
    pw = data.draw(st.sampled_from([d for d in range(1, W + 1) if W % d == 0]), label="pw")
    C = data.draw(st.integers(1, 3), label="channels")
    net, w = linear_model(rng, (C, H, W))
    x = rng.standard_normal((2, C, H, W))
    R = explain.occlusion(net, x, patch=(ph, pw))
    wx = w[predicted(net, x)] * x
    per_patch = wx.reshape(2, C, H // ph, ph, W // pw, pw).sum(axis=(1, 3, 5))  # (2, gh, gw)
    # the sum of R over a patch is Delta_p = sum_{i in p} w_i x_i, and R is flat on it
    R_patch = R.reshape(2, C, H // ph, ph, W // pw, pw)
    np.testing.assert_allclose(R_patch.sum(axis=(1, 3, 5)), per_patch, **ROUNDING)
    np.testing.assert_allclose(R_patch, np.broadcast_to(per_patch[:, None, :, None, :, None] / (C * ph * pw),
                                                        R_patch.shape), **ROUNDING)


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 64))
def test_integrated_gradients_of_any_linear_model_is_exact_for_any_steps(seed, steps):
    rng = np.random.default_rng(seed)
    net, w = linear_model(rng, (rng.integers(1, 7),))
    x, x0 = rng.standard_normal((3,) + net.input_shape), rng.standard_normal(net.input_shape)
    R = explain.integrated_gradients(net, x, baseline=x0, steps=steps)
    np.testing.assert_allclose(R, (x - x0) * w[predicted(net, x)], **ROUNDING)


# ------------------------------------------------------------- reproducibility and no NaN
def test_smoothgrad_is_reproducible_from_its_seed_and_different_across_seeds(rng):
    net = tiny_cnn(rng)
    x = rng.uniform(-1, 1, (2, 1, 6, 6))
    a = explain.smoothgrad(net, x, samples=5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, explain.smoothgrad(net, x, samples=5, rng=np.random.default_rng(3)))
    assert not np.array_equal(a, explain.smoothgrad(net, x, samples=5, rng=np.random.default_rng(4)))
    # no rng: a fresh default_rng(0) inside every call, the same result each time
    np.testing.assert_array_equal(explain.smoothgrad(net, x, samples=5),
                                  explain.smoothgrad(net, x, samples=5, rng=np.random.default_rng(0)))
    np.testing.assert_array_equal(explain.smoothgrad(net, x, samples=3), explain.smoothgrad(net, x, samples=3))


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad", "occlusion"])
@BASELINE_EXAMPLES
@given(data=st.data(), net=networks(), scale=st.sampled_from([0.0, 1e-300, 1.0, 1e6]))
def test_no_baseline_produces_nan_or_inf(method, data, net, scale):
    x = data.draw(inputs(net)) * scale                     # all-zero input included
    # a few steps, copies and one-pixel patches: finiteness does not depend on how many
    options = {"integrated_gradients": {"steps": 3}, "smoothgrad": {"samples": 3},
               "occlusion": {"patch": (1,)}}[method]
    R = explain.METHODS[method](net, x, **options)
    assert R.shape == x.shape and np.all(np.isfinite(R)), f"{method} gave NaN/Inf"


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad", "occlusion"])
def test_an_all_zero_input_is_explained_without_nan(method, rng):
    kwargs = {"patch": (2, 2)} if method == "occlusion" else {}
    R = explain.METHODS[method](tiny_cnn(rng), np.zeros((2, 1, 6, 6)), **kwargs)
    assert np.all(np.isfinite(R))
    if method == "occlusion":
        assert np.all(R == 0), "occluding zeros with the fill 0 changes nothing"


# ----------------------------------------------------------------------------- bad arguments
IG, SG, OC = "integrated_gradients", "smoothgrad", "occlusion"
GENERATOR = r"expected a numpy\.random\.Generator"
BAD = [
    (IG, {"steps": 0}, ValueError, r"steps: expected an integer >= 1, got 0"),
    (IG, {"steps": 2.5}, TypeError, r"steps: expected an integer, got 2\.5"),
    (IG, {"steps": True}, TypeError, r"steps: expected an integer, got True"),
    (IG, {"baseline": np.zeros((5,))}, ValueError,
     r"baseline: expected a number or an array broadcasting to one sample's shape \(1, 6, 6\) "
     r"or to the batch's \(2, 1, 6, 6\), got shape \(5,\)"),
    (IG, {"baseline": np.nan}, ValueError, r"baseline: expected a finite number, got nan"),
    (IG, {"baseline": "black"}, TypeError, r"baseline: expected a real number, got '?black'?"),
    (SG, {"noise": -0.1}, ValueError, r"noise: expected a number >= 0, got -0\.1"),
    (SG, {"noise": "0.1"}, TypeError, r"noise: expected a real number, got '?0\.1'?"),
    (SG, {"samples": 0}, ValueError, r"samples: expected an integer >= 1, got 0"),
    (SG, {"rng": 0}, TypeError, rf"rng: {GENERATOR} .*, got 0\b"),
    (SG, {"rng": np.random.RandomState(0)}, TypeError, rf"rng: {GENERATOR} .*RandomState"),
    (OC, {"patch": (4, 4)}, ValueError,
     r"patch: expected windows that cover axis 0 of the images \(6, 6\) exactly.*got patch "
     r"\(4, 4\) and stride \(4, 4\)"),
    (OC, {"patch": (2, 2), "stride": (3, 3)}, ValueError,
     r"stride: expected windows that cover axis 0 .*got patch \(2, 2\) and stride \(3, 3\)"),
    (OC, {"patch": 3}, TypeError, r"patch: expected a tuple of positive integers like \(4, 4\), got 3\b"),
    (OC, {"patch": "3x3"}, TypeError, r"patch: expected a tuple of positive integers .*got '?3x3'?"),
    (OC, {"patch": (0, 2)}, ValueError, r"patch\[0\]: expected an integer in 1\.\.6, got 0"),
    (OC, {"patch": (7, 7)}, ValueError, r"patch\[0\]: expected an integer in 1\.\.6, got 7"),
    (OC, {"patch": (1.5, 2)}, TypeError, r"patch\[0\]: expected an integer, got 1\.5"),
    (OC, {"patch": (1, 1, 1, 1)}, ValueError,
     r"patch: expected 1 to 3 sizes, one per trailing axis of a sample of shape \(1, 6, 6\)"),
    (OC, {"patch": (2, 2), "stride": (2,)}, ValueError, r"stride: expected 2 sizes"),
    (OC, {"patch": (2, 2), "stride": (0, 2)}, ValueError, r"stride\[0\]: expected an integer >= 1, got 0"),
    (OC, {"patch": (2, 2), "fill": np.zeros((3, 1, 6, 6))}, ValueError,
     r"fill: expected a number or an array broadcasting"),
    (OC, {"patch": (2, 2), "batch_size": 0}, ValueError, r"batch_size: expected an integer >= 1, got 0"),
]


@pytest.mark.parametrize("method, kwargs, error, message", BAD,
                         ids=[f"{m}-{'-'.join(k)}-{i}" for i, (m, k, _, _) in enumerate(BAD)])
def test_bad_arguments_get_errors_naming_the_argument(method, kwargs, error, message, rng):
    net = tiny_cnn(rng)
    with pytest.raises(error, match=message):
        explain.METHODS[method](net, rng.uniform(-1, 1, (2, 1, 6, 6)), **kwargs)


@pytest.mark.parametrize("method", [IG, SG, OC])
@pytest.mark.parametrize("x, error, message", [
    (np.zeros(6).tolist(), ValueError,
     r"x: expected a batch \(N, \.\.\.\) with a leading sample axis, got shape \(6,\)"),
    (np.zeros((2, 1, 6, 6), dtype=int), TypeError,
     r"x: expected a real floating-point array, got dtype int64"),
    (np.full((2, 1, 6, 6), np.inf), ValueError, r"x: expected finite values"),
], ids=["one sample", "integers", "inf"])
def test_a_bad_input_batch_is_refused_by_name(method, x, error, message, rng):
    with pytest.raises(error, match=message):
        explain.METHODS[method](tiny_cnn(rng), x)


def test_the_baselines_are_in_methods_for_the_command_line_and_the_metrics():
    for name in ("integrated_gradients", "smoothgrad", "occlusion"):
        assert explain.METHODS[name] is getattr(explain, name)

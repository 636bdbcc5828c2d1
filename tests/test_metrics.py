"""Explanation quality metrics (Sec. 7): continuity and pixel-flipping, against closed forms.

Oracles:

* a linear model f(x) = w . x + b, removal value v: removing feature i changes f by
  -w_i (x_i - v), so with R = w * (x - v) (simple Taylor with root v) the curve is
  f(x_0) - cumsum of R sorted in decreasing order, and no removal order has a lower AUC;
* continuity of R = w * x on that model: max over d of ||w * d||_1 / ||d||_2 = ||w||_2
  (Cauchy-Schwarz, equality for d parallel to |w|), so a pair along |w| reaches it;
* the Figure 6 network: z+ LRP gives R = (x1 - x2/2, x2/2) for x1 >= x2 (and symmetrically),
  a continuous piecewise-linear map whose pieces have ||J d||_1 / ||d||_2 <= sqrt(2), with
  equality for d along (1, -1): continuity is exactly sqrt(2).
"""

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from heatmapping import explain, metrics
from heatmapping.layers import Conv2d, Flatten, Linear, ReLU, SumPool2d
from heatmapping.models import load_model
from heatmapping.network import Sequential
from heatmapping.rules import ZPlus
from test_explain import figure6_network

#: float64 rounding of a few dozen operations
ROUNDING = 1e-12


def linear_model(w, b=0.0):
    """f(x) = w . x + b on inputs (N, D)."""
    w = np.asarray(w, dtype=float)
    return Sequential([Linear(w[:, None], np.array([b]))], input_shape=(len(w),))


def small_cnn(rng):
    """A float64 conv net on (1, 8, 8) images with three classes."""
    return Sequential([
        Conv2d(rng.standard_normal((3, 1, 3, 3)), -rng.uniform(0, 0.1, 3), padding=1), ReLU(),
        SumPool2d(2), Flatten(), Linear(rng.standard_normal((48, 3)), np.zeros(3)),
    ], input_shape=(1, 8, 8))


def closed_form_curve(f0, R_sorted):
    """f(x_k) = f(x_0) - (sum of the k largest relevances), k = 0..K."""
    return f0[:, None] - np.concatenate([np.zeros((len(f0), 1)), np.cumsum(R_sorted, axis=1)], axis=1)


# ------------------------------------------------------------------- linear model oracles
features = st.integers(1, 6)
unit = st.floats(-1.0, 1.0, allow_nan=False)


@st.composite
def linear_cases(draw):
    D = draw(features)
    w = draw(hnp.arrays(np.float64, D, elements=st.floats(-2.0, 2.0, allow_nan=False)))
    x = draw(hnp.arrays(np.float64, (3, D), elements=unit))
    return w, x, draw(unit), draw(unit)


@given(case=linear_cases())
def test_linear_model_curve_is_f0_minus_the_sorted_cumulative_relevance(case):
    w, x, v, b = case
    net = linear_model(w, b)
    R = explain.simple_taylor(net, x, target=0, root=v)        # = w * (x - v)
    result = metrics.pixel_flipping(net, x, R, target=0, patch=(1,), removal=v)
    expected = closed_form_curve(net.forward(x)[:, 0], -np.sort(-R, axis=1))
    np.testing.assert_allclose(result.curve, expected, rtol=ROUNDING, atol=ROUNDING * 10,
                               err_msg="curve differs from f(x0) - cumsum(sorted w (x - v))")


@given(case=linear_cases())
@settings(max_examples=200)
def test_relevance_w_times_x_minus_removal_value_gives_the_lowest_auc_of_all_orders(case):
    w, x, v, b = case
    net = linear_model(w, b)
    R = w * (x - v)
    best = metrics.pixel_flipping(net, x, R, target=0, patch=(1,), removal=v).auc
    f0 = net.forward(x)[:, 0]
    for perm in itertools.permutations(range(len(w))):
        other = metrics.auc(closed_form_curve(f0, R[:, list(perm)]))
        assert np.all(best <= other + ROUNDING * 10), f"order {perm} beats the relevance order"


@given(case=linear_cases(), root=unit)
@settings(max_examples=200)
def test_recomputed_and_fixed_orderings_agree_on_a_linear_model(case, root):
    # removed features are excluded, and the relevance w_i (x_i - root) of the others does not
    # change when a feature is removed: the recomputed order is the fixed one
    w, x, v, b = case
    net = linear_model(w, b)
    explain_fn = functools.partial(explain.simple_taylor, net, root=root)
    fixed = metrics.pixel_flipping(net, x, None, explain_fn=explain_fn, patch=(1,), removal=v, target=0)
    again = metrics.pixel_flipping(net, x, None, explain_fn=explain_fn, patch=(1,), removal=v,
                                   target=0, recompute=True)
    np.testing.assert_array_equal(again.order, fixed.order)
    np.testing.assert_array_equal(again.curve, fixed.curve)


def test_recompute_follows_the_heatmap_of_the_current_image():
    # f = relu(x1 + x2 - 1) + relu(x3) at x = (1, 1, 0.5), black = -1, R = grad * (x + 1):
    # R = (2, 2, 1.5).  Fixed order: x1, x2 (tie: lower index first), x3.  Once x1 is black the
    # ReLU is off, x2 gets relevance 0, and the recomputed order removes x3 before x2.
    net = Sequential([Linear(np.array([[1.0, 0], [1, 0], [0, 1]]), np.array([-1.0, 0])), ReLU(),
                      Linear(np.array([[1.0], [1.0]]), np.zeros(1))], input_shape=(3,))
    x = np.array([[1.0, 1.0, 0.5]])
    explain_fn = functools.partial(explain.simple_taylor, net, root=-1.0)
    fixed = metrics.pixel_flipping(net, x, None, explain_fn=explain_fn, patch=(1,), target=0)
    again = metrics.pixel_flipping(net, x, None, explain_fn=explain_fn, patch=(1,), target=0,
                                   recompute=True)
    assert fixed.order[0].tolist() == [0, 1, 2] and again.order[0].tolist() == [0, 2, 1]
    np.testing.assert_allclose(fixed.curve[0], [1.5, 0.5, 0.5, 0.0], rtol=ROUNDING)
    np.testing.assert_allclose(again.curve[0], [1.5, 0.5, 0.0, 0.0], rtol=ROUNDING)


def recomputed_order_oracle(net, x, explain_fn, patch, fill_value, R=None):
    """The paper's procedure written out per sample and per step: the heatmap of the current
    image is computed every time, whether the last removal changed the image or not (the
    first one is ``R`` if given)."""
    grid = metrics.patch_grid(x.shape[1:], patch)
    K = int(np.prod(grid))
    orders = []
    for n in range(len(x)):
        xk, c = x[n:n + 1].copy(), int(net.forward(x[n:n + 1]).argmax())
        removed, order = np.zeros(K, dtype=bool), []
        for k in range(K):
            heatmap = R[n:n + 1] if (R is not None and k == 0) else explain_fn(xk, target=c)
            r = metrics.patch_relevance(heatmap, patch)[0]
            best = int(np.flatnonzero(~removed)[np.argmax(r[~removed])])
            removed[best] = True
            order.append(best)
            mask = metrics.patch_mask(removed[None], x.shape[1:], patch)
            xk = np.where(mask, fill_value, xk)
        orders.append(order)
    return np.array(orders)


@given(seed=st.integers(0, 2**32 - 1), background=st.floats(0.0, 0.9))
@settings(max_examples=30, deadline=None)
def test_recompute_keeps_the_heatmap_of_an_unchanged_image_and_matches_recomputing_all(seed, background):
    # pixel_flipping explains only the images the last removal changed; on images with black
    # patches (removal = black leaves them as they are) that is most of the later steps.  The
    # order must be the one of recomputing every heatmap at every step.
    rng = np.random.default_rng(seed)
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (4, 1, 8, 8))
    x[rng.uniform(size=(4, 1, 8, 8)) < background] = -1.0
    x[:, :, :2, :2] = -1.0                                     # one patch black from the start
    explain_fn = functools.partial(explain.lrp, net, rules="deep_taylor")
    result = metrics.pixel_flipping(net, x, None, explain_fn=explain_fn, patch=(2, 2),
                                    recompute=True)
    np.testing.assert_array_equal(result.order,
                                  recomputed_order_oracle(net, x, explain_fn, (2, 2), -1.0))


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int64])
def test_a_given_heatmap_orders_the_first_removal_only(dtype, rng):
    # R chosen to pick a black patch first: the removal changes nothing, and yet the second
    # removal must follow explain_fn's heatmap, computed in explain_fn's dtype
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (4, 1, 8, 8))
    x[:, :, :2, :2] = -1.0
    R = np.zeros_like(x)
    R[:, :, :2, :2] = 1
    explain_fn = functools.partial(explain.lrp, net, rules="deep_taylor")
    result = metrics.pixel_flipping(net, x, R.astype(dtype), explain_fn=explain_fn, patch=(2, 2),
                                    recompute=True)
    np.testing.assert_array_equal(result.order,
                                  recomputed_order_oracle(net, x, explain_fn, (2, 2), -1.0, R))


def test_recompute_explains_only_the_images_the_last_removal_changed(rng):
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (3, 1, 8, 8))
    x[1] = -1.0                                                # all black: never changes
    sizes = []

    def explain_fn(xs, target=None):
        sizes.append(len(xs))
        return explain.lrp(net, xs, target=target, rules="deep_taylor")
    metrics.pixel_flipping(net, x, None, explain_fn=explain_fn, patch=(4, 4), recompute=True)
    # the first heatmaps of all 3, then those of the 2 images that each removal changes,
    # until a removed patch was black already
    assert sizes[0] == 3 and max(sizes[1:]) == 2, sizes


# ----------------------------------------------------------------------- AUC and AOPC
def test_aopc_is_f0_minus_the_mean_of_the_recorded_scores(rng):
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (5, 1, 8, 8))
    R = explain.lrp(net, x, rules="deep_taylor")
    result = metrics.pixel_flipping(net, x, R, patch=(2, 2), removal="black", keep=range(17))
    f = np.stack([net.forward(result.images[k])[np.arange(5), result.target] for k in range(17)], axis=1)
    np.testing.assert_allclose(result.curve, f, rtol=ROUNDING, atol=ROUNDING,
                               err_msg="the curve is not f_c of the images x_k")
    np.testing.assert_allclose(result.aopc, f[:, 0] - f.mean(axis=1), rtol=ROUNDING, atol=ROUNDING)
    np.testing.assert_allclose(metrics.aopc(result.curve, steps=4), f[:, 0] - f[:, :5].mean(axis=1),
                               rtol=ROUNDING, atol=ROUNDING)


def test_auc_is_the_trapezoid_over_the_fraction_removed():
    curve = np.array([[4.0, 2.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    # trapezoids of width 1/4: (3 + 1.5 + 1 + 0.5) / 4 = 1.5; a flat curve has its height
    np.testing.assert_allclose(metrics.auc(curve), [1.5, 1.0], rtol=ROUNDING)
    np.testing.assert_allclose(metrics.aopc(curve), [4 - 8 / 5, 0.0], rtol=ROUNDING)


# -------------------------------------------------------------------------------- patches
def test_patch_relevance_sums_each_block_in_row_major_order(rng):
    R = rng.standard_normal((2, 3, 8, 12))
    P = metrics.patch_relevance(R, (4, 3))
    assert P.shape == (2, 2 * 4)
    for n, gy, gx in itertools.product(range(2), range(2), range(4)):
        block = R[n, :, 4 * gy:4 * gy + 4, 3 * gx:3 * gx + 3].sum()
        assert np.isclose(P[n, 4 * gy + gx], block, rtol=ROUNDING), (n, gy, gx)


def test_patch_mask_marks_exactly_the_removed_blocks():
    removed = np.zeros((1, 4), dtype=bool)
    removed[0, 2] = True                                      # bottom-left of a 2x2 grid
    mask = metrics.patch_mask(removed, (2, 4, 4), (2, 2))
    expected = np.zeros((1, 2, 4, 4), dtype=bool)
    expected[0, :, 2:, :2] = True
    np.testing.assert_array_equal(mask, expected)


def test_the_cnn_input_is_an_8x8_grid_of_4x4_patches_including_the_border():
    assert metrics.patch_grid((1, 32, 32), (4, 4)) == (8, 8)


# ------------------------------------------------------------------ removal strategies
REMOVALS = ["black", "mean", "uniform", "blur", "inpaint", 0.25]


@pytest.mark.parametrize("removal", REMOVALS, ids=str)
def test_every_removal_replaces_exactly_the_removed_patches_and_the_curve_is_f_of_them(removal, rng):
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (4, 1, 8, 8))
    mean = rng.uniform(-1, 1, (1, 8, 8))
    result = metrics.pixel_flipping(net, x, rng.standard_normal(x.shape), patch=(4, 4),
                                    removal=removal, mean=mean, rng=np.random.default_rng(7),
                                    keep=range(5))
    fill = metrics.removal_fill(x, removal, patch=(4, 4), mean=mean, rng=np.random.default_rng(7))
    for k in range(5):
        removed = np.zeros((4, 4), dtype=bool)
        removed[np.arange(4)[:, None], result.order[:, :k]] = True
        mask = metrics.patch_mask(removed, (1, 8, 8), (4, 4))
        np.testing.assert_array_equal(result.images[k], np.where(mask, fill(mask), x),
                                      err_msg=f"step {k}: wrong pixels replaced")
        f = net.forward(result.images[k])[np.arange(4), result.target]
        np.testing.assert_allclose(result.curve[:, k], f, rtol=ROUNDING, atol=ROUNDING)
    assert np.all((result.images[4] >= -1) & (result.images[4] <= 1)), "left the pixel range"


def test_black_mean_and_constant_removal_values(rng):
    x = rng.uniform(-1, 1, (2, 1, 4, 4))
    everything = np.ones((2, 1, 4, 4), dtype=bool)
    mean = rng.uniform(-1, 1, (1, 4, 4))
    assert np.all(metrics.removal_fill(x, "black")(everything) == -1.0)
    assert np.all(metrics.removal_fill(x, 0.3)(everything) == 0.3)
    np.testing.assert_array_equal(np.broadcast_to(metrics.removal_fill(x, "mean", mean=mean)(everything), x.shape),
                                  np.broadcast_to(mean, x.shape))


def test_uniform_noise_is_drawn_once_within_the_bounds(rng):
    x = np.zeros((50, 1, 4, 4))
    fill = metrics.removal_fill(x, "uniform", rng=np.random.default_rng(3), bounds=(-1, 1))
    mask = np.ones(x.shape, dtype=bool)
    noise = fill(mask)
    assert np.all(noise == fill(mask[::-1])), "noise must stay fixed across steps"
    assert -1 <= noise.min() and noise.max() <= 1 and abs(noise.mean()) < 0.1


def test_blur_and_inpaint_keep_the_background_exactly_and_fill_a_flat_region_flatly():
    x = -np.ones((1, 1, 24, 24))
    mask = np.zeros(x.shape, dtype=bool)
    mask[..., 10:14, 10:14] = True
    for removal in ("blur", "inpaint"):
        assert np.all(metrics.removal_fill(x, removal, patch=(4, 4))(mask) == -1.0), removal
    # an ink square of 0.5 with one patch removed in its middle, farther from the background
    # than the Gaussian reaches (4 sigma = 8 pixels): inpainting restores 0.5 there, up to the
    # prior's pull of about INPAINT_PRIOR / (kept weight ~0.5) towards the background
    x[..., 2:22, 2:22] = 0.5
    filled = metrics.removal_fill(x, "inpaint", patch=(4, 4))(mask)[mask]
    assert np.all(np.abs(filled - 0.5) < 1.5 * 4 * metrics.INPAINT_PRIOR), filled
    # blur is the Gaussian of width patch/2 of (x + 1), shifted back
    blurred = metrics.removal_fill(x, "blur", patch=(4, 4))(mask)
    np.testing.assert_allclose(blurred, ndimage.gaussian_filter(x + 1, (0, 0, 2, 2), mode="constant") - 1,
                               rtol=ROUNDING, atol=ROUNDING)


# ---------------------------------------------------------------------------- continuity
def test_continuity_of_w_times_x_is_the_l2_norm_of_w_reached_along_abs_w(rng):
    w = rng.standard_normal(7)
    net = linear_model(w)
    explain_fn = functools.partial(explain.simple_taylor, net, target=0)   # R = w * x
    x = rng.standard_normal((4, 7))
    signs = np.array([1.0, -1.0, 1.0, -1.0])[:, None]
    along = x + signs * 0.3 * np.abs(w)
    np.testing.assert_allclose(metrics.continuity(explain_fn, x, along), np.linalg.norm(w), rtol=ROUNDING)
    ratios = metrics.continuity_ratios(explain_fn, x, rng.standard_normal((4, 7)))
    assert np.all(ratios <= np.linalg.norm(w) * (1 + ROUNDING))


#: weights and inputs away from the subnormal range, where w * x itself is rounded to a few
#: units and no quotient can be exact (the metric's own scaling is exact down to 5e-324)
normal = st.floats(-3, 3).map(lambda v: 0.0 if abs(v) < 1e-100 else v)


@given(w=hnp.arrays(np.float64, 5, elements=normal),
       x=hnp.arrays(np.float64, (2, 5), elements=unit.map(lambda v: 0.0 if abs(v) < 1e-100 else v)),
       x2=hnp.arrays(np.float64, (2, 5), elements=unit.map(lambda v: 0.0 if abs(v) < 1e-100 else v)))
def test_continuity_of_w_times_x_never_exceeds_the_l2_norm_of_w(w, x, x2):
    def explain_fn(X):
        return w * X
    if np.all(x == x2, axis=1).all():
        return
    norm_w = np.hypot.reduce(w)                 # no underflow for tiny w, unlike sqrt(sum w^2)
    assert metrics.continuity(explain_fn, x, x2) <= norm_w * (1 + ROUNDING)


def deep_taylor_figure6(X):
    return explain.lrp(figure6_network(), X, rules=ZPlus())


def test_deep_taylor_continuity_on_figure6_is_exactly_sqrt2_along_the_anti_diagonal():
    # within one linear piece (x1 > x2) and across the kink x1 = x2, along (1, -1)
    X = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.1], [0.2, 0.9]])
    X2 = np.array([[0.7, 0.3], [0.4, 0.6], [0.25, 0.15], [0.5, 0.6]])
    np.testing.assert_allclose(metrics.continuity_ratios(deep_taylor_figure6, X, X2), np.sqrt(2),
                               rtol=ROUNDING)
    # along (1, 1), J d = (d/2, d/2): the quotient is ||(1/2, 1/2)||_1 / ||(1, 1)||_2 = 1/sqrt(2)
    np.testing.assert_allclose(metrics.continuity(deep_taylor_figure6, X, X + 0.1), 1 / np.sqrt(2),
                               rtol=ROUNDING)


@given(x=hnp.arrays(np.float64, (4, 2), elements=st.floats(0, 1)),
       x2=hnp.arrays(np.float64, (4, 2), elements=st.floats(0, 1)))
def test_deep_taylor_continuity_on_figure6_never_exceeds_sqrt2(x, x2):
    if np.all(x == x2):
        return
    assert metrics.continuity(deep_taylor_figure6, x, x2) <= np.sqrt(2) * (1 + ROUNDING)


def test_sensitivity_along_a_path_across_the_kink_grows_as_the_step_shrinks():
    # sensitivity jumps from (0, 1) to (1, 0) across x1 = x2: ||dR||_1 = 2 over a step h
    sens = functools.partial(explain.sensitivity, figure6_network())
    for h in (1e-1, 1e-3, 1e-6):
        t = np.arange(-2.5, 3) * h / np.sqrt(2)               # never exactly on the diagonal
        path = np.stack([0.5 + t, 0.5 - t], axis=1)
        np.testing.assert_allclose(metrics.continuity_along_path(sens, path), 2 / h, rtol=1e-6)
        assert metrics.continuity_along_path(deep_taylor_figure6, path) <= np.sqrt(2) * (1 + 1e-9)


def test_local_lipschitz_separates_continuous_from_discontinuous_explanations():
    x = np.array([[0.5, 0.5 + 1e-4], [0.7, 0.2]])
    sens = functools.partial(explain.sensitivity, figure6_network())
    dt = metrics.local_lipschitz(deep_taylor_figure6, x, radius=1e-2, n_samples=64,
                                 rng=np.random.default_rng(0))
    sv = metrics.local_lipschitz(sens, x, radius=1e-2, n_samples=64, rng=np.random.default_rng(0))
    assert dt.shape == (2,) and np.all(dt <= np.sqrt(2) * (1 + 1e-9)) and np.all(dt > 0.5)
    assert sv[0] > 100, "sensitivity near the diagonal should jump"
    assert sv[1] == 0, "away from the kink sensitivity is constant"


# --------------------------------------------------------------------- batch evaluation
def test_batch_evaluation_equals_per_sample_pixel_flipping_and_shares_the_noise(rng):
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (7, 1, 8, 8))
    lrp = functools.partial(explain.lrp, net)
    methods = {"a": lrp, "b": lrp}
    out = metrics.evaluate_selectivity(net, x, methods, patch=(2, 2), removal="uniform",
                                       batch_size=3, progress=False, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(out["a"].auc_samples, out["b"].auc_samples,
                                  err_msg="methods must see the same noise on the same digit")
    black = metrics.evaluate_selectivity(net, x, {"lrp": lrp}, patch=(2, 2), batch_size=3, progress=False)
    single = metrics.pixel_flipping(net, x, lrp(x), patch=(2, 2))
    np.testing.assert_allclose(black["lrp"].auc_samples, single.auc, rtol=ROUNDING)
    np.testing.assert_allclose(black["lrp"].curve, single.curve.mean(axis=0), rtol=ROUNDING)


@pytest.mark.parametrize("workers, max_batch, expected", [(1, 512, 10), (3, 512, 4), (2, 3, 3)],
                         ids=["one worker: one batch", "3 workers: ceil(10 / 3)", "capped"])
def test_batch_size_none_is_one_batch_per_worker_up_to_max_batch(workers, max_batch, expected, rng,
                                                               monkeypatch):
    # uniform removal draws one generator per batch: equal results mean equal batches
    monkeypatch.setattr(metrics, "MAX_BATCH", max_batch)
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (10, 1, 8, 8))
    kw = dict(patch=(2, 2), removal="uniform", progress=False, workers=workers)
    lrp = {"lrp": functools.partial(explain.lrp, net)}
    auto = metrics.evaluate_selectivity(net, x, lrp, batch_size=None, rng=np.random.default_rng(5), **kw)
    given = metrics.evaluate_selectivity(net, x, lrp, batch_size=expected, rng=np.random.default_rng(5), **kw)
    np.testing.assert_array_equal(auto["lrp"].auc_samples, given["lrp"].auc_samples)


def test_on_the_shipped_cnn_every_method_beats_a_random_order_and_progress_is_printed(capsys):
    net = load_model("cnn")
    from heatmapping.data import load_mnist5k
    images = load_mnist5k()[0][:48]
    methods = {"sensitivity": functools.partial(explain.sensitivity, net),
               "deep_taylor": functools.partial(explain.lrp, net),
               "random": metrics.random_relevance(rng=np.random.default_rng(0))}
    out = metrics.evaluate_selectivity(net, images, methods, batch_size=16)
    assert out["random"].auc > 1.5 * max(out["sensitivity"].auc, out["deep_taylor"].auc), \
        {k: v.auc for k, v in out.items()}
    assert out["deep_taylor"].curve.shape == (65,)
    assert "48/48 samples" in capsys.readouterr().err


# ----------------------------------------------------------------------------- bad input
def bad_call(net, x, R, **kw):
    return lambda: metrics.pixel_flipping(net, x, R, **kw)


@pytest.mark.parametrize("case, error, message", [
    ("patch does not divide", ValueError, r"patch: \(3, 3\) does not divide the image size \(8, 8\).*\[1, 2, 4, 8\]"),
    ("empty batch", ValueError, r"x: expected at least one sample, got an empty batch of shape \(0, 1, 8, 8\)"),
    ("heatmap shape", ValueError, r"R: expected heatmaps of the input's shape \(2, 1, 8, 8\), got shape \(2, 1, 4, 8\)"),
    ("NaN heatmap", ValueError, "R: expected finite values, got an array containing NaN"),
    ("target too large", ValueError, r"class index out of range 0\.\.2"),
    ("float target", TypeError, "one class per sample"),
    ("unknown removal", ValueError, r"removal: expected one of \['black'"),
    ("mean missing", ValueError, "mean: removal='mean' needs mean="),
    ("uniform without rng", ValueError, "rng: removal='uniform' needs rng="),
    ("no heatmap", ValueError, "R: expected the heatmaps, or explain_fn to compute them"),
    ("recompute without explain_fn", ValueError, "explain_fn: recompute=True needs explain_fn"),
    ("keep out of range", ValueError, r"keep: steps must be in 0\.\.16"),
], ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_bad_pixel_flipping_input_gets_a_clear_error(case, error, message, rng):
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (2, 1, 8, 8))
    R = rng.standard_normal(x.shape)
    nan = R.copy()
    nan[0, 0, 0, 0] = np.nan
    calls = {
        "patch does not divide": bad_call(net, x, R, patch=(3, 3)),
        "empty batch": bad_call(net, x[:0], R[:0]),
        "heatmap shape": bad_call(net, x, R[..., :4, :]),
        "NaN heatmap": bad_call(net, x, nan),
        "target too large": bad_call(net, x, R, target=3),
        "float target": bad_call(net, x, R, target=np.zeros((2, 3))),
        "unknown removal": bad_call(net, x, R, removal="grey"),
        "mean missing": bad_call(net, x, R, removal="mean"),
        "uniform without rng": bad_call(net, x, R, removal="uniform"),
        "no heatmap": bad_call(net, x, None),
        "recompute without explain_fn": bad_call(net, x, R, recompute=True),
        "keep out of range": bad_call(net, x, R, patch=(2, 2), keep=[17]),
    }
    with pytest.raises(error, match=message):
        calls[case]()


def test_bad_continuity_and_evaluation_input_gets_a_clear_error(rng):
    ident = lambda X: X  # noqa: E731
    x = rng.standard_normal((3, 2))
    with pytest.raises(ValueError, match="every pair has x = x'"):
        metrics.continuity(ident, x, x)
    with pytest.raises(ValueError, match=r"X2: expected a batch paired with X, of shape \(3, 2\), got shape \(2, 2\)"):
        metrics.continuity(ident, x, x[:2])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        metrics.continuity_along_path(ident, x[:1])
    with pytest.raises(ValueError, match=r"explain_fn: expected heatmaps of the input's shape \(6, 2\), got shape \(6,\)"):
        metrics.continuity(lambda X: X.sum(axis=1), x, x + 1)
    with pytest.raises(ValueError, match="radius: expected a number > 0, got 0"):
        metrics.local_lipschitz(ident, x, radius=0, rng=rng)
    net = load_model("cnn")
    with pytest.raises(ValueError, match="empty batch"):
        metrics.evaluate_selectivity(net, np.zeros((0, 28, 28), np.uint8), {"x": ident})
    with pytest.raises(TypeError, match=r"methods: expected a non-empty mapping \{name: explain_fn\}, got \{\}"):
        metrics.evaluate_selectivity(net, np.zeros((2, 28, 28), np.uint8), {})
    with pytest.raises(ValueError, match=r"steps: expected an integer in 1\.\.4"):
        metrics.aopc(np.zeros((1, 5)), steps=5)


def test_grid_pairs_are_the_axis_and_diagonal_neighbours_of_the_grid():
    A, B = metrics.grid_pairs(0.25)
    # 5x5 grid: 2 * 5 * 4 axis pairs and 2 * 4 * 4 diagonal pairs
    assert A.shape == B.shape == (2 * 20 + 2 * 16, 2)
    distance = np.linalg.norm(A - B, axis=1)
    assert np.allclose(np.sort(np.unique(distance.round(12))), [0.25, 0.25 * np.sqrt(2)])
    assert A.min() == 0 and A.max() == 1 and B.min() == 0 and B.max() == 1
    with pytest.raises(ValueError, match="spacing: expected a number > 0, got 0"):
        metrics.grid_pairs(0)


def test_pixel_flipping_records_the_softmax_probability_of_the_explained_class(rng):
    net = Sequential([Flatten(), Linear(rng.standard_normal((16, 3)), rng.standard_normal(3))],
                     input_shape=(1, 4, 4))
    x = rng.uniform(-1, 1, (5, 1, 4, 4))
    result = metrics.pixel_flipping(net, x, rng.uniform(size=x.shape), patch=(2, 2), keep=range(5))
    for k, image in result.images.items():
        logits = net.forward(image)
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(result.probability[:, k], p[np.arange(5), result.target], rtol=1e-12)
        np.testing.assert_allclose(result.curve[:, k], logits[np.arange(5), result.target], rtol=1e-12)
    sel = metrics.evaluate_selectivity(net, x, {"r": metrics.random_relevance(rng=rng)},
                                       patch=(2, 2), progress=False, batch_size=2)["r"]
    assert sel.curves.shape == sel.probabilities.shape == (5, 5)
    np.testing.assert_allclose(sel.curves.mean(axis=0), sel.curve, rtol=1e-12)
    assert np.all((sel.probabilities > 0) & (sel.probabilities <= 1))


def test_stride_artifact_is_one_without_a_grid_and_large_with_blocks(rng):
    smooth = np.add.outer(np.arange(16.0), np.arange(16.0))[None, None]        # a ramp
    assert metrics.stride_artifact(smooth, 4) == pytest.approx(1.0)
    blocks = np.kron(rng.uniform(0, 1, (1, 1, 4, 4)), np.ones((4, 4)))          # 4x4 blocks
    assert metrics.stride_artifact(blocks + 1e-3 * smooth, 4) > 50
    assert metrics.stride_artifact(blocks + 1e-3 * smooth, 3) < metrics.stride_artifact(blocks + 1e-3 * smooth, 4)
    with pytest.raises(ValueError, match="period: expected an integer >= 2, got 1"):
        metrics.stride_artifact(smooth, 1)


def test_heatmap_quality_gathers_the_three_measures(rng):
    net = Sequential([Flatten(), Linear(rng.standard_normal((16, 3)), rng.standard_normal(3))],
                     input_shape=(1, 4, 4))
    x = rng.uniform(-1, 1, (6, 1, 4, 4))
    fn = functools.partial(explain.sensitivity, net)
    got = metrics.heatmap_quality(net, fn, x, x[:3], target=1, period=2)
    assert got == {"stride artefact": metrics.stride_artifact(fn(x), 2),
                   "continuity": metrics.continuity_along_path(lambda v: fn(v, target=1), x[:3]),
                   "AUC": float(np.mean(metrics.pixel_flipping(net, x, fn(x)).auc))}


def test_a_selectivity_subset_is_the_evaluation_of_those_samples_alone(rng):
    net = Sequential([Flatten(), Linear(rng.standard_normal((16, 3)), rng.standard_normal(3))],
                     input_shape=(1, 4, 4))
    x = rng.uniform(-1, 1, (6, 1, 4, 4))
    sensitivity = {"sensitivity": functools.partial(explain.sensitivity, net)}
    whole = metrics.evaluate_selectivity(net, x, sensitivity, patch=(2, 2), progress=False)
    alone = metrics.evaluate_selectivity(net, x[:4], sensitivity, patch=(2, 2), progress=False)
    part = whole["sensitivity"].subset(slice(4))
    for field in ("curve", "auc", "aopc", "auc_samples", "curves", "probabilities"):
        np.testing.assert_allclose(getattr(part, field), getattr(alone["sensitivity"], field),
                                   rtol=ROUNDING, err_msg=f"subset's {field} differs")
    assert part.seconds == whole["sensitivity"].seconds
    with pytest.raises(ValueError, match="curves and probabilities of one shape"):
        metrics.Selectivity.from_curves(np.zeros((2, 5)), np.zeros((2, 4)))


# ------------------------------------------------------------------- localization (Sec. 8)
def test_mass_and_rank_accuracy_closed_form():
    mask = np.array([[True, True, False, False]])
    R = np.array([[3.0, 1.0, 2.0, -5.0], [0.0, 0.0, 4.0, 4.0], [-1.0, -1.0, -1.0, -1.0]])
    np.testing.assert_allclose(metrics.relevance_mass_accuracy(R, mask), [4 / 6, 0.0, 0.0])
    # top-2: {0, 2} -> 1 of 2 in the mask; {2, 3} -> 0; all tied -> positions 0, 1 -> 2 of 2
    np.testing.assert_allclose(metrics.relevance_rank_accuracy(R, mask), [0.5, 0.0, 1.0])
    assert metrics.relevance_rank_accuracy(R, np.zeros((1, 4), bool)).tolist() == [0, 0, 0]
    with pytest.raises(TypeError, match="boolean mask"):
        metrics.relevance_mass_accuracy(R, mask.astype(int))
    with pytest.raises(ValueError, match=r"mask: expected a shape that broadcasts to the heatmaps' \(3, 4\)"):
        metrics.relevance_rank_accuracy(R, np.ones((1, 3), bool))


MASKED = st.integers(1, 4).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, (n, 3, 5), elements=st.floats(-10, 10)),
    hnp.arrays(np.bool_, (n, 3, 5))))


@settings(deadline=None)
@given(case=MASKED)
def test_mass_accuracy_is_one_when_all_positive_relevance_is_in_the_mask(case):
    R, mask = case
    inside = np.where(mask, np.abs(R), -np.abs(R))         # positive exactly inside the mask
    has = (np.abs(R) * mask).reshape(len(R), -1).sum(axis=1) > 0
    got = metrics.relevance_mass_accuracy(inside, mask)
    np.testing.assert_allclose(got[has], 1.0)
    assert np.all((0 <= metrics.relevance_mass_accuracy(R, mask)) & (metrics.relevance_mass_accuracy(R, mask) <= 1))


@settings(deadline=None)
@given(case=MASKED, transform=st.sampled_from([np.exp, np.arctan, lambda r: 3 * r + 1, np.cbrt]))
def test_rank_accuracy_is_invariant_under_increasing_transforms(case, transform):
    R, mask = case
    R = np.round(R, 1)                      # ties too: a strictly increasing map keeps them
    np.testing.assert_array_equal(metrics.relevance_rank_accuracy(transform(R), mask),
                                  metrics.relevance_rank_accuracy(R, mask))

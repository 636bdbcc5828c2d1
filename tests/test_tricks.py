"""Tricks of Sec. 6.4-6.6: translation trick, sliding window (and the direct approach),
relevant pattern."""

import functools

import numpy as np
import pytest

from heatmapping import data, explain, metrics, models
from heatmapping.layers import Conv2d, Flatten, Linear, ReLU, SumPool2d
from heatmapping.network import Sequential
from heatmapping.rules import Flat, ZPlus
from heatmapping.tricks import (canvas_digits, digit_canvas, direct_explanation, fully_convolutional,
                                positive_evidence, relevant_pattern, select_rules, shift, sliding_window,
                                translation_explainer, translation_path, translation_trick)

EXACT = dict(rtol=1e-10, atol=1e-12)


def test_shift_moves_every_pixel_and_fills_the_background(rng):
    x = rng.standard_normal((2, 1, 5, 6))
    for dy, dx in [(0, 0), (1, 2), (-2, 1), (3, -4), (-1, -1), (5, 0)]:
        out = shift(x, dy, dx, fill=-1.0)
        for y in range(5):
            for c in range(6):
                expected = x[:, :, y - dy, c - dx] if 0 <= y - dy < 5 and 0 <= c - dx < 6 else -1.0
                np.testing.assert_array_equal(out[:, :, y, c], expected)


def equivariant_net(rng, size=12):
    """conv 3x3 (no padding) -> ReLU -> a sum over the whole map -> two outputs: shifting
    content that stays away from the borders changes nothing."""
    k = size - 2
    return Sequential([Conv2d(rng.standard_normal((3, 1, 3, 3)), np.zeros(3)), ReLU(),
                       SumPool2d(k), Flatten(), Linear(np.abs(rng.standard_normal((3, 2))), np.zeros(2))],
                      input_shape=(1, size, size))


def test_translation_trick_with_no_shift_is_the_plain_explanation(rng):
    net = equivariant_net(rng)
    x = np.abs(rng.standard_normal((2, 1, 12, 12)))
    fn = lambda v: explain.lrp(net, v, target=0, rules=ZPlus())   # noqa: E731
    np.testing.assert_allclose(translation_trick(fn, x, max_shift=0, fill=0.0), fn(x), **EXACT)


def test_translation_trick_leaves_an_equivariant_network_unchanged_in_the_interior(rng):
    net = equivariant_net(rng)
    x = np.zeros((2, 1, 12, 12))
    x[:, :, 4:8, 4:8] = np.abs(rng.standard_normal((2, 1, 4, 4)))   # content away from the borders
    fn = lambda v: explain.lrp(net, v, target=1, rules=ZPlus())   # noqa: E731
    plain = fn(x)
    tricked = translation_trick(fn, x, max_shift=2, fill=0.0)
    np.testing.assert_allclose(tricked[:, :, 2:10, 2:10], plain[:, :, 2:10, 2:10], **EXACT)


def test_translation_trick_averages_the_shifted_back_heatmaps(rng):
    x = rng.standard_normal((1, 1, 6, 6))
    fn = lambda v: v ** 2                                           # noqa: E731
    shifts = [(0, 1), (1, 0)]
    expected = (shift(fn(shift(x, 0, 1)), 0, -1, fill=0.0) + shift(fn(shift(x, 1, 0)), -1, 0, fill=0.0)) / 2
    np.testing.assert_allclose(translation_trick(fn, x, shifts=shifts), expected, **EXACT)


def test_translation_explainer_explains_the_original_class_in_every_copy(rng):
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (3, 1, 6, 6))
    seen = []

    def explain_fn(v, target=None):
        seen.append(np.asarray(target))
        return explain.lrp(net, v, target=target, rules="deep_taylor")

    c = net.forward(x).argmax(axis=1)
    R = translation_explainer(net, explain_fn, max_shift=1)(x)
    np.testing.assert_array_equal(seen[0], np.tile(c, 9))      # shift-major, as translation_trick
    expected = translation_trick(lambda v: explain.lrp(net, v, target=np.tile(c, 9)), x, max_shift=1)
    np.testing.assert_allclose(R, expected, **EXACT)
    R2 = translation_explainer(net, explain_fn, max_shift=0)(x, target=1)
    np.testing.assert_allclose(R2, explain.lrp(net, x, target=1), **EXACT)


def test_digit_canvas_centres_each_digit_in_its_cell(rng):
    digits = rng.uniform(-1, 1, (6, 4, 4))
    canvas, cells = digit_canvas(digits, rows=2, cols=3, cell=8)
    assert canvas.shape == (1, 1, 16, 24) and len(cells) == 6
    for digit, (rows, cols) in zip(digits, cells):
        np.testing.assert_array_equal(canvas[0, 0][rows, cols][2:6, 2:6], digit)
        assert (canvas[0, 0][rows, cols] == -1).sum() == 64 - 16
    with pytest.raises(ValueError, match=r"digits: expected rows \* cols = 6 digits"):
        digit_canvas(digits[:5], rows=2, cols=3, cell=8)
    with pytest.raises(ValueError, match=r"cell: expected cells at least as large as the digits \(4x4\), got 3"):
        digit_canvas(digits, rows=2, cols=3, cell=3)


# --------------------------------------------------------------------------------------------
def small_cnn(rng, padding=0):
    """Two convolutions and a 2x2 sum pool: total stride 2, field 6x6 (without padding)."""
    return Sequential([Conv2d(rng.standard_normal((2, 1, 3, 3)), -rng.uniform(0, .1, 2), padding=padding), ReLU(),
                       SumPool2d(2), Conv2d(rng.standard_normal((3, 2, 2, 2)), -rng.uniform(0, .1, 3)), ReLU(),
                       Conv2d(np.abs(rng.standard_normal((2, 3, 1, 1))), np.zeros(2)), Flatten()],
                      input_shape=(1, 6, 6))


def window_fns(net, target):
    return (lambda p: explain.lrp(net, p, target=target, rules="deep_taylor"),
            lambda p: net.forward(p)[:, target])


def test_sliding_window_conserves_g(rng):
    net = small_cnn(rng)
    X = rng.uniform(-1, 1, (2, 1, 10, 12))
    R, g = sliding_window(*window_fns(net, 0), X, window=(6, 6), stride=(2, 2))
    assert R.shape == X.shape
    f_windows = [net.forward(X[:, :, i:i + 6, j:j + 6])[:, 0] for i in range(0, 5, 2) for j in range(0, 7, 2)]
    np.testing.assert_allclose(g, sum(f_windows), **EXACT)
    np.testing.assert_allclose(R.sum(axis=(1, 2, 3)), g, **EXACT)


def test_sliding_window_without_overlap_places_the_tiles_side_by_side(rng):
    net = small_cnn(rng)
    X = rng.uniform(-1, 1, (1, 1, 12, 18))
    fn = window_fns(net, 1)
    R, _ = sliding_window(*fn, X, window=(6, 6), stride=(6, 6))
    for i in range(2):
        for j in range(3):
            tile = X[:, :, 6 * i:6 * i + 6, 6 * j:6 * j + 6]
            np.testing.assert_allclose(R[:, :, 6 * i:6 * i + 6, 6 * j:6 * j + 6], fn[0](tile), **EXACT)


def test_positive_evidence_explains_the_positive_part_of_each_windows_logit(rng):
    net = small_cnn(rng)
    X = rng.uniform(-1, 1, (1, 1, 10, 10))
    for c in range(2):
        explain_fn, f = positive_evidence(net, c)
        windows = np.stack([X[0, :, i:i + 6, j:j + 6] for i in range(0, 5, 2) for j in range(0, 5, 2)])
        logit = net.forward(windows)[:, c]
        np.testing.assert_allclose(f(windows), np.maximum(logit, 0), **EXACT)
        R = explain_fn(windows)
        assert np.all(R[logit <= 0] == 0), "a window without evidence gets no relevance"
        R_big, g = sliding_window(explain_fn, f, X, window=(6, 6), stride=(2, 2))
        assert R_big.sum() == pytest.approx(g[0], rel=1e-10, abs=1e-12)


def test_direct_approach_equals_sliding_window_without_padding(rng):
    net = small_cnn(rng)
    X = rng.uniform(-1, 1, (2, 1, 10, 12))
    R_direct, g_direct = direct_explanation(explain.lrp, fully_convolutional(net), X, target=0)
    R_window, g_window = sliding_window(*window_fns(net, 0), X, window=(6, 6), stride=(2, 2))
    np.testing.assert_allclose(g_direct, g_window, **EXACT)
    np.testing.assert_allclose(R_direct, R_window, **EXACT)


def test_direct_approach_differs_with_border_padding(rng):
    # the paper's caveat: a padded window sees zeros at its borders, the large image its
    # neighbours, so the two explanations (and even g) disagree
    net = small_cnn(rng, padding=1)
    X = rng.uniform(0.1, 1, (1, 1, 12, 12))
    direct = direct_explanation(explain.lrp, fully_convolutional(net), X, target=0)[0]
    window = sliding_window(*window_fns(net, 0), X, window=(6, 6), stride=(2, 2))[0]
    assert direct.shape == window.shape and not np.allclose(direct, window)


def test_sliding_window_refuses_windows_that_do_not_tile(rng):
    with pytest.raises(ValueError, match="stride: windows of .* do not cover the image"):
        sliding_window(lambda p: p, lambda p: p.sum((1, 2, 3)), np.zeros((1, 1, 10, 11)),
                       window=(6, 6), stride=(2, 2))
    with pytest.raises(ValueError, match="window: expected a window within the image"):
        sliding_window(lambda p: p, lambda p: p.sum((1, 2, 3)), np.zeros((1, 1, 4, 4)),
                       window=(6, 6), stride=(2, 2))
    with pytest.raises(ValueError, match="X: expected at least one sample, got an empty batch"):
        sliding_window(lambda p: p, lambda p: p.sum((1, 2, 3)), np.zeros((0, 1, 6, 6)),
                       window=(6, 6), stride=(2, 2))


def test_fully_convolutional_refuses_dense_layers(rng):
    net = Sequential([Flatten(), Linear(np.ones((4, 2)), np.zeros(2)), Flatten()])
    with pytest.raises(ValueError, match="cannot slide"):
        fully_convolutional(net)


# --------------------------------------------------------------------------------------------
def test_relevant_pattern_masks_irrelevant_pixels_to_black(rng):
    x = rng.uniform(-1, 1, (2, 1, 4, 4))
    R = rng.standard_normal((2, 1, 4, 4))
    P = relevant_pattern(x, R)
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_array_equal(P[R <= 0], 0.0)
    top = R.reshape(2, -1).argmax(axis=1)
    for n in range(2):
        assert P[n].reshape(-1)[top[n]] == pytest.approx((x[n].reshape(-1)[top[n]] + 1) / 2)
    with pytest.raises(ValueError, match="R: expected shape"):
        relevant_pattern(x, R[:, :, :2])
    with pytest.raises(ValueError, match="NaN"):
        relevant_pattern(x, np.full_like(R, np.nan))


def test_select_rules_returns_the_candidate_with_the_lowest_flipping_auc():
    net = models.load_model("cnn").astype(np.float64)
    images, _ = data.load_mnist5k()
    x = models.inputs_for(net, images[::250])
    candidates = {"deep_taylor": "deep_taylor", "alpha2beta1": "alpha2beta1", "flat first": {0: Flat()}}
    best, scores = select_rules(net, x, candidates, patch=(4, 4), removal="black")
    assert set(scores) == set(candidates) and best == min(scores, key=scores.get)
    R = explain.lrp(net, x, rules="alpha2beta1")
    expected = metrics.pixel_flipping(net, x, R, patch=(4, 4), removal="black").auc.mean()
    assert scores["alpha2beta1"] == pytest.approx(expected, rel=1e-12)
    # the paper's procedure: the candidate re-explains after every removal
    _, recomputed = select_rules(net, x[:4], {"alpha2beta1": "alpha2beta1"}, recompute=True)
    explain_fn = functools.partial(explain.lrp, net, rules="alpha2beta1")
    expected = metrics.pixel_flipping(net, x[:4], explain_fn=explain_fn, recompute=True).auc.mean()
    assert recomputed["alpha2beta1"] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(TypeError, match=r"candidates: expected a non-empty mapping \{name: rules\}, got \{\}"):
        select_rules(net, x, {})


def test_translation_path_moves_each_image_pixel_by_pixel(rng):
    x = rng.uniform(-1, 1, (2, 1, 5, 6))
    path = translation_path(x, 2)
    assert path.shape == (2 * 5, 1, 5, 6)
    for i in range(2):
        for t, dx in enumerate(range(-2, 3)):
            np.testing.assert_array_equal(path[5 * i + t], shift(x[i:i + 1], 0, dx)[0])
    with pytest.raises((TypeError, ValueError), match="max_shift: expected an integer"):
        translation_path(x, -1)


def test_canvas_digits_picks_the_class_and_others_without_its_evidence(rng):
    net = models.load_model("cnn").astype(np.float64)
    images, labels = data.load_mnist5k()
    picks, empty, alone = canvas_digits(net, images, labels, 3, rng=rng)
    assert len(set(picks)) == 8 and (labels[picks] == 3).sum() == 2
    others = picks[labels[picks] != 3]
    assert np.all(alone[others] < empty)
    assert empty == pytest.approx(net.forward(np.full((1, 1, 32, 32), -1.0))[0, 3])

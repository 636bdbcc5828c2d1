"""Explanation methods (Sec. 4), LRP on whole networks (Sec. 5), the Figure 6 network worked
by hand, targets, pooling and filtering (Sec. 4.4), normalization layers (Sec. 5.3), the
deep Taylor root points (Sec. 5.2) and the conservation ledger."""

import numpy as np
import pytest

from heatmapping import data, explain, models
from heatmapping.models import max_network
from heatmapping.canonize import merge_batchnorm
from heatmapping.deep_taylor import root_point, taylor_terms
from heatmapping.layers import (BatchNorm, Conv2d, Flatten, Linear, LpPool2d, MaxPool2d, ReLU,
                                SumPool2d)
from heatmapping.lrp import lrp, propagate, resolve_rules, top_relevance
from heatmapping.network import Sequential
from heatmapping.relevance import feature_map_filter, pool_channels, pool_grid, pool_masks
from heatmapping.rules import AlphaBeta, Epsilon, WSquare, ZBox, ZPlus
from heatmapping.testing import finite_difference_gradient

EXACT = dict(rtol=1e-12, atol=1e-12)


def figure6_network():
    """The network of Figure 6 as shipped (``models.max_network``), checked against its
    formula by ``test_figure6_network_computes_the_max``."""
    return max_network()


def small_cnn(rng, bias=True):
    b = (lambda n: -rng.uniform(0, 0.2, n)) if bias else np.zeros
    return Sequential([
        Conv2d(rng.standard_normal((3, 1, 3, 3)), b(3), padding=1), ReLU(), SumPool2d(2),
        Conv2d(rng.standard_normal((4, 3, 2, 2)), b(4)), ReLU(), Flatten(),
        Linear(rng.standard_normal((4, 3)), b(3)),
    ], input_shape=(1, 4, 4))


# --------------------------------------------------------------------------------------------
def test_figure6_network_computes_the_max():
    """f(x) = max(0, .5 max(0, x1 - x2) + .5 max(0, x2 - x1) + .5 max(0, x1 + x2)) = max(x1, x2)
    on the positive quadrant (Sec. 7.1)."""
    x = np.random.default_rng(0).uniform(0, 3, (200, 2))
    np.testing.assert_allclose(figure6_network().forward(x)[:, 0], x.max(axis=1), **EXACT)


def test_figure6_zplus_lrp_worked_example():
    # x = (0.7, 0.3): hidden (x1-x2, x2-x1, x1+x2) = (0.4, 0, 1.0), f = .5*0.4 + .5*1.0 = 0.7.
    # Top layer, z+: R_h = (0.2, 0, 0.5).  First layer, z+: h1 gives all of its 0.2 to x1
    # (its only positive weight); h3 splits 0.5 as 0.7 : 0.3 -> (0.35, 0.15).
    # R = (0.2 + 0.35, 0.15) = (0.55, 0.15), and 0.55 + 0.15 = 0.7 = f(x).
    R = lrp(figure6_network(), np.array([[0.7, 0.3]]), rules=ZPlus())
    np.testing.assert_allclose(R, [[0.55, 0.15]], **EXACT)


def test_figure6_sensitivity_and_simple_taylor_by_hand():
    # f = max(x1, x2): the gradient is e1 where x1 > x2, so sensitivity = (1, 0) and
    # gradient x input = (0.7, 0)
    net, x = figure6_network(), np.array([[0.7, 0.3]])
    np.testing.assert_allclose(explain.sensitivity(net, x), [[1.0, 0.0]], **EXACT)
    np.testing.assert_allclose(explain.simple_taylor(net, x), [[0.7, 0.0]], **EXACT)


def test_sensitivity_is_the_squared_gradient(rng):
    net = small_cnn(rng)
    x = rng.standard_normal((2, 1, 4, 4))
    fd = np.stack([finite_difference_gradient(lambda v: net.forward(v[None])[0, 1], x[n]) for n in range(2)])
    np.testing.assert_allclose(explain.sensitivity(net, x, target=1), fd ** 2, rtol=1e-5, atol=1e-9)


def test_simple_taylor_with_a_root_point_evaluated_at_the_root(rng):
    net = small_cnn(rng)
    x, root = rng.standard_normal((2, 1, 4, 4)), rng.standard_normal((1, 1, 4, 4))
    R = explain.simple_taylor(net, x, target=2, root=root, gradient_at="root")
    g = explain.gradient(net, np.broadcast_to(root, x.shape).copy(), target=2)
    np.testing.assert_allclose(R, g * (x - root), **EXACT)


def test_lrp0_equals_gradient_times_input_on_a_bias_free_relu_network(rng):
    net = small_cnn(rng, bias=False)
    x = rng.standard_normal((3, 1, 4, 4))
    np.testing.assert_allclose(lrp(net, x, rules=Epsilon(0.0)), explain.simple_taylor(net, x),
                               rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
def guided_oracle(net, x, target, mode):
    """The modified backward pass written out layer by layer for ``small_cnn``."""
    A = net.activations(x)
    g = np.zeros_like(A[-1])
    g[:, target] = 1.0
    for layer, a in zip(reversed(net.layers), reversed(A[:-1])):
        if isinstance(layer, ReLU):
            g = np.maximum(g, 0) * ((a > 0) if mode == "guided" else 1.0)
        else:
            g = layer.backward(a, g)
    return g


@pytest.mark.parametrize("mode", ["deconvolution", "guided"])
def test_deconvolution_and_guided_backprop_modify_only_the_relu_backward(mode, rng):
    net = small_cnn(rng)
    x = rng.standard_normal((3, 1, 4, 4))
    method = explain.deconvolution if mode == "deconvolution" else explain.guided_backprop
    np.testing.assert_allclose(method(net, x, target=0), guided_oracle(net, x, 0, mode), **EXACT)
    if mode == "guided":       # guided backprop is the gradient with negative signals cut
        assert np.all((method(net, x, target=0) != 0) <= (explain.gradient(net, x, target=0) != 0))


def test_deconvolution_ignores_the_forward_relu_mask():
    # one ReLU whose input is negative: the gradient is 0, deconvolution still passes the
    # positive signal through (its "reverse ReLU" looks only at the signal)
    net = Sequential([Linear(np.array([[1.0]]), np.array([-5.0])), ReLU(), Linear(np.array([[2.0]]), np.zeros(1))])
    x = np.array([[1.0]])
    assert explain.gradient(net, x, target=0)[0, 0] == 0
    assert explain.deconvolution(net, x, target=0)[0, 0] == 2.0
    assert explain.guided_backprop(net, x, target=0)[0, 0] == 0


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(explain.METHODS))
def test_every_method_returns_relevance_of_the_input_shape_for_every_target_form(method, rng):
    net, f = small_cnn(rng), explain.METHODS[method]
    x = rng.standard_normal((3, 1, 4, 4))
    rules = {"rules": Epsilon(0.01)} if method == "lrp" else {}
    predicted = f(net, x, **rules)
    assert predicted.shape == x.shape and np.all(np.isfinite(predicted))
    c = net.forward(x).argmax(axis=1)
    np.testing.assert_array_equal(predicted, f(net, x, target=c, **rules))
    np.testing.assert_array_equal(f(net, x, target=1, **rules), f(net, x, target=np.array([1, 1, 1]), **rules))
    custom = np.zeros((3, 3))
    custom[:, 2] = 1.0 if method != "lrp" else net.forward(x)[:, 2]
    np.testing.assert_allclose(f(net, x, target=custom, **rules), f(net, x, target=2, **rules), **EXACT)


def test_top_relevance_is_the_target_logit():
    out = np.array([[1.0, 3.0, -2.0], [0.5, 0.1, 0.2]])
    np.testing.assert_array_equal(top_relevance(out, None), [[0, 3.0, 0], [0.5, 0, 0]])
    np.testing.assert_array_equal(top_relevance(out, 2), [[0, 0, -2.0], [0, 0, 0.2]])


@pytest.mark.parametrize("target, error, message", [
    (3, ValueError, r"class index out of range 0\.\.2"),
    (-1, ValueError, "out of range"),
    (np.zeros((2, 4)), ValueError, r"must have the output's shape \(2, 3\)"),
    (np.full((2, 3), np.nan), ValueError, "NaN or Inf"),
    ("cat", TypeError, "expected None, class indices"),
], ids=["too large", "negative", "wrong shape", "nan", "string"])
def test_bad_targets_get_clear_errors(target, error, message):
    with pytest.raises(error, match=message):
        top_relevance(np.zeros((2, 3)), target)


def test_bad_rule_mappings_get_clear_errors(rng):
    net = small_cnn(rng)
    with pytest.raises(ValueError, match=r"rules: expected a Rule, a mapping \{layer: Rule\} or a preset name among .*, got 'deepest'"):
        resolve_rules(net, "deepest")
    with pytest.raises(ValueError, match=r"layer 1 \(ReLU\) is not a linear-type layer"):
        resolve_rules(net, {1: ZPlus()})
    with pytest.raises(ValueError, match="out of range"):
        resolve_rules(net, {99: ZPlus()})
    with pytest.raises(ValueError, match="max_pool: expected .proportional. or .winner., got"):
        lrp(net, np.zeros((1, 1, 4, 4)), max_pool="average")


def test_presets_put_zb_on_the_first_layer_and_zplus_above(rng):
    rules = resolve_rules(small_cnn(rng), "deep_taylor")
    assert isinstance(rules[0], ZBox) and (rules[0].low, rules[0].high) == (-1.0, 1.0)
    assert all(isinstance(rules[i], ZPlus) for i in (2, 3, 6))
    net = small_cnn(rng)
    rules = resolve_rules(net, "alpha2beta1")
    assert isinstance(rules[0], ZBox)
    assert isinstance(rules[3], AlphaBeta) and (rules[3].alpha, rules[3].beta) == (2, 1)
    assert isinstance(rules[2], ZPlus), "a sum pool has no negative part for alpha-beta"
    assert isinstance(rules[6], ZPlus), "the output layer is not a hidden layer"


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_alpha2beta1_preset_conserves_on_every_embedded_digit(name):
    """Alpha-beta passes alpha R_k where a neuron has no negative contribution: on a sum pool
    always, on the output layer for some digits (8 of the 5,000 with the MLP, 5 with the CNN).
    The preset keeps z+ there, and then every digit conserves."""
    net = models.load_model(name).astype(np.float64)
    x = models.inputs_for(net, data.load_mnist5k()[0])
    f = net.forward(x).max(axis=1)
    R = lrp(net, x, rules="alpha2beta1")
    np.testing.assert_allclose(R.reshape(len(x), -1).sum(axis=1), f, rtol=1e-10)


def test_alpha_beta_on_a_layer_without_weights_is_refused(rng):
    net = small_cnn(rng)
    with pytest.raises(ValueError, match=r"AlphaBeta on layer 2 \(SumPool2d\).*preset 'alpha2beta1'"):
        lrp(net, np.zeros((1, 1, 4, 4)), rules=AlphaBeta(alpha=2, beta=1))
    with pytest.raises(ValueError, match=r"AlphaBeta on layer 2 \(SumPool2d\)"):
        resolve_rules(net, {2: AlphaBeta(alpha=2, beta=1)})


# --------------------------------------------------------------------------------------------
def test_ledger_shows_conservation_and_what_the_bias_absorbed(rng):
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (2, 1, 4, 4))
    exact = lrp(net, x, rules="deep_taylor", return_layers=True)
    for entry in exact.ledger:      # z+ and zB ignore the bias: nothing is absorbed
        np.testing.assert_allclose(entry.relevance_in, entry.relevance_out, rtol=1e-10, atol=1e-12)
    leaky = lrp(net, x, rules=Epsilon(0.0), return_layers=True)
    first = leaky.ledger[0]
    np.testing.assert_allclose(first.relevance_out, first.relevance_in + first.bias + first.stabilizer,
                               rtol=1e-10)
    assert np.any(np.abs(np.concatenate([e.bias for e in leaky.ledger])) > 1e-6), \
        "LRP-0 with negative biases must show relevance absorbed by the biases"
    assert len(exact.R) == len(net) + 1 and exact.R[0].shape == x.shape
    assert "Conv2d" in exact.table(0)


def test_epsilon_stabilizer_absorbs_relevance_and_the_ledger_says_so(rng):
    net = small_cnn(rng, bias=False)
    x = rng.standard_normal((2, 1, 4, 4))
    res = lrp(net, x, rules=Epsilon(1.0), return_layers=True)
    stab = sum(e.stabilizer for e in res.ledger)
    total = res.R[-1].reshape(2, -1).sum(1) - res.R[0].reshape(2, -1).sum(1)
    np.testing.assert_allclose(stab, total, rtol=1e-10)
    assert np.all(np.abs(stab) > 0)


# --------------------------------------------------------------------------------------------
def test_max_pool_winner_take_all_and_proportional(rng):
    net = Sequential([MaxPool2d(2), Flatten(), Linear(np.ones((4, 1)), np.zeros(1))])
    x = np.array([[[[1.0, 3.0, 0.5, 0.5], [2.0, 4.0, 0.0, 1.0],
                    [0.0, 0.0, 2.0, 0.0], [1.0, 1.0, 0.0, 0.0]]]])
    winner = lrp(net, x, rules=Epsilon(0.0), max_pool="winner")
    proportional = lrp(net, x, rules=Epsilon(0.0), max_pool="proportional")
    # f = 4 + 1 + 1 + 2 = 8; winner-take-all: the maxima keep their pool's relevance
    np.testing.assert_allclose(winner[0, 0], [[0, 0, 0, 0], [0, 4, 0, 1], [0, 0, 2, 0], [1, 0, 0, 0]], **EXACT)
    # proportional: pool 1 (1, 3, 2, 4) sum 10 holds R = 4 -> x_j * 0.4
    np.testing.assert_allclose(proportional[0, 0, :2, :2], [[0.4, 1.2], [0.8, 1.6]], **EXACT)
    assert proportional.sum() == pytest.approx(8.0) and winner.sum() == pytest.approx(8.0)


def test_max_pool_before_its_relu_explains_like_relu_then_max_pool(rng):
    """max(ReLU(x)) = ReLU(max(x)): the same function, so the same heatmap; the proportional
    rule shares by x^+ when the pool sees signed inputs."""
    conv = Conv2d(rng.standard_normal((3, 1, 3, 3)), -rng.uniform(0, 0.3, 3), padding=1)
    top = Linear(rng.standard_normal((12, 2)), np.zeros(2))
    pool_first = Sequential([conv, MaxPool2d(2), ReLU(), Flatten(), top], input_shape=(1, 4, 4))
    relu_first = Sequential([conv, ReLU(), MaxPool2d(2), Flatten(), top], input_shape=(1, 4, 4))
    x = rng.uniform(-1, 1, (20, 1, 4, 4))
    np.testing.assert_allclose(pool_first.forward(x), relu_first.forward(x), **EXACT)
    rules = {0: ZBox(-1.0, 1.0), 4: Epsilon(0.0)}               # layer 4 is `top` in both
    np.testing.assert_allclose(lrp(pool_first, x, rules=rules), lrp(relu_first, x, rules=rules),
                               **EXACT)


def test_lp_pool_of_signed_inputs_shares_by_magnitude():
    net = Sequential([LpPool2d(2, p=3.0), Flatten(), Linear(np.ones((1, 1)), np.zeros(1))])
    x = np.array([[[[1.0, -1.0], [0.5, -0.5]]]])
    R = lrp(net, x, rules=Epsilon(0.0))
    np.testing.assert_allclose(R, np.abs(x) / 3 * net.forward(x)[0, 0], **EXACT)


def test_lp_pool_relevance_is_proportional(rng):
    net = Sequential([LpPool2d(2, p=3.0), Flatten(), Linear(np.ones((1, 1)), np.zeros(1))])
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    R = lrp(net, x, rules=Epsilon(0.0))
    np.testing.assert_allclose(R, x / 10 * net.forward(x)[0, 0], **EXACT)


# --------------------------------------------------------------------------------------------
def test_relevance_pooling_sums_over_channels_masks_and_grid_cells(rng):
    R = rng.standard_normal((2, 3, 4, 6))
    np.testing.assert_allclose(pool_channels(R), R.sum(axis=1))
    quadrants = pool_grid(R, (2, 2))
    np.testing.assert_allclose(quadrants[:, 0, 1], R[:, :, :2, 3:].sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(quadrants.sum(axis=(1, 2)), R.sum(axis=(1, 2, 3)))
    box = np.zeros((3, 4, 6))
    box[:, 1:3, 2:5] = 1
    pooled = pool_masks(R, np.stack([box, 1 - box]))
    np.testing.assert_allclose(pooled[:, 0], R[:, :, 1:3, 2:5].sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(pooled.sum(axis=1), R.sum(axis=(1, 2, 3)))
    with pytest.raises(ValueError, match="does not divide"):
        pool_grid(R, (3, 4))


def test_filtering_splits_the_explanation_into_feature_map_components(rng):
    net = small_cnn(rng)
    x = rng.uniform(-1, 1, (2, 1, 4, 4))
    full = lrp(net, x, rules="deep_taylor")
    shape = net.activations(x)[3].shape                   # after the first sum pool: 3 maps
    parts = [lrp(net, x, rules="deep_taylor", filters={3: feature_map_filter(shape, c)}) for c in range(3)]
    np.testing.assert_allclose(sum(parts), full, rtol=1e-10, atol=1e-12)
    assert not np.allclose(parts[0], full)
    # the layer record holds the filtered relevance, the one that was propagated down
    mask = feature_map_filter(shape, 1)
    result = lrp(net, x, rules="deep_taylor", filters={3: mask}, return_layers=True)
    np.testing.assert_allclose(result.R[3], result.R[3] * mask, **EXACT)
    np.testing.assert_allclose(result.R[3].reshape(2, -1).sum(axis=1),
                               result.ledger[2].relevance_out, **EXACT)   # layer 2 outputs A[3]


# --------------------------------------------------------------------------------------------
def bn_network(rng):
    return Sequential([
        Linear(rng.standard_normal((5, 4)), np.zeros(4)),
        BatchNorm(rng.uniform(0.5, 2, 4), rng.uniform(-1, 0, 4), rng.standard_normal(4), rng.uniform(0.5, 2, 4)),
        ReLU(), Linear(rng.standard_normal((4, 3)), np.zeros(3)),
    ])


def test_merging_batchnorm_keeps_the_function_exactly(rng):
    net = bn_network(rng)
    merged = merge_batchnorm(net)
    x = rng.standard_normal((6, 5))
    np.testing.assert_allclose(merged.forward(x), net.forward(x), rtol=1e-12, atol=1e-12)
    assert len(merged) == len(net) - 1


def test_batchnorm_merged_and_ignored_give_different_relevance(rng):
    # ignoring BatchNorm propagates the relevance of its output as if it were its input's;
    # merging explains the normalized layer through its effective weights and bias
    net = bn_network(rng)
    x = rng.standard_normal((4, 5))
    ignored = lrp(net, x, rules=Epsilon(0.0), target=0)
    merged = lrp(merge_batchnorm(net), x, rules=Epsilon(0.0), target=0)
    assert np.all(np.isfinite(ignored)) and np.all(np.isfinite(merged))
    assert not np.allclose(ignored, merged)


def test_merging_batchnorm_needs_a_linear_layer_before_it(rng):
    net = Sequential([ReLU(), BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2))])
    with pytest.raises(ValueError, match="does not follow a Linear or Conv2d"):
        merge_batchnorm(net)


# --------------------------------------------------------------------------------------------
def test_root_point_refuses_a_positive_bias_without_a_root_on_the_segment():
    """a = (1, 1), w = (1, 0), b = 2: z = 3 but v . w = 1, so t = 3 would leave the segment."""
    with pytest.raises(ValueError, match="deep Taylor rules assume a bias b <= 0"):
        root_point(np.array([1.0, 1.0]), np.array([1.0, 0.0]), 2.0, ZPlus())


def test_the_w2_root_search_is_a_ray_so_a_positive_bias_still_has_a_root():
    """a = (1, 1), w = (1, 0), b = 2: z = 3; along -w the root is at t = 3, a~ = (-2, 1)."""
    root = root_point(np.array([1.0, 1.0]), np.array([1.0, 0.0]), 2.0, WSquare())
    np.testing.assert_allclose(root, [-2.0, 1.0], **EXACT)
    np.testing.assert_allclose(taylor_terms(np.array([1.0, 1.0]), np.array([1.0, 0.0]), 2.0, WSquare()),
                               [3.0, 0.0], **EXACT)


@pytest.mark.parametrize("rule", [ZPlus(), ZBox(-1.0, 1.0), ZBox(-0.5, 2.0), WSquare()],
                         ids=["z+", "zB", "zB asym", "w^2"])
def test_rule_equals_first_order_taylor_terms_at_the_root_point(rule, rng):
    for _ in range(20):
        D = 6
        if isinstance(rule, ZPlus):
            a = rng.uniform(0, 1, D)
        elif isinstance(rule, ZBox):
            a = rng.uniform(rule.low, rule.high, D)
        else:
            a = 3 * rng.standard_normal(D)          # real-valued inputs, no bounds
        w, b = rng.standard_normal(D), -rng.uniform(0, 0.3)
        z = a @ w + b
        if z <= 0:
            continue
        root = root_point(a, w, b, rule)
        assert abs(root @ w + b) < 1e-12, "the root point must be a zero of the neuron"
        R_rule = propagate(Linear(w[:, None], np.array([b])), a[None], np.array([[z]]), rule)[0]
        np.testing.assert_allclose(taylor_terms(a, w, b, rule), R_rule, rtol=1e-10, atol=1e-12)
        if isinstance(rule, ZBox):
            assert np.all(root >= np.asarray(rule.low) - 1e-12) and np.all(root <= np.asarray(rule.high) + 1e-12), \
                "the zB root point stays in the box"
        elif isinstance(rule, ZPlus):
            assert np.all(root >= -1e-12), "the z+ root point stays in the ReLU domain a >= 0"
        else:
            t = (a - root) / w
            np.testing.assert_allclose(t, t[0], rtol=1e-10, err_msg="the w^2 root lies on the ray a - t w")
            assert t[0] > 0, "the w^2 root lies on the ray a - t w, t > 0, downhill from a"

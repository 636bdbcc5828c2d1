"""The paper's laws as hypothesis properties over random networks and inputs.

Networks are dense or convolutional, of random depth and width, with biases that are zero or
negative (Sec. 6.1); inputs are drawn by hypothesis (zeros and extreme values included).

* conservation (Sec. 4.3): sum_i R_i = ... = sum_k R_k at every layer and end to end, for z+,
  zB, w^2, flat, alpha-beta with the bias ignored, and LRP-0 on bias-free networks;
* positivity (Sec. 6.2): z+, zB, w^2 give R >= 0 when the output relevance is >= 0;
* LRP-0 = gradient x input on bias-free ReLU networks; sum of sensitivity = ||grad f||^2
  (Sec. 4.1); simple Taylor sums to f(x) on bias-free ReLU networks (Sec. 4.2);
* no NaN or Inf for any finite input, all-zero input included;
* continuity (Sec. 7.1) on the Figure 6 network: deep Taylor LRP has
  ||R(x) - R(x')||_1 <= sqrt(2) ||x - x'||_2, while sensitivity and simple Taylor exceed any
  bound near x1 = x2;
* max pooling: winner-take-all and proportional agree when each pool has one non-zero input.
"""

import numpy as np
import pytest
from hypothesis import assume, find, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from heatmapping import explain
from heatmapping.layers import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, SumPool2d
from heatmapping.lrp import lrp, propagate, top_relevance
from heatmapping.network import Sequential
from heatmapping.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus, ratio_ceiling
from test_explain import figure6_network

#: relative tolerance of conservation in float64: |sum R_in - sum R_out| <= rtol * scale, with
#: scale = sum |R_in| + |sum R_out| (the size of the numbers that were added up)
CONSERVATION_RTOL = 1e-10


@st.composite
def networks(draw, bias=("zero", "negative")):
    """A random ReLU network, dense or convolutional, with biases of one of the signs in ``bias``."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["dense", "conv"]))
    sign = {"zero": 0.0, "negative": -1.0, "positive": 1.0}[draw(st.sampled_from(bias))]

    def b(n):
        return sign * rng.uniform(0, 0.5, n)

    layers = []
    if kind == "dense":
        d = draw(st.integers(1, 6))
        shape, width = (d,), d
        for _ in range(draw(st.integers(0, 3))):
            out = draw(st.integers(1, 6))
            layers += [Linear(rng.standard_normal((width, out)), b(out)), ReLU()]
            width = out
    else:
        c, size = draw(st.integers(1, 2)), draw(st.integers(4, 6))
        shape = (c, size, size)
        out = draw(st.integers(1, 3))
        layers += [Conv2d(rng.standard_normal((out, c, 3, 3)), b(out),
                          stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 1))), ReLU()]
        conv_out = Sequential(layers).forward(np.zeros((1, *shape))).shape
        if min(conv_out[2:]) >= 2 and draw(st.booleans()):
            # overlapping windows, or tiling ones (copied backward, borders left out)
            pool = draw(st.sampled_from([SumPool2d, AvgPool2d]))
            layers.append(pool(2, draw(st.sampled_from([1, 2]))))
        layers.append(Flatten())
        width = int(np.prod(Sequential(layers).forward(np.zeros((1, *shape))).shape[1:]))
    layers.append(Linear(rng.standard_normal((width, 3)), b(3)))
    return Sequential(layers, input_shape=shape)


def inputs(net, low=-1.0, high=1.0, n=2):
    """Input batches; magnitudes below 1e-100 become 0.  Exact laws are stated above underflow:
    a denominator that is 0, or whose |R / z| exceeds the rules' ceiling, passes no relevance,
    by convention, and the no-NaN test covers such inputs separately."""
    element = st.floats(low, high, allow_nan=False, allow_infinity=False).map(
        lambda v: 0.0 if abs(v) < 1e-100 else v)
    return hnp.arrays(np.float64, (n, *net.input_shape), elements=element)


def totals(R):
    return R.reshape(len(R), -1).sum(axis=1)


def assert_conserved(result, what):
    for e in result.ledger:
        R_in = result.R[e.index]
        scale = np.abs(R_in).reshape(len(R_in), -1).sum(axis=1) + np.abs(e.relevance_out)
        gap = np.abs(e.relevance_in - e.relevance_out)
        assert np.all(gap <= CONSERVATION_RTOL * scale + 1e-300), \
            f"{what}: layer {e.index} ({e.layer}) loses {gap} of {e.relevance_out}"
    end = np.abs(totals(result.R[0]) - totals(result.R[-1]))
    assert np.all(end <= CONSERVATION_RTOL * len(result.ledger) * (np.abs(result.R[0]).reshape(len(end), -1).sum(1)
                                                                   + np.abs(totals(result.R[-1])))), what


def nonnegative_top(net, x):
    """Output relevance R_L = max(f(x), 0) of every class, with the top z+ denominators > 0."""
    A = net.activations(x)
    top = net.layers[-1]
    assume(np.all(A[-2] @ np.maximum(top.W, 0) > 1e-9))    # z+ of the output neurons
    return np.maximum(A[-1], 0)


# --------------------------------------------------------------------------------------------
CONSERVING = {
    "z+": lambda net: {i: ZPlus() for i, l in enumerate(net.layers) if l.linear and i > 0},
    "w^2": lambda net: {i: WSquare() for i, l in enumerate(net.layers) if l.linear},
    "flat": lambda net: {i: Flat() for i, l in enumerate(net.layers) if l.linear},
}


@given(data=st.data(), net=networks())
def test_deep_taylor_rules_conserve_relevance_at_every_layer(data, net):
    x = data.draw(inputs(net))
    R_top = nonnegative_top(net, x)
    for name, first in (("zB", ZBox(-1.0, 1.0)), ("w^2", WSquare()), ("flat", Flat())):
        rules = {i: (first if i == 0 else ZPlus()) for i, l in enumerate(net.layers) if l.linear}
        assert_conserved(lrp(net, x, target=R_top, rules=rules, return_layers=True), f"{name} + z+")
    for name, make in CONSERVING.items():
        rules = make(net)
        rules.setdefault(0, ZBox(-1.0, 1.0))
        assert_conserved(lrp(net, x, target=R_top, rules=rules, return_layers=True), name)


@given(data=st.data(), net=networks(), beta=st.sampled_from([0.0, 1.0, 2.0]))
def test_alpha_beta_with_bias_ignored_conserves_where_both_parts_exist(data, net, beta):
    """Exactly: sum_j R_j = sum_k R_k (alpha [z+_k > 0] - beta [z-_k < 0]), which is
    sum_k R_k wherever each neuron has excitatory and inhibitory inputs.  (A denominator with
    |R / z| above the rules' ceiling counts as 0: that is the stabilizer's convention.)"""
    x = data.draw(inputs(net))
    rule = AlphaBeta(alpha=1.0 + beta, beta=beta)
    A = net.activations(x)
    R_top = np.abs(A[-1])
    top, a = net.layers[-1], A[-2]
    a_pos, a_neg = np.maximum(a, 0), np.minimum(a, 0)
    Wp, Wn = np.maximum(top.W, 0), np.minimum(top.W, 0)
    z_plus, z_minus = a_pos @ Wp + a_neg @ Wn, a_pos @ Wn + a_neg @ Wp
    floor = R_top / ratio_ceiling(np.float64)
    expected = (R_top * ((1 + beta) * (z_plus > floor) - beta * (z_minus < -floor))).sum(axis=1)
    R_below = lrp(Sequential(net.layers[-1:]), a, target=R_top, rules=rule)
    scale = np.abs(R_below).sum(axis=1) + np.abs(R_top).sum(axis=1)
    assert np.all(np.abs(totals(R_below) - expected) <= CONSERVATION_RTOL * scale + 1e-300)


@given(data=st.data(), net=networks(bias=("zero",)))
def test_lrp0_conserves_and_equals_gradient_times_input_without_biases(data, net):
    x = data.draw(inputs(net, -10.0, 10.0))
    result = lrp(net, x, rules=Epsilon(0.0), return_layers=True)
    assert_conserved(result, "LRP-0 on a bias-free network")
    grad_x_input = explain.simple_taylor(net, x)
    scale = np.abs(grad_x_input).max() + np.abs(result.R[0]).max() + 1e-300
    assert np.abs(result.R[0] - grad_x_input).max() <= 1e-10 * scale


@given(data=st.data(), net=networks(bias=("zero",)))
def test_simple_taylor_sums_to_f_on_bias_free_relu_networks(data, net):
    x = data.draw(inputs(net, -10.0, 10.0))
    R = explain.simple_taylor(net, x)
    f = net.forward(x).max(axis=1)
    assert np.all(np.abs(totals(R) - f) <= 1e-10 * (np.abs(R).reshape(len(R), -1).sum(1) + np.abs(f)) + 1e-300)


@given(data=st.data(), net=networks())
def test_sensitivity_sums_to_the_squared_gradient_norm(data, net):
    x = data.draw(inputs(net, -10.0, 10.0))
    R = explain.sensitivity(net, x)
    g = explain.gradient(net, x)
    np.testing.assert_allclose(totals(R), (g.reshape(len(g), -1) ** 2).sum(axis=1), rtol=1e-12, atol=1e-300)
    assert np.all(R >= 0)


@given(data=st.data(), net=networks())
def test_deep_taylor_relevance_is_nonnegative_for_nonnegative_output_relevance(data, net):
    x = data.draw(inputs(net))
    R_top = np.maximum(net.forward(x), 0)
    for first in (ZBox(-1.0, 1.0), WSquare()):
        rules = {i: (first if i == 0 else ZPlus()) for i, l in enumerate(net.layers) if l.linear}
        R = lrp(net, x, target=R_top, rules=rules)
        assert np.all(R >= 0), f"{first!r} + z+ produced negative relevance {R.min()}"


def lrp_layer_by_layer(net, x, rules, target):
    """LRP as a plain loop of ``propagate`` calls on ``net.activations``: every product of
    Eq. (4) computed in its own step, none shared with the forward pass."""
    A = net.activations(x)
    R = top_relevance(A[-1], target)
    for i in reversed(range(len(net.layers))):
        layer = net.layers[i]
        R = propagate(layer, A[i], R, rules[i]) if layer.linear else R.reshape(A[i].shape)
    return R


@given(data=st.data(), net=networks(bias=("zero", "negative", "positive")),
       n=st.integers(1, 3), per_pixel=st.booleans())
def test_the_fast_path_equals_the_readable_propagate(data, net, n, per_pixel):
    """lrp runs heatmapping.fast_lrp: it computes the products of Eq. (4) on a layer's input
    together with the layer output (one im2col for several weights), runs the backward passes
    of a rule's terms as one and reuses arrays; the relevance equals a loop of the readable
    ``propagate`` to rounding, for every rule on every linear-type layer."""
    x = data.draw(inputs(net, n=n))
    linear = [i for i, l in enumerate(net.layers) if l.linear]
    low = -np.linspace(0.5, 1.0, int(np.prod(net.input_shape))).reshape(net.input_shape) \
        if per_pixel else -1.0
    x = np.maximum(x, low)
    first = data.draw(st.sampled_from([ZBox(low, 1.0), WSquare(), Flat(), Epsilon(0.01)]))
    for above in (ZPlus(), AlphaBeta(alpha=2.0, beta=1.0), AlphaBeta(alpha=2.0, beta=1.0, bias="split"),
                  Epsilon(0.0), Epsilon(0.1), Gamma(0.25), WSquare(), Flat()):
        rules = {i: (first if i == linear[0] else above if fits(net.layers[i], above) else ZPlus())
                 for i in linear}
        R_top = np.abs(net.forward(x))
        R = lrp(net, x, target=R_top, rules=rules)
        expected = lrp_layer_by_layer(net, x, rules, R_top)
        scale = np.abs(expected).reshape(len(x), -1).sum(axis=1) + np.abs(R_top).sum(axis=1)
        gap = np.abs(R - expected).reshape(len(x), -1).max(axis=1)
        assert np.all(gap <= 1e-12 * scale + 1e-300), f"{above!r}: {gap} of {scale}"


@pytest.mark.parametrize("above", [Epsilon(0.0), WSquare(), Flat()], ids=["eps above", "w2 above", "flat above"])
def test_epsilon_takes_z_from_the_relu_output_only_where_that_is_exact(above, rng=np.random.default_rng(5)):
    """LRP-epsilon before a ReLU takes z from the ReLU's output (fast_lrp.rectified_is_enough).
    That is exact where the inactive neurons get no relevance, as under LRP-0 above; w^2 and
    flat give them some, and z must then be computed: both equal the readable loop."""
    net = Sequential([Linear(rng.standard_normal((6, 8)), rng.standard_normal(8)), ReLU(),
                      Linear(rng.standard_normal((8, 3)), rng.standard_normal(3))], input_shape=(6,))
    x = rng.standard_normal((5, 6))
    rules = {0: Epsilon(0.01), 2: above}
    active = net.activations(x)[2] > 0
    assert active.any() and not active.all(), "the case needs active and inactive neurons"
    R_top = np.abs(net.forward(x))
    expected = lrp_layer_by_layer(net, x, rules, R_top)
    np.testing.assert_allclose(lrp(net, x, target=R_top, rules=rules), expected, rtol=1e-12, atol=1e-14)


def fits(layer, rule) -> bool:
    """Alpha-beta needs a layer with weights: ``lrp`` refuses it on pools (no negative part)."""
    return not rule.needs_weights or layer.weighted


def on_every_layer_it_fits(net, rule) -> dict:
    """{layer index: rule} for every linear-type layer the rule fits, LRP-0 on the others."""
    return {i: rule if fits(layer, rule) else Epsilon(0.0)
            for i, layer in enumerate(net.layers) if layer.linear}


METHODS_AND_RULES = [
    ("sensitivity", {}), ("simple_taylor", {}), ("deconvolution", {}), ("guided_backprop", {}),
    ("lrp", {"rules": Epsilon(0.0)}), ("lrp", {"rules": Epsilon(0.1)}),
    ("lrp", {"rules": AlphaBeta(alpha=2, beta=1)}), ("lrp", {"rules": AlphaBeta(alpha=2, beta=1, bias="split")}),
    ("lrp", {"rules": WSquare()}), ("lrp", {"rules": Flat()}),
]


@given(data=st.data(), net=networks(), scale=st.sampled_from([0.0, 1e-300, 1e-8, 1.0, 1e6]))
def test_no_explanation_produces_nan_or_inf_for_finite_input(data, net, scale):
    x = data.draw(inputs(net)) * scale          # all-zero input and denormal inputs included
    for name, kwargs in METHODS_AND_RULES:
        if "rules" in kwargs:
            kwargs = {"rules": on_every_layer_it_fits(net, kwargs["rules"])}
        R = explain.METHODS[name](net, x, **kwargs)
        assert np.all(np.isfinite(R)), f"{name} {kwargs} gave NaN/Inf"
    rules = {i: (ZBox(-1.0, 1.0) if i == 0 else ZPlus()) for i, l in enumerate(net.layers) if l.linear}
    if scale <= 1.0:
        assert np.all(np.isfinite(lrp(net, x, rules=rules)))


def test_all_zero_image_through_the_deep_taylor_rules(rng=np.random.default_rng(0)):
    net = Sequential([Conv2d(rng.standard_normal((2, 1, 3, 3)), -np.ones(2)), ReLU(), Flatten(),
                      Linear(rng.standard_normal((18, 2)), -np.ones(2))], input_shape=(1, 5, 5))
    R = lrp(net, np.zeros((1, 1, 5, 5)), rules="deep_taylor")
    assert np.all(R == 0), "a dead network explains nothing, without NaN"


# --------------------------------------------------------------------------------------------
def continuity_ratio(method, x, x2, **kwargs):
    net = figure6_network()
    R, R2 = method(net, x[None], **kwargs), method(net, x2[None], **kwargs)
    return np.abs(R - R2).sum() / np.linalg.norm(x - x2)


quadrant = st.floats(0.0, 1.0, allow_nan=False)
points = st.tuples(quadrant, quadrant).map(np.array)


@given(x=points, x2=points)
def test_deep_taylor_lrp_is_continuous_on_the_figure6_network(x, x2):
    assume(np.linalg.norm(x - x2) > 1e-6)
    ratio = continuity_ratio(explain.lrp, x, x2, rules=ZPlus())
    assert ratio <= np.sqrt(2) * (1 + 1e-9), f"||R(x) - R(x')||_1 / ||x - x'|| = {ratio} > sqrt(2)"


def test_sensitivity_and_simple_taylor_exceed_any_continuity_bound_on_figure6():
    bound = 1e4
    pairs = st.tuples(st.floats(0.1, 1.0), st.floats(-1e-3, 1e-3), st.floats(-1e-3, 1e-3)).map(
        lambda t: (np.array([t[0], t[0] + t[1]]), np.array([t[0], t[0] + t[2]])))
    for method in (explain.sensitivity, explain.simple_taylor):
        x, x2 = find(pairs, lambda p, m=method: np.linalg.norm(p[0] - p[1]) > 0
                     and continuity_ratio(m, *p) > bound, settings=settings(max_examples=5000))
        assert continuity_ratio(method, x, x2) > bound, method.__name__


@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_max_pool_winner_and_proportional_agree_with_one_nonzero_input_per_pool(data, seed):
    rng = np.random.default_rng(seed)
    values = data.draw(hnp.arrays(np.float64, (2, 2, 2, 2), elements=st.floats(0.01, 10.0)))
    where = rng.integers(0, 4, (2, 2, 2, 2))             # which entry of each 2x2 pool is non-zero
    x = np.zeros((2, 2, 4, 4))
    for di in range(2):
        for dj in range(2):
            x[:, :, di::2, dj::2] = values * (where == 2 * di + dj)
    net = Sequential([MaxPool2d(2), Flatten(), Linear(rng.standard_normal((8, 3)), np.zeros(3))])
    R_top = np.abs(net.forward(x))
    winner = lrp(net, x, target=R_top, rules=Epsilon(0.0), max_pool="winner")
    proportional = lrp(net, x, target=R_top, rules=Epsilon(0.0), max_pool="proportional")
    np.testing.assert_allclose(winner, proportional, rtol=1e-12, atol=1e-300)

"""Every rule on every linear-type layer equals the paper's explicit per-neuron formula.

For Linear the oracle uses W directly; for Conv2d (with stride and padding) and the pools it
uses the layer unrolled into its dense matrix.  Float64, seeded generators.
"""

import numpy as np
import pytest

from heatmapping.layers import AvgPool2d, Conv2d, Linear, SumPool2d
from heatmapping.lrp import propagate
from heatmapping.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus
from oracles import dense_matrix, lrp_oracle

#: the package and the oracle sum the same products in different orders
RULE_RTOL = 1e-9
RULE_ATOL = 1e-12


def layers(rng):
    """Linear-type layers with random weights and non-positive biases, and an input shape."""
    return {
        "Linear": (Linear(rng.standard_normal((7, 5)), -rng.uniform(0, 0.5, 5)), (7,)),
        "Conv2d s1 p0": (Conv2d(rng.standard_normal((3, 2, 3, 3)), -rng.uniform(0, 0.5, 3)), (2, 5, 5)),
        "Conv2d s2 p1": (Conv2d(rng.standard_normal((3, 2, 3, 3)), -rng.uniform(0, 0.5, 3),
                                stride=2, padding=1), (2, 6, 5)),
        "Conv2d 2x3 s(1,2) p(1,0)": (Conv2d(rng.standard_normal((2, 1, 2, 3)), -rng.uniform(0, 0.5, 2),
                                            stride=(1, 2), padding=(1, 0)), (1, 4, 7)),
        "SumPool2d": (SumPool2d(2), (2, 4, 4)),
        "SumPool2d 3 s1 p1": (SumPool2d(3, 1, 1), (1, 4, 4)),
        "AvgPool2d": (AvgPool2d(2, 1), (2, 3, 4)),
    }


LAYER_IDS = list(layers(np.random.default_rng(0)))

BOX_LOW, BOX_HIGH = -1.0, 2.0

RULES = {
    "LRP-0": (Epsilon(0.0), "epsilon", {}, "signed"),
    "epsilon 0.1": (Epsilon(0.1), "epsilon", {"eps": 0.1}, "signed"),
    "z+": (ZPlus(), "zplus", {}, "nonnegative"),
    "alpha1beta0": (AlphaBeta(alpha=1, beta=0), "alphabeta", {"alpha": 1, "beta": 0}, "signed"),
    "alpha2beta1": (AlphaBeta(alpha=2, beta=1), "alphabeta", {"alpha": 2, "beta": 1}, "signed"),
    "alpha2beta1 bias split": (AlphaBeta(alpha=2, beta=1, bias="split"), "alphabeta",
                               {"alpha": 2, "beta": 1, "bias": "split"}, "signed"),
    "zB": (ZBox(BOX_LOW, BOX_HIGH), "zbox", {}, "box"),
    "w^2": (WSquare(), "wsquare", {}, "signed"),
    "flat": (Flat(), "flat", {}, "signed"),
    "gamma 0.5": (Gamma(0.5), "gamma", {"gamma": 0.5}, "nonnegative"),
}


def draw_input(rng, kind, shape):
    if kind == "nonnegative":
        return np.maximum(rng.standard_normal(shape), 0)
    if kind == "box":
        return rng.uniform(BOX_LOW, BOX_HIGH, shape)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("layer_name", LAYER_IDS)
@pytest.mark.parametrize("rule_name", RULES)
def test_rule_equals_the_explicit_per_neuron_formula(rule_name, layer_name, rng):
    layer, shape = layers(rng)[layer_name]
    rule, oracle_name, params, kind = RULES[rule_name]
    a = draw_input(rng, kind, (2, *shape))
    out_shape = layer.forward(a).shape
    R = rng.uniform(0.1, 1.0, out_shape) * rng.choice([-1, 1], out_shape)

    if oracle_name == "flat":      # the flat rule sees the layer's connectivity, not its weights
        W = layer.replace(**{k: np.ones_like(v) for k, v in layer.params().items() if k != "b"})
        W, b = dense_matrix(W.replace(**{"b": np.zeros_like(layer.b)}) if "b" in layer.params() else W, shape)
    else:
        W, b = dense_matrix(layer, shape)
    if oracle_name == "zbox":
        D = W.shape[0]
        params = {"low": np.full(D, BOX_LOW), "high": np.full(D, BOX_HIGH)}
    expected = np.stack([lrp_oracle(oracle_name, a[n].reshape(-1), W, b, R[n].reshape(-1), **params)
                         for n in range(len(a))]).reshape(a.shape)
    np.testing.assert_allclose(propagate(layer, a, R, rule), expected, rtol=RULE_RTOL, atol=RULE_ATOL,
                               err_msg=f"{rule_name} on {layer_name} differs from the paper's formula")


def test_zbox_takes_per_pixel_bounds(rng):
    layer = Linear(rng.standard_normal((6, 3)), np.zeros(3))
    low, high = -rng.uniform(0, 1, 6), rng.uniform(0, 1, 6)
    a = rng.uniform(low, high, (4, 6))
    R = rng.uniform(0, 1, (4, 3))
    expected = np.stack([lrp_oracle("zbox", a[n], layer.W, layer.b, R[n], low=low, high=high)
                         for n in range(4)])
    np.testing.assert_allclose(propagate(layer, a, R, ZBox(low, high)), expected, rtol=RULE_RTOL)


# --------------------------------------------------------------------------------------------
# worked examples, small enough to do by hand

def test_zplus_worked_example():
    # two inputs a = (1, 2), one neuron with w = (3, -1): the positive products are (3, 0),
    # so all relevance R = 6 goes to a_1: R = (6, 0)
    R = propagate(Linear(np.array([[3.0], [-1.0]]), np.array([-0.5])), np.array([[1.0, 2.0]]),
                  np.array([[6.0]]), ZPlus())
    np.testing.assert_allclose(R, [[6.0, 0.0]])


def test_alpha2beta1_worked_example():
    # a = (1, 2), w = (3, -1): products (3, -2).  alpha = 2: +2 * 3/3 * R to a_1;
    # beta = 1: -1 * (-2)/(-2) * R to a_2.  With R = 1: (2, -1), which sums to 1.
    R = propagate(Linear(np.array([[3.0], [-1.0]]), np.zeros(1)), np.array([[1.0, 2.0]]),
                  np.array([[1.0]]), AlphaBeta(alpha=2, beta=1))
    np.testing.assert_allclose(R, [[2.0, -1.0]])


def test_zbox_worked_example():
    # x = (0, 0.5) in [-1, 1]^2, w = (1, -1): numerators x w - l w+ - h w- =
    # (0 + 1 - 0, -0.5 - 0 + 1) = (1, 0.5), total 1.5; R = 3 splits as (2, 1)
    R = propagate(Linear(np.array([[1.0], [-1.0]]), np.zeros(1)), np.array([[0.0, 0.5]]),
                  np.array([[3.0]]), ZBox(-1.0, 1.0))
    np.testing.assert_allclose(R, [[2.0, 1.0]])


def test_wsquare_worked_example():
    # w = (3, -4): w^2 = (9, 16), total 25; R = 50 splits as (18, 32) whatever the input
    R = propagate(Linear(np.array([[3.0], [-4.0]]), np.zeros(1)), np.array([[7.0, -3.0]]),
                  np.array([[50.0]]), WSquare())
    np.testing.assert_allclose(R, [[18.0, 32.0]])


def test_epsilon_worked_example_absorbs_into_bias_and_eps():
    # a = (1, 1), w = (1, 1), b = -1: z = 1, + eps 1 = 2; R = 4 -> s = 2, each input gets 2:
    # R_in = (2, 2) sums to 4?  no: a_j w_j s = 1 * 2 = 2 each -> 4.  The bias's share
    # is b s = -2 and eps's share 1 * 2 = 2: they cancel here, 4 = 4 - 2 + 2.
    R = propagate(Linear(np.ones((2, 1)), np.array([-1.0])), np.ones((1, 2)), np.array([[4.0]]),
                  Epsilon(1.0))
    np.testing.assert_allclose(R, [[2.0, 2.0]])


def test_sum_pool_proportional_worked_example():
    # one 2x2 pool with inputs (1, 2, 3, 4) (sum 10) and R = 5: R_j = x_j / 10 * 5
    R = propagate(SumPool2d(2), np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), np.array([[[[5.0]]]]), ZPlus())
    np.testing.assert_allclose(R, [[[[0.5, 1.0], [1.5, 2.0]]]])


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: AlphaBeta(alpha=2, beta=0.5), r"alpha - beta = 1 and beta >= 0"),
    (lambda: AlphaBeta(alpha=0.5, beta=-0.5), r"alpha - beta = 1 and beta >= 0"),
    (lambda: AlphaBeta(alpha=1, beta=0, bias="half"), "bias must be 'ignore' or 'split'"),
    (lambda: ZBox(0.5, 1.0), r"low <= 0 <= high"),
    (lambda: ZBox(-1.0, -0.1), r"low <= 0 <= high"),
    (lambda: ZBox(-np.inf, 1.0), "finite"),
    (lambda: Epsilon(-1.0), "eps >= 0"),
    (lambda: Gamma(-0.1), "gamma >= 0"),
], ids=["alpha-beta != 1", "negative beta", "bias mode", "zB low > 0", "zB high < 0",
        "zB infinite", "negative eps", "negative gamma"])
def test_invalid_rules_are_refused_when_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_zbox_refuses_inputs_outside_the_box(rng):
    with pytest.raises(ValueError, match="outside the box"):
        propagate(Linear(np.ones((2, 1)), np.zeros(1)), np.array([[0.5, 1.5]]), np.ones((1, 1)),
                  ZBox(-1.0, 1.0))


def test_zplus_refuses_negative_activations():
    with pytest.raises(ValueError, match="non-negative"):
        propagate(Linear(np.ones((2, 1)), np.zeros(1)), np.array([[-0.5, 1.0]]), np.ones((1, 1)), ZPlus())


def test_rules_are_immutable_values():
    assert AlphaBeta(alpha=2, beta=1) == AlphaBeta(alpha=2, beta=1)
    with pytest.raises(Exception):
        ZPlus().eps = 1.0


def test_zbox_near_its_bounds_has_no_cancellation():
    """An input a hair below h (or above l): z_j = (x - l) w^+ + (x - h) w^- is tiny for a
    negative weight, yet R_i = R_j exactly; x w - l w^+ - h w^- computed as such loses R to
    cancellation (it gave 1.0 and 1.125 here, for an exact 0.8982)."""
    layer = Linear(np.array([[0.1257302210933933, -0.1321048632913019, 0.6404226504432821]]), np.zeros(3))
    R_top = np.array([[0.12573022109339327, 0.13210486329130186, 0.640422650443282]])
    for x in (1 - 2.0 ** -53, -1 + 2.0 ** -52):
        R = propagate(layer, np.array([[x]]), R_top, ZBox(-1.0, 1.0))
        assert R[0, 0] == pytest.approx(R_top.sum(), rel=1e-12)

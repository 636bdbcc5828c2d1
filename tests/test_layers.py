"""Layers: forward passes against explicit loop oracles, backward passes against finite
differences and the adjoint test, linear-type backward as the exact matrix transpose, and
clear errors for bad input.  Float64 throughout unless a test says otherwise.
"""

import numpy as np
import pytest
from heatmapping import layers

from heatmapping.layers import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, LpPool2d,
                                MaxPool2d, Multiply, ReLU, SumPool2d)
from heatmapping.testing import check_layer
from oracles import conv_oracle, dense_matrix, pool_oracle

#: forward passes are sums of a few hundred float64 products: rounding stays far below this
FORWARD_RTOL = 1e-12


# --------------------------------------------------------------------------------------------
CONV_CASES = {
    "3x3 s1 p0": dict(kernel=(3, 3), stride=1, padding=0, shape=(2, 2, 6, 5)),
    "3x3 s2 p1": dict(kernel=(3, 3), stride=2, padding=1, shape=(2, 3, 7, 6)),
    "2x4 s(1,2) p(2,1)": dict(kernel=(2, 4), stride=(1, 2), padding=(2, 1), shape=(1, 2, 5, 7)),
    "5x5 s1 p0 (reference CNN)": dict(kernel=(5, 5), stride=1, padding=0, shape=(2, 1, 9, 9)),
    "1x1": dict(kernel=(1, 1), stride=1, padding=0, shape=(2, 4, 3, 3)),
}


def make_conv(rng, kernel, stride, padding, c_in, c_out=3):
    W = rng.standard_normal((c_out, c_in, *kernel))
    return Conv2d(W, rng.standard_normal(c_out), stride=stride, padding=padding)


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv_forward_equals_explicit_loop_oracle(case, rng):
    layer = make_conv(rng, case["kernel"], case["stride"], case["padding"], case["shape"][1])
    a = rng.standard_normal(case["shape"])
    expected = conv_oracle(a, layer.W, layer.b, layer.stride, layer.padding)
    np.testing.assert_allclose(layer.forward(a), expected, rtol=FORWARD_RTOL, atol=1e-12,
                               err_msg="Conv2d.forward differs from the loop oracle")


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
@pytest.mark.parametrize("block_bytes", [1, 10**9], ids=["one output row per block", "one block"])
def test_conv_backward_is_the_transpose_of_the_dense_matrix(case, block_bytes, rng, monkeypatch):
    """Conv2d.backward adds the windows back a block of output rows at a time; a block of one
    row adds a whole kernel column at once (layers._scatter_windows).  Both ways must give
    g @ M^T, M the dense matrix of the convolution's forward pass."""
    monkeypatch.setattr(layers, "_COLUMN_BLOCK_BYTES", block_bytes)
    layer = make_conv(rng, case["kernel"], case["stride"], case["padding"], case["shape"][1])
    a = rng.standard_normal(case["shape"])
    g = rng.standard_normal(layer.forward(a).shape)
    M, _ = dense_matrix(layer, a.shape[1:])                    # (inputs, outputs) of one sample
    expected = (g.reshape(len(g), -1) @ M.T).reshape(a.shape)
    np.testing.assert_allclose(layer.backward(a, g), expected, rtol=1e-12, atol=1e-12)


POOL_CASES = {
    "sum 2x2": (SumPool2d(2), sum, 0.0),
    "sum 3x3 s2 p1": (SumPool2d(3, 2, 1), sum, 0.0),
    "avg 2x2": (AvgPool2d(2), lambda v: sum(v) / len(v), 0.0),
    "avg 3x2 s1": (AvgPool2d((3, 2), 1), lambda v: sum(v) / len(v), 0.0),
    "max 2x2": (MaxPool2d(2), max, -np.inf),
    "max 3x3 s2 p1": (MaxPool2d(3, 2, 1), max, -np.inf),
    "lp p=2 2x2": (LpPool2d(2, p=2), lambda v: sum(abs(x) ** 2 for x in v) ** 0.5, 0.0),
    "lp p=3.5 3x3 s1": (LpPool2d(3, 1, p=3.5), lambda v: sum(abs(x) ** 3.5 for x in v) ** (1 / 3.5), 0.0),
}


@pytest.mark.parametrize("layer, reduce, fill", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool_forward_equals_explicit_loop_oracle(layer, reduce, fill, rng):
    a = rng.standard_normal((2, 3, 7, 6))
    expected = pool_oracle(a, layer.window, layer.stride, layer.padding, reduce, fill)
    np.testing.assert_allclose(layer.forward(a), expected, rtol=FORWARD_RTOL, atol=1e-12)


def test_linear_forward_is_the_papers_sum(rng):
    W, b, a = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((2, 4))
    expected = [[sum(a[n, j] * W[j, k] for j in range(4)) + b[k] for k in range(3)] for n in range(2)]
    np.testing.assert_allclose(Linear(W, b).forward(a), expected, rtol=FORWARD_RTOL)


# --------------------------------------------------------------------------------------------
def all_layers(rng):
    """Every layer kind with an input of fitting shape, away from kinks and ties."""
    return {
        "Linear": (Linear(rng.standard_normal((5, 4)), rng.standard_normal(4)), (3, 5)),
        **{f"Conv2d {k}": (make_conv(rng, c["kernel"], c["stride"], c["padding"], c["shape"][1]),
                           c["shape"]) for k, c in CONV_CASES.items()},
        "SumPool2d": (SumPool2d(2), (2, 2, 6, 6)),
        "SumPool2d 3x2 tiles, pixels beyond the last": (SumPool2d((3, 2)), (2, 2, 7, 5)),
        "SumPool2d overlapping": (SumPool2d(3, 1, 1), (2, 2, 5, 5)),
        "AvgPool2d": (AvgPool2d(2, 1), (2, 2, 5, 4)),
        "MaxPool2d": (MaxPool2d(2), (2, 2, 6, 6)),
        "MaxPool2d overlapping": (MaxPool2d(3, 2, 1), (2, 2, 7, 7)),
        "LpPool2d p=2": (LpPool2d(2, p=2.0), (2, 2, 4, 4)),
        "LpPool2d p=1": (LpPool2d(2, p=1.0), (2, 2, 4, 4)),
        "LpPool2d p=5 overlapping": (LpPool2d(3, 1, p=5.0), (2, 2, 5, 5)),
        "ReLU": (ReLU(), (3, 7)),
        "ReLU images": (ReLU(), (2, 2, 3, 3)),
        "Flatten": (Flatten(), (2, 3, 2, 2)),
        "Dropout (inference)": (Dropout(0.5), (3, 4)),
        "Multiply": (Multiply(rng.standard_normal(4)), (3, 4)),
    }


LAYER_IDS = list(all_layers(np.random.default_rng(0)))


@pytest.mark.parametrize("name", LAYER_IDS)
def test_an_empty_batch_gives_empty_outputs_and_gradients(name, rng):
    """A layer called directly on no samples (N = 0) returns no samples, of the shapes one
    sample would have, in both directions (a network refuses an empty batch before that)."""
    layer, shape = all_layers(rng)[name]
    one = layer.forward(rng.standard_normal((1, *shape[1:])))
    a = np.zeros((0, *shape[1:]))
    out = layer.forward(a)
    assert out.shape == (0, *one.shape[1:])
    assert layer.backward(a, out).shape == a.shape


@pytest.mark.parametrize("name", LAYER_IDS)
def test_backward_matches_finite_differences_and_adjoint(name, rng):
    layer, shape = all_layers(rng)[name]
    # |a| >= 0.1 keeps ReLU inputs and |a| inputs of the l_p pool away from their kinks
    a = rng.standard_normal(shape)
    a = np.where(np.abs(a) < 0.1, 0.1 * np.sign(a) + a, a)
    errors = check_layer(layer, a, rng=rng)
    assert errors["input"] < 1e-6 and errors["adjoint"] < 1e-6, errors


@pytest.mark.parametrize("name", [n for n in LAYER_IDS
                                  if all_layers(np.random.default_rng(0))[n][0].linear])
def test_linear_layer_backward_is_the_exact_transpose(name, rng):
    """backward(s) = M s with M the layer's dense matrix: Eq. (6) c = W s, to rounding."""
    layer, shape = all_layers(rng)[name]
    M, _ = dense_matrix(layer, shape[1:])                    # (D_in, D_out)
    s = rng.standard_normal((shape[0], M.shape[1]))
    out_shape = layer.forward(np.zeros(shape)).shape
    c = layer.backward(np.zeros(shape), s.reshape(out_shape)).reshape(shape[0], -1)
    np.testing.assert_allclose(c, s @ M.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_backward_in_row_blocks_equals_one_block(case, rng, monkeypatch):
    """Conv2d.backward forms W^T g a block of output rows at a time; a block size of one byte
    (one row per block) must give the transpose to rounding, with stride and padding."""
    c = CONV_CASES[case]
    layer = make_conv(rng, c["kernel"], c["stride"], c["padding"], c["shape"][1])
    a = rng.standard_normal(c["shape"])
    g = rng.standard_normal(layer.forward(a).shape)
    whole = layer.backward(a, g)
    monkeypatch.setattr(layers, "_COLUMN_BLOCK_BYTES", 1)
    np.testing.assert_allclose(layer.backward(a, g), whole, rtol=1e-12, atol=1e-12)
    M, _ = dense_matrix(layer, c["shape"][1:])
    np.testing.assert_allclose(layer.backward(a, g).reshape(len(a), -1),
                               g.reshape(len(a), -1) @ M.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_forward_in_sample_blocks_equals_the_loop_oracle(case, rng, monkeypatch):
    """Conv2d forms its im2col matrix a block of samples at a time; blocks of one sample
    (a limit of one byte) give the explicit loop's result."""
    c = CONV_CASES[case]
    layer = make_conv(rng, c["kernel"], c["stride"], c["padding"], c["shape"][1])
    a = rng.standard_normal((3,) + c["shape"][1:])
    monkeypatch.setattr(layers, "_IM2COL_BYTES", 1)
    np.testing.assert_allclose(layer.forward(a), conv_oracle(a, layer.W, layer.b, layer.stride, layer.padding),
                               rtol=FORWARD_RTOL, atol=1e-12)


@pytest.mark.parametrize("name", ["Linear"] + [f"Conv2d {k}" for k in CONV_CASES])
def test_products_of_several_weights_equal_separate_forward_passes(name, rng):
    """layer.products(a, [W_1, W_2]) = the forward passes of the layer with W_1, W_2 and no
    bias (what lrp's forward pass computes with one im2col)."""
    layer, shape = all_layers(rng)[name]
    a = rng.standard_normal(shape)
    weights = [rng.standard_normal(layer.W.shape) for _ in range(2)]
    zero = np.zeros_like(layer.b)
    for got, W in zip(layer.products(a, weights), weights):
        np.testing.assert_allclose(got, layer.replace(W=W, b=zero).forward(a), rtol=1e-12, atol=1e-12)


def test_network_layers_are_flagged_linear_exactly_when_backward_ignores_a(rng):
    linear = {type(l).__name__ for l, _ in all_layers(rng).values() if l.linear}
    assert linear == {"Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Multiply"}


def test_maxpool_gradient_goes_to_the_window_maximum():
    a = np.array([[[[1.0, 5.0], [3.0, 2.0]]]])
    g = MaxPool2d(2).backward(a, np.array([[[[7.0]]]]))
    np.testing.assert_array_equal(g, [[[[0.0, 7.0], [0.0, 0.0]]]])


def test_lp_pool_interpolates_between_sum_and_max(rng):
    a = np.abs(rng.standard_normal((2, 3, 6, 6)))
    np.testing.assert_allclose(LpPool2d(2, p=1).forward(a), SumPool2d(2).forward(a), rtol=1e-12)
    np.testing.assert_allclose(LpPool2d(2, p=200).forward(a), MaxPool2d(2).forward(a), rtol=1e-2)


def test_lp_pool_gradient_is_zero_not_nan_on_an_all_zero_window():
    g = LpPool2d(2, p=2).backward(np.zeros((1, 1, 2, 2)), np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(g, np.zeros((1, 1, 2, 2)))


def test_avgpool_is_sumpool_divided_by_window_size(rng):
    a = rng.standard_normal((2, 2, 6, 6))
    np.testing.assert_allclose(AvgPool2d(3, 1).forward(a), SumPool2d(3, 1).forward(a) / 9, rtol=1e-12)


# --------------------------------------------------------------------------------------------
def test_dropout_mask_keeps_units_with_probability_one_minus_rate_and_rescales(rng):
    mask = Dropout(0.25).sample((200, 500), rng).m
    kept = mask > 0
    assert abs(kept.mean() - 0.75) < 0.01, kept.mean()
    np.testing.assert_allclose(mask[kept], 1 / 0.75)
    a = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(Dropout(0.25).forward(a), a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_parameters_and_input(dtype, rng):
    conv = make_conv(rng, (3, 3), 1, 1, 2)
    conv = conv.replace(W=conv.W.astype(dtype), b=conv.b.astype(dtype))
    a = rng.standard_normal((2, 2, 5, 5)).astype(dtype)
    assert conv.forward(a).dtype == dtype
    assert conv.backward(a, conv.forward(a)).dtype == dtype
    assert conv.forward(a.astype(np.float64)).dtype == np.float64


def test_replace_keeps_hyper_parameters(rng):
    conv = make_conv(rng, (3, 3), 2, 1, 2)
    new = conv.replace(W=np.maximum(conv.W, 0))
    assert (new.stride, new.padding) == (conv.stride, conv.padding)
    np.testing.assert_array_equal(new.b, conv.b)
    pool = LpPool2d(3, 2, 1, p=3.0).replace()
    assert (pool.window, pool.stride, pool.padding, pool.p) == ((3, 3), (2, 2), (1, 1), 3.0)


# --------------------------------------------------------------------------------------------
# bad input: each error names what was expected

BAD_INPUT = {
    "linear wrong width": (lambda r: Linear(r.standard_normal((4, 3)), np.zeros(3)).forward(np.zeros((2, 5))),
                           ValueError, r"expected input of shape \(N, 4\)"),
    "linear W not 2-D": (lambda r: Linear(np.zeros((4, 3, 1)), np.zeros(3)),
                         ValueError, r"Linear W: expected shape \(D_in, D_out\)"),
    "linear b mismatched": (lambda r: Linear(np.zeros((4, 3)), np.zeros(4)),
                            ValueError, r"b: expected shape \(3,\)"),
    "conv wrong channels": (lambda r: Conv2d(np.zeros((2, 3, 3, 3)), np.zeros(2)).forward(np.zeros((1, 1, 5, 5))),
                            ValueError, "expected 3 input channels"),
    "conv not images": (lambda r: Conv2d(np.zeros((2, 3, 3, 3)), np.zeros(2)).forward(np.zeros((1, 75))),
                        ValueError, r"expected images of shape \(N, C, H, W\)"),
    "conv W not 4-D": (lambda r: Conv2d(np.zeros((2, 3, 3)), np.zeros(2)),
                       ValueError, r"Conv2d W: expected shape \(C_out, C_in, kh, kw\)"),
    "conv negative stride": (lambda r: Conv2d(np.zeros((2, 3, 3, 3)), np.zeros(2), stride=-1),
                             ValueError, "Conv2d stride: expected integers >= 1, got -1"),
    "conv negative padding": (lambda r: Conv2d(np.zeros((2, 3, 3, 3)), np.zeros(2), padding=-1),
                              ValueError, "padding: expected integers >= 0"),
    "conv kernel larger than input": (lambda r: Conv2d(np.zeros((2, 1, 5, 5)), np.zeros(2)).forward(np.zeros((1, 1, 4, 4))),
                                      ValueError, "window 5 is larger than the"),
    "pool window larger than input": (lambda r: SumPool2d(4).forward(np.zeros((1, 1, 3, 8))),
                                      ValueError, "window 4 is larger than the"),
    "pool negative stride": (lambda r: MaxPool2d(2, -2), ValueError, "MaxPool2d stride: expected integers >= 1, got -2"),
    "pool zero window": (lambda r: AvgPool2d(0), ValueError, "AvgPool2d window: expected integers >= 1, got 0"),
    "lp pool p < 1": (lambda r: LpPool2d(2, p=0.5), ValueError, "LpPool2d p: expected a number >= 1, got 0.5"),
    "dropout rate 1": (lambda r: Dropout(1.0), ValueError, r"Dropout rate: expected a number in \[0, 1\), got 1.0"),
    "nan input": (lambda r: ReLU().forward(np.array([[1.0, np.nan]])), ValueError, "NaN or Inf"),
    "inf input": (lambda r: SumPool2d(2).forward(np.full((1, 1, 2, 2), np.inf)), ValueError, "NaN or Inf"),
    "integer input": (lambda r: Linear(np.zeros((2, 2)), np.zeros(2)).forward(np.ones((1, 2), dtype=int)),
                      TypeError, "expected a floating-point array"),
}


@pytest.mark.parametrize("name", BAD_INPUT)
def test_bad_input_gets_a_clear_error(name, rng):
    make, error, message = BAD_INPUT[name]
    with pytest.raises(error, match=message):
        make(rng)


def test_convolution_in_small_pieces_gives_the_same_numbers(monkeypatch):
    """The convolutions cut their BLAS products into pieces (layers._SMALL_PRODUCT) and their
    im2col into blocks (layers._IM2COL_BYTES); at the tests' sizes neither cut happens unless
    the limits are made tiny: the results are the same to rounding either way."""
    import heatmapping.layers as layers
    rng = np.random.default_rng(5)
    conv = Conv2d(rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4), stride=2, padding=1)
    a = rng.standard_normal((5, 3, 9, 8))
    g = rng.standard_normal(conv.forward(a).shape)
    z, back = conv.forward(a), conv.backward(a, g)
    monkeypatch.setattr(layers, "_SMALL_PRODUCT", 1)
    monkeypatch.setattr(layers, "_IM2COL_BYTES", 1)
    np.testing.assert_allclose(conv.forward(a), z, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(conv.backward(a, g), back, rtol=1e-13, atol=1e-13)

"""heatmapping.state_dict: PyTorch state dicts of the shipped models round trip exactly, a
state dict written by hand in PyTorch's layout gives the original logits, a NumPy oracle of
PyTorch's semantics (written with loops) agrees, and every mismatch is an error naming the
tensor."""

import itertools

import numpy as np
import pytest
import safetensors.numpy as reference          # the reference implementation, a test extra

from heatmapping import models
from heatmapping.data import load_mnist5k
from heatmapping.layers import (BatchNorm, Conv2d, Dropout, Flatten, Linear, Multiply, ReLU,
                                SumPool2d)
from heatmapping.network import Sequential
from heatmapping.state_dict import from_state_dict, load_torch, save_torch, to_state_dict
from oracles import conv_oracle


def digits(net: Sequential, n: int = 8) -> np.ndarray:
    """The first ``n`` embedded digits as ``net``'s input, in its dtype."""
    images, _ = load_mnist5k()
    return models.inputs_for(net, images[:n], dtype=net.dtype)


def fresh(name: str) -> Sequential:
    """The architecture of shipped model ``name`` with other (random) parameters."""
    return models.ARCHITECTURES[name](rng=np.random.default_rng(99)).astype(np.float32)


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_export_then_import_of_a_shipped_model_gives_identical_logits(name, tmp_path):
    net = models.load_model(name)
    x = digits(net)
    copy = from_state_dict(fresh(name), to_state_dict(net))
    assert copy.dtype == net.dtype
    np.testing.assert_array_equal(copy(x), net(x))
    on_disk = load_torch(save_torch(tmp_path / f"{name}.safetensors", net), fresh(name))
    np.testing.assert_array_equal(on_disk(x), net(x))


#: the PyTorch keys of the shipped models, written out: nn.Sequential names modules by index
HAND_BUILT = {
    # Flatten, Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear; nn.Linear.weight is (out, in)
    "mlp": lambda net: {"1.weight": net[1].W.T, "1.bias": net[1].b,
                        "4.weight": net[4].W.T, "4.bias": net[4].b,
                        "7.weight": net[7].W.T, "7.bias": net[7].b},
    # Conv, ReLU, pool, Conv, ReLU, pool, Conv, ReLU, pool, Dropout, Conv, Flatten;
    # nn.Conv2d.weight is (out, in, kh, kw) like ours
    "cnn": lambda net: {"0.weight": net[0].W, "0.bias": net[0].b, "3.weight": net[3].W,
                        "3.bias": net[3].b, "6.weight": net[6].W, "6.bias": net[6].b,
                        "10.weight": net[10].W, "10.bias": net[10].b},
}


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_a_hand_built_pytorch_state_dict_gives_the_original_logits(name, tmp_path):
    net = models.load_model(name)
    tensors = {k: np.ascontiguousarray(v) for k, v in HAND_BUILT[name](net).items()}
    reference.save_file(tensors, str(tmp_path / "torch.safetensors"))
    loaded = load_torch(tmp_path / "torch.safetensors", fresh(name))
    x = digits(net)
    np.testing.assert_array_equal(loaded(x), net(x))
    assert sorted(to_state_dict(net)) == sorted(tensors), "export writes other keys"


# --------------------------------------------------------------------------------------------
# PyTorch's semantics written out with loops, the oracle for a tiny network

def torch_batch_norm(x, weight, bias, running_mean, running_var, eps):
    """nn.BatchNorm2d in eval mode, per channel c of (N, C, H, W)."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        x_hat = (x[:, c] - running_mean[c]) / np.sqrt(running_var[c] + eps)
        out[:, c] = x_hat * weight[c] + bias[c]
    return out


def torch_flatten(x):
    """nn.Flatten: (N, C, H, W) -> (N, C*H*W), entry (c, y, x) at index c*H*W + y*W + x."""
    N, C, H, W = x.shape
    out = np.empty((N, C * H * W))
    for c, y, x_ in itertools.product(range(C), range(H), range(W)):
        out[:, c * H * W + y * W + x_] = x[:, c, y, x_]
    return out


def torch_linear(x, weight, bias):
    """nn.Linear: y[n, o] = sum_i x[n, i] weight[o, i] + bias[o], weight (out, in)."""
    out = np.tile(bias, (len(x), 1))
    for n, o, i in itertools.product(range(len(x)), range(weight.shape[0]), range(weight.shape[1])):
        out[n, o] += x[n, i] * weight[o, i]
    return out


def tiny_net() -> Sequential:
    """conv 3x3 pad 1 (2 -> 3), BatchNorm, ReLU, conv 2x2 stride 2 (3 -> 4), ReLU, Flatten,
    Linear 16 -> 5, on (2, 5, 5) inputs; parameters are placeholders (zeros, var 1)."""
    return Sequential([
        Conv2d(np.zeros((3, 2, 3, 3)), np.zeros(3), padding=1),
        BatchNorm(np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), eps=1e-3), ReLU(),
        Conv2d(np.zeros((4, 3, 2, 2)), np.zeros(4), stride=2), ReLU(), Flatten(),
        Linear(np.zeros((16, 5)), np.zeros(5)),
    ], input_shape=(2, 5, 5))


def test_a_numpy_oracle_of_pytorch_semantics_agrees_on_a_tiny_net(rng):
    sd = {"0.weight": rng.standard_normal((3, 2, 3, 3)), "0.bias": rng.standard_normal(3),
          "1.weight": rng.uniform(0.5, 2, 3), "1.bias": rng.standard_normal(3),
          "1.running_mean": rng.standard_normal(3), "1.running_var": rng.uniform(0.1, 2, 3),
          "1.num_batches_tracked": np.array(12, dtype=np.int64),
          "3.weight": rng.standard_normal((4, 3, 2, 2)), "3.bias": rng.standard_normal(4),
          "6.weight": rng.standard_normal((5, 16)), "6.bias": rng.standard_normal(5)}
    x = rng.standard_normal((3, 2, 5, 5))
    # torch's conv is a cross-correlation (the kernel is not flipped), as conv_oracle's loops
    a = conv_oracle(x, sd["0.weight"], sd["0.bias"], (1, 1), (1, 1))
    a = np.maximum(torch_batch_norm(a, sd["1.weight"], sd["1.bias"], sd["1.running_mean"],
                                    sd["1.running_var"], eps=1e-3), 0)
    a = np.maximum(conv_oracle(a, sd["3.weight"], sd["3.bias"], (2, 2), (0, 0)), 0)
    expected = torch_linear(torch_flatten(a), sd["6.weight"], sd["6.bias"])
    np.testing.assert_allclose(from_state_dict(tiny_net(), sd)(x), expected, rtol=1e-12, atol=1e-12)


def test_a_conv_weight_is_cross_correlated_not_flipped():
    """Input 1..9 in a 3x3 image, kernel [[1, 2], [3, 4]].  Cross-correlation (PyTorch):
    top-left output 1*1 + 2*2 + 4*3 + 5*4 = 37.  A flipped convolution would give
    1*4 + 2*3 + 4*2 + 5*1 = 23."""
    net = Sequential([Conv2d(np.zeros((1, 1, 2, 2)), np.zeros(1))])
    conv = from_state_dict(net, {"0.weight": np.array([[[[1.0, 2.0], [3.0, 4.0]]]]),
                                 "0.bias": np.array([0.5])})
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(conv(x)[0, 0], [[37.5, 47.5], [67.5, 77.5]])


def test_a_linear_weight_is_out_by_in():
    """weight [[1, 2, 3], [4, 5, 6]] (2 outputs, 3 inputs) on x = (1, 10, 100):
    y = (1 + 20 + 300, 4 + 50 + 600) + bias = (321, 654) + (0.5, -0.5)."""
    net = Sequential([Linear(np.zeros((3, 2)), np.zeros(2))])
    dense = from_state_dict(net, {"0.weight": np.array([[1.0, 2, 3], [4, 5, 6]]),
                                  "0.bias": np.array([0.5, -0.5])})
    np.testing.assert_array_equal(dense(np.array([[1.0, 10, 100]])), [[321.5, 653.5]])


# --------------------------------------------------------------------------------------------
def batch_norm_net(rng) -> Sequential:
    return Sequential([
        Linear.init(6, 4, rng=rng),
        BatchNorm(rng.uniform(0.5, 2, 4), rng.standard_normal(4), rng.standard_normal(4),
                  rng.uniform(0.1, 2, 4), eps=1e-3), ReLU(),
        Linear.init(4, 2, rng=rng)])


def test_batch_norm_exports_torch_buffers_and_round_trips(rng):
    net = batch_norm_net(rng)
    sd = to_state_dict(net)
    assert sorted(sd) == ["0.bias", "0.weight", "1.bias", "1.num_batches_tracked",
                          "1.running_mean", "1.running_var", "1.weight", "3.bias", "3.weight"]
    assert sd["1.num_batches_tracked"].dtype == np.int64 and sd["1.num_batches_tracked"].shape == ()
    np.testing.assert_array_equal(sd["1.running_var"], net[1].var)
    copy = from_state_dict(batch_norm_net(np.random.default_rng(5)), sd)
    assert copy[1].eps == 1e-3, "eps comes from the architecture"
    x = rng.standard_normal((4, 6))
    np.testing.assert_array_equal(copy(x), net(x))
    del sd["1.num_batches_tracked"]                     # optional on import
    np.testing.assert_array_equal(from_state_dict(net, sd)(x), net(x))


def test_module_names_map_layers_to_nested_pytorch_modules(rng):
    net = batch_norm_net(rng)
    names = {0: "features.0", 1: "features.1", 3: "classifier.2"}
    sd = to_state_dict(net, names)
    assert sorted(sd) == ["classifier.2.bias", "classifier.2.weight", "features.0.bias",
                          "features.0.weight", "features.1.bias", "features.1.num_batches_tracked",
                          "features.1.running_mean", "features.1.running_var", "features.1.weight"]
    x = rng.standard_normal((2, 6))
    np.testing.assert_array_equal(from_state_dict(net, sd, names)(x), net(x))


@pytest.mark.parametrize("names, message", [
    ({0: "a", 1: "b"}, r"layers \[3\] have parameters but no module name"),
    ({0: "a", 1: "b", 2: "c", 3: "d"}, r"\[2\] are not indices of layers with parameters"),
    ({0: "a", 1: "b", 3: "a"}, r"two layers share a module name"),
    ({0: "a", 1: "", 3: "d"}, r"module names must be non-empty strings"),
], ids=["layer unnamed", "parameter-free layer named", "name repeated", "empty name"])
def test_bad_module_names_are_refused(names, message, rng):
    with pytest.raises(ValueError, match=message):
        to_state_dict(batch_norm_net(rng), names)


def test_the_arrays_are_copies_in_both_directions(rng):
    net = batch_norm_net(rng)
    sd = to_state_dict(net)
    copy = from_state_dict(net, sd)
    for value in sd.values():
        value[...] = 7
    for layer in (net[0], copy[0], net[1], copy[1]):
        assert not any(np.any(v == 7) for v in layer.params().values()), f"{layer} shares memory"


# --------------------------------------------------------------------------------------------
def spoiled(change):
    """The CNN's state dict changed by ``change(sd)``."""
    def make():
        sd = to_state_dict(models.load_model("cnn"))
        change(sd)
        return sd
    return make


MISMATCHES = {
    "missing tensor": (spoiled(lambda sd: sd.pop("3.bias")), ValueError,
                       r"missing tensor '3.bias' of shape \(25,\)"),
    "unexpected tensor": (spoiled(lambda sd: sd.update({"11.weight": np.zeros(3)})), ValueError,
                          r"unexpected tensors \['11.weight'\]"),
    "wrong shape": (spoiled(lambda sd: sd.update({"6.weight": np.zeros((100, 25, 5, 5))})),
                    ValueError, r"tensor '6.weight' has shape \(100, 25, 5, 5\); the architecture "
                                r"expects \(100, 25, 4, 4\)"),
    "integer tensor": (spoiled(lambda sd: sd.update({"0.bias": np.zeros(10, dtype=np.int64)})),
                       TypeError, r"tensor '0.bias' has dtype int64; expected floats"),
    "boolean tensor": (spoiled(lambda sd: sd.update({"10.bias": np.zeros(10, bool)})), TypeError,
                       r"tensor '10.bias' has dtype bool"),
    "NaN": (spoiled(lambda sd: sd["0.weight"].__setitem__((0, 0, 0, 0), np.nan)), ValueError,
            r"module '0' \(layer 0, Conv2d\): .*NaN"),
}


@pytest.mark.parametrize("make, error, message", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_a_state_dict_that_does_not_fit_is_refused_naming_the_tensor(make, error, message,
                                                                     tmp_path):
    with pytest.raises(error, match=message):
        from_state_dict(fresh("cnn"), make())
    reference.save_file(make(), str(tmp_path / "bad.safetensors"))
    with pytest.raises(error, match=f"bad.safetensors: .*{message}"):
        load_torch(tmp_path / "bad.safetensors", fresh("cnn"))


def test_a_linear_weight_in_our_layout_is_refused_naming_both_shapes():
    net = models.load_model("mlp")
    sd = to_state_dict(net)
    sd["1.weight"] = net[1].W                           # (784, 300): forgot the transpose
    with pytest.raises(ValueError, match=r"'1.weight' has shape \(784, 300\); the architecture "
                                         r"expects \(300, 784\)"):
        from_state_dict(net, sd)


def test_a_negative_running_variance_is_refused_naming_the_module(rng):
    sd = to_state_dict(batch_norm_net(rng))
    sd["1.running_var"][2] = -1.0
    with pytest.raises(ValueError, match=r"module '1' \(layer 1, BatchNorm\): .*var"):
        from_state_dict(batch_norm_net(rng), sd)


def test_a_layer_without_pytorch_counterpart_is_refused():
    net = Sequential([Linear(np.ones((2, 2)), np.zeros(2)), Multiply(np.ones(2))])
    with pytest.raises(ValueError, match=r"layer 1 \(Multiply\) has parameters but no PyTorch"):
        to_state_dict(net)


def test_parameter_free_layers_are_kept_with_their_settings(rng):
    net = Sequential([Conv2d.init(1, 2, 3, rng=rng, stride=2, padding=1), ReLU(),
                      SumPool2d(2, weight=0.5), Dropout(0.3), Flatten()], input_shape=(1, 8, 8))
    copy = from_state_dict(net, to_state_dict(net))
    assert [repr(layer) for layer in copy.layers] == [repr(layer) for layer in net.layers]
    assert all(a is not b for a, b in zip(copy.layers, net.layers))
    assert copy.input_shape == (1, 8, 8)

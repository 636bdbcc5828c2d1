"""Sequential: activations, gradients checked numerically on random networks (hypothesis),
saving and loading, and errors for bad input and bad files."""

import json
import zipfile

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from heatmapping import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, LpPool2d, MaxPool2d, ReLU,
                         Sequential, SumPool2d, load, save)
from heatmapping.testing import check_network


def small_cnn(rng, pool=SumPool2d):
    return Sequential([
        Conv2d.init(1, 3, 3, rng=rng, padding=1), ReLU(), pool(2),
        Conv2d.init(3, 4, 3, rng=rng, stride=2), ReLU(), Flatten(), Dropout(0.5),
        Linear.init(4, 3, rng=rng),
    ], input_shape=(1, 6, 6))


def small_mlp(rng):
    return Sequential([Flatten(), Linear.init(12, 5, rng=rng), ReLU(), Linear.init(5, 3, rng=rng)],
                      input_shape=(1, 3, 4))


def test_activations_are_the_list_A0_to_AL(rng):
    net = small_cnn(rng)
    x = rng.standard_normal((2, 1, 6, 6))
    A = net.activations(x)
    assert len(A) == len(net) + 1 and A[0] is x
    for layer, a_in, a_out in zip(net.layers, A[:-1], A[1:]):
        np.testing.assert_array_equal(layer.forward(a_in), a_out)
    np.testing.assert_array_equal(net.forward(x), A[-1])


def test_backward_without_the_input_gradient_leaves_only_g0_out(rng):
    net = small_cnn(rng)
    A = net.activations(rng.standard_normal((3, 1, 6, 6)))
    grad_out = rng.standard_normal(A[-1].shape)
    G, G_no_input = net.backward(A, grad_out), net.backward(A, grad_out, input_gradient=False)
    assert G_no_input[0] is None and G[0] is not None and len(G_no_input) == len(G)
    for g, h in zip(G[1:], G_no_input[1:]):
        np.testing.assert_array_equal(g, h)
    with pytest.raises(TypeError, match="input_gradient: expected True or False"):
        net.backward(A, grad_out, input_gradient=0)


@pytest.mark.parametrize("pool", [SumPool2d, AvgPool2d, MaxPool2d,
                                  lambda w: LpPool2d(w, p=3.0)],
                         ids=["sum", "avg", "max", "lp3"])
def test_network_gradient_matches_finite_differences(pool, rng):
    net = small_cnn(rng, pool)
    for layer in net.layers:
        if hasattr(layer, "b"):
            layer.b = rng.uniform(-0.3, 0.0, layer.b.shape)
    x = rng.standard_normal((2, 1, 6, 6))
    errors = check_network(net, x, rng=rng)
    assert errors["input"] < 1e-6, errors


@given(depth=st.integers(1, 4), width=st.integers(1, 6), batch=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_random_dense_networks_pass_the_adjoint_test(depth, width, batch, seed):
    rng = np.random.default_rng(seed)
    layers, d = [], 5
    for _ in range(depth):
        layers += [Linear(rng.standard_normal((d, width)), rng.uniform(-1, 0, width)), ReLU()]
        d = width
    net = Sequential(layers + [Linear.init(d, 2, rng=rng)])
    x = rng.standard_normal((batch, 5))
    # a central difference across a ReLU kink would differ from the gradient; the chance that a
    # pre-activation lies within the step of 0 is negligible (and made smaller by the margin)
    A = net.activations(x)
    assume(all(np.min(np.abs(a)) > 1e-4 for a, l in zip(A[1:], net.layers) if isinstance(l, Linear)))
    check_network(net, x, rng=rng)


def test_gradient_of_a_linear_network_is_the_weight_product(rng):
    W1, W2 = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    net = Sequential([Linear(W1, np.zeros(3)), Linear(W2, np.zeros(2))])
    u = rng.standard_normal((5, 2))
    np.testing.assert_allclose(net.gradient(rng.standard_normal((5, 4)), u), u @ (W1 @ W2).T,
                               rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_computes_in_the_dtype_of_parameters_and_input(dtype, rng):
    net = small_cnn(rng).astype(dtype)
    x = rng.standard_normal((3, 1, 6, 6)).astype(dtype)
    assert net.dtype == dtype and net.forward(x).dtype == dtype
    assert net.gradient(x, np.ones((3, 3), dtype)).dtype == dtype
    single = dtype == np.float32
    np.testing.assert_allclose(net.forward(x), net.astype(np.float64).forward(x.astype(np.float64)),
                               rtol=1e-4 if single else 1e-12, atol=1e-5 if single else 1e-12)


def test_training_layers_replace_dropout_by_a_fresh_mask(rng):
    net = small_cnn(rng)
    layers = net.training_layers(rng, (8, 1, 6, 6))
    assert [type(l).__name__ for l in layers][6] == "Multiply"
    assert layers[6].m.shape == (8, 4)
    assert all(a is b for i, (a, b) in enumerate(zip(layers, net.layers)) if i != 6)


# --------------------------------------------------------------------------------------------
def test_save_load_round_trip_is_exact(tmp_path, rng):
    net = small_cnn(rng, lambda w: LpPool2d(w, p=2.5))
    path = save(net, tmp_path / "m.npz", metadata={"accuracy": 0.5})
    loaded, meta = load(path, with_metadata=True)
    assert meta == {"accuracy": 0.5}
    assert loaded.input_shape == net.input_shape
    assert [repr(l) for l in loaded.layers] == [repr(l) for l in net.layers]
    for a, b in zip(net.layers, loaded.layers):
        for k in a.params():
            np.testing.assert_array_equal(a.params()[k], b.params()[k])
            assert a.params()[k].dtype == b.params()[k].dtype
    x = rng.standard_normal((2, 1, 6, 6))
    np.testing.assert_array_equal(net.forward(x), loaded.forward(x))
    assert list(tmp_path.iterdir()) == [path], "a temporary file was left behind"


def test_loading_a_corrupt_file_names_the_file(tmp_path, rng):
    path = save(small_mlp(rng), tmp_path / "m.npz")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = b"\x00" * 64
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="m.npz"):
        load(path)
    (tmp_path / "t.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="t.npz: not a readable model file"):
        load(tmp_path / "t.npz")


def test_loading_arrays_that_do_not_fit_the_architecture_is_refused(tmp_path, rng):
    path = save(small_mlp(rng), tmp_path / "m.npz")
    with np.load(path) as f:
        arrays = dict(f)
    arrays["layer1.W"], arrays["layer1.b"] = np.zeros((12, 6)), np.zeros(6)  # next layer expects 5
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="bad.npz: the layers do not fit together"):
        load(tmp_path / "bad.npz")
    del arrays["layer1.b"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(ValueError, match="missing.npz: layer 1 .* misses array layer1.b"):
        load(tmp_path / "missing.npz")
    np.savez(tmp_path / "plain.npz", W=np.zeros(3))
    with pytest.raises(ValueError, match="not a heatmapping model file"):
        load(tmp_path / "plain.npz")


def test_architecture_is_stored_as_readable_json(tmp_path, rng):
    path = save(small_cnn(rng), tmp_path / "m.npz")
    with zipfile.ZipFile(path) as z:
        assert "architecture.npy" in z.namelist()
    with np.load(path) as f:
        arch = json.loads(str(f["architecture"]))
    assert [l["type"] for l in arch["layers"]][:3] == ["Conv2d", "ReLU", "SumPool2d"]
    assert arch["layers"][0]["config"] == {"stride": [1, 1], "padding": [1, 1]}


def test_a_failed_save_leaves_nothing_behind(tmp_path, rng):
    with pytest.raises(TypeError):
        save(small_mlp(rng), tmp_path / "m.npz", metadata={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_part(tmp_path, rng, fill_disk):
    """The disk fills up after the first 100 bytes: the old model survives intact."""
    target = save(small_mlp(rng), tmp_path / "m.npz")
    old = target.read_bytes()
    fill_disk()
    with pytest.raises(OSError, match="No space left"):
        save(small_mlp(np.random.default_rng(9)), target)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, error, message", [
    (np.zeros((2, 1, 5, 5)), ValueError, r"expected shape \(N, 1, 6, 6\)"),
    (np.zeros((2, 2, 6, 6)), ValueError, r"expected shape \(N, 1, 6, 6\)"),
    (np.full((1, 1, 6, 6), np.nan), ValueError, "NaN or Inf"),
    (np.zeros((1, 1, 6, 6), dtype=np.int64), TypeError, "floating-point"),
], ids=["wrong size", "wrong channels", "nan", "integers"])
def test_network_input_errors_name_the_expected_shape(x, error, message, rng):
    with pytest.raises(error, match=message):
        small_cnn(rng).forward(x)


def test_gradient_refuses_grad_out_of_the_wrong_shape(rng):
    with pytest.raises(ValueError, match=r"expected grad_out of the output's shape \(2, 3\)"):
        small_mlp(rng).gradient(np.zeros((2, 1, 3, 4)), np.zeros((2, 4)))

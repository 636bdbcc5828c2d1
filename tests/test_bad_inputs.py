"""Wrong calls get a clear error naming the argument, what was expected and what was given
(issue 13).  The start of the catalogue: each case asserts the exception type and that the
message names the argument; the file cases are in test_outputs.py."""

import numpy as np
import pytest

from heatmapping import Conv2d, Linear, Sequential, explain, metrics, models, save
from heatmapping.__main__ import main
from heatmapping.rules import AlphaBeta, Epsilon, Gamma, ZBox, ZPlus

NET = models.load_model("cnn").astype(np.float64)
X = models.inputs_for(NET, np.zeros((2, 28, 28), dtype=np.uint8))

CASES = [
    ("Epsilon('0.1')", lambda: Epsilon("0.1"), TypeError, r"Epsilon: eps must be a real number, got '0\.1'"),
    ("Epsilon(True)", lambda: Epsilon(True), TypeError, "eps must be a real number"),
    ("AlphaBeta(alpha='2')", lambda: AlphaBeta(alpha="2", beta=1), TypeError, "alpha must be a real number"),
    ("Gamma(gamma=None)", lambda: Gamma(gamma=None), TypeError, "gamma must be a real number"),
    ("simple_taylor root=nan", lambda: explain.simple_taylor(NET, X, root=np.nan), ValueError,
     "root: the root point contains NaN or Inf"),
    ("simple_taylor root=inf", lambda: explain.simple_taylor(NET, X, root=np.inf), ValueError,
     "root: the root point contains NaN or Inf"),
    ("simple_taylor root of the wrong shape", lambda: explain.simple_taylor(NET, X, root=np.zeros(5)),
     ValueError, r"root: expected a number or an array broadcasting to the input's shape"),
    ("rules={True: ...}", lambda: explain.lrp(NET, X, rules={True: ZPlus()}), ValueError,
     "rules: layer index True out of range"),
    ("filters with NaN", lambda: explain.lrp(NET, X, filters={3: np.full((1, 10, 14, 14), np.nan)}),
     ValueError, r"filters\[3\]: the mask contains NaN or Inf"),
    ("filters at a layer that does not exist", lambda: explain.lrp(NET, X, filters={99: 1.0}),
     ValueError, r"filters: layer index 99 out of range 0\.\.12"),
    ("filters={True: ...}", lambda: explain.lrp(NET, X, filters={True: 1.0}), ValueError,
     "filters: layer index True out of range"),
    ("filters that do not broadcast", lambda: explain.lrp(NET, X, filters={3: np.ones(7)}),
     ValueError, r"filters\[3\]: a mask of shape \(7,\) does not broadcast to the relevance of A\[3\]"),
    ("filters not a mapping", lambda: explain.lrp(NET, X, filters=[1.0]), TypeError,
     "filters: expected a mapping"),
    ("target of the wrong length", lambda: explain.lrp(NET, X, target=np.array([1, 2, 3])), ValueError,
     r"target: expected a class index or one per sample \(2\), got shape \(3,\)"),
    ("sensitivity target of the wrong length", lambda: explain.sensitivity(NET, X, target=np.array([1, 2, 3])),
     ValueError, r"target: expected a class index or one per sample"),
    ("ZBox bounds of the wrong shape", lambda: explain.lrp(NET, X, rules={0: ZBox(np.zeros(5), np.ones(5))}),
     ValueError, r"ZBox: bounds of shape \(5,\) and \(5,\) do not broadcast to one input sample"),
    ("pixel_flipping(patch=4)", lambda: metrics.pixel_flipping(NET, X, X, patch=4), TypeError,
     r"patch: expected a tuple of positive integers like \(4, 4\), got 4"),
    ("table past the batch", lambda: explain.lrp(NET, X, return_layers=True).table(5), ValueError,
     r"table: sample must be an index in 0\.\.1, got 5"),
    ("lrp('cnn', x)", lambda: explain.lrp("cnn", X), TypeError, "net: expected a Sequential network"),
    ("complex weights", lambda: Linear(np.ones((2, 2)) * 1j, np.zeros(2)), TypeError,
     "Linear W: expected a real floating-point array, got dtype complex128"),
    ("integer weights", lambda: Conv2d(np.ones((2, 1, 3, 3), dtype=int), np.zeros(2)), TypeError,
     "Conv2d W: expected a real floating-point array, got dtype int64"),
    ("input_shape=(-3,)", lambda: Sequential([Linear(np.ones((3, 2)), np.zeros(2))], input_shape=(-3,)),
     ValueError, r"input_shape: expected the shape of one sample, positive integers"),
    ("NaN weights", lambda: Linear(np.full((3, 2), np.nan), np.zeros(2)), ValueError,
     "Linear W: expected finite parameters, got an array containing NaN or Inf"),
    ("auc of a curve with NaN", lambda: metrics.auc([1.0, np.nan, 0.0]), ValueError,
     "curve: expected finite values, got an array containing NaN or Inf"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_wrong_call_names_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_long_double_input_gives_a_finite_explanation():
    x = X.astype(np.longdouble)
    R = explain.lrp(NET.astype(np.longdouble), x)
    assert R.dtype == np.longdouble and np.all(np.isfinite(R))
    assert float(R.sum()) == pytest.approx(float(NET.forward(X).max(axis=1).sum()), rel=1e-9)


@pytest.mark.parametrize("argv, message", [
    (["bench", "-n", "-4999"], "argument -n: expected a positive integer, got '-4999'"),
    (["bench", "-n", "0"], "argument -n: expected a positive integer, got '0'"),
    (["predict", "--seed", "-1"], "argument --seed: expected a seed, an integer >= 0, got '-1'"),
    (["train", "--model", "mlp", "--out", "m.npz", "--epochs", "0"],
     "argument --epochs: expected a positive integer, got '0'"),
], ids=["bench-negative-n", "bench-zero-n", "negative-seed", "zero-epochs"])
def test_a_bad_flag_is_a_usage_error_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_save_refuses_parameters_made_non_finite_after_construction(tmp_path):
    layer = Linear(np.ones((3, 2)), np.zeros(2))
    layer.W = np.full((3, 2), np.nan)
    with pytest.raises(ValueError, match=r"save: the parameters layer0\.W contain NaN or Inf"):
        save(Sequential([layer]), tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def _rewrite(path, **changes):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    np.savez(path, **arrays)


def test_load_refuses_arrays_that_belong_to_no_layer(tmp_path):
    from heatmapping import load
    path = save(Sequential([Linear(np.ones((3, 2)), np.zeros(2))], input_shape=(3,)), tmp_path / "m.npz")
    _rewrite(path, **{"layer1.W": np.ones((2, 2)), "layer1.b": np.zeros(2)})
    with pytest.raises(ValueError, match=r"arrays layer1\.W, layer1\.b belong to no layer of the "
                                         r"architecture \(1 layers\)"):
        load(path)


def test_load_refuses_a_huge_input_shape_before_allocating(tmp_path):
    import json
    from heatmapping import ReLU, load
    path = save(Sequential([ReLU()], input_shape=(3,)), tmp_path / "m.npz")
    with np.load(path) as f:
        arch = json.loads(str(f["architecture"]))
    arch["input_shape"] = [4, 30000, 30000]              # 3.6e9 values: about 29 GB of zeros
    _rewrite(path, architecture=np.array(json.dumps(arch)))
    with pytest.raises(ValueError, match=r"asks for 3,600,000,000 values per sample"):
        load(path)


def test_an_empty_mnist_set_is_refused(tmp_path):
    from heatmapping import data
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8))
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((0,), np.uint8))
    with pytest.raises(ValueError, match=r"the set is empty \(0 images\)"):
        data.load_mnist(tmp_path)


def test_download_onto_a_file_names_the_flag(tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("mine")
    assert main(["download", "--folder", str(target)]) == 1
    assert f"--folder: '{target}' is a file; expected a folder" in capsys.readouterr().err
    assert target.read_text() == "mine"

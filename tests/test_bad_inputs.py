"""Wrong calls get a clear error naming the argument, what was expected and what was given
(issue 13).  The start of the catalogue: each case asserts the exception type and that the
message names the argument; the file cases are in test_outputs.py."""

import numpy as np
import pytest

from heatmapping import (Conv2d, Linear, MaxPool2d, ReLU, Sequential, SumPool2d, am, canonize,
                         data, decoder, explain, metrics, models, network, rbm, relevance, render, save,
                         train, tricks)
from heatmapping.layers import BatchNorm, Dropout, LpPool2d, Multiply
from heatmapping.__main__ import main
from heatmapping.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus

NET = models.load_model("cnn").astype(np.float64)
X = models.inputs_for(NET, np.zeros((2, 28, 28), dtype=np.uint8))

CASES = [
    ("Epsilon('0.1')", lambda: Epsilon("0.1"), TypeError, r"Epsilon: eps must be a real number, got '0\.1'"),
    ("Epsilon(True)", lambda: Epsilon(True), TypeError, "eps must be a real number"),
    ("AlphaBeta(alpha='2')", lambda: AlphaBeta(alpha="2", beta=1), TypeError, "alpha must be a real number"),
    ("Gamma(gamma=None)", lambda: Gamma(gamma=None), TypeError, "gamma must be a real number"),
    ("simple_taylor root=nan", lambda: explain.simple_taylor(NET, X, root=np.nan), ValueError,
     "root: expected a finite number, got (nan|inf)"),
    ("simple_taylor root=inf", lambda: explain.simple_taylor(NET, X, root=np.inf), ValueError,
     "root: expected a finite number, got (nan|inf)"),
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
    from heatmapping import load
    path = save(Sequential([ReLU()], input_shape=(3,)), tmp_path / "m.npz")
    with np.load(path) as f:
        arch = json.loads(str(f["architecture"]))
    arch["input_shape"] = [4, 30000, 30000]              # 3.6e9 values: about 29 GB of zeros
    _rewrite(path, architecture=np.array(json.dumps(arch)))
    with pytest.raises(ValueError, match=r"asks for 3,600,000,000 values per sample"):
        load(path)


def test_an_empty_mnist_set_is_refused(tmp_path):
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


# --------------------------------------------------------------------------------------------
# the careless user's catalogue: wrong calls across the API, each refused before any work with
# the exception type given and a message that names the argument ("name: expected ..., got ...")

MLP = models.load_model("mlp").astype(np.float64)
XM = models.inputs_for(MLP, np.zeros((2, 28, 28), dtype=np.uint8))
R = np.ones_like(X)
RNG = np.random.default_rng(0)
FIG = render.new_figure(3, 3)
AX = FIG.subplots()


def ones(x, target=None):
    """An explain_fn that returns a heatmap of ones."""
    return np.ones_like(x)


def summed(x):
    """An objective for am.ascend: the sum of the pixels and its gradient."""
    return x.reshape(len(x), -1).sum(axis=1), np.ones_like(x)


def _write(path, data: bytes):
    path.write_bytes(data)


CATALOGUE = [
    # am
    ('class_score net str', lambda tmp: am.class_score("cnn", X, 1), TypeError, 'net'),
    ('class_score classes float', lambda tmp: am.class_score(NET, X, 1.5), TypeError, 'classes'),
    ('class_score classes 99', lambda tmp: am.class_score(NET, X, 99), ValueError, 'classes'),
    ('class_score output bad', lambda tmp: am.class_score(NET, X, 1, output="prob"), ValueError, 'output'),
    ('ascend steps 0', lambda tmp: am.ascend(summed, X, steps=0), ValueError, 'steps'),
    ('ascend steps str', lambda tmp: am.ascend(summed, X, steps="5"), TypeError, 'steps'),
    ('ascend step_size nan', lambda tmp: am.ascend(summed, X, step_size=np.nan), ValueError, 'step_size'),
    ('ascend step_size -1', lambda tmp: am.ascend(summed, X, step_size=-1), ValueError, 'step_size'),
    ('ascend box reversed', lambda tmp: am.ascend(summed, X, box=(1, -1)), ValueError, 'box'),
    ('ascend box 3', lambda tmp: am.ascend(summed, X, box=3), TypeError, 'box'),
    ('ascend objective not callable', lambda tmp: am.ascend(3, X), TypeError, 'objective'),
    ('ascend x0 nan', lambda tmp: am.ascend(summed, np.full((2,3), np.nan)), ValueError, 'x0'),
    ('am classes 10', lambda tmp: am.activation_maximization(MLP, 10, steps=2), ValueError, 'classes'),
    ('am classes -1', lambda tmp: am.activation_maximization(MLP, -1, steps=2), ValueError, 'classes'),
    ('am classes str', lambda tmp: am.activation_maximization(MLP, "3", steps=2), TypeError, 'classes'),
    ('am lam -1', lambda tmp: am.activation_maximization(MLP, 3, lam=-1, steps=2), ValueError, 'lam'),
    ('am lam str', lambda tmp: am.activation_maximization(MLP, 3, lam="1", steps=2), TypeError, 'lam'),
    ('am gamma nan', lambda tmp: am.activation_maximization(MLP, 3, gamma=np.nan, steps=2), ValueError, 'gamma'),
    ('am eta wrong len', lambda tmp: am.activation_maximization(MLP, [1,2], eta=[1,2,3], steps=2), ValueError, 'eta'),
    ('am x0 wrong shape', lambda tmp: am.activation_maximization(MLP, 3, x0=np.zeros(5), steps=2), ValueError, 'x0'),
    ('am center wrong shape', lambda tmp: am.activation_maximization(MLP, 3, lam=1, center=np.zeros(5), steps=2), ValueError, 'center'),
    ('am x_ref missing', lambda tmp: am.activation_maximization(MLP, 3, eta=1.0, steps=2), ValueError, 'x_ref'),
    ('am expert not rbm', lambda tmp: am.activation_maximization(MLP, 3, expert="rbm", steps=2), TypeError, 'expert'),
    ('am net str', lambda tmp: am.activation_maximization("mlp", 3, steps=2), TypeError, 'net'),
    ('am steps -3', lambda tmp: am.activation_maximization(MLP, 3, steps=-3), ValueError, 'steps'),
    ('am output bad', lambda tmp: am.activation_maximization(MLP, 3, output="x", steps=2), ValueError, 'output'),
    ('code_space decoder str', lambda tmp: am.code_space_am(MLP, 3, "vae", steps=2), TypeError, 'decoder'),
    ('cluster_starts n 0', lambda tmp: am.cluster_starts(XM, 0, rng=RNG), ValueError, 'n_clusters'),
    ('cluster_starts n > N', lambda tmp: am.cluster_starts(XM, 5, rng=RNG), ValueError, 'n_clusters'),
    ('cluster_starts rng int', lambda tmp: am.cluster_starts(XM, 1, rng=0), TypeError, 'rng'),
    ('cluster_starts X 1d', lambda tmp: am.cluster_starts(np.zeros(5), 1, rng=RNG), ValueError, 'X'),
    ('local_prototypes c 10', lambda tmp: am.local_prototypes(MLP, 10, XM, n_prototypes=1, rng=RNG, steps=2), ValueError, 'classes'),
    ('local_prototypes n_prototypes 0', lambda tmp: am.local_prototypes(MLP, 1, XM, n_prototypes=0, rng=RNG, steps=2), ValueError, 'n_prototypes'),
    ('local_prototypes X empty', lambda tmp: am.local_prototypes(MLP, 1, XM[:0], rng=RNG, steps=2), ValueError, 'X_class'),
    ('class_means labels len', lambda tmp: am.class_means(XM, np.array([1,2,3]), [1]), ValueError, 'labels'),
    ('class_means class missing', lambda tmp: am.class_means(XM, np.array([1,1]), [3]), ValueError, 'classes'),
    ('mid_gray str', lambda tmp: am.mid_gray("x"), TypeError, 'x'),
    # metrics
    ('continuity not callable', lambda tmp: metrics.continuity(3, X, X), TypeError, 'explain_fn'),
    ('continuity X2 shape', lambda tmp: metrics.continuity(ones, X, X[:1]), ValueError, 'X2'),
    ('continuity X nan', lambda tmp: metrics.continuity(ones, np.full_like(X, np.nan), X), ValueError, 'X'),
    ('continuity fn returns wrong shape', lambda tmp: metrics.continuity(lambda x: np.ones(3), X, X+1), ValueError, 'explain_fn'),
    ('continuity_along_path 1 point', lambda tmp: metrics.continuity_along_path(ones, X[:1]), ValueError, 'path'),
    ('grid_pairs spacing 0', lambda tmp: metrics.grid_pairs(0.0), ValueError, 'spacing'),
    ('grid_pairs spacing -1', lambda tmp: metrics.grid_pairs(-1.0), ValueError, 'spacing'),
    ('grid_pairs spacing nan', lambda tmp: metrics.grid_pairs(np.nan), ValueError, 'spacing'),
    ('grid_pairs low>high', lambda tmp: metrics.grid_pairs(0.1, low=1, high=0), ValueError, 'low'),
    ('grid_pairs spacing str', lambda tmp: metrics.grid_pairs("0.1"), TypeError, 'spacing'),
    ('stride_artifact period 0', lambda tmp: metrics.stride_artifact(R, 0), ValueError, 'period'),
    ('stride_artifact period float', lambda tmp: metrics.stride_artifact(R, 2.5), TypeError, 'period'),
    ('stride_artifact R 1d', lambda tmp: metrics.stride_artifact(np.ones(5), 2), ValueError, 'R'),
    ('stride_artifact R nan', lambda tmp: metrics.stride_artifact(np.full_like(R, np.nan), 2), ValueError, 'R'),
    ('local_lipschitz radius 0', lambda tmp: metrics.local_lipschitz(ones, X, radius=0, rng=RNG), ValueError, 'radius'),
    ('local_lipschitz radius nan', lambda tmp: metrics.local_lipschitz(ones, X, radius=np.nan, rng=RNG), ValueError, 'radius'),
    ('local_lipschitz n_samples 0', lambda tmp: metrics.local_lipschitz(ones, X, radius=0.1, n_samples=0, rng=RNG), ValueError, 'n_samples'),
    ('local_lipschitz rng None', lambda tmp: metrics.local_lipschitz(ones, X, radius=0.1, rng=None), TypeError, 'rng'),
    ('patch_grid not dividing', lambda tmp: metrics.patch_grid((1,28,28), (5,5)), ValueError, 'patch'),
    ('patch_grid patch 0', lambda tmp: metrics.patch_grid((1,28,28), (0,4)), ValueError, 'patch'),
    ('patch_grid wrong len', lambda tmp: metrics.patch_grid((1,28,28), (4,4,4,4)), ValueError, 'patch'),
    ('patch_relevance R 1d', lambda tmp: metrics.patch_relevance(np.ones(5), (4,4)), ValueError, 'R'),
    ('removal_fill bad removal', lambda tmp: metrics.removal_fill(X, "white"), ValueError, 'removal'),
    ('removal_fill mean missing', lambda tmp: metrics.removal_fill(X, "mean"), ValueError, 'mean'),
    ('removal_fill bounds reversed', lambda tmp: metrics.removal_fill(X, "uniform", bounds=(1,-1), rng=RNG), ValueError, 'bounds'),
    ('removal_fill sigma -1', lambda tmp: metrics.removal_fill(X, "blur", sigma=-1), ValueError, 'sigma'),
    ('removal_fill uniform no rng', lambda tmp: metrics.removal_fill(X, "uniform"), ValueError, 'rng'),
    ('removal_fill removal nan', lambda tmp: metrics.removal_fill(X, np.nan), ValueError, 'removal'),
    ('aopc steps 0', lambda tmp: metrics.aopc([1.0, 0.5, 0.2], steps=0), ValueError, 'steps'),
    ('aopc steps 99', lambda tmp: metrics.aopc([1.0, 0.5, 0.2], steps=99), ValueError, 'steps'),
    ('auc empty', lambda tmp: metrics.auc([]), ValueError, 'curve'),
    ('auc str', lambda tmp: metrics.auc("abc"), TypeError, 'curve'),
    ('pixel_flipping net str', lambda tmp: metrics.pixel_flipping("cnn", X, R), TypeError, 'net'),
    ('pixel_flipping R wrong shape', lambda tmp: metrics.pixel_flipping(NET, X, R[:1]), ValueError, 'R'),
    ('pixel_flipping R nan', lambda tmp: metrics.pixel_flipping(NET, X, np.full_like(X, np.nan)), ValueError, 'R'),
    ('pixel_flipping target 10', lambda tmp: metrics.pixel_flipping(NET, X, R, target=10), ValueError, 'target'),
    ('pixel_flipping target wrong len', lambda tmp: metrics.pixel_flipping(NET, X, R, target=[1,2,3]), ValueError, 'target'),
    ('pixel_flipping patch (5,5)', lambda tmp: metrics.pixel_flipping(NET, X, R, patch=(5,5)), ValueError, 'patch'),
    ('pixel_flipping removal bad', lambda tmp: metrics.pixel_flipping(NET, X, R, removal="x"), ValueError, 'removal'),
    ('pixel_flipping R None no recompute', lambda tmp: metrics.pixel_flipping(NET, X), ValueError, 'R'),
    ('random_relevance rng None', lambda tmp: metrics.random_relevance(rng=None), TypeError, 'rng'),
    ('evaluate_selectivity methods list', lambda tmp: metrics.evaluate_selectivity(NET, X, [ones]), TypeError, 'methods'),
    ('evaluate_selectivity method not callable', lambda tmp: metrics.evaluate_selectivity(NET, X, {"a": 3}), TypeError, 'methods'),
    ('evaluate_selectivity empty methods', lambda tmp: metrics.evaluate_selectivity(NET, X, {}), TypeError, 'methods'),
    ('evaluate_selectivity images 1d', lambda tmp: metrics.evaluate_selectivity(NET, np.zeros(5), {"a": ones}), ValueError, 'images'),
    ('relevance_mass_accuracy mask shape', lambda tmp: metrics.relevance_mass_accuracy(R, np.ones(3)), TypeError, 'mask'),
    ('relevance_mass_accuracy mask float', lambda tmp: metrics.relevance_mass_accuracy(R, np.full_like(R, 0.5)), TypeError, 'mask'),
    ('relevance_rank_accuracy R nan', lambda tmp: metrics.relevance_rank_accuracy(np.full_like(R, np.nan), R > 0), ValueError, 'R'),
    # render
    ('new_figure width 0', lambda tmp: render.new_figure(0, 3), ValueError, 'width'),
    ('new_figure width nan', lambda tmp: render.new_figure(np.nan, 3), ValueError, 'width'),
    ('new_figure width str', lambda tmp: render.new_figure("3", 3), TypeError, 'width'),
    ('new_figure layout bad', lambda tmp: render.new_figure(3, 3, layout="grid"), ValueError, 'layout'),
    ('save_figure dpi 0', lambda tmp: render.save_figure(FIG, tmp / "a.png", dpi=0), ValueError, 'dpi'),
    ('save_figure not fig', lambda tmp: render.save_figure("fig", tmp / "a.png"), TypeError, 'fig'),
    ('save_figure folder missing', lambda tmp: render.save_figure(FIG, tmp / "nope" / "a.png"), ValueError, 'path'),
    ('save_figure bad ext', lambda tmp: render.save_figure(FIG, tmp / "a.xyz"), ValueError, 'path'),
    ('digit_grid titles len', lambda tmp: render.digit_grid(np.zeros((2,28,28)), ["a"], tmp / "d.png"), ValueError, 'titles'),
    ('digit_grid images 2d', lambda tmp: render.digit_grid(np.zeros((28,28)), ["a"], tmp / "d.png"), ValueError, 'images'),
    ('digit_grid columns 0', lambda tmp: render.digit_grid(np.zeros((2,28,28)), ["a","b"], tmp / "d.png", columns=0), ValueError, 'columns'),
    ('digit_grid images str', lambda tmp: render.digit_grid(np.array([["a"]]), ["a"], tmp / "d.png"), ValueError, 'images'),
    ('digit_grid titles str', lambda tmp: render.digit_grid(np.zeros((2,28,28)), "ab", tmp / "d.png"), TypeError, 'titles'),
    ('heatmap_grid shapes differ', lambda tmp: render.heatmap_grid(np.zeros((2,28,28)), np.zeros((2,27,28)), ["a","b"], tmp / "h.png"), ValueError, 'heatmaps'),
    ('heatmap_grid heatmaps nan', lambda tmp: render.heatmap_grid(np.zeros((2,28,28)), np.full((2,28,28), np.nan), ["a","b"], tmp / "h.png"), ValueError, 'heatmaps'),
    ('show_image 1d', lambda tmp: render.show_image(AX, np.zeros(5)), ValueError, 'image'),
    ('show_image ax str', lambda tmp: render.show_image("ax", np.zeros((3,3))), TypeError, 'ax'),
    ('show_heatmap 1d', lambda tmp: render.show_heatmap(AX, np.zeros(5)), ValueError, 'R'),
    ('show_heatmap nan', lambda tmp: render.show_heatmap(AX, np.full((3,3), np.nan)), ValueError, 'R'),
    ('show_heatmap scale -1', lambda tmp: render.show_heatmap(AX, np.ones((3,3)), scale=-1), ValueError, 'scale'),
    ('show_heatmap scale str', lambda tmp: render.show_heatmap(AX, np.ones((3,3)), scale="own"), TypeError, 'scale'),
    ('vector_field R shape', lambda tmp: render.vector_field(AX, lambda p: p.sum(1), np.zeros((4,2)), np.zeros((3,2)), "t"), ValueError, 'R'),
    ('comparison_grid scale bad', lambda tmp: render.comparison_grid(np.zeros((1,28,28)), ["a"], [("r", np.zeros((1,28,28)))], "t", scale="x"), ValueError, 'scale'),
    ('comparison_grid rows wrong', lambda tmp: render.comparison_grid(np.zeros((1,28,28)), ["a"], [np.zeros((1,28,28))], "t"), TypeError, 'rows'),
    # data
    ('read_idx missing', lambda tmp: data.read_idx(tmp / "missing.idx"), FileNotFoundError, 'missing.idx'),
    ('read_idx garbage', lambda tmp: _write(tmp / "g.idx", b"garbage!") or data.read_idx(tmp / "g.idx"), ValueError, 'g.idx'),
    ('read_idx truncated', lambda tmp: _write(tmp / "t.idx", b"\x00\x00\x08\x01\x00\x00\x00\x05ab") or data.read_idx(tmp / "t.idx"), ValueError, 't.idx'),
    ('write_idx float16', lambda tmp: data.write_idx(tmp / "w.idx", np.zeros(3, dtype=np.float16)), ValueError, 'array'),
    ('write_idx object', lambda tmp: data.write_idx(tmp / "w.idx", np.array([None])), ValueError, 'array'),
    ('load_mnist split bad', lambda tmp: data.load_mnist(tmp, split="val"), ValueError, 'split'),
    ('download_mnist checksums bad', lambda tmp: data.download_mnist(tmp, checksums=3), TypeError, 'checksums'),
    ('download_mnist timeout -1', lambda tmp: data.download_mnist(tmp, timeout=-1), ValueError, 'timeout'),
    ('interleave_classes 2d', lambda tmp: data.interleave_classes(np.zeros((2,2), dtype=int)), TypeError, 'labels'),
    ('interleave_classes float', lambda tmp: data.interleave_classes(np.array([0.5, 1.0])), TypeError, 'labels'),
    ('to_input float', lambda tmp: data.to_input(np.zeros((2,28,28))), TypeError, 'images'),
    ('to_input 1d', lambda tmp: data.to_input(np.zeros(5, dtype=np.uint8)), ValueError, 'images'),
    ('to_input dtype int', lambda tmp: data.to_input(np.zeros((2,28,28), dtype=np.uint8), dtype=int), ValueError, 'dtype'),
    ('pad_images pad -1', lambda tmp: data.pad_images(X, -1), ValueError, 'pad'),
    ('pad_images pad float', lambda tmp: data.pad_images(X, 1.5), TypeError, 'pad'),
    ('pad_images value nan', lambda tmp: data.pad_images(X, 1, np.nan), ValueError, 'value'),
    ('class_counts float', lambda tmp: data.class_counts(np.array([0.5])), TypeError, 'labels'),
    ('class_counts out of range', lambda tmp: data.class_counts(np.array([12])), ValueError, 'labels'),
    ('class_counts negative', lambda tmp: data.class_counts(np.array([-1])), ValueError, 'labels'),
    ('class_counts n_classes 0', lambda tmp: data.class_counts(np.array([0]), 0), ValueError, 'n_classes'),
    # network / layers
    ('Sequential layers not list', lambda tmp: Sequential(3), TypeError, 'layers'),
    ('Sequential layers contains str', lambda tmp: Sequential(["relu"]), TypeError, 'layers'),
    ('Sequential empty', lambda tmp: Sequential([]), ValueError, 'layers'),
    ('Sequential input_shape str', lambda tmp: Sequential([ReLU()], input_shape="28"), ValueError, 'input_shape'),
    ('forward wrong shape', lambda tmp: NET.forward(np.zeros((2, 3, 28, 28))), ValueError, 'x'),
    ('forward int', lambda tmp: NET.forward(np.zeros((2, 1, 28, 28), dtype=int)), TypeError, 'x'),
    ('forward 3d', lambda tmp: NET.forward(np.zeros((1, 28, 28))), ValueError, 'x'),
    ('astype int', lambda tmp: NET.astype(int), TypeError, 'dtype'),
    ('astype str', lambda tmp: NET.astype("float17"), TypeError, 'dtype'),
    ('save not net', lambda tmp: network.save("net", tmp / "n.npz"), TypeError, 'net'),
    ('save metadata not dict', lambda tmp: network.save(NET, tmp / "n2.npz", metadata=3), TypeError, 'metadata'),
    ('save metadata not json', lambda tmp: network.save(NET, tmp / "n3.npz", metadata={"a": object()}), TypeError, 'metadata'),
    ('load missing', lambda tmp: network.load(tmp / "missing.npz"), FileNotFoundError, 'missing.npz'),
    ('load garbage', lambda tmp: _write(tmp / "g.npz", b"garbage") or network.load(tmp / "g.npz"), ValueError, 'g.npz'),
    ('Conv2d stride 0', lambda tmp: Conv2d(np.ones((2,1,3,3)), np.zeros(2), stride=0), ValueError, 'Conv2d stride'),
    ('Conv2d padding -1', lambda tmp: Conv2d(np.ones((2,1,3,3)), np.zeros(2), padding=-1), ValueError, 'padding'),
    ('Conv2d stride float', lambda tmp: Conv2d(np.ones((2,1,3,3)), np.zeros(2), stride=1.5), TypeError, 'stride'),
    ('Conv2d stride str', lambda tmp: Conv2d(np.ones((2,1,3,3)), np.zeros(2), stride="1"), TypeError, 'stride'),
    ('Linear W 1d', lambda tmp: Linear(np.ones(3), np.zeros(3)), ValueError, 'Linear W'),
    ('Linear b wrong', lambda tmp: Linear(np.ones((3,2)), np.zeros(3)), ValueError, 'Linear b'),
    ('Linear W str', lambda tmp: Linear("W", np.zeros(3)), TypeError, 'Linear W'),
    ('SumPool2d k 0', lambda tmp: SumPool2d(0), ValueError, 'SumPool2d window'),
    ('SumPool2d k str', lambda tmp: SumPool2d("2"), TypeError, 'SumPool2d window'),
    ('MaxPool2d stride -1', lambda tmp: MaxPool2d(2, stride=-1), ValueError, 'stride'),
    ('LpPool2d p 0', lambda tmp: LpPool2d(2, p=0), ValueError, 'p'),
    ('LpPool2d p nan', lambda tmp: LpPool2d(2, p=np.nan), ValueError, 'p'),
    ('Dropout p 1.5', lambda tmp: Dropout(1.5), ValueError, 'Dropout rate'),
    ('Dropout p -0.1', lambda tmp: Dropout(-0.1), ValueError, 'Dropout rate'),
    ('BatchNorm var negative', lambda tmp: BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), -np.ones(2)), ValueError, 'var'),
    ('BatchNorm eps 0', lambda tmp: BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), eps=-1), ValueError, 'eps'),
    ('BatchNorm shapes', lambda tmp: BatchNorm(np.ones(2), np.zeros(3), np.zeros(2), np.ones(2)), ValueError, 'beta'),
    ('Multiply w nan', lambda tmp: Multiply(np.array([np.nan])), ValueError, 'Multiply m'),
    # tricks / relevance
    ('shift dy float', lambda tmp: tricks.shift(X, 1.5, 0), TypeError, 'dy'),
    ('shift x 1d', lambda tmp: tricks.shift(np.zeros(5), 1, 0), ValueError, 'x'),
    ('translation_path max_shift -1', lambda tmp: tricks.translation_path(X, -1), ValueError, 'max_shift'),
    ('translation_trick fn', lambda tmp: tricks.translation_trick(3, X), TypeError, 'explain_fn'),
    ('digit_canvas rows 0', lambda tmp: tricks.digit_canvas(np.zeros((2,28,28)), rows=0, cols=2), ValueError, 'rows'),
    ('digit_canvas too many', lambda tmp: tricks.digit_canvas(np.zeros((5,28,28)), rows=1, cols=2), ValueError, 'digits'),
    ('relevant_pattern scale bad', lambda tmp: tricks.relevant_pattern(X, R, scale="x"), ValueError, 'scale'),
    ('relevant_pattern shapes', lambda tmp: tricks.relevant_pattern(X, R[:1]), ValueError, 'R'),
    ('select_rules empty', lambda tmp: tricks.select_rules(NET, X, {}), TypeError, 'candidates'),
    ('pool_grid cells 0', lambda tmp: relevance.pool_grid(R, (0, 2)), ValueError, 'cells'),
    ('pool_grid 1d', lambda tmp: relevance.pool_grid(np.ones(5)), ValueError, 'R'),
    ('pool_masks shape', lambda tmp: relevance.pool_masks(R, np.ones((3, 5))), ValueError, 'masks'),
    ('feature_map_filter ch 99', lambda tmp: relevance.feature_map_filter((1, 10, 14, 14), [99]), ValueError, 'channels'),
    ('pool_channels 2d', lambda tmp: relevance.pool_channels(np.ones((2, 3))), ValueError, 'R'),
    # models / train
    ('load_model unknown', lambda tmp: models.load_model("resnet"), FileNotFoundError, "model 'resnet'"),
    ('load_model int', lambda tmp: models.load_model(3), TypeError, 'name_or_path'),
    ('inputs_for float', lambda tmp: models.inputs_for(NET, np.zeros((2,28,28))), TypeError, 'images'),
    ('mlp rng int', lambda tmp: models.mlp(rng=0), TypeError, 'rng'),
    ('cnn dropout 2', lambda tmp: models.cnn(rng=RNG, dropout=2), ValueError, 'Dropout rate'),
    ('train_reference unknown', lambda tmp: models.train_reference("resnet", np.zeros((2,28,28), dtype=np.uint8), np.array([0,1])), ValueError, 'name'),
    ('train_reference labels len', lambda tmp: models.train_reference("mlp", np.zeros((2,28,28), dtype=np.uint8), np.array([0,1,2])), ValueError, 'y'),
    ('cross_entropy y out of range', lambda tmp: train.cross_entropy(np.zeros((2,10)), np.array([0, 10])), ValueError, 'y'),
    ('cross_entropy y len', lambda tmp: train.cross_entropy(np.zeros((2,10)), np.array([0])), ValueError, 'y'),
    ('Trainer optimizer bad', lambda tmp: train.Trainer(optimizer="rmsprop"), ValueError, 'optimizer'),
    ('Trainer epochs 0', lambda tmp: train.Trainer(epochs=0), ValueError, 'epochs'),
    ('Trainer batch 0', lambda tmp: train.Trainer(batch_size=0), ValueError, 'batch_size'),
    ('Trainer lr -1', lambda tmp: train.Trainer(learning_rate=-1), ValueError, 'learning_rate'),
    ('SGD lr nan', lambda tmp: train.SGD(learning_rate=np.nan), ValueError, 'learning_rate'),
    ('Adam beta1 1', lambda tmp: train.Adam(beta1=1.0), ValueError, 'beta1'),
    ('predict batch 0', lambda tmp: train.predict(NET, X, batch_size=0), ValueError, 'batch_size'),
    ('accuracy y len', lambda tmp: train.accuracy(NET, X, np.array([1])), ValueError, 'y'),
    ('random_shift max_shift -1', lambda tmp: train.random_shift(X, -1, RNG), ValueError, 'max_shift'),
    ('GaussianRBM n_hidden 0', lambda tmp: rbm.GaussianRBM(n_hidden=0), ValueError, 'n_hidden'),
    ('GaussianRBM lr -1', lambda tmp: rbm.GaussianRBM(learning_rate=-1), ValueError, 'learning_rate'),
    ('GaussianRBM fit 1d', lambda tmp: rbm.GaussianRBM(n_hidden=3, n_epochs=1).fit(np.zeros(5)), ValueError, 'X'),
    ('heldout_split n_heldout > n', lambda tmp: rbm.heldout_split(10, n_heldout=20), ValueError, 'n_heldout'),
    ('VAE likelihood bad', lambda tmp: decoder.VAE(likelihood="poisson"), ValueError, 'likelihood'),
    ('VAE n_latent 0', lambda tmp: decoder.VAE(n_latent=0), ValueError, 'n_latent'),
    ('VAE fit nan', lambda tmp: decoder.VAE(n_latent=2, n_hidden=3, n_epochs=1).fit(np.full((4, 784), np.nan)), ValueError, 'X'),
    ('merge_batchnorm not net', lambda tmp: canonize.merge_batchnorm("net"), TypeError, 'net'),
    # explain
    ('sensitivity target 10', lambda tmp: explain.sensitivity(NET, X, target=10), ValueError, 'target'),
    ('sensitivity target -1', lambda tmp: explain.sensitivity(NET, X, target=-1), ValueError, 'target'),
    ('sensitivity target True', lambda tmp: explain.sensitivity(NET, X, target=True), TypeError, 'target'),
    ('sensitivity target str', lambda tmp: explain.sensitivity(NET, X, target="3"), TypeError, 'target'),
    ('sensitivity x int', lambda tmp: explain.sensitivity(NET, np.zeros((2,1,28,28), dtype=int)), TypeError, 'x'),
    ('lrp target 10', lambda tmp: explain.lrp(NET, X, target=10), ValueError, 'target'),
    ('lrp target float wrong shape', lambda tmp: explain.lrp(NET, X, target=np.ones((2, 3))), ValueError, 'target'),
    ('lrp rules bad preset', lambda tmp: explain.lrp(NET, X, rules="zplus"), ValueError, 'rules'),
    ('lrp rules int', lambda tmp: explain.lrp(NET, X, rules=3), TypeError, 'rules'),
    ('lrp rules mapping to str', lambda tmp: explain.lrp(NET, X, rules={0: "z+"}), TypeError, 'rules'),
    ('lrp max_pool bad', lambda tmp: explain.lrp(NET, X, max_pool="avg"), ValueError, 'max_pool'),
    ('lrp x wrong shape', lambda tmp: explain.lrp(NET, np.zeros((2, 28, 28))), ValueError, 'x'),
    ('lrp x empty', lambda tmp: explain.lrp(NET, X[:0]), ValueError, 'x'),
    ('sensitivity net str', lambda tmp: explain.sensitivity("cnn", X), TypeError, 'net'),
    ('deconvolution net str', lambda tmp: explain.deconvolution("cnn", X), TypeError, 'net'),
    ('simple_taylor net str', lambda tmp: explain.simple_taylor("cnn", X), TypeError, 'net'),
    ('simple_taylor root str', lambda tmp: explain.simple_taylor(NET, X, root="0"), TypeError, 'root'),
    ('simple_taylor gradient_at bad', lambda tmp: explain.simple_taylor(NET, X, gradient_at="x"), ValueError,
     'gradient_at'),
    ('integrated_gradients steps 0', lambda tmp: explain.integrated_gradients(NET, X, steps=0), ValueError,
     'steps'),
    ('smoothgrad noise -1', lambda tmp: explain.smoothgrad(NET, X, noise=-1.0), ValueError, 'noise'),
    ('occlusion patch 5', lambda tmp: explain.occlusion(NET, X, patch=(5, 5)), ValueError, 'patch'),
    ('smoothgrad squared 1', lambda tmp: explain.smoothgrad(NET, X, squared=1), TypeError, 'squared'),
    ('lrp return_layers "yes"', lambda tmp: explain.lrp(NET, X, return_layers="yes"), TypeError,
     'return_layers'),
    ('guided_backprop target 11', lambda tmp: explain.guided_backprop(NET, X, target=11), ValueError, 'target'),
]


def names_the_argument(message: str, name: str) -> bool:
    """The message says ``name: ...`` (or starts with the name), or names the user's file."""
    return f"{name}:" in message or message.startswith(name) or ("." in name and name in message)


@pytest.mark.parametrize("call, error, name", [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_the_catalogue_of_wrong_calls(call, error, name, tmp_path):
    with pytest.raises(error) as raised:
        call(tmp_path)
    assert type(raised.value) is error
    assert names_the_argument(str(raised.value), name), str(raised.value)
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir()), "a temporary file was left"


def test_the_catalogue_is_large():
    assert len(CASES) + len(CATALOGUE) >= 150


# --------------------------------------------------------------------------------------------
# numerics: every floating dtype works (or is refused), w^2 and epsilon stay finite wherever
# f(x) is, and no rule returns R = 0 where the exact answer is finite and non-zero

def scaled_net(scale, dtype):
    rng = np.random.default_rng(1)
    return Sequential([Linear((rng.standard_normal((6, 5)) * scale).astype(dtype), np.zeros(5, dtype)),
                       ReLU(), Linear(rng.standard_normal((5, 3)).astype(dtype), np.zeros(3, dtype))])


CONSERVING = {"w^2": WSquare(), "flat": Flat(), "zB": ZBox(-1.0, 1.0)}


@pytest.mark.parametrize("dtype, scale", [
    (np.float16, 1e3), (np.float16, 1e-3), (np.float32, 1e20), (np.float32, 1e-20),
    (np.float64, 1e154), (np.float64, 1e-150), (np.longdouble, 1e154)],
    ids=["half-large", "half-small", "single-1e20", "single-1e-20", "double-1e154", "double-1e-150",
         "long-double-1e154"])
@pytest.mark.parametrize("rule", list(CONSERVING), ids=list(CONSERVING))
def test_conserving_first_layer_rules_stay_finite_and_conserve_at_any_scale(dtype, scale, rule):
    """w^2, flat and zB on the first layer, LRP-0 above: sum_i R_i = f_c(x) to the dtype's
    precision, in the input's dtype, whatever the scale of the weights."""
    net = scaled_net(scale, dtype)
    x = np.random.default_rng(2).uniform(-1, 1, (4, 6)).astype(dtype)
    f = net.forward(x).astype(np.float64).max(axis=1)
    R = explain.lrp(net, x, rules={0: CONSERVING[rule], 2: Epsilon(0.0)})
    assert R.dtype == dtype and np.all(np.isfinite(R))
    assert np.any(R != 0)
    tolerance = 1e-2 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(R.astype(np.float64).sum(axis=1), f, rtol=tolerance)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_epsilon_with_large_weights_and_tiny_inputs_agrees_with_float64(dtype):
    """The issue's case: LRP-epsilon in a narrow dtype with weights of 1e4 (float16) or 1e20
    (float32) and inputs of 1e-3 / 1e-20 is finite and agrees with the float64 answer."""
    scale, tiny = (1e2, 1e-3) if dtype == np.float16 else (1e20, 1e-20)
    net = scaled_net(scale, np.float64)
    x = np.random.default_rng(3).uniform(0, 1, (4, 6)) * tiny
    reference = explain.lrp(net, x, rules="epsilon")
    R = explain.lrp(net.astype(dtype), x.astype(dtype), rules="epsilon")
    assert np.all(np.isfinite(R))
    np.testing.assert_allclose(R.astype(np.float64), reference,
                               atol=(1e-2 if dtype == np.float16 else 1e-4) * np.abs(reference).max())


@pytest.mark.parametrize("x, error, message", [
    (np.zeros((2, 1, 32, 32), dtype=np.complex128), TypeError, "x: expected a floating-point array"),
    (np.zeros((2, 1, 32, 32), dtype=np.int64), TypeError, "x: expected a floating-point array"),
    (np.zeros((2, 1, 32, 32), dtype=object), TypeError, "x: expected a floating-point array"),
    (np.zeros((2, 1, 32, 32), dtype=bool), TypeError, "x: expected a floating-point array"),
], ids=["complex", "int", "object", "bool"])
def test_non_floating_inputs_are_refused(x, error, message):
    with pytest.raises(error, match=message):
        explain.lrp(NET, x)
    with pytest.raises(error, match=message):
        explain.sensitivity(NET, x)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_every_floating_dtype_explains_the_shipped_cnn(dtype):
    net = NET.astype(dtype)
    x = models.inputs_for(net, data.load_mnist5k()[0][:3], dtype=dtype)
    for method in (explain.lrp, explain.sensitivity):
        R = method(net, x)
        assert R.dtype == dtype and np.all(np.isfinite(R)), method.__name__

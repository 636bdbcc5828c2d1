"""The command line: help, predict, evaluate's last line, errors (the tour: test_tour.py)."""

import re
import subprocess
import sys

import pytest

from heatmapping.__main__ import main


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "heatmapping", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for command in ("tour", "predict", "train", "evaluate", "explain", "bench", "download"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), f"--help does not list {command}"


def test_predict_writes_a_png_and_prints_its_path(tmp_path, capsys):
    assert main(["predict", "--out", str(tmp_path / "predict.png")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "predict.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str((tmp_path / "predict.png").resolve()) in out
    assert len(re.findall(r"predicted \d  probability", out)) == 12


def test_evaluate_prints_the_accuracy_line(mnist_folder, capsys):
    assert main(["evaluate", "--model", "cnn", "--data", str(mnist_folder)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.fullmatch(r"accuracy: (0\.\d{4}) \((\d+)/10000\)", last)
    assert m and int(m.group(2)) / 10000 == pytest.approx(float(m.group(1)), abs=5e-5), last


def test_train_writes_a_loadable_model(tmp_path, capsys):
    from heatmapping import load
    assert main(["train", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "m.npz")]) == 0
    net, meta = load(tmp_path / "m.npz", with_metadata=True)
    assert meta["recipe"]["epochs"] == 1 and len(meta["history"]) == 1
    assert "epoch   1/1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--model", "{tmp}/missing.npz"], "error: model file .*missing.npz not found"),
    (["evaluate", "--model", "vgg"], r"error: model 'vgg': expected one of cnn, cnn_max, cnn_strided, mlp or the path"),
    (["explain", "--index", "0..99999999999", "--out", "{tmp}/e.png"],
     r"error: --index: expected indices in 0\.\."),
    (["explain", "--index", "5..2", "--out", "{tmp}/e.png"], r"error: --index: expected indices in 0\.\."),
    (["explain", "--index", "0", "--out", "{tmp}"], "error: --out: .* is a folder; expected a file name"),
    (["explain", "--data", "{tmp}/nowhere", "--out", "{tmp}/e.png"], r"error: no MNIST test set .*nowhere"),
    (["train", "--model", "mlp", "--out", "{tmp}/no/such/folder/m.npz"],
     "error: --out: the folder .*folder of .* does not exist"),
], ids=["missing-file", "unknown-model", "huge-index", "reversed-range", "out-is-a-folder",
        "missing-data", "train-out-folder"])
def test_errors_are_reported_without_a_traceback(argv, message, tmp_path, capsys):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 1
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err, err


def test_a_target_that_is_not_a_class_index_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--target", "abc"])
    assert "--target: invalid int value: 'abc'" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["lrp", "sensitivity", "simple_taylor", "deconvolution",
                                    "guided_backprop", "integrated_gradients", "smoothgrad",
                                    "occlusion"])
def test_explain_draws_every_method(method, tmp_path, capsys):
    out = tmp_path / f"{method}.png"
    assert main(["explain", "--method", method, "--index", "0..3", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert len(re.findall(r"^digit \d+: label", capsys.readouterr().out, re.M)) == 4


def test_explain_help_names_every_method_of_the_package(capsys):
    from heatmapping.explain import METHODS
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())        # argparse wraps the help
    for name in METHODS:
        assert name in text, f"explain --help does not mention {name}"
    for flag in ("--steps", "--baseline", "--noise", "--samples", "--squared", "--patch", "--fill"):
        assert flag in text, f"explain --help does not describe {flag}"


@pytest.mark.parametrize("argv, settings", [
    (["--method", "integrated_gradients", "--steps", "4", "--baseline", "-1"],
     "integrated_gradients (baseline -1.0, steps 4)"),
    (["--method", "smoothgrad", "--noise", "0.1", "--samples", "3", "--squared"],
     "smoothgrad (noise 0.1, samples 3, squared True)"),
    (["--method", "occlusion", "--patch", "8", "--fill", "-1"], "occlusion (patch (8, 8), fill -1.0)"),
    (["--method", "occlusion", "--patch", "2x4"], "occlusion (patch (2, 4), fill 0.0)"),
], ids=["ig", "smoothgrad", "occlusion", "occlusion-2x4"])
def test_explain_passes_the_baselines_flags(argv, settings, tmp_path, capsys):
    assert main(["explain", *argv, "--index", "0", "--out", str(tmp_path / "e.png")]) == 0
    assert settings in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--patch", "5"], r"error: patch: expected windows that cover axis 0 of the images \(32, 32\)"),
    (["--noise", "-1"], r"error: noise: expected a number >= 0, got -1\.0"),
], ids=["patch-not-tiling", "negative-noise"])
def test_explain_reports_a_bad_baseline_setting_by_name(argv, message, tmp_path, capsys):
    method = "occlusion" if "--patch" in argv else "smoothgrad"
    assert main(["explain", "--method", method, *argv, "--index", "0", "--out", str(tmp_path / "e.png")]) == 1
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err, err


@pytest.mark.parametrize("flag, text", [("--patch", "0"), ("--patch", "a"), ("--steps", "0"),
                                        ("--samples", "-2")])
def test_explain_parser_refuses_malformed_counts_and_patches(flag, text, capsys):
    with pytest.raises(SystemExit):
        main(["explain", flag, text])
    assert f"argument {flag}: expected" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["deep_taylor", "alpha2beta1", "epsilon", "deep_taylor_real"])
def test_explain_reaches_every_rule_preset(preset, tmp_path, capsys):
    assert main(["explain", "--model", "mlp", "--rules", preset, "--index", "7",
                 "--out", str(tmp_path / "e.png")]) == 0
    assert preset in capsys.readouterr().out


def test_deep_taylor_explanation_of_the_cnn_conserves_the_logit(capsys, tmp_path):
    assert main(["explain", "--index", "0,500,1000", "--out", str(tmp_path / "e.png")]) == 0
    lines = re.findall(r"f = ([-\d.]+), sum R = ([-\d.]+)", capsys.readouterr().out)
    assert len(lines) == 3
    for f, total in lines:
        assert f == total


def test_explain_refuses_bad_indices(capsys, tmp_path):
    assert main(["explain", "--index", "0..999999", "--out", str(tmp_path / "e.png")]) == 1
    assert re.search(r"expected indices in 0\.\.\d+", capsys.readouterr().err)


def test_train_accepts_the_generative_models():
    from heatmapping.__main__ import GENERATIVE, build_parser
    for model in ("rbm", "vae"):
        args = build_parser().parse_args(["train", "--model", model, "--out", "m.npz"])
        assert args.model in GENERATIVE

"""The command line: help, the demo (the README's main job), evaluate's last line."""

import re
import subprocess
import sys

import pytest

from heatmapping.__main__ import main


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "heatmapping", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for command in ("demo", "train", "evaluate", "download"):
        assert re.search(rf"^\s+{command}\s+\S", out, re.M), f"--help does not list {command}"


def test_demo_writes_a_png_and_prints_its_path(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo.png")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str((tmp_path / "demo.png").resolve()) in out
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


def test_errors_are_reported_without_a_traceback(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "missing.npz"), "--data", str(tmp_path)]) == 1
    assert "error: model file" in capsys.readouterr().err

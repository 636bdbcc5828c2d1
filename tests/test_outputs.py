"""Files are never replaced by surprise (issue 13's file cases): outputs are checked before any
work, an existing file is replaced only with --force, a replaced file keeps its mode, a
symbolic link's target is written (the link stays), and Ctrl-C leaves no partial file."""

import os
import signal
import subprocess
import sys
import time

import pytest

from heatmapping.__main__ import main
from heatmapping.files import atomic_write, check_output


def test_an_existing_output_is_kept_without_force_and_replaced_with_it(tmp_path, capsys):
    out = tmp_path / "p.png"
    out.write_bytes(b"mine")
    assert main(["predict", "--out", str(out)]) == 1
    assert f"--out: '{out}' exists; pass --force to replace it" in capsys.readouterr().err
    assert out.read_bytes() == b"mine"
    assert main(["predict", "--out", str(out), "--force"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_train_refuses_an_existing_file_before_training(tmp_path, capsys):
    out = tmp_path / "m.npz"
    out.write_bytes(b"unrelated")
    start = time.perf_counter()
    assert main(["train", "--model", "mlp", "--out", str(out)]) == 1
    assert time.perf_counter() - start < 5, "the check must come before the training"
    assert "pass --force" in capsys.readouterr().err and out.read_bytes() == b"unrelated"


@pytest.mark.parametrize("out, flag_message", [
    ("", "--out: expected a file name, got ''"),
    ("{tmp}/p.jpg", "--out: expected a .png file, got '{tmp}/p.jpg'"),
    ("{tmp}/missing/p.png", "--out: the folder {tmp}/missing of '{tmp}/missing/p.png' does not exist"),
], ids=["empty", "wrong-extension", "missing-folder"])
def test_a_bad_output_path_names_the_flag_and_the_users_path(out, flag_message, tmp_path, capsys):
    out = out.replace("{tmp}", str(tmp_path))
    assert main(["predict", "--out", out]) == 1
    assert flag_message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err


def test_a_read_only_folder_is_refused(tmp_path, capsys, monkeypatch):
    # root writes anywhere, so the folder's permission is what os.access reports
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(["predict", "--out", str(tmp_path / "p.png")]) == 1
    assert f"--out: the folder {tmp_path} of '{tmp_path / 'p.png'}' is not writable" in capsys.readouterr().err


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new" and (os.stat(path).st_mode & 0o777) == 0o640


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    target = tmp_path / "target.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    with atomic_write(link) as f:
        f.write(b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "target.png"]


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_check_output_accepts_a_new_file(tmp_path):
    assert check_output(tmp_path / "a.npz", flag="--out", suffix=".npz") == tmp_path / "a.npz"


def test_ctrl_c_during_train_says_interrupted_and_leaves_no_file(tmp_path):
    out = tmp_path / "m.npz"
    child = subprocess.Popen([sys.executable, "-m", "heatmapping", "train", "--model", "cnn",
                              "--epochs", "50", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = child.stdout.readline()                     # "training cnn on ...": it has started
    assert line.startswith("training"), line
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []

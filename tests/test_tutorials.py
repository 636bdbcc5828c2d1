"""Every tutorial runs top to bottom from another working directory and saves its figures."""

import subprocess
import sys

import pytest

from conftest import PROJECT

TUTORIALS = {
    "figure5_sliding_window.py": ["figure5_sliding_window.png"],
    "figure6_continuity.py": ["figure6_continuity.png"],
    "figure7_translation.py": ["figure7_translation.png"],
    "translation_trick.py": ["translation_trick.png"],
}


@pytest.mark.parametrize("script", TUTORIALS)
def test_tutorial_runs_and_saves_its_figures(script, tmp_path):
    done = subprocess.run([sys.executable, str(PROJECT / "tutorials" / script), "--out-dir", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    for figure in TUTORIALS[script]:
        assert (tmp_path / figure).read_bytes()[:4] == b"\x89PNG", f"{script} did not save {figure}"
    assert done.stdout.strip(), f"{script} printed nothing"

"""The three Sec. 3 tutorials run from another working directory, write their figures where
--out-dir says, and print the paper's claims as holding."""

import re
import subprocess
import sys
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def run(script, out_dir, *extra):
    result = subprocess.run([sys.executable, str(TUTORIALS / script), "--out-dir", str(out_dir),
                             *extra], capture_output=True, text=True, cwd=out_dir, timeout=300)
    assert result.returncode == 0, f"{script} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def test_figure1_true_expert_finds_the_class_mode_and_overfitted_one_a_sample(tmp_path):
    out = run("figure1_expert_toy.py", tmp_path)
    assert (tmp_path / "figure1_expert_toy.png").read_bytes()[:4] == b"\x89PNG"
    x_star = {key: float(x) for key, x in re.findall(r"^\((\w)\)\s+\S+\s+(-?[\d.]+)", out, re.M)}
    assert abs(x_star["c"] - 2.0) < 1e-2, out
    assert x_star["a"] > x_star["b"] > x_star["c"] > x_star["d"], out
    assert re.search(r"\(d\) landed 0\.0\d\d from the KDE sample", out), out


def test_figure2_every_prototype_is_certain_and_only_expert_and_decoder_look_like_data(tmp_path):
    out = run("figure2_prototypes.py", tmp_path)
    assert (tmp_path / "figure2_prototypes.png").read_bytes()[:4] == b"\x89PNG"
    minima = dict(re.findall(r"^(simple AM|AM \+ expert|AM \+ decoder)\s+(?:[\d.]+\s+){10}([\d.]+)$",
                             out, re.M))
    assert len(minima) == 3 and all(float(p) >= 0.9 for p in minima.values()), out
    means = {(name, measure): float(mean) for name, measure, mean in re.findall(
        r"^(simple AM|AM \+ expert|AM \+ decoder)\s+"
        r"(expert free energy|decoder recon\. error|mid-gray pixels)(?:\s+\d+){10}\s+([\d.]+)$",
        out, re.M)}
    assert len(means) == 9, out
    for measure in ("expert free energy", "decoder recon. error"):
        assert means["simple AM", measure] < means["AM + expert", measure], out
        assert means["simple AM", measure] < means["AM + decoder", measure], out
    gray = dict(re.findall(r"(simple AM|AM \+ expert|AM \+ decoder) ([\d.]+)", re.search(
        r"^share of mid-gray pixels: .*$", out, re.M).group(0)))
    assert float(gray["simple AM"]) > float(gray["AM + expert"]) > float(gray["AM + decoder"]), out
    moved = float(re.search(r"moves them by only ([\d.]+)", out).group(1))
    assert moved < 1.0, out


def test_localized_am_approaches_x0_monotonically(tmp_path):
    out = run("localized_am.py", tmp_path)
    assert (tmp_path / "localized_am.png").read_bytes()[:4] == b"\x89PNG"
    assert "decreases monotonically in eta: True" in out, out
    assert re.search(r"5 local prototypes of class 2", out), out

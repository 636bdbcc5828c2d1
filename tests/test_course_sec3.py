"""The course notebooks of Sec. 2-3 (tutorials/01_interpreting_concepts.py and
02_local_prototypes.py), run as notebooks in quick mode: each figure's claim, as the notebook
printed it, holds.  Quick mode takes fewer steps than the paper's setting; every bound below
holds there and in full mode."""

import re

import pytest

from conftest import number

INTERPRETING, LOCAL = "01_interpreting_concepts.py", "02_local_prototypes.py"
VARIANTS = r"(simple AM|AM \+ expert|AM \+ decoder)"

@pytest.mark.parametrize("script, figures", [
    (INTERPRETING, ["01_digits.png", "01_figure1_expert_toy.png", "01_decoder_samples.png",
                    "01_figure2_prototypes.png"]),
    (LOCAL, ["02_localized_am.png", "02_local_prototypes.png"]),
], ids=["01", "02"])
def test_sec3_notebooks_save_their_figures(course, script, figures):
    folder = course(script).folder / "figures"
    for name in figures:
        assert (folder / name).read_bytes()[:4] == b"\x89PNG", f"{script} did not save {name}"


# ---------------------------------------------------------------- 01: Sec. 2

def test_sec3_data_follow_the_pixel_convention_black_is_minus_one(course):
    out = course(INTERPRETING).text
    assert re.search(r"p = 0 -> x = -1\.0 \(black background\), p = 255 -> x = 1\.0", out), out
    assert number(r"span x in \[([-\d.]+),", out) == -1.0, out
    assert number(r"span x in \[[-\d.]+, ([-\d.]+)\]", out) == 1.0, out
    background = number(r"([\d.]+)% of their pixels are background", out)
    assert 50 < background < 95, f"MNIST digits are mostly background, got {background}%"


def test_sec3_the_classifier_is_the_784_300_100_10_mlp_and_classifies_well(course):
    out = course(INTERPRETING).text
    shapes = re.findall(r"Linear\(W=\((\d+), (\d+)\)", out)
    assert shapes == [("784", "300"), ("300", "100"), ("100", "10")], out
    parameters = re.search(r"the MLP has ([\d,]+) parameters", out)
    assert parameters, out
    weights_and_biases = 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert int(parameters.group(1).replace(",", "")) == weights_and_biases, out
    assert number(r"accuracy ([\d.]+) on the \d+ digits", out) >= 0.95, out
    assert number(r"classifies (\d+)% of the ten digits shown correctly", out) >= 90, out


# ---------------------------------------------------------------- 01: Figure 1

def test_sec3_figure1_true_expert_finds_the_class_mode_and_overfitted_one_a_sample(course):
    out = course(INTERPRETING).text
    x_star = {key: float(x) for key, x in re.findall(r"^\((\w)\)\s+\S+\s+(-?[\d.]+)", out, re.M)}
    assert sorted(x_star) == ["a", "b", "c", "d"], out
    assert abs(x_star["c"] - 2.0) < 1e-2, f"the true expert should find the mode x = 2: {x_star}"
    assert x_star["a"] > x_star["b"] > x_star["c"] > x_star["d"], x_star
    assert x_star["a"] == 6.0, "without an expert AM should run to the edge of the box"
    assert number(r"^\(d\) landed ([\d.]+) from the KDE sample", out) < 0.1, out
    assert "x*(a) > x*(b) > x*(c) > x*(d) is True" in out, out


# ---------------------------------------------------------------- 01: Sec. 3.1 and Figure 2

def test_sec3_log_softmax_saturates_at_the_class_means(course):
    out = course(INTERPRETING).text
    moved = number(r"moves them by only ([\d.]+) on average", out)
    typical = number(r"a reference digit is about ([\d.]+) away from its class mean", out)
    assert moved < 1.0 and moved < typical / 10, out


def test_sec3_figure2_every_prototype_is_classified_with_certainty(course):
    out = course(INTERPRETING).text
    assert number(r"^every prototype has p\(w_c \| x\*\) >= ([\d.]+)$", out) >= 0.99, out
    minima = dict(re.findall(rf"^{VARIANTS}\s+(?:[\d.]+\s+){{10}}([\d.]+)$", out, re.M))
    assert len(minima) == 3 and all(float(p) >= 0.99 for p in minima.values()), out


def test_sec3_figure2_only_expert_and_decoder_prototypes_look_like_data(course):
    out = course(INTERPRETING).text
    means = {(name, measure): float(mean) for name, measure, mean in re.findall(
        rf"^{VARIANTS}\s+(expert free energy|decoder recon\. error|mid-gray pixels)"
        r"(?:\s+\d+){10}\s+([\d.]+)$", out, re.M)}
    assert len(means) == 9, out
    for measure in ("expert free energy", "decoder recon. error"):
        assert means["simple AM", measure] < means["AM + expert", measure], (measure, means)
        assert means["simple AM", measure] < means["AM + decoder", measure], (measure, means)
    # the fair, crossed measures: each model judges the other's prototypes
    fair = number(r"AM \+ expert judged by the decoder (\d+)", out), \
        number(r"AM \+ decoder judged by the expert (\d+)", out)
    assert min(fair) >= 25, f"crossed percentiles should be well inside the real digits: {fair}"
    gray = dict(re.findall(rf"{VARIANTS} ([\d.]+)", re.search(
        r"^share of mid-gray pixels: .*$", out, re.M).group(0)))
    assert float(gray["simple AM"]) > float(gray["AM + expert"]) > float(gray["AM + decoder"]), gray


def test_sec3_decoder_samples_draw_every_class(course):
    out = course(INTERPRETING).text
    assert number(r"decoder samples: (\d+) of 10 classes are drawn", out) == 10, out
    assert number(r"mean largest p ([\d.]+)$", out) >= 0.8, out


# ---------------------------------------------------------------- 02: Sec. 3.4

def test_sec3_localized_am_approaches_x0_monotonically(course):
    out = course(LOCAL).text
    assert "decreases monotonically in eta: True" in out, out
    start = number(r"falls from ([\d.]+) \(eta = 0\)", out)
    end = number(r"to ([\d.]+) \(eta = 10\)", out)
    assert start > 10 * end, f"at eta = 10 the prototype should be close to x0: {start} -> {end}"
    assert number(r"p\(w_c \| x\*\) >= ([\d.]+) all along", out) >= 0.99, out


def test_sec3_local_prototypes_are_certain_and_stay_in_their_own_clusters(course):
    out = course(LOCAL).text
    assert re.search(r"^5 local prototypes of class 2", out, re.M), out
    assert "each local prototype is nearest to its own cluster's centre: True" in out, out
    assert number(r"own cluster's centre: True; p\(w_c \| x\*\) >= ([\d.]+)", out) >= 0.9, out
    moved = number(r"prototypes moved ([\d.]+) from their starts", out)
    assert moved < number(r"cluster centres are ([\d.]+) apart", out) / 2, out

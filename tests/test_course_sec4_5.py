"""The course notebooks of Sec. 4 (03_explaining_decisions.py) and Sec. 5 (04_lrp_rules.py)
print what their figures claim; these tests read those numbers from the notebooks executed in
quick mode (the ``course`` fixture) and check each claim."""

import re

import pytest

from conftest import PROJECT, number

SEC4 = "03_explaining_decisions.py"
SEC5 = "04_lrp_rules.py"
FLOAT = r"(-?[\d.]+(?:e[+-]?\d+)?)"

def numbers(pattern: str, text: str) -> list[float]:
    """The numbers of the list printed after ``pattern`` (``[1.0, 2.0]``)."""
    found = re.search(re.escape(pattern) + r"\s*\[([^\]]*)\]", text)
    assert found, f"no list after {pattern!r} in:\n{text[-3000:]}"
    return [float(v) for v in found.group(1).split(",")]


@pytest.fixture(scope="module")
def sec4(course):
    return course(SEC4)


@pytest.fixture(scope="module")
def sec5(course):
    return course(SEC5)


# ------------------------------------------------------------------------ Sec. 4 notebook
def test_sec4_saves_each_of_its_figures(sec4):
    saved = sorted(p.name for p in (sec4.folder / "figures").glob("03_*.png"))
    assert saved == sorted(["03_figure3_idea.png", "03_methods_grid.png", "03_pooling.png",
                            "03_filtering.png", "03_other_class.png", "03_mlp_vs_cnn.png"]), saved


def test_sec4_figure3_heatmap_sums_to_the_logit_it_explains(sec4):
    line = r'the CNN says "2" with f_2\(x\) = ' + FLOAT + r"; the heatmap's pixels sum to " + FLOAT
    f, total = number(line, sec4.text, 1), number(line, sec4.text, 2)
    assert f > 0 and total == pytest.approx(f, abs=1e-4), sec4.text


def test_sec4_sensitivity_sums_to_the_squared_gradient_norm_not_to_f(sec4):
    assert number(r"sensitivity: max \|sum R - \|\|grad f\|\|\^2\| = " + FLOAT, sec4.text) < 1e-9
    sums = numbers("sensitivity: sum_i R_i", sec4.text)
    f_c = numbers("f_c(x)  ", sec4.text)
    assert numbers("||grad f_c(x)||^2", sec4.text) == pytest.approx(sums, abs=1e-3)
    assert all(abs(s - f) > 1 for s, f in zip(sums, f_c)), "sensitivity should not decompose f_c"


def test_sec4_simple_taylor_is_exact_only_without_biases(sec4):
    text = sec4.text
    gaps = re.findall(r"max \|sum R - f\(x\)\| = " + FLOAT + r", max \|f\(x/2\) - f\(x\)/2\| = "
                      + FLOAT, text)
    assert len(gaps) == 2, text
    (free_gap, free_homog), (bias_gap, bias_homog) = [(float(a), float(b)) for a, b in gaps]
    assert free_gap < 1e-9 and free_homog < 1e-9, "the bias-free toy network is exact"
    assert bias_gap > 0.01 and bias_homog > 0.01, "the toy network with biases is not"
    assert number(r"shipped CNN \(with biases\): max \|sum R - f_c\(x\)\| = " + FLOAT, text) > 0.05
    assert number(r"biases set to 0 predicts .*max \|sum R - f_c\(x\)\| = " + FLOAT, text) < 1e-9
    same = re.search(r"predicts the same classes for (\d+) of (\d+) digits", text)
    assert same and same.group(1) == same.group(2), text


def test_sec4_lrp_conserves_f_at_every_layer(sec4):
    assert number(r"LRP \(deep Taylor\): max \|sum_l R - f_c\(x\)\| over all layers and digits = "
                  + FLOAT, sec4.text) < 1e-9
    per_layer = re.search(r"sum of R at layers L\.\.0 for the '2': ([\d. ]+)", sec4.text)
    per_layer = per_layer.group(1).split()
    assert len(per_layer) == 13 and len(set(per_layer)) == 1, per_layer


def test_sec4_deconvolution_and_guided_backprop_are_not_decompositions(sec4):
    f_c = numbers("f_c(x)                  ", sec4.text)
    for name in ("sum of deconvolution", "sum of guided backprop"):
        sums = numbers(name, sec4.text)
        assert max(abs(s - f) for s, f in zip(sums, f_c)) > 1, f"{name} should not equal f_c"


def test_sec4_lrp_is_more_on_the_strokes_than_simple_taylor(sec4):
    shares = dict(re.findall(r"^  (sensitivity|simple Taylor|LRP|deconvolution|guided backprop)\s+"
                             r"([\d.]+)$", sec4.text, re.M))
    assert len(shares) == 5, sec4.text
    assert float(shares["LRP"]) > float(shares["simple Taylor"]) + 0.1, shares


def test_sec4_pooled_regions_add_up_to_the_decomposed_quantity(sec4):
    rows = re.findall(r"^(sensitivity|simple Taylor|LRP)\s+" + r"\s+".join([FLOAT] * 4)
                      + r"\s+(\|\|grad f\|\|\^2|f_c\(x\))\s+" + FLOAT + "$", sec4.text, re.M)
    assert [r[0] for r in rows] == ["sensitivity", "simple Taylor", "LRP"], sec4.text
    for name, ink, background, pooled, whole, _, value in rows:
        assert float(ink) + float(background) == pytest.approx(float(pooled), abs=2e-4), name
        assert float(pooled) == pytest.approx(float(whole), abs=1e-4), name
        if name != "simple Taylor":            # simple Taylor misses f_c by the biases' share
            assert float(whole) == pytest.approx(float(value), abs=1e-4), name
    assert number(r"max \|sum - f_c\| over the digits " + FLOAT, sec4.text) < 1e-9


def test_sec4_feature_map_components_sum_to_the_whole_heatmap(sec4):
    text = sec4.text
    total = number(r"feature-map components sum to " + FLOAT, text)
    f_2 = number(r"components sum to [\d.]+ \(f_2 = " + FLOAT, text)
    assert total == pytest.approx(f_2, abs=1e-4)
    assert number(r"max \|sum of the components - whole heatmap\| = " + FLOAT, text) < 1e-12
    gaps = {}
    for at, names in re.findall(r"^filtered at A\[(\d)\] \(\d+ maps\): max \|sum of the parts - "
                                r"whole\|: (.*)$", text, re.M):
        gaps[int(at)] = {name: float(v) for name, v in re.findall(r"([a-z A-Z()]+?) " + FLOAT
                                                                  + r"(?:, |$)", names)}
    assert sorted(gaps) == [3, 6], text
    for at in (3, 6):
        assert gaps[at]["LRP"] < 1e-12, "LRP's filtered parts always add up to the whole"
        assert gaps[at]["sensitivity (sums)"] > 0.1, "squared gradients of the parts do not add up"
    for name in ("guided backprop", "deconvolution"):
        assert gaps[3][name] < 1e-12, f"{name}: below A[3] the maps are not mixed before a ReLU"
        assert gaps[6][name] > 0.01, f"{name}: below A[6] a ReLU sees the maps mixed"


def test_sec4_table1_is_the_papers(sec4):
    expected = {"sensitivity analysis": ("yes", "no"), "simple Taylor": ("yes", "no"),
                "relevance propagation": ("yes", "yes"), "deconvolution [55]": ("no", "yes"),
                "guided backprop [47]": ("no", "yes")}
    for method, (pooling, filtering) in expected.items():
        assert re.search(rf"^{re.escape(method)}\s+{pooling}\s+{filtering}\s", sec4.text, re.M), \
            f"Table 1 row of {method}: expected pooling {pooling}, filtering {filtering}"


def test_sec4_explaining_a_losing_class_gives_a_negative_heatmap(sec4):
    line = (r"target=3 on the '2': f_3\(x\) = " + FLOAT + r", sum R = " + FLOAT
            + r"; negative share of \|R\| = " + FLOAT + r", largest R = " + FLOAT)
    f_3, total, negative, largest = (number(line, sec4.text, g) for g in (1, 2, 3, 4))
    assert f_3 < 0 and total == pytest.approx(f_3, abs=1e-4)
    assert negative > 0.99 and largest <= 0
    assert number(r"target=2 on the '2': .*negative share of \|R\| = " + FLOAT, sec4.text) < 0.01


def test_sec4_the_mlp_heatmap_is_more_diffuse_than_the_cnn(sec4):
    line = r"share of \|R\| on ink pixels, deep Taylor LRP: MLP " + FLOAT + r", CNN " + FLOAT
    mlp, cnn = number(line, sec4.text, 1), number(line, sec4.text, 2)
    assert cnn > mlp + 0.1, (mlp, cnn)
    a2b1 = number(r"preset 'alpha2beta1'\): share of \|R\| on ink " + FLOAT, sec4.text)
    assert a2b1 < cnn - 0.1, "alpha2beta1 in the hidden layers leaves the MLP more diffuse"
    count = re.search(r"more concentrated on the strokes for (\d+) of (\d+) digits; the MLP "
                      r"predicts the CNN's class for (\d+) of them", sec4.text)
    assert count and count.group(1) == count.group(2) == count.group(3), sec4.text
    assert number(r"MLP conservation: max \|sum R - f_c\(x\)\| = " + FLOAT, sec4.text) < 1e-9


# ------------------------------------------------------------------------ Sec. 5 notebook
def test_sec5_saves_each_of_its_figures(sec5):
    saved = sorted(p.name for p in (sec5.folder / "figures").glob("04_*.png"))
    assert saved == sorted(["04_rules.png", "04_relevance_neuron.png", "04_max_pooling.png",
                            "04_batchnorm.png"]), saved


def rule_rows(text):
    rows = re.findall(r"^(.+?)\s+" + FLOAT + r"\s+" + FLOAT + r"\s+" + FLOAT + "$",
                      text.split("rule          ")[1].split(" assignments conserve")[0], re.M)
    return {name.strip(): tuple(map(float, values)) for name, *values in rows}


def test_sec5_rules_that_ignore_biases_conserve_and_the_others_leak(sec5):
    rows = rule_rows(sec5.text)
    assert len(rows) == 7, rows
    f_c = number(r"f_c\(x\) = " + FLOAT, sec5.text)
    for name, (total, gap, negative) in rows.items():
        assert total - f_c == pytest.approx(gap, abs=1e-3), name
        leaky = name.startswith(("LRP-0", "LRP-epsilon"))
        assert (abs(gap) > 1e-4) == leaky, f"{name}: sum R - f_c = {gap}"
    assert rows["LRP-epsilon, eps = 1 (all layers)"][0] < f_c - 1, "epsilon absorbs relevance"
    assert rows["zB on pixels, z+ above (Table 2: deep Taylor)"][2] == 0, "deep Taylor is positive"
    assert rows["LRP-alpha2beta1 (preset: zB on pixels)"][2] > 0, "alpha2beta1 adds negative R"
    assert "5 of 7 assignments conserve" in sec5.text


def test_sec5_every_ledger_row_balances(sec5):
    rows = re.findall(r"^\s+\d+ \w+\s+.*?\s" + r"\s+".join([FLOAT] * 4) + "$", sec5.text, re.M)
    assert len(rows) == 3 * 12, f"expected three ledgers of 12 layers, got {len(rows)} rows"
    for out, into, bias, stabilizer in rows:
        # the table prints bias and stabilizer to 3 significant digits
        slack = 1e-3 + 5e-3 * (abs(float(bias)) + abs(float(stabilizer)))
        assert float(out) == pytest.approx(float(into) + float(bias) + float(stabilizer), abs=slack)
    sums = re.findall(r"^(.+): f_c = " + FLOAT + r" = pixels " + FLOAT + r" \+ biases " + FLOAT
                      + r" \+ stabilizer " + FLOAT + r" \(residual " + FLOAT + r"\)$",
                      sec5.text, re.M)
    assert [s[0] for s in sums] == ["LRP-0", "LRP-epsilon (eps = 1)", "deep Taylor (zB, z+)"]
    for name, _, pixels, bias, stabilizer, residual in sums:
        assert abs(float(residual)) < 1e-9, name
    deep_taylor = sums[2]
    assert abs(float(deep_taylor[3])) < 1e-9 and abs(float(deep_taylor[4])) < 1e-9
    assert float(sums[1][4]) > 1, "the epsilon stabilizer absorbs relevance"


def test_sec5_exercise_is_a_stub_that_is_not_attempted_yet(sec5):
    assert sec5.text.count("not attempted yet") == 3, sec5.text
    assert "PASS" not in sec5.text and "FAIL" not in sec5.text
    source = (PROJECT / "tutorials" / SEC5).read_text()
    stub = source.index("def alpha_beta(a, W, R, alpha, beta):")
    check = source.index("exercises.check_alpha_beta(alpha_beta)")
    pointer = source.index("heatmapping.exercises.solution_alpha_beta")
    assert stub < check < pointer and "# your code here" in source[stub:check]


def test_sec5_taylor_terms_at_the_root_are_the_rules_redistribution(sec5):
    rows = re.findall(r"^(z\+ rule|zB rule|w\^2 rule).*?" + FLOAT + r"\s+" + FLOAT
                      + r" \(" + FLOAT + r", " + FLOAT + r"\)\s+" + FLOAT + r" \(" + FLOAT + r", "
                      + FLOAT + r"\)\s+" + FLOAT + "$", sec5.text, re.M)
    assert len(rows) == 4, sec5.text
    for rule, R_k, at_root, t1, t2, total, r1, r2, diff in rows:
        assert abs(float(at_root)) < 1e-12, f"{rule}: the root is a zero of the neuron"
        assert float(total) == pytest.approx(float(R_k), abs=1e-4), f"{rule}: terms sum to R_k"
        assert (float(t1), float(t2)) == pytest.approx((float(r1), float(r2)), abs=1e-4), rule
        assert float(diff) < 1e-12, rule
    real = re.findall(r"^MLP layer .*R_k = " + FLOAT + r", sum of the Taylor terms " + FLOAT
                      + r", max \|terms - rule\| = " + FLOAT + "$", sec5.text, re.M)
    assert len(real) == 3, sec5.text
    for R_k, total, diff in real:
        assert float(total) == pytest.approx(float(R_k), abs=1e-4) and float(diff) < 1e-12
    assert number(r"largest difference over all neurons above " + FLOAT, sec5.text) < 1e-12


def test_sec5_max_pooling_rules_conserve_and_proportional_is_denser_and_smoother(sec5):
    found = {}
    for mode in ("proportional", "winner"):
        line = re.search(rf"^max pool {mode}\s*: sum R = {FLOAT} \(f_2 = {FLOAT}\); non-zero "
                         rf"relevance at the inputs of the 3 max pools (\d+)%, (\d+)%, (\d+)%; "
                         rf"continuity along a 7-step shift {FLOAT}$", sec5.text, re.M)
        assert line, sec5.text
        total, f_2, *nonzero, continuity = map(float, line.groups())
        assert total == pytest.approx(f_2, abs=1e-4), mode
        found[mode] = (nonzero, continuity)
    assert all(w < p for w, p in zip(found["winner"][0], found["proportional"][0])), found
    assert found["proportional"][1] < found["winner"][1], found
    assert "lower continuity constant (more continuous): proportional" in sec5.text


def test_sec5_merged_batchnorm_is_the_same_function_and_only_some_rules_see_the_difference(sec5):
    text = sec5.text
    diffs = [float(v) for v in re.findall(r"max \|f_BN\(x\) - f_CNN\(x\)\| over \d+ digits = "
                                          + FLOAT, text)]
    assert len(diffs) == 2 and max(diffs) < 1e-10, text
    assert number(r"max \|f_merged\(x\) - f_BN\(x\)\| = " + FLOAT, text) < 1e-10
    assert number(r"merged first layer vs the shipped CNN's: weights " + FLOAT, text) < 1e-12
    change = {(rule, version): float(v) for rule, version, v in re.findall(
        r"^(deep Taylor|LRP-epsilon) .*BN ignored \((gamma > 0|gamma < 0)[^)]*\): .* / max "
        r"\|merged\| = " + FLOAT + "$", text, re.M)}
    assert len(change) == 4, text
    assert change[("deep Taylor", "gamma > 0")] < 1e-12, "positive scales: ignoring = merging"
    assert change[("deep Taylor", "gamma < 0")] > 0.05, "negative scales: ignoring differs"
    assert change[("LRP-epsilon", "gamma > 0")] > 0.01, "epsilon sees the missing shift"

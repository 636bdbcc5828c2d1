"""Part 9 of the course (Sec. 8.1, model validation): what the notebook prints in quick mode
holds, checked on its printed numbers.  Verdicts are re-derived here from the printed table,
so the notebook cannot print a verdict its own numbers do not support."""

import re

import pytest

from conftest import line

LRP = ("LRP deep_taylor", "LRP alpha2beta1")
METHODS = ("sensitivity", "simple Taylor") + LRP + ("guided backprop",)

@pytest.fixture(scope="module")
def part9(course):
    return course("09_model_validation.py")


def test_part9_saves_its_four_figures(part9):
    for name in ("09_tagged_digits.png", "09_heatmaps.png", "09_spray_clusters.png",
                 "09_spray_eigenvalues.png"):
        assert (part9.folder / "figures" / name).read_bytes()[:4] == b"\x89PNG", name


def accuracies(text, what):
    found = line(text, rf"^test accuracy \({what}\): tagged model ([\d.]+), clean twin ([\d.]+)")
    return tuple(float(v) for v in found.groups())


def test_the_two_models_are_alike_on_a_test_set_drawn_like_the_training_set(part9):
    tagged, clean = accuracies(part9.text, "test set tagged like the training set")
    assert min(tagged, clean) >= 0.95, "a shipped model is not a good classifier"
    assert abs(tagged - clean) <= 0.01, f"the test error tells them apart: {tagged} vs {clean}"


def test_removing_the_tag_costs_the_tagged_model_and_only_on_the_7s(part9):
    tagged, clean = accuracies(part9.text, "clean test set")
    assert tagged < clean, "the clean test set does not expose the shortcut"
    found = line(part9.text, r"^on the clean test set the tagged model is behind by ([\d.]+): "
                             r"([\d.]+) on the 7s .* ([+-][\d.]+) on the other digits$")
    total, on_7s, others = (float(v) for v in found.groups())
    assert total == pytest.approx(clean - tagged, abs=2e-4)
    assert on_7s >= total and on_7s + others == pytest.approx(total, abs=2e-4)


def test_the_tag_turns_other_digits_into_7s_on_the_tagged_model_only(part9):
    found = line(part9.text, r"^other digits called 7 once tagged: tagged model ([\d.]+)%, "
                             r"clean twin ([\d.]+)%")
    tagged, clean = (float(v) / 100 for v in found.groups())
    assert clean < 0.02, f"the clean twin reacts to the tag ({clean:.1%})"
    assert tagged > 10 * max(clean, 0.005), f"no shortcut: {tagged:.1%} vs {clean:.1%}"


def test_the_tagged_model_needs_the_tag_more_than_its_twin_to_call_a_7(part9):
    acc = {name: tuple(float(v) for v in line(
        part9.text, rf"^{name}: accuracy on test 7s ([\d.]+) without the tag, ([\d.]+) with it"
    ).groups()) for name in ("tagged model", "clean twin")}
    without, with_tag = acc["tagged model"]
    assert with_tag >= without, "the tag does not help the tagged model"
    assert with_tag - without > acc["clean twin"][1] - acc["clean twin"][0], acc


def table(text):
    rows = {}
    for method in METHODS:
        found = line(text, rf"^  {re.escape(method)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+) / ([\d.]+)$")
        rows[method] = tuple(float(v) for v in found.groups())
    return rows


def tag_area(text):
    return float(line(text, r"the tag is ([\d.]+)% of the input").group(1)) / 100


def test_lrp_puts_far_more_relevance_on_the_tag_of_the_tagged_model(part9):
    rows, area = table(part9.text), tag_area(part9.text)
    for method in LRP:
        tagged, clean, rank_tagged, rank_clean = rows[method]
        assert tagged >= 3 * clean, f"{method}: {tagged} on the tagged vs {clean} on the clean model"
        assert tagged >= 2 * area, f"{method}: the tag gets {tagged}, not much above its area {area}"
        assert rank_tagged > rank_clean + 0.1, f"{method}: rank accuracy {rank_tagged} vs {rank_clean}"


def test_each_verdict_follows_from_the_table(part9):
    rows, area = table(part9.text), tag_area(part9.text)
    for method in METHODS:
        tagged, clean = rows[method][:2]
        verdict = line(part9.text, rf"^{re.escape(method)}\s+(finds the tag|does NOT find the tag):")
        # the notebook's rule: at least 3x the clean twin's share and 2x the tag's area; the
        # table is printed to 3 decimals, so a case within rounding of a threshold is not judged
        if min(abs(tagged - 3 * clean), abs(tagged - 2 * area)) > 0.004:
            expected = tagged >= 3 * clean and tagged >= 2 * area
            assert (verdict.group(1) == "finds the tag") == expected, (method, rows[method])
    for method in LRP:
        assert line(part9.text, rf"^{re.escape(method)}\s+finds the tag")


def spray_line(text, name):
    found = line(text, rf"^{name}: eigenvalues .*largest gap after lambda_(\d+) \(([\d.]+)\).*"
                       rf"sizes \[(\d+), (\d+)\], purity against the planted tag ([\d.]+)$")
    k, gap, a, b, purity = found.groups()
    return int(k), float(gap), int(a) + int(b), float(purity)


def test_spray_separates_tagged_from_untagged_7s_on_the_tagged_model_only(part9):
    k, _, n, purity = spray_line(part9.text, "tagged model")
    _, _, _, purity_clean = spray_line(part9.text, "clean twin")
    assert n >= 50, "SpRAy clustered too few heatmaps to mean anything"
    assert purity >= 0.9, f"SpRAy does not recover the planted split (purity {purity})"
    assert k == 2, f"the eigengap suggests {k} clusters, not 2"
    assert purity - purity_clean >= 0.1, f"the clean twin splits as well ({purity_clean})"


def test_the_tagged_models_knn_graph_almost_splits_in_two(part9):
    found = line(part9.text, r"^lambda_2: tagged model ([\d.]+), clean twin ([\d.]+)")
    tagged, clean = (float(v) for v in found.groups())
    assert tagged < clean / 3, f"lambda_2 {tagged} on the tagged vs {clean} on the clean model"

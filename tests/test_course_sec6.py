"""Parts 5 and 6 of the course (Sec. 6): what each figure and table says holds, checked on the
numbers the notebooks print in quick mode."""

import re

import pytest

from conftest import line


def test_positive_biases_activate_more_neurons_and_absorb_more_relevance(course):
    text = course("05_lrp_in_practice.py").text
    shipped = line(text, r"^shipped \(b <= 0\)\s*: ([\d.]+)% of the ReLUs active, biases absorb ([\d.]+)%")
    shifted = line(text, r"^biases \+ 0\.1\s*: ([\d.]+)% of the ReLUs active, biases absorb ([\d.]+)%")
    assert float(shifted.group(1)) > float(shipped.group(1))
    assert float(shifted.group(2)) > 2 * float(shipped.group(2)) and float(shipped.group(2)) < 5


def test_the_four_steps_by_hand_equal_the_library(course):
    text = course("05_lrp_in_practice.py").text
    gaps = re.findall(r"four steps by hand vs the library, largest relative difference ([\d.e+-]+)", text)
    assert len(gaps) == 2 and all(float(g) < 1e-12 for g in gaps), text
    whole = line(text, r"whole CNN by hand vs explain\.lrp\(rules='deep_taylor'\): largest relative "
                       r"difference ([\d.e+-]+) over 8 digits; sums \[([^\]]+)\] = f_c \[([^\]]+)\]")
    assert float(whole.group(1)) < 1e-12
    assert whole.group(2).split() == whole.group(3).split()
    assert "the mapping is the preset: True" in text
    assert float(line(text, r"largest deviation ([\d.e+-]+)$").group(1)) < 1e-9


def test_the_exercise_is_left_to_the_reader_and_checked(course):
    text = course("05_lrp_in_practice.py").text
    assert text.count("z+ rule, case") == 3 and "not attempted yet" in text


def test_select_rules_names_its_pick_both_ways(course):
    text = course("05_lrp_in_practice.py").text
    picks = re.findall(r"-> (deep_taylor|alpha2beta1|epsilon|deep_taylor_real)$", text, re.M)
    assert len(picks) == 2
    assert line(text, r"select_rules picks (\S+) with the fixed order and (\S+) with").groups() == tuple(picks)


def test_the_translation_trick_removes_the_stride_grid(course):
    text = course("06_lrp_tricks.py").text
    rows = {(net, name): tuple(float(v) for v in values) for net, name, *values in re.findall(
        r"^(strided CNN, 25 shifts|shipped CNN, 9 shifts)\s+(plain|trick)\s+([\d.]+)\s+([\d.]+)\s+([\d.-]+)$",
        text, re.M)}
    assert len(rows) == 4, text
    plain, trick = rows["strided CNN, 25 shifts", "plain"], rows["strided CNN, 25 shifts", "trick"]
    assert plain[0] > 1.5 and trick[0] < 1.2, "the block artefact goes"
    assert trick[1] < plain[1], "continuity improves"
    summary = line(text, r"the AUC moves from ([\d.-]+) to ([\d.-]+)$")
    assert (float(summary.group(1)), float(summary.group(2))) == (plain[2], trick[2])
    assert rows["shipped CNN, 9 shifts", "plain"][0] < plain[0]


def test_the_sliding_window_conserves_and_the_class_digits_win_on_the_spaced_canvas(course):
    text = course("06_lrp_tricks.py").text
    for g, total in re.findall(r"g\(X\) = ([\d.]+), sum of the heatmap = ([\d.]+)", text):
        assert float(g) == pytest.approx(float(total), rel=1e-9)
    assert "the most digits one window sees: 1" in text
    found = line(text, r"the two '3's hold (\d+)% of the relevance on the spaced canvas \((\d+)% on the "
                       r"packed one\), on 25% of the area; the weaker '3' gets (\d+)%, the most of "
                       r"any other digit (\d+)%")
    spaced, packed, weaker, other = (int(v) for v in found.groups())
    assert spaced > 50 and weaker > other
    assert float(line(text, r"max heatmap difference ([\d.e+-]+)$").group(1)) < 1e-10


def test_the_relevant_pattern_keeps_part_of_the_ink(course):
    kept = int(line(course("06_lrp_tricks.py").text, r"P\(x\) keeps (\d+)% of the digits' ink").group(1))
    assert 10 < kept < 90

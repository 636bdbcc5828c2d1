"""Parts 7 and 8 of the course (Sec. 7): what each figure and table of the continuity and
selectivity notebooks says holds, checked on the numbers they print in quick mode.  The
verdicts are re-derived here from the printed numbers, so a notebook cannot print a verdict
its own table does not support."""

import math
import re

import pytest

from conftest import line

METHODS = ("sensitivity", "simple Taylor", "deep Taylor LRP", "LRP-a2b1", "random",
           "Taylor @ removal")
REMOVALS = ("black", "black, fixed order", "mean", "uniform", "blur", "inpaint")
WORDS = r"yes|no clear difference|NO, the reverse"
#: the notebooks print AUCs, differences and standard errors to 3 decimals
PRINTED = 0.0015

def word(d, se):
    """The verdict rule the notebook states: deep Taylor LRP more selective beyond 2 SE."""
    return "yes" if d - 2 * se > 0 else "NO, the reverse" if d + 2 * se < 0 else "no clear difference"


def decidable(d, se):
    """False where rounding to 3 decimals could move d across +-2 SE."""
    return min(abs(d - 2 * se), abs(d + 2 * se)) > 3 * PRINTED


# ------------------------------------------------------------------------- 07 continuity
@pytest.fixture(scope="module")
def continuity(course):
    return course("07_continuity.py")


def test_part7_saves_its_three_figures(continuity):
    for name in ("07_max_vector_fields.png", "07_continuity_vs_spacing.png", "07_moving_digit.png"):
        assert (continuity.folder / "figures" / name).read_bytes()[:4] == b"\x89PNG", name


def test_figure6_worked_point_gives_x2_a_share_only_under_lrp(continuity):
    text = continuity.text
    assert line(text, r"^f\(0\.7, 0\.3\) = ([\d.]+)").group(1) == "0.70"
    R = {name: [float(v) for v in line(text, rf"^  {name}\s+R = \[([^\]]+)\]").group(1).split()]
         for name in ("sensitivity", "simple Taylor", "deep Taylor LRP")}
    assert R["sensitivity"] == [1.0, 0.0] and R["simple Taylor"] == [0.7, 0.0], R
    assert R["deep Taylor LRP"][1] > 0 and sum(R["deep Taylor LRP"]) == pytest.approx(0.7), R


def test_figure6_gradient_explanations_jump_across_the_diagonal_and_lrp_does_not(continuity):
    found = line(continuity.text, r"a step of ([\d.]+)\), \|\|R\(x\) - R\(x'\)\|\|_1 is ([\d.]+) for "
                                  r"sensitivity, ([\d.]+) for simple Taylor, ([\d.]+) for deep Taylor LRP")
    step, sens, taylor, lrp = (float(v) for v in found.groups())
    assert sens > 1 and taylor > 0.5, "the gradient methods jump by a fixed amount"
    assert lrp <= math.sqrt(2) * step + 1e-4, "LRP moves no more than its Lipschitz bound allows"


def test_figure6_only_lrp_keeps_a_bounded_continuity_constant(continuity):
    text = continuity.text
    factors = dict(re.findall(r"(sensitivity|simple Taylor|deep Taylor LRP) ([\d.]+)",
                              line(text, r"^factor by which .*$").group(0)))
    assert float(factors["deep Taylor LRP"]) == pytest.approx(1.0, abs=0.01), text
    assert float(factors["sensitivity"]) == pytest.approx(2.0, abs=0.05), text
    assert float(factors["simple Taylor"]) == pytest.approx(2.0, abs=0.05), text
    assert "deep Taylor LRP: bounded" in text and "sensitivity: unbounded" in text, text
    assert "simple Taylor: unbounded" in text, text
    rows = re.findall(r"^\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", text, re.M)
    assert len(rows) >= 4, text
    assert all(float(lrp) == pytest.approx(math.sqrt(2), abs=1e-4) for *_, lrp in rows), rows
    stays = line(text, r"deep Taylor LRP's constant stays at ([\d.]+) = sqrt\(2\)")
    assert float(stays.group(1)) == pytest.approx(math.sqrt(2), abs=1e-4)


def test_exercise3_is_a_stub_checked_and_pointed_to_its_solution(continuity):
    text = continuity.text
    assert text.count("not attempted yet") == 3, "the stub returns None for all three methods"
    assert "PASS" not in text and "FAIL" not in text
    markdown = "".join(cell.source for cell in continuity.notebook.cells if cell.cell_type == "markdown")
    assert "heatmapping.exercises.solution_continuity_constant" in markdown
    code = [cell.source for cell in continuity.notebook.cells if cell.cell_type == "code"]
    stub = next(i for i, source in enumerate(code) if "def continuity_constant(" in source)
    assert "return None" in code[stub]
    assert "exercises.check_continuity_constant(continuity_constant)" in code[stub + 1]


def test_figure7_path_is_chosen_so_that_f_varies_little(continuity):
    text = continuity.text
    chosen = line(text, r"^chosen: the '2' at index (\d+), shifted -(\d+)\.\.(\d+) pixels; f_2\(x\) "
                        r"runs from ([\d.-]+) to ([\d.-]+), relative variation ([\d.]+)")
    low, high, relative = (float(v) for v in chosen.groups()[3:])
    f = [float(v) for v in line(text, r"^f_2\(x\) along the path: \[([^\]]+)\]").group(1).split()]
    assert len(f) == 2 * int(chosen.group(2)) + 1
    assert min(f) == pytest.approx(low, abs=0.06) and max(f) == pytest.approx(high, abs=0.06)
    assert relative == pytest.approx((high - low) / (sum(f) / len(f)), abs=0.02)
    assert low > 0, "the digit stays a '2' for the network along the whole path"
    others = line(text, r"median relative variation of the first 100 '2's over these shifts: ([\d.]+); "
                        r"the first '2' moved -8\.\.8 pixels: f_2 from ([\d.-]+) to ([\d.-]+), "
                        r"relative variation ([\d.]+)")
    median, old_relative = float(others.group(1)), float(others.group(4))
    assert relative <= median and relative < old_relative / 3, "lower than the path it replaces"
    assert relative < 0.5, "f is 'relatively low-varying' along the path"


def test_figure7_lrp_varies_least_along_the_moving_digit(continuity):
    text = continuity.text
    assert "lowest continuity: deep Taylor LRP" in text, text
    assert "lowest relative continuity: deep Taylor LRP" in text, text
    table = {name: (float(raw), float(rel)) for name, raw, rel in re.findall(
        r"^\s+(sensitivity|simple Taylor|deep Taylor LRP)\s+([\d.]+)\s+([\d.]+)$", text, re.M)}
    assert len(table) == 3, text
    assert min(table, key=lambda n: table[n][1]) == "deep Taylor LRP", table
    step = line(text, r"per 1-pixel step f_2 changes by at most (\d+)% of its mean; the heatmap by "
                      r"at most (\d+)% .* sensitivity, (\d+)% .* simple Taylor, (\d+)% .* deep Taylor LRP")
    f_step, sens, taylor, lrp = (int(v) for v in step.groups())
    assert lrp < min(sens, taylor), "deep Taylor LRP's heatmap changes least per step"
    assert f_step < min(sens, taylor), "f changes less than the gradient explanations"


# ------------------------------------------------------------------------ 08 selectivity
@pytest.fixture(scope="module")
def selectivity(course):
    return course("08_selectivity.py")


NUMBER = r"([-\d.]+|nan)"
CELL = rf"\s+{NUMBER} \[d\s+([+-][\d.]+|nan) \+-\s+([\d.]+|inf|nan)\]"
READINGS = ("all 64 patches", "first 16 patches", "probability")


@pytest.fixture(scope="module")
def table(selectivity):
    """{method: {reading: (AUC, d, se)}, and method: share below 0} from the main table."""
    rows = re.findall(rf"^\s*({'|'.join(map(re.escape, METHODS))}){CELL * 3}\s+(\d+)%$",
                      selectivity.text, re.M)
    assert [row[0] for row in rows] == list(METHODS), selectivity.text
    return {row[0]: {**{r: tuple(float(v) for v in row[1 + 3 * i:4 + 3 * i])
                        for i, r in enumerate(READINGS)}, "below 0": int(row[-1])}
            for row in rows}


def test_part8_saves_grids_not_strips(selectivity):
    for name in ("08_examples.png", "08_curves_black.png", "08_curves_removals.png",
                 "08_curves_baselines.png"):
        png = (selectivity.folder / "figures" / name).read_bytes()
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert width <= 1600 and width < 2.5 * height, f"{name} is {width}x{height}"


def test_the_example_digit_loses_its_score_under_each_method(selectivity):
    found = line(selectivity.text, r"this digit's f_c falls from ([\d.]+) to, after 16 removals: ([-\d.]+) "
                                   r"\(sensitivity\), ([-\d.]+) \(simple Taylor\), ([-\d.]+) \(deep Taylor LRP\)")
    start, *after = (float(v) for v in found.groups())
    assert all(a < start / 4 for a in after), found.group(0)


def test_the_table_has_every_reading_with_a_paired_error_for_every_method(table):
    for name in METHODS:
        for r in READINGS:
            value, d, se = table[name][r]
            if name == "deep Taylor LRP":
                assert d == 0 and se == 0, (name, r, table[name][r])
            else:
                assert se > 0, f"{name}, {r}: no standard error"
                # the mean of paired differences is the difference of the means
                assert d == pytest.approx(value - table["deep Taylor LRP"][r][0], abs=3 * PRINTED)
        assert 0 <= table[name]["below 0"] <= 100


def test_the_printed_verdict_follows_from_the_printed_numbers(selectivity, table):
    text = selectivity.text
    for other in ("sensitivity", "simple Taylor"):
        found = line(text, rf"^  {other}: all 64 patches: ({WORDS}); first 16 patches: ({WORDS}); "
                           rf"probability: ({WORDS})$")
        words = dict(zip(READINGS, found.groups()))
        for r in READINGS:
            d, se = table[other][r][1:]
            if decidable(d, se):
                assert words[r] == word(d, se), f"{other}, {r}: printed {words[r]}, d {d} +- {se}"
        summary = line(text, rf"^  verdict vs {other}: (.*)$").group(1)
        by = {w: [r for r in READINGS if words[r] == w]
              for w in ("yes", "NO, the reverse", "no clear difference")}
        if by["NO, the reverse"] == ["all 64 patches"] and "first 16 patches" in by["yes"]:
            expected = ("reproduced in the first 16 patches"
                        + (" and by the probability" if "probability" in by["yes"] else "")
                        + "; reversed only in the off-manifold tail (patches 17-64")
            assert summary.startswith(expected), summary
        else:
            expected = "; ".join(f"{label} {', '.join(by[w])}" for w, label in (
                ("yes", "reproduced in:"), ("NO, the reverse", "reversed in:"),
                ("no clear difference", "no clear difference in:")) if by[w])
            assert summary == expected, summary


def test_the_verdict_without_the_all_black_class_follows_from_its_numbers(selectivity):
    found = re.findall(rf"all 64 patches without the '(\d)'s: d ([+-][\d.]+) \+- ([\d.]+): ({WORDS})",
                       selectivity.text)
    empty = line(selectivity.text, r"the all-black image is a '(\d)' to the network").group(1)
    assert len(found) == 2, selectivity.text
    for digit, d, se, printed in found:
        assert digit == empty
        if decidable(float(d), float(se)):
            assert printed == word(float(d), float(se)), (d, se, printed)


def test_the_share_below_zero_splits_into_head_and_tail(selectivity, table):
    rows = re.findall(rf"^\s*({'|'.join(map(re.escape, METHODS))})\s+(\d+)%\s+(\d+)%\s+([-\d.]+)\s+([-\d.]+)$",
                      selectivity.text, re.M)
    assert [row[0] for row in rows] == list(METHODS), selectivity.text
    for name, head, tail, _, _ in rows:
        anywhere = table[name]["below 0"]
        assert max(int(head), int(tail)) <= anywhere + 1 and anywhere <= int(head) + int(tail) + 1, name
    tail = {name: int(tail) for name, _, tail, _, _ in rows}
    averaged = line(selectivity.text, r"share of digits with f_c < 0, averaged over the tail .*: (\d+)% "
                                      r"sensitivity, (\d+)% simple Taylor, (\d+)% deep Taylor LRP$")
    for name, share in zip(("sensitivity", "simple Taylor", "deep Taylor LRP"), averaged.groups()):
        assert int(share) <= tail[name] + 1, "a share at each step is at most the share at any step"


def test_every_explanation_beats_a_random_order_under_black_removal(selectivity, table):
    for reading in ("all 64 patches", "first 16 patches"):
        rows = removal_table(selectivity.text, reading)
        for removal in ("black", "black, fixed order"):
            auc = dict(zip(METHODS, rows[removal][1]))
            assert max(v for name, v in auc.items() if name != "random") < auc["random"], (reading, removal)
    assert all(table[name]["all 64 patches"][0] < table["random"]["all 64 patches"][0]
               for name in METHODS if name != "random")


def removal_table(text, reading):
    """{removal: (digits, [AUC per method])} from the table 'AUC of f_c over <reading>'."""
    start = text.index(f"AUC of f_c over {reading} (lower = more selective)")
    lines = text[start:].splitlines()
    assert all(name in lines[1] for name in METHODS), lines[1]
    rows = {}
    for row in lines[2:2 + len(REMOVALS)]:
        found = re.match(rf"^\s*({'|'.join(map(re.escape, REMOVALS))}) \((\d+)\)((?:\s+[-\d.]+){{6}})$", row)
        assert found, row
        rows[found.group(1)] = (int(found.group(2)), [float(v) for v in found.group(3).split()])
    assert list(rows) == list(REMOVALS)
    return rows


def test_every_removal_strategy_is_tabled_and_judged_both_ways(selectivity, table):
    text = selectivity.text
    whole, head = removal_table(text, "all 64 patches"), removal_table(text, "first 16 patches")
    digits = int(line(text, r"^AUC over (\d+) digits, black removal").group(1))
    if whole["black"][0] == digits:          # quick mode: the black row is the main run itself
        for i, name in enumerate(METHODS):
            assert whole["black"][1][i] == pytest.approx(table[name]["all 64 patches"][0], abs=PRINTED)
            assert head["black"][1][i] == pytest.approx(table[name]["first 16 patches"][0], abs=PRINTED)
    verdicts = re.findall(rf"^  ({'|'.join(map(re.escape, REMOVALS))})\s+(all 64|first 16)  "
                          rf"vs sensitivity: ({WORDS}) \(d ([+-][\d.]+) \+- ([\d.]+)\); "
                          rf"vs simple Taylor: ({WORDS}) \(d ([+-][\d.]+) \+- ([\d.]+)\)$", text, re.M)
    assert [(v[0], v[1]) for v in verdicts] == [(r, k) for r in REMOVALS for k in ("all 64", "first 16")]
    for removal, reading, *cells in verdicts:
        rows = (whole if reading == "all 64" else head)[removal][1]
        for (printed, d, se), other in zip((cells[:3], cells[3:]), ("sensitivity", "simple Taylor")):
            d, se = float(d), float(se)
            assert d == pytest.approx(rows[METHODS.index(other)] - rows[METHODS.index("deep Taylor LRP")],
                                      abs=3 * PRINTED), (removal, reading, other)
            if decidable(d, se):
                assert printed == word(d, se), (removal, reading, other, d, se, printed)
    lowest = line(text, r"lowest mean AUC of the paper's three methods over the first 16 patches under "
                        r"(\d) of 6 removals \(([^)]*)\), over all 64 patches under (\d) \(([^)]*)\)")
    for count, names, rows in ((lowest.group(1), lowest.group(2), head), (lowest.group(3), lowest.group(4), whole)):
        expected = [r for r in REMOVALS if min(("sensitivity", "simple Taylor", "deep Taylor LRP"),
                                               key=lambda n: rows[r][1][METHODS.index(n)]) == "deep Taylor LRP"]
        assert int(count) == len(expected) and names == (", ".join(expected) or "none"), (names, expected)


def test_the_curves_statement_matches_the_table(selectivity, table):
    found = line(selectivity.text, r"lowest mean curve of the paper's three is (.+?)'s \(AUC ([\d.-]+) "
                                   r"sensitivity, ([\d.-]+) simple Taylor, ([\d.-]+) deep Taylor LRP\)")
    head = dict(zip(("sensitivity", "simple Taylor", "deep Taylor LRP"), map(float, found.groups()[1:])))
    assert found.group(1) == min(head, key=head.get)
    for name, value in head.items():
        assert value == pytest.approx(table[name]["first 16 patches"][0], abs=0.006)


def test_the_root_point_of_the_removal_explains_the_uniform_and_black_columns(selectivity):
    text = selectivity.text
    roots = {removal: (float(at), float(zero)) for removal, at, zero in re.findall(
        rf"^  ({'|'.join(map(re.escape, REMOVALS))})\s+most selective: .* root point: ([-\d.]+) "
        r"vs root 0: ([-\d.]+)$", text, re.M)}
    assert list(roots) == list(REMOVALS), text
    assert roots["uniform"][0] == roots["uniform"][1], "noise in [-1, 1] has mean 0: the same root"
    assert roots["black"][0] < roots["black"][1], "the removal value as root point is more selective"
    wasted = re.findall(r"^  (sensitivity|simple Taylor|deep Taylor LRP)\s+fixed order:\s+([\d.]+) wasted, "
                        r"f_c\s+([-\d.]+);\s+recomputed:\s+([\d.]+) wasted", text, re.M)
    assert [w[0] for w in wasted] == ["sensitivity", "simple Taylor", "deep Taylor LRP"], text
    assert all(0 <= float(w[1]) <= 16 and 0 <= float(w[3]) <= 16 for w in wasted)
    share = float(line(text, r"positive relevance on pixels that are already black: ([\d.]+)").group(1))
    assert 0 < share < 1


# ------------------------------------------------------------- 08 selectivity: the baselines
BASELINES = ("IG, black", "IG, grey", "SmoothGrad", "SmoothGrad^2", "occlusion, black", "occlusion, grey")


@pytest.fixture(scope="module")
def baselines_table(selectivity):
    """{method: {reading: (AUC, d, se)}} from the table of the baselines beside the paper's
    methods on the same digits."""
    text = selectivity.text
    start = text.index("AUC over the first")
    names = "|".join(map(re.escape, METHODS + BASELINES))
    rows = re.findall(rf"^\s*({names}){CELL * 3}$", text[start:], re.M)
    assert [row[0] for row in rows] == list(METHODS + BASELINES), text[start:]
    return {row[0]: {r: tuple(float(v) for v in row[1 + 3 * i:4 + 3 * i]) for i, r in enumerate(READINGS)}
            for row in rows}


def test_the_baselines_table_pairs_every_method_with_deep_taylor_lrp(baselines_table):
    for name, readings in baselines_table.items():
        for r, (value, d, se) in readings.items():
            if name == "deep Taylor LRP":
                assert d == 0 and se == 0, (name, r)
            else:
                assert se > 0, f"{name}, {r}: no standard error"
                assert d == pytest.approx(value - baselines_table["deep Taylor LRP"][r][0], abs=3 * PRINTED)


def test_the_baselines_verdicts_follow_from_their_numbers(selectivity, baselines_table):
    text = selectivity.text
    for name in BASELINES:
        found = line(text, rf"^  {re.escape(name)}: all 64 patches: ({WORDS}); first 16 patches: "
                           rf"({WORDS}); probability: ({WORDS})$")
        for r, printed in zip(READINGS, found.groups()):
            d, se = baselines_table[name][r][1:]
            if decidable(d, se):
                assert printed == word(d, se), f"{name}, {r}: printed {printed}, d {d} +- {se}"


def test_the_most_selective_and_the_baselines_ahead_are_read_off_the_table(selectivity, baselines_table):
    text = selectivity.text
    head = {name: v["first 16 patches"][0] for name, v in baselines_table.items()}
    explanations = [n for n in head if n not in ("random", "Taylor @ removal")]
    top = line(text, r"^most selective over the first 16 patches, random and Taylor @ removal aside: "
                     r"(.+) \(([-\d.]+)\); deep Taylor LRP")
    expected = min(explanations, key=head.get)
    if abs(head[top.group(1)] - head[expected]) > PRINTED:
        assert top.group(1) == expected, (top.group(0), head)
    ahead = line(text, r"^baselines ahead of deep Taylor LRP over the first 16 patches: (.*)$").group(1)
    decided = [n for n in BASELINES if abs(head[n] - head["deep Taylor LRP"]) > PRINTED]
    listed = [] if ahead == "none" else ahead.split("; ")
    for name in decided:
        assert (name in listed) == (head[name] < head["deep Taylor LRP"]), (name, ahead, head)
    for method in ("IG", "occlusion"):
        ref = line(text, rf"^  {method} over the first 16 patches: black reference ([-\d.]+), grey "
                         rf"reference ([-\d.]+)$")
        assert float(ref.group(1)) == pytest.approx(head[f"{method}, black"], abs=PRINTED)
        assert float(ref.group(2)) == pytest.approx(head[f"{method}, grey"], abs=PRINTED)

"""Part 10 of the course (Sec. 8.2, Figure 10): what the notebook says about the synthetic EEG
and DNA data holds on the numbers it prints in quick mode (fixed seeds).  The verdicts are
re-derived here from the printed tables, so the notebook cannot print a statement its own
numbers do not support."""

import re

import pytest

from conftest import line

EEG_METHODS = ("LRP (w^2, z+)", "LRP-epsilon", "sensitivity", "simple Taylor")
DNA_METHODS = ("mutagenesis", "LRP (zB, z+)", "sensitivity")
FIGURES = ("10_eeg_heatmaps.png", "10_eeg_channel_maps.png", "10_dna_heatmaps.png",
           "10_dna_ranks.png")


@pytest.fixture(scope="module")
def part10(course):
    return course("10_scientific_data.py")


@pytest.fixture(scope="module")
def eeg_table(part10):
    rows = {}
    for name in EEG_METHODS + ("chance",):
        found = line(part10.text, rf"^{re.escape(name)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$")
        rows[name] = dict(zip(("mass", "rank", "channels"), map(float, found.groups())))
    return rows


@pytest.fixture(scope="module")
def dna_table(part10):
    rows = {}
    for name in DNA_METHODS:
        found = line(part10.text, rf"^{re.escape(name)}" + r"\s+([\d.]+)" * 4 + "$")
        rows[name] = dict(zip(("rank", "rank_accuracy", "ms", "ratio"), map(float, found.groups())))
    rows["random"] = float(line(part10.text, r"^random\s+([\d.]+)$").group(1))
    return rows


def test_part10_saves_its_four_figures(part10):
    for name in FIGURES:
        assert (part10.folder / "figures" / name).read_bytes()[:4] == b"\x89PNG", name


def test_both_synthetic_classifiers_learn_their_task(part10):
    eeg = line(part10.text, r"^EEG: (\d+) test trials, test accuracy ([\d.]+) \((\d+)/(\d+)\)")
    assert float(eeg.group(2)) >= 0.9 and int(eeg.group(3)) / int(eeg.group(4)) == \
        pytest.approx(float(eeg.group(2)), abs=1e-3), eeg.group(0)
    dna = float(line(part10.text, r"^DNA: \d+ test sequences, test accuracy ([\d.]+)").group(1))
    assert dna >= 0.9, dna


def test_temporal_pooling_keeps_lrps_sum_equal_to_f_and_only_lrps(part10):
    errors = {name: float(line(part10.text, rf"^temporal pooling, {re.escape(name)}\s*: "
                                            r"max_n .* = ([-+.\de]+)\s").group(1))
              for name in EEG_METHODS}
    assert errors["LRP (w^2, z+)"] < 1e-9, "the w^2/z+ channel map must sum to the log-odds"
    for name in ("LRP-epsilon", "sensitivity", "simple Taylor"):
        assert errors[name] > 1e-3, f"{name} is not conservative, yet printed {errors[name]}"


def test_lrp_puts_its_relevance_on_the_planted_channels_and_window(eeg_table, part10):
    lrp, chance = eeg_table["LRP (w^2, z+)"], eeg_table["chance"]
    assert chance["mass"] == pytest.approx(3 * 50 / (16 * 128), abs=1e-3)
    assert lrp["mass"] > 2.5 * chance["mass"], "LRP's mass inside the window, well above chance"
    assert lrp["rank"] > 4 * chance["rank"], "LRP's top features inside the window"
    assert lrp["channels"] > 1.5 * chance["channels"], "the pooled map favours channels 3, 4, 11"
    for name in EEG_METHODS:
        assert eeg_table[name]["mass"] > 2 * chance["mass"], name
    factor = float(line(part10.text, r"^LRP \(w\^2, z\+\) puts ([\d.]+)x chance").group(1))
    assert factor == pytest.approx(lrp["mass"] / chance["mass"], abs=0.06)
    best = line(part10.text, r"the most concentrated heatmap here is (.+) \(([\d.]+)\)$")
    assert best.group(1) == max(EEG_METHODS, key=lambda n: eeg_table[n]["mass"]), best.group(0)


def test_the_example_trials_and_the_pooled_sum_support_the_figures(part10, eeg_table):
    shares = line(part10.text, r"puts (\d+)% \('right hand' trial\) and (\d+)% \('foot' trial\)")
    assert min(int(v) for v in shares.groups()) > 2 * 100 * eeg_table["chance"]["mass"]
    held = line(part10.text, r"the 3 planted channels hold (\d+)% .* would be (\d+)%")
    assert int(held.group(1)) > 1.5 * int(held.group(2)), held.group(0)


def test_lrp_and_mutagenesis_rank_the_motif_near_the_top(dna_table, part10):
    for name in DNA_METHODS:
        assert dna_table[name]["rank"] < 10, f"{name} ranks the motif at {dna_table[name]['rank']}"
        assert dna_table[name]["rank_accuracy"] > 0.8, name
    assert dna_table["random"] == 50.5
    said = line(part10.text, r"rank on average ([\d.]+) under mutagenesis and ([\d.]+) under LRP")
    assert float(said.group(1)) == pytest.approx(dna_table["mutagenesis"]["rank"], abs=0.06)
    assert float(said.group(2)) == pytest.approx(dna_table["LRP (zB, z+)"]["rank"], abs=0.06)


def test_mutagenesis_costs_many_times_lrps_time_measured_in_the_same_run(dna_table, part10):
    lrp = dna_table["LRP (zB, z+)"]
    assert lrp["ratio"] == 1.0
    for name in DNA_METHODS:
        assert dna_table[name]["ratio"] == pytest.approx(dna_table[name]["ms"] / lrp["ms"],
                                                         rel=0.05, abs=0.1), name
    assert dna_table["mutagenesis"]["ratio"] > 10, "300 forward passes against one backward"
    said = int(line(part10.text, r"^mutagenesis takes (\d+)x the time of LRP").group(1))
    assert said == pytest.approx(dna_table["mutagenesis"]["ratio"], abs=1)

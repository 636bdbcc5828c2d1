"""heatmapping.synthetic: the generators plant what their docstrings say (the truth mask, the
class balance, the motif in the positives only), are deterministic for a seed and name bad
arguments; the explanation helpers agree with slow re-implementations."""

import numpy as np
import pytest

from heatmapping import synthetic
from heatmapping.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from heatmapping.network import Sequential


def decode(X):
    """One-hot (N, 1, 4, L) -> the sequences as strings."""
    return ["".join(synthetic.NUCLEOTIDES[k] for k in row) for row in X[:, 0].argmax(axis=1)]


def band_power(x, f):
    """|sum_t x_t exp(-2 pi i f t)|^2 / T along the last axis."""
    t = np.arange(x.shape[-1])
    return np.abs((x * np.exp(-2j * np.pi * f * t)).sum(axis=-1)) ** 2 / x.shape[-1]


# ------------------------------------------------------------------------------ EEG-like
def test_eeg_like_returns_balanced_signed_trials_and_the_planted_mask():
    X, y, truth = synthetic.eeg_like(101, rng=np.random.default_rng(0))
    assert X.shape == (101, 1, 16, 128) and X.dtype == np.float64
    assert y.shape == (101,) and set(np.unique(y)) == {0, 1} and np.sum(y == 0) == 50
    expected = np.zeros((16, 128), dtype=bool)
    expected[[3, 4, 11], 40:90] = True
    assert truth.dtype == bool and np.array_equal(truth, expected), "truth != channels x window"
    assert X.min() < 0 < X.max(), "EEG-like signals are signed"


def test_eeg_like_classes_differ_in_band_power_inside_the_mask_only():
    X, y, truth = synthetic.eeg_like(400, rng=np.random.default_rng(1), freqs=(0.08, 0.2))
    x = X[:, 0]
    inside = x[:, [3, 4, 11], 40:90]
    outside = x[:, [0, 7, 15], 40:90]
    for k, f in enumerate((0.08, 0.2)):
        own, other = (band_power(inside[y == c], f).mean() for c in (k, 1 - k))
        assert own > 3 * other, f"class {k} should carry power at {f} in the planted window"
        a, b = (band_power(outside[y == c], f).mean() for c in (0, 1))
        assert abs(a - b) < 0.25 * max(a, b), f"no class difference at {f} outside the mask"
    before = x[:, [3, 4, 11], :40]
    a, b = (band_power(before[y == c], 0.2).mean() for c in (0, 1))
    assert abs(a - b) < 0.25 * max(a, b), "no class difference before the window"


def test_eeg_like_is_deterministic_for_a_seed():
    a = synthetic.eeg_like(20, rng=np.random.default_rng(7))
    b = synthetic.eeg_like(20, rng=np.random.default_rng(7))
    c = synthetic.eeg_like(20, rng=np.random.default_rng(8))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=0), "n"), (dict(channels=0), "channels"), (dict(steps=1.5), "steps"),
    (dict(planted=(3, 16)), "planted"), (dict(planted=()), "planted"),
    (dict(window=(90, 40)), "window"), (dict(window=(0, 200)), "window"),
    (dict(freqs=(0.1, 0.1)), "freqs"), (dict(freqs=(0.1, 0.6)), "freqs"),
    (dict(amplitude=0.0), "amplitude"), (dict(noise=-1.0), "noise"),
    (dict(background=np.nan), "background"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_eeg_like_names_a_bad_argument(kwargs, name):
    kwargs = {"n": 10, "rng": np.random.default_rng(0)} | kwargs
    with pytest.raises(ValueError, match=name):
        synthetic.eeg_like(**kwargs)


def test_the_generators_refuse_a_missing_generator():
    with pytest.raises(TypeError, match="rng"):
        synthetic.eeg_like(10, rng=0)
    with pytest.raises(TypeError, match="rng"):
        synthetic.dna_like(10, rng=None)


# ------------------------------------------------------------------------------ DNA-like
@pytest.mark.parametrize("decoy", [False, True], ids=["plain", "decoy"])
def test_dna_like_plants_the_motif_in_the_positives_only(decoy):
    X, y, mask = synthetic.dna_like(300, length=40, motif="TATAAT", decoy=decoy,
                                    rng=np.random.default_rng(2))
    assert X.shape == (300, 1, 4, 40) and np.all(X.sum(axis=2) == 1), "one-hot columns"
    assert np.sum(y == 0) == 150 and mask.shape == (300, 40) and mask.dtype == bool
    seqs = decode(X)
    for s, label, m in zip(seqs, y, mask):
        assert ("TATAAT" in s) == (label == 1), f"motif present iff positive: {s} y={label}"
        covered = np.zeros(40, dtype=bool)
        for start in range(35):
            if s[start:start + 6] == "TATAAT":
                covered[start:start + 6] = True
        assert np.array_equal(m, covered), "the mask covers exactly the motif's occurrences"
    assert mask[y == 1].sum(axis=1).min() >= 6


def test_dna_like_decoys_are_near_misses_of_the_motif():
    X, y, _ = synthetic.dna_like(100, length=30, decoy=True, rng=np.random.default_rng(3))
    for s in np.array(decode(X))[y == 0]:
        misses = [sum(a != b for a, b in zip(s[i:i + 6], "TATAAT")) for i in range(25)]
        assert min(misses) == 1, f"a negative without a one-letter near miss: {s}"


def test_dna_like_is_deterministic_for_a_seed():
    a = synthetic.dna_like(30, rng=np.random.default_rng(5))
    b = synthetic.dna_like(30, rng=np.random.default_rng(5))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=-1), "n"), (dict(motif="TAXA"), "motif"), (dict(motif=""), "motif"),
    (dict(length=5), "length"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_dna_like_names_a_bad_argument(kwargs, name):
    kwargs = {"n": 10, "rng": np.random.default_rng(0)} | kwargs
    with pytest.raises(ValueError, match=name):
        synthetic.dna_like(**kwargs)


# ------------------------------------------------------------------- networks, explanations
def small_dna_net(rng, length=12):
    return Sequential([Conv2d.init(1, 3, (4, 3), rng=rng), ReLU(), MaxPool2d((1, length - 2)),
                       Flatten(), Linear.init(3, 2, rng=rng)], input_shape=(1, 4, length))


def test_log_odds_outputs_the_difference_of_the_two_logits(rng):
    net = small_dna_net(rng)
    X, _, _ = synthetic.dna_like(8, length=12, motif="TAT", rng=rng)
    f, d = net.forward(X), synthetic.log_odds(net).forward(X)
    assert np.allclose(d[:, 1], f[:, 1] - f[:, 0]) and np.allclose(d[:, 0], -d[:, 1])
    with pytest.raises(ValueError, match="Linear layer with 2 outputs"):
        synthetic.log_odds(Sequential([Flatten()]))


def test_in_silico_mutagenesis_matches_mutating_one_letter_at_a_time(rng):
    net = small_dna_net(rng)
    X, _, _ = synthetic.dna_like(3, length=12, motif="TAT", rng=rng)
    D = synthetic.in_silico_mutagenesis(net, X, target=1, batch_size=7)
    for n in range(3):
        for b in range(4):
            for l in range(12):
                x = X[n:n + 1].copy()
                x[0, 0, :, l] = np.eye(4)[b]
                expected = net.forward(X[n:n + 1])[0, 1] - net.forward(x)[0, 1]
                assert D[n, b, l] == pytest.approx(expected, abs=1e-12), (n, b, l)
    assert np.all(D[X[:, 0] > 0] == 0), "mutating a letter to itself changes nothing"
    seen = []
    forward = net.forward
    net.forward = lambda x: seen.append(len(x)) or forward(x)
    np.testing.assert_array_equal(synthetic.in_silico_mutagenesis(net, X, target=1, batch_size=7), D)
    assert sum(seen) == 3 + 3 * 3 * 12, "only the mutants that differ from their sequence run"


def test_motif_ranks_average_the_ranks_of_the_masked_positions():
    scores = np.array([[5.0, 1.0, 4.0, 2.0, 2.0]])
    mask = np.array([[True, False, True, False, False]])
    assert synthetic.motif_ranks(scores, mask)[0] == 1.5          # ranks 1 and 2
    assert synthetic.motif_ranks(scores, ~mask)[0] == pytest.approx((5 + 3.5 + 3.5) / 3)


def test_eeg_report_pools_a_conservative_lrp_to_the_log_odds_and_scores_the_mask():
    rng = np.random.default_rng(0)
    X, y, truth = synthetic.eeg_like(6, channels=4, steps=40, planted=(1,), window=(10, 30),
                                     rng=rng)
    net = synthetic.eeg_net(rng=rng, channels=4, steps=40)
    report = synthetic.eeg_report(net, X, y, truth)
    lrp = report["methods"]["LRP (w^2, z+)"]
    assert lrp["R"].shape == (6, 4, 40) and lrp["channel_map"].shape == (6, 4)
    assert lrp["pooled_error"] < 1e-9 * max(1.0, np.abs(report["f"]).max())
    assert np.all(report["f"] >= 0), "the predicted class's log-odds is >= 0"
    assert report["chance_mass"] == pytest.approx(20 / 160)
    for m in report["methods"].values():
        assert 0 <= m["mass"] <= 1 and 0 <= m["rank"] <= 1 and 0 <= m["channel_mass"] <= 1


def test_dna_report_ranks_and_times_every_method_on_the_positives():
    rng = np.random.default_rng(0)
    X, y, mask = synthetic.dna_like(10, length=20, rng=rng)
    report = synthetic.dna_report(synthetic.dna_net(rng=rng, length=20), X, y, mask, repeats=1)
    assert report["positives"] == 5 and report["chance_rank"] == 10.5
    assert set(report["methods"]) == {"LRP (zB, z+)", "mutagenesis", "sensitivity"}
    for m in report["methods"].values():
        assert m["R"].shape == (5, 4, 20) and 1 <= m["rank"] <= 20 and m["seconds"] > 0

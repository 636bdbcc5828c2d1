"""The planted shortcut of Sec. 8.1 and SpRAy: closed-form and synthetic checks, and the
checksums of the two shipped classifiers."""

import numpy as np
import pytest

from conftest import assert_matches_data_readme
from heatmapping import clever_hans, models
from heatmapping.clever_hans import add_tag, cluster_purity, spray, tag_mask, tagged_training_set


# ------------------------------------------------------------------------------- the tag
@pytest.mark.parametrize("corner", sorted(clever_hans.CORNERS))
def test_the_tag_lands_exactly_on_its_mask_in_the_networks_input(corner):
    net = models.cnn(rng=np.random.default_rng(0))
    digits = np.zeros((2, 28, 28), dtype=np.uint8)
    x = models.inputs_for(net, add_tag(digits, corner=corner, size=4, margin=2))
    mask = tag_mask(net.input_shape, corner=corner, size=4, margin=2)
    assert mask.shape == (1, 32, 32) and mask.sum() == 16
    assert np.all(x[:, mask] == 1.0), "a tag pixel is not full ink"
    assert np.all(x[:, ~mask] == -1.0), "the tag spilled outside its mask"


def test_the_default_tag_is_a_4x4_square_in_the_bottom_left_corner():
    mask = tag_mask((28, 28))
    assert np.array_equal(np.argwhere(mask).min(0), [24, 0])
    assert np.array_equal(np.argwhere(mask).max(0), [27, 3])
    assert np.array_equal(np.argwhere(tag_mask((32, 32))).min(0), [26, 2]), "padding of 2 ignored"
    assert tag_mask((32, 32)).sum() == clever_hans.TAG["size"] ** 2


def test_add_tag_leaves_its_input_alone_and_the_other_pixels_unchanged(rng):
    digits = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    before = digits.copy()
    tagged = add_tag(digits)
    assert np.array_equal(digits, before)
    assert np.array_equal(tagged[:, ~tag_mask((28, 28))], digits[:, ~tag_mask((28, 28))])


@pytest.mark.parametrize("share", [0.0, 0.5, 0.9, 1.0])
def test_the_training_set_tags_that_share_of_the_target_class_and_nothing_else(rng, share):
    labels = np.repeat(np.arange(10), 30).astype(np.uint8)
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    out, tagged = tagged_training_set(images, labels, target_class=7, share=share, rng=rng)
    assert tagged.sum() == round(share * 30) and np.all(labels[tagged] == 7)
    carries = np.all(out[:, tag_mask((28, 28))] == 255, axis=1)
    assert np.array_equal(carries, tagged), "the images disagree with the returned flags"


@pytest.mark.parametrize("kwargs, name", [
    (dict(corner="middle"), "corner"), (dict(size=0), "size"), (dict(margin=-1), "margin"),
    (dict(size=28, margin=1), r"size \+ margin"), (dict(value=300), "value")], ids=str)
def test_bad_tag_arguments_are_refused_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        add_tag(np.zeros((1, 28, 28), dtype=np.uint8), **kwargs)


def test_bad_training_set_and_mask_arguments_are_refused_by_name(rng):
    images, labels = np.zeros((4, 28, 28), np.uint8), np.array([1, 7, 7, 2])
    with pytest.raises(ValueError, match="share"):
        tagged_training_set(images, labels, share=1.5, rng=rng)
    with pytest.raises(ValueError, match="target_class"):
        tagged_training_set(images, labels, target_class=3, rng=rng)
    with pytest.raises(ValueError, match="shape"):
        tag_mask((1, 31, 31))
    with pytest.raises(ValueError, match="images"):
        add_tag(np.zeros((28, 28), np.uint8))


# --------------------------------------------------------------------------------- SpRAy
def planted_groups(rng, n=60, noise=0.05):
    """n heatmaps 32x32: a blob in the centre (the digit), and on the first half also a
    bright spot in the top-left corner (the tag); plus noise."""
    R = noise * rng.standard_normal((n, 32, 32))
    R[:, 10:22, 10:22] += 1.0 / 144
    truth = np.arange(n) < n // 2
    R[truth, 0:4, 0:4] += 0.5 / 16
    return R * 10, truth


def test_spray_separates_two_planted_groups_with_purity_one_and_an_eigengap_at_two(rng):
    R, truth = planted_groups(rng, noise=0.002)
    found = spray(R, n_clusters=2, n_neighbors=5, rng=rng)
    assert cluster_purity(found.labels, truth) == 1.0
    assert found.eigengap == 2, f"eigenvalues {np.round(found.eigenvalues, 3)}"
    assert found.eigenvalues[0] == pytest.approx(0, abs=1e-9)
    # the cluster with the tag has it in its mean heatmap, the other one does not
    corner = found.mean_heatmaps[:, 0:4, 0:4].sum(axis=(1, 2))
    assert corner.max() > 1.0 and corner.min() == pytest.approx(0, abs=0.1)


def test_spray_of_one_group_finds_no_two_cluster_structure(rng):
    R, _ = planted_groups(rng, noise=0.002)
    R[:, 0:4, 0:4] = 0.5 / 16 * 10                            # every heatmap has the tag
    found = spray(R, n_clusters=2, n_neighbors=5, rng=rng)
    assert found.eigengap != 2 or found.gap < 0.1, np.round(found.eigenvalues, 3)


def test_spray_is_deterministic_for_a_seed():
    R, _ = planted_groups(np.random.default_rng(0), noise=0.05)
    a = spray(R, rng=np.random.default_rng(5))
    b = spray(R, rng=np.random.default_rng(5))
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.eigenvalues, b.eigenvalues)
    assert np.array_equal(a.mean_heatmaps, b.mean_heatmaps)


def test_spray_takes_channel_first_heatmaps_and_numbers_clusters_by_size(rng):
    R, truth = planted_groups(rng, n=50, noise=0.002)
    R = np.concatenate([R, R[:10] + 1e-4])[:, None]          # 35 tagged, 25 untagged
    found = spray(R, n_neighbors=5, rng=rng)
    assert found.mean_heatmaps.shape == (2, 32, 32)
    assert list(found.sizes) == [35, 25]


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_clusters=0), "n_clusters"), (dict(n_neighbors=60), "n_neighbors"),
    (dict(n_eigen=1), "n_eigen"), (dict(size=(5, 5)), "size")], ids=str)
def test_bad_spray_arguments_are_refused_by_name(rng, kwargs, name):
    R, _ = planted_groups(rng)
    with pytest.raises(ValueError, match=name):
        spray(R, rng=rng, **kwargs)


def test_spray_refuses_heatmaps_of_the_wrong_shape_or_with_nan(rng):
    with pytest.raises(ValueError, match="heatmaps"):
        spray(np.zeros((20, 32)), rng=rng)
    R, _ = planted_groups(rng)
    R[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        spray(R, rng=rng)


def test_cluster_purity_closed_form():
    assert cluster_purity([0, 0, 1, 1], [True, True, False, False]) == 1.0
    assert cluster_purity([0, 0, 0, 1], [True, False, False, False]) == 0.75
    assert cluster_purity([0, 0, 0, 0], [True, True, False, False]) == 0.5
    with pytest.raises(ValueError, match="labels and truth"):
        cluster_purity([0, 1], [True])


# -------------------------------------------------------------------- the shipped models
@pytest.mark.parametrize("name", ["cnn_tagged.npz", "cnn_clean_twin.npz"])
def test_the_shipped_pair_matches_its_checksum_in_the_data_readme(name):
    assert_matches_data_readme(name)


def test_the_shipped_pair_records_its_tag_and_shares_one_recipe():
    from heatmapping import load
    _, tagged = load(models.DATA_DIR / "cnn_tagged.npz", with_metadata=True)
    _, clean = load(models.DATA_DIR / "cnn_clean_twin.npz", with_metadata=True)
    assert tagged["recipe"] == clean["recipe"]
    assert tagged["tag"]["share"] == 0.9 and clean["tag"]["share"] == 0.0
    assert tagged["tag"]["tagged_digits"] == 450                # 90% of the 500 embedded 7s


def test_validation_report_refuses_too_few_digits(rng):
    net = models.cnn(rng=np.random.default_rng(0))
    images, labels = np.zeros((30, 28, 28), np.uint8), np.full(30, 7)
    with pytest.raises(ValueError, match="n:"):
        clever_hans.validation_report(net, net, images, labels, n=40, rng=rng)

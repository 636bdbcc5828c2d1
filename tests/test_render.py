"""Figures: grids of digits and heatmaps are written as PNG, and bad input is refused
before anything is drawn or written."""

import numpy as np
import pytest

from heatmapping import render

IMAGES = np.random.default_rng(0).integers(0, 256, (3, 5, 5)).astype(np.uint8)


def test_grids_write_png_files(tmp_path):
    assert render.digit_grid(IMAGES, ["a", "b", "c"], tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    heat = np.random.default_rng(1).standard_normal((3, 5, 5))
    path = render.heatmap_grid(IMAGES / 127.5 - 1, heat, ["a", "b", "c"], tmp_path / "h.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("call, error, message", [
    (lambda p: render.digit_grid(IMAGES.astype(np.int64), list("abc"), p), TypeError,
     r"uint8 images \(0..255\) or float pixels in \[-1, 1\], got dtype int64"),
    (lambda p: render.digit_grid(IMAGES, list("abc"), p, columns=0), ValueError,
     "columns: expected an integer >= 1, got 0"),
    (lambda p: render.heatmap_grid(IMAGES, np.full((3, 5, 5), np.nan), list("abc"), p),
     ValueError, "heatmaps: expected finite values, got an array containing NaN"),
    (lambda p: render.heatmap_grid(IMAGES, np.zeros((3, 5, 4)), list("abc"), p), ValueError,
     r"heatmaps: expected shape \(3, 5, 5\), got shape \(3, 5, 4\)"),
], ids=["int64-images", "no-columns", "nan-heatmap", "shape-mismatch"])
def test_bad_input_is_refused_and_nothing_is_written(call, error, message, tmp_path):
    with pytest.raises(error, match=message):
        call(tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_show_heatmap_draws_a_symmetric_colourbar_and_refuses_nan():
    fig = render.new_figure(3, 3)
    ax = fig.subplots()
    image = render.show_heatmap(ax, np.array([[0.5, -2.0], [1.0, 0.0]]), "t")
    assert image.get_clim() == (-2.0, 2.0) and image.get_cmap().name == "bwr"
    assert len(fig.axes) == 2, "the colourbar is an axes of its own"
    assert ax.get_title() == "t" and ax.title.get_fontsize() >= 9
    zero = render.show_heatmap(fig.subplots(), np.zeros((2, 2)), colorbar=False)
    assert zero.get_clim() == (-1.0, 1.0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        render.show_heatmap(ax, np.array([[np.nan]]))


def test_comparison_grid_shares_a_column_scale_and_checks_its_rows():
    x = np.zeros((2, 4, 4))
    R = np.stack([np.full((4, 4), 2.0), np.full((4, 4), -0.5)])
    fig = render.comparison_grid(x, ["a", "b"], [("R", R, "heatmap"), ("half", R / 2, "heatmap"),
                                                 ("P", np.zeros((2, 4, 4)), "pattern")],
                                 "t", scale="column")
    images = [ax.images[0] for ax in fig.axes if ax.images and ax.images[0].get_cmap().name == "bwr"]
    assert [im.get_clim() for im in images] == [(-2.0, 2.0), (-0.5, 0.5)] * 2   # rows: R, R / 2
    with pytest.raises(ValueError, match=r"titles: expected one title per image \(2\), got 1"):
        render.comparison_grid(x, ["a"], [("R", R, "heatmap")], "t")
    with pytest.raises(ValueError, match=r"rows\[0\] kind: expected one of 'heatmap', 'pattern', got 'contour'"):
        render.comparison_grid(x, ["a", "b"], [("R", R, "contour")], "t")

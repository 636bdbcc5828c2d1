"""Figures: digits, and (for the explanation methods) heatmaps, saved as PNG.

Figures are drawn on a ``matplotlib.figure.Figure`` with the Agg canvas directly, not through
``pyplot``: no global backend switch, no figure registry, and it works on a machine without a
screen.  Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import checks
from .files import atomic_write

__all__ = ["FONT", "new_figure", "save_figure", "digit_grid", "heatmap_grid", "show_image",
           "show_heatmap", "vector_field", "comparison_grid"]

#: font size in points of titles and labels: legible at the saved size (100 dpi)
FONT = 10


def new_figure(width: float, height: float, *, layout: str | None = None) -> Figure:
    """A figure of the given size in inches with an Agg canvas attached; ``layout`` is
    matplotlib's ("constrained" keeps colourbars and titles from overlapping)."""
    width = checks.number(width, "width", low=0, open_low=True)
    height = checks.number(height, "height", low=0, open_low=True)
    if layout is not None:
        checks.choice(layout, "layout", ("constrained", "compressed", "tight"))
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path, *, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically; returns the path.  The folder must exist
    and the name end in ``.png``; an existing file is replaced (the API is not the CLI: the
    commands refuse to replace a file without ``--force`` before they call this)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig: expected a matplotlib Figure (render.new_figure), got {checks.given(fig)}")
    checks.integer(dpi, "dpi", low=1)
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path: expected a file name ending in .png, got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"path: expected a file in an existing folder, got {str(path)!r} "
                         f"(no folder {str(path.parent)!r})")
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=dpi)
    return path


def _value_range(images: np.ndarray) -> tuple[int, int]:
    """The colour scale of images: uint8 0..255, or float pixels in [-1, 1]."""
    if images.dtype == np.uint8:
        return 0, 255
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images: expected uint8 images (0..255) or float pixels in [-1, 1], "
                        f"got dtype {images.dtype}")
    checks.finite(images, "images")
    return -1, 1


def _titles(titles, n: int) -> list[str]:
    """One title per image: a list of strings, not one string (whose letters would be used)."""
    if isinstance(titles, str) or not all(isinstance(t, str) for t in titles):
        raise TypeError(f"titles: expected a list of {n} strings, got {checks.given(titles)}")
    if len(titles) != n:
        raise ValueError(f"titles: expected one title per image ({n}), got {len(titles)}")
    return list(titles)


def digit_grid(images: np.ndarray, titles: list[str], path, *, columns: int = 6) -> Path:
    """Save images (N, H, W) in a grid with one title each, gray scale, white digits on black.

    Pixel values may be uint8 (0..255) or the model range [-1, 1]; the colour scale is fixed
    to that range so that images stay comparable.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images: expected images (N, H, W), got shape {images.shape}")
    titles = _titles(titles, len(images))
    vmin, vmax = _value_range(images)
    columns = checks.integer(columns, "columns", low=1)
    rows = -(-len(images) // columns)
    fig = new_figure(1.8 * columns, 2.4 * rows)
    for i, (image, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    return save_figure(fig, path)


def heatmap_grid(images: np.ndarray, heatmaps: np.ndarray, titles: list[str], path,
                 *, columns: int = 4) -> Path:
    """Save each image next to its heatmap, for N pairs of (H, W) arrays.

    Heatmaps use a red/blue colour map centred at zero, as in the paper's figures: red for
    positive relevance, blue for negative, white for none; each heatmap is scaled to its own
    largest magnitude (a heatmap of zeros stays white).
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images: expected images (N, H, W), got shape {images.shape}")
    heatmaps = checks.floats(heatmaps, "heatmaps", shape=images.shape, allow_int=True)
    titles = _titles(titles, len(images))
    vmin, vmax = _value_range(images)
    columns = checks.integer(columns, "columns", low=1)
    rows = -(-len(images) // columns)
    fig = new_figure(3.2 * columns, 1.9 * rows)
    for i, (image, R, title) in enumerate(zip(images, heatmaps, titles)):
        ax = fig.add_subplot(rows, 2 * columns, 2 * i + 1)
        ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax)
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
        ax = fig.add_subplot(rows, 2 * columns, 2 * i + 2)
        scale = float(np.abs(R).max()) or 1.0
        ax.imshow(R, cmap="bwr", vmin=-scale, vmax=scale)
        ax.set_axis_off()
    fig.tight_layout()
    return save_figure(fig, path)


def _check_axes(ax) -> None:
    if not hasattr(ax, "imshow"):
        raise TypeError(f"ax: expected matplotlib Axes (e.g. fig.subplots()), got {checks.given(ax)}")


def show_image(ax, image: np.ndarray, title: str | None = None) -> None:
    """Draw one image (H, W) in gray on ``ax``, pixels in [-1, 1] (black = -1), no ticks."""
    _check_axes(ax)
    ax.imshow(checks.floats(image, "image", ndim=2, allow_int=True), cmap="gray", vmin=-1, vmax=1)
    if title:
        ax.set_title(title, fontsize=FONT)
    ax.set_xticks([])
    ax.set_yticks([])


def show_heatmap(ax, R: np.ndarray, title: str | None = None, *, scale: float | None = None,
                 colorbar: bool = True, label: str = "relevance"):
    """Draw one heatmap (H, W) on ``ax`` as in the paper: red positive, blue negative, white
    zero, on the symmetric scale [-scale, scale] (default its largest magnitude), with a
    colourbar labelled ``label``.  Returns the image, for a colourbar shared by several axes.
    """
    _check_axes(ax)
    R = checks.floats(R, "R", ndim=2, allow_int=True)
    if scale is not None:
        checks.number(scale, "scale", low=0)
    scale = float(scale if scale is not None else np.abs(R).max()) or 1.0
    image = ax.imshow(R, cmap="bwr", vmin=-scale, vmax=scale)
    if title:
        ax.set_title(title, fontsize=FONT)
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03, ticks=[-scale, 0, scale])
        bar.ax.set_yticklabels([f"{-scale:.2g}", "0", f"{scale:.2g}"])
        bar.ax.tick_params(labelsize=FONT - 1)
        bar.set_label(label, fontsize=FONT - 1)
    return image


def vector_field(ax, f, points: np.ndarray, R: np.ndarray, title: str, *, scale: float = 8.0) -> None:
    """A two-input function's explanations as arrows (Figure 6): grey contours of ``f`` over
    [0, 1]^2, and at each point (P, 2) the arrow (R_1, R_2) of its relevance (P, 2)."""
    _check_axes(ax)
    checks.function(f, "f")
    points = checks.floats(points, "points", ndim=2, allow_int=True)
    if points.shape[1] != 2:
        raise ValueError(f"points: expected points (P, 2), got shape {points.shape}")
    R = checks.floats(R, "R", shape=points.shape)
    fine = np.linspace(0, 1, 101)
    F1, F2 = np.meshgrid(fine, fine)
    F = np.asarray(f(np.stack([F1.ravel(), F2.ravel()], axis=1))).reshape(F1.shape)
    ax.contourf(F1, F2, F, levels=12, cmap="Greys")
    ax.quiver(points[:, 0], points[:, 1], R[:, 0], R[:, 1], color="red", angles="xy",
              scale_units="xy", scale=scale)
    ax.plot([0, 1], [0, 1], "b:", lw=0.8)
    ax.set_title(title, fontsize=FONT)
    ax.set_xlabel("x1", fontsize=FONT)
    ax.set_ylabel("x2", fontsize=FONT)
    ax.set_aspect("equal")


def comparison_grid(images: np.ndarray, titles: list[str], rows: list[tuple], title: str, *,
                    scale: str = "own", size: float = 3.0) -> Figure:
    """A figure with one column per sample: the images (N, H, W) in [-1, 1] on top, titled by
    ``titles``, then one row per ``(label, arrays (N, H, W), kind)`` below them, where ``kind``
    is "heatmap" (red/blue with a colourbar) or "pattern" (gray, values in [0, 1]).

    ``scale="own"`` gives each heatmap its own colour scale; ``scale="column"`` gives all the
    heatmaps of a column the scale of that column's first heatmap row, so that rows can be
    compared (e.g. before, after, difference).
    """
    images = np.asarray(images)
    checks.choice(scale, "scale", ("own", "column"))
    titles = _titles(titles, len(images))
    for i, row in enumerate(rows):
        if not (isinstance(row, tuple) and len(row) == 3):
            raise TypeError(f"rows[{i}]: expected a tuple (label, arrays (N, H, W), kind), "
                            f"got {checks.given(row)}")
        checks.choice(row[2], f"rows[{i}] kind", ("heatmap", "pattern"))
        checks.floats(row[1], f"rows[{i}] arrays", shape=images.shape, allow_int=True)
    fig = new_figure(size * len(images) + 1, size * (1 + len(rows)), layout="constrained")
    axes = np.asarray(fig.subplots(1 + len(rows), len(images))).reshape(1 + len(rows), len(images))
    first = next((arrays for _, arrays, kind in rows if kind == "heatmap"), None)
    for k, (image, name) in enumerate(zip(images, titles)):
        show_image(axes[0, k], image, name)
        column = float(np.abs(first[k]).max()) if scale == "column" and first is not None else None
        for row, (label, arrays, kind) in enumerate(rows, start=1):
            if kind == "heatmap":
                show_heatmap(axes[row, k], arrays[k], label, scale=column)
            elif kind == "pattern":
                axes[row, k].imshow(arrays[k], cmap="gray", vmin=0, vmax=1)
                axes[row, k].set_title(label, fontsize=FONT)
                axes[row, k].set_axis_off()
    fig.suptitle(title, fontsize=FONT + 1)
    return fig

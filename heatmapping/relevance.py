"""Pooling relevance over groups of features (Sec. 4.4, Table 1).

A decomposition R of f(x) can be coarsened by summing it over groups of input variables:
the channels of a pixel, regions given by masks, or the cells of a grid (e.g. the four
quadrants of Figure 7).  Sums keep conservation: the pooled scores still add up to sum R.
The other operation of Sec. 4.4, *filtering* (propagating only what flows through chosen
neurons), is the ``filters`` argument of ``heatmapping.lrp.lrp``; ``feature_map_filter``
builds its mask for one feature map.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pool_channels", "pool_masks", "pool_grid", "feature_map_filter"]


def _check(R, ndim, what):
    R = np.asarray(R)
    if R.ndim != ndim:
        raise ValueError(f"{what}: expected relevance of shape "
                         f"{'(N, C, H, W)' if ndim == 4 else '(N, ...)'}, got shape {R.shape}")
    return R


def pool_channels(R: np.ndarray) -> np.ndarray:
    """Pixel relevance: the sum over channels, (N, C, H, W) -> (N, H, W)."""
    return _check(R, 4, "pool_channels").sum(axis=1)


def pool_masks(R: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Relevance of each region: R (N, ...) and masks (M, ...) of 0/1 (or weights) with the
    shape of one sample -> (N, M), the sum of R over each region (e.g. object box vs rest)."""
    R, masks = np.asarray(R), np.asarray(masks)
    if masks.shape[1:] != R.shape[1:]:
        raise ValueError(f"pool_masks: expected masks of shape (M, {', '.join(map(str, R.shape[1:]))}), "
                         f"got shape {masks.shape}")
    return R.reshape(len(R), -1) @ masks.reshape(len(masks), -1).T.astype(R.dtype)


def pool_grid(R: np.ndarray, cells: tuple[int, int] = (2, 2)) -> np.ndarray:
    """Relevance of the cells of a grid over the image: (N, C, H, W) -> (N, gh, gw).

    ``cells=(2, 2)`` gives the four quadrants of Figure 7.  H and W must divide evenly.
    """
    R = _check(R, 4, "pool_grid")
    gh, gw = cells
    N, C, H, W = R.shape
    if H % gh or W % gw:
        raise ValueError(f"pool_grid: a {gh}x{gw} grid does not divide an image of {H}x{W}")
    return R.reshape(N, C, gh, H // gh, gw, W // gw).sum(axis=(1, 3, 5))


def feature_map_filter(shape: tuple[int, ...], channels) -> np.ndarray:
    """A 0/1 mask of one activation's shape (N, C, ...) keeping only the given channel(s),
    for ``lrp(..., filters={layer: mask})``."""
    mask = np.zeros((1, shape[1]) + (1,) * (len(shape) - 2))
    mask[:, channels] = 1.0
    return mask

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

from . import checks

__all__ = ["pool_channels", "pool_masks", "pool_grid", "feature_map_filter"]


def _check(R):
    R = checks.floats(R, "R", allow_int=True)
    if R.ndim != 4:
        raise ValueError(f"R: expected relevance of shape (N, C, H, W), got shape {R.shape}")
    return R


def pool_channels(R: np.ndarray) -> np.ndarray:
    """Pixel relevance: the sum over channels, (N, C, H, W) -> (N, H, W)."""
    return _check(R).sum(axis=1)


def pool_masks(R: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Relevance of each region: R (N, ...) and masks (M, ...) of 0/1 (or weights) with the
    shape of one sample -> (N, M), the sum of R over each region (e.g. object box vs rest)."""
    R, masks = checks.batch(R, "R", allow_int=True), checks.floats(masks, "masks", allow_int=True)
    if masks.ndim < 1 or masks.shape[1:] != R.shape[1:]:
        raise ValueError(f"masks: expected masks of shape (M, {', '.join(map(str, R.shape[1:]))}), "
                         f"got shape {masks.shape}")
    return R.reshape(len(R), -1) @ masks.reshape(len(masks), -1).T.astype(R.dtype)


def pool_grid(R: np.ndarray, cells: tuple[int, int] = (2, 2)) -> np.ndarray:
    """Relevance of the cells of a grid over the image: (N, C, H, W) -> (N, gh, gw).

    ``cells=(2, 2)`` gives the four quadrants of Figure 7.  H and W must divide evenly.
    """
    R = _check(R)
    if np.shape(cells) != (2,):
        raise TypeError(f"cells: expected a pair (rows, columns), got {checks.given(cells)}")
    gh, gw = (checks.integer(c, "cells", low=1) for c in cells)
    N, C, H, W = R.shape
    if H % gh or W % gw:
        raise ValueError(f"cells: a {gh}x{gw} grid does not divide an image of {H}x{W}")
    return R.reshape(N, C, gh, H // gh, gw, W // gw).sum(axis=(1, 3, 5))


def feature_map_filter(shape: tuple[int, ...], channels) -> np.ndarray:
    """A 0/1 mask of one activation's shape (N, C, ...) keeping only the given channel(s),
    for ``lrp(..., filters={layer: mask})``."""
    if np.ndim(shape) != 1 or len(shape) < 2:
        raise ValueError(f"shape: expected an activation's shape (N, C, ...), got {checks.given(shape)}")
    chosen = np.atleast_1d(np.asarray(channels))
    if not np.issubdtype(chosen.dtype, np.integer) or chosen.ndim != 1:
        raise TypeError(f"channels: expected a channel index or a list of them, got {checks.given(channels)}")
    for c in chosen:
        checks.index(c, "channels", shape[1])
    mask = np.zeros((1, shape[1]) + (1,) * (len(shape) - 2))
    mask[:, chosen] = 1.0
    return mask
